package server

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"testimony/store"
)

// bucketSessions holds investigators' sessions. Key: SHA-256 of the
// session token, so a copy of the database does not hand out live
// sessions; value: the session's JSON.
const bucketSessions = "sessions"

type session struct {
	Account  string `json:"account"`
	Created  int64  `json:"created"`   // Unix seconds
	LastSeen int64  `json:"last_seen"` // Unix seconds
}

// errNoSession is returned for a missing, expired or revoked session.
var errNoSession = errors.New("no valid session")

const tokenLen = 32 // 256 bits

func sessionKey(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// newSession creates a session for account in tx and returns its token.
func newSession(tx store.Tx, account string, now time.Time) (string, error) {
	b := make([]byte, tokenLen)
	rand.Read(b)
	token := base64.RawURLEncoding.EncodeToString(b)
	v, err := json.Marshal(session{Account: account, Created: now.Unix(), LastSeen: now.Unix()})
	if err != nil {
		return "", err
	}
	return token, tx.Put(bucketSessions, sessionKey(token), v)
}

// deleteSessionsOf ends every session of account.
func deleteSessionsOf(tx store.Tx, account string) error {
	var keys [][]byte
	err := tx.ForEach(bucketSessions, nil, func(k, v []byte) error {
		var s session
		if json.Unmarshal(v, &s) != nil || s.Account == account {
			keys = append(keys, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := tx.Delete(bucketSessions, k); err != nil {
			return err
		}
	}
	return nil
}

// cookieName is the session cookie's name: with the __Host- prefix when
// the cookie is Secure (the prefix requires Secure, Path=/ and no Domain).
func (s *Server) cookieName() string {
	if s.cfg.SecureCookies {
		return "__Host-session"
	}
	return "session"
}

func (s *Server) setSessionCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: token, Path: "/", HttpOnly: true,
		Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
}

func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
}

// sessionToken returns the request's session token, if it has a
// well-formed one.
func (s *Server) sessionToken(r *http.Request) (string, bool) {
	c, err := r.Cookie(s.cookieName())
	if err != nil {
		return "", false
	}
	if b, err := base64.RawURLEncoding.DecodeString(c.Value); err != nil || len(b) != tokenLen {
		return "", false
	}
	return c.Value, true
}

// principal is the investigator a request acts for.
type principal struct {
	Name       string
	Recipient  string
	MustChange bool
	// StoreFull: the store refused a write of this request's session
	// (store.ErrFull); pages say so.
	StoreFull bool
	token     string
}

// sessionTouchEvery bounds how often a session's last-seen time is
// written: not on every request, to spare the disk. A session may so end
// up to that much before its idle time-out, counted from its last use; a
// short time-out (tests, a cautious group) is touched at a quarter of it.
const sessionTouchEvery = time.Minute

func (s *Server) touchEvery() time.Duration {
	return min(sessionTouchEvery, s.cfg.SessionIdle/4)
}

// authenticate returns the investigator of the request's session. An
// expired session (idle or absolute time-out) is deleted; a session of a
// disabled or removed account is refused and deleted.
//
// Only a missing or ended session is errNoSession. A store that cannot
// be read is an error of its own (a 500, not the login page); a store too
// full to write the session's last-seen time keeps the investigator
// logged in and says so on every page (principal.StoreFull): sending them
// to log in again would only fail the same way.
func (s *Server) authenticate(r *http.Request) (*principal, error) {
	token, ok := s.sessionToken(r)
	if !ok {
		return nil, errNoSession
	}
	key := sessionKey(token)
	now := s.cfg.Now()
	var p *principal
	var expired, touch bool
	err := s.db.View(func(tx store.Tx) error {
		v, err := tx.Get(bucketSessions, key)
		if errors.Is(err, store.ErrNotFound) {
			return errNoSession
		}
		if err != nil {
			return err
		}
		var ss session
		if err := json.Unmarshal(v, &ss); err != nil {
			expired = true
			return errNoSession
		}
		created, last := time.Unix(ss.Created, 0), time.Unix(ss.LastSeen, 0)
		if now.Sub(last) > s.cfg.SessionIdle || now.Sub(created) > s.cfg.SessionMax || now.Before(created.Add(-time.Minute)) {
			expired = true
			return errNoSession
		}
		acc, err := getAccount(tx, ss.Account)
		if errors.Is(err, ErrNoAccount) || err == nil && acc.Disabled {
			expired = true
			return errNoSession
		}
		if err != nil {
			return err
		}
		touch = now.Sub(last) >= s.touchEvery()
		p = &principal{Name: ss.Account, Recipient: acc.Recipient, MustChange: acc.MustChange, token: token}
		return nil
	})
	if expired {
		// Refused either way; a session left behind is pruned at a later
		// login (pruneSessions).
		if err := s.db.UpdateFreeing(func(tx store.Tx) error { return tx.Delete(bucketSessions, key) }); err != nil {
			s.log.Warn("investigator site: an ended session could not be deleted", "err", err.Error())
		}
	}
	if err != nil {
		return nil, err
	}
	if touch {
		err := s.db.Update(func(tx store.Tx) error {
			v, err := tx.Get(bucketSessions, key)
			if errors.Is(err, store.ErrNotFound) {
				return errNoSession // logged out meanwhile
			}
			if err != nil {
				return err
			}
			var ss session
			if err := json.Unmarshal(v, &ss); err != nil {
				return errNoSession
			}
			ss.LastSeen = now.Unix()
			nv, err := json.Marshal(ss)
			if err != nil {
				return err
			}
			return tx.Put(bucketSessions, key, nv)
		})
		switch {
		case errors.Is(err, store.ErrFull):
			// Logged in as before; the last-seen time is written again at
			// the next request.
			s.log.Warn("investigator site: the store is full: a session's last-seen time was not written")
			p.StoreFull = true
		case err != nil:
			return nil, err
		}
	}
	return p, nil
}

// pruneSessions deletes every session past its idle or absolute time-out:
// those whose cookie never comes back would otherwise stay.
func pruneSessions(tx store.Tx, now time.Time, idle, max time.Duration) error {
	var keys [][]byte
	err := tx.ForEach(bucketSessions, nil, func(k, v []byte) error {
		var ss session
		if json.Unmarshal(v, &ss) != nil || now.Sub(time.Unix(ss.LastSeen, 0)) > idle || now.Sub(time.Unix(ss.Created, 0)) > max {
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := tx.Delete(bucketSessions, k); err != nil {
			return err
		}
	}
	return nil
}

// endSession deletes the request's session.
func endSession(tx store.Tx, token string) error {
	return tx.Delete(bucketSessions, sessionKey(token))
}
