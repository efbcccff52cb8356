package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"testimony/crypto"
	"testimony/server/investigator"
	"testimony/server/web"
	"testimony/server/witness"
)

// defaultConfigPath is read when a command is given neither --config nor
// --data, if it exists: the path the Debian package installs.
const defaultConfigPath = "/etc/testimony/testimonyd.toml"

// settings is the configuration file, one field per setting; deploy/
// testimonyd.toml documents each one. Every setting has a flag of the same
// name with dashes ("max_upload_mb" → --max-upload-mb) that overrides the
// file. A field tagged secret:"true" is printed as <redacted> by "config
// check"; a field tagged file:"KEY" may instead be read from the file named
// by the setting KEY.
type settings struct {
	DataDir              string   `toml:"data_dir"`
	WitnessAddr          string   `toml:"witness_addr"`
	InvestigatorAddr     string   `toml:"investigator_addr"`
	AllowPublicBind      bool     `toml:"allow_public_bind"`
	LogLevel             string   `toml:"log_level"`
	EscrowRecipients     []string `toml:"escrow_recipients" file:"escrow_recipients_file"`
	EscrowRecipientsFile string   `toml:"escrow_recipients_file"`
	MaxUploadMB          int64    `toml:"max_upload_mb"`
	MaxFileMB            int64    `toml:"max_file_mb"`
	SecureCookies        bool     `toml:"secure_cookies"`
	SessionIdle          duration `toml:"session_idle"`
	SessionMax           duration `toml:"session_max"`
	LoginFailures        int      `toml:"login_failures"`
	RetentionDays        int      `toml:"retention_days"`
	MaxDBMB              int64    `toml:"max_db_mb"`
	BackupDir            string   `toml:"backup_dir"`
	BridgeLines          []string `toml:"bridge_lines"`

	// Organisation is a table ([organisation]): it has no flag, and comes
	// last in the file.
	Organisation web.Organisation `toml:"organisation"`

	filesRead bool // readFiles has run
}

// defaultSettings are the values of a setting the file leaves out.
func defaultSettings() settings {
	return settings{
		WitnessAddr:      "127.0.0.1:8080",
		InvestigatorAddr: "127.0.0.1:8081",
		LogLevel:         "info",
		MaxUploadMB:      500,
		SecureCookies:    true,
		SessionIdle:      duration(30 * time.Minute),
		SessionMax:       duration(12 * time.Hour),
		LoginFailures:    50,
	}
}

// duration is a time.Duration written as "30m" in the file.
type duration time.Duration

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%q is not a duration like \"30m\" or \"12h\"", b)
	}
	*d = duration(v)
	return nil
}

func (d duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// errConfig wraps every error about a configuration's content.
var errConfig = errors.New("configuration")

func configErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errConfig}, args...)...)
}

// parseSettings reads a configuration file's text over the defaults.
// Unknown keys are an error naming each key. Relative paths are taken
// relative to dir (the file's directory). It does not validate; see
// [settings.validate].
func parseSettings(text []byte, dir string) (settings, error) {
	s := defaultSettings()
	md, err := toml.NewDecoder(bytes.NewReader(text)).Decode(&s)
	if err != nil {
		return settings{}, configErrorf("%v", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = strconv.Quote(k.String())
		}
		return settings{}, configErrorf("unknown setting %s (see deploy/testimonyd.toml for the list)", strings.Join(keys, ", "))
	}
	s.resolvePaths(dir)
	s.Organisation = normalOrganisation(s.Organisation)
	return s, nil
}

// normalOrganisation drops empty text maps and contact lists, so that
// "name = {}" and no name at all are the same setting.
func normalOrganisation(o web.Organisation) web.Organisation {
	for _, m := range []*map[string]string{&o.Name, &o.Description, &o.Retention} {
		if len(*m) == 0 {
			*m = nil
		}
	}
	if len(o.Contacts) == 0 {
		o.Contacts = nil
	}
	return o
}

