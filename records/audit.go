package records

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"testimony/store"
)

// [BucketAudit] is the audit log: an append-only, hash-chained list of what
// investigators and the console did. Key: the entry's sequence number, 8
// bytes big-endian, from 1 ([AuditKey]). Each entry's hash covers the
// previous entry's hash and its own canonical JSON, so changing, removing
// or reordering an entry breaks the chain from there on ([VerifyAudit]).
//
// It never holds a passphrase, a TOTP code, or the name typed for an
// account that does not exist.
//
// [BucketAuditHead] holds the log's head under [AuditHeadKey]: the number
// of entries and the hash of the last, written in the transaction of each
// entry. Removing entries from the end of the log without changing it is
// caught by [VerifyAudit], and new entries continue from it, so the gap
// stays. Someone who can write the database file can change it too: the
// defence against them is a head noted elsewhere (testimonyd status, the
// audit page) and checked with [VerifyAuditHead].

// AuditHeadKey is the one key of [BucketAuditHead].
var AuditHeadKey = []byte("head")

// AuditHead is the end of the audit log's chain: how many entries it has
// and the hash of the last one. Its text form is COUNT:HASH.
type AuditHead struct {
	Count uint64 `json:"count"`
	Hash  string `json:"hash"`
}

func (h AuditHead) String() string { return fmt.Sprintf("%d:%s", h.Count, h.Hash) }

// ParseAuditHead reads a head in its text form, COUNT:HASH, as status
// prints it.
func ParseAuditHead(s string) (AuditHead, error) {
	c, h, ok := strings.Cut(strings.TrimSpace(s), ":")
	n, err := strconv.ParseUint(c, 10, 64)
	if !ok || err != nil || n == 0 || !isHash(h) {
		return AuditHead{}, fmt.Errorf("an audit head is COUNT:HASH, as testimonyd status prints it (a number from 1, a colon, 64 lower-case hex digits)")
	}
	return AuditHead{Count: n, Hash: h}, nil
}

