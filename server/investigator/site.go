package investigator

import (
	"bytes"
	"crypto/ed25519"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"testimony/crypto"
	"testimony/records"
	"testimony/server/web"
	"testimony/store"
)

//go:embed templates/investigator static/investigator.css
var investigatorFS embed.FS

// Config holds the settings of the investigator site. Zero values take the
// defaults of [Config.withDefaults].
type Config struct {
	// Escrow lists age public keys every new item (a reply too) is
	// encrypted to besides the active investigators' keys.
	Escrow []string
	// SecureCookies marks cookies Secure (HTTPS, or an onion address,
	// which Tor Browser treats as a secure context).
	SecureCookies bool
	// SessionIdle and SessionMax are the investigators' session time-outs.
	SessionIdle time.Duration
	SessionMax  time.Duration
	// LoginFailures is how many failed logins the site takes in ten
	// minutes, over all accounts, before it refuses logins for a while
	// (see loginWindow); zero means 50.
	LoginFailures int
	// Now is the clock; tests inject a fake one.
	Now func() time.Time
	// SigningKey signs the listing of each bundle; the day roots it
	// signed give the proofs bundles carry (records.Seal). Nil: bundles
	// carry no evidence.
	SigningKey ed25519.PrivateKey
	// argon are the argon2id costs of new passphrase hashes and of the
	// stand-in work for unknown accounts; zero means crypto.DefaultArgon2.
	// Tests set cheap ones.
	argon crypto.Argon2Params
}

