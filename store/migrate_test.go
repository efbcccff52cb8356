package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

func TestOpenMigratesSchemaZero(t *testing.T) {
	// A file of schema 0: a bare bbolt file with no buckets.
	path := filepath.Join(t.TempDir(), "old.db")
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	db := openMigrated(t, path, Options{})
	if err := db.Check(); err != nil {
		t.Error(err)
	}
}

// TestOpenMigratesOldLayouts: a file of schema 1 (no pending bucket) or 2
// (records in an items bucket of their own), or one whose move to schema 3
// was cut short, reads as it is when opened read-only; opened for writing,
// it moves its records beside their chunks (schema 3, in steps), keeps its
// items, loses its orphan chunks, and checks.
func TestOpenMigratesOldLayouts(t *testing.T) {
	for _, c := range []struct {
		name     string
		schema   int
		step     int  // records moved per transaction
		cutShort bool // one record moved already
	}{
		{"schema 1", 1, 5000, false},
		{"schema 2 one record a step", 2, 1, false},
		{"schema 2 cut short", 2, 5000, true},
	} {
		schema := c.schema
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "old.db")
			b, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			big, small, orphan := newID(), newID(), newID()
			data := pattern(1, chunkSize+10)
			rec := func(id []byte, size, chunks int) []byte {
				return fmt.Appendf(nil, `{"id":"%x","kind":"submission","day":"2026-08-27","size":%d,"recipients":"fp","source":"s","chunks":%d}`, id, size, chunks)
			}
			err = b.Update(func(tx *bolt.Tx) error {
				for _, name := range [][]byte{bucketMeta, bucketItems, bucketChunks} {
					tx.CreateBucket(name)
				}
				if schema == 2 {
					tx.CreateBucket(bucketPending)
				}
				tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint64(nil, uint64(schema)))
				items, chunks := tx.Bucket(bucketItems), tx.Bucket(bucketChunks)
				items.Put(big, rec(big, len(data), 2))
				chunks.Put(chunkKey(big, 0), data[:chunkSize])
				chunks.Put(chunkKey(big, 1), data[chunkSize:])
				items.Put(small, rec(small, 3, 3))
				for i, c := range []string{"a", "b", "c"} {
					chunks.Put(chunkKey(small, i), []byte(c))
				}
				if c.cutShort {
					items.Delete(small)
					chunks.Put(small, rec(small, 3, 3))
				}
				return chunks.Put(chunkKey(orphan, 0), []byte("left by a crash"))
			})
			b.Close()
			if err != nil {
				t.Fatal(err)
			}
			check := func(db *DB, when string) {
				t.Helper()
				if got := readItem(t, db, fmt.Sprintf("%x", big)); !bytes.Equal(got, data) {
					t.Errorf("%s: the large item reads wrong", when)
				}
				if got := readItem(t, db, fmt.Sprintf("%x", small)); string(got) != "abc" {
					t.Errorf("%s: the small item reads %q", when, got)
				}
				items, err := db.Items()
				if err != nil || len(items) != 2 {
					t.Errorf("%s: Items: %d, %v", when, len(items), err)
				}
				if st, err := db.Stats(); err != nil || st.Items != 2 || st.ItemBytes != int64(len(data)+3) {
					t.Errorf("%s: Stats: %+v, %v", when, st, err)
				}
			}
			// Read-only, the old file reads as it is, and its orphan shows.
			ro, err := Open(path, Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			check(ro, "read-only")
			if err := ro.Check(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "orphan chunk") {
				t.Errorf("Check of an old file with an orphan: %v", err)
			}
			ro.Close()
			db := openMigrated(t, path, Options{migrateStep: c.step})
			db.bolt.View(func(tx *bolt.Tx) error {
				if !bytes.Equal(tx.Bucket(bucketChunks).Get(small), rec(small, 3, 3)) {
					t.Error("the record is not beside its chunks")
				}
				return nil
			})
			check(db, "migrated")
			if n := chunkCount(t, db, orphan); n != 0 {
				t.Errorf("orphan chunk kept")
			}
			if err := db.Check(); err != nil {
				t.Error(err)
			}
			if err := db.Delete(fmt.Sprintf("%x", big)); err != nil {
				t.Fatal(err)
			}
			if n := chunkCount(t, db, nil); n != 3 {
				t.Errorf("%d chunks after deleting the large item, want the small one's 3", n)
			}
			if err := db.Check(); err != nil {
				t.Error(err)
			}
		})
	}
}

