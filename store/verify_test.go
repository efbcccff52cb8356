package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestOpenRandomDamage damages the pages that hold the tree (branch, leaf
// and freelist pages) at random: Open, Check, listing and reading items
// either work or return an error; none panics, faults or hangs (bbolt's
// own check loops on a huge overflow count: walkTree must see it first).
func TestOpenRandomDamage(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	db, err := Open(good, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		writeItem(t, db, pattern(uint64(i), []int{100, 5000, 300 << 10, chunkSize + 5}[i%4]), 64<<10, Item{Kind: "submission"})
	}
	db.Update(func(tx Tx) error {
		for i := range 500 {
			tx.Put("accounts", []byte{byte(i), byte(i >> 8)}, bytes.Repeat([]byte{1}, 100))
		}
		return nil
	})
	db.Close()
	// The pages worth damaging: those of the tree, not chunk bytes.
	orig, _ := os.ReadFile(good)
	meta := currentMeta(orig)
	f, _ := os.Open(good)
	w := &treeWalker{f: f, ps: uint64(meta.pageSize), hwm: meta.pgid, seen: map[uint64]bool{}}
	w.walk(meta.root)
	f.Close()
	if len(w.problems) > 0 {
		t.Fatalf("walking the good file: %v", w.problems)
	}
	var targets []int
	if meta.freelist != pgidNoFreelist {
		targets = append(targets, int(meta.freelist))
	}
	for id := range w.seen {
		targets = append(targets, int(id))
	}
	slices.Sort(targets)
	if len(targets) < 3 {
		t.Fatalf("only %d tree pages", len(targets))
	}
	pageSize := int(meta.pageSize)
	r := rand.New(rand.NewPCG(1, 2))
	outcomes := map[string]int{}
	iterations := 300
	if testing.Short() {
		iterations = 60
	}
	for i := range iterations {
		b := bytes.Clone(orig)
		off := targets[r.IntN(len(targets))]*pageSize + r.IntN(256)
		for j := range 1 + r.IntN(16) {
			b[off+j] = byte(r.Uint32())
		}
		p := filepath.Join(dir, "bad.db")
		os.WriteFile(p, b, 0o600)
		func() {
			defer func() {
				if x := recover(); x != nil {
					t.Errorf("damage at byte %d: panic: %v", off, x)
				}
			}()
			db, err := Open(p, Options{ReadOnly: i%2 == 0})
			if err != nil {
				// A schema version damaged into a later one reads as a
				// file from a newer version: refused all the same.
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNewer) {
					t.Errorf("damage at byte %d: Open: %v, neither ErrCorrupt nor ErrNewer", off, err)
				}
				outcomes["Open refused"]++
				return
			}
			defer db.Close()
			if err := db.Check(); err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("damage at byte %d: Check: %v, not ErrCorrupt", off, err)
				}
				outcomes["Check refused"]++
				return
			}
			outcomes["no damage seen (keys or values changed)"]++
		}()
	}
	t.Logf("%d tree pages; %v", len(targets), outcomes)
}

// TestOpenBadFreelist: a freelist that names a page past the end of the
// file, or a page the tree uses, is damage, and Open names the freelist
// before bbolt gives a page out (bbolt refuses some such lists itself, late
// and without saying where; others make a write fail at a huge offset).
func TestOpenBadFreelist(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	db, err := Open(good, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 20 {
		ids = append(ids, writeItem(t, db, pattern(uint64(i), 5000), 5000, Item{Kind: "submission"}).ID)
	}
	for _, id := range ids[:10] {
		if err := db.Delete(id); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	orig, _ := os.ReadFile(good)
	meta := currentMeta(orig)
	ps := int(meta.pageSize)
	fl := orig[int(meta.freelist)*ps:]
	if count := binary.LittleEndian.Uint16(fl[10:]); count == 0 || count == 0xFFFF {
		t.Fatalf("freelist of %d ids: the test needs a few", count)
	}
	for name, free := range map[string]uint64{"past the end": meta.pgid + 1000, "the root": meta.root} {
		b := bytes.Clone(orig)
		binary.LittleEndian.PutUint64(b[int(meta.freelist)*ps+pageHeaderSize:], free)
		p := filepath.Join(dir, "bad.db")
		os.WriteFile(p, b, 0o600)
		db, err := Open(p, Options{})
		if err == nil {
			db.Close()
		}
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "freelist") {
			t.Errorf("a free page %s: Open: %v, want ErrCorrupt naming the freelist", name, err)
		}
		if st, _ := os.Stat(p); st.Size() != int64(len(orig)) {
			t.Errorf("a free page %s: the file grew from %d to %d bytes", name, len(orig), st.Size())
		}
	}
	if db, err := Open(good, Options{}); err != nil {
		t.Errorf("the undamaged file: %v", err)
	} else {
		db.Close()
	}
}
