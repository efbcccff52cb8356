package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"testimony/internal/atomicfile"
)

const restoreUsage = `Usage: testimonyd restore FILE [--config FILE | --data DIR]

Checks the backup FILE ("testimonyd check --file"), then puts a copy of it in
place of the data directory's database. The database it replaces is kept
beside it as testimony.db.before-restore-TIME; delete it once the restored
service works. Refuses while the server runs: stop it first (systemctl stop
testimonyd). The data directory must hold the server key of the installation
the backup came from.`

func runRestore(args []string) error {
	fl := flag.NewFlagSet("restore", flag.ContinueOnError)
	fl.Usage = func() { fmt.Fprintln(os.Stderr, restoreUsage); fl.PrintDefaults() }
	sf := addSettingFlags(fl)
	// FILE may come before or after the flags.
	var src string
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		src, args = args[0], args[1:]
	}
	if err := fl.Parse(args); err != nil {
		return errUsage
	}
	if src == "" && fl.NArg() == 1 {
		src = fl.Arg(0)
	} else if fl.NArg() > 0 || src == "" {
		fmt.Fprintln(os.Stderr, restoreUsage)
		return errUsage
	}
	cfg, err := sf.load()
	if err != nil {
		return err
	}
	n, err := restore(src, cfg.DataDir, time.Now())
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	outf("restored %s into %s (%d items)\n", src, cfg.DataDir, n)
	return nil
}

// errServing is returned by the commands that replace the database file.
var errServing = errors.New("the server is running; stop it first (systemctl stop testimonyd)")

func restore(src, dataDir string, now time.Time) (int, error) {
	if conn, err := dialControl(dataDir); err == nil {
		conn.Close()
		return 0, errServing
	}
	if _, err := checkFile(src); err != nil {
		return 0, fmt.Errorf("the backup %s does not pass check, nothing changed: %w", src, err)
	}
	if _, err := os.Stat(filepath.Join(dataDir, keyFile)); err != nil {
		warnf("%s has no server key (%s): restore it from where you keep it, or TOTP and codenames will not work", dataDir, keyFile)
	}
	dbPath := filepath.Join(dataDir, dbFile)
	unlock, err := lockDB(dbPath)
	if err != nil {
		return 0, err
	}
	defer unlock()
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	tmp := filepath.Join(dataDir, "."+dbFile+".restoring")
	os.Remove(tmp)
	defer os.Remove(tmp)
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return 0, err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return 0, err
	}
	if err := out.Close(); err != nil {
		return 0, err
	}
	n, err := checkFile(tmp)
	if err != nil {
		return 0, fmt.Errorf("the copy does not pass check, nothing changed: %w", err)
	}
	if err := matchOwner(tmp, dataDir); err != nil {
		return 0, err
	}
	// One rename puts the new file in place of the old: at every moment
	// there is a whole testimony.db, the old one or the new. The old one is
	// kept by a second name, a hard link made first.
	if cur, err := os.Stat(dbPath); err == nil {
		old, err := keepOld(dbPath, cur, now)
		if err != nil {
			return 0, fmt.Errorf("keeping the database by another name, nothing changed: %w", err)
		}
		atomicfile.SyncDir(dataDir)
		outf("the replaced database is kept as %s\n", old)
	}
	if err := os.Rename(tmp, dbPath); err != nil {
		return 0, err
	}
	atomicfile.SyncDir(dataDir)
	return n, nil
}

// keepOld gives the database file cur at dbPath a second name,
// testimony.db.before-restore-TIME (a hard link: nothing is copied), and
// returns it. A name taken by another file (two restores in one second)
// gets a suffix; one that already names this file (a restore cut short
// after the link) is kept as it is.
func keepOld(dbPath string, cur os.FileInfo, now time.Time) (string, error) {
	base := dbPath + ".before-restore-" + now.UTC().Format("20060102T150405Z")
	for i := 1; i < 100; i++ {
		name := base
		if i > 1 {
			name = fmt.Sprintf("%s-%d", base, i)
		}
		err := os.Link(dbPath, name)
		if err == nil {
			return name, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", err
		}
		if fi, err := os.Stat(name); err == nil && os.SameFile(fi, cur) {
			return name, nil
		}
	}
	return "", fmt.Errorf("too many files named %s-*", base)
}

// lockDB takes the lock bbolt takes on a database file (flock), so that no
// server starts on it while it is replaced; a held lock means a server
// runs. A missing file needs no lock.
func lockDB(path string) (func(), error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is in use: %w", path, errServing)
		}
		return nil, err
	}
	return func() { f.Close() }, nil
}

// matchOwner gives path the owner and group of ref when running as root:
// a console command run by root on the service's data directory must not
// leave a file that the service's user cannot open.
func matchOwner(path, ref string) error {
	if os.Getuid() != 0 {
		return nil
	}
	fi, err := os.Stat(ref)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	return os.Lchown(path, int(st.Uid), int(st.Gid))
}
