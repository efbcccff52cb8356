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

// putSourceIfAbsent returns an update that stores the record of a source
// unless it exists. It runs inside the commit of the source's item
// (store.ItemWriter.CommitWith), so a source and its first item are stored
// together or not at all; it is idempotent, as batched commits require.
func (s *Server) putSourceIfAbsent(pseudonym, replyRecipient string) (func(store.Tx) error, error) {
	rec, err := json.Marshal(sourceRecord{ReplyRecipient: replyRecipient, Day: s.today()})
	if err != nil {
		return nil, err
	}
	return func(tx store.Tx) error {
		_, err := tx.Get(bucketSources, []byte(pseudonym))
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return tx.Put(bucketSources, []byte(pseudonym), rec)
	}, nil
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
