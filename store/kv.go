package store

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// boltTx is bbolt's [Tx]. Item buckets are not reachable through it.
type boltTx struct{ tx *bolt.Tx }

func reserved(bucket string) bool {
	return bucket == string(bucketMeta) || bucket == string(bucketItems) || bucket == string(bucketChunks) ||
		bucket == string(bucketPending)
}

func (t boltTx) bucket(name string, create bool) (*bolt.Bucket, error) {
	if reserved(name) {
		return nil, fmt.Errorf("bucket %q is reserved", name)
	}
	if create {
		if !t.tx.Writable() {
			return nil, bolterrors.ErrTxNotWritable
		}
		return t.tx.CreateBucketIfNotExists([]byte(name))
	}
	return t.tx.Bucket([]byte(name)), nil
}

// Get returns a copy of the value of key, or nil, [ErrNotFound].
func (t boltTx) Get(bucket string, key []byte) ([]byte, error) {
	b, err := t.bucket(bucket, false)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, ErrNotFound
	}
	v := b.Get(key)
	if v == nil {
		return nil, ErrNotFound
	}
	return bytes.Clone(v), nil
}

// Put sets key to value.
func (t boltTx) Put(bucket string, key, value []byte) error {
	b, err := t.bucket(bucket, true)
	if err != nil {
		return err
	}
	return b.Put(key, value)
}

// Delete removes key; a missing key is not an error.
func (t boltTx) Delete(bucket string, key []byte) error {
	b, err := t.bucket(bucket, false)
	if err != nil || b == nil {
		return err
	}
	return b.Delete(key)
}

// ForEach calls fn for each key with the given prefix, in key order. The
// slices are valid only during the call.
func (t boltTx) ForEach(bucket string, prefix []byte, fn func(k, v []byte) error) error {
	b, err := t.bucket(bucket, false)
	if err != nil || b == nil {
		return err
	}
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}

// Last returns a copy of the last key and value of a bucket, or
// [ErrNotFound] if it is empty.
func (t boltTx) Last(bucket string) ([]byte, []byte, error) {
	b, err := t.bucket(bucket, false)
	if err != nil {
		return nil, nil, err
	}
	if b == nil {
		return nil, nil, ErrNotFound
	}
	k, v := b.Cursor().Last()
	if k == nil {
		return nil, nil, ErrNotFound
	}
	return bytes.Clone(k), bytes.Clone(v), nil
}

// Update runs fn in a read-write transaction, committed (fsync'd) if fn
// returns nil.
func (db *DB) Update(fn func(Tx) error) error {
	return mapFull(db.update(func(tx *bolt.Tx) error { return fn(boltTx{tx}) }))
}

// UpdateFreeing runs fn like [DB.Update], for a change that deletes and
// writes little else (ending a session and noting it in the audit log):
// at the size cap it runs again with the cap lifted, as [DB.Delete] does,
// so that a full store still lets an investigator log out.
func (db *DB) UpdateFreeing(fn func(Tx) error) error {
	return mapFull(db.updateFreeing(func(tx *bolt.Tx) error { return fn(boltTx{tx}) }))
}

// View runs fn in a read-only transaction.
func (db *DB) View(fn func(Tx) error) error {
	return db.bolt.View(func(tx *bolt.Tx) error { return fn(boltTx{tx}) })
}
