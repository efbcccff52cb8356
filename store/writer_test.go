package store

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestItemRoundTrip: items of sizes around the chunk size read back byte
// for byte, whatever the size of the writes, and their records say so.
func TestItemRoundTrip(t *testing.T) {
	db := openTemp(t, Options{})
	// Also sizes around the writer's transaction of chunksPerTx chunks.
	sizes := append(slices.Clone(itemSizes), defaultChunksPerTx*chunkSize, defaultChunksPerTx*chunkSize+1, 2*defaultChunksPerTx*chunkSize+chunkSize/3)
	for i, size := range sizes {
		for _, step := range []int{1 << 30, 4096, 777} {
			if size > 2*chunkSize && step < 4096 || size > 4*chunkSize && step < 1<<20 {
				continue // slow and proves nothing more
			}
			t.Run(fmt.Sprintf("size=%d/write=%d", size, min(step, size)), func(t *testing.T) {
				data := pattern(uint64(i*10+step), size)
				rec := Item{Kind: "submission", Day: "2026-08-27", Recipients: "fp", Source: "src1"}
				w := db.newWriter()
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

// TestAbort: an aborted item is invisible and its chunks are gone at once;
// a writer that never commits leaves chunks that the next Open removes.
func TestAbort(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	keep := writeItem(t, db, pattern(1, 2*chunkSize+5), 1<<20, Item{Kind: "submission"})

	w := db.newWriter()
	// Enough for the writer to have put chunks on disk.
	w.Write(pattern(2, (defaultChunksPerTx+1)*chunkSize+100))
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
	lost := db.newWriter()
	lost.Write(pattern(3, 2*defaultChunksPerTx*chunkSize+chunkSize/2))
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
	if got := readItem(t, db, keep.ID); !bytes.Equal(got, pattern(1, 2*chunkSize+5)) {
		t.Error("removing orphans damaged a committed item")
	}
}

// TestCommitWith: the caller's update lands in the item's own transaction,
// and its failure leaves neither the item nor the update.
func TestCommitWith(t *testing.T) {
	db := openTemp(t, Options{})
	w := db.newWriter()
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
	for _, size := range []int{3000, (defaultChunksPerTx+1)*chunkSize + 5} {
		w = db.newWriter()
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

// TestFlushInBackground: Write returns while the flush it started runs,
// and a writer holds at most 2*chunksPerTx+1 chunk buffers: those of the
// flush in flight, those filling, and the one being filled.
func TestFlushInBackground(t *testing.T) {
	db := openTemp(t, Options{})
	size := 4*defaultChunksPerTx*chunkSize + 12345
	data := pattern(9, size)
	w := db.newWriter()
	buffers := map[*byte]bool{}
	started := 0
	for p := data; len(p) > 0; {
		k := min(len(p), 64<<10)
		chunks := w.chunks
		if _, err := w.Write(p[:k]); err != nil {
			t.Fatal(err)
		}
		p = p[k:]
		if w.chunks != chunks {
			started++
			if w.flushed == nil {
				t.Fatal("Write returned after the flush it started ended")
			}
		}
		for _, bs := range [][][]byte{w.full, w.inFlight, w.spare, {w.buf}} {
			for _, b := range bs {
				if cap(b) == chunkSize {
					buffers[&b[:1][0]] = true
				}
			}
		}
	}
	if started != 4 {
		t.Errorf("%d flushes started, want 4", started)
	}
	if len(buffers) > 2*defaultChunksPerTx+1 {
		t.Errorf("%d chunk buffers used, want at most %d", len(buffers), 2*defaultChunksPerTx+1)
	}
	it, err := w.Commit(Item{Kind: "submission"})
	if err != nil {
		t.Fatal(err)
	}
	if got := readItem(t, db, it.ID); !bytes.Equal(got, data) {
		t.Errorf("item read back differs first at %d", firstDiff(got, data))
	}
	if err := db.Check(); err != nil {
		t.Error(err)
	}
}

// TestFlushErrorReachesCaller: at the size cap a background flush fails;
// its error (ErrFull) reaches the caller through the next Write, Rewrite
// or Commit, and Abort leaves no pending chunk.
func TestFlushErrorReachesCaller(t *testing.T) {
	db := openTemp(t, Options{MaxSize: 8 << 20})
	w := db.newWriter()
	block := pattern(10, 100<<10+7)
	var err error
	written := 0
	for written < 64<<20 && err == nil {
		_, err = w.Write(block)
		written += len(block)
	}
	if err != nil {
		if rerr := w.Rewrite(0, 1, highBit); !errors.Is(rerr, ErrFull) {
			t.Errorf("Rewrite after a failed flush: %v, want ErrFull", rerr)
		}
		if _, werr := w.Write(block); !errors.Is(werr, ErrFull) {
			t.Errorf("Write after a failed flush: %v, want ErrFull", werr)
		}
		_, err = w.Commit(Item{Kind: "submission"})
	} else {
		_, err = w.Commit(Item{Kind: "submission"})
	}
	if !errors.Is(err, ErrFull) {
		t.Fatalf("a 64 MiB item under a cap of 8 MiB: %v after %d bytes, want ErrFull", err, written)
	}
	t.Logf("the flush error reached the caller after %d bytes", written)
	w.Abort()
	if st, err := db.Stats(); err != nil || st.PendingChunks != 0 || st.Items != 0 {
		t.Errorf("Stats after Abort: %+v, %v", st, err)
	}
	if err := db.Check(); err != nil {
		t.Error(err)
	}
	// The space is free again.
	writeItem(t, db, pattern(11, 3000), 3000, Item{Kind: "reply"})
}

// TestAbortDuringFlush: Abort waits for the flush in flight before it
// deletes the item's chunks, so none is left behind, pending or not.
func TestAbortDuringFlush(t *testing.T) {
	db := openTemp(t, Options{})
	for i := range 3 {
		w := db.newWriter()
		if _, err := w.Write(pattern(uint64(i), defaultChunksPerTx*chunkSize+100)); err != nil {
			t.Fatal(err)
		}
		if w.flushed == nil {
			t.Fatal("no flush in flight: the test proves nothing")
		}
		w.Abort()
		key, _ := hex.DecodeString(w.ID())
		if n := chunkCount(t, db, key); n != 0 {
			t.Errorf("%d chunks left by Abort during a flush", n)
		}
	}
	if st, err := db.Stats(); err != nil || st.PendingChunks != 0 {
		t.Errorf("Stats: %+v, %v", st, err)
	}
	if err := db.Check(); err != nil {
		t.Error(err)
	}
}
