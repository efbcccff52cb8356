package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/skip2/go-qrcode"

	"testimony/bundle"
	"testimony/crypto"
	"testimony/records"
)

const investigatorUsage = `Usage:
    testimonyd investigator add NAME --recipient-file FILE [--qr-png FILE] [--json]
    testimonyd investigator add NAME --recipient age1pq1… [--qr-png FILE] [--json]
    testimonyd investigator list [--json]
    testimonyd investigator disable NAME
    testimonyd investigator enable NAME
    testimonyd investigator reset-totp NAME [--qr-png FILE] [--json]
    testimonyd investigator reset-passphrase NAME [--json]

Each takes --config FILE (default /etc/testimony/testimonyd.toml) or
--data DIR to find the data directory.

add makes an account for an investigator: their age public key (from an age
recipients file, the "# public key:" line of an identity file, or given
directly) joins the set new testimonies are encrypted to. It prints, once,
the initial passphrase (to be changed at the first login) and the TOTP
secret as a QR code and an otpauth:// URI. Hand them over in person.

disable removes an account's key from the set for new items, ends its
sessions and refuses its logins; enable undoes that. reset-totp and
reset-passphrase print a new secret, and end the account's sessions.

These commands open the database directly; the server may be running.
`

// enrolmentJSON is the --json output of add and the resets.
type enrolmentJSON struct {
	*records.Enrolment
	Recipient      string `json:"recipient,omitempty"`
	KeyFingerprint string `json:"key_fingerprint,omitempty"`
	ServerKey      string `json:"server_key,omitempty"` // signs the day roots: for testimony verify
}

func runInvestigator(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(os.Stderr, investigatorUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	sub, args := args[0], args[1:]
	fl := flag.NewFlagSet("investigator "+sub, flag.ContinueOnError)
	fl.Usage = func() { fmt.Fprint(os.Stderr, investigatorUsage) }
	sf := addSettingFlags(fl) // --config and --data, as every console command
	asJSON := fl.Bool("json", false, "print the result as JSON, for scripts")
	var recFile, rec, qrPNG *string
	switch sub {
	case "add":
		recFile = fl.String("recipient-file", "", "the investigator's age recipients file, or an identity file with a \"# public key:\" line")
		rec = fl.String("recipient", "", "the investigator's age public key (age1pq1…)")
		fallthrough
	case "reset-totp":
		qrPNG = fl.String("qr-png", "", "also write the TOTP QR code to this PNG file (mode 0600)")
	case "list", "disable", "enable", "reset-passphrase":
	default:
		errorf("investigator: unknown subcommand %q", sub)
		fmt.Fprint(os.Stderr, investigatorUsage)
		return errUsage
	}
	pos, err := parseInterspersed(fl, args)
	if err != nil {
		return errUsage
	}
	wantArgs := 1
	if sub == "list" {
		wantArgs = 0
	}
	if len(pos) != wantArgs {
		if wantArgs == 0 {
			errorf("investigator list takes no argument")
		} else {
			errorf("investigator %s takes one account name", sub)
		}
		return errUsage
	}
	var name string
	if wantArgs == 1 {
		name = pos[0]
	}

	var recipient string
	if sub == "add" {
		if recipient, err = readRecipient(*recFile, *rec); err != nil {
			return err
		}
	}
	cfg, err := sf.load()
	if err != nil {
		return err
	}
	readOnly := sub == "list"
	db, key, err := openData(cfg.DataDir, readOnly)
	if err != nil {
		return err
	}
	defer db.Close()
	accts := records.NewAccounts(db, key)
	accts.Escrow = cfg.EscrowRecipients
	out := os.Stdout

	switch sub {
	case "list":
		list, err := accts.List()
		if err != nil {
			return err
		}
		if *asJSON {
			if list == nil {
				list = []records.AccountInfo{}
			}
			return writeJSON(out, list)
		}
		if len(list) == 0 {
			fmt.Fprintln(out, "no investigator accounts; add one with \"testimonyd investigator add NAME --recipient-file FILE\"")
			return nil
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSTATE\tCREATED\tKEY\tFINGERPRINT\tNOTE")
		for _, a := range list {
			state := "active"
			if a.Disabled {
				state = "disabled"
			}
			note := ""
			if a.MustChange {
				note = "passphrase not yet changed"
			}
			if a.Failures > 0 {
				note = strings.TrimPrefix(note+fmt.Sprintf("; %d failed logins", a.Failures), "; ")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.Name, state, a.Created, keyKind(a.Recipient), a.Fingerprint, note)
		}
		return tw.Flush()
	case "disable", "enable":
		if err := accts.SetDisabled(name, sub == "disable"); err != nil {
			return accountErr(name, err)
		}
		if sub == "disable" {
			fmt.Fprintf(out, "disabled %s: its sessions are ended, it cannot log in, and new items are no longer encrypted to its key\n", name)
			if list, err := accts.List(); err == nil && len(cfg.EscrowRecipients) == 0 && !slices.ContainsFunc(list, func(a records.AccountInfo) bool { return !a.Disabled }) {
				warnf("no active investigator and no escrow key remain: the witness site refuses testimonies until one is enabled or added")
			}
		} else {
			fmt.Fprintf(out, "enabled %s: new items are encrypted to its key again\n", name)
		}
		return nil
	}

	var e *records.Enrolment
	switch sub {
	case "add":
		e, err = accts.Add(name, recipient)
	case "reset-totp":
		e, err = accts.ResetTOTP(name)
	case "reset-passphrase":
		e, err = accts.ResetPassphrase(name)
	}
	if err != nil {
		return accountErr(name, err)
	}
	if qrPNG != nil && *qrPNG != "" {
		png, err := qrcode.Encode(e.TOTPURI, qrcode.Medium, 256)
		if err != nil {
			return err
		}
		if err := writeNewFile(*qrPNG, png); err != nil {
			return fmt.Errorf("--qr-png: %v", err)
		}
	}
	serverKey := ""
	if sub == "add" {
		sk, _, err := loadSigningKey(cfg.DataDir)
		if err != nil {
			return err
		}
		serverKey = bundle.FormatKey(sk.Public().(ed25519.PublicKey))
	}
	if *asJSON {
		j := enrolmentJSON{Enrolment: e, ServerKey: serverKey}
		if recipient != "" {
			j.Recipient, j.KeyFingerprint = recipient, crypto.Fingerprint(recipient)
		}
		return writeJSON(out, j)
	}
	printEnrolment(out, sub, e, recipient)
	if serverKey != "" {
		fmt.Fprintf(out, "\nThe server's signing key, for the investigator to note and keep (testimony verify --server-key):\n    %s\n", serverKey)
	}
	return nil
}

// parseInterspersed parses flags that may come before or after positional
// arguments ("add NAME --recipient-file F" and "add --recipient-file F NAME").
func parseInterspersed(fl *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fl.Parse(args); err != nil {
			return nil, err
		}
		if fl.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fl.Arg(0))
		args = fl.Args()[1:]
	}
}

