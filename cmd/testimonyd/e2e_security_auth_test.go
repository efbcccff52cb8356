//go:build e2e

package main

// Attacks on the investigators' login and sessions, against the real
// binary: TOTP replay, stale and skewed codes, per-account back-off,
// failures that look alike, session rotation, logout, idle and absolute
// expiry, and sessions that end when the console changes an account.

import (
	"bytes"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// secServeWith makes a data directory with the named investigators
// enrolled and starts serve on it.
func secServeWith(t *testing.T, names []string, extra ...string) (*daemon, string, map[string]*secAccount) {
	t.Helper()
	dir := newDataDir(t)
	accs := map[string]*secAccount{}
	for _, n := range names {
		accs[n] = secEnrol(t, dir, n)
	}
	return startServe(t, dir, nil, extra...), dir, accs
}

// TestSecurityTOTP: a code works once — a replay is refused even from a
// new session and even with the session the code opened; a code two steps
// old or two steps ahead is refused; a code one step old (clock skew) is
// accepted while that step is unused; once a later step was used, an
// earlier code is refused. Codes come from oathtool at chosen times; the
// test waits, if needed, so that all of it happens within one 30 s step.
func TestSecurityTOTP(t *testing.T) {
	d, _, accs := secServeWith(t, []string{"otp"})
	a := accs["otp"]
	step := secStepStart(t, 12*time.Second) // 8 logins, with room for a loaded machine
	at := func(k int) string { return secTOTP(t, a.Secret, step.Add(time.Duration(k)*30*time.Second+time.Second)) }
	refused := func(what, code, cookie string) {
		t.Helper()
		r, tok := secLogin(t, d.inv, a.Name, a.Passphrase, code, cookie)
		if r.status != http.StatusUnauthorized || tok != "" {
			t.Errorf("%s (code %s): %d %q, want 401 and no session", what, code, r.status, r.location())
		}
	}
	refused("a code from two steps ago", at(-2), "")
	refused("a code from two steps ahead", at(2), "")
	s1 := secMustLogin(t, d.inv, a, at(-1), "") // one step of skew, unused: accepted
	if !secAlive(t, d.inv, s1) {
		t.Fatal("the session of a fresh login does not work")
	}
	refused("the same code again, from a new client", at(-1), "")
	refused("the same code again, with the session it opened", at(-1), s1)
	s2 := secMustLogin(t, d.inv, a, at(0), "") // the current step is later: accepted
	refused("the current code replayed", at(0), "")
	refused("the current code replayed with its session", at(0), s2)
	refused("the skewed code after a later step was used", at(-1), "")
	if time.Since(step) >= 30*time.Second {
		t.Fatal("the TOTP step changed during the test; its results mean nothing")
	}
	secLogsHoldNone(t, d, a.Passphrase, a.Secret)
}

// TestSecurityBackoffPerAccount: an account hammered with wrong
// passphrases is backed off (its right passphrase and a fresh code are
// refused), while another account logs in at once, and the hammering
// leaves its failure page unchanged.
func TestSecurityBackoffPerAccount(t *testing.T) {
	d, _, accs := secServeWith(t, []string{"hammered", "bystander"})
	a, b := accs["hammered"], accs["bystander"]
	step := secStepStart(t, 6*time.Second)
	code := func(acc *secAccount) string { return secTOTP(t, acc.Secret, step.Add(time.Second)) }
	var first []byte
	for i := range 8 {
		r, _ := secLogin(t, d.inv, a.Name, a.Passphrase+" wrong", code(a), "")
		if r.status != http.StatusUnauthorized {
			t.Fatalf("wrong passphrase %d: %d", i, r.status)
		}
		if first == nil {
			first = r.body
		} else if !bytes.Equal(first, r.body) {
			t.Errorf("failure %d looks different from the first", i)
		}
	}
	r, tok := secLogin(t, d.inv, a.Name, a.Passphrase, code(a), "")
	if r.status != http.StatusUnauthorized || tok != "" {
		t.Fatalf("the hammered account logged in with its right secrets right after 8 failures: %d (no back-off)", r.status)
	}
	if !bytes.Equal(r.body, first) {
		t.Error("a backed-off login looks different from a wrong passphrase")
	}
	t0 := time.Now()
	tok = secMustLogin(t, d.inv, b, code(b), "")
	if took := time.Since(t0); took > 5*time.Second {
		t.Errorf("the other account's login took %v while the first was backed off", took)
	}
	if !secAlive(t, d.inv, tok) {
		t.Error("the other account's session does not work")
	}
	// Failures under unknown names do not back off a real account either.
	for range 6 {
		secLogin(t, d.inv, "nobody", "x", "123456", "")
	}
	step2 := secStepStart(t, 5*time.Second)
	secMustLogin(t, d.inv, b, secTOTP(t, b.Secret, step2.Add(31*time.Second)), "") // a later step than the last used
	secLogsHoldNone(t, d, a.Passphrase, b.Passphrase, a.Passphrase+" wrong")
}

// TestSecurityBackoffPerListener: with login_failures = 4, four failed
// logins under any names pause every login on the investigator site, the
// right secrets of an untouched account included, with a 429 page that
// says why and is the same whatever the name.
func TestSecurityBackoffPerListener(t *testing.T) {
	d, _, accs := secServeWith(t, []string{"spared"}, "--login-failures", "4")
	a := accs["spared"]
	step := secStepStart(t, 5*time.Second)
	for i, name := range []string{"nobody", "spared", "admin", "root"} {
		if r, _ := secLogin(t, d.inv, name, "guess", "123456", ""); r.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, r.status)
		}
	}
	r, tok := secLogin(t, d.inv, a.Name, a.Passphrase, secTOTP(t, a.Secret, step.Add(time.Second)), "")
	if r.status != http.StatusTooManyRequests || tok != "" || !bytes.Contains(r.body, []byte("Too many failed logins")) {
		t.Fatalf("right secrets after 4 failures on the site: %d, want 429 and a page that says why", r.status)
	}
	r2, _ := secLogin(t, d.inv, "nobody", "guess", "123456", "")
	if r2.status != r.status || !bytes.Equal(r2.body, r.body) {
		t.Error("the paused site answers an unknown name differently from a real account")
	}
	secLogsHoldNone(t, d, a.Passphrase)
}

