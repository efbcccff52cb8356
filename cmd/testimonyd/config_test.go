package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"testimony/crypto"
	"testimony/server/web"
)

const samplePath = "../../deploy/testimonyd.toml"

// TestSampleDocumentsEverySetting: deploy/testimonyd.toml names every
// setting, with its default value, and nothing else.
func TestSampleDocumentsEverySetting(t *testing.T) {
	text, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseSettings(text, "/etc/testimony")
	if err != nil {
		t.Fatalf("the sample does not parse: %v", err)
	}
	want := defaultSettings()
	want.DataDir = "/var/lib/testimony"
	if len(got.EscrowRecipients) == 0 {
		got.EscrowRecipients = nil // [] in the file
	}
	if len(got.BridgeLines) == 0 {
		got.BridgeLines = nil
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the sample's values differ from the defaults:\n got %+v\nwant %+v", got, want)
	}
	typ := reflect.TypeFor[settings]()
	for i := range typ.NumField() {
		key := typ.Field(i).Tag.Get("toml")
		if key == "" {
			continue
		}
		re := regexp.MustCompile(`(?m)^` + key + ` = `)
		if typ.Field(i).Type.Kind() == reflect.Struct && typ.Field(i).Type != reflect.TypeFor[duration]() {
			re = regexp.MustCompile(`(?m)^\[` + key + `\]\n*\z`) // a table, the last thing in the file
		}
		if !re.Match(text) {
			t.Errorf("setting %s is not in the sample", key)
		}
		// A comment block precedes each setting or group of settings.
		if !bytes.Contains(text, []byte("\n# ")) {
			t.Errorf("the sample has no comments")
		}
	}
}

func TestParseSettings(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		wantErr    string // substring; "" means valid
		check      func(*testing.T, settings)
	}{
		{name: "minimal", text: `data_dir = "/d"`, check: func(t *testing.T, s settings) {
			if s.WitnessAddr != "127.0.0.1:8080" || s.InvestigatorAddr != "127.0.0.1:8081" || s.MaxUploadMB != 500 ||
				!s.SecureCookies || time.Duration(s.SessionIdle) != 30*time.Minute || time.Duration(s.SessionMax) != 12*time.Hour {
				t.Errorf("defaults not applied: %+v", s)
			}
		}},
		{name: "relative data dir", text: `data_dir = "data"`, check: func(t *testing.T, s settings) {
			if s.DataDir != "/etc/testimony/data" {
				t.Errorf("data_dir = %q, want it relative to the file's directory", s.DataDir)
			}
		}},
		{name: "unknown key", text: "data_dir = \"/d\"\nretention_dayz = 3\n", wantErr: `unknown setting "retention_dayz"`},
		{name: "unknown table", text: "data_dir = \"/d\"\n[tor]\nport = 1\n", wantErr: `"tor.port"`},
		{name: "wrong type", text: `max_upload_mb = "big"`, wantErr: "max_upload_mb"},
		{name: "bad duration", text: "data_dir = \"/d\"\nsession_idle = \"soon\"\n", wantErr: "not a duration"},
		{name: "syntax", text: `data_dir = `, wantErr: "configuration"},
		{name: "no data dir", text: ``, wantErr: "data_dir is not set"},
		{name: "public bind", text: "data_dir = \"/d\"\nwitness_addr = \"0.0.0.0:80\"\n", wantErr: "refusing to listen on a non-loopback address"},
		{name: "public bind allowed", text: "data_dir = \"/d\"\nwitness_addr = \"0.0.0.0:80\"\nallow_public_bind = true\n"},
		{name: "same addr", text: "data_dir = \"/d\"\nwitness_addr = \"127.0.0.1:9\"\ninvestigator_addr = \"127.0.0.1:9\"\n", wantErr: "two listeners"},
		{name: "log level", text: "data_dir = \"/d\"\nlog_level = \"loud\"\n", wantErr: "log_level"},
		{name: "file bigger than upload", text: "data_dir = \"/d\"\nmax_file_mb = 600\n", wantErr: "max_file_mb"},
		{name: "idle over max", text: "data_dir = \"/d\"\nsession_idle = \"13h\"\n", wantErr: "longer than session_max"},
		{name: "negative retention", text: "data_dir = \"/d\"\nretention_days = -1\n", wantErr: "retention_days"},
		{name: "bad escrow", text: "data_dir = \"/d\"\nescrow_recipients = [\"nope\"]\n", wantErr: "escrow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := parseSettings([]byte(tc.text), "/etc/testimony")
			if err == nil {
				err = s.validate()
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("no error, want one with %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q does not say %q", err, tc.wantErr)
			case err != nil && !errors.Is(err, errConfig):
				t.Errorf("error %v does not wrap errConfig", err)
			}
			if tc.check != nil && err == nil {
				tc.check(t, s)
			}
		})
	}
}

func TestFlagsOverrideFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "t.toml")
	os.WriteFile(cfg, []byte("data_dir = \"d\"\nretention_days = 30\nlog_level = \"warn\"\nsecure_cookies = true\n"), 0o600)
	fl := flag.NewFlagSet("x", flag.ContinueOnError)
	sf := addSettingFlags(fl)
	if err := fl.Parse([]string{"--config", cfg, "--retention-days", "7", "--secure-cookies=false",
		"--escrow-recipients", "a, b", "--session-idle", "5m"}); err != nil {
		t.Fatal(err)
	}
	s, err := sf.loadUnchecked()
	if err != nil {
		t.Fatal(err)
	}
	if s.RetentionDays != 7 || s.SecureCookies || s.LogLevel != "warn" || s.DataDir != filepath.Join(dir, "d") ||
		time.Duration(s.SessionIdle) != 5*time.Minute || !reflect.DeepEqual(s.EscrowRecipients, []string{"a", "b"}) {
		t.Errorf("flags did not override the file as expected: %+v", s)
	}

	fl = flag.NewFlagSet("x", flag.ContinueOnError)
	fl.SetOutput(new(bytes.Buffer))
	addSettingFlags(fl)
	if err := fl.Parse([]string{"--max-db-mb", "lots"}); err == nil {
		t.Error("a bad flag value was accepted")
	}
}

func TestEscrowFile(t *testing.T) {
	dir := t.TempDir()
	var keys []string
	for range 2 {
		id, err := crypto.GenerateIdentity(false)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, id.Recipient)
	}
	os.WriteFile(filepath.Join(dir, "escrow.txt"), []byte("# the safe\n"+keys[0]+"\n\n"+keys[1]+"\n"), 0o600)
	s, err := parseSettings([]byte("data_dir = \"/d\"\nescrow_recipients_file = \"escrow.txt\"\n"), dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.validate(); err != nil {
		t.Fatal(err)
	}
	if err := s.validate(); err != nil {
		t.Fatalf("validate is not idempotent: %v", err)
	}
	if !reflect.DeepEqual(s.EscrowRecipients, keys) {
		t.Errorf("escrow = %v, want %v", s.EscrowRecipients, keys)
	}
	wc, ic := s.witnessConfig(), s.investigatorConfig()
	if !reflect.DeepEqual(wc.Escrow, keys) || wc.MaxUpload != 500<<20 || wc.MaxFile != 500<<20 {
		t.Errorf("witness config %+v", wc)
	}
	if !reflect.DeepEqual(ic.Escrow, keys) || !ic.SecureCookies {
		t.Errorf("investigator config %+v", ic)
	}

	s, _ = parseSettings([]byte("data_dir = \"/d\"\nescrow_recipients_file = \"escrow.txt\"\nescrow_recipients = [\""+keys[0]+"\"]\n"), dir)
	if err := s.validate(); err == nil || !strings.Contains(err.Error(), "use one") {
		t.Errorf("both escrow forms: %v", err)
	}
	s, _ = parseSettings([]byte("data_dir = \"/d\"\nescrow_recipients_file = \"missing.txt\"\n"), dir)
	if err := s.validate(); err == nil || !strings.Contains(err.Error(), "missing.txt") {
		t.Errorf("missing escrow file: %v", err)
	}
}

// TestRedaction: a secret setting prints as <redacted>, and the rest
// prints as TOML that parses back to the same settings.
func TestRedaction(t *testing.T) {
	type withSecret struct {
		Name  string `toml:"name"`
		Token string `toml:"token" secret:"true"`
	}
	var b bytes.Buffer
	if err := writeRedactedValue(&b, &withSecret{Name: "n", Token: "hunter2"}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "hunter2") || !strings.Contains(b.String(), `token = "<redacted>"`) {
		t.Errorf("secret not redacted:\n%s", b.String())
	}

	s := defaultSettings()
	s.DataDir = "/d"
	s.RetentionDays = 9
	b.Reset()
	if err := s.writeRedacted(&b); err != nil {
		t.Fatal(err)
	}
	back, err := parseSettings(b.Bytes(), "/")
	if err != nil {
		t.Fatalf("printed config does not parse: %v\n%s", err, b.String())
	}
	if !reflect.DeepEqual(back, s) {
		t.Errorf("printed config does not round-trip:\n%s", b.String())
	}
}

func TestCheckBind(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:80": true, "localhost:1": true, "127.0.0.1:0": true,
		"0.0.0.0:8080": false, "192.0.2.1:80": false, ":8080": false, "example.org:80": false, "127.0.0.1": false,
	} {
		err := checkBind(addr, false)
		if (err == nil) != ok {
			t.Errorf("checkBind(%q) = %v", addr, err)
		}
		if !ok && strings.Contains(addr, ":80") && addr != "127.0.0.1" && !errors.Is(err, web.ErrNotLoopback) && err != nil &&
			!strings.Contains(err.Error(), "port") {
			t.Errorf("checkBind(%q) = %v, want ErrNotLoopback", addr, err)
		}
	}
}

