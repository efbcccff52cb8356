package store

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// Rewrite functions for the tests, each idempotent as Rewrite asks.

// setTo overwrites the bytes with p.
func setTo(p []byte) func([]byte) error {
	return func(b []byte) error { copy(b, p); return nil }
}

// sortBytes sorts the bytes: its result depends on the bytes it gets, so
// it shows whether it saw the result of the rewrites before it.
func sortBytes(b []byte) error { slices.Sort(b); return nil }

// highBit sets the high bit of every byte.
func highBit(b []byte) error {
	for i := range b {
		b[i] |= 0x80
	}
	return nil
}

// rewriter registers rewrites with w and applies them to want, as the
// commit must.
func rewriterFor(t *testing.T, w *itemWriter, want []byte) func(off int64, n int, fn func([]byte) error) {
	return func(off int64, n int, fn func([]byte) error) {
		t.Helper()
		if err := w.Rewrite(off, n, fn); err != nil {
			t.Fatalf("Rewrite(%d, %d): %v", off, n, err)
		}
		fn(want[off : off+int64(n)])
	}
}

// TestRewrite: rewrites of a large item written in several flushes (in
// odd-sized writes) land where they should, whether their bytes are
// flushed, across two flushed values, in the unflushed tail, across the
// boundary, or in the small pieces at offset 0; overlapping ones see each
// other's result, in the order registered.
func TestRewrite(t *testing.T) {
	for _, perTx := range []int{1, 2, defaultChunksPerTx} {
		t.Run(fmt.Sprintf("chunksPerTx=%d", perTx), func(t *testing.T) {
			db := openTemp(t, Options{chunksPerTx: perTx})
			const size = 5<<20 + 512<<10
			data := pattern(uint64(perTx), size)
			want := bytes.Clone(data)
			w := db.newWriter()
			rewrite := rewriterFor(t, w, want)
			for p, i := data, 0; len(p) > 0; i++ {
				k := min(len(p), 77777)
				if n, err := w.Write(p[:k]); err != nil || n != k {
					t.Fatalf("Write: %d, %v", n, err)
				}
				p = p[k:]
				if i == 0 { // in the first small pieces, flushed later
					rewrite(0, 5000, setTo(pattern(100, 5000)))
				}
			}
			flushed := w.flushedBytes()
			if flushed < 4<<20 || flushed >= size-200000 {
				t.Fatalf("%d bytes flushed of %d: the test proves nothing", flushed, size)
			}
			// A boundary between two flushed values of more than 800
			// bytes each (small pieces have 881), away from the start.
			var mid int64
			for i := len(w.ends) / 2; i < len(w.ends)-1; i++ {
				if w.ends[i]-w.ends[i-1] > 800 && w.ends[i+1]-w.ends[i] > 800 {
					mid = w.ends[i]
					break
				}
			}
			if mid == 0 {
				t.Fatalf("no boundary between flushed values in %v", w.ends)
			}
			rewrite(mid-400, 800, setTo(pattern(101, 800)))
			rewrite(mid-100, 900, sortBytes) // overlaps the one before
			rewrite(flushed+100000, 7000, sortBytes)
			rewrite(flushed-2000, 4000, highBit)
			rewrite(size-200000, 50000, setTo(pattern(102, 50000)))
			rewrite(size-170000, 70000, sortBytes) // overlaps the one before
			rewrite(1000, 3<<19, highBit)          // many values, over the first rewrite
			rewrite(size-10, 10, setTo([]byte("0123456789")))
			it, err := w.Commit(Item{Kind: "submission"})
			if err != nil {
				t.Fatal(err)
			}
			if it.Size != size || it.Chunks != chunksFor(db, size) {
				t.Errorf("record: %d bytes in %d chunks, want %d in %d", it.Size, it.Chunks, size, chunksFor(db, size))
			}
			got := readItem(t, db, it.ID)
			if i := firstDiff(got, want); i >= 0 {
				t.Errorf("item read back differs from the rewritten bytes first at %d (%d bytes flushed)", i, flushed)
			}
			if bytes.Equal(want, data) {
				t.Error("the rewrites changed nothing")
			}
			if err := db.Check(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestRewriteSmallItem: an item that never flushed, kept in small chunks,
// takes rewrites too, across those chunks.
func TestRewriteSmallItem(t *testing.T) {
	db := openTemp(t, Options{})
	data := pattern(5, 3000)
	want := bytes.Clone(data)
	w := db.newWriter()
	rewrite := rewriterFor(t, w, want)
	for p := data; len(p) > 0; p = p[min(len(p), 1000):] {
		w.Write(p[:min(len(p), 1000)])
	}
	small := int64(db.smallChunk)
	rewrite(0, 10, setTo([]byte("0123456789")))
	rewrite(small-5, 10, setTo([]byte("abcdefghij"))) // across two chunks
	rewrite(2999, 1, setTo([]byte("z")))
	rewrite(0, 3000, sortBytes)
	it, err := w.Commit(Item{Kind: "submission"})
	if err != nil {
		t.Fatal(err)
	}
	if it.Chunks != chunksFor(db, 3000) || it.Chunks < 3 {
		t.Errorf("%d chunks, want %d", it.Chunks, chunksFor(db, 3000))
	}
	if got := readItem(t, db, it.ID); !bytes.Equal(got, want) {
		t.Errorf("item read back differs from the rewritten bytes first at %d", firstDiff(got, want))
	}
	if err := db.Check(); err != nil {
		t.Error(err)
	}
}

// TestRewriteBatchRetry: bbolt's Batch runs a commit again when another
// call in its batch fails; the rewrites then run again, on the same bytes:
// overlapping rewrites, each idempotent, give the result of one run (and
// not of two, which differs here), in flushed chunks and unflushed values.
func TestRewriteBatchRetry(t *testing.T) {
	db := openTemp(t, Options{chunksPerTx: 1})
	const size = 2<<20 + 300<<10
	data := pattern(6, size)
	want := bytes.Clone(data)
	w := db.newWriter()
	rewrite := rewriterFor(t, w, want)
	var runs atomic.Int32
	counted := func(fn func([]byte) error) func([]byte) error {
		return func(b []byte) error { runs.Add(1); return fn(b) }
	}
	w.Write(data)
	if err := w.wait(); err != nil {
		t.Fatal(err)
	}
	flushed := w.flushedBytes()
	rewrite(flushed+1000, 100, counted(setTo(pattern(103, 100))))
	rewrite(flushed+1050, 100, counted(sortBytes))
	rewrite(flushed/2, 100, counted(setTo(pattern(104, 100))))
	rewrite(flushed/2+50, 100, counted(sortBytes))
	rewrite(flushed-50, 100, counted(sortBytes))

	runs.Store(0) // rewrite ran each on want

	// A batch of two: this commit, then a call that fails, which makes
	// the committer run the commit again without it. The committer is
	// held back until both are pending.
	held := holdCommitter(db)
	var commits atomic.Int32
	done := make(chan error, 1)
	go func() {
		_, err := w.CommitWith(Item{Kind: "submission"}, func(tx Tx) error {
			commits.Add(1)
			return tx.Put("sources", []byte("s1"), []byte("first"))
		})
		done <- err
	}()
	held.wait(t, 1) // the commit first, so that it runs before the failure
	boom := errors.New("boom")
	failed := make(chan error, 1)
	go func() { failed <- db.batch(func(*bolt.Tx) error { return boom }) }()
	held.wait(t, 2)
	held.start()
	if err := <-failed; !errors.Is(err, boom) {
		t.Errorf("the failing call: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := commits.Load(); n < 2 {
		t.Fatalf("the commit ran %d times: the test proves nothing", n)
	}
	if n := runs.Load(); n != 5*commits.Load() {
		t.Errorf("rewrites ran %d times in %d runs of the commit", n, commits.Load())
	}
	if got := readItem(t, db, w.ID()); !bytes.Equal(got, want) {
		t.Errorf("item read back differs from the rewritten bytes first at %d (%d bytes flushed)", firstDiff(got, want), flushed)
	}
	if err := db.Check(); err != nil {
		t.Error(err)
	}
}

// TestRewriteError: a rewrite that fails fails the commit; the item is
// aborted: no record, no chunk, pending or not, and no change of the
// caller's CommitWith.
func TestRewriteError(t *testing.T) {
	db := openTemp(t, Options{})
	boom := errors.New("boom")
	for _, size := range []int{3000, 3*chunkSize + 12345, (defaultChunksPerTx+1)*chunkSize + 5} {
		w := db.newWriter()
		w.Write(pattern(7, size))
		if err := w.Rewrite(0, 100, highBit); err != nil {
			t.Fatal(err)
		}
		if err := w.Rewrite(int64(size)-100, 100, func([]byte) error { return boom }); err != nil {
			t.Fatal(err)
		}
		_, err := w.CommitWith(Item{Kind: "submission"}, func(tx Tx) error {
			return tx.Put("sources", []byte("s"), []byte("x"))
		})
		if !errors.Is(err, boom) {
			t.Errorf("%d bytes: Commit with a failing rewrite: %v", size, err)
		}
		if _, err := db.Item(w.ID()); !errors.Is(err, ErrNotFound) {
			t.Errorf("%d bytes: item of a failed commit: %v", size, err)
		}
		key, _ := hex.DecodeString(w.ID())
		if n := chunkCount(t, db, key); n != 0 {
			t.Errorf("%d bytes: %d chunks left", size, n)
		}
	}
	if st, err := db.Stats(); err != nil || st.PendingChunks != 0 || st.Items != 0 {
		t.Errorf("Stats: %+v, %v", st, err)
	}
	db.View(func(tx Tx) error {
		if _, err := tx.Get("sources", []byte("s")); !errors.Is(err, ErrNotFound) {
			t.Errorf("a failed commit kept its update: %v", err)
		}
		return nil
	})
	if err := db.Check(); err != nil {
		t.Error(err)
	}
}

// TestRewriteRefused: Rewrite refuses an empty or negative length, a
// negative offset, bytes not written yet, and a writer committed or
// aborted; a refused rewrite never runs.
func TestRewriteRefused(t *testing.T) {
	db := openTemp(t, Options{})
	never := func([]byte) error { t.Error("a refused rewrite ran"); return nil }
	w := db.newWriter()
	data := pattern(8, 1000)
	w.Write(data)
	for _, c := range []struct {
		off int64
		n   int
	}{{0, 0}, {0, -1}, {-1, 10}, {995, 6}, {1000, 1}, {0, 1001}, {math.MaxInt64, 1}, {1, math.MaxInt}} {
		if err := w.Rewrite(c.off, c.n, never); err == nil {
			t.Errorf("Rewrite(%d, %d) of a 1000-byte item succeeded", c.off, c.n)
		}
	}
	want := bytes.Clone(data)
	rewrite := rewriterFor(t, w, want)
	rewrite(995, 5, highBit)
	rewrite(0, 1000, highBit)
	it, err := w.Commit(Item{Kind: "submission"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Rewrite(0, 1, never); err == nil {
		t.Error("Rewrite after Commit succeeded")
	}
	if got := readItem(t, db, it.ID); !bytes.Equal(got, want) {
		t.Errorf("item read back differs first at %d", firstDiff(got, want))
	}
	a := db.newWriter()
	a.Write(data)
	a.Abort()
	if err := a.Rewrite(0, 1, never); err == nil {
		t.Error("Rewrite after Abort succeeded")
	}
}