// secMedian is the median of ds.
func secMedian(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// secTimingMargin is how far apart the medians of two kinds of failure may
// be, relative to the smaller one.
const secTimingMargin = 0.20

// secSameTiming fails unless the medians of every kind are within
// secTimingMargin of each other.
func secSameTiming(t *testing.T, took map[string][]time.Duration) {
	t.Helper()
	var kinds []string
	meds := map[string]time.Duration{}
	for k, ds := range took {
		kinds = append(kinds, k)
		meds[k] = secMedian(ds)
	}
	sort.Strings(kinds)
	var line []string
	for _, k := range kinds {
		line = append(line, fmt.Sprintf("%s %v (n=%d)", k, meds[k].Round(100*time.Microsecond), len(took[k])))
	}
	t.Logf("medians: %s", strings.Join(line, ", "))
	for i, x := range kinds {
		for _, y := range kinds[i+1:] {
			lo, hi := min(meds[x], meds[y]), max(meds[x], meds[y])
			if float64(hi-lo) > secTimingMargin*float64(lo) {
				t.Errorf("median time of %q (%v) and %q (%v) differ by more than %.0f%%", x, meds[x], y, meds[y], secTimingMargin*100)
			}
		}
	}
}

// secSameHeaders fails unless two responses have the same headers, but for
// Date.
func secSameHeaders(t *testing.T, what string, a, b http.Header) {
	t.Helper()
	a, b = a.Clone(), b.Clone()
	a.Del("Date")
	b.Del("Date")
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("%s: headers differ:\n%v\n%v", what, a, b)
	}
}

