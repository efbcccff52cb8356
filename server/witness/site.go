package witness

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"testimony/crypto"
	"testimony/form"
	"testimony/records"
	"testimony/server/web"
	"testimony/store"
)

//go:embed templates/witness static/witness.css
var witnessFS embed.FS

// Config holds the settings of the witness site. Zero values take the
// defaults of [Config.withDefaults].
type Config struct {
	// DataDir (required) holds the spool (DATA/spool) and the optional
	// questionnaire override (questionnaire.json) and catalogs (locales/).
	DataDir string
	// Escrow lists age public keys every new item is encrypted to besides
	// the active investigators' keys.
	Escrow []string
	// MaxUpload bounds one submission's body; MaxFile one attachment.
	MaxUpload int64
	MaxFile   int64
	// Organisation is who runs the service, shown on the pages.
	Organisation web.Organisation
	// Now is the clock; tests inject a fake one.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.MaxUpload == 0 {
		c.MaxUpload = 500 << 20
	}
	if c.MaxFile == 0 {
		c.MaxFile = c.MaxUpload
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Site is the witness site: what it is made of (templates, questionnaire,
// languages, style sheet), loaded once by [New], and the state of its
// uploads.
type Site struct {
	cfg Config
	db  store.Store
	key *crypto.ServerKey
	log *slog.Logger
	web web.Site // the handler adapter and the middleware (package web)
	lim limits

	pages map[string]*template.Template
	quest *form.Form
	lang  *witnessI18n // its languages (i18n.go)
	css   []byte

	// streams holds a token for each upload streamed into the store
	// (submit.go).
	streams chan struct{}
	// uploads is the memory budget of uploads (budget.go).
	uploads *memBudget
	// receipts are the receipt's parts by language (receipt.go).
	receipts receipts
}

// limits are the site's time and size limits that tests change on their
// own site; New sets the defaults.
type limits struct {
	// uploadWait is how long an upload waits for its memory (budget.go).
	uploadWait time.Duration
	// streamMin is the body size above which files are streamed
	// (sink.go).
	streamMin int64
	// threadFloor is the least time a thread page takes (thread.go).
	threadFloor time.Duration
}

// New makes the witness site over db, loading its questionnaire,
// catalogs, templates and style sheet (with the organisation's overrides
// in cfg.DataDir): a bad file is an error here, not at the first request.
// log receives only allow-listed fields (package web's logging.go).
func New(cfg Config, db store.Store, key *crypto.ServerKey, log *slog.Logger) (*Site, error) {
	if db == nil || key == nil || cfg.DataDir == "" {
		return nil, errors.New("witness site: a store, a server key and a data directory are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Site{cfg: cfg.withDefaults(), db: db, key: key, log: log,
		lim:     limits{uploadWait: defaultUploadWait, streamMin: defaultStreamMin, threadFloor: defaultThreadFloor},
		streams: make(chan struct{}, streamSlots), uploads: newMemBudget(uploadBudget)}
	if err := s.load(); err != nil {
		return nil, fmt.Errorf("witness site: %w", err)
	}
	s.web = web.Site{Log: log, ErrorPage: s.renderError, FullMsg: "error.unavailable"}
	if err := s.cleanSpool(); err != nil { // sink.go
		return nil, err
	}
	return s, nil
}

// load reads what the site is made of.
func (s *Site) load() error {
	var err error
	if s.quest, err = form.Load(s.cfg.DataDir); err != nil {
		return err
	}
	if s.lang, err = loadWitnessI18n(s.cfg.DataDir, s.quest); err != nil {
		return err
	}
	if s.css, err = witnessFS.ReadFile("static/witness.css"); err != nil {
		return err
	}
	s.pages, err = parseWitnessTemplatesWith(template.FuncMap{"t": s.lang.t})
	return err
}

// Check loads what the witness site is made of, with the organisation's
// overrides in dataDir (questionnaire.json, locales/), and says what is
// wrong with them: serve refuses to start on it and config check reports
// it, rather than the site failing at its first request.
func Check(dataDir string) error {
	s := &Site{cfg: Config{DataDir: dataDir}.withDefaults()}
	if err := s.load(); err != nil {
		return fmt.Errorf("witness site: %w", err)
	}
	return nil
}

// today is the current UTC day, the only time kept with an item.
func (s *Site) today() string { return s.cfg.Now().UTC().Format(time.DateOnly) }

// recipients is the set new items are encrypted to (web.Recipients).
func (s *Site) recipients() (*crypto.Recipients, error) { return web.Recipients(s.db, s.cfg.Escrow) }

// Accepting says whether the witness site takes testimonies now: it does
// only when the recipient set (every active investigator's key and the
// escrow keys) is usable. Otherwise it returns why not, and the site shows
// no form — the home page says the service is not accepting testimonies
// yet and how else to reach the group, and a post is refused before its
// body is read — so that no witness writes an account that is then thrown
// away.
func (s *Site) Accepting() error {
	_, err := s.recipients()
	return err
}

// handle adapts a handler of the site (web.Site.Handle).
func (s *Site) handle(h web.HandlerFunc) http.Handler { return s.web.Handle(h) }

// witnessFuncs are the template functions of the witness pages with the
// embedded catalog; a site binds t to its own catalog (witnessI18n.t).
var witnessFuncs = template.FuncMap{
	"t": web.Translate,
}

func parseWitnessTemplates() (map[string]*template.Template, error) {
	return parseWitnessTemplatesWith(witnessFuncs)
}

func parseWitnessTemplatesWith(funcs template.FuncMap) (map[string]*template.Template, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(witnessFS, "templates/witness/layout.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(witnessFS, "templates/witness/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		short := strings.TrimSuffix(strings.TrimPrefix(n, "templates/witness/"), ".html")
		if short == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(witnessFS, n)
		if err != nil {
			return nil, err
		}
		pages[short] = t
	}
	return pages, nil
}

// wPage is what every witness page template gets. Title and Message are
// message keys, translated in the template.
type wPage struct {
	Lang    string
	Dir     string
	Title   string
	Message string
	Status  int
	Data    any
	Path    string     // the request's path, for the language links
	Langs   []langLink // the language menu, set by renderWitness
	// Org is who runs the service in the page's language (nil if not
	// configured), and Closed is set while the service is not accepting
	// testimonies ([Site.Accepting]); both are set by renderWitness.
	Org    *web.OrgView
	Closed bool
	// Limit is the upload limit in the page's language ("500 МБ"), set by
	// renderWitness.
	Limit string
}

// renderWitness writes page name with status, in language lang (already
// checked by pageLang). The page is rendered to memory first, so a template
// error becomes a clean error page, not half a page.
func (s *Site) renderWitness(w http.ResponseWriter, status int, name, lang string, p wPage) error {
	return s.render(w, status, name, lang, p, s.Accepting() != nil)
}

// render is renderWitness with the service's state given: closed while it
// is not accepting testimonies.
func (s *Site) render(w http.ResponseWriter, status int, name, lang string, p wPage, closed bool) error {
	t := s.pages[name]
	if t == nil {
		return fmt.Errorf("no witness template %q", name)
	}
	p.Lang, p.Dir, p.Status = lang, textDir(lang), status
	if p.Title == "" {
		p.Title = "w." + name + ".pagetitle"
	}
	p.Langs = s.lang.langLinks(lang, name, p.Path, p.Data)
	p.Org = s.cfg.Organisation.In(lang)
	p.Closed = closed
	p.Limit = sizeText(s.lang.t, lang, s.cfg.MaxUpload)
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", p); err != nil {
		return err
	}
	writeHTML(w, status, b.Bytes())
	return nil
}

// writeHTML writes a witness page rendered to memory. A failed write is a
// client gone: nothing to do.
func writeHTML(w http.ResponseWriter, status int, page []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Add("Vary", "Accept-Language")
	h.Del("Content-Length")
	w.WriteHeader(status)
	w.Write(page)
}

// whileAccepting guards a route that shows or takes a testimony: while the
// service is not accepting testimonies ([Site.Accepting]), a GET shows
// the "not accepting yet" page in place of the form and a POST is refused
// with 503 before its body is read, so that nothing a witness writes is
// thrown away.
func (s *Site) whileAccepting(h web.HandlerFunc) web.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.Accepting() == nil {
			return h(w, r)
		}
		if r.Method == http.MethodPost {
			// Tell the client not to send the rest: the body is never read.
			w.Header().Set("Connection", "close")
			return &web.HTTPError{Status: http.StatusServiceUnavailable, Msg: "error.notaccepting"}
		}
		return s.renderWitness(w, http.StatusServiceUnavailable, "closed", s.langOf(r, ""), wPage{Path: r.URL.Path})
	}
}

