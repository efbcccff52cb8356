package server

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"testimony/store"
)

// bucketAudit is the audit log: an append-only, hash-chained list of what
// investigators and the console did. Key: the entry's sequence number, 8
// bytes big-endian, from 1. Each entry's hash covers the previous entry's
// hash and its own canonical JSON, so changing, removing or reordering an
// entry breaks the chain from there on ([VerifyAudit]).
//
// It never holds a passphrase, a TOTP code, or the name typed for an
// account that does not exist.
const bucketAudit = "audit"

// auditEntry is one line of the audit log. The JSON field order is the
// struct's, which makes the encoding canonical.
type auditEntry struct {
	Seq     uint64 `json:"seq"`
	Time    string `json:"time"` // UTC, to the minute
	Account string `json:"account"`
	Event   string `json:"event"`
	Target  string `json:"target,omitempty"` // an account acted upon
	Item    string `json:"item,omitempty"`
	Source  string `json:"source,omitempty"`
	Count   int    `json:"count,omitempty"`
	Prev    string `json:"prev"`
	Hash    string `json:"hash,omitempty"`
}

// unknownAccount stands in the audit log for a login name that matches no
// account: the typed text may be a passphrase typed in the wrong field.
const unknownAccount = "(unknown account)"

// genesis is the "previous hash" of the first entry.
var genesis = hex.EncodeToString(make([]byte, sha256.Size))

func auditKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// auditHash is SHA-256(prev hash || canonical JSON of e without its hash).
func auditHash(e auditEntry) (string, error) {
	e.Hash = ""
	js, err := json.Marshal(e)
	if err != nil {
		return "", err
	}
	prev, err := hex.DecodeString(e.Prev)
	if err != nil {
		return "", fmt.Errorf("previous hash: %v", err)
	}
	h := sha256.New()
	h.Write(prev)
	h.Write(js)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// appendAudit adds e at the end of the log, in tx: the entry lands or not
// together with the action it records.
func appendAudit(tx store.Tx, now time.Time, e auditEntry) error {
	e.Seq, e.Prev = 1, genesis
	k, v, err := tx.Last(bucketAudit)
	switch {
	case err == nil:
		var last auditEntry
		if err := json.Unmarshal(v, &last); err != nil {
			return fmt.Errorf("audit log: last entry: %v", err)
		}
		e.Seq, e.Prev = binary.BigEndian.Uint64(k)+1, last.Hash
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	e.Time = now.UTC().Format("2006-01-02T15:04Z")
	if e.Hash, err = auditHash(e); err != nil {
		return err
	}
	js, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return tx.Put(bucketAudit, auditKey(e.Seq), js)
}

// AuditError names the first entry of the audit log that fails the check.
type AuditError struct {
	Seq    uint64
	Reason string
}

func (e *AuditError) Error() string {
	return fmt.Sprintf("audit log entry %d: %s", e.Seq, e.Reason)
}

// AuditEntry is one entry of the audit log, for display.
type AuditEntry struct {
	Seq     uint64
	Time    string
	Account string
	Event   string
	Target  string
	Item    string
	Source  string
	Count   int
	Hash    string
}

// VerifyAudit checks the audit log's chain from its first entry: sequence
// numbers without gaps, each entry's previous hash equal to the hash
// before it, and each hash recomputed. It returns the number of entries,
// or an [*AuditError] naming the first broken one.
func VerifyAudit(db *store.DB) (int, error) {
	n := 0
	err := db.View(func(tx store.Tx) error {
		prev := genesis
		want := uint64(1)
		return tx.ForEach(bucketAudit, nil, func(k, v []byte) error {
			if len(k) != 8 {
				return &AuditError{want, fmt.Sprintf("bad key %x", k)}
			}
			seq := binary.BigEndian.Uint64(k)
			if seq != want {
				return &AuditError{want, fmt.Sprintf("missing (the next entry is %d)", seq)}
			}
			var e auditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return &AuditError{seq, fmt.Sprintf("unreadable: %v", err)}
			}
			if e.Seq != seq {
				return &AuditError{seq, fmt.Sprintf("records sequence number %d", e.Seq)}
			}
			if e.Prev != prev {
				return &AuditError{seq, "does not follow the previous entry (previous hash differs)"}
			}
			h, err := auditHash(e)
			if err != nil {
				return &AuditError{seq, err.Error()}
			}
			if h != e.Hash {
				return &AuditError{seq, "content does not match its hash (altered)"}
			}
			prev, want = e.Hash, want+1
			n++
			return nil
		})
	})
	return n, err
}

// auditPage returns up to limit entries, newest first, ending before seq
// before (0: from the end).
func readAudit(db *store.DB, before uint64, limit int) ([]AuditEntry, error) {
	var all []AuditEntry
	err := db.View(func(tx store.Tx) error {
		return tx.ForEach(bucketAudit, nil, func(k, v []byte) error {
			if len(k) == 8 && before != 0 && binary.BigEndian.Uint64(k) >= before {
				return nil
			}
			var e auditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			all = append(all, AuditEntry{Seq: e.Seq, Time: e.Time, Account: e.Account, Event: e.Event,
				Target: e.Target, Item: e.Item, Source: e.Source, Count: e.Count, Hash: e.Hash})
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	out := make([]AuditEntry, 0, min(limit, len(all)))
	for i := len(all) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, all[i])
	}
	return out, nil
}
