package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"testing"
)

// craftMeta rewrites the meta page at byte off of a store file: it sets
// the page size and txid, and a checksum that matches, as a crafted file
// would, so that only the page size is wrong.
func craftMeta(b []byte, off int, pageSize uint32, txid uint64) {
	le := binary.LittleEndian
	m := b[off+pageHeaderSize:]
	le.PutUint32(m[8:], pageSize)
	le.PutUint64(m[48:], txid)
	h := fnv.New64a()
	h.Write(m[:56])
	le.PutUint64(m[56:], h.Sum64())
}

// TestOpenMetaPageSize: a meta page that passes bbolt's own check (magic,
// version, checksum) but gives a page size of zero, of no power of two, or
// other than the file's, is damage. Open refuses it with ErrCorrupt and
// does not panic, whichever meta page carries it; a file whose newest meta
// page is the crafted one is refused even when the older one is sound,
// since that newest one is the page bbolt would use.
func TestOpenMetaPageSize(t *testing.T) {
	good := filepath.Join(t.TempDir(), "good.db")
	db, err := Open(good, Options{})
	if err != nil {
		t.Fatal(err)
	}
	writeItem(t, db, pattern(1, 5000), 5000, Item{Kind: "submission"})
	db.Close()
	orig, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	meta := currentMeta(orig)
	ps := int(meta.pageSize)
	for _, page := range []int{0, 1} {
		for _, size := range []uint32{0, 3, 1000, 1 << 31, 1<<32 - 1, uint32(2 * ps)} {
			name := fmt.Sprintf("meta page %d, page size %d", page, size)
			b := bytes.Clone(orig)
			craftMeta(b, page*ps, size, meta.txid+1)
			path := filepath.Join(t.TempDir(), "crafted.db")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			for _, ro := range []bool{false, true} {
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Errorf("%s, read-only %v: Open panicked: %v", name, ro, r)
						}
					}()
					db, err := Open(path, Options{ReadOnly: ro})
					if err == nil {
						db.Close()
					}
					if !errors.Is(err, ErrCorrupt) {
						t.Errorf("%s, read-only %v: Open: %v, want ErrCorrupt", name, ro, err)
					}
				}()
			}
		}
	}
}

// FuzzFileCheck: the checks Open runs before bbolt maps a file (readMeta,
// then the walk of the page tree) return, without panicking, for any
// bytes; a meta page they accept has a page size bbolt can use and names
// pages inside the file. The seeds are a sound store and the crafted meta
// pages of TestOpenMetaPageSize (a page size of zero divided by zero).
func FuzzFileCheck(f *testing.F) {
	path := filepath.Join(f.TempDir(), "seed.db")
	db, err := Open(path, Options{})
	if err != nil {
		f.Fatal(err)
	}
	writeItem(f, db, pattern(1, 3000), 3000, Item{Kind: "submission"})
	db.Close()
	orig, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	meta := currentMeta(orig)
	ps := int(meta.pageSize)
	f.Add(orig)
	for _, page := range []int{0, 1} {
		for _, size := range []uint32{0, 3, 1 << 31} {
			b := bytes.Clone(orig)
			craftMeta(b, page*ps, size, meta.txid+1)
			f.Add(b)
		}
	}
	f.Add(orig[:2*ps])
	f.Add(orig[:100])
	f.Fuzz(func(t *testing.T, b []byte) {
		size := int64(len(b))
		m, err := readMeta(bytes.NewReader(b), size)
		if err == nil {
			ps := m.pageSize
			if ps < 1024 || ps > 1<<24 || ps&(ps-1) != 0 {
				t.Fatalf("accepted a page size of %d", ps)
			}
			if m.pgid*uint64(ps) > uint64(size) || m.root < 2 || m.root >= m.pgid {
				t.Fatalf("accepted %d pages of %d bytes, root %d, in %d bytes", m.pgid, ps, m.root, size)
			}
		}
		if problems := walkFile(bytes.NewReader(b), size); err != nil && len(problems) == 0 {
			t.Fatalf("readMeta refused the file (%v), the walk found no problem", err)
		}
	})
}

