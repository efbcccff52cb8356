package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"testimony/store"
)

// BenchmarkBackup compares a hot backup through the control socket
// (framed stream, hashed, written, checked) with the store's own Backup
// of the same database to a file, synced, followed by the same check, in
// one process. The database holds 64 items of 1 MiB.
func BenchmarkBackup(b *testing.B) {
	dir := b.TempDir() + "/data"
	if r := runBin(b, "init", "--data", dir); r.code != 0 {
		b.Fatal(r.stderr)
	}
	rs, _ := testRecipients(b)
	days := make([]string, 64)
	for i := range days {
		days[i] = daysAgo(0)
	}
	plantItems(b, dir, rs, 1<<20, days...)
	db, err := store.Open(filepath.Join(dir, dbFile), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	fi, _ := db.Stats()
	out := b.TempDir()

	b.Run("baseline", func(b *testing.B) {
		b.SetBytes(fi.FileBytes)
		for b.Loop() {
			dst := filepath.Join(out, "base.db")
			if err := backupTo(db, dst); err != nil {
				b.Fatal(err)
			}
			if _, err := checkFile(dst); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ours", func(b *testing.B) {
		l, err := listenControl(dir)
		if err != nil {
			b.Fatal(err)
		}
		c := &control{db: db, cfg: settings{DataDir: dir}, log: slog.New(slog.DiscardHandler), now: time.Now}
		go c.serve(l)
		defer func() { l.Close(); c.wait() }()
		b.SetBytes(fi.FileBytes)
		for b.Loop() {
			if _, err := backup(dir, filepath.Join(out, "ours.db"), "2026-01-01"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// backupTo writes db's Backup to a new file at path, mode 0600, synced.
func backupTo(db *store.DB, path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := db.Backup(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
