package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// schemaVersion is the version of the layout this code writes. Open
// migrates older files forward and refuses newer ones; opened read-only,
// an older file is read as it is.
const schemaVersion = 3

func (db *DB) version() (v int, err error) {
	err = db.bolt.View(func(tx *bolt.Tx) error {
		v, err = schemaOf(tx)
		return err
	})
	return v, err
}

// schemaOf returns the file's schema version: 0 for a new file, or
// [ErrNewer] for one this code does not know, or [ErrCorrupt] for a value
// that is no version at all (a damaged page).
func schemaOf(tx *bolt.Tx) (int, error) {
	m := tx.Bucket(bucketMeta)
	if m == nil {
		return 0, nil
	}
	v := m.Get(keySchema)
	if v == nil {
		return 0, nil
	}
	// Versions count up by one per layout; a thousand is far beyond any.
	if len(v) != 8 || binary.BigEndian.Uint64(v) > 1000 {
		return 0, fmt.Errorf("%w: the schema version reads %x", ErrCorrupt, v)
	}
	n := int(binary.BigEndian.Uint64(v))
	if n > schemaVersion {
		return n, fmt.Errorf("%w: schema %d, this version knows %d", ErrNewer, n, schemaVersion)
	}
	return n, nil
}

// migrations[i] takes a file from schema i to i+1. One that returns
// errMore did part of its work: that part commits, the file keeps schema
// i, and it runs again in a new transaction. A long migration so takes
// the memory of one step, not of the whole file, and a crash in the
// middle leaves a file that reads and migrates on; step bounds that part
// ([DB.migrateStep]).
var migrations = []func(tx *bolt.Tx, step int) error{
	func(tx *bolt.Tx, _ int) error { // 0 → 1: the first layout
		for _, b := range [][]byte{bucketMeta, bucketItems, bucketChunks} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	},
	func(tx *bolt.Tx, _ int) error { // 1 → 2: pending writes are recorded
		_, err := tx.CreateBucketIfNotExists(bucketPending)
		return err
	},
	func(tx *bolt.Tx, step int) error { // 2 → 3: records beside their chunks
		items, chunks := tx.Bucket(bucketItems), chunksBucket(tx, chunksFill)
		var keys, values [][]byte
		c := items.Cursor()
		for k, v := c.First(); k != nil && len(keys) < step; k, v = c.Next() {
			keys, values = append(keys, bytes.Clone(k)), append(values, bytes.Clone(v))
		}
		for i, k := range keys {
			if err := chunks.Put(k, values[i]); err != nil {
				return err
			}
			if err := items.Delete(k); err != nil {
				return err
			}
		}
		if k, _ := items.Cursor().First(); k != nil {
			// In a damaged page whose keys are out of order, a delete
			// can miss its key; the next step would find it again.
			if slices.ContainsFunc(keys, func(m []byte) bool { return bytes.Equal(m, k) }) {
				return fmt.Errorf("%w: record %x cannot be moved", ErrCorrupt, k)
			}
			return errMore
		}
		return tx.DeleteBucket(bucketItems)
	},
}

// errMore is returned by a migration that did part of its work.
var errMore = errors.New("more to migrate")

// defaultMigrateStep is how many records one transaction of the 2 → 3
// migration moves: each dirties a leaf, held in memory until the commit.
const defaultMigrateStep = 5000

// migrate brings the file to schemaVersion. It runs as a deletion does
// at the size cap (updateFreeing): a store at its cap must still open.
func (db *DB) migrate() error {
	for {
		more := false
		err := db.updateFreeing(func(tx *bolt.Tx) error {
			v, err := schemaOf(tx)
			if err != nil {
				return err
			}
			for ; v < schemaVersion; v++ {
				err := migrations[v](tx, db.migrateStep)
				if more = err == errMore; more {
					break
				}
				if err != nil {
					return fmt.Errorf("migrating schema %d to %d: %w", v, v+1, err)
				}
			}
			m, err := tx.CreateBucketIfNotExists(bucketMeta)
			if err != nil {
				return err
			}
			return m.Put(keySchema, binary.BigEndian.AppendUint64(nil, uint64(v)))
		})
		if err != nil || !more {
			return err
		}
	}
}

// removeOrphans deletes chunks that belong to no item record: the remains
// of writes that never committed. It runs at Open, before any writer.
func (db *DB) removeOrphans() (int, error) {
	n := 0
	err := db.updateFreeing(func(tx *bolt.Tx) error {
		chunks := tx.Bucket(bucketChunks)
		// Emptied by deleting it whole. If damage took its name, what
		// it held is of no use anyway.
		if err := tx.DeleteBucket(bucketPending); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return err
		}
		if _, err := tx.CreateBucket(bucketPending); err != nil {
			return err
		}
		c := chunks.Cursor()
		var orphans [][]byte
		var rec []byte // the id of the last record: the chunks after it are its own
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			switch {
			case len(k) == idLen:
				rec = append(rec[:0], k...)
			case len(k) < idLen || !bytes.Equal(k[:idLen], rec):
				orphans = append(orphans, bytes.Clone(k))
			}
		}
		for _, k := range orphans {
			if err := chunks.Delete(k); err != nil {
				return err
			}
		}
		n = len(orphans)
		return nil
	})
	return n, err
}
