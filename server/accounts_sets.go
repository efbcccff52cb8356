package server

import (
	"encoding/json"
	"errors"

	"testimony/crypto"
	"testimony/store"
)

// bucketRecipientSets maps a recipient set's fingerprint (what an item
// records) to the set's public keys, JSON, so the investigator site can
// tell whether an investigator's key can open an item. Sets are recorded
// when first used or seen.
const bucketRecipientSets = "recipient_sets"

// rememberRecipientSet records rs under its fingerprint, if not yet known.
// The witness site calls it when it encrypts a submission.
func (s *Server) rememberRecipientSet(rs *crypto.Recipients) error {
	if rs == nil {
		return nil
	}
	fp := []byte(rs.Fingerprint())
	known := false
	s.db.View(func(tx store.Tx) error {
		_, err := tx.Get(bucketRecipientSets, fp)
		known = err == nil
		return nil
	})
	if known {
		return nil
	}
	v, err := json.Marshal(rs.Keys())
	if err != nil {
		return err
	}
	return s.db.Update(func(tx store.Tx) error { return tx.Put(bucketRecipientSets, fp, v) })
}

// recipientSets returns every recorded set, by fingerprint.
func (s *Server) recipientSets() (map[string][]string, error) {
	out := map[string][]string{}
	err := s.db.View(func(tx store.Tx) error {
		return tx.ForEach(bucketRecipientSets, nil, func(k, v []byte) error {
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
