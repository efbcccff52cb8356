package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"testimony/crypto"
	"testimony/records"
	"testimony/store"
)

// TestPurgeThenCompactErasesCiphertext: after purging half the items
// (through the running server) and compacting, the file is smaller and no
// longer holds any bytes of the purged items' ciphertext, while the kept
// items check and decrypt.
func TestPurgeThenCompactErasesCiphertext(t *testing.T) {
	rs, id := testRecipients(t)
	dir := newDataDir(t)
	var days []string
	for i := range 8 {
		if i%2 == 0 {
			days = append(days, daysAgo(100+i))
		} else {
			days = append(days, daysAgo(i))
		}
	}
	items := plantItems(t, dir, rs, 300<<10, days...)
	path := filepath.Join(dir, dbFile)

	d := startServe(t, dir, nil)
	r := mustRun(t, "purge", "--older-than", "30", "--data", dir)
	if !strings.Contains(r.stdout, "purged 4 items") {
		t.Fatalf("purge: %s", r.stdout)
	}
	d.stop(t)

	file, _ := os.ReadFile(path)
	sizeBefore := len(file)
	left := 0
	for i, it := range items {
		if i%2 == 0 && bytes.Contains(file, it.marker) {
			left++
		}
	}
	if left == 0 {
		t.Fatal("no purged ciphertext found in the file before compacting: the test cannot tell compact works")
	}
	t.Logf("before compact: %d bytes, %d of 4 purged items' markers still in free pages", sizeBefore, left)

	r = mustRun(t, "compact", "--data", dir)
	if !strings.Contains(r.stdout, "compacted") {
		t.Errorf("compact: %s", r.stdout)
	}
	file, _ = os.ReadFile(path)
	if len(file) >= sizeBefore {
		t.Errorf("file did not shrink: %d → %d bytes", sizeBefore, len(file))
	}
	for i, it := range items {
		purged := i%2 == 0
		if bytes.Contains(file, it.marker) == purged {
			t.Errorf("item %d (day %s, purged %v): marker present = %v after compact", i, it.day, purged, !purged)
		}
	}
	mustRun(t, "check", "--data", dir)

	// The kept items decrypt.
	db, all := storedItems(t, path, store.Options{})
	defer db.Close()
	if len(all) != 4 {
		t.Fatalf("%d items after purge and compact, want 4", len(all))
	}
	for _, it := range all {
		if it.Day < time.Now().UTC().AddDate(0, 0, -30).Format(time.DateOnly) {
			t.Errorf("item of %s survived the purge", it.Day)
		}
		_, rd, err := db.Open(it.ID)
		if err != nil {
			t.Fatal(err)
		}
		er, err := crypto.OpenEnvelope(rd, id.AgeIdentity())
		if err != nil {
			t.Fatalf("item %s does not decrypt: %v", it.ID, err)
		}
		if _, att, err := er.Next(); err != nil {
			t.Fatal(err)
		} else if n, _ := io.Copy(io.Discard, att); n != 300<<10 {
			t.Errorf("attachment of %d bytes", n)
		}
	}
}

func TestPurgeCutoff(t *testing.T) {
	now := time.Date(2026, 3, 1, 23, 59, 0, 0, time.UTC)
	for days, want := range map[int]string{1: "2026-02-28", 30: "2026-01-30", 365: "2025-03-01"} {
		if got := purgeCutoff(now, days); got != want {
			t.Errorf("purgeCutoff(%d) = %s, want %s (items before it go)", days, got, want)
		}
	}
	if _, err := purgeOlder(nil, now, 0); err == nil {
		t.Error("purge of 0 days accepted")
	}
}

// TestPurgeTakesWhatReferredToPurgedItems: purging an item takes its seen
// marks with it, and a source whose every item went loses its record (its
// reply key and first day), as deleting a source does on the investigator
// site; a source with an item left keeps its record.
func TestPurgeTakesWhatReferredToPurgedItems(t *testing.T) {
	db, err := store.Open(filepath.Join(t.TempDir(), "t.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	old, recent := daysAgo(40), daysAgo(1)
	put := func(day, source string) string {
		w := db.NewItem()
		if _, err := w.Write([]byte("ciphertext")); err != nil {
			t.Fatal(err)
		}
		it, err := w.Commit(store.Item{Kind: crypto.KindSubmission, Day: day, Source: source})
		if err != nil {
			t.Fatal(err)
		}
		return it.ID
	}
	gone, kept := put(old, "s-gone"), put(recent, "s-kept")
	put(old, "s-kept")
	err = db.Update(func(tx store.Tx) error {
		for _, s := range []string{"s-gone", "s-kept"} {
			if err := tx.Put(records.BucketSources, []byte(s), []byte(`{"reply_recipient":"age1pq1x","day":"`+old+`"}`)); err != nil {
				return err
			}
		}
		for _, id := range []string{gone, kept} {
			if err := records.MarkSeen(tx, "alice", id, recent); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := purgeOlder(db, now, 30); err != nil || n != 2 {
		t.Fatalf("purge: %d, %v; want 2 items", n, err)
	}
	if ok, _ := records.SourceExists(db, "s-gone"); ok {
		t.Error("the record of a source with no item left survived the purge")
	}
	if ok, _ := records.SourceExists(db, "s-kept"); !ok {
		t.Error("the record of a source with an item left went")
	}
	db.View(func(tx store.Tx) error {
		seen, err := records.SeenBy(tx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if seen[gone] || !seen[kept] {
			t.Errorf("seen marks after purge: %v; want only %s", seen, kept)
		}
		return nil
	})
}
