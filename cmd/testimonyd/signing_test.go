package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"testimony/records"
	"testimony/store"
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

// TestServeSealsDays: serve, started on a data directory made before
// sign.key existed, makes the key and seals every ended day from the
// first item's (empty days included) at start-up, leaving today open.
func TestServeSealsDays(t *testing.T) {
	rs, _ := testRecipients(t)
	dir := newDataDir(t)
	os.Remove(filepath.Join(dir, signKeyFile))
	plantItems(t, dir, rs, 1<<10, daysAgo(3), daysAgo(1), daysAgo(0))
	d := startServe(t, dir, nil)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(d.Out.String(), `"msg":"day roots"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no day roots log line:\n%s", d.Out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(d.Out.String(), `"count":3`) || !strings.Contains(d.Out.String(), "made the signing key") {
		t.Errorf("serve did not make the key and seal 3 days:\n%s", d.Out.String())
	}
	d.stop(t)
	db, err := store.Open(filepath.Join(dir, dbFile), store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var days []string
	db.View(func(tx store.Tx) error {
		recs, err := records.DayRoots(tx)
		for _, r := range recs {
			days = append(days, r.Root.Day)
		}
		return err
	})
	if want := []string{daysAgo(3), daysAgo(2), daysAgo(1)}; !slices.Equal(days, want) {
		t.Errorf("sealed %v, want %v", days, want)
	}
}
