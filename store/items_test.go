package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var itemSizes = []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3*ChunkSize + ChunkSize/2}

// TestItemRoundTrip: items of sizes around the chunk size read back byte
// for byte, whatever the size of the writes, and their records say so.
func TestItemRoundTrip(t *testing.T) {
	db := openTemp(t, Options{})
	// Also sizes around the writer's transaction of chunksPerTx chunks.
	sizes := append(slices.Clone(itemSizes), defaultChunksPerTx*ChunkSize, defaultChunksPerTx*ChunkSize+1, 2*defaultChunksPerTx*ChunkSize+ChunkSize/3)
	for i, size := range sizes {
		for _, step := range []int{1 << 30, 4096, 777} {
			if size > 2*ChunkSize && step < 4096 || size > 4*ChunkSize && step < 1<<20 {
				continue // slow and proves nothing more
			}
			t.Run(fmt.Sprintf("size=%d/write=%d", size, min(step, size)), func(t *testing.T) {
				data := pattern(uint64(i*10+step), size)
				rec := Item{Kind: "submission", Day: "2026-08-27", Recipients: "fp", Source: "src1"}
				w := db.NewItem()
				for p := data; len(p) > 0; {
					k := min(step, len(p))
					if n, err := w.Write(p[:k]); err != nil || n != k {
						t.Fatalf("Write: %d, %v", n, err)
					}
					p = p[k:]
				}
				it, err := w.Commit(rec)
				if err != nil {
					t.Fatal(err)
				}
				if it.ID != w.ID() {
					t.Errorf("Commit gave id %s, ID() said %s", it.ID, w.ID())
				}
				if it.Kind != rec.Kind || it.Day != rec.Day || it.Recipients != rec.Recipients || it.Source != rec.Source {
					t.Errorf("record %+v lost fields of %+v", it, rec)
				}
				wantChunks := chunksFor(db, size)
				if it.Size != int64(size) || it.Chunks != wantChunks {
					t.Errorf("record: size %d chunks %d, want %d and %d", it.Size, it.Chunks, size, wantChunks)
				}
				key, _ := hex.DecodeString(it.ID)
				if n := chunkCount(t, db, key); n != wantChunks {
					t.Errorf("%d chunks stored, want %d", n, wantChunks)
				}
				got, err := db.Item(it.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got != it {
					t.Errorf("Item() = %+v, Commit gave %+v", got, it)
				}
				if back := readItem(t, db, it.ID); !bytes.Equal(back, data) {
					t.Errorf("read back %d bytes, differ from the %d written", len(back), len(data))
				}
				// Small reads give the same bytes.
				_, r, _ := db.Open(it.ID)
				var small bytes.Buffer
				if _, err := io.CopyBuffer(&small, struct{ io.Reader }{r}, make([]byte, 1000)); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(small.Bytes(), data) {
					t.Error("reading in 1000-byte pieces gave other bytes")
				}
			})
		}
	}
	if err := db.Check(); err != nil {
		t.Error(err)
	}
}

func TestItemWriterMisuse(t *testing.T) {
	db := openTemp(t, Options{})
	w := db.NewItem()
	w.Write([]byte("x"))
	if _, err := w.Commit(Item{}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("y")); err == nil {
		t.Error("Write after Commit succeeded")
	}
	if _, err := w.Commit(Item{}); err == nil {
		t.Error("second Commit succeeded")
	}
	w.Abort() // no effect after Commit
	if got := readItem(t, db, w.ID()); string(got) != "x" {
		t.Errorf("Abort after Commit changed the item: %q", got)
	}
	a, b := db.NewItem(), db.NewItem()
	if a.ID() == b.ID() || len(a.ID()) != 2*idLen {
		t.Errorf("ids %q and %q", a.ID(), b.ID())
	}
}

func TestItemsAndDelete(t *testing.T) {
	db := openTemp(t, Options{})
	want := map[string][]byte{}
	for i, size := range itemSizes {
		data := pattern(uint64(i), size)
		it := writeItem(t, db, data, 64<<10, Item{Kind: "submission", Day: fmt.Sprintf("2026-08-%02d", i+1)})
		want[it.ID] = data
	}
	items, err := db.Items()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
		if it.Size != int64(len(want[it.ID])) {
			t.Errorf("item %s: size %d, want %d", it.ID, it.Size, len(want[it.ID]))
		}
	}
	if len(items) != len(want) {
		t.Fatalf("Items listed %d, want %d", len(items), len(want))
	}
	st, err := db.Stats()
	if err != nil || st.Items != len(want) {
		t.Errorf("Stats: %+v, %v", st, err)
	}
	slices.Sort(ids)
	// Delete the largest and the empty one.
	var big, empty string
	for id, d := range want {
		switch len(d) {
		case 3*ChunkSize + ChunkSize/2:
			big = id
		case 0:
			empty = id
		}
	}
	// A reader opened before the delete fails with ErrNotFound after its
	// first chunk, not with wrong bytes.
	_, r, err := db.Open(big)
	if err != nil {
		t.Fatal(err)
	}
	first := make([]byte, 10)
	if _, err := io.ReadFull(r, first); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{big, empty} {
		if err := db.Delete(id); err != nil {
			t.Fatalf("Delete(%s): %v", id, err)
		}
		delete(want, id)
		if _, err := db.Item(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Item after Delete: %v", err)
		}
		if _, _, err := db.Open(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Open after Delete: %v", err)
		}
		if err := db.Delete(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("second Delete: %v", err)
		}
		key, _ := hex.DecodeString(id)
		if n := chunkCount(t, db, key); n != 0 {
			t.Errorf("%d chunks left after Delete", n)
		}
	}
	if _, err := io.ReadAll(r); !errors.Is(err, ErrNotFound) {
		t.Errorf("reading a deleted item: %v, want ErrNotFound", err)
	}
	// The others are intact; nothing else was removed.
	total := 0
	for id, d := range want {
		total += chunksFor(db, len(d))
		if got := readItem(t, db, id); !bytes.Equal(got, d) {
			t.Errorf("item %s changed by deleting others", id)
		}
	}
	if n := chunkCount(t, db, nil); n != total {
		t.Errorf("%d chunks in the store, the remaining items have %d", n, total)
	}
	if err := db.Check(); err != nil {
		t.Errorf("Check after deletes: %v", err)
	}
	for _, bad := range []string{"", "zz", strings.Repeat("ab", idLen+1), "../../etc/passwd", strings.Repeat("0", 2*idLen)} {
		if _, err := db.Item(bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Item(%q): %v", bad, err)
		}
		if err := db.Delete(bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Delete(%q): %v", bad, err)
		}
	}
}

