package main

import (
	"bytes"
	"fmt"
	"html"
	"html/template"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"testimony/crypto"
	"testimony/form"
)

func runReport(args []string) error {
	fl := newFlags("report")
	pos, err := parseInterleaved(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		errorf("report needs one folder, written by open")
		return errUsage
	}
	dir := pos[0]
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	items, err := loadCases(root)
	if err != nil {
		return err
	}
	a := analyse(items)
	var page bytes.Buffer
	if err := reportPage.Execute(&page, a); err != nil {
		return err
	}
	if err := replaceFile(root, "report.html", page.Bytes()); err != nil {
		return err
	}
	printf("%s", a.summary())
	printf("Wrote %s\n", filepath.Join(dir, "report.html"))
	return nil
}

// count is one bar of a chart.
type count struct {
	Label string
	N     int
}

// group is a set of testimonies from different sources that describe the
// same event: one flight, or one facility at overlapping times.
type group struct {
	What    string
	Items   []*caseItem
	Sources int
}

// analysis is what report finds in a case folder.
type analysis struct {
	Submissions, Sources int
	FirstDay, LastDay    string
	PerMonth             []count
	Facilities           []count
	Transit              []count
	Conditions           []count
	Treatment            []count
	Flights              []group
	Detentions           []group
	// Withdrawn are the sources that took their account back, each with
	// every item of it in the folder; their testimonies are counted and
	// grouped above like any other, and marked wherever they are shown.
	Withdrawn []withdrawnGroup
}

// withdrawnGroup is a source that took its account back and its items.
type withdrawnGroup struct {
	withdrawnSource
	List []*caseItem
}

func analyse(items []*caseItem) *analysis {
	a := &analysis{}
	for _, w := range markWithdrawals(items) {
		g := withdrawnGroup{withdrawnSource: w}
		for _, it := range items {
			if it.Info.Source == w.Source {
				g.List = append(g.List, it)
			}
		}
		a.Withdrawn = append(a.Withdrawn, g)
	}
	var subs []*caseItem
	sources := map[string]bool{}
	for _, it := range items {
		if it.M.Kind != crypto.KindSubmission {
			continue
		}
		subs = append(subs, it)
		sources[it.Info.Source] = true
		if a.FirstDay == "" || it.M.Day < a.FirstDay {
			a.FirstDay = it.M.Day
		}
		if it.M.Day > a.LastDay {
			a.LastDay = it.M.Day
		}
	}
	a.Submissions, a.Sources = len(subs), len(sources)
	a.PerMonth = perMonth(subs)
	a.Facilities = tally(subs, form.DetentionPlace)
	a.Transit = tally(subs, form.FlightVia)
	a.Conditions = tally(subs, form.DetentionConditions)
	a.Treatment = tally(subs, form.FlightTreatment)
	a.Flights = flightGroups(subs)
	a.Detentions = detentionGroups(subs)
	return a
}

// perMonth counts submissions by the month they were received, with the
// empty months in between.
func perMonth(subs []*caseItem) []count {
	n := map[string]int{}
	for _, it := range subs {
		n[it.M.Day[:7]]++
	}
	if len(n) == 0 {
		return nil
	}
	var months []string
	for m := range n {
		months = append(months, m)
	}
	sort.Strings(months)
	first, err1 := time.Parse("2006-01", months[0])
	last, err2 := time.Parse("2006-01", months[len(months)-1])
	var out []count
	if err1 != nil || err2 != nil || last.Sub(first) > 50*366*24*time.Hour {
		for _, m := range months {
			out = append(out, count{m, n[m]})
		}
		return out
	}
	for t := first; !t.After(last); t = t.AddDate(0, 1, 0) {
		m := t.Format("2006-01")
		out = append(out, count{m, n[m]})
	}
	return out
}

// norm folds the spelling differences of free-text answers.
func norm(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// tally counts the values of the answers with a report role, most
// frequent first; for a multiple-choice answer each choice counts.
func tally(subs []*caseItem, role string) []count {
	n := map[string]int{}
	spellings := map[string]map[string]int{}
	for _, it := range subs {
		for _, v := range reportValues(it.M, role) {
			k := norm(v)
			if k == "" {
				continue
			}
			if spellings[k] == nil {
				spellings[k] = map[string]int{}
			}
			spellings[k][strings.Join(strings.Fields(v), " ")]++
			n[k]++
		}
	}
	var out []count
	for k, c := range n {
		out = append(out, count{mostCommon(spellings[k]), c})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Label < out[j].Label
	})
	return out
}

