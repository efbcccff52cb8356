package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// record returns the record of item id, or nil.
func (db *DB) record(tx *bolt.Tx, id []byte) []byte {
	for _, name := range [][]byte{bucketChunks, bucketItems} {
		if b := tx.Bucket(name); b != nil {
			if v := b.Get(id); v != nil {
				return v
			}
		}
		if !db.apart {
			break
		}
	}
	return nil
}

// forEachRecord calls fn with each item's id and record, in id order,
// until fn fails. It seeks past each item's chunks rather than stepping
// through them (see bucketChunks).
func (db *DB) forEachRecord(tx *bolt.Tx, fn func(id, rec []byte) error) error {
	if db.apart {
		if b := tx.Bucket(bucketItems); b != nil {
			if err := b.ForEach(fn); err != nil {
				return err
			}
		}
	}
	b := tx.Bucket(bucketChunks)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	// past is a key after every chunk key of the id it begins with, and
	// before the next id.
	var past [idLen + 5]byte
	for k, v := c.First(); k != nil; {
		if len(k) == idLen {
			if err := fn(k, v); err != nil {
				return err
			}
		}
		if len(k) != idLen && len(k) != idLen+4 {
			k, v = c.Next() // a damaged key (Check reports it): step over it
			continue
		}
		copy(past[:], k[:idLen])
		for i := idLen; i < len(past); i++ {
			past[i] = 0xff
		}
		k, v = c.Seek(past[:])
		// In a damaged file whose keys are out of order, Seek can land
		// before the key it was given, even before where it began;
		// going on could loop forever.
		if k != nil && bytes.Compare(k, past[:]) < 0 {
			return fmt.Errorf("%w: keys out of order after %x", ErrCorrupt, past[:idLen])
		}
	}
	return nil
}

// Items returns every item record, in no particular order.
func (db *DB) Items() ([]Item, error) {
	var out []Item
	err := db.bolt.View(func(tx *bolt.Tx) error {
		return db.forEachRecord(tx, func(k, v []byte) error {
			var it Item
			if err := json.Unmarshal(v, &it); err != nil {
				return fmt.Errorf("%w: item %x: %v", ErrCorrupt, k, err)
			}
			out = append(out, it)
			return nil
		})
	})
	return out, err
}

// Item returns the record of one item.
func (db *DB) Item(id string) (Item, error) {
	key, err := parseID(id)
	if err != nil {
		return Item{}, err
	}
	var it Item
	err = db.bolt.View(func(tx *bolt.Tx) error {
		v := db.record(tx, key)
		if v == nil {
			return fmt.Errorf("item %s: %w", id, ErrNotFound)
		}
		return json.Unmarshal(v, &it)
	})
	return it, err
}

// Open returns a reader of an item's bytes. It reads one chunk at a time,
// each in its own short read transaction, so a long download does not hold
// the database. If the item is deleted while being read, the reader fails
// with [ErrNotFound].
func (db *DB) Open(id string) (Item, io.Reader, error) {
	it, err := db.Item(id)
	if err != nil {
		return Item{}, nil, err
	}
	key, _ := parseID(id)
	return it, &itemReader{db: db, id: key, item: it}, nil
}

type itemReader struct {
	db   *DB
	id   []byte
	item Item
	seq  int
	buf  []byte // what is left of back to read
	back []byte
	read int64
}

// chunkCursor reads an item's chunks in order inside one transaction:
// one seek, then the next key, rather than a search from the root for each
// of a small item's many chunks.
type chunkCursor struct {
	c    *bolt.Cursor
	key  []byte
	next int // the seq the cursor will reach with Next; -1 before a seek
}

func newChunkCursor(tx *bolt.Tx, id []byte) *chunkCursor {
	return &chunkCursor{c: tx.Bucket(bucketChunks).Cursor(), key: append(make([]byte, 0, idLen+4), id...), next: -1}
}

// get returns chunk seq, or nil if there is none.
func (cc *chunkCursor) get(seq int) []byte {
	cc.key = binary.BigEndian.AppendUint32(cc.key[:idLen], uint32(seq))
	var k, v []byte
	if seq == cc.next {
		k, v = cc.c.Next()
	} else {
		k, v = cc.c.Seek(cc.key)
	}
	cc.next = seq + 1
	if !bytes.Equal(k, cc.key) {
		cc.next = -1
		return nil
	}
	return v
}

// readAhead is how many bytes of small chunks an item reader takes in one
// read transaction: a small item is kept in many small chunks.
const readAhead = 64 << 10