// TestRecordsBesideChunks: each record is kept under its item's id in the
// chunks bucket, just before its chunks; listing finds every record (of
// an empty item, a small one, a large one) and nothing else, and ends
// past keys of lengths no writer makes (damage, which Check reports).
func TestRecordsBesideChunks(t *testing.T) {
	db := openTemp(t, Options{})
	want := map[string]bool{}
	for i, size := range []int{0, 5000, 3*ChunkSize + 7} {
		it := writeItem(t, db, pattern(uint64(i), size), 64<<10, Item{Kind: "submission"})
		want[it.ID] = true
		key, _ := hex.DecodeString(it.ID)
		db.bolt.View(func(tx *bolt.Tx) error {
			k, v := tx.Bucket(bucketChunks).Cursor().Seek(key)
			var rec Item
			if !bytes.Equal(k, key) || json.Unmarshal(v, &rec) != nil || rec.ID != it.ID {
				t.Errorf("%d bytes: key %x holds %q, want the record", size, k, v)
			}
			return nil
		})
	}
	ids := slices.Collect(maps.Keys(want))
	slices.Sort(ids)
	last, _ := hex.DecodeString(ids[len(ids)-1])
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketChunks)
		for _, k := range [][]byte{
			last[:idLen-1],                      // shorter than an id
			append(bytes.Clone(last), 0),        // between an id and its chunks
			append(chunkKey(last, -1), 0xff, 0), // after every chunk key of an id
			bytes.Repeat([]byte{0xff}, idLen+9), // the last key of all
		} {
			if err := b.Put(k, []byte("stray")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	items, err := db.Items()
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != len(want) {
		t.Errorf("Items lists %d, want %d", len(items), len(want))
	}
	for _, it := range items {
		if !want[it.ID] {
			t.Errorf("Items lists %s", it.ID)
		}
	}
	if err := db.Check(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "bad key") {
		t.Errorf("Check with stray keys: %v", err)
	}
}

// TestListingDamagedBranch: a branch key of the chunks bucket overwritten
// with 0xff sends a seek to the leaf before the one it wants. Listing and
// Check must then report damage, not loop forever.
func TestListingDamagedBranch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		writeItem(t, db, pattern(uint64(i), 3000), 64<<10, Item{Kind: "submission"})
	}
	editRootPage(t, db.bolt, bucketChunks, func(page []byte) {
		el := pageElements(t, page, branchPage, 3)[1]
		pos, ksize := binary.LittleEndian.Uint32(el), binary.LittleEndian.Uint32(el[4:])
		copy(el[pos:pos+ksize], bytes.Repeat([]byte{0xff}, int(ksize)))
	})

	db, err = Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() error{
		"Items": func() error { _, err := db.Items(); return err },
		"Check": db.Check,
	} {
		if err := answerWithin(t, name, f); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "keys out of order") {
			t.Errorf("%s: %v, want ErrCorrupt for keys out of order", name, err)
		}
	}
	db.Close()
}

