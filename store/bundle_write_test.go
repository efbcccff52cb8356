package store

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"testimony/bundle"
)

// readBundle reads a bundle through to the end and verifies it.
func readBundle(b []byte) (map[string][]byte, []string, error) {
	br := bundle.NewReader(bytes.NewReader(b))
	got := map[string][]byte{}
	for {
		id, r, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return got, nil, err
		}
		d, err := io.ReadAll(r)
		if err != nil {
			return got, nil, err
		}
		got[id] = d
	}
	bad, err := br.Verify()
	return got, bad, err
}

// writeBundleIDs writes a bundle of the items named by ids, reading their
// records first: an id that names no item gives an error wrapping
// ErrNotFound before anything is written.
func writeBundleIDs(db *DB, w io.Writer, day string, ids []string) (bundle.Index, error) {
	items := make([]Item, 0, len(ids))
	for _, id := range ids {
		it, err := db.Item(id)
		if err != nil {
			return bundle.Index{}, err
		}
		items = append(items, it)
	}
	return db.WriteBundleItems(w, day, items)
}

// TestWriteBundleUnknownItem: a bundle of an id that names no item is
// refused with ErrNotFound, and nothing is written.
func TestWriteBundleUnknownItem(t *testing.T) {
	db := openTemp(t, Options{})
	var out bytes.Buffer
	if _, err := writeBundleIDs(db, &out, "2026-09-01", []string{strings.Repeat("ab", idLen)}); !errors.Is(err, ErrNotFound) {
		t.Errorf("bundle of a missing item: %v", err)
	}
	if out.Len() > 0 {
		t.Errorf("bundle of a missing item: %d bytes written", out.Len())
	}
}

// TestWriteBundleItemsLarge: items spanning several blocks, items of many
// chunks, empty items and small ones in between come out whole, each
// with its own SHA-256, through a writer that takes odd-sized writes.
func TestWriteBundleItemsLarge(t *testing.T) {
	db := openTemp(t, Options{})
	sizes := []int{0, 3000, bundleBlockSize - 100, chunkSize + 5, 1, 0, 2*chunkSize + bundleBlockSize/3, 4096, bundleBlockSize + 1}
	data := map[string][]byte{}
	var items []Item
	for i, n := range sizes {
		d := pattern(uint64(500+i), n)
		it := writeItem(t, db, d, 1<<20, Item{Kind: "submission", Day: "2026-08-27", Source: "s", Recipients: "fp"})
		data[it.ID] = d
		items = append(items, it)
	}
	var buf bytes.Buffer
	idx, err := db.WriteBundleItems(&buf, "2026-09-01", items)
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Items) != len(items) {
		t.Fatalf("%d index entries for %d items", len(idx.Items), len(items))
	}
	for i, e := range idx.Items {
		if e.ID != items[i].ID {
			t.Errorf("entry %d is %s, want %s (order kept)", i, e.ID, items[i].ID)
		}
	}
	got, bad, err := readBundle(buf.Bytes())
	if err != nil || bad != nil {
		t.Fatalf("reading: %v (bad %v)", err, bad)
	}
	for id, d := range data {
		if !bytes.Equal(got[id], d) {
			t.Errorf("item %s: %d bytes back, want %d", id, len(got[id]), len(d))
		}
	}
	// The same bundle through writeBundleIDs (by ids) is the same bytes.
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	var again bytes.Buffer
	if _, err := writeBundleIDs(db, &again, "2026-09-01", ids); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Error("writeBundleIDs and WriteBundleItems differ")
	}
}

// TestWriteBundleItemsDeleted: an item deleted after its record was read
// ends the bundle with ErrNotFound, not with a short entry.
func TestWriteBundleItemsDeleted(t *testing.T) {
	db := openTemp(t, Options{})
	var items []Item
	for i := range 3 {
		items = append(items, writeItem(t, db, pattern(uint64(i), 5000), 4096, Item{Kind: "submission"}))
	}
	if err := db.Delete(items[1].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.WriteBundleItems(io.Discard, "2026-09-01", items); !errors.Is(err, ErrNotFound) {
		t.Errorf("bundle with a deleted item: %v", err)
	}
	// A record that lies about its size is damage.
	it := items[0]
	it.Size++
	if _, err := db.WriteBundleItems(io.Discard, "2026-09-01", []Item{it}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("bundle of an item shorter than its record: %v", err)
	}
}

type failAfter struct{ n int }

var errWriterGone = errors.New("client gone")

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, errWriterGone
	}
	return len(p), nil
}

// TestWriteBundleItemsWriterFails: when the client goes away the bundle
// stops with its error, and the reading goroutine ends too.
func TestWriteBundleItemsWriterFails(t *testing.T) {
	db := openTemp(t, Options{})
	var items []Item
	for i := range 200 {
		items = append(items, writeItem(t, db, pattern(uint64(i), 4096), 4096, Item{Kind: "submission"}))
	}
	before := runtime.NumGoroutine()
	for _, n := range []int{0, 10_000, 300_000} {
		if _, err := db.WriteBundleItems(&failAfter{n: n}, "2026-09-01", items); !errors.Is(err, errWriterGone) {
			t.Errorf("failing after %d bytes: %v", n, err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Errorf("%d goroutines after failed bundles, %d before", g, before)
	}
}
