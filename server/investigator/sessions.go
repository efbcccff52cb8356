package investigator

import (
	"errors"
	"net/http"
	"time"

	"testimony/records"
	"testimony/store"
)

// cookieName is the session cookie's name: with the __Host- prefix when
// the cookie is Secure (the prefix requires Secure, Path=/ and no Domain).
func (s *Site) cookieName() string {
	if s.cfg.SecureCookies {
		return "__Host-session"
	}
	return "session"
}

func (s *Site) setSessionCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: token, Path: "/", HttpOnly: true,
		Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
}

func (s *Site) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
}

// sessionToken returns the request's session token, if it has a
// well-formed one.
func (s *Site) sessionToken(r *http.Request) (string, bool) {
	c, err := r.Cookie(s.cookieName())
	if err != nil {
		return "", false
	}
	if !records.WellFormedToken(c.Value) {
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

func (s *Site) touchEvery() time.Duration {
	return min(sessionTouchEvery, s.cfg.SessionIdle/4)
}

// authenticate returns the investigator of the request's session. An
// expired session (idle or absolute time-out) is deleted; a session of a
// disabled or removed account is refused and deleted.
//
// Only a missing or ended session is records.ErrNoSession. A store that cannot
// be read is an error of its own (a 500, not the login page); a store too
// full to write the session's last-seen time keeps the investigator
// logged in and says so on every page (principal.StoreFull): sending them
// to log in again would only fail the same way.
func (s *Site) authenticate(r *http.Request) (*principal, error) {
	token, ok := s.sessionToken(r)
	if !ok {
		return nil, records.ErrNoSession
	}
	now := s.cfg.Now()
	var p *principal
	var expired, touch bool
	err := s.db.View(func(tx store.Tx) error {
		ss, err := records.GetSession(tx, token)
		var de *records.DamagedError
		switch {
		case errors.Is(err, store.ErrNotFound):
			return records.ErrNoSession
		case errors.As(err, &de):
			expired = true
			return records.ErrNoSession
		case err != nil:
			return err
		}
		created, last := time.Unix(ss.Created, 0), time.Unix(ss.LastSeen, 0)
		if now.Sub(last) > s.cfg.SessionIdle || now.Sub(created) > s.cfg.SessionMax || now.Before(created.Add(-time.Minute)) {
			expired = true
			return records.ErrNoSession
		}
		acc, err := records.GetAccount(tx, ss.Account)
		if errors.Is(err, records.ErrNoAccount) || err == nil && acc.Disabled {
			expired = true
			return records.ErrNoSession
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
		// login (records.PruneSessions).
		if err := s.db.UpdateFreeing(func(tx store.Tx) error { return records.EndSession(tx, token) }); err != nil {
			s.log.Warn("investigator site: an ended session could not be deleted", "err", err.Error())
		}
	}
	if err != nil {
		return nil, err
	}
	if touch {
		err := s.db.Update(func(tx store.Tx) error { return records.TouchSession(tx, token, now) })
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
