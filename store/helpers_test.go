package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// openTemp opens a new store in a temporary directory and closes it at
// the end of the test.
func openTemp(t testing.TB, o Options) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "t.db"), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// pattern returns n deterministic bytes that differ from seed to seed and
// from offset to offset, so a chunk put in the wrong place shows.
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
func writeItem(t testing.TB, db *DB, data []byte, step int, rec Item) Item {
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

// readItem reads an item's bytes back.
func readItem(t testing.TB, db *DB, id string) []byte {
	t.Helper()
	_, r, err := db.Open(id)
	if err != nil {
		t.Fatalf("Open(%s): %v", id, err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading %s: %v", id, err)
	}
	return b
}

// chunkCount counts the chunks kept for id (all chunks when id is nil) by
// scanning the chunks bucket directly; records are not chunks.
func chunkCount(t testing.TB, db *DB, id []byte) int {
	t.Helper()
	n := 0
	err := db.bolt.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketChunks).Cursor()
		for k, _ := c.Seek(id); k != nil && bytes.HasPrefix(k, id); k, _ = c.Next() {
			if len(k) != idLen {
				n++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// child re-runs the test binary with only the named test and the given
// environment, for work that must happen in another process.
func child(ctx context.Context, t testing.TB, test string, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, exe, "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// answerWithin returns what f returns, or fails t if f has not returned
// within 30 s: a loop that never ends. f is then left running, and what
// it holds (a transaction) must not be closed, for Close would wait.
func answerWithin(t *testing.T, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: no answer in 30 s", what)
		return nil
	}
}

var itemSizes = []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3*chunkSize + chunkSize/2}

// editRootPage closes b, then lets edit change, in the file, the root
// page of its bucket name.
func editRootPage(t *testing.T, b *bolt.DB, name []byte, edit func(page []byte)) {
	t.Helper()
	var root uint64
	b.View(func(tx *bolt.Tx) error {
		root = uint64(tx.Bucket(name).Root())
		return nil
	})
	pageSize, path := b.Info().PageSize, b.Path()
	b.Close()
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	edit(file[int(root)*pageSize : int(root+1)*pageSize])
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A page: a 16-byte header (id, flags, count, overflow), then its
// elements. A branch element is (pos, ksize uint32, pgid uint64); a leaf
// element (flags, pos, ksize, vsize uint32). pos is counted from the
// element.
const (
	branchPage = 0x01
	leafPage   = 0x02
)

// swapLeafKeys swaps the keys, of equal length, of elements i and j of a
// leaf page.
func swapLeafKeys(t *testing.T, page []byte, i, j int) {
	t.Helper()
	els := pageElements(t, page, leafPage, max(i, j)+1)
	key := func(el []byte) []byte {
		pos, ksize := binary.LittleEndian.Uint32(el[4:]), binary.LittleEndian.Uint32(el[8:])
		return el[pos : pos+ksize]
	}
	a, b := key(els[i]), key(els[j])
	if len(a) != len(b) {
		t.Fatalf("keys of %d and %d bytes", len(a), len(b))
	}
	tmp := bytes.Clone(a)
	copy(a, b)
	copy(b, tmp)
}

// pageElements returns a page's elements (each from its start), after
// checking the page's flags and that it has at least min elements.
func pageElements(t *testing.T, page []byte, flags uint16, min int) [][]byte {
	t.Helper()
	f, count := binary.LittleEndian.Uint16(page[8:]), int(binary.LittleEndian.Uint16(page[10:]))
	if f != flags || count < min {
		t.Fatalf("root page: flags %#x, %d elements; want %#x and %d or more", f, count, flags, min)
	}
	els := make([][]byte, count)
	for i := range els {
		els[i] = page[16+16*i:]
	}
	return els
}

// firstDiff is the first offset where a and b differ, or -1.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}