// TestOpenDamagedFile: whatever the damage, Open returns an error that
// wraps ErrCorrupt, or else Check does; neither panics.
func TestOpenDamagedFile(t *testing.T) {
	// A store with some items, to damage in various ways.
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	db, err := Open(good, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		writeItem(t, db, pattern(uint64(i), 700<<10), 64<<10, Item{Kind: "submission"})
	}
	db.Close()
	orig, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	pageSize := int(binary.LittleEndian.Uint32(orig[24:28]))
	if pageSize < 1024 {
		t.Fatalf("page size %d read from the header", pageSize)
	}
	damaged := func(name string, f func(b []byte) []byte) (string, []byte) {
		return name, f(bytes.Clone(orig))
	}
	cases := map[string][]byte{}
	add := func(name string, b []byte) { cases[name] = b }
	add(damaged("random bytes", func(b []byte) []byte { return pattern(99, 64<<10) }))
	add(damaged("random bytes, bbolt magic", func(b []byte) []byte {
		r := pattern(98, 64<<10)
		copy(r, b[:32]) // a header that looks right over garbage
		return r
	}))
	add(damaged("empty", func(b []byte) []byte { return nil }))
	add(damaged("truncated to 10 bytes", func(b []byte) []byte { return b[:10] }))
	add(damaged("truncated to one page", func(b []byte) []byte { return b[:pageSize] }))
	add(damaged("truncated to two pages and a bit", func(b []byte) []byte { return b[:2*pageSize+100] }))
	add(damaged("truncated to half", func(b []byte) []byte { return b[:len(b)/2] }))
	meta := currentMeta(orig)
	used := int(meta.pgid) * pageSize
	if used > len(orig) || used < 4*pageSize {
		t.Fatalf("meta page says %d pages in use, the file has %d bytes", meta.pgid, len(orig))
	}
	add(damaged("truncated inside the pages in use", func(b []byte) []byte { return b[:used-pageSize] }))
	add(damaged("zeroed header", func(b []byte) []byte { clear(b[:pageSize]); return b }))
	add(damaged("both meta pages zeroed", func(b []byte) []byte { clear(b[:2*pageSize]); return b }))
	add(damaged("root page random", func(b []byte) []byte {
		copy(b[int(meta.root)*pageSize:], pattern(97, pageSize))
		return b
	}))
	add(damaged("root page zeroed", func(b []byte) []byte {
		clear(b[int(meta.root)*pageSize:][:pageSize])
		return b
	}))
	if meta.freelist != pgidNoFreelist { // Open writes no freelist (NoFreelistSync)
		add(damaged("freelist page random", func(b []byte) []byte {
			copy(b[int(meta.freelist)*pageSize:], pattern(96, pageSize))
			return b
		}))
	}
	for name, b := range cases {
		for _, ro := range []bool{false, true} {
			if name == "empty" && !ro {
				continue // an empty file is a new store when opened for writing
			}
			t.Run(fmt.Sprintf("%s/read-only=%v", name, ro), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "bad.db")
				if err := os.WriteFile(path, b, 0o600); err != nil {
					t.Fatal(err)
				}
				var err error
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Fatalf("Open or Check panicked: %v", r)
						}
					}()
					var db *DB
					db, err = Open(path, Options{ReadOnly: ro})
					if err == nil {
						// Damage Open need not touch (a read-only Open
						// reads no freelist) must show in Check.
						defer db.Close()
						err = db.Check()
						t.Logf("Open succeeded; Check: %v", err)
					}
				}()
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("Open, then Check: %v, want an error wrapping ErrCorrupt", err)
				}
				t.Logf("%v", err)
			})
		}
	}
}

// currentMeta is the meta page of a store file's bytes that a transaction
// would use: the one with the higher txid (both undamaged here).
func currentMeta(b []byte) metaPage {
	m0, m1 := parseMeta(b), parseMeta(b[parseMeta(b).pageSize:])
	if m1.txid > m0.txid {
		return m1
	}
	return m0
}