// TestSecurityLoginFailuresLookAlike: an unknown account, a wrong
// passphrase and a wrong code get the same status, the same headers and
// the same body bytes (the login page has no token or other per-request
// value to remove), and take the same time: 20 attempts of each kind,
// interleaved in random order, and the medians must be within 20% of each
// other (secTimingMargin).
func TestSecurityLoginFailuresLookAlike(t *testing.T) {
	// 60 failures: over the listener's default limit (50 in ten minutes).
	// Each account takes two failures a round, and a name's back-off
	// (after 5 failures) would skip the work: ten accounts take four each
	// (and one more the warm-up's two), and each round's unknown name is
	// a new one.
	const rounds = 20
	var victims []string
	for i := range rounds/2 + 1 {
		victims = append(victims, fmt.Sprintf("victim%d", i))
	}
	d, _, accs := secServeWith(t, victims, "--login-failures", "1000")
	a := accs[victims[0]]
	// A code that is none of the codes the server accepts now, for any
	// of the accounts.
	step := secStepStart(t, 0)
	good := map[string]bool{}
	for _, v := range victims {
		for k := -2; k <= 3; k++ {
			good[secTOTP(t, accs[v].Secret, step.Add(time.Duration(k)*30*time.Second))] = true
		}
	}
	wrong := "000000"
	for n := 0; good[wrong]; n++ {
		wrong = fmt.Sprintf("%06d", 111111*((n%9)+1)+n/9)
	}
	round := 0
	victim := func() *secAccount { return accs[victims[round/2]] }
	kinds := map[string]func() (secResp, string){
		"unknown account": func() (secResp, string) {
			return secLogin(t, d.inv, fmt.Sprintf("nosuchaccount%d", round), a.Passphrase, secTOTP(t, a.Secret, time.Now()), "")
		},
		"wrong passphrase": func() (secResp, string) {
			v := victim()
			return secLogin(t, d.inv, v.Name, v.Passphrase+"x", secTOTP(t, v.Secret, time.Now()), "")
		},
		"wrong code": func() (secResp, string) {
			v := victim()
			return secLogin(t, d.inv, v.Name, v.Passphrase, wrong, "")
		},
	}
	names := []string{"unknown account", "wrong passphrase", "wrong code"}
	// Warm up both paths once (page cache, argon2 memory), on the last
	// account.
	round = rounds
	for _, k := range names {
		kinds[k]()
	}
	took := map[string][]time.Duration{}
	var ref secResp
	for round = range rounds {
		order := slices.Clone(names)
		mrand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, k := range order {
			r, tok := kinds[k]()
			if r.status != http.StatusUnauthorized || tok != "" {
				t.Fatalf("%s: %d, want 401 and no session", k, r.status)
			}
			if ref.body == nil {
				ref = r
			} else {
				if !bytes.Equal(r.body, ref.body) {
					t.Errorf("round %d, %s: the body differs from the first failure's", round, k)
				}
				secSameHeaders(t, k, r.header, ref.header)
			}
			took[k] = append(took[k], r.took)
		}
	}
	secSameTiming(t, took)
	var secrets []string
	for _, v := range victims {
		secrets = append(secrets, accs[v].Passphrase, accs[v].Passphrase+"x")
	}
	secLogsHoldNone(t, d, secrets...)
}

// TestSecuritySessionRotationAndLogout: a login issues a new token — never
// the one the client sent, whether planted or a live session, which it
// ends; logout ends the session on the server, so replaying its cookie
// afterwards fails.
func TestSecuritySessionRotationAndLogout(t *testing.T) {
	d, _, accs := secServeWith(t, []string{"rot"})
	a := accs["rot"]
	step := secStepStart(t, 3*time.Second) // a step change keeps both codes within the skew
	planted := secRandomToken()
	if secAlive(t, d.inv, planted) {
		t.Fatal("a made-up token opens a session")
	}
	t1 := secMustLogin(t, d.inv, a, secTOTP(t, a.Secret, step.Add(time.Second)), planted)
	if t1 == planted {
		t.Fatal("the login kept the token the client planted (session fixation)")
	}
	if secAlive(t, d.inv, planted) || !secAlive(t, d.inv, t1) {
		t.Fatal("after login: the planted token works, or the new one does not")
	}
	// A second login from the same browser (next step's code, within the
	// skew) rotates the token and ends the old session.
	t2 := secMustLogin(t, d.inv, a, secTOTP(t, a.Secret, step.Add(31*time.Second)), t1)
	if t2 == t1 {
		t.Fatal("a login with a live session kept its token")
	}
	if secAlive(t, d.inv, t1) {
		t.Error("the session that was replaced by a new login still works")
	}
	if !secAlive(t, d.inv, t2) {
		t.Fatal("the new session does not work")
	}
	r := secPostForm(t, d.inv+"/logout", nil, t2)
	if r.status != http.StatusSeeOther || r.location() != "/login" {
		t.Fatalf("logout: %d %q", r.status, r.location())
	}
	cleared := false
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		cleared = cleared || (c.Name == secCookie && c.MaxAge < 0)
	}
	if !cleared {
		t.Error("logout does not clear the cookie in the browser")
	}
	if secAlive(t, d.inv, t2) {
		t.Error("the cookie of a logged-out session still works (logout did not end it on the server)")
	}
	if r := secPostForm(t, d.inv+"/logout", nil, t2); r.status != http.StatusUnauthorized {
		t.Errorf("logout with a dead session: %d, want 401", r.status)
	}
	secLogsHoldNone(t, d, a.Passphrase, planted, t1, t2)
}

