package web

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Organisation is who runs the service: its name, a short description,
// other ways to reach it and how long it keeps testimonies. The witness
// site shows it on the home page and at the foot of every page, and the
// home page shows it instead of the form while the service is not
// accepting testimonies.
//
// Each text is an object of languages, English required; a page in a
// language the text lacks shows the English one ([Organisation.Check]
// names every such gap, so none is silent).
type Organisation struct {
	Name        map[string]string `toml:"name,omitempty"`
	Description map[string]string `toml:"description,omitempty"`
	Retention   map[string]string `toml:"retention,omitempty"`
	Contacts    []Contact         `toml:"contacts,omitempty"`
}

// Contact is one other way to reach the organisation: Kind is one of
// [ContactKinds], whose label each page translates; Value is shown as it
// is (a Signal username, an e-mail address, a web address…), as text, never
// as a link that would load or leave anything.
type Contact struct {
	Kind  string `toml:"kind"`
	Value string `toml:"value"`
}

// ContactKinds are the kinds of contact a page can label in every language.
var ContactKinds = []string{"signal", "email", "website", "telegram", "phone", "post"}

// contactLabels are the message keys of the kinds' labels.
var contactLabels = map[string]string{
	"signal": "w.contact.signal", "email": "w.contact.email", "website": "w.contact.website",
	"telegram": "w.contact.telegram", "phone": "w.contact.phone", "post": "w.contact.post",
}

// WitnessLangs are the languages the witness site speaks out of the box,
// English first: the ones [Organisation.Check] wants a text in.
func WitnessLangs() []string { return slices.Clone(witnessLangs) }

// Limits of the organisation's texts: a page is read on a phone.
const (
	maxOrgName  = 120
	maxOrgText  = 1000
	maxContacts = 8
	maxContact  = 200
)

// IsZero reports whether nothing about the organisation is configured.
func (o Organisation) IsZero() bool {
	return len(o.Name) == 0 && len(o.Description) == 0 && len(o.Retention) == 0 && len(o.Contacts) == 0
}

// Check says what is wrong with o (errs: serve refuses to start on them)
// and which translations are missing (missing: one line each, naming the
// setting and the language, for config check to print as warnings).
// langs are the languages the site offers; every text is checked in each
// of them and in any other language it is given in.
func (o Organisation) Check(langs []string) (errs []error, missing []string) {
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("organisation."+format, args...)) }
	if o.IsZero() {
		return nil, []string{"organisation is not set: the witness pages will not say who runs the service or how else to reach it"}
	}
	texts := []struct {
		key   string
		m     map[string]string
		limit int
	}{{"name", o.Name, maxOrgName}, {"description", o.Description, maxOrgText}, {"retention", o.Retention, maxOrgText}}
	for _, tx := range texts {
		if strings.TrimSpace(tx.m[DefaultLang]) == "" {
			bad("%s has no English text (%s.en); English is required, and shown where a language is missing", tx.key, tx.key)
			continue
		}
		for _, l := range slices.Sorted(maps.Keys(tx.m)) {
			v := tx.m[l]
			switch {
			case !isLangCode(l):
				bad("%s.%s: %q is not a language code like \"ru\"", tx.key, l, l)
			case strings.TrimSpace(v) == "":
				bad("%s.%s is empty; leave the language out to show English", tx.key, l)
			case utf8.RuneCountInString(v) > tx.limit:
				bad("%s.%s is longer than %d characters", tx.key, l, tx.limit)
			case hasControl(v, tx.key != "name"):
				bad("%s.%s holds a control character", tx.key, l)
			}
		}
		for _, l := range langs {
			if _, ok := tx.m[l]; !ok {
				missing = append(missing, fmt.Sprintf("organisation.%s has no %s text (%s.%s): pages in that language show the English one", tx.key, l, tx.key, l))
			}
		}
	}
	if len(o.Contacts) > maxContacts {
		bad("contacts: %d contacts, at most %d", len(o.Contacts), maxContacts)
	}
	for i, c := range o.Contacts {
		switch {
		case !slices.Contains(ContactKinds, c.Kind):
			bad("contacts[%d]: kind %q is not one of %s", i, c.Kind, strings.Join(ContactKinds, ", "))
		case strings.TrimSpace(c.Value) == "":
			bad("contacts[%d] (%s) has no value", i, c.Kind)
		case utf8.RuneCountInString(c.Value) > maxContact || hasControl(c.Value, false):
			bad("contacts[%d] (%s): the value is too long or holds a control character", i, c.Kind)
		}
	}
	if len(o.Contacts) == 0 {
		missing = append(missing, "organisation.contacts is empty: while the service is not accepting testimonies, the home page gives no other way to reach you")
	}
	return errs, missing
}

// isLangCode reports whether l looks like a base language code ("ru").
func isLangCode(l string) bool {
	if len(l) < 2 || len(l) > 3 {
		return false
	}
	for _, r := range l {
		if r < 'a' || r > 'z' {
			return false
		}
	}
	return true
}

// hasControl reports whether s holds a control character; newlines are
// allowed in long texts (a paragraph break).
func hasControl(s string, newlines bool) bool {
	for _, r := range s {
		if newlines && (r == '\n' || r == '\r') {
			continue
		}
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' || (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069') {
			return true
		}
	}
	return false
}

// OrgView is the organisation in one language, for a page.
type OrgView struct {
	Name, Description, Retention string
	Contacts                     []ContactView
}

// ContactView is a contact with the message key of its kind's label.
type ContactView struct{ Label, Value string }

// In returns o's texts in lang, each falling back to English.
func (o Organisation) In(lang string) *OrgView {
	if o.IsZero() {
		return nil
	}
	pick := func(m map[string]string) string {
		if v := strings.TrimSpace(m[lang]); v != "" {
			return v
		}
		return strings.TrimSpace(m[DefaultLang])
	}
	v := &OrgView{Name: pick(o.Name), Description: pick(o.Description), Retention: pick(o.Retention)}
	for _, c := range o.Contacts {
		v.Contacts = append(v.Contacts, ContactView{Label: contactLabels[c.Kind], Value: c.Value})
	}
	return v
}