// witnessCSS serves the style sheet. It may be cached: it is the same for
// everybody and says nothing about the visitor.
func (s *Site) witnessCSS(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=604800")
	_, err := w.Write(s.css)
	return err
}

// sourceOf returns the pseudonym of codename's source and the update that
// stores its record (its reply key, dated today) unless it exists, for the
// commit of the source's item (records.PutSourceIfAbsent).
func (s *Site) sourceOf(codename string) (string, func(store.Tx) error, error) {
	src := crypto.Pseudonym(s.key, codename)
	rcpt, err := crypto.ReplyRecipient(s.key, codename)
	if err != nil {
		return "", nil, err
	}
	put, err := records.PutSourceIfAbsent(src, records.Source{ReplyRecipient: rcpt, Day: s.today()})
	return src, put, err
}

// route is a route of the table with its handler.
type route struct {
	web.Route
	h func(*Site) web.HandlerFunc
}

// routes is the witness site's table: no investigator route exists here,
// and no page of it links to one. Every route is public; those that show
// or take a testimony refuse while the service is not accepting.
var routes = []route{
	{web.Route{Method: http.MethodGet, Path: "/"}, func(s *Site) web.HandlerFunc { return s.landing }},
	{web.Route{Method: http.MethodGet, Path: "/static/witness.css"}, func(s *Site) web.HandlerFunc { return s.witnessCSS }},
	{web.Route{Method: http.MethodGet, Path: "/form", WhileAccepting: true}, func(s *Site) web.HandlerFunc { return s.formPage }},
	{web.Route{Method: http.MethodPost, Path: "/submit", WhileAccepting: true}, func(s *Site) web.HandlerFunc { return s.submit }},
	{web.Route{Method: http.MethodGet, Path: "/codename"}, func(s *Site) web.HandlerFunc { return s.codenamePage }},
	{web.Route{Method: http.MethodPost, Path: "/thread"}, func(s *Site) web.HandlerFunc { return s.thread }},
	{web.Route{Method: http.MethodPost, Path: "/followup", WhileAccepting: true}, func(s *Site) web.HandlerFunc { return s.followup }},
	{web.Route{Method: http.MethodPost, Path: "/withdraw", WhileAccepting: true}, func(s *Site) web.HandlerFunc { return s.withdraw }},
}