// mostCommon returns the most frequent key, the first in sort order on a tie.
func mostCommon(n map[string]int) string {
	best, first := "", true
	for s, c := range n {
		if first || c > n[best] || c == n[best] && s < best {
			best, first = s, false
		}
	}
	return best
}

func distinctSources(items []*caseItem) int {
	s := map[string]bool{}
	for _, it := range items {
		s[it.Info.Source] = true
	}
	return len(s)
}

// flightGroups groups submissions that give the same deportation date and
// route (departure, transit, arrival), from at least two sources: the
// answers of the fields with the flight report roles of each item's form.
func flightGroups(subs []*caseItem) []group {
	byKey := map[string][]*caseItem{}
	var keys []string
	for _, it := range subs {
		date := strings.TrimSpace(reportAnswer(it.M, form.FlightDate))
		dep, arr := reportAnswer(it.M, form.FlightFrom), reportAnswer(it.M, form.FlightTo)
		if date == "" || norm(dep) == "" || norm(arr) == "" {
			continue
		}
		k := date + "\x00" + norm(dep) + "\x00" + norm(reportAnswer(it.M, form.FlightVia)) + "\x00" + norm(arr)
		if byKey[k] == nil {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], it)
	}
	sort.Strings(keys)
	var out []group
	for _, k := range keys {
		its := byKey[k]
		if distinctSources(its) < 2 {
			continue
		}
		route := spelling(its, form.FlightFrom)
		if t := spelling(its, form.FlightVia); t != "" {
			route += " → " + t
		}
		route += " → " + spelling(its, form.FlightTo)
		out = append(out, group{What: spelling(its, form.FlightDate) + ", " + route, Items: its, Sources: distinctSources(its)})
	}
	return out
}

// spelling is how most items of a group write the answer with a report
// role (the first in sort order on a tie), since witnesses write the same
// place differently.
func spelling(its []*caseItem, role string) string {
	n := map[string]int{}
	for _, it := range its {
		n[strings.Join(strings.Fields(reportAnswer(it.M, role)), " ")]++
	}
	return mostCommon(n)
}

type stay struct {
	it       *caseItem
	from, to time.Time
}

// detentionGroups groups submissions that name the same facility with
// overlapping detention dates (overlap chains join a group), from at
// least two sources: the answers of the fields with the detention report
// roles of each item's form.
func detentionGroups(subs []*caseItem) []group {
	byFacility := map[string][]stay{}
	label := map[string]string{}
	var facilities []string
	for _, it := range subs {
		f := norm(reportAnswer(it.M, form.DetentionPlace))
		from, err := time.Parse(time.DateOnly, strings.TrimSpace(reportAnswer(it.M, form.DetentionFrom)))
		if f == "" || err != nil {
			continue
		}
		to, err := time.Parse(time.DateOnly, strings.TrimSpace(reportAnswer(it.M, form.DetentionTo)))
		if err != nil || to.Before(from) {
			to = from
		}
		if _, ok := label[f]; !ok {
			label[f] = strings.TrimSpace(reportAnswer(it.M, form.DetentionPlace))
			facilities = append(facilities, f)
		}
		byFacility[f] = append(byFacility[f], stay{it, from, to})
	}
	sort.Strings(facilities)
	var out []group
	for _, f := range facilities {
		stays := byFacility[f]
		sort.SliceStable(stays, func(i, j int) bool { return stays[i].from.Before(stays[j].from) })
		flush := func(c []stay, end time.Time) {
			var its []*caseItem
			for _, s := range c {
				its = append(its, s.it)
			}
			if distinctSources(its) < 2 {
				return
			}
			what := fmt.Sprintf("%s, %s to %s", label[f], c[0].from.Format(time.DateOnly), end.Format(time.DateOnly))
			out = append(out, group{What: what, Items: its, Sources: distinctSources(its)})
		}
		var cur []stay
		var end time.Time
		for _, s := range stays {
			if len(cur) > 0 && s.from.After(end) {
				flush(cur, end)
				cur = nil
			}
			if len(cur) == 0 || s.to.After(end) {
				end = s.to
			}
			cur = append(cur, s)
		}
		if len(cur) > 0 {
			flush(cur, end)
		}
	}
	return out
}