func (s *settings) resolvePaths(dir string) {
	for _, p := range []*string{&s.DataDir, &s.EscrowRecipientsFile, &s.BackupDir} {
		if *p != "" && !filepath.IsAbs(*p) && dir != "" {
			*p = filepath.Join(dir, *p)
		}
	}
}

// loadSettingsFile reads a configuration file.
func loadSettingsFile(path string) (settings, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return settings{}, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return settings{}, err
	}
	s, err := parseSettings(text, filepath.Dir(abs))
	if err != nil {
		return settings{}, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// validate checks every setting and reads the *_file settings. It is what
// "config check" runs, and what serve runs before it opens anything.
func (s *settings) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, configErrorf(format, args...)) }
	if s.DataDir == "" {
		bad("data_dir is not set")
	}
	for _, a := range []struct{ key, addr string }{{"witness_addr", s.WitnessAddr}, {"investigator_addr", s.InvestigatorAddr}} {
		if err := checkBind(a.addr, s.AllowPublicBind); err != nil {
			bad("%s: %v", a.key, err)
		}
	}
	if s.WitnessAddr == s.InvestigatorAddr && !strings.HasSuffix(s.WitnessAddr, ":0") {
		bad("witness_addr and investigator_addr are both %s; the sites need two listeners", s.WitnessAddr)
	}
	if _, err := s.level(); err != nil {
		bad("log_level %q: want debug, info, warn or error", s.LogLevel)
	}
	if s.MaxUploadMB <= 0 {
		bad("max_upload_mb must be positive, not %d", s.MaxUploadMB)
	}
	if s.MaxFileMB < 0 || s.MaxFileMB > s.MaxUploadMB {
		bad("max_file_mb must be between 0 (= max_upload_mb) and max_upload_mb (%d), not %d", s.MaxUploadMB, s.MaxFileMB)
	}
	if s.MaxUploadMB > 1<<30 {
		bad("max_upload_mb %d is too large", s.MaxUploadMB)
	}
	if s.SessionIdle <= 0 || s.SessionMax <= 0 {
		bad("session_idle and session_max must be positive")
	} else if s.SessionIdle > s.SessionMax {
		bad("session_idle (%v) is longer than session_max (%v)", time.Duration(s.SessionIdle), time.Duration(s.SessionMax))
	}
	if s.LoginFailures < 1 || s.LoginFailures > 1<<30 {
		bad("login_failures must be a positive number of failed logins, not %d", s.LoginFailures)
	}
	if s.RetentionDays < 0 {
		bad("retention_days must be 0 (keep everything) or a number of days, not %d", s.RetentionDays)
	}
	if s.MaxDBMB < 0 || s.MaxDBMB > 1<<30 {
		bad("max_db_mb must be 0 (no cap) or a size in MiB, not %d", s.MaxDBMB)
	}
	for i, line := range s.BridgeLines {
		if err := checkBridgeLine(line); err != nil {
			bad("bridge_lines[%d]: %v", i, err)
		}
	}
	orgErrs, _ := s.Organisation.Check(web.WitnessLangs())
	for _, e := range orgErrs {
		bad("%v", e)
	}
	if err := s.readFiles(); err != nil {
		errs = append(errs, err)
	}
	if len(s.EscrowRecipients) > 0 {
		if _, err := crypto.NewRecipients("escrow_recipients", s.EscrowRecipients...); err != nil {
			bad("%v", err)
		}
	}
	return errors.Join(errs...)
}

// warnings are what "config check" prints as warnings: settings that are
// valid but leave something out, such as a missing translation of the
// organisation's texts (named, never silently English).
func (s *settings) warnings() []string {
	_, missing := s.Organisation.Check(web.WitnessLangs())
	return missing
}

