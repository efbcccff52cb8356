package store

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestRecordsBesideChunks: each record is kept under its item's id in the
// chunks bucket, just before its chunks; listing finds every record (of
// an empty item, a small one, a large one) and nothing else, and ends
// past keys of lengths no writer makes (damage, which Check reports).
func TestRecordsBesideChunks(t *testing.T) {
	db := openTemp(t, Options{})
	want := map[string]bool{}
	for i, size := range []int{0, 5000, 3*chunkSize + 7} {
		it := writeItem(t, db, pattern(uint64(i), size), 64<<10, Item{Kind: "submission"})
		want[it.ID] = true
		key, _ := hex.DecodeString(it.ID)
		db.bolt.View(func(tx *bolt.Tx) error {
			k, v := tx.Bucket(bucketChunks).Cursor().Seek(key)
			var rec Item
			if !bytes.Equal(k, key) || json.Unmarshal(v, &rec) != nil || rec.ID != it.ID {
				t.Errorf("%d bytes: key %x holds %q, want the record", size, k, v)
			}
			return nil
		})
	}
	ids := slices.Collect(maps.Keys(want))
	slices.Sort(ids)
	last, _ := hex.DecodeString(ids[len(ids)-1])
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketChunks)
		for _, k := range [][]byte{
			last[:idLen-1],                      // shorter than an id
			append(bytes.Clone(last), 0),        // between an id and its chunks
			append(chunkKey(last, -1), 0xff, 0), // after every chunk key of an id
			bytes.Repeat([]byte{0xff}, idLen+9), // the last key of all
		} {
			if err := b.Put(k, []byte("stray")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	items, err := db.Items()
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != len(want) {
		t.Errorf("Items lists %d, want %d", len(items), len(want))
	}
	for _, it := range items {
		if !want[it.ID] {
			t.Errorf("Items lists %s", it.ID)
		}
	}
	if err := db.Check(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "bad key") {
		t.Errorf("Check with stray keys: %v", err)
	}
}

// TestSmallItemChunks: an item whose bytes all reach Commit is kept in
// chunks of at most smallChunk bytes, one that passes smallItemMax or was
// partly flushed in chunkSize chunks; either reads back whole, also
// across the reader's read-ahead, and the file checks clean.
func TestSmallItemChunks(t *testing.T) {
	db := openTemp(t, Options{})
	smallChunk := db.smallChunk
	if smallChunk != 881 && db.bolt.Info().PageSize == 4096 {
		t.Errorf("chunks of %d bytes for small items on 4 KiB pages, want 881", smallChunk)
	}
	cases := []struct {
		size, step, want int
	}{
		{1, 1, 1},
		{smallChunk, 100, 1},
		{smallChunk + 1, 4096, 2},
		{4096, 4096, (4096 + smallChunk - 1) / smallChunk},
		{20 << 10, 1000, (20<<10 + smallChunk - 1) / smallChunk},
		{smallItemMax, 64 << 10, (smallItemMax + smallChunk - 1) / smallChunk},
		{smallItemMax + 1, 64 << 10, tailPieces + 1 + tailPieces},
		{chunkSize + 10, 64 << 10, tailPieces + 1 + 1},
		{defaultChunksPerTx*chunkSize + 10, 1 << 20, tailPieces + defaultChunksPerTx + tailPieces + 1},
	}
	for i, c := range cases {
		d := pattern(uint64(900+i), c.size)
		it := writeItem(t, db, d, c.step, Item{Kind: "submission"})
		key, _ := hex.DecodeString(it.ID)
		if it.Chunks != c.want || chunkCount(t, db, key) != c.want {
			t.Errorf("%d bytes: record says %d chunks, %d stored, want %d", c.size, it.Chunks, chunkCount(t, db, key), c.want)
		}
		db.bolt.View(func(tx *bolt.Tx) error {
			limit := smallChunk
			if c.want == 1 || c.size > smallItemMax {
				limit = chunkSize // and the tail pieces of a flush are smaller
			}
			for seq := range it.Chunks {
				if v := tx.Bucket(bucketChunks).Get(chunkKey(key, seq)); len(v) > limit {
					t.Errorf("%d bytes: chunk %d has %d bytes, more than %d", c.size, seq, len(v), limit)
				}
			}
			return nil
		})
		_, r, err := db.Open(it.ID)
		if err != nil {
			t.Fatal(err)
		}
		// Read in odd pieces: a read never spans the reader's transactions wrongly.
		var got bytes.Buffer
		if _, err := io.CopyBuffer(&got, struct{ io.Reader }{r}, make([]byte, 777)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), d) {
			t.Errorf("%d bytes: %d read back, not the same", c.size, got.Len())
		}
	}
	if err := db.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
}