// TestDeletingDamagedLeaf: in a leaf with two chunk keys swapped, a
// delete misses its key and the next seek finds it again. Delete must
// report damage, not loop forever.
func TestDeletingDamagedLeaf(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	it := writeItem(t, db, pattern(1, 2500), 64<<10, Item{Kind: "submission"}) // a record and 3 chunks: one leaf page
	editRootPage(t, db.bolt, bucketChunks, func(page []byte) {
		swapLeafKeys(t, page, 1, 2)
	})
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := answerWithin(t, "Delete", func() error { return db.Delete(it.ID) }); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Delete: %v, want ErrCorrupt", err)
	}
	db.Close()
}

// editRootPage closes b, then lets edit change, in the file, the root
// page of its bucket name.
func editRootPage(t *testing.T, b *bolt.DB, name []byte, edit func(page []byte)) {
	t.Helper()
	var root uint64
	b.View(func(tx *bolt.Tx) error {
		root = uint64(tx.Bucket(name).Root())
		return nil
	})
	pageSize, path := b.Info().PageSize, b.Path()
	b.Close()
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edit(file[int(root)*pageSize : int(root+1)*pageSize])
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A page: a 16-byte header (id, flags, count, overflow), then its
// elements. A branch element is (pos, ksize uint32, pgid uint64); a leaf
// element (flags, pos, ksize, vsize uint32). pos is counted from the
// element.
const (
	branchPage = 0x01
	leafPage   = 0x02
)

// swapLeafKeys swaps the keys, of equal length, of elements i and j of a
// leaf page.
func swapLeafKeys(t *testing.T, page []byte, i, j int) {
	t.Helper()
	els := pageElements(t, page, leafPage, max(i, j)+1)
	key := func(el []byte) []byte {
		pos, ksize := binary.LittleEndian.Uint32(el[4:]), binary.LittleEndian.Uint32(el[8:])
		return el[pos : pos+ksize]
	}
	a, b := key(els[i]), key(els[j])
	if len(a) != len(b) {
		t.Fatalf("keys of %d and %d bytes", len(a), len(b))
	}
	tmp := bytes.Clone(a)
	copy(a, b)
	copy(b, tmp)
}

// pageElements returns a page's elements (each from its start), after
// checking the page's flags and that it has at least min elements.
func pageElements(t *testing.T, page []byte, flags uint16, min int) [][]byte {
	t.Helper()
	f, count := binary.LittleEndian.Uint16(page[8:]), int(binary.LittleEndian.Uint16(page[10:]))
	if f != flags || count < min {
		t.Fatalf("root page: flags %#x, %d elements; want %#x and %d or more", f, count, flags, min)
	}
	els := make([][]byte, count)
	for i := range els {
		els[i] = page[16+16*i:]
	}
	return els
}

// TestAbort: an aborted item is invisible and its chunks are gone at once;
// a writer that never commits leaves chunks that the next Open removes.
func TestAbort(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	keep := writeItem(t, db, pattern(1, 2*ChunkSize+5), 1<<20, Item{Kind: "submission"})

	w := db.NewItem()
	// Enough for the writer to have put chunks on disk.
	w.Write(pattern(2, (defaultChunksPerTx+1)*ChunkSize+100))
	w.wait() // the flush runs in the background
	key, _ := hex.DecodeString(w.ID())
	// One flush: chunksPerTx chunks, begun and ended in small pieces.
	if n := chunkCount(t, db, key); n != defaultChunksPerTx+2*tailPieces {
		t.Fatalf("%d chunks written before Abort, want %d", n, defaultChunksPerTx+2*tailPieces)
	}
	w.Abort()
	w.Abort()
	if n := chunkCount(t, db, key); n != 0 {
		t.Errorf("%d chunks left after Abort", n)
	}
	if _, err := w.Commit(Item{}); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	if _, err := db.Item(w.ID()); !errors.Is(err, ErrNotFound) {
		t.Errorf("aborted item: %v", err)
	}

	// An interrupted writer: chunks on disk, no record.
	lost := db.NewItem()
	lost.Write(pattern(3, 2*defaultChunksPerTx*ChunkSize+ChunkSize/2))
	lost.wait()
	lostKey, _ := hex.DecodeString(lost.ID())
	lostChunks := 2*(defaultChunksPerTx+tailPieces) + tailPieces // two flushes
	if n := chunkCount(t, db, lostKey); n != lostChunks {
		t.Fatalf("%d chunks of the interrupted writer on disk, want %d", n, lostChunks)
	}
	items, _ := db.Items()
	if len(items) != 1 || items[0].ID != keep.ID {
		t.Errorf("Items while a writer is pending: %+v", items)
	}
	if st, err := db.Stats(); err != nil || st.PendingChunks != lostChunks || st.Items != 1 {
		t.Errorf("Stats with a pending writer: %+v, %v", st, err)
	}
	// Its chunks are a write in progress, not damage; a read-only Open (as
	// after a crash) sees them the same way.
	if err := db.Check(); err != nil {
		t.Errorf("Check while a writer is pending: %v", err)
	}
	db.Close()
	ro, err := Open(path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := ro.Check(); err != nil {
		t.Errorf("Check (read-only) of an interrupted write: %v", err)
	}
	if n := chunkCount(t, ro, lostKey); n != lostChunks {
		t.Errorf("a read-only Open removed chunks: %d left", n)
	}
	ro.Close()
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := chunkCount(t, db, lostKey); n != 0 {
		t.Errorf("%d orphan chunks left after Open", n)
	}
	if st, _ := db.Stats(); st.PendingChunks != 0 {
		t.Errorf("Stats after Open: %d pending chunks", st.PendingChunks)
	}
	db.bolt.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketPending).Cursor().First(); k != nil {
			t.Errorf("pending entry %x left after Open", k)
		}
		return nil
	})
	if err := db.Check(); err != nil {
		t.Errorf("Check after Open: %v", err)
	}
	if got := readItem(t, db, keep.ID); !bytes.Equal(got, pattern(1, 2*ChunkSize+5)) {
		t.Error("removing orphans damaged a committed item")
	}
}

