package witness

import (
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/text/language"

	"testimony/form"
	"testimony/server/web"
)

// The languages of the witness site: see package web's i18n.go for how a
// language comes to be offered.

// localesDir is the directory of extra catalogs in the data directory.
const localesDir = "locales"

// rtlScripts are the ISO 15924 scripts written right to left that a
// language of today may use (x/text gives a language's likely script).
var rtlScripts = map[string]bool{
	"Arab": true, "Aran": true, "Hebr": true, "Thaa": true, "Syrc": true, "Nkoo": true,
	"Adlm": true, "Mand": true, "Samr": true, "Rohg": true, "Yezi": true, "Mend": true,
}

// pageLang returns lang, cleaned, if it is one of the built-in witness
// languages, else the default. A site's own choice is [Site.langOf].
func pageLang(lang string) string {
	lang = strings.ToLower(strings.TrimSpace(lang))
	if slices.Contains(web.WitnessLangs(), lang) {
		return lang
	}
	return web.DefaultLang
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
	cat     *web.Catalog
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
	cat, have, err := web.NewCatalog(extra)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(have, web.DefaultLang) {
		return nil, errors.New("no English witness catalog")
	}
	builtin := web.WitnessLangs()
	var langs, added []string
	for _, l := range have {
		if l != web.DefaultLang && strings.TrimSpace(q.Title[l]) == "" {
			continue
		}
		if slices.Contains(builtin, l) {
			langs = append(langs, l)
		} else {
			added = append(added, l)
		}
	}
	slices.SortFunc(langs, func(a, b string) int { return slices.Index(builtin, a) - slices.Index(builtin, b) })
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
	s, _ := c.cat.Text(lang, key)
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
		return web.DefaultLang
	}
	_, i := language.MatchStrings(c.matcher, accept)
	if i < 0 || i >= len(c.langs) {
		return web.DefaultLang
	}
	return c.langs[i]
}

// name is a language's name in itself, for its link in the menu.
func (c *witnessI18n) name(lang string) string {
	if s, in := c.cat.Text(lang, "w.lang.name"); in == lang {
		return s
	}
	return lang
}

// langOf returns the language of a witness page: the one posted by a
// form's hidden field, else ?lang= in the URL, else the best offered match
// of Accept-Language, else English. Only an offered language comes out.
// The choice lives in the URL and the forms: no cookie.
func (s *Site) langOf(r *http.Request, posted string) string {
	c := s.lang
	if c == nil {
		return web.DefaultLang
	}
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
