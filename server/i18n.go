package server

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"

	"testimony/form"
)

// Message catalogs live in locales/, one JSON file per site and language
// (witness.en.json, witness.ru.json, investigator.en.json): a flat object
// of message key → text. go-i18n takes the language from the file name.
// Witness keys start with "w.", error-page keys with "error.", investigator
// keys with "inv.". We use go-i18n rather than x/text/message because its
// catalogs are plain JSON files a translator edits without Go, it knows
// CLDR plural rules, and a missing translation falls back to English.
//
// # Languages of the witness site
//
// A language is offered when both the witness catalog and the
// questionnaire have it: a witness-catalog file for it exists (embedded,
// or DATA/locales/witness.<lang>.json) and the questionnaire's title has a
// text in it. So an organisation adds a language without a code change by
// putting its catalog in DATA/locales and its texts in
// DATA/questionnaire.json; a DATA/locales file for an embedded language
// replaces the messages it holds. A page's direction (dir="rtl") follows
// the language's script, and the language's name in its menu is the
// message w.lang.name of its own catalog.
//
//go:embed locales/*.json
var localeFS embed.FS

// defaultLang is the language of a page when none is asked for, and the
// fall-back of a missing translation.
const defaultLang = "en"

// witnessLangs are the languages the embedded witness catalogs and default
// questionnaire provide, in the order a language menu lists them; a
// language an organisation adds comes after them.
var witnessLangs = []string{"en", "ru", "uk", "es"}

// localesDir is the directory of extra catalogs in the data directory.
const localesDir = "locales"

// rtlScripts are the ISO 15924 scripts written right to left that a
// language of today may use (x/text gives a language's likely script).
var rtlScripts = map[string]bool{
	"Arab": true, "Aran": true, "Hebr": true, "Thaa": true, "Syrc": true, "Nkoo": true,
	"Adlm": true, "Mand": true, "Samr": true, "Rohg": true, "Yezi": true, "Mend": true,
}

type catalog struct {
	loc map[string]*i18n.Localizer
}

// newCatalog makes a catalog of the embedded message files, and of the
// files in extra (a data directory's locales/, or "").
func newCatalog(extra string) (*catalog, []string, error) {
	b := i18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("json", json.Unmarshal)
	var witness []string
	add := func(name string, buf []byte) error {
		mf, err := b.ParseMessageFileBytes(buf, name)
		if err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
		if strings.HasPrefix(filepath.Base(name), "witness.") {
			base, _ := mf.Tag.Base()
			if mf.Tag.String() != base.String() {
				return fmt.Errorf("%s: name the file by the language alone (witness.%s.json)", name, base)
			}
			if !slices.Contains(witness, base.String()) {
				witness = append(witness, base.String())
			}
		}
		return nil
	}
	names, err := fs.Glob(localeFS, "locales/*.json")
	if err != nil {
		return nil, nil, err
	}
	for _, n := range names {
		buf, err := localeFS.ReadFile(n)
		if err != nil {
			return nil, nil, err
		}
		if err := add(n, buf); err != nil {
			return nil, nil, err
		}
	}
	if extra != "" {
		names, err := filepath.Glob(filepath.Join(extra, "witness.*.json"))
		if err != nil {
			return nil, nil, err
		}
		for _, n := range names {
			buf, err := os.ReadFile(n)
			if err != nil {
				return nil, nil, err
			}
			if err := add(n, buf); err != nil {
				return nil, nil, err
			}
		}
	}
	c := &catalog{loc: map[string]*i18n.Localizer{}}
	for _, tag := range b.LanguageTags() {
		base, _ := tag.Base()
		c.loc[base.String()] = i18n.NewLocalizer(b, base.String(), defaultLang)
	}
	return c, witness, nil
}

// text returns the text of key in lang, with the language it was found in;
// a key missing in lang falls back to English, one missing everywhere is
// shown as the key itself (a test fails on that).
func (c *catalog) text(lang, key string) (string, string) {
	l := c.loc[lang]
	if l == nil {
		l = c.loc[defaultLang]
	}
	if l == nil {
		return key, ""
	}
	s, tag, err := l.LocalizeWithTag(&i18n.LocalizeConfig{MessageID: key})
	if s == "" && err != nil {
		return key, ""
	}
	base, _ := tag.Base()
	return s, base.String()
}

// loadCatalog is the embedded catalog, which the investigator site uses.
var loadCatalog = sync.OnceValues(func() (*catalog, error) {
	c, _, err := newCatalog("")
	return c, err
})

// translate returns the text of a message key in lang from the embedded
// catalog, falling back to English, and to the key itself when no catalog
// has it. It is the Go helper of the investigator site; witness pages use
// their site's catalog ([witnessI18n.t]), which may hold added languages.
func translate(lang, key string) string {
	c, err := loadCatalog()
	if err != nil {
		return key
	}
	s, _ := c.text(lang, key)
	return s
}

// pageLang returns lang, cleaned, if it is one of the built-in witness
// languages, else the default. A site's own choice is [Server.langOf].
func pageLang(lang string) string {
	lang = strings.ToLower(strings.TrimSpace(lang))
	if slices.Contains(witnessLangs, lang) {
		return lang
	}
	return defaultLang
}