func (r *itemReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.seq >= r.item.Chunks {
			if r.read != r.item.Size {
				return 0, fmt.Errorf("%w: item %s has %d of %d bytes", ErrCorrupt, r.item.ID, r.read, r.item.Size)
			}
			return 0, io.EOF
		}
		if r.back == nil {
			// Room for a small item's many chunks at once.
			r.back = make([]byte, 0, min(r.item.Size, readAhead))
		}
		r.back = r.back[:0]
		err := r.db.bolt.View(func(tx *bolt.Tx) error {
			cc := newChunkCursor(tx, r.id)
			for r.seq < r.item.Chunks && len(r.back) < readAhead {
				v := cc.get(r.seq)
				if v == nil {
					if r.db.record(tx, r.id) == nil {
						return fmt.Errorf("item %s: %w", r.item.ID, ErrNotFound)
					}
					return fmt.Errorf("%w: item %s lacks chunk %d", ErrCorrupt, r.item.ID, r.seq)
				}
				if len(r.back) > 0 && len(r.back)+len(v) > max(readAhead, cap(r.back)) {
					return nil // a large chunk: in a transaction of its own
				}
				r.back = append(r.back, v...) // v is valid only inside the transaction
				r.seq++
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		r.buf = r.back
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	r.read += int64(n)
	return n, nil
}

// Delete removes an item: its record and every chunk, in one transaction.
// The freed pages still hold the old bytes until they are reused or the
// file is compacted ([Compact]).
func (db *DB) Delete(id string) error {
	key, err := parseID(id)
	if err != nil {
		return err
	}
	return mapFull(db.updateFreeing(func(tx *bolt.Tx) error {
		if db.record(tx, key) == nil {
			return fmt.Errorf("item %s: %w", id, ErrNotFound)
		}
		return deleteChunks(tx, key) // the record and the chunks
	}))
}

// Stats are counts for the console.
type Stats struct {
	Items     int
	ItemBytes int64
	FileBytes int64
	// PendingChunks counts the chunks of writes not committed: in
	// progress, or interrupted (a crash), which the next Open removes.
	PendingChunks int
}

// Stats counts the items and their bytes.
func (db *DB) Stats() (Stats, error) {
	var s Stats
	err := db.bolt.View(func(tx *bolt.Tx) error {
		s.FileBytes = tx.Size()
		if p := tx.Bucket(bucketPending); p != nil {
			c := tx.Bucket(bucketChunks).Cursor()
			p.ForEach(func(id, _ []byte) error {
				for k, _ := c.Seek(id); k != nil && bytes.HasPrefix(k, id); k, _ = c.Next() {
					if len(k) == idLen+4 {
						s.PendingChunks++
					}
				}
				return nil
			})
		}
		return db.forEachRecord(tx, func(k, v []byte) error {
			var it Item
			if err := json.Unmarshal(v, &it); err != nil {
				return err
			}
			s.Items++
			s.ItemBytes += it.Size
			return nil
		})
	})
	return s, err
}

// errRollback ends a writable transaction that only read.
var errRollback = errors.New("rollback")

// Check verifies the file: bbolt's own page check, then that every item
// has all its chunks (numbered from 0, none beyond its count) with the
// recorded total size, and that every chunk belongs to an item or to a
// write in progress (see [Open]). It returns every problem found, joined.
// A damaged page that makes bbolt panic (or fault) is reported as
// [ErrCorrupt] too. On a store open for writing, Check runs in a write
// transaction (bbolt's check reads the freelist that writers change), so
// writers wait for it.
func (db *DB) Check() (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", ErrCorrupt, r)
		}
	}()
	var problems []string
	check := func(tx *bolt.Tx) error {
		// First the page tree, with bounds on everything: bbolt's own
		// check trusts page headers, and hangs or faults on some.
		if problems = walkTree(db.path); len(problems) == 0 {
			problems = db.checkTx(tx)
		}
		return nil
	}
	if db.bolt.IsReadOnly() {
		err = db.bolt.View(check)
	} else {
		err = db.update(func(tx *bolt.Tx) error {
			check(tx)
			return errRollback
		})
		if err == errRollback {
			err = nil
		}
	}
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrCorrupt, bytes.Join(toBytes(problems), []byte("; ")))
	}
	return nil
}

func (db *DB) checkTx(tx *bolt.Tx) []string {
	var problems []string
	for err := range tx.Check() {
		problems = append(problems, err.Error())
	}
	chunks, pending := tx.Bucket(bucketChunks), tx.Bucket(bucketPending)
	if chunks == nil || tx.Bucket(bucketMeta) == nil {
		return append(problems, "missing buckets")
	}
	isPending := func(id []byte) bool { return pending != nil && pending.Get(id) != nil }
	records := map[string]Item{}
	var ids [][]byte // in order
	err := db.forEachRecord(tx, func(k, v []byte) error {
		var it Item
		if err := json.Unmarshal(v, &it); err != nil {
			problems = append(problems, fmt.Sprintf("item %x: unreadable record: %v", k, err))
			return nil
		}
		if it.ID != hex.EncodeToString(k) {
			problems = append(problems, fmt.Sprintf("item %x: record names %s", k, it.ID))
		}
		if isPending(k) {
			problems = append(problems, fmt.Sprintf("item %x: committed and pending", k))
		}
		records[string(k)] = it
		ids = append(ids, bytes.Clone(k))
		return nil
	})
	if err != nil { // it says what is damaged; Check says the file is
		problems = append(problems, strings.TrimPrefix(err.Error(), ErrCorrupt.Error()+": "))
	}
	sizes := map[string]int64{}
	counts := map[string]int{}
	c := chunks.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) == idLen {
			continue // a record
		}
		if len(k) != idLen+4 {
			problems = append(problems, fmt.Sprintf("chunk with a bad key %x", k))
			continue
		}
		id := string(k[:idLen])
		it, ok := records[id]
		switch {
		case !ok && isPending(k[:idLen]):
			continue // a write in progress, or interrupted
		case !ok:
			problems = append(problems, fmt.Sprintf("orphan chunk %x", k))
			continue
		}
		if seq := binary.BigEndian.Uint32(k[idLen:]); int64(seq) >= int64(it.Chunks) {
			problems = append(problems, fmt.Sprintf("item %x: chunk %d beyond its %d chunks", k[:idLen], seq, it.Chunks))
		}
		sizes[id] += int64(len(v))
		counts[id]++
	}
	for _, k := range ids {
		it := records[string(k)]
		if counts[string(k)] != it.Chunks || sizes[string(k)] != it.Size {
			problems = append(problems, fmt.Sprintf("item %x: %d chunks with %d bytes, record says %d and %d",
				k, counts[string(k)], sizes[string(k)], it.Chunks, it.Size))
		}
	}
	return problems
}

func toBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}
