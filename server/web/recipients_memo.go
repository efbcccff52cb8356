package web

import (
	"slices"
	"sync"

	"testimony/crypto"
)

// Parsing a hybrid public key (1,959 characters of Bech32, an ML-KEM-768
// key) is not free, and the recipient set is read at every submission. The last set built is kept, keyed by its exact key
// list: a change of investigators or escrow keys gives a new list, and so
// a new parse. Errors are not kept.
var recipientMemo struct {
	sync.Mutex
	source string
	keys   []string
	rs     *crypto.Recipients
}

// newRecipientsMemo is crypto.NewRecipients with a one-entry memo.
func newRecipientsMemo(source string, keys ...string) (*crypto.Recipients, error) {
	recipientMemo.Lock()
	if recipientMemo.rs != nil && recipientMemo.source == source && slices.Equal(recipientMemo.keys, keys) {
		rs := recipientMemo.rs
		recipientMemo.Unlock()
		return rs, nil
	}
	recipientMemo.Unlock()
	rs, err := crypto.NewRecipients(source, keys...)
	if err != nil {
		return nil, err
	}
	recipientMemo.Lock()
	recipientMemo.source, recipientMemo.keys, recipientMemo.rs = source, slices.Clone(keys), rs
	recipientMemo.Unlock()
	return rs, nil
}
