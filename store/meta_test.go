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
