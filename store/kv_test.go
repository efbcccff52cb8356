package store

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// TestKV: what a transaction did outlives the file's closing, and what a
// failed one did is not there after reopening. (The behaviour of Tx
// itself is tested on every backend: storetest.)
func TestKV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx Tx) error {
		for _, k := range []string{"user/bob", "user/alice"} {
			if err := tx.Put("accounts", []byte(k), []byte("v:"+k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx Tx) error { return tx.Delete("accounts", []byte("user/bob")) }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := db.Update(func(tx Tx) error {
		tx.Put("accounts", []byte("user/eve"), []byte("x"))
		return boom
	}); err != boom {
		t.Errorf("Update returned %v, want fn's error", err)
	}
	db.Close()
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx Tx) error {
		if _, err := tx.Get("accounts", []byte("user/bob")); !errors.Is(err, ErrNotFound) {
			t.Errorf("deleted key back after reopening: %v", err)
		}
		if _, err := tx.Get("accounts", []byte("user/eve")); !errors.Is(err, ErrNotFound) {
			t.Errorf("a failed Update's Put was kept: %v", err)
		}
		if v, err := tx.Get("accounts", []byte("user/alice")); string(v) != "v:user/alice" {
			t.Errorf("after reopening: %q %v", v, err)
		}
		return nil
	})
}

// TestKVReserved: the item buckets are out of reach of Tx, for reading
// and writing alike.
func TestKVReserved(t *testing.T) {
	db := openTemp(t, Options{})
	it := writeItem(t, db, []byte("ciphertext"), 100, Item{Kind: "submission"})
	key, _ := parseID(it.ID)
	for _, b := range []string{"meta", "items", "chunks", "pending"} {
		err := db.Update(func(tx Tx) error {
			ops := map[string]error{}
			_, ops["Get"] = tx.Get(b, key)
			ops["Put"] = tx.Put(b, key, []byte("x"))
			ops["Delete"] = tx.Delete(b, key)
			ops["ForEach"] = tx.ForEach(b, nil, func(k, v []byte) error { return nil })
			_, _, ops["Last"] = tx.Last(b)
			for op, err := range ops {
				if err == nil || !strings.Contains(err.Error(), "reserved") {
					t.Errorf("%s on bucket %q: %v, want refused as reserved", op, b, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := readItem(t, db, it.ID); string(got) != "ciphertext" {
		t.Errorf("item changed: %q", got)
	}
	if err := db.Check(); err != nil {
		t.Error(err)
	}
}
