package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"testimony/crypto"
	"testimony/gazetteer"
)

// TestSeededGroups is issue 20's acceptance run for corroboration: 30,000
// testimonies whose places are written as witnesses write them — any of
// the gazetteer's names and aliases, in any of its languages, in any
// case, with stray punctuation, the town added, or a letter swapped — and
// whose dates come in the forms the form invites and those people use.
// Planted among them: groups of witnesses of one flight and of one stay.
// Every other testimony has its own flight (its own day, from 2030 on)
// and its own stay, so a group found that is not a planted one is
// spurious. Every planted group must be found whole, and at most 5% of
// the groups found may be spurious.
func TestSeededGroups(t *testing.T) {
	n := 30000
	if testing.Short() {
		n = 3000
	}
	g := gazetteer.Default()
	r := rand.New(rand.NewPCG(20, 3))
	var facilities, departures, arrivals, countries []*gazetteer.Place
	for _, p := range g.Places() {
		switch {
		case p.Kind == gazetteer.Facility:
			facilities = append(facilities, p)
		case p.Kind == gazetteer.Airport && p.Country == "US":
			departures = append(departures, p)
		case p.Kind == gazetteer.Airport:
			arrivals = append(arrivals, p)
		case p.Kind == gazetteer.Country && p.ID != "US":
			countries = append(countries, p)
		}
	}
	var items []*caseItem
	add := func(a map[string]string) *caseItem {
		i := len(items)
		m := &crypto.Manifest{Kind: crypto.KindSubmission, Day: day("2026-01-01", i%300), Lang: []string{"ru", "uk", "es", "en"}[i%4],
			Answers: map[string]crypto.Answer{}}
		for k, v := range a {
			m.Answers[k] = crypto.TextAnswer(v)
		}
		it := &caseItem{Dir: fmt.Sprintf("src-%05d/x", i), M: m,
			Info: itemInfo{ID: fmt.Sprintf("%032x", i), Source: fmt.Sprintf("src-%05d", i), Kind: m.Kind, Day: m.Day}}
		items = append(items, it)
		return it
	}
	for i := range n {
		fac := facilities[i%len(facilities)]
		from := day("2000-01-01", i/len(facilities)*12) // each stay its own 12-day slot
		add(map[string]string{
			"facility": spell(r, fac, false), "detention_from": writeDate(r, from), "detention_to": writeDate(r, day(from, 10)),
			"deport_date":     writeDate(r, day("2030-01-01", i)), // each flight its own day
			"depart_airport":  spell(r, departures[r.IntN(len(departures))], false),
			"transit_country": spell(r, countries[r.IntN(len(countries))], false),
			"arrival_airport": spell(r, arrivals[r.IntN(len(arrivals))], false),
		})
	}
	// Planted groups replace the answers of chosen testimonies.
	perm := r.Perm(n)
	next := func() *caseItem { it := items[perm[0]]; perm = perm[1:]; return it }
	var wantFlights, wantStays []string
	for k := range 60 {
		date := day("2024-01-01", k*5)
		dep, arr := departures[r.IntN(len(departures))], arrivals[r.IntN(len(arrivals))]
		via := countries[r.IntN(len(countries))]
		var srcs []string
		for j := range 2 + k%5 {
			it := next()
			d := writeDate(r, date)
			if j == 1 && k%3 == 0 {
				d = date[:7] // a witness who remembers the month only
			}
			set(it, "deport_date", d)
			set(it, "depart_airport", spell(r, dep, true))
			set(it, "transit_country", spell(r, via, true))
			set(it, "arrival_airport", spell(r, arr, true))
			srcs = append(srcs, it.Info.Source)
		}
		wantFlights = append(wantFlights, joinSorted(srcs))
	}
	for k := range 60 {
		fac := facilities[r.IntN(len(facilities))]
		var srcs []string
		for j := range 2 + k%4 {
			it := next()
			from := day("1990-01-01", k*60+j*3)
			set(it, "facility", spell(r, fac, true))
			set(it, "detention_from", writeDate(r, from))
			set(it, "detention_to", writeDate(r, day(from, 9)))
			srcs = append(srcs, it.Info.Source)
		}
		wantStays = append(wantStays, joinSorted(srcs))
	}
	a := analyse(items)
	// A planted flight is found as a flight, or, when a witness's
	// departure or transit is not known, as an arrival.
	for _, c := range []struct {
		what string
		got  []group
		want []string
	}{{"flight or arrival", append(a.Flights, a.Arrivals...), wantFlights}, {"detention", a.Detentions, wantStays}} {
		got := sourceSets(c.got)
		missed, spurious := 0, 0
		for _, w := range c.want {
			if !slices.Contains(got, w) {
				missed++
				t.Errorf("%s group %s not found", c.what, w)
			}
		}
		for _, gr := range c.got {
			s := sourceSets([]group{gr})[0]
			if !slices.Contains(c.want, s) {
				spurious++
				if spurious <= 5 {
					t.Logf("spurious %s group: %s (%s)", c.what, s, gr.What)
					for _, it := range gr.Items {
						t.Logf("   %s: %v", it.Info.Source, it.M.Answers)
					}
				}
			}
		}
		t.Logf("%s groups: %d found, %d planted, %d missed, %d spurious", c.what, len(got), len(c.want), missed, spurious)
		if spurious*20 > max(len(got), 1) {
			t.Errorf("%s groups: %d spurious of %d", c.what, spurious, len(got))
		}
	}
}

