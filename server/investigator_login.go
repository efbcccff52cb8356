package server

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"testimony/crypto"
	"testimony/store"
)

// Back-off: after loginFreeFailures failed logins in a row, an account
// refuses logins for loginBackoffBase, doubling with each further failure
// up to loginBackoffMax. It is per account, not per client address: behind
// Tor every client is 127.0.0.1.
const (
	loginFreeFailures = 5
	loginBackoffBase  = 30 * time.Second
	loginBackoffMax   = time.Hour
)

func backoffFor(failures int) time.Duration {
	if failures < loginFreeFailures {
		return 0
	}
	d := loginBackoffBase
	for i := loginFreeFailures; i < failures && d < loginBackoffMax; i++ {
		d *= 2
	}
	return min(d, loginBackoffMax)
}

// Listener back-off: besides each account's own, the investigator site as
// a whole takes at most Config.LoginFailures failed logins in loginWindow,
// over all accounts and unknown names together. Past that it refuses every
// login, without looking at it, until the oldest failure leaves the
// window: someone guessing across many account names at once gets a few
// hundred tries an hour, not as many as the argon2id slots allow. The
// refusal says so (status 429); it depends on no account, so it tells
// nothing about one. Kept in memory: a restart forgets it.
const (
	loginWindow          = 10 * time.Minute
	defaultLoginFailures = 50
	listenerBusyLogEvery = time.Minute
)

// failureWindow holds the times of the latest failed logins, oldest first.
type failureWindow struct {
	mu     sync.Mutex
	times  []time.Time
	logged time.Time // of the last "refusing logins" log line
}

// busy reports whether max failures fall within loginWindow before now.
func (f *failureWindow) busy(now time.Time, max int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expire(now)
	return len(f.times) >= max
}

// add records a failure at now, keeping at most max.
func (f *failureWindow) add(now time.Time, max int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.expire(now)
	f.times = append(f.times, now)
	if n := len(f.times); n > max {
		f.times = append(f.times[:0], f.times[n-max:]...)
	}
}

func (f *failureWindow) expire(now time.Time) {
	i := 0
	for i < len(f.times) && !f.times[i].After(now.Add(-loginWindow)) {
		i++
	}
	f.times = append(f.times[:0], f.times[i:]...)
}

// shouldLog reports whether a "refusing logins" line is due: one a minute.
func (f *failureWindow) shouldLog(now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if now.Sub(f.logged) < listenerBusyLogEvery && !now.Before(f.logged) {
		return false
	}
	f.logged = now
	return true
}

// listenerBusy reports whether the listener back-off is on, and logs it,
// once a minute at most.
func (s *Server) listenerBusy() bool {
	now := s.cfg.Now()
	if !s.inv.failures.busy(now, s.cfg.LoginFailures) {
		return false
	}
	if s.inv.failures.shouldLog(now) {
		s.log.Warn("investigator site: too many failed logins in the last minutes, refusing logins for now",
			"event", "login_listener_backoff", "count", s.cfg.LoginFailures)
	}
	return true
}

// loginPaused is the answer to every login while the listener back-off is
// on: the same for every account name.
func (s *Server) loginPaused(w http.ResponseWriter) error {
	return s.render(w, http.StatusTooManyRequests, "login", invPage{Title: invText("inv.title.login"), Error: invText("inv.login.busy")})
}

// loginFailed is the one answer to every failed login, whatever the
// reason: unknown account, wrong passphrase, wrong or reused code,
// disabled account, back-off. The body is the same bytes every time.
func (s *Server) loginFailed(w http.ResponseWriter) error {
	return s.render(w, http.StatusUnauthorized, "login", invPage{Title: invText("inv.title.login"), Error: invText("inv.login.failed")})
}

func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.authenticate(r); err == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	return s.render(w, http.StatusOK, "login", invPage{Title: invText("inv.title.login")})
}

