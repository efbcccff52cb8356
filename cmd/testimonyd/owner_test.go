package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestConsoleKeepsTheServiceOwner: run as root on a data directory owned
// by the service's user, init, restore and compact leave files that user
// owns, so the service can still open them.
func TestConsoleKeepsTheServiceOwner(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to own files as another user")
	}
	const uid, gid = 65534, 65534 // nobody, nogroup
	owner := func(p string) (int, int) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		return int(st.Uid), int(st.Gid)
	}
	dir := filepath.Join(t.TempDir(), "data")
	os.Mkdir(dir, 0o700)
	os.Chown(dir, uid, gid)
	mustRun(t, "init", "--data", dir)
	for _, f := range []string{keyFile, dbFile, configFile} {
		if u, g := owner(filepath.Join(dir, f)); u != uid || g != gid {
			t.Errorf("init as root: %s owned by %d:%d, want the directory's %d:%d", f, u, g, uid, gid)
		}
	}
	rs, _ := testRecipients(t)
	plantItems(t, dir, rs, 10<<10, daysAgo(0))
	os.Chown(filepath.Join(dir, dbFile), uid, gid)
	backup := filepath.Join(t.TempDir(), "b.db")
	mustRun(t, "backup", "-o", backup, "--data", dir)
	mustRun(t, "compact", "--data", dir)
	if u, _ := owner(filepath.Join(dir, dbFile)); u != uid {
		t.Errorf("compact as root: database owned by %d, want %d", u, uid)
	}
	mustRun(t, "restore", backup, "--data", dir)
	if u, _ := owner(filepath.Join(dir, dbFile)); u != uid {
		t.Errorf("restore as root: database owned by %d, want %d", u, uid)
	}
	// Without matchOwner the files would be root's: the test can fail.
	if u, _ := owner(backup); u != 0 {
		t.Errorf("the backup file, written where root asked, is owned by %d", u)
	}
}
