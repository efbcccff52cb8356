package investigator

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"testimony/crypto"
	"testimony/records"
	"testimony/store"
)

// Back-off per name: after loginFreeFailures failed logins in a row under
// one account name, logins under that name are refused for
// loginBackoffBase, doubling with each further failure up to
// loginBackoffMax. It is per name, not per client address: behind Tor
// every client is 127.0.0.1.
//
// A login tried during the back-off is refused at once, without argon2id
// work, without a write and without being counted: the back-off never
// outlasts loginBackoffMax from its start, however many tries are made
// meanwhile, so whoever knows an account's name can slow its logins but
// not lock it for long. A name's count is forgotten
// loginForget after its last counted failure, or at a successful login.
//
// Kept in memory, for known and unknown names alike (see [nameBackoff]),
// so a refusal tells nothing about whether an account exists; a restart,
// which only the operator can cause, forgets it. The failure count of an
// account is also kept in its login state, for "investigator list".
const (
	loginFreeFailures = 5
	loginBackoffBase  = 30 * time.Second
	loginBackoffMax   = 5 * time.Minute
	loginForget       = time.Hour
	// backoffNames bounds the names remembered. Only counted failures add
	// one, and the listener back-off lets through few of those.
	backoffNames = 4096
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

// nameBackoff holds the recent failed logins of each account name typed,
// under a salted hash of the name: the typed text may be a passphrase
// typed in the wrong field.
type nameBackoff struct {
	mu    sync.Mutex
	salt  []byte
	names map[[sha256.Size]byte]*nameFailures
}

type nameFailures struct {
	count int
	last  time.Time // of the last counted failure
	until time.Time // end of the back-off
}

func (b *nameBackoff) key(name string) [sha256.Size]byte {
	if b.salt == nil {
		b.salt = make([]byte, 32)
		rand.Read(b.salt)
		b.names = map[[sha256.Size]byte]*nameFailures{}
	}
	return sha256.Sum256(append(slices.Clip(b.salt), name...))
}

// busy reports whether logins under name are backed off at now.
func (b *nameBackoff) busy(name string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.names[b.key(name)]
	return f != nil && now.Before(f.until)
}

// fail counts a failed login under name at now, and starts its back-off
// when due. A failure during the back-off (a try that was let through
// before it began) is not counted: nothing extends a back-off.
func (b *nameBackoff) fail(name string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := b.key(name)
	f := b.names[k]
	if f == nil {
		b.prune(now)
		f = &nameFailures{}
		b.names[k] = f
	}
	if now.Before(f.until) {
		return
	}
	if now.Sub(f.last) > loginForget {
		f.count = 0
	}
	f.count++
	f.last = now
	if d := backoffFor(f.count); d > 0 {
		f.until = now.Add(d)
	}
}

// clear forgets name's failures, after a successful login.
func (b *nameBackoff) clear(name string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.names, b.key(name))
}

// prune makes room for one more name: it drops the names whose failures
// are forgotten, and if that is not enough, the one failed longest ago.
func (b *nameBackoff) prune(now time.Time) {
	if len(b.names) < backoffNames {
		return
	}
	var oldest [sha256.Size]byte
	var oldestAt time.Time
	for k, f := range b.names {
		if now.Sub(f.last) > loginForget && !now.Before(f.until) {
			delete(b.names, k)
		} else if oldestAt.IsZero() || f.last.Before(oldestAt) {
			oldest, oldestAt = k, f.last
		}
	}
	if len(b.names) >= backoffNames {
		delete(b.names, oldest)
	}
}

