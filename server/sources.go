package server

import (
	"encoding/json"
	"errors"

	"testimony/store"
)

// The bucket "sources" (bucketSources) holds one record per source (a
// witness's codename), keyed by its pseudonym (crypto.Pseudonym), with
// the fields of sourceRecord; both are declared in investigator_cases.go,
// which reads reply_recipient to encrypt a reply. Nothing in it reveals the
// codename.

// ensureSource stores the record of a source unless it exists. It may run
// in a batch with other writers (and more than once): it is idempotent.
func (s *Server) ensureSource(pseudonym, replyRecipient string) error {
	rec, err := json.Marshal(sourceRecord{ReplyRecipient: replyRecipient, Day: s.today()})
	if err != nil {
		return err
	}
	return s.db.Batch(func(tx store.Tx) error {
		_, err := tx.Get(bucketSources, []byte(pseudonym))
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return tx.Put(bucketSources, []byte(pseudonym), rec)
	})
}

// sourceExists reports whether a source has a record.
func (s *Server) sourceExists(pseudonym string) (bool, error) {
	found := false
	err := s.db.View(func(tx store.Tx) error {
		_, err := tx.Get(bucketSources, []byte(pseudonym))
		if err == nil {
			found = true
			return nil
		}
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	return found, err
}