// openMigrated opens the file at path for writing, closed at the end of
// the test, and checks that it now has the current layout.
// TestMigratingDamagedRecords: in a schema 2 file whose items leaf has
// two keys swapped, deleting a moved record misses it, and the next step
// would find it again, for ever. Open must refuse the file instead.
func TestMigratingDamagedRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketItems, bucketChunks, bucketPending} {
			tx.CreateBucket(name)
		}
		tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint64(nil, 2))
		for range 20 { // one leaf page, not inline
			id := newID()
			tx.Bucket(bucketItems).Put(id, fmt.Appendf(nil, `{"id":"%x","kind":"submission","day":"2026-08-27","size":0,"chunks":0}`, id))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	editRootPage(t, b, bucketItems, func(page []byte) {
		swapLeafKeys(t, page, 1, 2)
	})
	err = answerWithin(t, "Open", func() error {
		db, err := Open(path, Options{migrateStep: 1})
		if err == nil {
			db.Close()
		}
		return err
	})
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open: %v, want ErrCorrupt", err)
	}
}

func openMigrated(t *testing.T, path string, o Options) *DB {
	t.Helper()
	db, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.bolt.View(func(tx *bolt.Tx) error {
		if v, err := schemaOf(tx); err != nil || v != schemaVersion {
			t.Errorf("schema %d after migration, want %d", v, schemaVersion)
		}
		if tx.Bucket(bucketItems) != nil {
			t.Error("the items bucket is left after migration")
		}
		return nil
	})
	return db
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "newer.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = db.bolt.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint64(nil, schemaVersion+1))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(path)
	for _, ro := range []bool{false, true} {
		db, err := Open(path, Options{ReadOnly: ro})
		if !errors.Is(err, ErrNewer) {
			if db != nil {
				db.Close()
			}
			t.Fatalf("Open (read-only %v) of a newer schema: %v, want ErrNewer", ro, err)
		}
		if !strings.Contains(err.Error(), fmt.Sprint(schemaVersion+1)) {
			t.Errorf("error does not name the schema: %v", err)
		}
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("refusing a newer file changed it")
	}
}

// TestOpenWithoutPendingBucket: a file whose pending bucket is gone
// (damage to its name, as TestOpenRandomDamage makes) opens, keeps its
// items, and has the bucket again. Its marks are stale at Open anyway.
func TestOpenWithoutPendingBucket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	it := writeItem(t, db, pattern(1, 5000), 64<<10, Item{Kind: "submission"})
	if err := db.bolt.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketPending) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = openMigrated(t, path, Options{})
	if got := readItem(t, db, it.ID); !bytes.Equal(got, pattern(1, 5000)) {
		t.Error("the item reads wrong")
	}
	if err := db.Check(); err != nil {
		t.Error(err)
	}
	db.bolt.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketPending) == nil {
			t.Error("no pending bucket after Open")
		}
		return nil
	})
}

// TestOpenRefusesDamagedSchema: a schema value that is no version (a
// damaged page, as TestOpenRandomDamage makes) is damage, not a file from a
// newer Testimony, and Open changes nothing.
func TestOpenRefusesDamagedSchema(t *testing.T) {
	for name, v := range map[string][]byte{
		"huge":      binary.BigEndian.AppendUint64(nil, 7931203453138569843),
		"too short": {0, 0, 2},
	} {
		path := filepath.Join(t.TempDir(), "damaged.db")
		db, err := Open(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.bolt.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, v) }); err != nil {
			t.Fatal(err)
		}
		db.Close()
		before, _ := os.ReadFile(path)
		for _, ro := range []bool{false, true} {
			db, err := Open(path, Options{ReadOnly: ro})
			if err == nil {
				db.Close()
			}
			if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrNewer) {
				t.Errorf("%s schema value, Open (read-only %v): %v, want ErrCorrupt", name, ro, err)
			}
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Errorf("%s schema value: refusing the file changed it", name)
		}
	}
}
