package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"testimony/internal/atomicfile"
	"testimony/store"
)

const compactUsage = `Usage: testimonyd compact [--config FILE | --data DIR]

Rewrites the database into a new file that leaves out free pages — which
still hold the ciphertext of purged and deleted items — checks the new file,
and puts it in place of the old one. Refuses while the server runs: stop it
(systemctl stop testimonyd), compact, start it. A purge followed by a compact
is what makes deleted items unrecoverable from the file.`

func runCompact(args []string) error {
	fl := flag.NewFlagSet("compact", flag.ContinueOnError)
	fl.Usage = func() { fmt.Fprintln(os.Stderr, compactUsage); fl.PrintDefaults() }
	sf := addSettingFlags(fl)
	if err := fl.Parse(args); err != nil {
		return errUsage
	}
	cfg, err := sf.load()
	if err != nil {
		return err
	}
	before, after, err := compact(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	outf("compacted %s: %s → %s\n", cfg.DataDir, mib(before), mib(after))
	return nil
}

func compact(dataDir string) (before, after int64, err error) {
	if conn, err := dialControl(dataDir); err == nil {
		conn.Close()
		return 0, 0, errServing
	}
	dbPath := filepath.Join(dataDir, dbFile)
	db, err := store.Open(dbPath, store.Options{LockTimeout: time.Second})
	if err != nil {
		return 0, 0, err
	}
	// The lock is held until the new file is in place.
	defer db.Close()
	if err := db.Check(); err != nil {
		return 0, 0, fmt.Errorf("the database does not pass check; restore a backup instead: %w", err)
	}
	st, err := db.Stats()
	if err != nil {
		return 0, 0, err
	}
	fi, err := os.Stat(dbPath)
	if err != nil {
		return 0, 0, err
	}
	tmp := dbPath + ".compacted"
	defer os.Remove(tmp)
	if err := db.Compact(tmp); err != nil {
		return 0, 0, err
	}
	n, err := checkFile(tmp)
	if err != nil {
		return 0, 0, fmt.Errorf("the compacted file does not pass check, nothing changed: %w", err)
	}
	if n != st.Items {
		return 0, 0, fmt.Errorf("the compacted file holds %d items, not %d; nothing changed", n, st.Items)
	}
	if err := matchOwner(tmp, dbPath); err != nil {
		return 0, 0, err
	}
	nfi, err := os.Stat(tmp)
	if err != nil {
		return 0, 0, err
	}
	if err := os.Rename(tmp, dbPath); err != nil {
		return 0, 0, err
	}
	atomicfile.SyncDir(dataDir)
	return fi.Size(), nfi.Size(), nil
}
