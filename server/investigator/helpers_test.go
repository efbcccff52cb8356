package investigator

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"testimony/crypto"
	"testimony/internal/testutil"
	"testimony/records"
	"testimony/store"
)

// fakeClock is the injected clock of the investigator tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// cheapArgon keeps the tests fast; every path of a test uses the same.
var cheapArgon = crypto.Argon2Params{Time: 1, Memory: 8 << 10, Threads: 1}

type invEnv struct {
	t     testing.TB
	s     *Site
	db    *store.DB
	clock *fakeClock
	ts    *httptest.Server
	h     http.Handler
}

func newInvEnv(t testing.TB, cfg Config) *invEnv {
	t.Helper()
	return newInvEnvOn(t, cfg, store.Options{}, nil)
}

// newInvEnvOn is newInvEnv with the store opened with o, logging to log
// (nil: nowhere).
func newInvEnvOn(t testing.TB, cfg Config, o store.Options, log *slog.Logger) *invEnv {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "t.db"), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clock := &fakeClock{t: time.Date(2026, 11, 28, 12, 0, 10, 0, time.UTC)}
	cfg.Now = clock.Now
	if cfg.argon == (crypto.Argon2Params{}) {
		cfg.argon = cheapArgon
	}
	s, err := New(cfg, db, crypto.NewServerKeyForTest(7), log)
	if err != nil {
		t.Fatal(err)
	}
	e := &invEnv{t: t, s: s, db: db, clock: clock, h: s.Handler()}
	e.ts = httptest.NewServer(e.h)
	t.Cleanup(e.ts.Close)
	return e
}

// investigator is a test account with its age identity and enrolment.
type investigator struct {
	*records.Enrolment
	id   *crypto.Identity
	pass string // current passphrase
}

func (e *invEnv) addInvestigator(name string) *investigator {
	e.t.Helper()
	id, err := crypto.GenerateIdentity(false)
	if err != nil {
		e.t.Fatal(err)
	}
	en, err := e.s.accounts().Add(name, id.Recipient)
	if err != nil {
		e.t.Fatal(err)
	}
	return &investigator{Enrolment: en, id: id, pass: en.Passphrase}
}

// oathtool computes the TOTP code of secret at t with Debian's oathtool,
// an implementation independent of ours.
func oathtool(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	out, err := exec.Command("oathtool", "--totp", "-b", secret, "--now", at.UTC().Format("2006-01-02 15:04:05 UTC")).Output()
	if err != nil {
		t.Fatalf("oathtool: %v (apt-get install oathtool)", err)
	}
	return strings.TrimSpace(string(out))
}

// client is a browser-like client without redirects followed, so tests see
// each answer; it keeps the session cookie by hand.
type client struct {
	e      *invEnv
	cookie *http.Cookie
}

func (e *invEnv) client() *client { return &client{e: e} }

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (c *client) do(method, path string, form url.Values, hdr map[string]string) resp {
	c.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.e.ts.URL+path, body)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.e.t.Fatal(err)
	}
	for _, ck := range res.Cookies() {
		if ck.Name == c.e.s.cookieName() {
			if ck.MaxAge < 0 {
				c.cookie = nil
			} else {
				c.cookie = ck
			}
		}
	}
	return resp{res.StatusCode, res.Header, b}
}

func (c *client) get(path string) resp { return c.do("GET", path, nil, nil) }

func (c *client) post(path string, form url.Values) resp { return c.do("POST", path, form, nil) }

// login posts the login form with a code from oathtool at the fake clock.
func (c *client) login(inv *investigator) resp {
	c.e.t.Helper()
	return c.post("/login", url.Values{"account": {inv.Account}, "passphrase": {inv.pass},
		"code": {oathtool(c.e.t, inv.TOTPSecret, c.e.clock.Now())}})
}

// loginReady logs in and sets a new passphrase if the account must, so the
// client can use the site.
func (c *client) loginReady(inv *investigator) {
	c.e.t.Helper()
	r := c.login(inv)
	if r.status != http.StatusSeeOther {
		c.e.t.Fatalf("login %s: status %d: %s", inv.Account, r.status, r.body)
	}
	if r.header.Get("Location") == "/passphrase" {
		np := inv.pass + " and more"
		r = c.post("/passphrase", url.Values{"current": {inv.pass}, "new": {np}, "confirm": {np}})
		if r.status != http.StatusSeeOther {
			c.e.t.Fatalf("first passphrase change: %d: %s", r.status, r.body)
		}
		inv.pass = np
	}
}

// plantItem stores an encrypted testimony of source as the witness site
// would, to the current recipient set.
func (e *invEnv) plantItem(source, kind, text string) store.Item {
	e.t.Helper()
	rs, err := e.s.recipients()
	if err != nil {
		e.t.Fatal(err)
	}
	if err := records.RememberRecipientSet(e.s.db, rs); err != nil { // as the witness site does in the commit
		e.t.Fatal(err)
	}
	w := e.db.NewItem()
	day := e.s.today()
	env, err := crypto.NewEnvelope(w, rs, &crypto.Manifest{Kind: kind, Day: day, Lang: "ru",
		Form: crypto.FormRef{ID: "default", Version: 1}, Answers: map[string]crypto.Answer{"story": crypto.TextAnswer(text)}})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := env.Close(); err != nil {
		e.t.Fatal(err)
	}
	it, err := w.Commit(store.Item{Kind: kind, Day: day, Source: source, Recipients: rs.Fingerprint()})
	if err != nil {
		e.t.Fatal(err)
	}
	return it
}

// plantSource records a source with a reply key, as the witness site does.
func (e *invEnv) plantSource(source string) *crypto.Identity {
	e.t.Helper()
	id, err := crypto.GenerateIdentity(false)
	if err != nil {
		e.t.Fatal(err)
	}
	err = e.db.Update(func(tx store.Tx) error {
		return tx.Put(records.BucketSources, []byte(source), []byte(`{"reply_recipient":"`+id.Recipient+`","day":"`+e.s.today()+`"}`))
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func mustContain(t *testing.T, b []byte, s string) {
	t.Helper()
	if !bytes.Contains(b, []byte(s)) {
		t.Fatalf("body lacks %q:\n%s", s, b)
	}
}

func TestMain(m *testing.M) { testutil.Main(m) }
