package server

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"sync"

	"testimony/crypto"
	"testimony/form"
	"testimony/records"
	"testimony/store"
)

//go:embed templates/witness static/witness.css
var witnessFS embed.FS

// witnessSite is the witness site's state, made once on first use: the
// parsed templates, the questionnaire and the style sheet.
type witnessSite struct {
	once  sync.Once
	pages map[string]*template.Template
	quest *form.Form
	lang  *witnessI18n // its languages (i18n.go)
	css   []byte
	err   error
}

// wsite returns the witness site's state, making it the first time.
func (s *Server) wsite() *witnessSite {
	v := &s.wit
	v.once.Do(func() {
		if v.quest, v.err = form.Load(s.cfg.DataDir); v.err != nil {
			return
		}
		if v.lang, v.err = loadWitnessI18n(s.cfg.DataDir, v.quest); v.err != nil {
			return
		}
		if v.css, v.err = witnessFS.ReadFile("static/witness.css"); v.err != nil {
			return
		}
		v.pages, v.err = parseWitnessTemplatesWith(template.FuncMap{"t": v.lang.t})
	})
	return v
}

// CheckWitnessSite loads what the witness site is made of, with the
// organisation's overrides in dataDir (questionnaire.json, locales/), and
// says what is wrong with them: serve refuses to start on it and config
// check reports it, rather than the site failing at its first request.
func CheckWitnessSite(dataDir string) error {
	s := &Server{cfg: Config{DataDir: dataDir}.withDefaults()}
	if err := s.wsite().err; err != nil {
		return fmt.Errorf("witness site: %w", err)
	}
	return nil
}

// witnessFuncs are the template functions of the witness pages with the
// embedded catalog; a site binds t to its own catalog (witnessI18n.t).
var witnessFuncs = template.FuncMap{
	"t": translate,
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
	// testimonies ([Server.Accepting]); both are set by renderWitness.
	Org    *orgView
	Closed bool
	// Limit is the upload limit in the page's language ("500 МБ"), set by
	// renderWitness.
	Limit string
}

// renderWitness writes page name with status, in language lang (already
// checked by pageLang). The page is rendered to memory first, so a template
// error becomes a clean error page, not half a page.
func (s *Server) renderWitness(w http.ResponseWriter, status int, name, lang string, p wPage) error {
	site := s.wsite()
	if site.err != nil {
		return site.err
	}
	t := site.pages[name]
	if t == nil {
		return fmt.Errorf("no witness template %q", name)
	}
	p.Lang, p.Dir, p.Status = lang, textDir(lang), status
	if p.Title == "" {
		p.Title = "w." + name + ".pagetitle"
	}
	p.Langs = site.lang.langLinks(lang, name, p.Path, p.Data)
	p.Org = s.cfg.Organisation.in(lang)
	p.Closed = s.Accepting() != nil
	p.Limit = sizeText(site.lang.t, lang, s.cfg.MaxUpload)
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", p); err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Add("Vary", "Accept-Language")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, err := w.Write(b.Bytes())
	return err
}

// whileAccepting guards a route that shows or takes a testimony: while the
// service is not accepting testimonies ([Server.Accepting]), a GET shows
// the "not accepting yet" page in place of the form and a POST is refused
// with 503 before its body is read, so that nothing a witness writes is
// thrown away.
func (s *Server) whileAccepting(h handlerFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if s.Accepting() == nil {
			return h(w, r)
		}
		if r.Method == http.MethodPost {
			// Tell the client not to send the rest: the body is never read.
			w.Header().Set("Connection", "close")
			return &HTTPError{Status: http.StatusServiceUnavailable, Msg: "error.notaccepting"}
		}
		return s.renderWitness(w, http.StatusServiceUnavailable, "closed", s.langOf(r, ""), wPage{Path: r.URL.Path})
	}
}

// witnessCSS serves the style sheet. It may be cached: it is the same for
// everybody and says nothing about the visitor.
func (s *Server) witnessCSS(w http.ResponseWriter, r *http.Request) error {
	site := s.wsite()
	if site.err != nil {
		return site.err
	}
	h := w.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=604800")
	_, err := w.Write(site.css)
	return err
}

// sourceOf returns the pseudonym of codename's source and the update that
// stores its record (its reply key, dated today) unless it exists, for the
// commit of the source's item (records.PutSourceIfAbsent).
func (s *Server) sourceOf(codename string) (string, func(store.Tx) error, error) {
	src := crypto.Pseudonym(s.key, codename)
	rcpt, err := crypto.ReplyRecipient(s.key, codename)
	if err != nil {
		return "", nil, err
	}
	put, err := records.PutSourceIfAbsent(src, records.Source{ReplyRecipient: rcpt, Day: s.today()})
	return src, put, err
}
