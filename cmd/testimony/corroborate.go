package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"testimony/crypto"
	"testimony/form"
	"testimony/gazetteer"
)

// Corroboration: groups of sources whose answers describe the same event.
// Places are compared by what the gazetteer finds they name (a name it
// does not know by its normalised words), dates at the precision given
// (when.go). Three kinds of group, each of at least two sources:
//
//   - a flight: the same departure, transit and arrival, and the same day
//     of deportation;
//   - an arrival: the same arrival airport and day, whatever the witnesses
//     said of departure and transit — unless the sources that give the
//     day are all already in one flight group;
//   - a detention: the same facility, and held at overlapping times (a
//     chain of overlaps makes one group).
//
// A date given as a month joins every group of a day in that month, or,
// when there is none, groups with the other dates of that month; a year
// is too coarse to group by. Each group says why: which answers matched,
// as normalised and as the witnesses wrote them. Sources are counted, not
// items: a follow-up that repeats its submission's answers counts once.

// reason is one answer that made a group: the question, the value it was
// compared as, and the answers as written, each once.
type reason struct {
	Field   string
	Value   string
	Written []string
}

// groupRow is one source of a group, with the items that gave the answers.
type groupRow struct {
	Source     string
	Withdrawal string
	Items      []*caseItem
	Note       string // what they told of it: treatment, conditions
}

// namer resolves answers with a gazetteer, once per distinct answer, and
// labels what it finds in the investigator's language.
type namer struct {
	g    *gazetteer.Gazetteer
	lang string
	memo map[[2]string]gazetteer.Match
}

func newNamer(g *gazetteer.Gazetteer, lang string) *namer {
	return &namer{g: g, lang: lang, memo: map[[2]string]gazetteer.Match{}}
}

// resolve gives the place an answer with the role names.
func (n *namer) resolve(role, s string) gazetteer.Match {
	k := [2]string{role, s}
	if m, ok := n.memo[k]; ok {
		return m
	}
	var m gazetteer.Match
	switch role {
	case form.DetentionPlace:
		m = n.g.Resolve(s, gazetteer.Facility)
	case form.FlightVia:
		m = n.g.ResolveCountry(s)
	default:
		m = n.g.Resolve(s, gazetteer.Airport, gazetteer.City)
	}
	n.memo[k] = m
	return m
}

// label names a place briefly: an airport by its code, any other place by
// its name in the investigator's language, a place not known as most of
// the witnesses wrote it.
func (n *namer) label(m gazetteer.Match, written []string) string {
	switch {
	case m.Place == nil:
		if len(written) > 0 {
			return written[0]
		}
		return m.Written
	case m.Place.Kind == gazetteer.Airport:
		return m.Place.IATA
	}
	return m.Place.In(n.lang)
}

// told is what one item says with the report roles.
type told struct {
	it            *caseItem
	flight        when
	flightOK      bool
	from, via, to gazetteer.Match
	place         gazetteer.Match
	// held is the stay, from the start of the first date's span to the
	// end of the second's; heldFrom and heldTo are the dates as given.
	held, heldFrom, heldTo when
	heldOK                 bool
	heldRaw                string
	dateRaw                string
	fromRaw, toRaw         string
	viaRaw                 string
	placeRaw               string
}

