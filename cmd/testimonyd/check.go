package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"testimony/store"
)

const checkUsage = `Usage: testimonyd check [--config FILE | --data DIR] [--file DB]

Verifies the database: bbolt's page check, then that every item has all its
chunks and no chunk is orphaned. With --file, checks that file (a backup)
instead. Works while the server runs. Exits 1 naming each problem.`

func runCheck(args []string) error {
	fl := flag.NewFlagSet("check", flag.ContinueOnError)
	fl.Usage = func() { fmt.Fprintln(os.Stderr, checkUsage); fl.PrintDefaults() }
	file := fl.String("file", "", "check this database file (a backup) instead of the data directory's")
	sf := addSettingFlags(fl)
	if err := fl.Parse(args); err != nil {
		return errUsage
	}
	if *file != "" {
		n, err := checkFile(*file)
		if err != nil {
			return fmt.Errorf("check %s: %w", *file, err)
		}
		outf("%s: ok, %d items\n", *file, n)
		return nil
	}
	cfg, err := sf.load()
	if err != nil {
		return err
	}
	_, _, _, err = askServer(cfg.DataDir, controlRequest{Op: "check"})
	if errors.Is(err, errNotServing) {
		var db *store.DB
		if db, err = openConsoleStore(cfg, true); err != nil {
			return err
		}
		err = checkOpen(db)
	}
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	outf("%s: ok\n", cfg.DataDir)
	return nil
}

// checkFile opens a database file read-only, checks it and counts its
// items.
func checkFile(path string) (n int, err error) {
	// bbolt may panic on a damaged file that passed its header check.
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("%w: %v", store.ErrCorrupt, r)
		}
	}()
	if _, err := os.Stat(path); err != nil {
		return 0, err
	}
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if err := db.Check(); err != nil {
		return 0, err
	}
	s, err := db.Stats()
	return s.Items, err
}

// checkOpen checks an open store and closes it; a bbolt panic on a damaged
// page is reported as store.ErrCorrupt.
func checkOpen(db *store.DB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", store.ErrCorrupt, r)
		}
	}()
	defer db.Close()
	return db.Check()
}
