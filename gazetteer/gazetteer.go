// Package gazetteer names the places witnesses write about — detention
// facilities, airports, cities and countries — so that the offline
// report can tell "Krome", "Krome Detention Center", "Krome, Майами" and
// "Кроум" for one facility, and "Египет", "Egypt" and "Єгипет" for one
// country.
//
// # Data
//
// The places are data: the file gazetteer.json embedded here ([Default]),
// over which a group may lay its own file of the same format
// ([Gazetteer.With]): a place with a new id is added; one with an id
// already known gets the names and aliases given added to it, and its
// city, region or country replaced when given. docs/design.md describes
// the format.
//
// # Matching
//
// [Gazetteer.Resolve] takes an answer as the witness wrote it and the
// kinds of place the question asks for. Both the answer and every name
// and alias go through [Normalise] (case folding, NFKC, diacritics and
// punctuation dropped, ё read as е, generic words such as "detention
// center" or "аэропорт" dropped), and are then compared:
//
//  1. the whole answer with every name and alias of those kinds;
//  2. else the whole answer, when it has at least [FuzzyMin] letters,
//     with the names at one edit (a letter added, dropped, changed or two
//     swapped) — only when that gives a single place;
//  3. else every shorter run of its words, longest first, so that a
//     facility written with its town ("Krome, Майами") or an airport
//     with its city ("Москва (Шереметьево)") is found; an airport found
//     beside its city wins over the city, and a place found only by words
//     that are the town of another place found gives way to it;
//  4. else those runs at one edit, as in 2.
//
// A run must give a single place: two ("Krome, then Stewart") leave the
// answer not known.
//
// An answer that gives no place, or more than one, is not known: it keeps
// its words, and groups only with answers that normalise alike.
package gazetteer

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Kinds of place.
const (
	Facility = "facility" // a detention facility
	Airport  = "airport"  // an airport, with its IATA code
	City     = "city"     // a city with several airports, named without one
	Country  = "country"  // a country, its id the ISO 3166 alpha-2 code
)

var kinds = map[string]bool{Facility: true, Airport: true, City: true, Country: true}

// FormatV1 is the format name a gazetteer file carries.
const FormatV1 = "testimony-gazetteer/v1"

// File is a gazetteer file.
type File struct {
	Format string   `json:"format"`
	Note   string   `json:"note,omitempty"` // where the data comes from, what it lacks
	Places []*Place `json:"places"`
}

// Place is one place and the names it goes by.
type Place struct {
	ID      string            `json:"id"`
	Kind    string            `json:"kind"`
	Name    map[string]string `json:"name"`              // by language; "en" required
	IATA    string            `json:"iata,omitempty"`    // an airport's code
	City    string            `json:"city,omitempty"`    // in English
	Region  string            `json:"region,omitempty"`  // a US state's code, a province
	Country string            `json:"country,omitempty"` // ISO 3166 alpha-2
	Aliases []string          `json:"aliases,omitempty"` // other spellings, any language
}

// In returns the place's name in lang, or in English.
func (p *Place) In(lang string) string {
	if s := p.Name[lang]; s != "" {
		return s
	}
	return p.Name["en"]
}

// Label is the place's short name in lang: an airport's code with its
// name ("AEX, Alexandria International"), any other place's name.
func (p *Place) Label(lang string) string {
	if p.Kind == Airport && p.IATA != "" {
		return p.IATA + ", " + p.In(lang)
	}
	return p.In(lang)
}

// Gazetteer is a set of places with their lookup tables; it is not
// changed once made, so it may be shared.
type Gazetteer struct {
	places []*Place
	byID   map[string]*Place
	// exact maps a normalised name to the ids of the places it names,
	// per kind; fuzzy lists the normalised names per kind and length in
	// runes, for the one-edit search.
	exact map[string]map[string][]string
	fuzzy map[string]map[int][]alias
	// longest is the most words of a normalised name: no longer run of
	// an answer's words can match one.
	longest int
}