// sameSecrets reports whether an account's passphrase hash and TOTP
// secret in cur are those of acc, read earlier.
func sameSecrets(acc, cur *records.Account) bool {
	if acc == nil || cur == nil || acc.Passphrase == nil || cur.Passphrase == nil {
		return false
	}
	a, c := acc.Passphrase, cur.Passphrase
	return a.Alg == c.Alg && a.Params == c.Params && bytes.Equal(a.Salt, c.Salt) && bytes.Equal(a.Hash, c.Hash) &&
		bytes.Equal(acc.TOTP, cur.TOTP)
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
func (s *Site) listenerBusy() bool {
	now := s.cfg.Now()
	if !s.failures.busy(now, s.cfg.LoginFailures) {
		return false
	}
	if s.failures.shouldLog(now) {
		s.log.Warn("investigator site: too many failed logins in the last minutes, refusing logins for now",
			"event", "login_listener_backoff", "count", s.cfg.LoginFailures)
	}
	return true
}

// loginPaused is the answer to every login while the listener back-off is
// on: the same for every account name.
func (s *Site) loginPaused(w http.ResponseWriter) error {
	return s.render(w, http.StatusTooManyRequests, "login", invPage{Title: invText("inv.title.login"), Error: invText("inv.login.busy")})
}

// loginFailed is the one answer to every failed login, whatever the
// reason: unknown account, wrong passphrase, wrong or reused code,
// disabled account, back-off. The body is the same bytes every time.
func (s *Site) loginFailed(w http.ResponseWriter) error {
	return s.render(w, http.StatusUnauthorized, "login", invPage{Title: invText("inv.title.login"), Error: invText("inv.login.failed")})
}

func (s *Site) loginPage(w http.ResponseWriter, r *http.Request) error {
	// The stand-in hash is made here, before the first login, so that no
	// login pays for it.
	if _, err := s.dummyHash(); err != nil {
		return err
	}
	if _, err := s.authenticate(r); err == nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	return s.render(w, http.StatusOK, "login", invPage{Title: invText("inv.title.login")})
}

// acquireArgon takes one of the argon2id slots, or fails when the client
// goes away first.
func (s *Site) acquireArgon(r *http.Request) (release func(), err error) {
	slots := s.argonSlots
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
func (s *Site) login(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	// The stand-in hash, made at the first login if no login page was
	// shown before: ahead of the argon2id slot and the login's time.
	dummy, err := s.dummyHash()
	if err != nil {
		return err
	}
	name := r.PostForm.Get("account")
	pass := r.PostForm.Get("passphrase")
	code := strings.ReplaceAll(strings.TrimSpace(r.PostForm.Get("code")), " ", "")

	// Checked before and after the wait for an argon2id slot: logins
	// queued behind a flood of guesses are refused too.
	if s.listenerBusy() {
		return s.loginPaused(w)
	}
	// A name in its back-off is refused before any work: the same page as
	// every failure, for known and unknown names alike.
	if s.backoff.busy(name, s.cfg.Now()) {
		return s.loginFailed(w)
	}
	release, err := s.acquireArgon(r)
	if err != nil {
		return err
	}
	if s.listenerBusy() {
		release()
		return s.loginPaused(w)
	}
	if s.backoff.busy(name, s.cfg.Now()) {
		release()
		return s.loginFailed(w)
	}
	now := s.cfg.Now()
	var acc *records.Account
	err = s.db.View(func(tx store.Tx) error {
		var err error
		acc, err = records.GetAccount(tx, name)
		return err
	})
	if err != nil && !errors.Is(err, records.ErrNoAccount) {
		release()
		return err
	}
	hash, secret := dummy, s.dummyTOTP
	if acc != nil {
		hash = acc.Passphrase
		if sec, err := s.accounts().OpenTOTP(name, acc.TOTP); err == nil {
			secret = sec
		} else {
			s.log.Error("login: stored TOTP secret unusable", "account", name, "err", err.Error())
			acc = nil // fail like an unknown account; the work stays the same
		}
	}
	passOK := crypto.VerifyPassphrase(hash, pass)
	step := records.TOTPMatch(secret, code, now)
	release()
	if s.hookLoginChecked != nil {
		s.hookLoginChecked()
	}

	var token string
	var mustChange bool
	ok := false
	// The same writes for every failure, known account or not: the login
	// state record of the account (or of all unknown names) and an audit
	// entry.
	err = s.db.Update(func(tx store.Tx) error {
		ok = false
		cur, err := records.GetAccount(tx, name)
		if err != nil && !errors.Is(err, records.ErrNoAccount) {
			return err
		}
		// The secrets checked above must still be the account's: a reset
		// between the two transactions makes the old ones fail.
		known := err == nil && acc != nil && sameSecrets(acc, cur)
		key, actor := name, name
		if !known {
			key, actor = records.UnknownStateKey, records.UnknownAccount
		}
		st, err := records.GetLoginState(tx, key)
		if err != nil {
			return err
		}
		good := known && passOK && step != 0 && step > st.LastStep && !cur.Disabled
		if !good {
			st.Failures++
			if err := records.PutLoginState(tx, key, st); err != nil {
				return err
			}
			return records.AppendAudit(tx, now, records.AuditEntry{Account: actor, Event: "login_failed"})
		}
		st.LastStep, st.Failures = step, 0
		if err := records.PutLoginState(tx, key, st); err != nil {
			return err
		}
		if old, had := s.sessionToken(r); had {
			if err := records.EndSession(tx, old); err != nil { // no session fixation
				return err
			}
		}
		if err := records.PruneSessions(tx, now, s.cfg.SessionIdle, s.cfg.SessionMax); err != nil {
			return err
		}
		if token, err = records.NewSession(tx, name, now); err != nil {
			return err
		}
		mustChange, ok = cur.MustChange, true
		return records.AppendAudit(tx, now, records.AuditEntry{Account: name, Event: "login"})
	})
	if err != nil {
		return err
	}
	if !ok {
		s.failures.add(now, s.cfg.LoginFailures)
		s.backoff.fail(name, now)
		return s.loginFailed(w)
	}
	s.backoff.clear(name)
	s.log.Info("investigator logged in", "account", name, "event", "login")
	if acc.Passphrase.Params != s.argon {
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
func (s *Site) logout(w http.ResponseWriter, r *http.Request, p *principal) error {
	err := s.db.UpdateFreeing(func(tx store.Tx) error {
		if err := records.EndSession(tx, p.token); err != nil {
			return err
		}
		return records.AppendAudit(tx, s.cfg.Now(), records.AuditEntry{Account: p.Name, Event: "logout"})
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
func (s *Site) rehash(r *http.Request, name, pass string) error {
	release, err := s.acquireArgon(r)
	if err != nil {
		return err
	}
	h, err := crypto.HashPassphrase(pass, s.argon)
	release()
	if err != nil {
		return err
	}
	return s.db.Update(func(tx store.Tx) error {
		acc, err := records.GetAccount(tx, name)
		if err != nil {
			return err
		}
		acc.Passphrase = h
		return records.PutAccount(tx, name, acc)
	})
}
