package web

import (
	"testimony/crypto"
	"testimony/records"
	"testimony/store"
)

// Recipients returns the set new items are encrypted to: every active
// investigator's key plus the escrow keys. It is read at each
// submission, so a change takes effect for the next one. An empty or mixed
// set is an error (crypto.ErrNoRecipients, *crypto.RecipientError), which
// the witness site answers with 503 and stores nothing.
func Recipients(db store.Store, escrow []string) (*crypto.Recipients, error) {
	keys := append([]string(nil), escrow...)
	err := db.View(func(tx store.Tx) error {
		active, err := records.ActiveKeys(tx)
		keys = append(keys, active...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return newRecipientsMemo("recipient set (investigators and escrow)", keys...) // recipients_memo.go
}
