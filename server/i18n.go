package server

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"sync"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// Message catalogs live in locales/, one JSON file per site and language
// (witness.en.json, witness.ru.json, investigator.en.json): a flat object
// of message key → text. go-i18n takes the language from the file name.
// Witness keys start with "w.", error-page keys with "error.", investigator
// keys with "inv.".
//
//go:embed locales/*.json
var localeFS embed.FS

// defaultLang is the language of a page when none is asked for, and the
// fall-back of a missing translation.
const defaultLang = "en"

// witnessLangs are the languages the witness site offers, in the order a
// language menu lists them.
var witnessLangs = []string{"en", "ru"}

// rtlLangs are written right to left; pages in them get dir="rtl".
var rtlLangs = map[string]bool{"ar": true, "fa": true, "he": true, "ur": true}

type catalog struct {
	bundle *i18n.Bundle
	loc    map[string]*i18n.Localizer
}

var loadCatalog = sync.OnceValues(func() (*catalog, error) {
	b := i18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("json", json.Unmarshal)
	names, err := fs.Glob(localeFS, "locales/*.json")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		buf, err := localeFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		if _, err := b.ParseMessageFileBytes(buf, n); err != nil {
			return nil, fmt.Errorf("%s: %v", n, err)
		}
	}
	c := &catalog{bundle: b, loc: map[string]*i18n.Localizer{}}
	for _, tag := range b.LanguageTags() {
		base, _ := tag.Base()
		c.loc[base.String()] = i18n.NewLocalizer(b, base.String(), defaultLang)
	}
	return c, nil
})

// pageLang returns lang if the witness site offers it, else the default.
// It is the only way a client-given language reaches a page.
func pageLang(lang string) string {
	lang = strings.ToLower(strings.TrimSpace(lang))
	for _, l := range witnessLangs {
		if l == lang {
			return l
		}
	}
	return defaultLang
}

// textDir is the value of the dir attribute for a language.
func textDir(lang string) string {
	if rtlLangs[lang] {
		return "rtl"
	}
	return "ltr"
}

// translate returns the text of a message key in lang, falling back to
// English, and to the key itself when no catalog has it (a test fails on
// that). It is the Go helper both sites use; templates call it as t.
func translate(lang, key string) string {
	c, err := loadCatalog()
	if err != nil {
		return key
	}
	l := c.loc[lang]
	if l == nil {
		l = c.loc[defaultLang]
	}
	if l == nil {
		return key
	}
	s, err := l.Localize(&i18n.LocalizeConfig{MessageID: key})
	if err != nil {
		return key
	}
	return s
}
