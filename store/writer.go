package store

import (
	"encoding/hex"
	"encoding/json"
	"errors"

	bolt "go.etcd.io/bbolt"
)

// defaultChunksPerTx is how many full chunks an [itemWriter] keeps before it
// writes them in one transaction. bbolt rewrites a whole leaf, with the
// large values it holds, whenever a key is added to it; a transaction that
// adds several chunks rewrites the item's last leaf once for all of them,
// and syncs once. The transaction runs in the background while the next
// chunksPerTx chunks fill, so a writer holds up to 2*chunksPerTx+1 chunks
// of memory. [DB.chunksPerTx] holds the value in use.
const defaultChunksPerTx = 4

// itemWriter is bbolt's [ItemWriter]: it writes one item's bytes. It is not safe for concurrent use.
//
// Full chunks are written chunksPerTx at a time by a flush that runs in
// the background while Write fills the next ones; at most one flush is in
// flight, and the next waits for it. A flush's error is returned by the
// next Write, Rewrite or Commit; the writer is then of no further use
// but to Abort.
type itemWriter struct {
	db       *DB
	id       []byte
	full     [][]byte   // full chunks not handed to a flush yet
	inFlight [][]byte   // the buffers of the flush in flight
	flushed  chan error // the result of the flush in flight; nil when none
	spare    [][]byte   // chunk buffers written, for reuse
	buf      []byte     // the chunk being filled
	chunks   int        // values put, or being put, by flushes
	ends     []int64    // the end offset in the item of each of those values
	size     int64
	rewrites []rewrite
	err      error // the error of a flush: the writer is broken
	done     bool
}

// NewItem starts writing an item.
func (db *DB) NewItem() *ItemWriter { return WrapWriter(db.newWriter()) }

// newWriter is NewItem with the concrete writer, for [itemWriter.Rewrite].
func (db *DB) newWriter() *itemWriter { return &itemWriter{db: db, id: newID()} }

// ID is the hex id the item will have.
func (w *itemWriter) ID() string { return hex.EncodeToString(w.id) }

// Write buffers p and writes full chunks to the store, several at a time,
// in the background. It returns the error of a flush that failed since the
// last call.
func (w *itemWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, errors.New("write after commit or abort")
	}
	if err := w.poll(); err != nil {
		return 0, err
	}
	n := len(p)
	for len(p) > 0 {
		k := min(chunkSize-len(w.buf), len(p))
		if len(w.buf)+k > cap(w.buf) {
			// Grow by doubling, from what the first write needs: a small
			// item costs its size, a large one a few copies of its first
			// chunk.
			w.buf = append(make([]byte, 0, min(chunkSize, max(len(w.buf)+k, 2*cap(w.buf)))), w.buf...)
		}
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == chunkSize {
			w.full = append(w.full, w.buf)
			w.buf = nil
			if len(w.full) >= w.db.chunksPerTx {
				if err := w.flush(); err != nil {
					w.size += int64(n - len(p))
					return n - len(p), err
				}
			}
			if k := len(w.spare); k > 0 {
				w.buf, w.spare = w.spare[k-1][:0], w.spare[:k-1]
			}
		}
	}
	w.size += int64(n)
	return n, nil
}

// pieces returns the values the next transaction puts, in order: the full
// chunks, and at Commit (final) what is left. A small item goes in small
// chunks; a large one begins with tailPieces small pieces, and what each
// transaction puts ends with tailPieces small pieces (see tailPieces).
// The values are slices of the writer's buffers.
func (w *itemWriter) pieces(final bool) [][]byte {
	small := w.db.smallChunk
	raw := w.full
	if final {
		if w.chunks == 0 && len(w.full) == 0 && len(w.buf) <= smallItemMax {
			return splitBy(nil, w.buf, small)
		}
		raw = splitBy(raw[:len(raw):len(raw)], w.buf, chunkSize)
	}
	ends := tailPieces * small
	var out [][]byte
	for i, c := range raw {
		var head, tail []byte
		if i == 0 && w.chunks == 0 {
			n := min(ends, len(c))
			head, c = c[:n], c[n:]
		}
		if i == len(raw)-1 {
			n := min(ends, len(c))
			c, tail = c[:len(c)-n], c[len(c)-n:]
		}
		out = splitBy(out, head, small)
		out = splitBy(out, c, chunkSize)
		out = splitBy(out, tail, small)
	}
	return out
}

// splitBy appends b to out in pieces of at most n bytes.
func splitBy(out [][]byte, b []byte, n int) [][]byte {
	for len(b) > 0 {
		k := min(n, len(b))
		out = append(out, b[:k])
		b = b[k:]
	}
	return out
}

