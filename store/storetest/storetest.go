// Package storetest is the conformance suite of [store.Store]: every
// backend runs it, from its own tests, with [Run].
package storetest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"

	"testimony/bundle"
	"testimony/store"
)

// Open makes a new, empty store for one test, closed when the test ends.
// maxBytes caps its size (0: no cap).
type Open func(t *testing.T, maxBytes int64) store.Store

// Run runs every conformance test against the backend that open makes.
func Run(t *testing.T, open Open) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, Open)
	}{
		{"Records", testRecords},
		{"ReadOnlyView", testReadOnlyView},
		{"AllOrNothing", testAllOrNothing},
		{"NoLostUpdates", testNoLostUpdates},
		{"AcceptOnce", testAcceptOnce},
		{"AppendDistinct", testAppendDistinct},
		{"RangeIsolation", testRangeIsolation},
		{"Items", testItems},
		{"Visibility", testVisibility},
		{"Abort", testAbort},
		{"WriterMisuse", testWriterMisuse},
		{"CommitWith", testCommitWith},
		{"ConcurrentCommitWith", testConcurrentCommitWith},
		{"SharedReadCommits", testSharedReadCommits},
		{"Rewrite", testRewrite},
		{"Bundle", testBundle},
		{"SizeCap", testSizeCap},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open) })
	}
}

