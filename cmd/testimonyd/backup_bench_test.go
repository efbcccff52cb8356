package main

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"testimony/store"
)

// BenchmarkBackup compares a hot backup through the control socket
// (framed stream, hashed, written, checked) with the store's own
// BackupFile of the same database followed by the same check, in one
// process. The database holds 64 items of 1 MiB.
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
			if _, err := db.BackupFile(dst); err != nil {
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
