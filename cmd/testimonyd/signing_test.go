package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var signKeyRE = regexp.MustCompile(`ed25519:[0-9a-f]{64}`)

// TestSigningKeyShown: init makes sign.key (mode 0600) and prints its
// public key; status and the enrolment of investigator add show the same
// key, for investigators to note. A data directory without one (made
// before it existed) says so in status, and investigator add makes it.
func TestSigningKeyShown(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	out, stderr, code := runCmd(t, "init", "--data", dir)
	if code != 0 {
		t.Fatalf("init: %s", stderr)
	}
	fi, err := os.Stat(filepath.Join(dir, signKeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("sign.key: %v %v", fi, err)
	}
	key := signKeyRE.FindString(out)
	if key == "" {
		t.Fatalf("init prints no signing key:\n%s", out)
	}
	out, stderr, code = runCmd(t, "status", "--data", dir)
	if code != 0 || !strings.Contains(out, "signing key     "+key) {
		t.Errorf("status: %d %s\n%s", code, stderr, out)
	}
	keyFile, _ := newKeyFile(t, false)
	out, stderr, code = runCmd(t, "investigator", "add", "alice", "--recipient-file", keyFile, "--data", dir)
	if code != 0 || !strings.Contains(out, key) {
		t.Errorf("investigator add: %d %s\n%s", code, stderr, out)
	}
	_, bob := newKeyFile(t, false)
	out, _, _ = runCmd(t, "investigator", "add", "--json", "--recipient", bob.Recipient, "--data", dir, "bob")
	if !strings.Contains(out, `"server_key": "`+key+`"`) {
		t.Errorf("investigator add --json lacks server_key:\n%s", out)
	}

	os.Remove(filepath.Join(dir, signKeyFile)) // as in a directory made before sign.key
	if out, _, _ := runCmd(t, "status", "--data", dir); !strings.Contains(out, "signing key     none yet") {
		t.Errorf("status without a key:\n%s", out)
	}
	_, carol := newKeyFile(t, false)
	out, stderr, code = runCmd(t, "investigator", "add", "--recipient", carol.Recipient, "--data", dir, "carol")
	if code != 0 || !signKeyRE.MatchString(out) {
		t.Errorf("add without a key: %d %s\n%s", code, stderr, out)
	}
	if fi, err := os.Stat(filepath.Join(dir, signKeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("sign.key not made: %v", err)
	}
}