// corroborated are the items whose answers may join a group: the
// witnesses' submissions and follow-ups.
func tellings(items []*caseItem, n *namer) []*told {
	var out []*told
	for _, it := range items {
		if it.M.Kind != crypto.KindSubmission && it.M.Kind != crypto.KindFollowup {
			continue
		}
		t := &told{it: it}
		get := func(role string) string { return strings.TrimSpace(reportAnswer(it.M, role)) }
		t.dateRaw, t.fromRaw, t.viaRaw, t.toRaw = get(form.FlightDate), get(form.FlightFrom), get(form.FlightVia), get(form.FlightTo)
		if w, ok := parseWhen(t.dateRaw); ok && w.prec >= precMonth {
			t.flight, t.flightOK = w, true
		}
		t.from, t.via, t.to = n.resolve(form.FlightFrom, t.fromRaw), n.resolve(form.FlightVia, t.viaRaw), n.resolve(form.FlightTo, t.toRaw)
		t.placeRaw = get(form.DetentionPlace)
		t.place = n.resolve(form.DetentionPlace, t.placeRaw)
		fromRaw, toRaw := get(form.DetentionFrom), get(form.DetentionTo)
		if f, ok := parseWhen(fromRaw); ok && f.prec >= precMonth {
			t.held, t.heldFrom, t.heldTo, t.heldOK = f, f, f, true
			t.heldRaw = fromRaw
			if u, ok := parseWhen(toRaw); ok && !u.to.Before(f.from) {
				t.held.to, t.heldTo = u.to, u
				t.heldRaw += " – " + toRaw
			}
		}
		out = append(out, t)
	}
	return out
}

// dated is a telling with the date it is grouped by.
type dated struct {
	t *told
	w when
}

// byDate splits entries (of one route, one airport) into groups of one
// day: entries of day precision make them, and one of month precision
// joins each in its month; month entries of a month without any such day
// make one group of that month. Each group comes with the date it is of.
func byDate(es []dated) ([][]dated, []when) {
	days := map[string][]dated{}
	var dayKeys []string
	for _, e := range es {
		if e.w.prec == precDay {
			k := e.w.String()
			if days[k] == nil {
				dayKeys = append(dayKeys, k)
			}
			days[k] = append(days[k], e)
		}
	}
	sort.Strings(dayKeys)
	months := map[string][]dated{}
	var monthKeys []string
	for _, e := range es {
		if e.w.prec != precMonth {
			continue
		}
		joined := false
		for _, k := range dayKeys {
			if e.w.overlaps(days[k][0].w) {
				days[k] = append(days[k], e)
				joined = true
			}
		}
		if !joined {
			k := e.w.String()
			if months[k] == nil {
				monthKeys = append(monthKeys, k)
			}
			months[k] = append(months[k], e)
		}
	}
	sort.Strings(monthKeys)
	var groups [][]dated
	var dates []when
	for _, k := range dayKeys {
		groups, dates = append(groups, days[k]), append(dates, days[k][0].w)
	}
	for _, k := range monthKeys {
		groups, dates = append(groups, months[k]), append(dates, months[k][0].w)
	}
	return groups, dates
}

// makeGroup gathers the tellings of a group by source, sources in sort
// order; nil when fewer than two sources. note gives what an item told of
// the event (treatment, conditions), shown with its source.
func makeGroup(ts []*told, note func(*crypto.Manifest) string) *group {
	if len(ts) < 2 || !slices.ContainsFunc(ts[1:], func(t *told) bool { return t.it.Info.Source != ts[0].it.Info.Source }) {
		return nil // one source: most of the folder, so before any work
	}
	g := &group{}
	idx := map[string]int{}
	for _, t := range ts {
		i, ok := idx[t.it.Info.Source]
		if !ok {
			i = len(g.Rows)
			idx[t.it.Info.Source] = i
			g.Rows = append(g.Rows, groupRow{Source: t.it.Info.Source, Withdrawal: t.it.Withdrawal})
		}
		r := &g.Rows[i]
		r.Items = append(r.Items, t.it)
		if s := note(t.it.M); s != "" && !strings.Contains(r.Note, s) {
			if r.Note != "" {
				r.Note += "; "
			}
			r.Note += s
		}
		g.Items = append(g.Items, t.it)
	}
	g.Sources = len(g.Rows)
	if g.Sources < 2 {
		return nil
	}
	sort.SliceStable(g.Rows, func(i, j int) bool { return g.Rows[i].Source < g.Rows[j].Source })
	return g
}

// spellings lists the answers as written, most frequent first (then in
// sort order), each once.
func spellings(ts []*told, raw func(*told) string) []string {
	n := map[string]int{}
	for _, t := range ts {
		if s := strings.Join(strings.Fields(raw(t)), " "); s != "" {
			n[s]++
		}
	}
	return byFrequency(n)
}

