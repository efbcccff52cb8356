package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestKV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kv.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx Tx) error {
		for _, k := range []string{"user/bob", "user/alice", "session/1", "user/carol"} {
			if err := tx.Put("accounts", []byte(k), []byte("v:"+k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Get returns a copy that outlives the transaction.
	var got []byte
	db.View(func(tx Tx) error {
		got, err = tx.Get("accounts", []byte("user/bob"))
		return nil
	})
	if err != nil || string(got) != "v:user/bob" {
		t.Errorf("Get: %q, %v", got, err)
	}
	db.View(func(tx Tx) error {
		if _, err := tx.Get("accounts", []byte("user/dave")); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get of a missing key: %v", err)
		}
		if _, err := tx.Get("nobucket", []byte("x")); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get in a missing bucket: %v", err)
		}
		// ForEach visits the prefix in key order, and only it.
		var keys []string
		err := tx.ForEach("accounts", []byte("user/"), func(k, v []byte) error {
			if string(v) != "v:"+string(k) {
				t.Errorf("ForEach: %s = %s", k, v)
			}
			keys = append(keys, string(k))
			return nil
		})
		if err != nil || strings.Join(keys, ",") != "user/alice,user/bob,user/carol" {
			t.Errorf("ForEach user/: %v, %v", keys, err)
		}
		keys = nil
		tx.ForEach("accounts", nil, func(k, v []byte) error { keys = append(keys, string(k)); return nil })
		if len(keys) != 4 {
			t.Errorf("ForEach with no prefix: %v", keys)
		}
		stop := errors.New("stop")
		n := 0
		if err := tx.ForEach("accounts", nil, func(k, v []byte) error { n++; return stop }); err != stop || n != 1 {
			t.Errorf("ForEach did not stop at the first error: %v after %d", err, n)
		}
		if err := tx.ForEach("nobucket", nil, func(k, v []byte) error { t.Error("called"); return nil }); err != nil {
			t.Errorf("ForEach of a missing bucket: %v", err)
		}
		k, v, err := tx.Last("accounts")
		if err != nil || string(k) != "user/carol" || string(v) != "v:user/carol" {
			t.Errorf("Last: %q %q %v", k, v, err)
		}
		if _, _, err := tx.Last("nobucket"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Last of a missing bucket: %v", err)
		}
		return nil
	})
	// Delete, including a missing key and a missing bucket.
	err = db.Update(func(tx Tx) error {
		if err := tx.Delete("accounts", []byte("user/bob")); err != nil {
			return err
		}
		if err := tx.Delete("accounts", []byte("user/zed")); err != nil {
			return fmt.Errorf("deleting a missing key: %w", err)
		}
		return tx.Delete("nobucket", []byte("x"))
	})
	if err != nil {
		t.Fatal(err)
	}
	// Last of an emptied bucket.
	db.Update(func(tx Tx) error {
		tx.Put("empty", []byte("a"), []byte("1"))
		return tx.Delete("empty", []byte("a"))
	})
	db.View(func(tx Tx) error {
		if _, _, err := tx.Last("empty"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Last of an empty bucket: %v", err)
		}
		return nil
	})
	// A failed Update leaves nothing behind.
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

// TestKVWriteInView: writing in a read-only transaction is an error, not
// a panic, whether or not the bucket exists.
func TestKVWriteInView(t *testing.T) {
	db := openTemp(t, Options{})
	db.Update(func(tx Tx) error { return tx.Put("exists", []byte("k"), []byte("v")) })
	for _, b := range []string{"exists", "missing"} {
		err := db.View(func(tx Tx) error {
			if err := tx.Put(b, []byte("k"), []byte("v2")); err == nil {
				t.Errorf("Put in View on %s succeeded", b)
			}
			if err := tx.Delete(b, []byte("k")); b == "exists" && err == nil {
				t.Errorf("Delete in View on %s succeeded", b)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
