package store

import (
	"bytes"
	"context"
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
