package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestOpenCreatesAndRecordsSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if db.Path() != path {
		t.Errorf("Path() = %q, want %q", db.Path(), path)
	}
	var schema int
	var buckets []string
	db.bolt.View(func(tx *bolt.Tx) error {
		schema, _ = schemaOf(tx)
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			buckets = append(buckets, string(name))
			return nil
		})
	})
	if schema != schemaVersion {
		t.Errorf("schema recorded %d, want %d", schema, schemaVersion)
	}
	if got := strings.Join(buckets, ","); got != "chunks,meta,pending" {
		t.Errorf("buckets %s, want chunks,meta,pending", got)
	}
	if err := db.Check(); err != nil {
		t.Errorf("Check of a new store: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", st.Mode().Perm())
	}
	// Reopening keeps what was there.
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	it := writeItem(t, db, []byte("kept"), 10, Item{Kind: "submission"})
	db.Close()
	for _, ro := range []bool{false, true} {
		db, err = Open(path, Options{ReadOnly: ro})
		if err != nil {
			t.Fatalf("reopen (read-only %v): %v", ro, err)
		}
		if got := readItem(t, db, it.ID); string(got) != "kept" {
			t.Errorf("after reopen (read-only %v): %q", ro, got)
		}
		db.Close()
	}
}

// TestLockedByOtherProcess: while this process has the store open, a
// second process gets ErrLocked within its lock time-out, not a hang.
func TestLockedByOtherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locked.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, ro := range []string{"rw", "ro"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := child(ctx, t, "TestLockChild", "STORE_LOCK_CHILD="+path, "STORE_LOCK_MODE="+ro)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		cancel()
		took := time.Since(start)
		if err != nil {
			t.Fatalf("%s child: %v\n%s", ro, err, out)
		}
		if !strings.Contains(string(out), "CHILD: locked") {
			t.Fatalf("%s child did not report ErrLocked:\n%s", ro, out)
		}
		if !strings.Contains(string(out), "in use by another process") {
			t.Errorf("%s child: the error does not say the file is in use:\n%s", ro, out)
		}
		t.Logf("%s child gave up after %v (lock time-out 300ms)", ro, took)
	}
	// Once the holder closes, another process gets in.
	db.Close()
	cmd := child(context.Background(), t, "TestLockChild", "STORE_LOCK_CHILD="+path, "STORE_LOCK_MODE=rw")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "CHILD: opened") {
		t.Fatalf("after close, child could not open: %v\n%s", err, out)
	}
}

// TestLockChild is the child of TestLockedByOtherProcess.
func TestLockChild(t *testing.T) {
	path := os.Getenv("STORE_LOCK_CHILD")
	if path == "" {
		t.Skip("child process of TestLockedByOtherProcess")
	}
	start := time.Now()
	db, err := Open(path, Options{LockTimeout: 300 * time.Millisecond, ReadOnly: os.Getenv("STORE_LOCK_MODE") == "ro"})
	took := time.Since(start)
	switch {
	case err == nil:
		db.Close()
		fmt.Println("CHILD: opened")
	case errors.Is(err, ErrLocked):
		fmt.Printf("CHILD: locked after %v: %v\n", took, err)
		if took > 5*time.Second {
			t.Errorf("gave up only after %v", took)
		}
	default:
		t.Fatalf("CHILD: unexpected error %v", err)
	}
}
