package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
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
	if schema != SchemaVersion {
		t.Errorf("schema recorded %d, want %d", schema, SchemaVersion)
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
			data := pattern(1, ChunkSize+10)
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
				chunks.Put(chunkKey(big, 0), data[:ChunkSize])
				chunks.Put(chunkKey(big, 1), data[ChunkSize:])
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
		if v, err := schemaOf(tx); err != nil || v != SchemaVersion {
			t.Errorf("schema %d after migration, want %d", v, SchemaVersion)
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
		return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint64(nil, SchemaVersion+1))
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
		if !strings.Contains(err.Error(), fmt.Sprint(SchemaVersion+1)) {
			t.Errorf("error does not name the schema: %v", err)
		}
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("refusing a newer file changed it")
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

// TestMaxSize: at the size cap, writes fail with ErrFull and no partial
// item becomes visible; what was committed before stays whole.
func TestMaxSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "capped.db")
	const limit = 8 << 20
	db, err := Open(path, Options{MaxSize: limit})
	if err != nil {
		t.Fatal(err)
	}
	committed := map[string][]byte{}
	var full error
	for i := range 40 {
		data := pattern(uint64(i), 1<<20+300<<10)
		w := db.NewItem()
		_, err := w.Write(data)
		if err == nil {
			var it Item
			it, err = w.Commit(Item{Kind: "submission"})
			if err == nil {
				committed[it.ID] = data
				continue
			}
		} else {
			w.Abort()
		}
		full = err
		break
	}
	if !errors.Is(full, ErrFull) {
		t.Fatalf("writing past the cap: %v, want ErrFull", full)
	}
	if len(committed) == 0 {
		t.Fatal("no item fitted under the cap: the test proves nothing")
	}
	// A large item fails in Write, when the flush of its first chunks
	// (in the background) has failed and the next one waits for it.
	big := db.NewItem()
	if _, err := big.Write(pattern(77, 2*defaultChunksPerTx*ChunkSize)); !errors.Is(err, ErrFull) {
		t.Errorf("Write of a large item at the cap: %v, want ErrFull", err)
	}
	big.Abort()
	// Small writes after the cap fail the same way, or succeed whole.
	for i := range 20 {
		w := db.NewItem()
		data := pattern(uint64(100+i), 3000)
		w.Write(data)
		it, err := w.Commit(Item{Kind: "reply"})
		if err == nil {
			committed[it.ID] = data
		} else if !errors.Is(err, ErrFull) {
			t.Fatalf("small write at the cap: %v", err)
		}
	}
	check := func(db *DB) {
		t.Helper()
		items, err := db.Items()
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != len(committed) {
			t.Errorf("%d items visible, %d committed", len(items), len(committed))
		}
		for _, it := range items {
			want, ok := committed[it.ID]
			if !ok {
				t.Errorf("item %s visible but its Commit failed", it.ID)
				continue
			}
			if got := readItem(t, db, it.ID); !bytes.Equal(got, want) {
				t.Errorf("item %s: %d bytes read back, want %d (same content: %v)", it.ID, len(got), len(want), bytes.Equal(got, want))
			}
		}
	}
	check(db)
	db.Close()
	if st, _ := os.Stat(path); st.Size() > limit {
		t.Errorf("file is %d bytes, over the cap of %d", st.Size(), limit)
	}
	db, err = Open(path, Options{MaxSize: limit})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check(db)
	if err := db.Check(); err != nil {
		t.Errorf("Check after reopen: %v", err)
	}
	t.Logf("%d items committed under a cap of %d bytes", len(committed), limit)
}

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
		writeItem(t, db, pattern(uint64(i), []int{100, 5000, 300 << 10, ChunkSize + 5}[i%4]), 64<<10, Item{Kind: "submission"})
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

// TestFreeingAtTheCap: at the size cap, deleting items still works (a
// deletion rewrites a few pages before the pages it frees can be reused),
// the space it frees takes new items again, and a full store holding the
// chunks of a write that never ended (a crash) opens, removing them. The
// file passes the cap only by what those deletions rewrite.
func TestFreeingAtTheCap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "capped.db")
	const limit = 8 << 20
	// A large write puts each chunk on disk at once.
	o := Options{MaxSize: limit, chunksPerTx: 1}
	db, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	// A large write that will never end puts its first chunk on disk.
	unfinished := db.NewItem()
	if _, err := unfinished.Write(pattern(98, ChunkSize+1)); err != nil {
		t.Fatal(err)
	}
	var ids []string
	// fill writes items of size bytes until the cap refuses one. Large
	// ones first, then small ones, so that no free page is left.
	fill := func(size int) {
		t.Helper()
		for {
			w := db.NewItem()
			_, err := w.Write(pattern(uint64(len(ids)), size))
			if err == nil {
				var it Item
				if it, err = w.Commit(Item{Kind: "submission"}); err == nil {
					ids = append(ids, it.ID)
					continue
				}
			}
			w.Abort()
			if !errors.Is(err, ErrFull) {
				t.Fatalf("filling: %v", err)
			}
			return
		}
	}
	fill(300 << 10)
	fill(3000)
	fill(100)
	if len(ids) < 10 {
		t.Fatalf("only %d items fitted: the test proves nothing", len(ids))
	}
	// Deleting half the items, one transaction each, works at the cap.
	for _, id := range ids[:len(ids)/2] {
		if err := db.Delete(id); err != nil {
			t.Fatalf("Delete at the cap: %v", err)
		}
	}
	ids = ids[len(ids)/2:]
	// The space freed takes new items.
	for i := range 3 {
		w := db.NewItem()
		w.Write(pattern(uint64(200+i), 200<<10))
		it, err := w.Commit(Item{Kind: "submission"})
		if err != nil {
			t.Fatalf("a write after deleting half the items: %v", err)
		}
		ids = append(ids, it.ID)
	}
	// The store fills up again, and the process stops (no Abort) with
	// the unfinished write's chunk on disk.
	fill(100 << 10)
	fill(100)
	if st, err := db.Stats(); err != nil || st.PendingChunks == 0 {
		t.Fatalf("no chunk of the unfinished write on disk (%v): the test proves nothing", err)
	}
	db.Close()
	if st, _ := os.Stat(path); st.Size() > limit+2<<20 {
		t.Errorf("file is %d bytes, over the cap of %d by more than deletions rewrite", st.Size(), limit)
	}
	db, err = Open(path, o)
	if err != nil {
		t.Fatalf("opening a full store with an unfinished write: %v", err)
	}
	defer db.Close()
	if st, err := db.Stats(); err != nil || st.PendingChunks != 0 || st.Items != len(ids) {
		t.Errorf("after reopening: %+v (%v), want %d items and no pending chunk", st, err, len(ids))
	}
	if err := db.Check(); err != nil {
		t.Fatal(err)
	}
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

// currentMeta is the meta page of a store file's bytes that a transaction
// would use: the one with the higher txid (both undamaged here).
func currentMeta(b []byte) metaPage {
	m0, m1 := parseMeta(b), parseMeta(b[parseMeta(b).pageSize:])
	if m1.txid > m0.txid {
		return m1
	}
	return m0
}
