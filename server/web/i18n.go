package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
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

// DefaultLang is the language of a page when none is asked for, and the
// fall-back of a missing translation.
const DefaultLang = "en"

// witnessLangs are the languages the embedded witness catalogs and default
// questionnaire provide, in the order a language menu lists them; a
// language an organisation adds comes after them.
var witnessLangs = []string{"en", "ru", "uk", "es"}

// Catalog is a set of message files, by language.
type Catalog struct {
	loc map[string]*i18n.Localizer
}

// NewCatalog makes a catalog of the embedded message files, and of the
// witness files in extra (a data directory's locales/, or ""). It returns
// the languages of its witness files too.
func NewCatalog(extra string) (*Catalog, []string, error) {
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
	c := &Catalog{loc: map[string]*i18n.Localizer{}}
	for _, tag := range b.LanguageTags() {
		base, _ := tag.Base()
		c.loc[base.String()] = i18n.NewLocalizer(b, base.String(), DefaultLang)
	}
	return c, witness, nil
}

// Text returns the text of key in lang, with the language it was found in;
// a key missing in lang falls back to English, one missing everywhere is
// shown as the key itself (a test fails on that).
func (c *Catalog) Text(lang, key string) (string, string) {
	l := c.loc[lang]
	if l == nil {
		l = c.loc[DefaultLang]
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
var loadCatalog = sync.OnceValues(func() (*Catalog, error) {
	c, _, err := NewCatalog("")
	return c, err
})

// Translate returns the text of a message key in lang from the embedded
// catalog, falling back to English, and to the key itself when no catalog
// has it. It is the Go helper of the investigator site and of the error
// pages; witness pages use their site's catalog, which may hold added
// languages.
func Translate(lang, key string) string {
	c, err := loadCatalog()
	if err != nil {
		return key
	}
	s, _ := c.Text(lang, key)
	return s
}