// checkBridgeLine checks the shape of a bridge line as Tor Browser takes it
// ("obfs4 203.0.113.5:443 FINGERPRINT cert=… iat-mode=0"): a transport,
// an address with a port, a 40-digit hex fingerprint.
func checkBridgeLine(line string) error {
	f := strings.Fields(line)
	if len(f) > 0 && f[0] == "Bridge" { // as tor writes it in obfs4_bridgeline.txt
		f = f[1:]
	}
	if len(f) < 3 || !slices.Contains([]string{"obfs4", "webtunnel"}, f[0]) {
		return errors.New(`want "obfs4 ADDRESS:PORT FINGERPRINT cert=… iat-mode=0", the line the bridge's tor writes to pt_state/obfs4_bridgeline.txt`)
	}
	if _, _, err := net.SplitHostPort(f[1]); err != nil {
		return fmt.Errorf("%q is not ADDRESS:PORT", f[1])
	}
	if len(f[2]) != 40 || strings.Trim(strings.ToUpper(f[2]), "0123456789ABCDEF") != "" {
		return fmt.Errorf("%q is not the bridge's 40-digit fingerprint", f[2])
	}
	if strings.ContainsFunc(line, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return errors.New("it holds a control character")
	}
	return nil
}

// readFiles fills each setting tagged file:"KEY" from the file KEY names,
// one value a line; blank lines and # comments are skipped. A setting given
// both inline and as a file is an error.
func (s *settings) readFiles() error {
	if s.EscrowRecipientsFile == "" || s.filesRead {
		return nil
	}
	s.filesRead = true
	if len(s.EscrowRecipients) > 0 {
		return configErrorf("escrow_recipients and escrow_recipients_file are both set; use one")
	}
	b, err := os.ReadFile(s.EscrowRecipientsFile)
	if err != nil {
		return configErrorf("escrow_recipients_file: %v", err)
	}
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s.EscrowRecipients = append(s.EscrowRecipients, line)
	}
	return nil
}

// checkBind refuses an address that is not host:port, or off the machine
// unless allowPublic is set.
func checkBind(addr string, allowPublic bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("%q: bad port", addr)
	}
	if allowPublic {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if host == "localhost" {
		ip, err = netip.MustParseAddr("127.0.0.1"), nil
	}
	if err != nil || !ip.IsLoopback() {
		return fmt.Errorf("%s: %w", addr, web.ErrNotLoopback)
	}
	return nil
}

func (s *settings) level() (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s.LogLevel))
	return l, err
}

// witnessConfig maps the settings onto the witness site's.
func (s *settings) witnessConfig() witness.Config {
	maxFile := s.MaxFileMB
	if maxFile == 0 {
		maxFile = s.MaxUploadMB
	}
	return witness.Config{
		DataDir:      s.DataDir,
		Escrow:       append([]string(nil), s.EscrowRecipients...),
		MaxUpload:    s.MaxUploadMB << 20,
		MaxFile:      maxFile << 20,
		Organisation: s.Organisation,
	}
}

// investigatorConfig maps the settings onto the investigator site's.
func (s *settings) investigatorConfig() investigator.Config {
	return investigator.Config{
		Escrow:        append([]string(nil), s.EscrowRecipients...),
		SecureCookies: s.SecureCookies,
		SessionIdle:   time.Duration(s.SessionIdle),
		SessionMax:    time.Duration(s.SessionMax),
		LoginFailures: s.LoginFailures,
	}
}

// maxDBBytes is the store's size cap, for store.Options.MaxSize.
func (s *settings) maxDBBytes() int { return int(s.MaxDBMB << 20) }

// writeRedacted prints the settings as TOML, with every secret setting
// shown as <redacted>.
func (s settings) writeRedacted(w io.Writer) error { return writeRedactedValue(w, &s) }

// writeRedactedValue encodes *ptr, a struct, as TOML after replacing each
// non-empty field tagged secret:"true" with <redacted>. It changes *ptr.
func writeRedactedValue(w io.Writer, ptr any) error {
	v := reflect.ValueOf(ptr).Elem()
	t := v.Type()
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("secret") != "true" {
			continue
		}
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			if f.String() != "" {
				f.SetString("<redacted>")
			}
		case reflect.Slice:
			if f.Len() > 0 {
				f.Set(reflect.ValueOf([]string{"<redacted>"}))
			}
		}
	}
	return toml.NewEncoder(w).Encode(ptr)
}