// acquireArgon takes one of the argon2id slots, or fails when the client
// goes away first.
func (s *Server) acquireArgon(r *http.Request) (release func(), err error) {
	slots := s.site().argonSlots
	select {
	case slots <- struct{}{}:
		return func() { <-slots }, nil
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
}

// login checks account, passphrase and TOTP code. An unknown account costs
// the same argon2id and TOTP work as a known one, and every failure gets
// the same page and status. The accepted TOTP step is stored in the same
// transaction that creates the session, and a step at or before the last
// accepted one is refused, so a code works once.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	site := s.site()
	name := r.PostForm.Get("account")
	pass := r.PostForm.Get("passphrase")
	code := strings.ReplaceAll(strings.TrimSpace(r.PostForm.Get("code")), " ", "")

	// Checked before and after the wait for an argon2id slot: logins
	// queued behind a flood of guesses are refused too.
	if s.listenerBusy() {
		return s.loginPaused(w)
	}
	release, err := s.acquireArgon(r)
	if err != nil {
		return err
	}
	if s.listenerBusy() {
		release()
		return s.loginPaused(w)
	}
	now := s.cfg.Now()
	var acc *account
	err = s.db.View(func(tx store.Tx) error {
		var err error
		acc, err = getAccount(tx, name)
		return err
	})
	if err != nil && !errors.Is(err, ErrNoAccount) {
		release()
		return err
	}
	hash, secret := site.dummy, site.dummyTOTP
	if acc != nil {
		hash = acc.Passphrase
		if sec, err := s.accounts().openTOTP(name, acc.TOTP); err == nil {
			secret = sec
		} else {
			s.log.Error("login: stored TOTP secret unusable", "account", name, "err", err.Error())
			acc = nil // fail like an unknown account; the work stays the same
		}
	}
	passOK := crypto.VerifyPassphrase(hash, pass)
	step := totpMatch(secret, code, now)
	release()

	var token string
	var mustChange bool
	ok := false
	// The same writes for every failure, known account or not: the login
	// state record of the account (or of all unknown names) and an audit
	// entry.
	err = s.db.Update(func(tx store.Tx) error {
		ok = false
		cur, err := getAccount(tx, name)
		if err != nil && !errors.Is(err, ErrNoAccount) {
			return err
		}
		known := err == nil && acc != nil
		key, actor := name, name
		if !known {
			key, actor = unknownStateKey, unknownAccount
		}
		st, err := getLoginState(tx, key)
		if err != nil {
			return err
		}
		good := known && passOK && step != 0 && step > st.LastStep && !cur.Disabled && now.Unix() >= st.BackoffUntil
		if !good {
			st.fail(now)
			if err := putLoginState(tx, key, st); err != nil {
				return err
			}
			return appendAudit(tx, now, auditEntry{Account: actor, Event: "login_failed"})
		}
		st.LastStep, st.Failures, st.BackoffUntil = step, 0, 0
		if err := putLoginState(tx, key, st); err != nil {
			return err
		}
		if old, had := s.sessionToken(r); had {
			if err := endSession(tx, old); err != nil { // no session fixation
				return err
			}
		}
		if err := pruneSessions(tx, now, s.cfg.SessionIdle, s.cfg.SessionMax); err != nil {
			return err
		}
		if token, err = newSession(tx, name, now); err != nil {
			return err
		}
		mustChange, ok = cur.MustChange, true
		return appendAudit(tx, now, auditEntry{Account: name, Event: "login"})
	})
	if err != nil {
		return err
	}
	if !ok {
		s.inv.failures.add(now, s.cfg.LoginFailures)
		return s.loginFailed(w)
	}
	s.log.Info("investigator logged in", "account", name, "event", "login")
	if acc.Passphrase.Params != site.argon {
		// The costs were raised since this hash was made: rehash now that
		// the passphrase is known to be right (only after a full success,
		// so the extra work tells nothing to a guesser).
		if err := s.rehash(r, name, pass); err != nil {
			s.log.Error("login: rehashing the passphrase with the new costs failed", "account", name, "err", err.Error())
		}
	}
	s.setSessionCookie(w, token)
	to := "/"
	if mustChange {
		to = "/passphrase"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

// logout ends the session on the server, not only in the browser.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, p *principal) error {
	err := s.db.Update(func(tx store.Tx) error {
		if err := endSession(tx, p.token); err != nil {
			return err
		}
		return appendAudit(tx, s.cfg.Now(), auditEntry{Account: p.Name, Event: "logout"})
	})
	if err != nil {
		return err
	}
	s.clearSessionCookie(w)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

// rehash replaces an account's passphrase hash by one with the site's
// current argon2id costs.
func (s *Server) rehash(r *http.Request, name, pass string) error {
	release, err := s.acquireArgon(r)
	if err != nil {
		return err
	}
	h, err := crypto.HashPassphrase(pass, s.site().argon)
	release()
	if err != nil {
		return err
	}
	return s.db.Update(func(tx store.Tx) error {
		acc, err := getAccount(tx, name)
		if err != nil {
			return err
		}
		acc.Passphrase = h
		return putAccount(tx, name, acc)
	})
}