// TestCheckFindsDamage tampers with the file's buckets directly and
// expects Check to name each problem.
func TestCheckFindsDamage(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(tx *bolt.Tx, id []byte) error
		want   string // with %[1]d for the item's chunks, %[2]d for one fewer
	}{
		{"missing chunk", func(tx *bolt.Tx, id []byte) error {
			return tx.Bucket(bucketChunks).Delete(chunkKey(id, 1))
		}, "%[2]d chunks with"},
		{"orphan chunk", func(tx *bolt.Tx, id []byte) error {
			return tx.Bucket(bucketChunks).Put(chunkKey(newID(), 0), []byte("stray"))
		}, "orphan chunk"},
		{"short chunk", func(tx *bolt.Tx, id []byte) error {
			return tx.Bucket(bucketChunks).Put(chunkKey(id, 2), []byte("short"))
		}, "record says %[1]d and"},
		{"record size", func(tx *bolt.Tx, id []byte) error {
			var it Item
			json.Unmarshal(tx.Bucket(bucketChunks).Get(id), &it)
			it.Size++
			rec, _ := json.Marshal(it)
			return tx.Bucket(bucketChunks).Put(id, rec)
		}, "record says %[1]d and"},
		{"record of another id", func(tx *bolt.Tx, id []byte) error {
			rec := bytes.Clone(tx.Bucket(bucketChunks).Get(id))
			other := newID()
			tx.Bucket(bucketChunks).Put(other, rec)
			return nil
		}, "record names"},
		{"unreadable record", func(tx *bolt.Tx, id []byte) error {
			return tx.Bucket(bucketChunks).Put(id, []byte("{not json"))
		}, "unreadable record"},
		{"chunk with a bad key", func(tx *bolt.Tx, id []byte) error {
			return tx.Bucket(bucketChunks).Put(append(bytes.Clone(id), 0), []byte("x"))
		}, "bad key"},
		{"chunk beyond the record", func(tx *bolt.Tx, id []byte) error {
			c := tx.Bucket(bucketChunks)
			v := bytes.Clone(c.Get(chunkKey(id, 2)))
			c.Delete(chunkKey(id, 2))
			return c.Put(chunkKey(id, 70), v)
		}, "chunk 70"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db := openTemp(t, Options{})
			writeItem(t, db, pattern(5, 100), 100, Item{Kind: "reply"})
			it := writeItem(t, db, pattern(6, 2*ChunkSize+1000), 1<<20, Item{Kind: "submission"})
			if err := db.Check(); err != nil {
				t.Fatalf("Check before tampering: %v", err)
			}
			id, _ := hex.DecodeString(it.ID)
			if err := db.bolt.Update(func(tx *bolt.Tx) error { return c.tamper(tx, id) }); err != nil {
				t.Fatal(err)
			}
			err := db.Check()
			want := c.want
			if strings.Contains(want, "%") {
				want = fmt.Sprintf(want, it.Chunks, it.Chunks-1)
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), want) {
				t.Fatalf("Check: %v, want ErrCorrupt naming %q", err, want)
			}
			t.Log(err)
		})
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
				size := []int{4 << 10, 200 << 10, ChunkSize + 3}[i%3]
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
	n, err := db.BackupFile(backup)
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
		t.Fatalf("backup file: %v, %v (BackupFile said %d bytes)", st, err, n)
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