func toldOf(ds []dated) []*told {
	out := make([]*told, len(ds))
	for i, d := range ds {
		out[i] = d.t
	}
	return out
}

// corroboration finds the groups of the three kinds.
type corroboration struct {
	n    *namer
	lang string
}

// fieldLabel is the question with the role, as the default form asks it
// in the investigator's language.
func fieldLabel(role, lang string) string {
	if f := defaultForm.field(defaultForm.ReportKey(role)); f != nil {
		return f.Label.In(lang)
	}
	return role
}

func (c *corroboration) placeReason(role string, ts []*told, m gazetteer.Match, raw func(*told) string) reason {
	w := spellings(ts, raw)
	return reason{Field: fieldLabel(role, c.lang), Value: c.n.label(m, w), Written: w}
}

func (c *corroboration) flights(ts []*told) []group {
	byRoute := map[string][]dated{}
	var routes []string
	for _, t := range ts {
		if !t.flightOK || t.from.Key == "" || t.to.Key == "" {
			continue
		}
		k := t.from.Key + "\x00" + t.via.Key + "\x00" + t.to.Key
		if byRoute[k] == nil {
			routes = append(routes, k)
		}
		byRoute[k] = append(byRoute[k], dated{t, t.flight})
	}
	var out []group
	for _, k := range routes {
		gs, dates := byDate(byRoute[k])
		for i, ds := range gs {
			its := toldOf(ds)
			g := makeGroup(its, func(m *crypto.Manifest) string { return reportShown(m, form.FlightTreatment, c.lang) })
			if g == nil {
				continue
			}
			first := its[0]
			why := []reason{
				{Field: fieldLabel(form.FlightDate, c.lang), Value: dates[i].String(), Written: spellings(its, func(t *told) string { return t.dateRaw })},
				c.placeReason(form.FlightFrom, its, first.from, func(t *told) string { return t.fromRaw }),
			}
			route := why[1].Value
			if first.via.Key != "" {
				why = append(why, c.placeReason(form.FlightVia, its, first.via, func(t *told) string { return t.viaRaw }))
				route += " → " + why[len(why)-1].Value
			}
			why = append(why, c.placeReason(form.FlightTo, its, first.to, func(t *told) string { return t.toRaw }))
			route += " → " + why[len(why)-1].Value
			g.What, g.Why = dates[i].String()+", "+route, why
			out = append(out, *g)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].What < out[j].What })
	return out
}

// arrivals groups by arrival airport and day, leaving out a group whose
// sources are all in one flight group already.
func (c *corroboration) arrivals(ts []*told, flights []group) []group {
	byTo := map[string][]dated{}
	var keys []string
	for _, t := range ts {
		if !t.flightOK || t.to.Key == "" {
			continue
		}
		if byTo[t.to.Key] == nil {
			keys = append(keys, t.to.Key)
		}
		byTo[t.to.Key] = append(byTo[t.to.Key], dated{t, t.flight})
	}
	var out []group
	for _, k := range keys {
		gs, dates := byDate(byTo[k])
		for i, ds := range gs {
			its := toldOf(ds)
			g := makeGroup(its, func(m *crypto.Manifest) string { return reportShown(m, form.FlightTreatment, c.lang) })
			if g == nil || withinOne(daySources(ds), flights) {
				continue
			}
			why := []reason{
				{Field: fieldLabel(form.FlightDate, c.lang), Value: dates[i].String(), Written: spellings(its, func(t *told) string { return t.dateRaw })},
				c.placeReason(form.FlightTo, its, its[0].to, func(t *told) string { return t.toRaw }),
			}
			g.What, g.Why = dates[i].String()+", → "+why[1].Value, why
			out = append(out, *g)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].What < out[j].What })
	return out
}

