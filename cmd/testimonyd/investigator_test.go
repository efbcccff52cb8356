package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"testimony/crypto"
	"testimony/records"
	"testimony/server/investigator"
	"testimony/store"
)

// runCmd runs testimonyd with args and returns stdout, stderr and the exit
// code.
func runCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	r := runBin(t, args...)
	return r.stdout, r.stderr, r.code
}

func initData(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	if _, stderr, code := runCmd(t, "init", "--data", dir); code != 0 {
		t.Fatalf("init: %s", stderr)
	}
	return dir
}

func newKeyFile(t *testing.T, classic bool) (string, *crypto.Identity) {
	t.Helper()
	id, err := crypto.GenerateIdentity(classic)
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "key.txt")
	w, _ := os.Create(f)
	crypto.WriteIdentityFile(w, id, "2026-11-28")
	w.Close()
	return f, id
}

// TestInvestigatorCommands: add prints a one-time enrolment (QR code,
// otpauth URI, passphrase; --json for scripts) whose secrets work with the
// stored account; list, disable, enable and the resets do what they say;
// a classic key beside post-quantum ones is refused with a clear message.
func TestInvestigatorCommands(t *testing.T) {
	dir := initData(t)
	keyFile, alice := newKeyFile(t, false)

	out, stderr, code := runCmd(t, "investigator", "add", "alice", "--recipient-file", keyFile, "--data", dir, "--qr-png", filepath.Join(t.TempDir(), "qr.png"))
	if code != 0 {
		t.Fatalf("add: %d %s", code, stderr)
	}
	for _, want := range []string{"otpauth://totp/Testimony:alice?", "secret=", "Initial passphrase", "▀"} {
		if !strings.Contains(out, want) {
			t.Errorf("add output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "secret key") {
		t.Errorf("add from an identity file does not warn that the secret key does not belong on the server: %q", stderr)
	}

	_, stderr, code = runCmd(t, "investigator", "add", "bob", "--recipient", alice.Recipient+"x", "--data", dir)
	if code != 1 || !strings.Contains(stderr, "invalid age public key") {
		t.Fatalf("add with a broken key: code %d, %q", code, stderr)
	}
	_, bob := newKeyFile(t, false)
	out, stderr, code = runCmd(t, "investigator", "add", "--json", "--recipient", bob.Recipient, "--data", dir, "bob")
	if code != 0 {
		t.Fatalf("add --json: %s", stderr)
	}
	var en struct {
		Account, Passphrase, TOTPSecret, TOTPURI, Recipient string
	}
	dec := json.NewDecoder(strings.NewReader(out))
	var raw map[string]string
	if err := dec.Decode(&raw); err != nil {
		t.Fatalf("add --json output: %v\n%s", err, out)
	}
	en.Account, en.Passphrase, en.TOTPSecret, en.TOTPURI, en.Recipient = raw["account"], raw["passphrase"], raw["totp_secret"], raw["totp_uri"], raw["recipient"]
	if en.Account != "bob" || len(strings.Fields(en.Passphrase)) != crypto.PassphraseWords || len(en.TOTPSecret) != 32 ||
		!strings.Contains(en.TOTPURI, "secret="+en.TOTPSecret) || en.Recipient != bob.Recipient {
		t.Fatalf("add --json: %+v", en)
	}

	loginWithEnrolment(t, dir, en.Account, en.Passphrase, en.TOTPSecret)

	_, classic := newKeyFile(t, true)
	_, stderr, code = runCmd(t, "investigator", "add", "carol", "--recipient", classic.Recipient, "--data", dir)
	if code != 1 || !strings.Contains(stderr, "cannot mix post-quantum") {
		t.Fatalf("classic key beside post-quantum ones: code %d, %q", code, stderr)
	}
	_, stderr, code = runCmd(t, "investigator", "add", "alice", "--recipient", bob.Recipient, "--data", dir)
	if code != 1 || !strings.Contains(stderr, "already exists") {
		t.Fatalf("duplicate account: code %d, %q", code, stderr)
	}

	out, _, _ = runCmd(t, "investigator", "list", "--data", dir)
	if !strings.Contains(out, "alice") || !strings.Contains(out, "bob") || strings.Contains(out, "carol") || !strings.Contains(out, "active") {
		t.Fatalf("list:\n%s", out)
	}
	if _, stderr, code := runCmd(t, "investigator", "disable", "bob", "--data", dir); code != 0 || strings.Contains(stderr, "no active investigator") {
		t.Fatalf("disable bob: %d %q", code, stderr)
	}
	out, _, _ = runCmd(t, "investigator", "list", "--json", "--data", dir)
	var list []records.AccountInfo
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 2 || list[0].Name != "alice" || !list[1].Disabled {
		t.Fatalf("list --json after disable: %v %+v", err, list)
	}
	if _, stderr, code := runCmd(t, "investigator", "enable", "bob", "--data", dir); code != 0 {
		t.Fatal(stderr)
	}
	if _, stderr, code := runCmd(t, "investigator", "disable", "nobody", "--data", dir); code != 1 || !strings.Contains(stderr, "no such investigator") {
		t.Fatalf("disable of an unknown account: %d %q", code, stderr)
	}
	out, stderr, code = runCmd(t, "investigator", "reset-passphrase", "bob", "--json", "--data", dir)
	if code != 0 || !strings.Contains(out, `"passphrase"`) || strings.Contains(out, "totp_secret") {
		t.Fatalf("reset-passphrase: %d %s %s", code, out, stderr)
	}
	out, stderr, code = runCmd(t, "investigator", "reset-totp", "bob", "--data", dir)
	if code != 0 || !strings.Contains(out, "otpauth://") || strings.Contains(out, "Initial passphrase") {
		t.Fatalf("reset-totp: %d %s %s", code, out, stderr)
	}

	// The enrolment's secrets are the account's: the stored records check
	// them (the server's own code, through the store).
	db, key, err := openData(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	list2, err := records.NewAccounts(db, key).List()
	if err != nil || len(list2) != 2 || list2[1].Recipient != bob.Recipient || !list2[1].MustChange {
		t.Fatalf("stored accounts: %+v %v", list2, err)
	}
	n, err := records.VerifyAudit(db)
	if err != nil || n != 7 { // add, add, login, disable, enable, reset-passphrase, reset-totp
		t.Fatalf("audit after the commands: %d entries, %v", n, err)
	}
}

// TestCommandsWhileServing: with the database held by another process
// (the server), the commands say so clearly and do not hang.
func TestCommandsWhileServing(t *testing.T) {
	dir := initData(t)
	_, id := newKeyFile(t, false)
	// The lock is held by a child process: the serving testimonyd.
	startServe(t, dir, nil)
	for _, args := range [][]string{
		{"investigator", "add", "alice", "--recipient", id.Recipient, "--data", dir},
		{"investigator", "list", "--data", dir},
		{"audit", "verify", "--data", dir},
	} {
		t0 := time.Now()
		_, stderr, code := runCmd(t, args...)
		if code != 1 || !strings.Contains(stderr, "in use") {
			t.Errorf("%v while serving: code %d, %q", args, code, stderr)
		}
		if d := time.Since(t0); d > 20*time.Second {
			t.Errorf("%v took %v", args, d)
		}
	}
}

// TestAuditVerifyNamesTamperedEntry: "testimonyd audit verify" passes on an
// intact log and, after one entry is changed in the database, fails with
// status 1 naming it.
func TestAuditVerifyNamesTamperedEntry(t *testing.T) {
	dir := initData(t)
	for _, name := range []string{"alice", "bob", "carol"} {
		_, id := newKeyFile(t, false)
		if _, stderr, code := runCmd(t, "investigator", "add", name, "--recipient", id.Recipient, "--data", dir); code != 0 {
			t.Fatal(stderr)
		}
	}
	out, stderr, code := runCmd(t, "audit", "verify", "--data", dir)
	if code != 0 || !strings.Contains(out, "intact: 3") {
		t.Fatalf("verify of an intact log: %d %q %q", code, out, stderr)
	}
	db, err := store.Open(filepath.Join(dir, dbFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx store.Tx) error {
		k := []byte{0, 0, 0, 0, 0, 0, 0, 2}
		v, err := tx.Get("audit", k)
		if err != nil {
			return err
		}
		return tx.Put("audit", k, bytes.Replace(v, []byte(`"target":"bob"`), []byte(`"target":"eve"`), 1))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runCmd(t, "audit", "verify", "--data", dir)
	if code != 1 || !strings.Contains(stderr, "entry 2") {
		t.Fatalf("verify of a tampered log: code %d, %q", code, stderr)
	}
}

// loginWithEnrolment logs in to the investigator site of the data
// directory with what the enrolment printed: the passphrase and a code
// that Debian's oathtool computes from the printed secret.
func loginWithEnrolment(t *testing.T, dir, name, pass, secret string) {
	t.Helper()
	code, err := exec.Command("oathtool", "--totp", "-b", secret).Output()
	if err != nil {
		t.Fatalf("oathtool: %v", err)
	}
	db, key, err := openData(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv, err := investigator.New(investigator.Config{}, db, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"account": {name}, "passphrase": {pass}, "code": {strings.TrimSpace(string(code))}}
	req := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/passphrase" {
		t.Fatalf("login with the enrolment of %s: %d %q", name, rec.Code, rec.Header().Get("Location"))
	}
}

// TestInvestigatorAddChecksEscrow: with --config, the escrow keys of the
// configuration count: a post-quantum investigator key beside a classic
// escrow key is refused.
func TestInvestigatorAddChecksEscrow(t *testing.T) {
	dir := initData(t)
	_, escrow := newKeyFile(t, true)
	conf := filepath.Join(t.TempDir(), "testimonyd.toml")
	os.WriteFile(conf, []byte("data_dir = \""+dir+"\"\nescrow_recipients = [\""+escrow.Recipient+"\"]\n"), 0o600)
	_, pq := newKeyFile(t, false)
	_, stderr, code := runCmd(t, "investigator", "add", "alice", "--recipient", pq.Recipient, "--config", conf)
	if code != 1 || !strings.Contains(stderr, "escrow") || !strings.Contains(stderr, "cannot mix") {
		t.Fatalf("post-quantum key beside a classic escrow key: code %d, %q", code, stderr)
	}
	_, classic := newKeyFile(t, true)
	if _, stderr, code := runCmd(t, "investigator", "add", "alice", "--recipient", classic.Recipient, "--config", conf); code != 0 {
		t.Fatalf("classic key beside a classic escrow key: %q", stderr)
	}
}

// TestDisableLastInvestigatorWarns: disabling the last active account says
// that the witness site will refuse testimonies.
func TestDisableLastInvestigatorWarns(t *testing.T) {
	dir := initData(t)
	_, id := newKeyFile(t, false)
	if _, stderr, code := runCmd(t, "investigator", "add", "alice", "--recipient", id.Recipient, "--data", dir); code != 0 {
		t.Fatal(stderr)
	}
	_, stderr, code := runCmd(t, "investigator", "disable", "alice", "--data", dir)
	if code != 0 || !strings.Contains(stderr, "refuses testimonies") {
		t.Fatalf("disable of the last account: %d %q", code, stderr)
	}
}
