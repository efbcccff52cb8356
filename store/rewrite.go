package store

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// A rewrite is a change registered by [itemWriter.Rewrite].
type rewrite struct {
	off int64
	n   int
	fn  func([]byte) error
}

// Rewrite registers a change to bytes the writer already took: fn gets
// the item's bytes [off, off+n) and changes them in place; their length
// does not change. Rewrites run at Commit, in the transaction that makes
// the item visible, in the order registered, each on the bytes the ones
// before left. Like the fn of [itemWriter.CommitWith], fn may be called
// more than once (commits are batched) and must be idempotent; each call
// gets the same bytes. An error from fn fails the Commit, which then
// aborts the item. Bytes already flushed cost a copy of each value that
// holds them (up to chunkSize), read and put again.
//
// Rewrite refuses n <= 0, off < 0, a range beyond the bytes written so far,
// and a call after Commit or Abort; it returns the error of a background
// flush that failed.
func (w *itemWriter) Rewrite(off int64, n int, fn func(b []byte) error) error {
	switch {
	case w.done:
		return errors.New("rewrite after commit or abort")
	case n <= 0 || off < 0 || int64(n) > w.size-off:
		return fmt.Errorf("rewrite of %d bytes at %d: the item has %d", n, off, w.size)
	}
	if err := w.poll(); err != nil {
		return err
	}
	w.rewrites = append(w.rewrites, rewrite{off, n, fn})
	return nil
}

// rewriter applies an item's rewrites in its commit transaction.
type rewriter struct {
	id       []byte
	rewrites []rewrite
	values   [][]byte // the values the commit puts, after the flushed ones
	flushed  int      // how many values flushes put
	ends     []int64  // the end offset of every value, flushed or not
	// saved holds, for each rewrite, its bytes that are in values as they
	// were before any run (the flushed ones left zero): a run starts from
	// them, so that a run again (Batch) starts from the same bytes.
	saved [][]byte
}

// prepareRewrites returns the rewriter of the commit that puts values,
// or nil if there is no rewrite. The flush in flight has ended.
func (w *itemWriter) prepareRewrites(values [][]byte) *rewriter {
	if len(w.rewrites) == 0 {
		return nil
	}
	rw := &rewriter{id: w.id, rewrites: w.rewrites, values: values, flushed: w.chunks}
	rw.ends = slices.Grow(slices.Clip(w.ends), len(values))
	end := w.flushedBytes()
	for _, v := range values {
		end += int64(len(v))
		rw.ends = append(rw.ends, end)
	}
	for _, r := range rw.rewrites {
		b := make([]byte, r.n)
		rw.parts(r, func(i, lo, hi, at int) error {
			if i >= rw.flushed {
				copy(b[at:], rw.values[i-rw.flushed][lo:hi])
			}
			return nil
		})
		rw.saved = append(rw.saved, b)
	}
	return rw
}

// parts calls f for each value i that holds bytes of r, in order: the
// value's bytes [lo, hi) are r's bytes from at.
func (rw *rewriter) parts(r rewrite, f func(i, lo, hi, at int) error) error {
	end := r.off + int64(r.n)
	i, _ := slices.BinarySearch(rw.ends, r.off+1) // the first value ending after off
	for ; i < len(rw.ends); i++ {
		start := int64(0)
		if i > 0 {
			start = rw.ends[i-1]
		}
		if start >= end {
			break
		}
		lo, hi := max(r.off, start), min(end, rw.ends[i])
		if err := f(i, int(lo-start), int(hi-start), int(lo-r.off)); err != nil {
			return err
		}
	}
	return nil
}

// apply runs the rewrites in chunks, the chunks bucket of the commit's
// transaction. The flushed values they touch are read from it, copied
// (bbolt's are valid only in the transaction, and read only) and put
// back changed; those not flushed are changed in rw.values, which the
// commit puts after. A run starts by restoring rw.values from
// rw.saved, so that a run again (Batch) starts from the same bytes.
func (rw *rewriter) apply(chunks *bolt.Bucket) error {
	if rw == nil {
		return nil
	}
	for k, r := range rw.rewrites {
		rw.parts(r, func(i, lo, hi, at int) error {
			if i >= rw.flushed {
				copy(rw.values[i-rw.flushed][lo:hi], rw.saved[k][at:])
			}
			return nil
		})
	}
	changed := map[int][]byte{} // copies of flushed values
	value := func(i int) ([]byte, error) {
		if i >= rw.flushed {
			return rw.values[i-rw.flushed], nil
		}
		if v := changed[i]; v != nil {
			return v, nil
		}
		size := rw.ends[i]
		if i > 0 {
			size -= rw.ends[i-1]
		}
		v := chunks.Get(chunkKey(rw.id, i))
		if int64(len(v)) != size {
			return nil, fmt.Errorf("%w: item %x: chunk %d has %d bytes, want %d", ErrCorrupt, rw.id, i, len(v), size)
		}
		changed[i] = bytes.Clone(v)
		return changed[i], nil
	}
	var b []byte
	for _, r := range rw.rewrites {
		b = slices.Grow(b[:0], r.n)[:r.n]
		err := rw.parts(r, func(i, lo, hi, at int) error {
			v, err := value(i)
			if err == nil {
				copy(b[at:], v[lo:hi])
			}
			return err
		})
		if err != nil {
			return err
		}
		if err := r.fn(b); err != nil {
			return fmt.Errorf("rewriting %d bytes at %d: %w", r.n, r.off, err)
		}
		rw.parts(r, func(i, lo, hi, at int) error {
			v, _ := value(i) // each is in rw.values or changed by now
			copy(v[lo:hi], b[at:])
			return nil
		})
	}
	for _, i := range slices.Sorted(maps.Keys(changed)) {
		if err := chunks.Put(chunkKey(rw.id, i), changed[i]); err != nil {
			return err
		}
	}
	return nil
}
