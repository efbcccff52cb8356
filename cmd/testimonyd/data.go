package main

import (
	"fmt"
	"path/filepath"
	"time"

	"testimony/crypto"
	"testimony/store"
)

// The files of a data directory.
const (
	dbFile  = "testimony.db"
	keyFile = "server.key"
)

// openData opens the store and the server key of a data directory. Console
// commands use it while the server may be running: the lock time-out makes
// a held lock a clear error, not a hang.
func openData(dir string, readOnly bool) (*store.DB, *crypto.ServerKey, error) {
	if dir == "" {
		return nil, nil, fmt.Errorf("no data directory: pass --data DIR")
	}
	key, err := crypto.LoadServerKey(filepath.Join(dir, keyFile))
	if err != nil {
		return nil, nil, fmt.Errorf("%v (run \"testimonyd init --data %s\" first?)", err, dir)
	}
	db, err := store.Open(filepath.Join(dir, dbFile), store.Options{LockTimeout: 2 * time.Second, ReadOnly: readOnly})
	if err != nil {
		return nil, nil, err
	}
	return db, key, nil
}