func (c Config) withDefaults() Config {
	if c.SessionIdle == 0 {
		c.SessionIdle = 30 * time.Minute
	}
	if c.SessionMax == 0 {
		c.SessionMax = 12 * time.Hour
	}
	if c.LoginFailures == 0 {
		c.LoginFailures = defaultLoginFailures
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.argon == (crypto.Argon2Params{}) {
		c.argon = crypto.DefaultArgon2
	}
	return c
}

// Site is the investigator site: its templates, loaded once by [New], and
// the state of its logins.
type Site struct {
	cfg Config
	db  store.Store
	key *crypto.ServerKey
	log *slog.Logger
	web web.Site // the handler adapter and the middleware (package web)

	// argon are the argon2id costs of new passphrase hashes (cfg.argon).
	argon crypto.Argon2Params
	// dummy is the hash checked for an unknown account, so that it costs
	// the same work as a known one; dummyTOTP likewise. The hash is made
	// at the first login (dummyHash): made in New, its argon2id memory
	// would be held by every serve from its start.
	dummyOnce sync.Once
	dummy     *crypto.PassphraseHash
	dummyErr  error
	dummyTOTP string
	// argonSlots bounds concurrent argon2id runs: each takes tens of MiB,
	// and a flood of logins must not exhaust memory.
	argonSlots chan struct{}
	// failures are the site's latest failed logins (listener back-off).
	failures failureWindow
	// backoff holds each account name's failed logins (per-name back-off).
	backoff nameBackoff
	pages   map[string]*template.Template
	errPage *template.Template
	// hookLoginChecked, if set, runs between the check of the secrets and
	// the transaction that records the login. Tests only.
	hookLoginChecked func()
}

// maxArgon is how many argon2id hashes may run at once.
const maxArgon = 2

// New makes the investigator site over db, parsing its templates and
// making the stand-in secrets of unknown accounts. log receives only
// allow-listed fields (package web's logging.go).
func New(cfg Config, db store.Store, key *crypto.ServerKey, log *slog.Logger) (*Site, error) {
	if db == nil || key == nil {
		return nil, errors.New("investigator site: a store and a server key are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Site{cfg: cfg.withDefaults(), db: db, key: key, log: log, argonSlots: make(chan struct{}, maxArgon)}
	s.argon = s.cfg.argon
	s.dummyTOTP = records.NewTOTPSecret()
	var err error
	if s.pages, s.errPage, err = parseInvestigatorTemplates(); err != nil {
		return nil, fmt.Errorf("investigator site: %w", err)
	}
	s.web = web.Site{Log: log, ErrorPage: s.renderError, FullMsg: "inv.error.full", UnavailableMsg: "inv.error.unavailable"}
	return s, nil
}

// dummyHash is the stand-in passphrase hash of unknown accounts, made
// the first time with the site's argon2id costs.
func (s *Site) dummyHash() (*crypto.PassphraseHash, error) {
	s.dummyOnce.Do(func() {
		pass, err := crypto.GeneratePassphrase()
		if err == nil {
			s.dummy, err = crypto.HashPassphrase(pass, s.argon)
		}
		s.dummyErr = err
	})
	return s.dummy, s.dummyErr
}

// today is the current UTC day.
func (s *Site) today() string { return s.cfg.Now().UTC().Format(time.DateOnly) }

// recipients is the set new items are encrypted to (web.Recipients).
func (s *Site) recipients() (*crypto.Recipients, error) { return web.Recipients(s.db, s.cfg.Escrow) }

// handle adapts a handler of the site (web.Site.Handle).
func (s *Site) handle(h web.HandlerFunc) http.Handler { return s.web.Handle(h) }

// invFuncs are the investigator templates' functions: t turns a catalog
// key into its (English) text.
var invFuncs = template.FuncMap{"t": invText}

func parseInvestigatorTemplates() (map[string]*template.Template, *template.Template, error) {
	base, err := template.New("layout.html").Funcs(invFuncs).ParseFS(investigatorFS, "templates/investigator/layout.html")
	if err != nil {
		return nil, nil, err
	}
	pages := map[string]*template.Template{}
	names, err := fs.Glob(investigatorFS, "templates/investigator/*.html")
	if err != nil {
		return nil, nil, err
	}
	for _, n := range names {
		short := strings.TrimSuffix(strings.TrimPrefix(n, "templates/investigator/"), ".html")
		if short == "layout" || short == "error" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(investigatorFS, n)
		if err != nil {
			return nil, nil, err
		}
		pages[short] = t
	}
	errPage, err := template.New("error.html").Funcs(invFuncs).ParseFS(investigatorFS, "templates/investigator/error.html")
	if err != nil {
		return nil, nil, err
	}
	return pages, errPage, nil
}

// accounts returns the account manager with the site's argon2id costs and
// clock.
func (s *Site) accounts() *records.Accounts {
	a := records.NewAccounts(s.db, s.key)
	a.Params = s.argon
	a.Now = s.cfg.Now
	a.Escrow = s.cfg.Escrow
	return a
}

// invPage is what every investigator page template gets.
type invPage struct {
	Title string
	User  *principal
	Flash string
	Error string
	Data  any
}

// render writes page name with status. The page is rendered to memory
// first, so a template error becomes a clean 500, not half a page.
func (s *Site) render(w http.ResponseWriter, status int, name string, p invPage) error {
	t := s.pages[name]
	if t == nil {
		return &web.HTTPError{Status: http.StatusInternalServerError, Msg: "error.internal"}
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", p); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(b.Bytes())
	return err
}

// renderError writes the investigator site's error page for e, in
// English. It never shows e.Err.
func (s *Site) renderError(w http.ResponseWriter, r *http.Request, e *web.HTTPError) {
	status, message := e.Status, web.Translate(web.DefaultLang, e.Msg)
	var b bytes.Buffer
	if s.errPage.Execute(&b, struct {
		Status  int
		Message string
	}{status, message}) != nil {
		b.Reset()
		b.WriteString("<!doctype html><title>error</title><h1>error</h1>")
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Del("Content-Length")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// investigatorCSS serves the site's style sheet.
func (s *Site) investigatorCSS(w http.ResponseWriter, r *http.Request) error {
	b, err := investigatorFS.ReadFile("static/investigator.css")
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	_, err = w.Write(b)
	return err
}

// authed is a handler for a logged-in investigator.
type authed func(w http.ResponseWriter, r *http.Request, p *principal) error

// requireSession wraps h: without a valid session a GET is sent to the
// login page and anything else is refused. An investigator who must
// choose a new passphrase is sent to that page first, unless allowFirst.
func (s *Site) requireSession(allowFirst bool, h authed) web.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, err := s.authenticate(r)
		if err != nil && !errors.Is(err, records.ErrNoSession) {
			return err // the store failed: not a reason to log in again
		}
		if err != nil {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/login", http.StatusSeeOther)
				return nil
			}
			return &web.HTTPError{Status: http.StatusUnauthorized, Msg: "inv.error.session"}
		}
		if p.MustChange && !allowFirst {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/passphrase", http.StatusSeeOther)
				return nil
			}
			return &web.HTTPError{Status: http.StatusForbidden, Msg: "inv.error.mustchange"}
		}
		return h(w, r, p)
	}
}

// maxForm bounds an investigator form's body (url-encoded).
const maxForm = 256 << 10

// parseForm reads a url-encoded form body, bounded. Never a multipart one:
// those may spill to temp files.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return &web.HTTPError{Status: http.StatusBadRequest, Msg: "inv.error.form"}
	}
	return nil
}
