package bundle_test

import (
	"math/rand/v2"
	"path/filepath"
	"testing"

	"testimony/store"
)

// idLen is the length in bytes of an item's id (32 hex digits).
const idLen = 16

// openTemp opens a new store in a temporary directory and closes it at
// the end of the test: the bundles read here are written by the store.
func openTemp(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "t.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// pattern returns n deterministic bytes that differ from seed to seed and
// from offset to offset.
func pattern(seed uint64, n int) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), 1}))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// writeItem stores data as one item, written in pieces of step bytes.
func writeItem(t testing.TB, db *store.DB, data []byte, step int, rec store.Item) store.Item {
	t.Helper()
	w := db.NewItem()
	for p := data; len(p) > 0; {
		k := min(step, len(p))
		n, err := w.Write(p[:k])
		if err != nil || n != k {
			w.Abort()
			t.Fatalf("Write: %d, %v", n, err)
		}
		p = p[k:]
	}
	it, err := w.Commit(rec)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return it
}