type alias struct {
	norm []rune
	id   string
}

//go:embed gazetteer.json
var shipped []byte

var defaultGaz = func() *Gazetteer {
	g, err := New(shipped)
	if err != nil {
		panic("gazetteer: the shipped file: " + err.Error())
	}
	return g
}()

// Default returns the gazetteer shipped with the tool.
func Default() *Gazetteer { return defaultGaz }

var (
	idRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$|^[A-Z]{2}$`)
	countryRE = regexp.MustCompile(`^[A-Z]{2}$`)
	iataRE    = regexp.MustCompile(`^[A-Z]{3}$`)
)

// MaxFileBytes caps a gazetteer file.
const MaxFileBytes = 8 << 20

// New reads gazetteer files, each laid over the ones before it.
func New(files ...[]byte) (*Gazetteer, error) {
	g := &Gazetteer{byID: map[string]*Place{}}
	for _, b := range files {
		if err := g.merge(b); err != nil {
			return nil, err
		}
	}
	if err := g.index(); err != nil {
		return nil, err
	}
	return g, nil
}

// With returns a gazetteer of g's places with the file b laid over them.
func (g *Gazetteer) With(b []byte) (*Gazetteer, error) {
	n := &Gazetteer{byID: map[string]*Place{}}
	for _, p := range g.places {
		c := *p
		c.Name = maps(p.Name)
		c.Aliases = slices.Clone(p.Aliases)
		n.places = append(n.places, &c)
		n.byID[c.ID] = &c
	}
	if err := n.merge(b); err != nil {
		return nil, err
	}
	if err := n.index(); err != nil {
		return nil, err
	}
	return n, nil
}

func maps(m map[string]string) map[string]string {
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func (g *Gazetteer) merge(b []byte) error {
	if len(b) > MaxFileBytes {
		return fmt.Errorf("gazetteer: file over %d bytes", MaxFileBytes)
	}
	var f File
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("gazetteer: %v", err)
	}
	if f.Format != FormatV1 {
		return fmt.Errorf("gazetteer: format %q, want %q", f.Format, FormatV1)
	}
	for i, p := range f.Places {
		if p == nil {
			return fmt.Errorf("gazetteer: place %d is null", i+1)
		}
		if !idRE.MatchString(p.ID) {
			return fmt.Errorf("gazetteer: place %d: id %q: lower-case letters, digits, - and _ (a country: its two-letter code)", i+1, p.ID)
		}
		if old := g.byID[p.ID]; old != nil {
			if p.Kind != "" && p.Kind != old.Kind {
				return fmt.Errorf("gazetteer: %s: kind %q, but it is a %s", p.ID, p.Kind, old.Kind)
			}
			for l, s := range p.Name {
				old.Name[l] = s
			}
			old.Aliases = append(old.Aliases, p.Aliases...)
			for _, f := range []struct {
				to *string
				v  string
			}{{&old.City, p.City}, {&old.Region, p.Region}, {&old.Country, p.Country}, {&old.IATA, p.IATA}} {
				if f.v != "" {
					*f.to = f.v
				}
			}
			continue
		}
		if !kinds[p.Kind] {
			return fmt.Errorf("gazetteer: %s: kind %q, want facility, airport, city or country", p.ID, p.Kind)
		}
		if strings.TrimSpace(p.Name["en"]) == "" {
			return fmt.Errorf("gazetteer: %s: an English name is required", p.ID)
		}
		if p.Kind == Airport && !iataRE.MatchString(p.IATA) {
			return fmt.Errorf("gazetteer: %s: an airport needs its three-letter IATA code", p.ID)
		}
		if p.Name == nil {
			p.Name = map[string]string{}
		}
		g.places = append(g.places, p)
		g.byID[p.ID] = p
	}
	return nil
}

// index builds the lookup tables, and refuses a name that two places of
// one kind share: a lookup could not tell them apart.
func (g *Gazetteer) index() error {
	g.exact = map[string]map[string][]string{}
	g.fuzzy = map[string]map[int][]alias{}
	for k := range kinds {
		g.exact[k] = map[string][]string{}
		g.fuzzy[k] = map[int][]alias{}
	}
	for _, p := range g.places {
		if p.Kind == Country && !countryRE.MatchString(p.ID) {
			return fmt.Errorf("gazetteer: country %s: its id must be its ISO 3166 code", p.ID)
		}
		names := slices.Clone(p.Aliases)
		for _, s := range p.Name {
			names = append(names, s)
		}
		if p.IATA != "" {
			names = append(names, p.IATA)
		}
		seen := map[string]bool{}
		for _, s := range names {
			n := Normalise(s)
			if n == "" || seen[n] {
				continue
			}
			seen[n] = true
			g.longest = max(g.longest, strings.Count(n, " ")+1)
			ids := g.exact[p.Kind][n]
			if len(ids) > 0 && ids[0] != p.ID {
				return fmt.Errorf("gazetteer: %q names both %s and %s", s, ids[0], p.ID)
			}
			g.exact[p.Kind][n] = append(ids, p.ID)
			r := []rune(n)
			g.fuzzy[p.Kind][len(r)] = append(g.fuzzy[p.Kind][len(r)], alias{r, p.ID})
		}
	}
	return nil
}

// Place returns the place with the id, or nil.
func (g *Gazetteer) Place(id string) *Place { return g.byID[id] }

// Places returns every place, in the order of the files.
func (g *Gazetteer) Places() []*Place { return slices.Clone(g.places) }

// Match is what an answer was found to name.
type Match struct {
	Place *Place // nil when not known
	// Key is what answers that name the same place share: the place's
	// id, or for a place not known "?" and the normalised answer; "" for
	// an answer with no words.
	Key     string
	Written string // the answer as written, its spaces collapsed
	Fuzzy   bool   // found at one edit
}

// Normalised is the answer as [Normalise] gives it.
func (m Match) Normalised() string { return strings.TrimPrefix(m.Key, "?") }

// FuzzyMin is the least length, in runes, of a normalised run of words
// that may match a name at one edit.
const FuzzyMin = 6

// maxWords caps the runs of words tried: a longer answer is a sentence,
// not a name, and is looked up whole.
const maxWords = 12

// Resolve finds the place of one of the kinds that the answer s names.
func (g *Gazetteer) Resolve(s string, kinds ...string) Match {
	m := Match{Written: strings.Join(strings.Fields(s), " ")}
	n := Normalise(s)
	if n == "" {
		return m
	}
	m.Key = "?" + n
	id, fuzzy := g.find(n, kinds)
	if id != "" {
		m.Place, m.Key, m.Fuzzy = g.byID[id], id, fuzzy
	}
	return m
}

// ResolveCountry finds the country the answer s names: a country, or an
// airport or city in it ("Стамбул" gives Turkey).
func (g *Gazetteer) ResolveCountry(s string) Match {
	m := g.Resolve(s, Country)
	if m.Place != nil || m.Key == "" {
		return m
	}
	if a := g.Resolve(s, Airport, City); a.Place != nil {
		if c := g.byID[a.Place.Country]; c != nil && c.Kind == Country {
			m.Place, m.Key, m.Fuzzy = c, c.ID, a.Fuzzy
		}
	}
	return m
}

// find returns the id of the one place of the kinds that n names, by the
// rules of the package comment; "" for none or several.
func (g *Gazetteer) find(n string, kinds []string) (string, bool) {
	if ids := g.lookup(n, kinds); len(ids) > 0 {
		found := map[string][]string{}
		for _, id := range ids {
			found[id] = []string{n}
		}
		return g.one(found), false
	}
	// A misspelt name whole, before its words: "South Texas Faimly
	// Residential" is Dilley, not the "South Texas" of its first words.
	if ids := g.near(n, kinds); len(ids) > 0 {
		found := map[string][]string{}
		for _, id := range ids {
			found[id] = []string{n}
		}
		id := g.one(found)
		return id, id != ""
	}
	words := strings.Split(n, " ")
	if len(words) > maxWords {
		return "", false
	}
	for _, fuzzy := range []bool{false, true} {
		found := map[string][]string{} // id → the runs that found it
		used := make([]bool, len(words))
		for l := min(len(words)-1, g.longest); l >= 1; l-- {
		spans:
			for i := 0; i+l <= len(words); i++ {
				for _, u := range used[i : i+l] {
					if u {
						continue spans
					}
				}
				run := strings.Join(words[i:i+l], " ")
				var ids []string
				if fuzzy {
					ids = g.near(run, kinds)
				} else {
					ids = g.lookup(run, kinds)
				}
				if len(ids) == 0 {
					continue
				}
				for _, id := range ids {
					found[id] = append(found[id], run)
				}
				for j := i; j < i+l; j++ {
					used[j] = true
				}
			}
		}
		if id := g.one(found); id != "" {
			return id, fuzzy
		}
		if len(found) > 0 {
			return "", false // several places: not known
		}
	}
	return "", false
}

// one returns the single place among found (each with the runs of words
// that found it), "" when there are none or several. A place found only
// by words that are the town of another place found is that town, not a
// place of its own ("La Palma, Eloy" is La Palma, not also the Eloy
// Detention Center), and a city found beside one of its airports is that
// airport ("Москва (Шереметьево)").
func (g *Gazetteer) one(found map[string][]string) string {
	var ids []string
	for id := range found {
		ids = append(ids, id)
	}
	if len(ids) > 1 {
		ids = slices.DeleteFunc(ids, func(id string) bool {
			p := g.byID[id]
			for other := range found {
				o := g.byID[other]
				if other == id || o.City == "" {
					continue
				}
				if p.Kind == City && o.Kind == Airport && strings.EqualFold(o.City, p.Name["en"]) {
					return true
				}
				town := Normalise(o.City)
				if !slices.ContainsFunc(found[id], func(run string) bool { return run != town }) {
					return true
				}
			}
			return false
		})
	}
	if len(ids) != 1 {
		return ""
	}
	return ids[0]
}

func (g *Gazetteer) lookup(n string, kinds []string) []string {
	var ids []string
	for _, k := range kinds {
		for _, id := range g.exact[k][n] {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// near returns the places with a name at one edit from n, when n has at
// least FuzzyMin runes.
func (g *Gazetteer) near(n string, kinds []string) []string {
	r := []rune(n)
	if len(r) < FuzzyMin {
		return nil
	}
	var ids []string
	for _, k := range kinds {
		for l := len(r) - 1; l <= len(r)+1; l++ {
			for _, a := range g.fuzzy[k][l] {
				if len(a.norm) >= FuzzyMin && oneEdit(r, a.norm) && !slices.Contains(ids, a.id) {
					ids = append(ids, a.id)
				}
			}
		}
	}
	sort.Strings(ids)
	return ids
}

// oneEdit reports whether a and b differ by at most one insertion,
// deletion, substitution or swap of two neighbouring runes.
func oneEdit(a, b []rune) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	if len(b)-len(a) > 1 {
		return false
	}
	i := 0
	for i < len(a) && a[i] == b[i] {
		i++
	}
	if i == len(a) {
		return true
	}
	if len(a) == len(b) {
		if slices.Equal(a[i+1:], b[i+1:]) {
			return true // a substitution
		}
		return i+1 < len(a) && a[i] == b[i+1] && a[i+1] == b[i] && slices.Equal(a[i+2:], b[i+2:])
	}
	return slices.Equal(a[i:], b[i+1:]) // b has one rune more
}
