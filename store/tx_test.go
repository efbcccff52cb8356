package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestMaxSize: at the size cap, writes fail with ErrFull and no partial
// item becomes visible; what was committed before stays whole.
func TestMaxSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "capped.db")
	const limit = 8 << 20
	db, err := Open(path, Options{MaxSize: limit})
	if err != nil {
		t.Fatal(err)
	}
	committed := map[string][]byte{}
	var full error
	for i := range 40 {
		data := pattern(uint64(i), 1<<20+300<<10)
		w := db.NewItem()
		_, err := w.Write(data)
		if err == nil {
			var it Item
			it, err = w.Commit(Item{Kind: "submission"})
			if err == nil {
				committed[it.ID] = data
				continue
			}
		} else {
			w.Abort()
		}
		full = err
		break
	}
	if !errors.Is(full, ErrFull) {
		t.Fatalf("writing past the cap: %v, want ErrFull", full)
	}
	if len(committed) == 0 {
		t.Fatal("no item fitted under the cap: the test proves nothing")
	}
	// A large item fails in Write, when the flush of its first chunks
	// (in the background) has failed and the next one waits for it.
	big := db.NewItem()
	if _, err := big.Write(pattern(77, 2*defaultChunksPerTx*chunkSize)); !errors.Is(err, ErrFull) {
		t.Errorf("Write of a large item at the cap: %v, want ErrFull", err)
	}
	big.Abort()
	// Small writes after the cap fail the same way, or succeed whole.
	for i := range 20 {
		w := db.NewItem()
		data := pattern(uint64(100+i), 3000)
		w.Write(data)
		it, err := w.Commit(Item{Kind: "reply"})
		if err == nil {
			committed[it.ID] = data
		} else if !errors.Is(err, ErrFull) {
			t.Fatalf("small write at the cap: %v", err)
		}
	}
	check := func(db *DB) {
		t.Helper()
		items, err := db.Items()
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != len(committed) {
			t.Errorf("%d items visible, %d committed", len(items), len(committed))
		}
		for _, it := range items {
			want, ok := committed[it.ID]
			if !ok {
				t.Errorf("item %s visible but its Commit failed", it.ID)
				continue
			}
			if got := readItem(t, db, it.ID); !bytes.Equal(got, want) {
				t.Errorf("item %s: %d bytes read back, want %d (same content: %v)", it.ID, len(got), len(want), bytes.Equal(got, want))
			}
		}
	}
	check(db)
	db.Close()
	if st, _ := os.Stat(path); st.Size() > limit {
		t.Errorf("file is %d bytes, over the cap of %d", st.Size(), limit)
	}
	db, err = Open(path, Options{MaxSize: limit})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check(db)
	if err := db.Check(); err != nil {
		t.Errorf("Check after reopen: %v", err)
	}
	t.Logf("%d items committed under a cap of %d bytes", len(committed), limit)
}

// TestFreeingAtTheCap: at the size cap, deleting items still works (a
// deletion rewrites a few pages before the pages it frees can be reused),
// the space it frees takes new items again, and a full store holding the
// chunks of a write that never ended (a crash) opens, removing them. The
// file passes the cap only by what those deletions rewrite.
func TestFreeingAtTheCap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "capped.db")
	const limit = 8 << 20
	// A large write puts each chunk on disk at once.
	o := Options{MaxSize: limit, chunksPerTx: 1}
	db, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	// A large write that will never end puts its first chunk on disk.
	unfinished := db.NewItem()
	if _, err := unfinished.Write(pattern(98, chunkSize+1)); err != nil {
		t.Fatal(err)
	}
	var ids []string
	// fill writes items of size bytes until the cap refuses one. Large
	// ones first, then small ones, so that no free page is left.
	fill := func(size int) {
		t.Helper()
		for {
			w := db.NewItem()
			_, err := w.Write(pattern(uint64(len(ids)), size))
			if err == nil {
				var it Item
				if it, err = w.Commit(Item{Kind: "submission"}); err == nil {
					ids = append(ids, it.ID)
					continue
				}
			}
			w.Abort()
			if !errors.Is(err, ErrFull) {
				t.Fatalf("filling: %v", err)
			}
			return
		}
	}
	fill(300 << 10)
	fill(3000)
	fill(100)
	if len(ids) < 10 {
		t.Fatalf("only %d items fitted: the test proves nothing", len(ids))
	}
	// Deleting half the items, one transaction each, works at the cap.
	for _, id := range ids[:len(ids)/2] {
		if err := db.Delete(id); err != nil {
			t.Fatalf("Delete at the cap: %v", err)
		}
	}
	ids = ids[len(ids)/2:]
	// The space freed takes new items.
	for i := range 3 {
		w := db.NewItem()
		w.Write(pattern(uint64(200+i), 200<<10))
		it, err := w.Commit(Item{Kind: "submission"})
		if err != nil {
			t.Fatalf("a write after deleting half the items: %v", err)
		}
		ids = append(ids, it.ID)
	}
	// The store fills up again, and the process stops (no Abort) with
	// the unfinished write's chunk on disk.
	fill(100 << 10)
	fill(100)
	if st, err := db.Stats(); err != nil || st.PendingChunks == 0 {
		t.Fatalf("no chunk of the unfinished write on disk (%v): the test proves nothing", err)
	}
	db.Close()
	if st, _ := os.Stat(path); st.Size() > limit+2<<20 {
		t.Errorf("file is %d bytes, over the cap of %d by more than deletions rewrite", st.Size(), limit)
	}
	db, err = Open(path, o)
	if err != nil {
		t.Fatalf("opening a full store with an unfinished write: %v", err)
	}
	defer db.Close()
	if st, err := db.Stats(); err != nil || st.PendingChunks != 0 || st.Items != len(ids) {
		t.Errorf("after reopening: %+v (%v), want %d items and no pending chunk", st, err, len(ids))
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
}
