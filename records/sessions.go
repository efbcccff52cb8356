package records

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"

	"testimony/store"
)

// Session is an investigator's session in [BucketSessions]. Key:
// [SessionKey] of the session token, so a copy of the database does not
// hand out live sessions.
type Session struct {
	Account  string `json:"account"`
	Created  int64  `json:"created"`   // Unix seconds
	LastSeen int64  `json:"last_seen"` // Unix seconds
}

// ErrNoSession is returned for a missing, expired or revoked session.
var ErrNoSession = errors.New("no valid session")

const tokenLen = 32 // 256 bits

// SessionKey is the key of a session token's record: its SHA-256.
func SessionKey(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// WellFormedToken reports whether token has the form of a session token:
// 32 bytes in unpadded base64url.
func WellFormedToken(token string) bool {
	b, err := base64.RawURLEncoding.DecodeString(token)
	return err == nil && len(b) == tokenLen
}

// NewSession creates a session for account in tx and returns its token.
func NewSession(tx store.Tx, account string, now time.Time) (string, error) {
	b := make([]byte, tokenLen)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	return token, putJSON(tx, BucketSessions, SessionKey(token), Session{Account: account, Created: now.Unix(), LastSeen: now.Unix()})
}

// GetSession reads the session of token: store.ErrNotFound if there is
// none, a [*DamagedError] if its record does not decode.
func GetSession(tx store.Tx, token string) (*Session, error) {
	return getJSON[Session](tx, BucketSessions, SessionKey(token))
}

// TouchSession sets the last-seen time of token's session to now;
// ErrNoSession if it is gone or damaged.
func TouchSession(tx store.Tx, token string, now time.Time) error {
	ss, err := GetSession(tx, token)
	var de *DamagedError
	if errors.Is(err, store.ErrNotFound) || errors.As(err, &de) {
		return ErrNoSession // logged out meanwhile
	}
	if err != nil {
		return err
	}
	ss.LastSeen = now.Unix()
	return putJSON(tx, BucketSessions, SessionKey(token), ss)
}

// EndSession deletes the session of token.
func EndSession(tx store.Tx, token string) error {
	return tx.Delete(BucketSessions, SessionKey(token))
}

// deleteSessionsWhere deletes every session for which end is true, and
// every damaged one.
func deleteSessionsWhere(tx store.Tx, end func(*Session) bool) error {
	var keys [][]byte
	err := tx.ForEach(BucketSessions, nil, func(k, v []byte) error {
		ss, err := decodeJSON[Session](BucketSessions, v)
		if err != nil || end(ss) {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := tx.Delete(BucketSessions, k); err != nil {
			return err
		}
	}
	return nil
}

// DeleteSessionsOf ends every session of account.
func DeleteSessionsOf(tx store.Tx, account string) error {
	return deleteSessionsWhere(tx, func(ss *Session) bool { return ss.Account == account })
}

// PruneSessions deletes every session past its idle or absolute time-out:
// those whose cookie never comes back would otherwise stay.
func PruneSessions(tx store.Tx, now time.Time, idle, max time.Duration) error {
	return deleteSessionsWhere(tx, func(ss *Session) bool {
		return now.Sub(time.Unix(ss.LastSeen, 0)) > idle || now.Sub(time.Unix(ss.Created, 0)) > max
	})
}
