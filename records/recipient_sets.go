package records

import (
	"encoding/json"
	"errors"

	"testimony/crypto"
	"testimony/store"
)

// [BucketRecipientSets] maps a recipient set's fingerprint (what an item
// records) to the set's public keys, JSON, so the investigator site can
// tell whether an investigator's key can open an item. The witness site
// records a set in the commit of each item encrypted to it
// ([PutRecipientSetIfAbsent]); the investigator site records the current
// set when it lists cases and when it sends a reply ([RememberRecipientSet]).

// PutRecipientSetIfAbsent returns an update that records rs under its
// fingerprint unless it is known. It runs inside an item's commit
// (store.ItemWriter.CommitWith), so the item and its set are stored
// together; it is idempotent, as batched commits require.
func PutRecipientSetIfAbsent(rs *crypto.Recipients) (func(store.Tx) error, error) {
	fp := []byte(rs.Fingerprint())
	v, err := json.Marshal(rs.Keys())
	if err != nil {
		return nil, err
	}
	return func(tx store.Tx) error {
		if known, err := exists(tx, BucketRecipientSets, fp); err != nil || known {
			return err
		}
		return tx.Put(BucketRecipientSets, fp, v)
	}, nil
}

// RememberRecipientSet records rs under its fingerprint, if not yet known,
// in a transaction of its own.
func RememberRecipientSet(db store.Store, rs *crypto.Recipients) error {
	if rs == nil {
		return nil
	}
	fp := []byte(rs.Fingerprint())
	known := false
	db.View(func(tx store.Tx) error {
		known, _ = exists(tx, BucketRecipientSets, fp)
		return nil
	})
	if known {
		return nil
	}
	return db.Update(func(tx store.Tx) error { return putJSON(tx, BucketRecipientSets, fp, rs.Keys()) })
}

// RecipientSets returns every recorded set, by fingerprint.
func RecipientSets(db store.Store) (map[string][]string, error) {
	out := map[string][]string{}
	err := db.View(func(tx store.Tx) error {
		return tx.ForEach(BucketRecipientSets, nil, func(k, v []byte) error {
			var keys []string
			if err := json.Unmarshal(v, &keys); err != nil {
				return nil // a damaged entry reads as unknown
			}
			out[string(k)] = keys
			return nil
		})
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	return out, nil
}