// flush starts writing the full chunks in one transaction in the
// background, marking the item as pending: its chunks are on disk but its
// record is not. It first waits for the flush in flight, and returns its
// error.
func (w *itemWriter) flush() error {
	if err := w.wait(); err != nil {
		return err
	}
	values := w.pieces(false)
	first := w.chunks
	end := w.flushedBytes()
	for _, v := range values {
		end += int64(len(v))
		w.ends = append(w.ends, end)
	}
	w.chunks += len(values)
	// The buffers are the flush's until it ends; w.inFlight is empty
	// (wait), and its array takes the next full chunks.
	w.full, w.inFlight = w.inFlight, w.full
	db, id := w.db, w.id
	done := make(chan error, 1)
	w.flushed = done
	// A transaction of its own, not a batch: a flush is large enough to
	// need no company, and the small commits sharing its transaction would
	// wait for its pages to be written.
	go func() {
		done <- mapFull(db.update(func(tx *bolt.Tx) error {
			if err := tx.Bucket(bucketPending).Put(id, nil); err != nil {
				return err
			}
			return putChunks(chunksBucket(tx, db.fill), id, first, values)
		}))
	}()
	return nil
}

// poll collects the flush in flight if it has ended, and returns the
// writer's error.
func (w *itemWriter) poll() error {
	select {
	case err := <-w.flushed: // never ready when nil
		w.ended(err)
	default:
	}
	return w.err
}

// wait waits for the flush in flight, and returns the writer's error.
func (w *itemWriter) wait() error {
	if w.flushed != nil {
		w.ended(<-w.flushed)
	}
	return w.err
}

// ended takes back the buffers of the flush that ended with err.
func (w *itemWriter) ended(err error) {
	w.flushed = nil
	for i, c := range w.inFlight {
		w.spare = append(w.spare, c[:0])
		w.inFlight[i] = nil
	}
	w.inFlight = w.inFlight[:0]
	if err != nil && w.err == nil {
		w.err = err
	}
}

// flushedBytes is how many of the item's bytes flushes put, or are putting.
func (w *itemWriter) flushedBytes() int64 {
	if len(w.ends) == 0 {
		return 0
	}
	return w.ends[len(w.ends)-1]
}

// Commit writes the remaining chunks and the record in one transaction,
// and makes the item visible. The record's ID, Size and Chunks are set
// here. It first waits for the flush in flight, and fails with its error.
// When Commit returns nil the item is on disk (fsync'd).
func (w *itemWriter) Commit(it Item) (Item, error) { return w.CommitWith(it, nil) }

// CommitWith is [itemWriter.Commit] with fn run in the same transaction,
// so that a record of the layers above (the source of a first submission)
// is stored with the item or not at all, at the cost of one fsync. fn may
// run more than once (commits are batched) and must be idempotent.
func (w *itemWriter) CommitWith(it Item, fn func(Tx) error) (Item, error) {
	if w.done {
		return Item{}, errors.New("commit after commit or abort")
	}
	w.done = true
	if err := w.wait(); err != nil {
		w.abort()
		return Item{}, err
	}
	it.ID = w.ID()
	it.Size = w.size
	values := w.pieces(true)
	it.Chunks = w.chunks + len(values)
	rec, err := json.Marshal(it)
	if err != nil {
		w.abort()
		return Item{}, err
	}
	rw := w.prepareRewrites(values)
	flushed := w.chunks > 0 // and so marked pending
	err = w.db.batch(func(tx *bolt.Tx) error {
		chunks := chunksBucket(tx, w.db.fill)
		if err := rw.apply(chunks); err != nil {
			return err
		}
		if err := putChunks(chunks, w.id, w.chunks, values); err != nil {
			return err
		}
		if flushed {
			if err := tx.Bucket(bucketPending).Delete(w.id); err != nil {
				return err
			}
		}
		if fn != nil {
			if err := fn(boltTx{tx}); err != nil {
				return err
			}
		}
		return chunks.Put(w.id, rec)
	})
	if err != nil {
		w.abort()
		return Item{}, mapFull(err)
	}
	w.release()
	return it, nil
}

// Abort discards what was written, once the flush in flight has ended.
// Safe to call after Commit (it then does nothing) and more than once.
func (w *itemWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.abort()
}

// abort waits for the flush in flight, then deletes the item's chunks.
func (w *itemWriter) abort() {
	w.wait()
	w.release()
	if w.chunks == 0 {
		return
	}
	// Best effort: what remains is removed as orphans at the next Open.
	w.db.updateFreeing(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketChunks).Get(w.id) != nil {
			return nil // committed after all
		}
		if err := tx.Bucket(bucketPending).Delete(w.id); err != nil {
			return err
		}
		return deleteChunks(tx, w.id)
	})
}

// release drops the writer's buffers once it is done.
func (w *itemWriter) release() {
	w.buf, w.full, w.inFlight, w.spare, w.ends, w.rewrites = nil, nil, nil, nil, nil, nil
}
