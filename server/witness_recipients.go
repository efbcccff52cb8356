package server

import (
	"strings"
	"sync"

	"testimony/crypto"
)

// Parsing a hybrid public key (1,959 characters of Bech32, an ML-KEM-768
// key) costs about a tenth of a millisecond, and the recipient set is read
// at every submission. The last set built is kept, keyed by its exact key
// list: a change of investigators or escrow keys gives a new list, and so
// a new parse. Errors are not kept.
var recipientMemo struct {
	sync.Mutex
	keys string
	rs   *crypto.Recipients
}

// newRecipientsMemo is crypto.NewRecipients with a one-entry memo.
func newRecipientsMemo(source string, keys ...string) (*crypto.Recipients, error) {
	id := source + "\n" + strings.Join(keys, "\n")
	recipientMemo.Lock()
	if recipientMemo.rs != nil && recipientMemo.keys == id {
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
	recipientMemo.keys, recipientMemo.rs = id, rs
	recipientMemo.Unlock()
	return rs, nil
}