// settingFlags registers a flag for every setting on fl, plus --config;
// call apply after fl.Parse to get the file's settings with the flags that
// were given on top. The flags default to nothing: what is not given
// comes from the file, or the defaults.
type settingFlags struct {
	config    *string
	overrides []func(*settings) error
}

func addSettingFlags(fl *flag.FlagSet) *settingFlags {
	sf := &settingFlags{config: fl.String("config", "", "configuration file (TOML; see deploy/testimonyd.toml)")}
	t := reflect.TypeFor[settings]()
	for i := range t.NumField() {
		f := t.Field(i)
		key := f.Tag.Get("toml")
		if key == "" {
			continue
		}
		if f.Type.Kind() == reflect.Struct {
			continue // a table: set in the file only
		}
		name := strings.ReplaceAll(key, "_", "-")
		usage := "overrides " + key + " of the configuration file"
		set := func(v string) error {
			sf.overrides = append(sf.overrides, func(s *settings) error { return s.set(key, v) })
			// Check the value now, so a bad flag is a usage error.
			var probe settings
			return probe.set(key, v)
		}
		if f.Type.Kind() == reflect.Bool {
			fl.BoolFunc(name, usage, set)
		} else {
			fl.Func(name, usage, set)
		}
	}
	// --data is the short name every console command has always taken.
	fl.Func("data", "data directory (overrides data_dir)", func(v string) error {
		sf.overrides = append(sf.overrides, func(s *settings) error { return s.set("data_dir", v) })
		return nil
	})
	return sf
}

// load reads the configuration file (--config, else the default path if
// neither --config nor --data was given and it exists, else none), applies
// the flags over it and validates the result.
func (sf *settingFlags) load() (settings, error) {
	s, err := sf.loadUnchecked()
	if err != nil {
		return s, err
	}
	return s, s.validate()
}

func (sf *settingFlags) loadUnchecked() (settings, error) {
	s := defaultSettings()
	path := *sf.config
	if path == "" && len(sf.overrides) == 0 {
		if _, err := os.Stat(defaultConfigPath); err == nil {
			path = defaultConfigPath
		}
	}
	if path != "" {
		var err error
		if s, err = loadSettingsFile(path); err != nil {
			return s, err
		}
	}
	for _, o := range sf.overrides {
		if err := o(&s); err != nil {
			return s, err
		}
	}
	return s, nil
}

// set sets the setting key from a flag's text.
func (s *settings) set(key, val string) error {
	v := reflect.ValueOf(s).Elem()
	t := v.Type()
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("toml") != key {
			continue
		}
		f := v.Field(i)
		switch p := f.Addr().Interface().(type) {
		case *duration:
			return p.UnmarshalText([]byte(val))
		case *string:
			*p = val
			if key == "data_dir" || strings.HasSuffix(key, "_file") || strings.HasSuffix(key, "_dir") {
				if abs, err := filepath.Abs(val); err == nil && val != "" {
					*p = abs
				}
			}
			return nil
		case *bool:
			b, err := strconv.ParseBool(val)
			if err != nil {
				return fmt.Errorf("%q is not true or false", val)
			}
			*p = b
			return nil
		case *int:
			n, err := strconv.Atoi(val)
			if err != nil {
				return fmt.Errorf("%q is not a whole number", val)
			}
			*p = n
			return nil
		case *int64:
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not a whole number", val)
			}
			*p = n
			return nil
		case *[]string:
			*p = nil
			for part := range strings.SplitSeq(val, ",") {
				if part = strings.TrimSpace(part); part != "" {
					*p = append(*p, part)
				}
			}
			return nil
		}
		return fmt.Errorf("setting %s has no flag form", key)
	}
	return fmt.Errorf("unknown setting %q", key)
}
