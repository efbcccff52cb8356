// Package records holds what the service keeps in the store beside the
// items: investigator accounts and their login state, sessions, sources
// and seen marks, recorded recipient sets, the audit chain and the
// operator's notes. Each bucket's name, key and value are defined here
// once (docs/design.md, "Records of the layers above"); the investigator
// site and the console commands both go through this package.
package records

import (
	"encoding/json"
	"errors"

	"testimony/store"
)

// The buckets of this package. A bucket is created by its first write;
// a missing bucket reads as empty.
const (
	// BucketInvestigators: account name → [Account].
	BucketInvestigators = "investigators"
	// BucketLoginState: account name, or [UnknownStateKey] → [LoginState].
	BucketLoginState = "login_state"
	// BucketSessions: [SessionKey] of the token → [Session].
	BucketSessions = "sessions"
	// BucketSources: pseudonym → [Source].
	BucketSources = "sources"
	// BucketSeen: [SeenKey] (account, 0, item id) → UTC day, as text.
	BucketSeen = "seen"
	// BucketRecipientSets: fingerprint → JSON array of the set's keys.
	BucketRecipientSets = "recipient_sets"
	// BucketAudit: [AuditKey] of the sequence number → an audit entry.
	BucketAudit = "audit"
	// BucketAuditHead: [AuditHeadKey] → [AuditHead].
	BucketAuditHead = "audit_head"
	// BucketOps: [KeyLastBackup] → UTC day, as text.
	BucketOps = "ops"
)

// recordName names a bucket's record in errors.
var recordName = map[string]string{
	BucketInvestigators: "account record",
	BucketLoginState:    "login state",
	BucketSessions:      "session",
	BucketSources:       "source record",
	BucketAuditHead:     "audit log head",
	BucketDayRoots:      "day root",
}

// DamagedError is a stored record that does not decode.
type DamagedError struct {
	What string
	Err  error
}

func (e *DamagedError) Error() string { return e.What + ": " + e.Err.Error() }

func (e *DamagedError) Unwrap() error { return e.Err }

// getJSON reads the JSON record under key: store.ErrNotFound if there is
// none, a [*DamagedError] if it does not decode.
func getJSON[T any](tx store.Tx, bucket string, key []byte) (*T, error) {
	v, err := tx.Get(bucket, key)
	if err != nil {
		return nil, err
	}
	return decodeJSON[T](bucket, v)
}

// decodeJSON decodes a record of bucket; a [*DamagedError] if it does not.
func decodeJSON[T any](bucket string, v []byte) (*T, error) {
	var rec T
	if err := json.Unmarshal(v, &rec); err != nil {
		return nil, &DamagedError{What: recordName[bucket], Err: err}
	}
	return &rec, nil
}

// putJSON writes v's JSON under key.
func putJSON(tx store.Tx, bucket string, key []byte, v any) error {
	js, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(bucket, key, js)
}

// exists reports whether key has a record.
func exists(tx store.Tx, bucket string, key []byte) (bool, error) {
	_, err := tx.Get(bucket, key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// KeyLastBackup is the key of the day of the last backup in [BucketOps].
const KeyLastBackup = "last_backup"

// RecordBackup notes day (YYYY-MM-DD) as the day of the last backup.
func RecordBackup(db store.Store, day string) error {
	if len(day) != len("2006-01-02") {
		return errors.New("bad day")
	}
	return db.Update(func(tx store.Tx) error { return tx.Put(BucketOps, []byte(KeyLastBackup), []byte(day)) })
}

// LastBackup returns the day of the last backup, or "" if none is noted.
func LastBackup(tx store.Tx) string {
	if v, err := tx.Get(BucketOps, []byte(KeyLastBackup)); err == nil {
		return string(v)
	}
	return ""
}