// TestCheckWhileWriting runs Check (as the control socket does on a
// serving store) while writers commit; the race detector watches.
func TestCheckWhileWriting(t *testing.T) {
	db := openTemp(t, Options{})
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := range 3 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				it := writeItem(t, db, pattern(uint64(g*100+i), 20<<10), 8<<10, Item{Kind: "submission"})
				if i%2 == 0 {
					db.Delete(it.ID)
				}
			}
		})
	}
	for range 20 {
		if err := db.Check(); err != nil && !strings.Contains(err.Error(), "orphan chunk") {
			t.Error(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if err := db.Check(); err != nil {
		t.Error(err)
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

// TestCommitWith: the caller's update lands in the item's own transaction,
// and its failure leaves neither the item nor the update.
func TestCommitWith(t *testing.T) {
	db := openTemp(t, Options{})
	w := db.NewItem()
	w.Write(pattern(1, 3000))
	it, err := w.CommitWith(Item{Kind: "submission"}, func(tx Tx) error {
		return tx.Put("sources", []byte("s1"), []byte("first"))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx Tx) error {
		if v, err := tx.Get("sources", []byte("s1")); string(v) != "first" {
			t.Errorf("source record: %q %v", v, err)
		}
		return nil
	})
	if got := readItem(t, db, it.ID); !bytes.Equal(got, pattern(1, 3000)) {
		t.Error("item differs")
	}
	boom := errors.New("boom")
	for _, size := range []int{3000, (defaultChunksPerTx+1)*ChunkSize + 5} {
		w = db.NewItem()
		w.Write(pattern(2, size))
		_, err = w.CommitWith(Item{Kind: "submission"}, func(tx Tx) error {
			tx.Put("sources", []byte("s2"), []byte("second"))
			return boom
		})
		if !errors.Is(err, boom) {
			t.Errorf("CommitWith whose update fails: %v", err)
		}
		if _, err := db.Item(w.ID()); !errors.Is(err, ErrNotFound) {
			t.Errorf("item of a failed CommitWith: %v", err)
		}
		key, _ := hex.DecodeString(w.ID())
		if n := chunkCount(t, db, key); n != 0 {
			t.Errorf("%d chunks left by a failed CommitWith", n)
		}
	}
	db.View(func(tx Tx) error {
		if _, err := tx.Get("sources", []byte("s2")); !errors.Is(err, ErrNotFound) {
			t.Errorf("a failed CommitWith kept its update: %v", err)
		}
		return nil
	})
	if err := db.Check(); err != nil {
		t.Error(err)
	}
}