// TestSecuritySessionIdleExpiry: with session_idle = 3s, a session used at
// once works and the same cookie, unused for 5 s, no longer does.
func TestSecuritySessionIdleExpiry(t *testing.T) {
	t.Parallel()
	d, _, accs := secServeWith(t, []string{"idle"}, "--session-idle", "3s", "--session-max", "1h")
	a := accs["idle"]
	step := secStepStart(t, 3*time.Second)
	tok := secMustLogin(t, d.inv, a, secTOTP(t, a.Secret, step.Add(time.Second)), "")
	if !secAlive(t, d.inv, tok) {
		t.Fatal("a fresh session does not work")
	}
	time.Sleep(5 * time.Second)
	if secAlive(t, d.inv, tok) {
		t.Error("a session idle for 5 s works with session_idle = 3s")
	}
}

// TestSecuritySessionAbsoluteExpiry: with session_idle = 65s and
// session_max = 75s, a session kept in use (a request at 62 s, which
// refreshes its idle clock: the server writes last-seen at most once a
// minute) still ends at 75 s, although it was idle for far less than 65 s.
// It takes 80 s, so it runs in parallel with the other slow tests.
func TestSecuritySessionAbsoluteExpiry(t *testing.T) {
	t.Parallel()
	d, _, accs := secServeWith(t, []string{"absolute"}, "--session-idle", "65s", "--session-max", "75s")
	a := accs["absolute"]
	step := secStepStart(t, 3*time.Second)
	t0 := time.Now()
	tok := secMustLogin(t, d.inv, a, secTOTP(t, a.Secret, step.Add(time.Second)), "")
	time.Sleep(time.Until(t0.Add(62 * time.Second)))
	if !secAlive(t, d.inv, tok) {
		t.Fatal("a session 62 s old, within both limits, does not work")
	}
	time.Sleep(time.Until(t0.Add(79 * time.Second)))
	if secAlive(t, d.inv, tok) {
		t.Error("a session 79 s old, used 17 s ago, works with session_max = 75s")
	}
}

// TestSecuritySessionsEndOnAccountChange: disable, reset-passphrase and
// reset-totp on the console each end the account's sessions. The console
// commands need the database, so serve is stopped for them and started
// again; a fourth account, untouched, keeps its session across the
// restart, which shows the restart alone ends none.
func TestSecuritySessionsEndOnAccountChange(t *testing.T) {
	names := []string{"disabled", "newpass", "newtotp", "untouched"}
	d, dir, accs := secServeWith(t, names)
	step := secStepStart(t, 5*time.Second)
	tokens := map[string]string{}
	for _, n := range names {
		tokens[n] = secMustLogin(t, d.inv, accs[n], secTOTP(t, accs[n].Secret, step.Add(time.Second)), "")
	}
	d.stop(t)
	mustRun(t, "investigator", "disable", "disabled", "--data", dir)
	mustRun(t, "investigator", "reset-passphrase", "newpass", "--data", dir)
	mustRun(t, "investigator", "reset-totp", "newtotp", "--data", dir)
	d = startServe(t, dir, nil)
	if !secAlive(t, d.inv, tokens["untouched"]) {
		t.Fatal("the untouched account's session ended with the restart: the test cannot tell anything")
	}
	for _, n := range names[:3] {
		if secAlive(t, d.inv, tokens[n]) {
			t.Errorf("after %q on the console, the account's old session still works", n)
		}
	}
}
