package store

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// update runs fn in a write transaction.
func (db *DB) update(fn func(*bolt.Tx) error) error {
	db.capLock.RLock()
	defer db.capLock.RUnlock()
	return db.bolt.Update(fn)
}

// batch runs fn in a write transaction that bbolt may share with other
// callers' (see [bolt.DB.Batch]).
func (db *DB) batch(fn func(*bolt.Tx) error) error {
	db.capLock.RLock()
	defer db.capLock.RUnlock()
	return db.bolt.Batch(fn)
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