// summary is the plain-text report printed on standard output. Each
// answer in it goes through safeText, so that a newline in one cannot
// forge a line either.
func (a *analysis) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d submissions from %d sources", a.Submissions, a.Sources)
	if a.FirstDay != "" {
		fmt.Fprintf(&b, ", received %s to %s", a.FirstDay, a.LastDay)
	}
	b.WriteString("\n")
	if len(a.Withdrawn) > 0 {
		fmt.Fprintf(&b, "Taken back by the witness (do not use; marked in report.html): %d sources\n", len(a.Withdrawn))
		for _, w := range a.Withdrawn {
			fmt.Fprintf(&b, "  %s: %s on %s, %d items\n", safeText(w.Source), w.Label, w.Day, w.Items)
		}
	}
	top := func(title string, cs []count) {
		if len(cs) == 0 {
			return
		}
		fmt.Fprintf(&b, "%s:", title)
		for i, c := range cs {
			if i == 5 {
				fmt.Fprintf(&b, " …")
				break
			}
			sep := ","
			if i == 0 {
				sep = ""
			}
			fmt.Fprintf(&b, "%s %s %d", sep, safeText(c.Label), c.N)
		}
		b.WriteString("\n")
	}
	top("Facilities", a.Facilities)
	top("Transit countries", a.Transit)
	top("Conditions", a.Conditions)
	top("On the flight", a.Treatment)
	fmt.Fprintf(&b, "Shared flights (same deportation date and route, 2+ sources): %d\n", len(a.Flights))
	for _, g := range a.Flights {
		fmt.Fprintf(&b, "  %s: %d testimonies from %d sources\n", safeText(g.What), len(g.Items), g.Sources)
	}
	fmt.Fprintf(&b, "Shared detention (same facility, overlapping dates, 2+ sources): %d\n", len(a.Detentions))
	for _, g := range a.Detentions {
		fmt.Fprintf(&b, "  %s: %d testimonies from %d sources\n", safeText(g.What), len(g.Items), g.Sources)
	}
	return b.String()
}

// Charts are drawn here, as inline SVG: no script, no library.

const maxBars = 25