func set(it *caseItem, key, v string) { it.M.Answers[key] = crypto.TextAnswer(v) }

func joinSorted(s []string) string {
	s = slices.Clone(s)
	slices.Sort(s)
	return strings.Join(s, ",")
}

// spell writes a place as a witness might: one of its names or aliases,
// in some case, sometimes with its town or stray punctuation; with typo,
// sometimes with two letters of a long name swapped.
func spell(r *rand.Rand, p *gazetteer.Place, typo bool) string {
	names := slices.Clone(p.Aliases)
	for _, l := range []string{"en", "ru", "uk", "es"} {
		if s := p.Name[l]; s != "" {
			names = append(names, s)
		}
	}
	if p.IATA != "" {
		names = append(names, p.IATA)
	}
	s := names[r.IntN(len(names))]
	switch r.IntN(6) {
	case 0:
		s = strings.ToUpper(s)
	case 1:
		s = strings.ToLower(s)
	case 2:
		s = " " + s + ". "
	case 3:
		if p.Kind == gazetteer.Facility && p.City != "" {
			s += ", " + p.City
		}
	case 4:
		// A swap in a name of at least eight letters (as normalised), in the
		// middle, between two letters.
		if typo && len([]rune(gazetteer.Normalise(s))) >= 8 {
			rs := []rune(s)
			if n := len(rs); n >= 8 && !strings.ContainsAny(string(rs[n/2-1:n/2+1]), " -,.()'") && !generic(rs, n/2) {
				rs[n/2-1], rs[n/2] = rs[n/2], rs[n/2-1]
				s = string(rs)
			}
		}
	}
	return s
}

// generic reports whether the word of rs at i is one Normalise drops
// ("airport"): a typo there is not a misspelt name.
func generic(rs []rune, i int) bool {
	start, end := i, i
	for start > 0 && rs[start-1] != ' ' {
		start--
	}
	for end < len(rs) && rs[end] != ' ' {
		end++
	}
	return gazetteer.Normalise("zz "+string(rs[start:end])) == "zz"
}

// writeDate writes a day in one of the forms witnesses use.
func writeDate(r *rand.Rand, d string) string {
	t, err := time.Parse(time.DateOnly, d)
	if err != nil {
		panic(err)
	}
	ru := []string{"января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября", "ноября", "декабря"}
	switch r.IntN(5) {
	case 0:
		return t.Format("02.01.2006")
	case 1:
		return fmt.Sprintf("%d %s %d", t.Day(), ru[t.Month()-1], t.Year())
	case 2:
		return t.Format("January 2, 2006")
	case 3:
		return t.Format("2006/01/02")
	}
	return d
}
