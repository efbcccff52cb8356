package server

import (
	"encoding/json"

	"testimony/crypto"
	"testimony/store"
)

// bucketInvestigators holds one record per investigator account, keyed by
// account name. Its JSON carries at least the fields of investigatorKey;
// the account code adds its own.
const bucketInvestigators = "investigators"

type investigatorKey struct {
	Recipient string `json:"recipient"`
	Disabled  bool   `json:"disabled"`
}

// recipients returns the set new items are encrypted to: every active
// investigator's key plus the escrow keys of the config. It is read at each
// submission, so a change takes effect for the next one. An empty or mixed
// set is an error (crypto.ErrNoRecipients, *crypto.RecipientError), which
// the witness site answers with 503 and stores nothing.
func (s *Server) recipients() (*crypto.Recipients, error) {
	keys := append([]string(nil), s.cfg.Escrow...)
	err := s.db.View(func(tx store.Tx) error {
		return tx.ForEach(bucketInvestigators, nil, func(k, v []byte) error {
			var r investigatorKey
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			if !r.Disabled && r.Recipient != "" {
				keys = append(keys, r.Recipient)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return newRecipientsMemo("recipient set (investigators and escrow)", keys...) // witness_recipients.go
}