// readRecipient returns the one public key given by --recipient or found
// in --recipient-file.
func readRecipient(file, key string) (string, error) {
	switch {
	case file == "" && key == "":
		return "", errors.New("investigator add: give the investigator's age public key with --recipient-file FILE or --recipient age1pq1…")
	case file != "" && key != "":
		return "", errors.New("investigator add: give --recipient-file or --recipient, not both")
	case key != "":
		rs, err := crypto.NewRecipients("--recipient", key)
		if err != nil {
			return "", err
		}
		return rs.Keys()[0], nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	var keys []string
	if bytes.Contains(b, []byte("AGE-SECRET-KEY-")) {
		warnf("%s holds a secret key: it does not belong on the server; delete it here and keep it on the investigator's offline machine", file)
		keys = crypto.PublicKeysInIdentityFile(bytes.NewReader(b))
		if len(keys) == 0 {
			return "", fmt.Errorf("%s: an identity file without a \"# public key:\" line; give the public key with --recipient", file)
		}
	} else {
		rs, err := crypto.ParseRecipients(bytes.NewReader(b), file)
		if err != nil {
			return "", err
		}
		keys = rs.Keys()
	}
	if len(keys) != 1 {
		return "", fmt.Errorf("%s: %d public keys; an investigator has exactly one", file, len(keys))
	}
	rs, err := crypto.NewRecipients(file, keys[0])
	if err != nil {
		return "", err
	}
	return rs.Keys()[0], nil
}

func accountErr(name string, err error) error {
	switch {
	case errors.Is(err, records.ErrNoAccount):
		return fmt.Errorf("%s: %w (see \"testimonyd investigator list\")", name, err)
	case errors.Is(err, records.ErrAccountExists):
		return fmt.Errorf("%s: %w", name, err)
	}
	return err
}

func keyKind(k string) string {
	if strings.HasPrefix(k, "age1pq1") {
		return "post-quantum"
	}
	return "classic"
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeNewFile writes a secret to a new file readable by its owner only.
func writeNewFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func printEnrolment(w io.Writer, sub string, e *records.Enrolment, recipient string) {
	switch sub {
	case "add":
		fmt.Fprintf(w, "Account %q created. Its key (fingerprint %s) joins the recipient set of new items.\n\n",
			e.Account, crypto.Fingerprint(recipient))
	case "reset-totp":
		fmt.Fprintf(w, "New TOTP secret for %q; its sessions have ended.\n\n", e.Account)
	case "reset-passphrase":
		fmt.Fprintf(w, "New passphrase for %q, to be changed at the next login; its sessions have ended.\n\n", e.Account)
	}
	fmt.Fprintln(w, "Shown once. Hand it to the investigator in person; do not keep a copy.")
	if e.TOTPURI != "" {
		fmt.Fprintln(w, "\nScan with an authenticator app:")
		if q, err := qrcode.New(e.TOTPURI, qrcode.Medium); err == nil {
			writeTerminalQR(w, q.Bitmap())
		}
		fmt.Fprintf(w, "otpauth URI:  %s\n", e.TOTPURI)
		fmt.Fprintf(w, "or type it:   %s  (SHA-1, 6 digits, 30 s)\n", e.TOTPSecret)
	}
	if e.Passphrase != "" {
		fmt.Fprintf(w, "\nInitial passphrase (changed at the first login):\n    %s\n", e.Passphrase)
	}
}

// writeTerminalQR draws a QR bitmap with half blocks, two rows of modules
// per line. Light modules are drawn, for the usual dark terminal; the
// bitmap's own quiet zone frames it.
func writeTerminalQR(w io.Writer, bm [][]bool) {
	var b strings.Builder
	for y := 0; y < len(bm); y += 2 {
		for x := range bm[y] {
			top := !bm[y][x]
			bot := y+1 < len(bm) && !bm[y+1][x]
			switch {
			case top && bot:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bot:
				b.WriteString("▄")
			default:
				b.WriteString(" ")
			}
		}
		b.WriteString("\n")
	}
	io.WriteString(w, b.String())
}