// barChart draws horizontal bars, one per count, longest first as given.
func barChart(title string, cs []count) template.HTML {
	if len(cs) > maxBars {
		rest := 0
		for _, c := range cs[maxBars-1:] {
			rest += c.N
		}
		cs = append(cs[:maxBars-1:maxBars-1], count{fmt.Sprintf("%d others", len(cs)-maxBars+1), rest})
	}
	const labelW, barW, rowH, top = 260, 420, 22, 28
	maxN := 1
	for _, c := range cs {
		maxN = max(maxN, c.N)
	}
	h := top + rowH*len(cs) + 8
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%d" height="%d" role="img" aria-label="%s">`, labelW+barW+60, h, html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="0" y="16" font-weight="bold">%s</text>`, html.EscapeString(title))
	if len(cs) == 0 {
		fmt.Fprintf(&b, `<text x="0" y="%d">no answers</text>`, top+14)
	}
	for i, c := range cs {
		y := top + i*rowH
		w := c.N * barW / maxN
		label := c.Label
		if r := []rune(label); len(r) > 38 {
			label = string(r[:37]) + "…"
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, labelW-6, y+15, html.EscapeString(label))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#3b6ea5"/>`, labelW, y+3, max(w, 1), rowH-6)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%d</text>`, labelW+max(w, 1)+5, y+15, c.N)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// columnChart draws vertical bars in the given order (months).
func columnChart(title string, cs []count) template.HTML {
	const colW, plotH, top, bottom, left = 28, 200, 28, 60, 40
	maxN := 1
	for _, c := range cs {
		maxN = max(maxN, c.N)
	}
	w := left + colW*max(len(cs), 1) + 20
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%d" height="%d" role="img" aria-label="%s">`, w, top+plotH+bottom, html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="0" y="16" font-weight="bold">%s</text>`, html.EscapeString(title))
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999"/>`, left, top+plotH, w-10, top+plotH)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%d</text>`, left-4, top+10, maxN)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">0</text>`, left-4, top+plotH)
	for i, c := range cs {
		x := left + i*colW
		h := c.N * plotH / maxN
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#3b6ea5"><title>%s: %d</title></rect>`, x+3, top+plotH-h, colW-6, h, html.EscapeString(c.Label), c.N)
		if c.N > 0 {
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-size="10">%d</text>`, x+colW/2, top+plotH-h-3, c.N)
		}
		fmt.Fprintf(&b, `<text transform="translate(%d,%d) rotate(-60)" text-anchor="end" font-size="10">%s</text>`, x+colW/2+4, top+plotH+12, html.EscapeString(c.Label))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func itemHref(it *caseItem) string { return pathEscape(it.Dir) + "/testimony.html" }

var reportFuncs = template.FuncMap{
	"bars":    barChart,
	"columns": columnChart,
	"href":    itemHref,
	// The answers of an item's fields with the report roles the
	// corroboration tables show.
	"treatment":  func(m *crypto.Manifest) string { return reportAnswer(m, form.FlightTreatment) },
	"conditions": func(m *crypto.Manifest) string { return reportAnswer(m, form.DetentionConditions) },
	"heldFrom":   func(m *crypto.Manifest) string { return reportAnswer(m, form.DetentionFrom) },
	"heldTo":     func(m *crypto.Manifest) string { return reportAnswer(m, form.DetentionTo) },
	"now":        func() string { return time.Now().UTC().Format(time.DateOnly) },
}

var reportPage = template.Must(template.New("report").Funcs(reportFuncs).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<title>Testimony report</title>` + pageStyle + `</head>
<body>
<p><a href="index.html">All cases</a></p>
<h1>Report</h1>
<p>{{.Submissions}} submissions from {{.Sources}} sources{{if .FirstDay}}, received {{.FirstDay}} to {{.LastDay}}{{end}}. Made {{now}}.</p>
{{if .Withdrawn}}<h2 class="withdrawn">Taken back by the witness ({{len .Withdrawn}})</h2>
<p>These witnesses withdrew their consent or asked for deletion with their codename. Do not use or quote their items; they are still counted below, each marked. Deleting is done on the investigator site, where it is audited.</p>
<table><tr><th>Source</th><th>Request</th><th>Day</th><th>Items</th></tr>
{{range .Withdrawn}}<tr><td><a href="index.html#{{.Source}}">{{.Source}}</a></td><td class="withdrawn">{{.Label}}</td><td>{{.Day}}</td><td>{{range .List}}<a href="{{href .}}">{{.M.Day}} {{.M.Kind}}</a> <span class="withdrawn">({{.Withdrawal}})</span><br>{{end}}</td></tr>
{{end}}</table>{{end}}
<h2>Corroboration</h2>
<p>Groups of testimonies from different sources that describe the same event: the same deportation date and route, or the same facility at overlapping dates.</p>
<h3>Shared flights ({{len .Flights}})</h3>
{{if .Flights}}<table><tr><th>Date and route</th><th>Sources</th><th>Testimonies</th></tr>
{{range .Flights}}<tr><td>{{.What}}</td><td>{{.Sources}}</td><td>{{range .Items}}<a href="{{href .}}">{{.Info.Source}} ({{.M.Day}})</a>{{with .Withdrawal}} <span class="withdrawn">({{.}})</span>{{end}} {{treatment .M}}<br>{{end}}</td></tr>
{{end}}</table>{{else}}<p class="muted">None.</p>{{end}}
<h3>Shared detention ({{len .Detentions}})</h3>
{{if .Detentions}}<table><tr><th>Facility and dates</th><th>Sources</th><th>Testimonies</th></tr>
{{range .Detentions}}<tr><td>{{.What}}</td><td>{{.Sources}}</td><td>{{range .Items}}<a href="{{href .}}">{{.Info.Source}}</a>{{with .Withdrawal}} <span class="withdrawn">({{.}})</span>{{end}} {{heldFrom .M}} to {{heldTo .M}}: {{conditions .M}}<br>{{end}}</td></tr>
{{end}}</table>{{else}}<p class="muted">None.</p>{{end}}
<h2>Charts</h2>
<p>{{columns "Testimonies received per month" .PerMonth}}</p>
<p>{{bars "Testimonies per detention facility" .Facilities}}</p>
<p>{{bars "Testimonies per transit country" .Transit}}</p>
<p>{{bars "Conditions reported in detention" .Conditions}}</p>
<p>{{bars "Treatment reported on the flight" .Treatment}}</p>
</body></html>
`))
