package store

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"testimony/internal/atomicfile"
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

// TestBackupWhileWriting: a hot backup taken while writers run opens and
// passes Check, and holds every item committed before it began.
func TestBackupWhileWriting(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(filepath.Join(dir, "t.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	before := map[string][]byte{}
	for i := range 4 {
		d := pattern(uint64(i), 300<<10+i)
		before[writeItem(t, db, d, 32<<10, Item{Kind: "submission"}).ID] = d
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var written atomic.Int64
	errs := make(chan error, 8)
	for g := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				w := db.NewItem()
				size := []int{4 << 10, 200 << 10, chunkSize + 3}[i%3]
				if _, err := w.Write(pattern(uint64(g*1000+i), size)); err != nil {
					errs <- err
					return
				}
				if i%5 == 4 {
					w.Abort() // leaves nothing
					continue
				}
				if _, err := w.Commit(Item{Kind: "submission"}); err != nil {
					errs <- err
					return
				}
				written.Add(1)
			}
		})
	}
	// Let the writers get going, then back up twice: to a file and to a
	// stream.
	for written.Load() < 8 {
		time.Sleep(5 * time.Millisecond)
	}
	backup := filepath.Join(dir, "backup.db")
	var n int64
	err = atomicfile.Write(backup, func(w io.Writer) (err error) { n, err = db.Backup(w); return err }, nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	m, err := db.Backup(&buf)
	if err != nil || m != int64(buf.Len()) {
		t.Fatalf("Backup: %d bytes (%d in the buffer), %v", m, buf.Len(), err)
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("writer: %v", err)
	}
	st, err := os.Stat(backup)
	if err != nil || st.Size() != n || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v (backupFile said %d bytes)", st, err, n)
	}
	if err := db.Check(); err != nil {
		t.Errorf("Check of the live store: %v", err)
	}
	stream := filepath.Join(dir, "stream.db")
	os.WriteFile(stream, buf.Bytes(), 0o600)
	for _, p := range []string{backup, stream} {
		bdb, err := Open(p, Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("opening the backup: %v", err)
		}
		if err := bdb.Check(); err != nil {
			t.Errorf("Check of the backup %s: %v", filepath.Base(p), err)
		}
		items, _ := bdb.Items()
		for id, d := range before {
			if got := readItem(t, bdb, id); !bytes.Equal(got, d) {
				t.Errorf("backup lacks item %s committed before it", id)
			}
		}
		t.Logf("%s: %d items (%d written in all while backing up)", filepath.Base(p), len(items), written.Load())
		bdb.Close()
	}
}

// TestCompactDropsDeletedBytes: after deleting items, Compact gives a
// smaller file that no longer holds their bytes, and keeps the rest.
func TestCompactDropsDeletedBytes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	type kept struct {
		id     string
		data   []byte
		marker []byte
	}
	var all []kept
	for i := range 6 {
		data := pattern(uint64(i), 600<<10)
		marker := []byte(fmt.Sprintf("MARKER-%02d-%s", i, hex.EncodeToString(pattern(uint64(i+50), 16))))
		copy(data[300<<10:], marker)
		it := writeItem(t, db, data, 64<<10, Item{Kind: "submission"})
		all = append(all, kept{it.ID, data, marker})
	}
	for i := 0; i < len(all); i += 2 {
		if err := db.Delete(all[i].id); err != nil {
			t.Fatal(err)
		}
	}
	file, _ := os.ReadFile(path)
	stale := 0
	for i := 0; i < len(all); i += 2 {
		if bytes.Contains(file, all[i].marker) {
			stale++
		}
	}
	if stale == 0 {
		t.Fatal("no deleted item's marker left in the file before Compact: the test proves nothing")
	}
	dst := filepath.Join(dir, "compact.db")
	if err := db.Compact(dst); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dst + ".compacting"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary file left: %v", err)
	}
	small, _ := os.ReadFile(dst)
	t.Logf("%d bytes before compacting (%d deleted markers in free pages), %d after", len(file), stale, len(small))
	if len(small) >= len(file) {
		t.Errorf("compacted file is %d bytes, the original %d", len(small), len(file))
	}
	for i, k := range all {
		if got := bytes.Contains(small, k.marker); got != (i%2 == 1) {
			t.Errorf("item %d (deleted %v): marker in the compacted file = %v", i, i%2 == 0, got)
		}
	}
	cdb, err := Open(dst, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cdb.Close()
	if err := cdb.Check(); err != nil {
		t.Error(err)
	}
	items, _ := cdb.Items()
	if len(items) != 3 {
		t.Errorf("%d items after compacting, want 3", len(items))
	}
	for i := 1; i < len(all); i += 2 {
		if got := readItem(t, cdb, all[i].id); !bytes.Equal(got, all[i].data) {
			t.Errorf("kept item %d differs after compacting", i)
		}
	}
}
