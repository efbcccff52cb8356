package store_test

import (
	"path/filepath"
	"testing"

	"testimony/store"
	"testimony/store/storetest"
)

// TestConformance runs the conformance suite of every backend on bbolt.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, maxBytes int64) store.Store {
		db, err := store.Open(filepath.Join(t.TempDir(), "testimony.db"), store.Options{MaxSize: int(maxBytes)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}