func isHash(h string) bool {
	if len(h) != 2*sha256.Size {
		return false
	}
	for _, c := range h {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// getAuditHead reads the head record; ok is false if there is none.
func getAuditHead(tx store.Tx) (h AuditHead, ok bool, err error) {
	p, err := getJSON[AuditHead](tx, BucketAuditHead, AuditHeadKey)
	if errors.Is(err, store.ErrNotFound) {
		return h, false, nil
	}
	if err != nil {
		return h, false, err
	}
	return *p, true, nil
}

func putAuditHead(tx store.Tx, h AuditHead) error {
	return putJSON(tx, BucketAuditHead, AuditHeadKey, h)
}

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

// UnknownAccount stands in the audit log for a login name that matches no
// account: the typed text may be a passphrase typed in the wrong field.
const UnknownAccount = "(unknown account)"

// genesis is the "previous hash" of the first entry.
var genesis = hex.EncodeToString(make([]byte, sha256.Size))

// AuditKey is the key of entry seq in [BucketAudit].
func AuditKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

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

// AppendAudit adds an entry of what a.Account did at now at the end of the
// log, in tx: the entry lands or not together with the action it records.
// Of a, Seq, Time and Hash are ignored: they are set here. The entry
// follows the head record, or the last entry where there is none yet (a
// log of an older version) or where entries lie past it: so an entry is
// never overwritten, and entries removed from the end leave a gap that
// [VerifyAudit] reports.
func AppendAudit(tx store.Tx, now time.Time, a AuditEntry) error {
	e := auditEntry{Seq: 1, Prev: genesis, Account: a.Account, Event: a.Event, Target: a.Target,
		Item: a.Item, Source: a.Source, Count: a.Count}
	k, v, err := tx.Last(BucketAudit)
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
	head, ok, err := getAuditHead(tx)
	if err != nil {
		return err
	}
	if ok && head.Count >= e.Seq {
		e.Seq, e.Prev = head.Count+1, head.Hash
	}
	e.Time = now.UTC().Format("2006-01-02T15:04Z")
	if e.Hash, err = auditHash(e); err != nil {
		return err
	}
	js, err := json.Marshal(e)
	if err != nil {
		return err
	}
	if err := tx.Put(BucketAudit, AuditKey(e.Seq), js); err != nil {
		return err
	}
	return putAuditHead(tx, AuditHead{Count: e.Seq, Hash: e.Hash})
}

// AuditError names the first entry of the audit log that fails the check.
type AuditError struct {
	Seq    uint64
	Reason string
}

func (e *AuditError) Error() string {
	return fmt.Sprintf("audit log entry %d: %s", e.Seq, e.Reason)
}

// AuditEntry is one entry of the audit log, for display, or to append.
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
// before it, each hash recomputed, and the last entry equal to the head
// record (so entries removed from the end are caught). It returns the
// number of entries, or an [*AuditError] naming the first broken one.
func VerifyAudit(db store.Store) (int, error) {
	n, _, err := verifyAudit(db, AuditHead{})
	return n, err
}

// VerifyAuditHead is [VerifyAudit], and also, unless noted is zero,
// checks that the log still holds noted, a head noted earlier (from
// testimonyd status or the audit page): at least noted.Count entries, the
// one at noted.Count with hash noted.Hash. Whoever rewrites the database
// file can forge the head record, but not make a new log that holds a
// head noted before. It returns the log's head.
func VerifyAuditHead(db store.Store, noted AuditHead) (AuditHead, error) {
	_, h, err := verifyAudit(db, noted)
	return h, err
}

// AuditHeadOf returns the head of the audit log, to be noted: its last
// entry's number and hash (zero if the log is empty). It does not check
// the chain.
func AuditHeadOf(db store.Store) (AuditHead, error) {
	var h AuditHead
	err := db.View(func(tx store.Tx) error {
		k, v, err := tx.Last(BucketAudit)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(k) != 8 {
			return fmt.Errorf("audit log: bad key %x", k)
		}
		var e auditEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return &AuditError{binary.BigEndian.Uint64(k), fmt.Sprintf("unreadable: %v", err)}
		}
		h = AuditHead{Count: binary.BigEndian.Uint64(k), Hash: e.Hash}
		return nil
	})
	return h, err
}

// verifyAudit checks the chain, the head record and, if noted.Count > 0,
// the noted head. It returns the number of entries and the chain's head.
func verifyAudit(db store.Store, noted AuditHead) (int, AuditHead, error) {
	n := 0
	prev := genesis
	var notedHash string
	err := db.View(func(tx store.Tx) error {
		want := uint64(1)
		err := tx.ForEach(BucketAudit, nil, func(k, v []byte) error {
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
			if seq == noted.Count {
				notedHash = e.Hash
			}
			prev, want = e.Hash, want+1
			n++
			return nil
		})
		if err != nil {
			return err
		}
		head, ok, err := getAuditHead(tx)
		if err != nil {
			return &AuditError{uint64(n) + 1, err.Error()}
		}
		switch {
		case !ok && n > 0:
			return &AuditError{uint64(n) + 1, "cannot be checked: the log's head record is missing, so entries removed from the end would go unseen (it was deleted, or the log was written by a version that kept none: the next logged action writes it)"}
		case ok && head.Count > uint64(n):
			return &AuditError{uint64(n) + 1, fmt.Sprintf("missing: the log's head record says %d entries (entries were removed from the end)", head.Count)}
		case ok && (head.Count != uint64(n) || head.Hash != prev):
			return &AuditError{uint64(n), "does not match the log's head record (the record or the end of the log was altered)"}
		}
		return nil
	})
	h := AuditHead{Count: uint64(n), Hash: prev}
	if n == 0 {
		h.Hash = ""
	}
	if err != nil || noted.Count == 0 {
		return n, h, err
	}
	switch {
	case uint64(n) < noted.Count:
		return n, h, &AuditError{uint64(n) + 1, fmt.Sprintf("missing: the noted head %s is entry %d, and the log ends at %d (entries were removed, or the log was rewritten)", noted, noted.Count, n)}
	case notedHash != noted.Hash:
		return n, h, &AuditError{noted.Count, fmt.Sprintf("differs from the noted head %s (the log was rewritten)", noted)}
	}
	return n, h, nil
}

// ReadAudit returns up to limit entries, newest first, ending before seq
// before (0: from the end).
func ReadAudit(db store.Store, before uint64, limit int) ([]AuditEntry, error) {
	var all []AuditEntry
	err := db.View(func(tx store.Tx) error {
		return tx.ForEach(BucketAudit, nil, func(k, v []byte) error {
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