// TestSmallChunksWriteLess: 4 KiB items make bbolt allocate, and so write
// and sync, fewer pages per item in small chunks than in one chunk each:
// the point of smallChunk.
func TestSmallChunksWriteLess(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 2 × 900 items")
	}
	perItem := func(piece int) float64 {
		db := openTemp(t, Options{maxBatchSize: 1})
		if piece > 0 {
			db.smallChunk = piece
		}
		return pageBytesPerItem(t, db, pattern(3, 4096), 600, 300)
	}
	big, small := perItem(chunkSize), perItem(0)
	t.Logf("bytes of pages written per 4 KiB item: %.0f in one chunk, %.0f in small chunks", big, small)
	if small > 0.9*big {
		t.Errorf("small chunks write %.0f bytes of pages per item, one chunk %.0f: not less", small, big)
	}
}

// pageBytesPerItem writes warm items of data into db, a tree of some
// depth, then n more, and returns the bytes of pages bbolt allocated, and
// so wrote and synced, per item of those n. One writer, one commit per
// item (db should be opened with MaxBatchSize 1, so that a batch of one
// runs at once): no batching, whose sizes vary with timing, so the figure
// depends only on the random ids.
func pageBytesPerItem(t *testing.T, db *DB, data []byte, warm, n int) float64 {
	t.Helper()
	write := func(n int) {
		for i := range n {
			iw := db.NewItem()
			iw.Write(data)
			if _, err := iw.Commit(Item{Kind: "submission", Source: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(warm)
	alloc := func() int64 { st := db.bolt.Stats(); return st.TxStats.GetPageAlloc() }
	before := alloc()
	write(n)
	return float64(alloc()-before) / float64(n)
}

// TestChunksFilled: at chunksFill, with pieces that fit four to a leaf
// below it, small items write fewer bytes of pages than at bbolt's
// default FillPercent (0.5) with pieces of a full page, where every leaf
// holds two pieces and is half empty.
func TestChunksFilled(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 4 × 700 items")
	}
	perItem := func(size int, fill float64, piece int) float64 {
		db := openTemp(t, Options{maxBatchSize: 1})
		if fill > 0 {
			db.fill, db.smallChunk = fill, piece
		}
		n := pageBytesPerItem(t, db, pattern(4, size), 500, 200)
		if err := db.Check(); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, c := range []struct {
		size int
		max  float64 // ours ÷ before
	}{
		{4 << 10, 0.95},
		{16<<10 + 400, 0.85}, // a padded text testimony
	} {
		before, ours := perItem(c.size, 0.5, 984), perItem(c.size, 0, 0)
		t.Logf("%d-byte items: %.0f bytes of pages written per item at fill 0.5 in 984-byte pieces, %.0f at %.1f in %d-byte pieces",
			c.size, before, ours, chunksFill, smallChunkFor(4096, chunksFill))
		if ours > c.max*before {
			t.Errorf("%d-byte items: %.0f bytes of pages per item, %.0f before: not %.2f× or less", c.size, ours, before, c.max)
		}
	}
}

// chunksFor is how many chunks an item of size bytes, written to the
// writer in any steps, is stored in: a small item (nothing flushed, at
// most smallItemMax) in small chunks; a large one in groups of chunksPerTx
// full chunks flushed as they fill, then the rest at Commit, where the
// item begins with tailPieces small pieces and what each transaction puts
// ends with up to tailPieces small pieces.
func chunksFor(db *DB, size int) int {
	small := db.smallChunk
	ends := tailPieces * small
	full := size / chunkSize
	flushes := full / db.chunksPerTx
	if flushes == 0 && size <= smallItemMax {
		return (size + small - 1) / small
	}
	var txs [][]int // the chunk sizes of each transaction
	for range flushes {
		txs = append(txs, slices.Repeat([]int{chunkSize}, db.chunksPerTx))
	}
	last := slices.Repeat([]int{chunkSize}, full%db.chunksPerTx)
	if size%chunkSize > 0 {
		last = append(last, size%chunkSize)
	}
	txs = append(txs, last)
	n := 0
	for ti, tx := range txs {
		for i, l := range tx {
			if ti == 0 && i == 0 { // l ≥ ends: a full chunk, or a large item's only one
				n += tailPieces
				l -= ends
			}
			if i == len(tx)-1 {
				k := min(ends, l)
				n += (k + small - 1) / small
				l -= k
			}
			if l > 0 {
				n++
			}
		}
	}
	return n
}

// TestFlushTailPieces: a large item written in several flushes is kept
// whole, each flush ending in small pieces, and bbolt writes it about
// once: the pages allocated stay well under twice its size.
func TestFlushTailPieces(t *testing.T) {
	db := openTemp(t, Options{})
	writeItem(t, db, pattern(1, 3*chunkSize), 1<<20, Item{Kind: "submission"}) // a neighbour
	size := 6*defaultChunksPerTx*chunkSize + 12345
	alloc := func() int64 { st := db.bolt.Stats(); return st.TxStats.GetPageAlloc() }
	before := alloc()
	d := pattern(2, size)
	it := writeItem(t, db, d, 1<<20, Item{Kind: "submission"})
	written := alloc() - before
	if it.Chunks != chunksFor(db, size) {
		t.Errorf("%d chunks, want %d", it.Chunks, chunksFor(db, size))
	}
	if got := readItem(t, db, it.ID); !bytes.Equal(got, d) {
		t.Error("item read back differs")
	}
	t.Logf("%d bytes of pages written for an item of %d bytes", written, size)
	if float64(written) > 1.3*float64(size) {
		t.Errorf("%d bytes of pages written for an item of %d: its chunks were rewritten", written, size)
	}
	if err := db.Check(); err != nil {
		t.Error(err)
	}
}

// TestNeighboursNotRewritten: an item of a few hundred KiB to a few MiB
// lands, by its random id, in a leaf beside other items' values; bbolt
// rewrites that whole leaf. Begun and ended in small pieces, each item
// shares leaves with its neighbours only through those pieces, so
// writing one writes about its own size, not its neighbours' MiBs too
// (which also left a store at its cap unable to take an item after a
// purge: the rewrite needed a run of free pages no single deletion freed).
func TestNeighboursNotRewritten(t *testing.T) {
	db := openTemp(t, Options{})
	alloc := func() int64 { st := db.bolt.Stats(); return st.TxStats.GetPageAlloc() }
	var written, size int64
	for i := range 60 {
		n := []int{300 << 10, 1<<20 + 60<<10, 2<<20 + 5000}[i%3]
		before := alloc()
		writeItem(t, db, pattern(uint64(i), n), 64<<10, Item{Kind: "submission"})
		if i >= 30 { // among neighbours
			written += alloc() - before
			size += int64(n)
		}
	}
	t.Logf("%d bytes of pages written for %d bytes of items", written, size)
	if float64(written) > 1.3*float64(size) {
		t.Errorf("%d bytes of pages written for %d bytes of items: neighbours were rewritten", written, size)
	}
	if err := db.Check(); err != nil {
		t.Error(err)
	}
}
