package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func statusOf(t *testing.T, args ...string) statusReport {
	t.Helper()
	r := mustRun(t, append([]string{"status", "--json"}, args...)...)
	var st statusReport
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, r.stdout)
	}
	return st
}

// TestBackupRestoreCheckStatus: backup works while serving and not; the
// commands that replace the file refuse while serving; a backup restores
// into another data directory with every item; a damaged backup is never
// restored.
func TestBackupRestoreCheckStatus(t *testing.T) {
	rs, _ := testRecipients(t)
	dir := newDataDir(t)
	items := plantItems(t, dir, rs, 30<<10, daysAgo(3), daysAgo(2), daysAgo(1), daysAgo(0), daysAgo(0))
	out := t.TempDir()

	st := statusOf(t, "--data", dir)
	if st.Serving || st.Items != 5 || st.LastBackup != "" || st.Kinds["submission"] != 5 || st.FileBytes == 0 {
		t.Errorf("offline status before backup: %+v", st)
	}
	if st.Recipients != 0 || !strings.Contains(st.RecipientsErr, "no") {
		t.Errorf("no investigator and no escrow: recipients %d, %q", st.Recipients, st.RecipientsErr)
	}
	r := mustRun(t, "status", "--data", dir, "--escrow-recipients", rs.Keys()[0])
	if !strings.Contains(r.stdout, "1 keys (0 investigators, 1 escrow), fingerprint "+rs.Fingerprint()) ||
		!strings.Contains(r.stdout, "last backup     never") || !strings.Contains(r.stdout, "submission 5") {
		t.Errorf("status:\n%s", r.stdout)
	}

	d := startServe(t, dir, nil, "--escrow-recipients", rs.Keys()[0])
	if fi, err := os.Stat(filepath.Join(dir, controlFile)); err != nil || fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Errorf("control socket: %v %v", fi, err)
	}
	if _, _, _, err := askServer(dir, controlRequest{Op: "format-disk"}); err == nil || !strings.Contains(err.Error(), "unknown request") {
		t.Errorf("an unknown control request: %v", err)
	}
	hot := filepath.Join(out, "hot.db")
	r = mustRun(t, "backup", "-o", hot, "--data", dir)
	if !strings.Contains(r.stdout, "5 items, checked") {
		t.Errorf("backup: %s", r.stdout)
	}
	if fi, err := os.Stat(hot); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	mustRun(t, "check", "--file", hot)
	mustRun(t, "check", "--data", dir) // through the server
	st = statusOf(t, "--data", dir)
	today := time.Now().UTC().Format(time.DateOnly)
	if !st.Serving || st.LastBackup != today || st.Items != 5 || st.Recipients != 1 || st.Fingerprint != rs.Fingerprint() {
		t.Errorf("status while serving: %+v", st)
	}
	for _, args := range [][]string{{"restore", hot, "--data", dir}, {"compact", "--data", dir}} {
		r := runBin(t, args...)
		if r.code != 1 || !strings.Contains(r.stderr, "the server is running; stop it first") {
			t.Errorf("%s while serving: exit %d: %s", args[0], r.code, r.stderr)
		}
	}
	d.stop(t)
	if _, err := os.Stat(filepath.Join(dir, controlFile)); err == nil {
		t.Error("control socket left behind after a clean stop")
	}

	// Offline backup reads the file directly.
	cold := filepath.Join(out, "cold.db")
	mustRun(t, "backup", "-o", cold, "--data", dir)
	mustRun(t, "check", "--file", cold)
	// Without -o, into backup_dir under the day's name.
	mustRun(t, "backup", "--data", dir, "--backup-dir", out)
	mustRun(t, "check", "--file", filepath.Join(out, "testimony-"+today+".db"))

	// Restore into another installation.
	dir2 := newDataDir(t)
	r = mustRun(t, "restore", hot, "--data", dir2)
	if !strings.Contains(r.stdout, "restored") || !strings.Contains(r.stdout, "before-restore") {
		t.Errorf("restore: %s", r.stdout)
	}
	mustRun(t, "check", "--data", dir2)
	st = statusOf(t, "--data", dir2)
	if st.Items != 5 || st.OldestDay != items[0].day {
		t.Errorf("restored status: %+v", st)
	}

	// A damaged backup is refused and the database stays as it was.
	bad := filepath.Join(out, "bad.db")
	b, _ := os.ReadFile(hot)
	for i := 2 * 4096; i < len(b); i += 101 {
		b[i] ^= 0xff
	}
	os.WriteFile(bad, b, 0o600)
	before, _ := os.ReadFile(filepath.Join(dir2, dbFile))
	r = runBin(t, "restore", bad, "--data", dir2)
	if r.code != 1 || !strings.Contains(r.stderr, "does not pass check, nothing changed") || strings.Contains(r.stderr, "goroutine ") {
		t.Errorf("restore of a damaged backup: exit %d: %s", r.code, r.stderr)
	}
	after, _ := os.ReadFile(filepath.Join(dir2, dbFile))
	if string(before) != string(after) {
		t.Error("a refused restore changed the database")
	}
	if r := runBin(t, "check", "--file", bad); r.code != 1 {
		t.Errorf("check of a damaged backup: exit %d", r.code)
	}
}
