package store

import (
	"errors"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// update runs fn in a write transaction.
func (db *DB) update(fn func(*bolt.Tx) error) error {
	db.capLock.RLock()
	defer db.capLock.RUnlock()
	return db.bolt.Update(fn)
}

// batch runs fn in a write transaction shared with the other callers'
// that arrive while a transaction is being written: a group commit. The
// first caller of a quiet store starts a committer that runs everything
// pending in one transaction, then everything that arrived meanwhile, and
// so on until nothing is pending. A caller alone pays one commit and no
// wait; under load the number of fsyncs follows the disk, not the number
// of callers, and none waits for a timer. (bbolt's own Batch starts a
// batch on a timer whether or not the writer is free, so when an fsync
// outlasts the timer, small batches queue behind one another and each
// pays its own fsync.)
//
// fn may run more than once and must be idempotent: when one call fails,
// the transaction is rolled back, the call runs again alone (so it gets
// its own error), and the others run again together without it.
func (db *DB) batch(fn func(*bolt.Tx) error) error {
	c := call{fn: fn, err: make(chan error, 1)}
	db.group.mu.Lock()
	db.group.pending = append(db.group.pending, c)
	if !db.group.running {
		db.group.running = true
		go db.commitPending()
	}
	db.group.mu.Unlock()
	return <-c.err
}

// groupCommit is the state of [DB.batch].
type groupCommit struct {
	mu      sync.Mutex
	pending []call
	running bool // a committer goroutine is at work
}

// call is one caller's function in a group commit, and where its result goes.
type call struct {
	fn  func(*bolt.Tx) error
	err chan error
}

// commitPending is the committer: it commits what is pending, at most
// maxBatchSize calls a transaction, until nothing is.
func (db *DB) commitPending() {
	for {
		db.group.mu.Lock()
		n := min(len(db.group.pending), db.maxBatchSize)
		calls := db.group.pending[:n:n] // later appends go past it
		db.group.pending = db.group.pending[n:]
		if len(calls) == 0 {
			db.group.pending = nil
			db.group.running = false
			db.group.mu.Unlock()
			return
		}
		db.group.mu.Unlock()
		db.commitCalls(calls)
	}
}

// commitCalls runs calls in one transaction and sends each its result; a
// call that fails runs again alone, and the rest together without it.
func (db *DB) commitCalls(calls []call) {
	for len(calls) > 0 {
		failed := -1
		err := db.update(func(tx *bolt.Tx) error {
			for i, c := range calls {
				if err := callSafely(c.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 || len(calls) == 1 {
			for _, c := range calls {
				c.err <- err
			}
			return
		}
		c := calls[failed]
		c.err <- db.update(func(tx *bolt.Tx) error { return callSafely(c.fn, tx) })
		calls = append(calls[:failed:failed], calls[failed+1:]...)
	}
}

// callSafely runs fn, turning a panic into an error: it runs on the
// committer's goroutine, for a caller that waits.
func callSafely(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in a store transaction: %v", p)
		}
	}()
	return fn(tx)
}

// updateFreeing runs fn, a transaction that frees space (it deletes), in
// a write transaction. At the size cap even a deletion needs a few new
// pages (the leaves it rewrites, the freelist) before the pages it frees
// can be reused; refused, it would leave a full store no way out but a
// larger cap. So when the cap refuses it, it runs again with the cap
// lifted, alone: no other write runs meanwhile, and the file grows by
// what this transaction needs, not by bbolt's usual step.
func (db *DB) updateFreeing(fn func(*bolt.Tx) error) error {
	err := db.update(fn)
	if db.maxSize == 0 || !errors.Is(err, bolterrors.ErrMaxSizeReached) {
		return err
	}
	db.capLock.Lock()
	defer db.capLock.Unlock()
	// Every write transaction holds capLock, so bbolt reads these two
	// fields only while this goroutine holds it alone.
	alloc := db.bolt.AllocSize
	db.bolt.MaxSize, db.bolt.AllocSize = 0, 0
	defer func() { db.bolt.MaxSize, db.bolt.AllocSize = db.maxSize, alloc }()
	return db.bolt.Update(fn)
}

func mapFull(err error) error {
	if err != nil && (errors.Is(err, bolterrors.ErrMaxSizeReached) || errors.Is(err, syscallENOSPC)) {
		return fmt.Errorf("%w: %v", ErrFull, err)
	}
	return err
}