// FuzzConfig: the parser never panics, and whatever it accepts prints as
// TOML that parses back to the same settings.
func FuzzConfig(f *testing.F) {
	sample, _ := os.ReadFile(samplePath)
	f.Add(string(sample))
	f.Add("data_dir = \"/d\"\nsession_idle = \"1h\"\nescrow_recipients = [\"a\",\"b\"]\n")
	f.Add("[x]\ny = 1\n")
	f.Add("max_upload_mb = 9223372036854775807\nmax_db_mb = -1\n")
	f.Fuzz(func(t *testing.T, text string) {
		s, err := parseSettings([]byte(text), "/base")
		if err != nil {
			if !errors.Is(err, errConfig) {
				t.Fatalf("error does not wrap errConfig: %v", err)
			}
			return
		}
		_ = s.validate() // may read files: only paths under /base, which does not exist
		var b bytes.Buffer
		s2 := s
		s2.filesRead = false
		if err := s2.writeRedacted(&b); err != nil {
			t.Fatalf("cannot print accepted settings: %v", err)
		}
		back, err := parseSettings(b.Bytes(), "/base")
		if err != nil {
			t.Fatalf("printed settings do not parse: %v\n%s", err, b.String())
		}
		if !reflect.DeepEqual(back, s2) {
			t.Fatalf("round trip differs:\n%+v\n%+v", back, s2)
		}
	})
}

// TestOrganisationSettings: the [organisation] table of the file reaches
// the server's configuration; a text without English, or a contact of an
// unknown kind, is an error naming the setting; a missing translation is a
// warning of "config check" naming the setting and the language.
func TestOrganisationSettings(t *testing.T) {
	text := `data_dir = "/d"
bridge_lines = ["obfs4 203.0.113.5:8443 0123456789ABCDEF0123456789ABCDEF01234567 cert=abc iat-mode=0"]
[organisation]
name.en = "Example Rights Group"
name.ru = "Группа «Пример»"
description = { en = "We document deportations.", ru = "Мы документируем депортации.", uk = "Ми документуємо депортації.", es = "Documentamos deportaciones." }
retention.en = "Two years."
contacts = [
  { kind = "signal", value = "example.01" },
  { kind = "email", value = "testimony@example.org" },
]
`
	s, err := parseSettings([]byte(text), "/etc/testimony")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.validate(); err != nil {
		t.Fatal(err)
	}
	org := s.witnessConfig().Organisation
	if org.Name["ru"] != "Группа «Пример»" || org.Description["uk"] != "Ми документуємо депортації." || len(org.Contacts) != 2 || org.Contacts[1].Value != "testimony@example.org" {
		t.Errorf("organisation not read: %+v", org)
	}
	w := strings.Join(s.warnings(), "\n")
	for _, want := range []string{"organisation.name has no uk text", "organisation.name has no es text", "organisation.retention has no ru text"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings do not say %q:\n%s", want, w)
		}
	}
	if strings.Contains(w, "description") {
		t.Errorf("a complete text is warned about:\n%s", w)
	}
	var b bytes.Buffer
	if err := s.writeRedacted(&b); err != nil {
		t.Fatal(err)
	}
	back, err := parseSettings(b.Bytes(), "/etc/testimony")
	if err != nil || !reflect.DeepEqual(back.Organisation, s.Organisation) || !reflect.DeepEqual(back.BridgeLines, s.BridgeLines) {
		t.Errorf("printed organisation does not round-trip (%v):\n%s", err, b.String())
	}

	for _, tc := range []struct{ text, want string }{
		{"[organisation]\nname.ru = \"x\"\n", "name has no English text"},
		{"[organisation]\nname.en = \"x\"\ncontacts = [{ kind = \"fax\", value = \"1\" }]\n", `kind "fax"`},
		{"[organisation]\nname.en = \"x\"\nname.russian = \"y\"\n", "not a language code"},
		{"[organisation]\nnmae.en = \"x\"\n", `unknown setting "organisation.nmae.en"`},
		{"bridge_lines = [\"obfs4 nowhere\"]\n", "bridge_lines[0]"},
		{"bridge_lines = [\"obfs4 203.0.113.5:1 XYZ cert=a iat-mode=0\"]\n", "fingerprint"},
	} {
		s, err := parseSettings([]byte("data_dir = \"/d\"\n"+tc.text), "/etc/testimony")
		if err == nil {
			err = s.validate()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.text, err, tc.want)
		}
	}

	// config check prints the missing translations as warnings.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "t.toml")
	os.WriteFile(cfg, []byte(strings.Replace(text, `data_dir = "/d"`, `data_dir = "`+dir+`"`, 1)), 0o600)
	r := runBin(t, "config", "check", "--config", cfg)
	if !strings.Contains(r.stderr, "warning: organisation.name has no uk text") || !strings.Contains(r.stdout, `name = `) && !strings.Contains(r.stdout, `[organisation`) {
		t.Errorf("config check: exit %d\n%s\n%s", r.code, r.stderr, r.stdout)
	}
}
