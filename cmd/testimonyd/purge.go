package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"testimony/records"
	"testimony/store"
)

const purgeUsage = `Usage: testimonyd purge --older-than DAYS [--config FILE | --data DIR]

Deletes every item (submission, follow-up, reply) whose day is more than DAYS
days before today (UTC), with the seen marks of those items and the record
of a source none of whose items is left. Works while the server runs (it
asks the server over DATA/control.sock) and when it does not. The bytes of
deleted items stay in free pages of the database file until "testimonyd
compact" rewrites it.`

func runPurge(args []string) error {
	fl := flag.NewFlagSet("purge", flag.ContinueOnError)
	fl.Usage = func() { fmt.Fprintln(os.Stderr, purgeUsage); fl.PrintDefaults() }
	days := fl.Int("older-than", 0, "delete items older than this many days (at least 1)")
	sf := addSettingFlags(fl)
	if err := fl.Parse(args); err != nil {
		return errUsage
	}
	if *days < 1 {
		return errors.New("purge: pass --older-than DAYS, at least 1")
	}
	cfg, err := sf.load()
	if err != nil {
		return err
	}
	resp, _, _, err := askServer(cfg.DataDir, controlRequest{Op: "purge", Days: *days})
	n := resp.Purged
	if errors.Is(err, errNotServing) {
		var db *store.DB
		if db, err = openConsoleStore(cfg, false); err != nil {
			return err
		}
		n, err = purgeOlder(db, time.Now(), *days)
		if cerr := db.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("purge: %w", err)
	}
	outf("purged %d items older than %d days\n", n, *days)
	return nil
}

// purgeCutoff is the first day kept when purging items older than days.
func purgeCutoff(now time.Time, days int) string {
	return now.UTC().AddDate(0, 0, -days).Format(time.DateOnly)
}

// purgeOlder deletes every item whose day is before the cutoff, each in
// its own transaction, and returns how many went. What referred to them
// goes too: their seen marks, and the record (reply key, first day) of a
// source with no item left, as when a source is deleted on the investigator
// site. A follow-up that a source's witness commits between the listing
// and that last step keeps its item but loses the record; the source's
// next follow-up writes it again (records.PutSourceIfAbsent).
func purgeOlder(db *store.DB, now time.Time, days int) (int, error) {
	if days < 1 {
		return 0, errors.New("purge: days must be at least 1")
	}
	cutoff := purgeCutoff(now, days)
	items, err := db.Items()
	if err != nil {
		return 0, err
	}
	gone, touched := map[string]bool{}, map[string]bool{}
	for _, it := range items {
		if it.Day >= cutoff {
			continue
		}
		if err := db.Delete(it.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return len(gone), err
		}
		gone[it.ID] = true
		if it.Source != "" {
			touched[it.Source] = true
		}
	}
	if len(gone) == 0 {
		return 0, nil
	}
	left, err := db.Items()
	if err != nil {
		return len(gone), err
	}
	for _, it := range left {
		delete(touched, it.Source)
	}
	return len(gone), db.UpdateFreeing(func(tx store.Tx) error {
		if err := records.DeleteSeenOf(tx, gone); err != nil {
			return err
		}
		for s := range touched {
			if err := records.DeleteSource(tx, s); err != nil {
				return err
			}
		}
		return nil
	})
}

// openConsoleStore opens the database of a data directory for a console
// command while no server runs. A held lock here means a server runs but
// its control socket does not answer.
func openConsoleStore(cfg settings, readOnly bool) (db *store.DB, err error) {
	defer func() {
		// bbolt panics on some damaged pages that pass its meta checksum.
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%w: %v", store.ErrCorrupt, r)
		}
	}()
	db, _, err = openData(cfg.DataDir, readOnly)
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("%w; its control socket %s/%s does not answer", err, cfg.DataDir, controlFile)
	}
	return db, err
}