// Routes lists the witness site's routes, the table its router is built
// from, for the security tests to iterate.
func Routes() []web.Route {
	out := make([]web.Route, len(routes))
	for i, rt := range routes {
		out[i] = rt.Route
	}
	return out
}

// Handler is the witness site, for its own listener, which keeps no
// access log.
func (s *Site) Handler() http.Handler {
	hs := make([]http.Handler, len(routes))
	for i, rt := range routes {
		h := rt.h(s)
		if rt.WhileAccepting {
			h = s.whileAccepting(h)
		}
		hs[i] = s.handle(h)
	}
	notFound := s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &web.HTTPError{Status: http.StatusNotFound, Msg: "error.notfound"}
	})
	badMethod := s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &web.HTTPError{Status: http.StatusMethodNotAllowed, Msg: "error.method"}
	})
	return s.web.Harden(web.Router(Routes(), hs, notFound, badMethod))
}

// renderError writes the witness site's error page for e. It never shows
// e.Err.
func (s *Site) renderError(w http.ResponseWriter, r *http.Request, e *web.HTTPError) {
	// The language comes from the query (the forms post to ?lang=) or
	// Accept-Language only: the body may be unread or too large, and is
	// never parsed here.
	lang := s.langOf(r, "")
	err := s.renderWitness(w, e.Status, "error", lang, wPage{Title: "w.error.pagetitle", Message: e.Msg, Path: r.URL.Path})
	if err == nil {
		return
	}
	// The templates are broken: a plain page still says what happened.
	web.PlainError(w, e)
}
