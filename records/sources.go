package records

import (
	"bytes"
	"encoding/json"
	"errors"

	"testimony/store"
)

// Source is the witness site's record of a source (a witness's codename)
// in [BucketSources], keyed by its pseudonym (crypto.Pseudonym). The
// investigator site reads its reply key to encrypt a reply, and removes it
// with the source. Nothing in it reveals the codename.
type Source struct {
	ReplyRecipient string `json:"reply_recipient"`
	Day            string `json:"day"` // UTC day of the first item
}

// PutSourceIfAbsent returns an update that stores rec as the record of a
// source unless one exists. It runs inside the commit of the source's item
// (store.ItemWriter.CommitWith), so a source and its first item are stored
// together or not at all; it is idempotent, as batched commits require.
func PutSourceIfAbsent(pseudonym string, rec Source) (func(store.Tx) error, error) {
	v, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	return func(tx store.Tx) error {
		_, err := tx.Get(BucketSources, []byte(pseudonym))
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return tx.Put(BucketSources, []byte(pseudonym), v)
	}, nil
}

// SourceExists reports whether a source has a record.
func SourceExists(db store.Store, pseudonym string) (bool, error) {
	found := false
	err := db.View(func(tx store.Tx) error {
		var err error
		found, err = exists(tx, BucketSources, []byte(pseudonym))
		return err
	})
	return found, err
}

// GetSource reads a source's record; store.ErrNotFound if there is none.
func GetSource(db store.Store, pseudonym string) (*Source, error) {
	var rec *Source
	err := db.View(func(tx store.Tx) error {
		var err error
		rec, err = getJSON[Source](tx, BucketSources, []byte(pseudonym))
		return err
	})
	return rec, err
}

// DeleteSource removes a source's record.
func DeleteSource(tx store.Tx, pseudonym string) error {
	return tx.Delete(BucketSources, []byte(pseudonym))
}

// SeenKey is the key of account's mark on item id in [BucketSeen]:
// account name, a zero byte, item id. The value is the UTC day.
func SeenKey(account, id string) []byte { return []byte(account + "\x00" + id) }

// MarkSeen marks item id seen by account on day.
func MarkSeen(tx store.Tx, account, id, day string) error {
	return tx.Put(BucketSeen, SeenKey(account, id), []byte(day))
}

// IsSeen reports whether account has seen item id.
func IsSeen(tx store.Tx, account, id string) (bool, error) {
	return exists(tx, BucketSeen, SeenKey(account, id))
}

// SeenBy returns the ids of the items account has seen.
func SeenBy(tx store.Tx, account string) (map[string]bool, error) {
	m := map[string]bool{}
	prefix := []byte(account + "\x00")
	err := tx.ForEach(BucketSeen, prefix, func(k, v []byte) error {
		m[string(k[len(prefix):])] = true
		return nil
	})
	return m, err
}

// DeleteSeenOf removes every investigator's marks on the items in gone.
func DeleteSeenOf(tx store.Tx, gone map[string]bool) error {
	var marks [][]byte
	err := tx.ForEach(BucketSeen, nil, func(k, v []byte) error {
		if i := bytes.LastIndexByte(k, 0); i >= 0 && gone[string(k[i+1:])] {
			marks = append(marks, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range marks {
		if err := tx.Delete(BucketSeen, k); err != nil {
			return err
		}
	}
	return nil
}
