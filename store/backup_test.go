package store

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestSnapshotHoldsNoTransaction: a snapshot left open and unread does not
// stop writes that grow the file (and so need bbolt to remap it), where a
// Backup to a reader that stalls does; the snapshot is a whole, consistent
// copy holding the items committed before it and none after; it has no
// name in its directory; and it is refused when it would eat the space the
// size cap promises to the store.
func TestSnapshotHoldsNoTransaction(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(filepath.Join(dir, "t.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var before []Item
	for i := range 4 {
		before = append(before, writeItem(t, db, pattern(uint64(i), 256<<10), 64<<10, Item{Kind: "submission", Day: "2026-01-02"}))
	}
	// grow writes items of n bytes in all, more than the file holds now:
	// past the end of bbolt's mapping, which is at most twice the file.
	grow := func(seed uint64, n int) func() error {
		return func() error {
			for left := n; left > 0; left -= 1 << 20 {
				w := db.NewItem()
				if _, err := w.Write(pattern(seed, 1<<20)); err != nil {
					w.Abort()
					return err
				}
				if _, err := w.Commit(Item{Kind: "submission", Day: "2026-01-03"}); err != nil {
					return err
				}
				seed++
			}
			return nil
		}
	}
	size := func() int {
		fi, err := os.Stat(db.Path())
		if err != nil {
			t.Fatal(err)
		}
		return int(fi.Size())
	}

	snap, n, err := db.Snapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Close()
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("the snapshot left a name in its directory: %v", ents)
	}
	// The snapshot is open and unread: writes go on.
	if err := answerWithin(t, "writes while a snapshot is open", grow(100, 4*size())); err != nil {
		t.Fatal(err)
	}

	// The same writes with a Backup whose reader has stopped do wait: the
	// workload does need a remap, so the check above can fail.
	pr, pw := io.Pipe()
	backupDone := make(chan error, 1)
	go func() { _, err := db.Backup(pw); pw.CloseWithError(err); backupDone <- err }()
	writes := make(chan error, 1)
	go func() { writes <- grow(200, 4*size())() }()
	select {
	case err := <-writes:
		t.Errorf("writes that grow the file finished while a Backup's reader stalled (%v): the test does not remap", err)
	case <-time.After(2 * time.Second):
	}
	io.Copy(io.Discard, pr) // the reader goes on: the backup ends, the writes too
	if err := <-backupDone; err != nil {
		t.Fatal(err)
	}
	if err := answerWithin(t, "writes after the backup", func() error { return <-writes }); err != nil {
		t.Fatal(err)
	}

	// The snapshot holds what was committed before it, whole.
	copyPath := filepath.Join(t.TempDir(), "copy.db")
	out, err := os.OpenFile(copyPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := io.Copy(out, snap); err != nil || m != n {
		t.Fatalf("read %d of %d snapshot bytes: %v", m, n, err)
	}
	out.Close()
	cp, err := Open(copyPath, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	if err := cp.Check(); err != nil {
		t.Fatal(err)
	}
	items, err := cp.Items()
	if err != nil || len(items) != len(before) {
		t.Fatalf("the snapshot holds %d items, want the %d committed before it: %v", len(items), len(before), err)
	}
	for i, it := range before {
		if got := readItem(t, cp, it.ID); string(got) != string(pattern(uint64(i), 256<<10)) {
			t.Errorf("item %s differs in the snapshot", it.ID)
		}
	}

	// No room: the cap promises more than the disk has left after a copy.
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	db.maxSize = int(int64(st.Bavail)*int64(st.Bsize)) + size() + 1<<20
	defer func() { db.maxSize = 0 }()
	if f, _, err := db.Snapshot(dir); !errors.Is(err, ErrNoSpace) {
		if f != nil {
			f.Close()
		}
		t.Errorf("a snapshot that would take the space under the cap: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("a refused snapshot left a file: %v", ents)
	}
}