// textDir is the value of the dir attribute for a language: "rtl" when
// its script is written right to left.
func textDir(lang string) string {
	tag, err := language.Parse(lang)
	if err != nil {
		return "ltr"
	}
	if sc, conf := tag.Script(); conf != language.No && rtlScripts[sc.String()] {
		return "rtl"
	}
	return "ltr"
}

// witnessI18n is a witness site's languages: its catalog (embedded plus
// DATA/locales) and the languages it offers.
type witnessI18n struct {
	cat     *catalog
	langs   []string // offered, in menu order; langs[0] is English
	matcher language.Matcher
}

// loadWitnessI18n makes the languages of a site whose data directory is
// dataDir and whose questionnaire is q (see the package comment above).
func loadWitnessI18n(dataDir string, q *form.Form) (*witnessI18n, error) {
	extra := ""
	if dataDir != "" {
		extra = filepath.Join(dataDir, localesDir)
	}
	cat, have, err := newCatalog(extra)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(have, defaultLang) {
		return nil, errors.New("no English witness catalog")
	}
	var langs, added []string
	for _, l := range have {
		if l != defaultLang && strings.TrimSpace(q.Title[l]) == "" {
			continue
		}
		if slices.Contains(witnessLangs, l) {
			langs = append(langs, l)
		} else {
			added = append(added, l)
		}
	}
	slices.SortFunc(langs, func(a, b string) int { return slices.Index(witnessLangs, a) - slices.Index(witnessLangs, b) })
	slices.Sort(added)
	c := &witnessI18n{cat: cat, langs: append(langs, added...)}
	tags := make([]language.Tag, len(c.langs))
	for i, l := range c.langs {
		tags[i] = language.Make(l)
	}
	c.matcher = language.NewMatcher(tags)
	// The questionnaire labels its yes/no/unsure choices in English; the
	// site gives them its catalog's labels (w.yes, w.no, w.unsure).
	q.FillYesNo(c.t, c.langs)
	return c, nil
}

// t is the template function t: the text of key in lang.
func (c *witnessI18n) t(lang, key string) string {
	s, _ := c.cat.text(lang, key)
	return s
}

// offered returns lang, cleaned, if the site offers it, else "".
func (c *witnessI18n) offered(lang string) string {
	lang = strings.ToLower(strings.TrimSpace(lang))
	if lang != "" && slices.Contains(c.langs, lang) {
		return lang
	}
	return ""
}

// maxAcceptLanguage bounds the header we parse; real ones are short.
const maxAcceptLanguage = 512

// negotiate returns the offered language that best fits an
// Accept-Language header, English when none does.
func (c *witnessI18n) negotiate(accept string) string {
	if accept == "" || len(accept) > maxAcceptLanguage {
		return defaultLang
	}
	_, i := language.MatchStrings(c.matcher, accept)
	if i < 0 || i >= len(c.langs) {
		return defaultLang
	}
	return c.langs[i]
}

// name is a language's name in itself, for its link in the menu.
func (c *witnessI18n) name(lang string) string {
	if s, in := c.cat.text(lang, "w.lang.name"); in == lang {
		return s
	}
	return lang
}

// langOf returns the language of a witness page: the one posted by a
// form's hidden field, else ?lang= in the URL, else the best offered match
// of Accept-Language, else English. Only an offered language comes out.
// The choice lives in the URL and the forms: no cookie.
func (s *Server) langOf(r *http.Request, posted string) string {
	site := s.wsite()
	if site.err != nil || site.lang == nil {
		return defaultLang
	}
	c := site.lang
	if l := c.offered(posted); l != "" {
		return l
	}
	if l := c.offered(r.URL.Query().Get("lang")); l != "" {
		return l
	}
	return c.negotiate(r.Header.Get("Accept-Language"))
}

// langLink is one entry of a page's language menu.
type langLink struct {
	Code, Name, Dir string
	Current         bool
	Href            string // a GET link, or
	Codename        string // for the thread page: a form posting the codename again
	NewTab          bool   // the receipt: its codename must stay on screen
}

// witnessPaths are the pages a language link may lead to with the path
// kept; any other page's links lead to the page a witness would restart
// from.
var witnessPaths = map[string]string{
	"/": "/", "/form": "/form", "/codename": "/codename",
	"/submit": "/form", "/thread": "/codename", "/followup": "/codename",
}

// langLinks is the language menu of page name in lang. path is the page's
// own path if known; the thread page's entries post its codename again.
func (c *witnessI18n) langLinks(lang, name, path string, data any) []langLink {
	if len(c.langs) < 2 {
		return nil
	}
	if p, ok := witnessPaths[path]; ok {
		path = p
	} else {
		path = map[string]string{"form": "/form", "codename": "/codename"}[name]
		if path == "" {
			path = "/"
		}
	}
	codename := ""
	if d, ok := data.(threadData); ok && name == "thread" {
		codename = d.Codename
	}
	out := make([]langLink, 0, len(c.langs))
	for _, l := range c.langs {
		ln := langLink{Code: l, Name: c.name(l), Dir: textDir(l), Current: l == lang, Codename: codename, NewTab: name == "receipt"}
		if codename == "" {
			ln.Href = path + "?lang=" + l
		}
		out = append(out, ln)
	}
	return out
}
