package records

import (
	"encoding/json"
	"errors"

	"testimony/crypto"
	"testimony/store"
)

// [BucketRecipientSets] maps a recipient set's fingerprint (what an item
// records) to the set's public keys, JSON, so the investigator site can
// tell whether an investigator's key can open an item. Sets are recorded
// when first used or seen.

// RememberRecipientSet records rs under its fingerprint, if not yet known.
// The witness site calls it when it encrypts a submission.
func RememberRecipientSet(db *store.DB, rs *crypto.Recipients) error {
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
func RecipientSets(db *store.DB) (map[string][]string, error) {
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
