package server

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"sync"

	"testimony/crypto"
	"testimony/records"
)

//go:embed templates/investigator static/investigator.css
var investigatorFS embed.FS

// investigatorSite is the investigator site's state, made on first use.
type investigatorSite struct {
	once sync.Once
	// argon are the argon2id costs of new passphrase hashes and of the
	// stand-in work for unknown accounts; zero means crypto.DefaultArgon2.
	// Tests set cheap ones before the first request.
	argon crypto.Argon2Params
	// dummy is the hash checked for an unknown account, so that it costs
	// the same work as a known one; dummyTOTP likewise.
	dummy     *crypto.PassphraseHash
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
	err     error
}

// maxArgon is how many argon2id hashes may run at once.
const maxArgon = 2

// site returns the investigator site's state, making it the first time.
func (s *Server) site() *investigatorSite {
	v := &s.inv
	v.once.Do(func() {
		if v.argon == (crypto.Argon2Params{}) {
			v.argon = crypto.DefaultArgon2
		}
		pass, err := crypto.GeneratePassphrase()
		if err == nil {
			v.dummy, err = crypto.HashPassphrase(pass, v.argon)
		}
		v.dummyTOTP = records.NewTOTPSecret()
		v.argonSlots = make(chan struct{}, maxArgon)
		if err == nil {
			v.pages, v.errPage, err = parseInvestigatorTemplates()
		}
		v.err = err
	})
	return v
}

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
func (s *Server) accounts() *records.Accounts {
	a := records.NewAccounts(s.db, s.key)
	a.Params = s.site().argon
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
func (s *Server) render(w http.ResponseWriter, status int, name string, p invPage) error {
	site := s.site()
	if site.err != nil {
		return site.err
	}
	t := site.pages[name]
	if t == nil {
		return &HTTPError{Status: http.StatusInternalServerError, Msg: "error.internal"}
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

// renderInvestigatorError writes the investigator site's error page; the
// error page code of the middleware calls it for requests of that site.
func (s *Server) renderInvestigatorError(w http.ResponseWriter, status int, message string) {
	site := s.site()
	var b bytes.Buffer
	if site.err != nil || site.errPage.Execute(&b, struct {
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
func (s *Server) investigatorCSS(w http.ResponseWriter, r *http.Request) error {
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
func (s *Server) requireSession(allowFirst bool, h authed) handlerFunc {
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
			return &HTTPError{Status: http.StatusUnauthorized, Msg: "inv.error.session"}
		}
		if p.MustChange && !allowFirst {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/passphrase", http.StatusSeeOther)
				return nil
			}
			return &HTTPError{Status: http.StatusForbidden, Msg: "inv.error.mustchange"}
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
		return &HTTPError{Status: http.StatusBadRequest, Msg: "inv.error.form"}
	}
	return nil
}