// pattern is n bytes that differ with seed and position.
func pattern(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + seed*13 + i/251)
	}
	return b
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testRecords(t *testing.T, open Open) {
	s := open(t, 0)
	must(t, s.Update(func(tx store.Tx) error {
		for _, k := range []string{"b2", "a1", "a", "a3", "c", "a2"} {
			if err := tx.Put("things", []byte(k), []byte("v-"+k)); err != nil {
				return err
			}
		}
		// A transaction sees its own writes.
		v, err := tx.Get("things", []byte("a3"))
		if err != nil || string(v) != "v-a3" {
			return fmt.Errorf("own write: %q, %v", v, err)
		}
		return tx.Delete("things", []byte("c"))
	}))
	must(t, s.View(func(tx store.Tx) error {
		if v, err := tx.Get("things", []byte("b2")); err != nil || string(v) != "v-b2" {
			t.Errorf("Get b2 = %q, %v", v, err)
		}
		if _, err := tx.Get("things", []byte("c")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get of a deleted key: %v, want ErrNotFound", err)
		}
		if _, err := tx.Get("nothing", []byte("x")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Get in a missing bucket: %v, want ErrNotFound", err)
		}
		var keys []string
		must(t, tx.ForEach("things", []byte("a"), func(k, v []byte) error {
			if string(v) != "v-"+string(k) {
				t.Errorf("ForEach: %q = %q", k, v)
			}
			keys = append(keys, string(k))
			return nil
		}))
		if want := []string{"a", "a1", "a2", "a3"}; !slices.Equal(keys, want) {
			t.Errorf("ForEach a = %q, want %q", keys, want)
		}
		keys = nil
		must(t, tx.ForEach("things", nil, func(k, _ []byte) error { keys = append(keys, string(k)); return nil }))
		if want := []string{"a", "a1", "a2", "a3", "b2"}; !slices.Equal(keys, want) {
			t.Errorf("ForEach all = %q, want %q", keys, want)
		}
		if err := tx.ForEach("nothing", nil, func(k, _ []byte) error { t.Errorf("key %q", k); return nil }); err != nil {
			t.Errorf("ForEach of a missing bucket: %v", err)
		}
		stop := errors.New("stop")
		n := 0
		if err := tx.ForEach("things", nil, func(_, _ []byte) error { n++; return stop }); err != stop || n != 1 {
			t.Errorf("ForEach did not stop at fn's first error: %v after %d", err, n)
		}
		k, v, err := tx.Last("things")
		if err != nil || string(k) != "b2" || string(v) != "v-b2" {
			t.Errorf("Last = %q %q %v", k, v, err)
		}
		if _, _, err := tx.Last("nothing"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Last of a missing bucket: %v", err)
		}
		return nil
	}))
	// Get returns a copy that outlives the transaction.
	var kept []byte
	must(t, s.View(func(tx store.Tx) (err error) { kept, err = tx.Get("things", []byte("a1")); return err }))
	if string(kept) != "v-a1" {
		t.Errorf("a value read in View, after it: %q", kept)
	}
	// Last of a bucket emptied; deleting in a missing bucket is no error.
	must(t, s.Update(func(tx store.Tx) error { return tx.Put("empty", []byte("a"), []byte("1")) }))
	must(t, s.Update(func(tx store.Tx) error {
		if err := tx.Delete("nobucket", []byte("x")); err != nil {
			return err
		}
		return tx.Delete("empty", []byte("a"))
	}))
	must(t, s.View(func(tx store.Tx) error {
		if _, _, err := tx.Last("empty"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Last of an emptied bucket: %v", err)
		}
		return nil
	}))
	// Deleting a missing key is no error; a transaction's view of a range
	// includes its own writes and deletions.
	must(t, s.Update(func(tx store.Tx) error {
		if err := tx.Delete("things", []byte("zz")); err != nil {
			return err
		}
		if err := tx.Delete("things", []byte("b2")); err != nil {
			return err
		}
		if err := tx.Put("things", []byte("a0"), []byte("v-a0")); err != nil {
			return err
		}
		var keys []string
		tx.ForEach("things", nil, func(k, _ []byte) error { keys = append(keys, string(k)); return nil })
		if want := []string{"a", "a0", "a1", "a2", "a3"}; !slices.Equal(keys, want) {
			t.Errorf("ForEach in the transaction = %q, want %q", keys, want)
		}
		if k, _, err := tx.Last("things"); err != nil || string(k) != "a3" {
			t.Errorf("Last in the transaction = %q, %v", k, err)
		}
		return nil
	}))
	// Binary keys, ordered bytewise.
	must(t, s.Update(func(tx store.Tx) error {
		for _, n := range []uint64{300, 2, 1 << 40, 0xff} {
			if err := tx.Put("seq", binary.BigEndian.AppendUint64(nil, n), []byte{0, 1, 0xff}); err != nil {
				return err
			}
		}
		return nil
	}))
	must(t, s.View(func(tx store.Tx) error {
		var got []uint64
		tx.ForEach("seq", nil, func(k, v []byte) error {
			got = append(got, binary.BigEndian.Uint64(k))
			if !bytes.Equal(v, []byte{0, 1, 0xff}) {
				t.Errorf("value %x", v)
			}
			return nil
		})
		if want := []uint64{2, 0xff, 300, 1 << 40}; !slices.Equal(got, want) {
			t.Errorf("binary keys in order %v, want %v", got, want)
		}
		return nil
	}))
}

// testReadOnlyView: writing in View is an error (not a panic), whether
// or not the bucket exists, and stores nothing.
func testReadOnlyView(t *testing.T, open Open) {
	s := open(t, 0)
	must(t, s.Update(func(tx store.Tx) error { return tx.Put("exists", []byte("k"), []byte("v")) }))
	for _, b := range []string{"exists", "missing"} {
		must(t, s.View(func(tx store.Tx) error {
			if err := tx.Put(b, []byte("k"), []byte("v2")); err == nil {
				t.Errorf("Put in View on %s succeeded", b)
			}
			if err := tx.Delete(b, []byte("k")); b == "exists" && err == nil {
				t.Errorf("Delete in View on %s succeeded", b)
			}
			return nil
		}))
	}
	must(t, s.View(func(tx store.Tx) error {
		if v, err := tx.Get("exists", []byte("k")); err != nil || string(v) != "v" {
			t.Errorf("after writes in View: %q, %v", v, err)
		}
		if _, err := tx.Get("missing", []byte("k")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a Put in View was stored: %v", err)
		}
		return nil
	}))
}

