package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	bolt "go.etcd.io/bbolt"
)

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
		case 3*chunkSize + chunkSize/2:
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
			it := writeItem(t, db, pattern(6, 2*chunkSize+1000), 1<<20, Item{Kind: "submission"})
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