// daySources are the sources of the entries that give a day; all of them
// when none does (a group of one month).
func daySources(ds []dated) []string {
	var day, all []string
	for _, d := range ds {
		all = append(all, d.t.it.Info.Source)
		if d.w.prec == precDay {
			day = append(day, d.t.it.Info.Source)
		}
	}
	if len(day) == 0 {
		return all
	}
	return day
}

// withinOne reports whether the sources are all in one of the groups. An
// arrival group is left out when the sources that give its day are: one
// that only adds witnesses who remember the month tells nothing new.
func withinOne(sources []string, groups []group) bool {
	for _, o := range groups {
		in := map[string]bool{}
		for _, r := range o.Rows {
			in[r.Source] = true
		}
		all := true
		for _, s := range sources {
			all = all && in[s]
		}
		if all {
			return true
		}
	}
	return false
}

func (c *corroboration) detentions(ts []*told) []group {
	byPlace := map[string][]*told{}
	var places []string
	for _, t := range ts {
		if !t.heldOK || t.place.Key == "" {
			continue
		}
		if byPlace[t.place.Key] == nil {
			places = append(places, t.place.Key)
		}
		byPlace[t.place.Key] = append(byPlace[t.place.Key], t)
	}
	var out []group
	for _, k := range places {
		stays := byPlace[k]
		sort.SliceStable(stays, func(i, j int) bool { return stays[i].held.from.Before(stays[j].held.from) })
		flush := func(its []*told, from, to when) {
			g := makeGroup(its, func(m *crypto.Manifest) string { return reportShown(m, form.DetentionConditions, c.lang) })
			if g == nil {
				return
			}
			place := c.placeReason(form.DetentionPlace, its, its[0].place, func(t *told) string { return t.placeRaw })
			period := from.String()
			if to.String() != period {
				period += " to " + to.String()
			}
			span := reason{Field: fieldLabel(form.DetentionFrom, c.lang) + " / " + fieldLabel(form.DetentionTo, c.lang),
				Value: "overlapping, " + period, Written: spellings(its, func(t *told) string { return t.heldRaw })}
			g.What, g.Why = place.Value+", "+period, []reason{place, span}
			out = append(out, *g)
		}
		var cur []*told
		var start, end when // the group's first start and last end, as given
		for _, s := range stays {
			if len(cur) > 0 && s.held.from.After(end.to) {
				flush(cur, start, end)
				cur = nil
			}
			if len(cur) == 0 {
				start, end = s.heldFrom, s.heldTo
			} else if s.held.to.After(end.to) {
				end = s.heldTo
			}
			cur = append(cur, s)
		}
		if len(cur) > 0 {
			flush(cur, start, end)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].What < out[j].What })
	return out
}

// writeGroupsCSV writes corroboration.csv: one row per source of each
// group, with the event, why and what the source wrote; every cell made
// inert for a spreadsheet (csvCells).
func writeGroupsCSV(w io.Writer, a *analysis) error {
	io.WriteString(w, "\uFEFF")
	cw := csv.NewWriter(w)
	if err := cw.Write(csvCells([]string{"kind", "group", "event", "why", "source", "withdrawal", "items", "told"})); err != nil {
		return err
	}
	for _, k := range []struct {
		kind   string
		groups []group
	}{{"flight", a.Flights}, {"arrival", a.Arrivals}, {"detention", a.Detentions}} {
		for i, g := range k.groups {
			var why []string
			for _, r := range g.Why {
				why = append(why, r.Field+": "+r.Value+" (as written: "+strings.Join(r.Written, "; ")+")")
			}
			for _, r := range g.Rows {
				var ids []string
				for _, it := range r.Items {
					ids = append(ids, it.Info.ID)
				}
				row := []string{k.kind, fmt.Sprintf("%s-%d", k.kind, i+1), g.What, strings.Join(why, "\n"),
					r.Source, r.Withdrawal, strings.Join(ids, " "), r.Note}
				if err := cw.Write(csvCells(row)); err != nil {
					return err
				}
			}
		}
	}
	cw.Flush()
	return cw.Error()
}