func testAllOrNothing(t *testing.T, open Open) {
	s := open(t, 0)
	must(t, s.Update(func(tx store.Tx) error { return tx.Put("b", []byte("keep"), []byte("old")) }))
	boom := errors.New("boom")
	err := s.Update(func(tx store.Tx) error {
		tx.Put("b", []byte("keep"), []byte("new"))
		tx.Put("b", []byte("other"), []byte("x"))
		tx.Put("c", []byte("third"), []byte("x"))
		tx.Delete("b", []byte("keep"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want fn's error", err)
	}
	must(t, s.View(func(tx store.Tx) error {
		if v, err := tx.Get("b", []byte("keep")); err != nil || string(v) != "old" {
			t.Errorf("keep = %q, %v after a failed update", v, err)
		}
		for _, k := range []string{"b/other", "c/third"} {
			b, key, _ := bytes.Cut([]byte(k), []byte("/"))
			if _, err := tx.Get(string(b), key); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s written by a failed update: %v", k, err)
			}
		}
		return nil
	}))
}

// run runs n goroutines of fn and fails on their errors.
func run(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// testNoLostUpdates: concurrent read-modify-write transactions of one key
// lose none of their increments.
func testNoLostUpdates(t *testing.T, open Open) {
	s := open(t, 0)
	const writers, each = 6, 5
	run(t, writers, func(int) error {
		for range each {
			err := s.Update(func(tx store.Tx) error {
				var n uint64
				v, err := tx.Get("counter", []byte("n"))
				if err == nil {
					n = binary.BigEndian.Uint64(v)
				} else if !errors.Is(err, store.ErrNotFound) {
					return err
				}
				return tx.Put("counter", []byte("n"), binary.BigEndian.AppendUint64(nil, n+1))
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	must(t, s.View(func(tx store.Tx) error {
		v, err := tx.Get("counter", []byte("n"))
		if err != nil || binary.BigEndian.Uint64(v) != writers*each {
			t.Errorf("counter = %x, %v; want %d", v, err, writers*each)
		}
		return nil
	}))
}

// testAcceptOnce: like the last accepted TOTP step, a value that may only
// grow is accepted by one of several concurrent transactions offering it.
func testAcceptOnce(t *testing.T, open Open) {
	s := open(t, 0)
	errUsed := errors.New("step already used")
	var mu sync.Mutex
	accepted := 0
	run(t, 6, func(int) error {
		err := s.Update(func(tx store.Tx) error {
			v, err := tx.Get("login", []byte("alice"))
			if err == nil && binary.BigEndian.Uint64(v) >= 7 {
				return errUsed
			}
			return tx.Put("login", []byte("alice"), binary.BigEndian.AppendUint64(nil, 7))
		})
		if errors.Is(err, errUsed) {
			return nil
		}
		if err == nil {
			mu.Lock()
			accepted++
			mu.Unlock()
		}
		return err
	})
	if accepted != 1 {
		t.Errorf("step 7 accepted %d times, want once", accepted)
	}
}

// testAppendDistinct: like the audit chain, concurrent appends after the
// last key each get a key of their own, and none is overwritten.
func testAppendDistinct(t *testing.T, open Open) {
	s := open(t, 0)
	const writers, each = 5, 4
	run(t, writers, func(w int) error {
		for j := range each {
			err := s.Update(func(tx store.Tx) error {
				var next uint64 = 1
				k, _, err := tx.Last("audit")
				if err == nil {
					next = binary.BigEndian.Uint64(k) + 1
				} else if !errors.Is(err, store.ErrNotFound) {
					return err
				}
				return tx.Put("audit", binary.BigEndian.AppendUint64(nil, next), fmt.Appendf(nil, "%d/%d", w, j))
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	seen := map[string]bool{}
	var keys []uint64
	must(t, s.View(func(tx store.Tx) error {
		return tx.ForEach("audit", nil, func(k, v []byte) error {
			keys = append(keys, binary.BigEndian.Uint64(k))
			if seen[string(v)] {
				t.Errorf("entry %s appended twice", v)
			}
			seen[string(v)] = true
			return nil
		})
	}))
	if len(keys) != writers*each || keys[0] != 1 || keys[len(keys)-1] != writers*each {
		t.Errorf("audit keys %v: want 1…%d, each appended once", keys, writers*each)
	}
}

// testRangeIsolation: a transaction that counts a prefix's keys and adds
// one only while there are fewer than three sees the others' additions:
// no more than three are ever added.
func testRangeIsolation(t *testing.T, open Open) {
	s := open(t, 0)
	run(t, 6, func(w int) error {
		return s.Update(func(tx store.Tx) error {
			n := 0
			if err := tx.ForEach("seats", []byte("s"), func(_, _ []byte) error { n++; return nil }); err != nil {
				return err
			}
			if n >= 3 {
				return nil
			}
			return tx.Put("seats", fmt.Appendf(nil, "s%d", w), []byte("taken"))
		})
	})
	n := 0
	must(t, s.View(func(tx store.Tx) error {
		return tx.ForEach("seats", nil, func(_, _ []byte) error { n++; return nil })
	}))
	if n != 3 {
		t.Errorf("%d seats taken, want 3", n)
	}
}

// write writes an item of body and commits it.
func write(t *testing.T, s store.Store, body []byte, it store.Item) store.Item {
	t.Helper()
	w := s.NewItem()
	// In uneven pieces, as an upload arrives.
	for p := body; len(p) > 0; {
		k := min(len(p), 100_003)
		if _, err := w.Write(p[:k]); err != nil {
			t.Fatal(err)
		}
		p = p[k:]
	}
	got, err := w.Commit(it)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func read(t *testing.T, s store.Store, id string) []byte {
	t.Helper()
	_, r, err := s.Open(id)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testItems(t *testing.T, open Open) {
	s := open(t, 0)
	sizes := []int{0, 1, 4 << 10, 300 << 10, 2<<20 + 12345}
	var ids []string
	for i, n := range sizes {
		body := pattern(i, n)
		it := write(t, s, body, store.Item{Kind: "submission", Day: "2026-12-07", Recipients: "rs1", Source: "src"})
		if it.ID == "" || it.Size != int64(n) {
			t.Errorf("Commit = %+v, want an id and size %d", it, n)
		}
		got, err := s.Item(it.ID)
		if err != nil || got != it {
			t.Errorf("Item = %+v, %v; want %+v", got, err, it)
		}
		if b := read(t, s, it.ID); !bytes.Equal(b, body) {
			t.Errorf("item of %d bytes read back as %d, different", n, len(b))
		}
		ids = append(ids, it.ID)
	}
	items, err := s.Items()
	must(t, err)
	if len(items) != len(sizes) {
		t.Errorf("Items: %d, want %d", len(items), len(sizes))
	}
	st, err := s.Stats()
	must(t, err)
	var total int64
	for _, n := range sizes {
		total += int64(n)
	}
	if st.Items != len(sizes) || st.ItemBytes != total || st.PendingChunks != 0 {
		t.Errorf("Stats = %+v, want %d items of %d bytes, none pending", st, len(sizes), total)
	}
	must(t, s.Check())
	must(t, s.Delete(ids[4]))
	if _, err := s.Item(ids[4]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Item after Delete: %v", err)
	}
	if _, _, err := s.Open(ids[4]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Open after Delete: %v", err)
	}
	if err := s.Delete(ids[4]); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Delete again: %v", err)
	}
	if _, err := s.Item("nothex"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Item of a bad id: %v, want ErrNotFound", err)
	}
	if _, err := s.Item("00000000000000000000000000000000"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Item of an unknown id: %v", err)
	}
	must(t, s.Check())
	if st, _ := s.Stats(); st.Items != len(sizes)-1 {
		t.Errorf("Stats after Delete: %+v", st)
	}
}

// testVisibility: an item being written is nowhere to be seen, even with
// many of its bytes stored, until its commit returns.
func testVisibility(t *testing.T, open Open) {
	s := open(t, 0)
	w := s.NewItem()
	if _, err := w.Write(pattern(1, 6<<20)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Item(w.ID()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Item of an item being written: %v", err)
	}
	if _, _, err := s.Open(w.ID()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Open of an item being written: %v", err)
	}
	if items, _ := s.Items(); len(items) != 0 {
		t.Errorf("Items lists an item being written: %v", items)
	}
	if st, _ := s.Stats(); st.Items != 0 || st.ItemBytes != 0 {
		t.Errorf("Stats counts an item being written: %+v", st)
	}
	must(t, s.Check()) // a write in progress is not an orphan
	it, err := w.Commit(store.Item{Kind: "submission"})
	must(t, err)
	if got, err := s.Item(w.ID()); err != nil || got.Size != 6<<20 {
		t.Errorf("after Commit: %+v, %v", got, err)
	}
	if b := read(t, s, it.ID); !bytes.Equal(b, pattern(1, 6<<20)) {
		t.Error("item read back different")
	}
}

func testAbort(t *testing.T, open Open) {
	s := open(t, 0)
	keep := write(t, s, pattern(2, 1000), store.Item{Kind: "submission"})
	w := s.NewItem()
	if _, err := w.Write(pattern(3, 5<<20)); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	w.Abort() // again: nothing
	if _, err := w.Commit(store.Item{}); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	if _, err := s.Item(w.ID()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("aborted item: %v", err)
	}
	st, err := s.Stats()
	must(t, err)
	if st.Items != 1 || st.PendingChunks != 0 {
		t.Errorf("Stats after Abort = %+v, want 1 item, nothing pending", st)
	}
	must(t, s.Check())
	// Abort after Commit does nothing.
	w = s.NewItem()
	w.Write([]byte("x"))
	it, err := w.Commit(store.Item{Kind: "reply"})
	must(t, err)
	w.Abort()
	if _, err := s.Item(it.ID); err != nil {
		t.Errorf("Abort after Commit removed the item: %v", err)
	}
	if b := read(t, s, keep.ID); !bytes.Equal(b, pattern(2, 1000)) {
		t.Error("another item changed")
	}
}

// testWriterMisuse: a writer refuses use after its commit; ids are 32 hex
// characters, different for each writer.
func testWriterMisuse(t *testing.T, open Open) {
	s := open(t, 0)
	w := s.NewItem()
	w.Write([]byte("x"))
	if _, err := w.Commit(store.Item{}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("y")); err == nil {
		t.Error("Write after Commit succeeded")
	}
	if _, err := w.Commit(store.Item{}); err == nil {
		t.Error("second Commit succeeded")
	}
	if err := w.Rewrite(0, 1, func([]byte) error { return nil }); err == nil {
		t.Error("Rewrite after Commit succeeded")
	}
	if got := read(t, s, w.ID()); string(got) != "x" {
		t.Errorf("item after misuse: %q", got)
	}
	a, b := s.NewItem(), s.NewItem()
	defer a.Abort()
	defer b.Abort()
	if _, err := hex.DecodeString(a.ID()); err != nil || a.ID() == b.ID() || len(a.ID()) != 32 {
		t.Errorf("ids %q and %q", a.ID(), b.ID())
	}
}

func testCommitWith(t *testing.T, open Open) {
	s := open(t, 0)
	boom := errors.New("boom")
	w := s.NewItem()
	w.Write(pattern(4, 3<<20))
	_, err := w.CommitWith(store.Item{Kind: "submission"}, func(tx store.Tx) error {
		tx.Put("sources", []byte("p1"), []byte("first"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("CommitWith = %v, want fn's error", err)
	}
	if _, err := s.Item(w.ID()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("item of a failed CommitWith: %v", err)
	}
	must(t, s.View(func(tx store.Tx) error {
		if _, err := tx.Get("sources", []byte("p1")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("record of a failed CommitWith: %v", err)
		}
		return nil
	}))
	if st, _ := s.Stats(); st.PendingChunks != 0 {
		t.Errorf("a failed CommitWith left %d chunks", st.PendingChunks)
	}
	w = s.NewItem()
	w.Write(pattern(5, 3<<20))
	it, err := w.CommitWith(store.Item{Kind: "submission", Source: "p1"}, func(tx store.Tx) error {
		return tx.Put("sources", []byte("p1"), []byte("first"))
	})
	must(t, err)
	must(t, s.View(func(tx store.Tx) error {
		if v, err := tx.Get("sources", []byte("p1")); err != nil || string(v) != "first" {
			t.Errorf("record of CommitWith: %q, %v", v, err)
		}
		return nil
	}))
	if got, err := s.Item(it.ID); err != nil || got.Source != "p1" {
		t.Errorf("item of CommitWith: %+v, %v", got, err)
	}
	must(t, s.Check())
}

// testConcurrentCommitWith: items committed at once, each with an update
// of one shared record, all land, and so do all their updates.
func testConcurrentCommitWith(t *testing.T, open Open) {
	s := open(t, 0)
	const n = 12
	run(t, n, func(i int) error {
		w := s.NewItem()
		defer w.Abort()
		if _, err := w.Write(pattern(i, 20<<10)); err != nil {
			return err
		}
		_, err := w.CommitWith(store.Item{Kind: "submission"}, func(tx store.Tx) error {
			var c uint64
			if v, err := tx.Get("count", []byte("items")); err == nil {
				c = binary.BigEndian.Uint64(v)
			}
			return tx.Put("count", []byte("items"), binary.BigEndian.AppendUint64(nil, c+1))
		})
		return err
	})
	items, err := s.Items()
	must(t, err)
	must(t, s.View(func(tx store.Tx) error {
		v, err := tx.Get("count", []byte("items"))
		if err != nil || binary.BigEndian.Uint64(v) != n || len(items) != n {
			t.Errorf("count %x (%v) with %d items, want %d and %d", v, err, len(items), n, n)
		}
		return nil
	}))
}

// testSharedReadCommits: many items committed at once, each reading one
// key that none writes (as every witness item's commit reads its
// recipient set) and writing its own: all succeed, however they overlap.
func testSharedReadCommits(t *testing.T, open Open) {
	s := open(t, 0)
	must(t, s.Update(func(tx store.Tx) error { return tx.Put("sets", []byte("fp"), []byte("keys")) }))
	const n = 32
	run(t, n, func(i int) error {
		w := s.NewItem()
		defer w.Abort()
		if _, err := w.Write(pattern(i, 4<<10)); err != nil {
			return err
		}
		_, err := w.CommitWith(store.Item{Kind: "submission"}, func(tx store.Tx) error {
			if _, err := tx.Get("sets", []byte("fp")); err != nil {
				return err
			}
			return tx.Put("sources", fmt.Appendf(nil, "p%d", i), []byte("x"))
		})
		return err
	})
	if items, err := s.Items(); err != nil || len(items) != n {
		t.Errorf("%d items, %v; want %d", len(items), err, n)
	}
}

func testRewrite(t *testing.T, open Open) {
	s := open(t, 0)
	body := pattern(6, 3<<20+777)
	want := bytes.Clone(body)
	w := s.NewItem()
	w.Write(body)
	// At the start, across every chunk size the backends use, and at the end.
	for _, r := range []struct{ off, n int }{{0, 4096}, {512<<10 - 100, 200}, {1<<20 - 50, 100}, {len(body) - 10, 10}} {
		err := w.Rewrite(int64(r.off), r.n, func(b []byte) error {
			if !bytes.Equal(b, body[r.off:r.off+r.n]) { // the ranges do not overlap
				return fmt.Errorf("rewrite at %d got other bytes", r.off)
			}
			for i := range b {
				b[i] ^= 0x5a
			}
			return nil
		})
		must(t, err)
		for i := r.off; i < r.off+r.n; i++ {
			want[i] ^= 0x5a
		}
	}
	if err := w.Rewrite(int64(len(body)-5), 10, func([]byte) error { return nil }); err == nil {
		t.Error("Rewrite past the end accepted")
	}
	it, err := w.Commit(store.Item{Kind: "submission"})
	must(t, err)
	if b := read(t, s, it.ID); !bytes.Equal(b, want) {
		t.Error("rewritten item read back different")
	}
	must(t, s.Check())
}

func testBundle(t *testing.T, open Open) {
	s := open(t, 0)
	a := write(t, s, pattern(7, 1500), store.Item{Kind: "submission", Day: "2026-12-01", Source: "s1"})
	b := write(t, s, pattern(8, 1<<20+3), store.Item{Kind: "reply", Day: "2026-12-02", Source: "s1"})
	var buf bytes.Buffer
	idx, err := s.WriteBundleItems(&buf, "2026-12-07", []store.Item{a, b})
	must(t, err)
	if len(idx.Items) != 2 {
		t.Fatalf("index of %d items", len(idx.Items))
	}
	tr := tar.NewReader(&buf)
	bodies := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		must(t, err)
		bodies[h.Name], _ = io.ReadAll(tr)
	}
	for i, it := range []store.Item{a, b} {
		got := bodies[bundle.ItemPath(it.ID)]
		if !bytes.Equal(got, pattern(7+i, int(it.Size))) {
			t.Errorf("item %d of the bundle differs", i)
		}
		sum := sha256.Sum256(got)
		if idx.Items[i].SHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("index SHA-256 of item %d wrong", i)
		}
	}
	var ix bundle.Index
	if err := json.Unmarshal(bodies["index.json"], &ix); err != nil || len(ix.Items) != 2 {
		t.Errorf("index.json: %v, %d items", err, len(ix.Items))
	}
	must(t, s.Delete(a.ID))
	if _, err := s.WriteBundleItems(io.Discard, "2026-12-07", []store.Item{b, a}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("bundle with a deleted item: %v, want ErrNotFound", err)
	}
}

// testSizeCap: a capped store refuses writes past its cap with ErrFull,
// and still lets an item be deleted and a record freed.
func testSizeCap(t *testing.T, open Open) {
	const capBytes = 8 << 20
	s := open(t, capBytes)
	must(t, s.Update(func(tx store.Tx) error { return tx.Put("sessions", []byte("s1"), []byte("alive")) }))
	var ids []string
	var full error
	for i := range 4 * capBytes / (256 << 10) {
		w := s.NewItem()
		_, err := w.Write(pattern(i, 256<<10))
		var it store.Item
		if err == nil {
			it, err = w.Commit(store.Item{Kind: "submission"})
		}
		w.Abort()
		if err != nil {
			full = err
			break
		}
		ids = append(ids, it.ID)
	}
	if !errors.Is(full, store.ErrFull) {
		t.Fatalf("after %d items of 256 KiB in a store capped at 8 MiB: %v, want ErrFull", len(ids), full)
	}
	if len(ids) == 0 {
		t.Fatal("the cap refused the first item")
	}
	// What was committed is whole.
	if b := read(t, s, ids[0]); !bytes.Equal(b, pattern(0, 256<<10)) {
		t.Error("an item committed before the cap differs")
	}
	must(t, s.UpdateFreeing(func(tx store.Tx) error { return tx.Delete("sessions", []byte("s1")) }))
	must(t, s.Delete(ids[0]))
	must(t, s.Check())
}
