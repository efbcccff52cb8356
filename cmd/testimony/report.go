package main

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"html/template"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"testimony/crypto"
	"testimony/form"
	"testimony/gazetteer"
)

func runReport(args []string) error {
	fl := newFlags("report")
	lang := fl.String("lang", "en", "the language of the charts' and tables' labels: en, ru, uk or es")
	gazFile := fl.String("gazetteer", "", "a gazetteer `FILE` laid over the shipped one (else DIR/gazetteer.json, if there is one)")
	pos, err := parseInterleaved(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		errorf("report needs one folder, written by open")
		return errUsage
	}
	if form.Default().Title[*lang] == "" {
		errorf("report --lang %q: the questionnaire has no such language (en, ru, uk, es)", *lang)
		return errUsage
	}
	dir := pos[0]
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	gaz, err := loadGazetteer(root, *gazFile)
	if err != nil {
		return err
	}
	items, err := loadCases(root)
	if err != nil {
		return err
	}
	a := analyseWith(items, *lang, gaz)
	var page bytes.Buffer
	if err := reportPage.Execute(&page, a); err != nil {
		return err
	}
	if err := replaceFile(root, "report.html", page.Bytes()); err != nil {
		return err
	}
	var groups bytes.Buffer
	if err := writeGroupsCSV(&groups, a); err != nil {
		return err
	}
	if err := replaceFile(root, "corroboration.csv", groups.Bytes()); err != nil {
		return err
	}
	printf("%s", a.summary())
	printf("Wrote %s and %s\n", filepath.Join(dir, "report.html"), filepath.Join(dir, "corroboration.csv"))
	return nil
}

// loadGazetteer is the shipped gazetteer with the group's file laid over
// it: the one named, else the folder's gazetteer.json when there is one.
func loadGazetteer(root *os.Root, name string) (*gazetteer.Gazetteer, error) {
	var b []byte
	var err error
	switch {
	case name != "":
		b, err = os.ReadFile(name)
	default:
		name = "gazetteer.json"
		b, err = root.ReadFile(name)
		if errors.Is(err, fs.ErrNotExist) {
			return gazetteer.Default(), nil
		}
	}
	if err != nil {
		return nil, err
	}
	g, err := gazetteer.Default().With(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return g, nil
}

// count is one bar of a chart.
type count struct {
	Label string
	N     int
	// Written are the answers counted, as the witnesses wrote them (the
	// commonest first, at most five), when the label is not theirs.
	Written []string
}

// group is a set of testimonies from different sources that describe the
// same event (corroborate.go).
type group struct {
	What    string      // the event, as normalised
	Why     []reason    // the answers that matched
	Items   []*caseItem // the items that gave them
	Sources int
	Rows    []groupRow // one per source
}

// analysis is what report finds in a case folder.
type analysis struct {
	Lang                 string
	Submissions, Sources int
	FirstDay, LastDay    string
	PerMonth             []count
	Undated              int // submissions that give no month of events
	Facilities           []count
	Transit              []count
	Conditions           []count
	Treatment            []count
	Titles               map[string]string // chart titles, by report role
	Flights              []group
	Arrivals             []group
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

// analyse reports in English with the shipped gazetteer.
func analyse(items []*caseItem) *analysis { return analyseWith(items, "en", gazetteer.Default()) }

func analyseWith(items []*caseItem, lang string, gaz *gazetteer.Gazetteer) *analysis {
	a := &analysis{Lang: lang, Titles: map[string]string{}}
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
	n := newNamer(gaz, lang)
	a.Submissions, a.Sources = len(subs), len(sources)
	a.PerMonth, a.Undated = perMonth(subs)
	a.Facilities = tallyPlaces(subs, form.DetentionPlace, n)
	a.Transit = tallyPlaces(subs, form.FlightVia, n)
	a.Conditions = tallyChoices(subs, form.DetentionConditions, lang)
	a.Treatment = tallyChoices(subs, form.FlightTreatment, lang)
	for _, role := range []string{form.DetentionPlace, form.FlightVia, form.DetentionConditions, form.FlightTreatment} {
		a.Titles[role] = chartTitle(role, lang)
	}
	c := &corroboration{n: n, lang: lang}
	ts := tellings(items, n)
	a.Flights = c.flights(ts)
	a.Arrivals = c.arrivals(ts, a.Flights)
	a.Detentions = c.detentions(ts)
	return a
}

// chartTitle is the title of the chart of the answers with the role: the
// question's section and label in the investigator's language, from the
// site's questionnaire.
func chartTitle(role, lang string) string {
	key := defaultForm.ReportKey(role)
	for _, sec := range defaultForm.Sections {
		for _, f := range sec.Fields {
			if f.Key == key {
				return sec.Title.In(lang) + ": " + f.Label.In(lang)
			}
		}
	}
	return role
}

// eventMonth is the month of the events a testimony tells: of its
// deportation, else of the start of its detention; false when it gives
// neither at month precision.
func eventMonth(m *crypto.Manifest) (string, bool) {
	for _, role := range []string{form.FlightDate, form.DetentionFrom} {
		if w, ok := parseWhen(strings.TrimSpace(reportAnswer(m, role))); ok && w.prec >= precMonth {
			return w.from.Format("2006-01"), true
		}
	}
	return "", false
}

// perMonth counts submissions by the month of the events they tell, with
// the empty months in between, and says how many give no month.
func perMonth(subs []*caseItem) ([]count, int) {
	n := map[string]int{}
	undated := 0
	for _, it := range subs {
		if m, ok := eventMonth(it.M); ok {
			n[m]++
		} else {
			undated++
		}
	}
	if len(n) == 0 {
		return nil, undated
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
			out = append(out, count{Label: m, N: n[m]})
		}
		return out, undated
	}
	for t := first; !t.After(last); t = t.AddDate(0, 1, 0) {
		m := t.Format("2006-01")
		out = append(out, count{Label: m, N: n[m]})
	}
	return out, undated
}

// tallyPlaces counts the places the answers with the role name, as the
// gazetteer finds them (an unknown name by its normalised words), most
// frequent first; each bar is labelled with the place's name in the
// investigator's language and keeps the spellings it counted.
func tallyPlaces(subs []*caseItem, role string, n *namer) []count {
	counts := map[string]int{}
	written := map[string]map[string]int{}
	match := map[string]gazetteer.Match{}
	for _, it := range subs {
		for _, v := range reportValues(it.M, role) {
			m := n.resolve(role, v)
			if m.Key == "" {
				continue
			}
			if written[m.Key] == nil {
				written[m.Key] = map[string]int{}
				match[m.Key] = m
			}
			written[m.Key][m.Written]++
			counts[m.Key]++
		}
	}
	var out []count
	for k, c := range counts {
		w := byFrequency(written[k])
		label := w[0]
		if p := match[k].Place; p != nil {
			label = p.In(n.lang)
		}
		out = append(out, count{Label: label, N: c, Written: w[:min(len(w), 5)]})
	}
	sortCounts(out)
	return out
}

// tallyChoices counts the choices of the answers with the role, each by
// its label in the investigator's language (a value the form does not
// list as it is), most frequent first.
func tallyChoices(subs []*caseItem, role, lang string) []count {
	n := map[string]int{}
	for _, it := range subs {
		f := readingForm(it.M).field(readingForm(it.M).ReportKey(role))
		for _, v := range reportValues(it.M, role) {
			if v = strings.Join(strings.Fields(v), " "); v != "" {
				n[optionLabel(f, v, lang)]++
			}
		}
	}
	var out []count
	for k, c := range n {
		out = append(out, count{Label: k, N: c})
	}
	sortCounts(out)
	return out
}

// optionLabel is the label of the field's choice v in lang; v itself when
// the form does not list it.
func optionLabel(f *form.Field, v, lang string) string {
	if f != nil {
		for _, o := range f.Options {
			if o.Value == v {
				if s := o.Label.In(lang); s != "" {
					return s
				}
			}
		}
	}
	return v
}

// reportShown is the answer with the role, each choice by its label in
// lang, joined with "; ".
func reportShown(m *crypto.Manifest, role, lang string) string {
	f := readingForm(m).field(readingForm(m).ReportKey(role))
	vals := reportValues(m, role)
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		out = append(out, optionLabel(f, v, lang))
	}
	return strings.Join(out, "; ")
}

func sortCounts(out []count) {
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return out[i].Label < out[j].Label
	})
}

// byFrequency lists the keys, most frequent first, then in sort order.
func byFrequency(n map[string]int) []string {
	out := make([]string, 0, len(n))
	for s := range n {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if n[out[i]] != n[out[j]] {
			return n[out[i]] > n[out[j]]
		}
		return out[i] < out[j]
	})
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
	fmt.Fprintf(&b, "Shared arrival (same arrival airport and date, not one route, 2+ sources): %d\n", len(a.Arrivals))
	for _, g := range a.Arrivals {
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
		cs = append(cs[:maxBars-1:maxBars-1], count{Label: fmt.Sprintf("%d others", len(cs)-maxBars+1), N: rest})
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
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#3b6ea5">`, labelW, y+3, max(w, 1), rowH-6)
		if len(c.Written) > 0 {
			// The answers counted, as the witnesses wrote them.
			fmt.Fprintf(&b, `<title>%s</title>`, html.EscapeString("as written: "+strings.Join(c.Written, "; ")))
		}
		b.WriteString(`</rect>`)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%d</text>`, labelW+max(w, 1)+5, y+15, c.N)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// columnChart draws vertical bars in the given order (months), under a
// title and a line that says what is counted.
func columnChart(title, note string, cs []count) template.HTML {
	const colW, plotH, top, bottom, left = 28, 200, 46, 60, 40
	maxN := 1
	for _, c := range cs {
		maxN = max(maxN, c.N)
	}
	w := max(left+colW*max(len(cs), 1)+20, 7*utf8.RuneCountInString(note))
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%d" height="%d" role="img" aria-label="%s">`, w, top+plotH+bottom, html.EscapeString(title+". "+note))
	fmt.Fprintf(&b, `<text x="0" y="16" font-weight="bold">%s</text>`, html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="0" y="34" font-size="12">%s</text>`, html.EscapeString(note))
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

// monthsNote says what the per-month chart counts.
func monthsNote(undated int) string {
	t := "By the month of the events told: the deportation date, else the start of detention; not the day received."
	if undated > 0 {
		t += fmt.Sprintf(" %d give no month.", undated)
	}
	return t
}

var reportFuncs = template.FuncMap{
	"bars":    barChart,
	"columns": columnChart,
	"href":    itemHref,
	"months":  monthsNote,
	"now":     func() string { return time.Now().UTC().Format(time.DateOnly) },
}

// groupTable is the table of one kind of group.
const groupTable = `{{define "groups"}}{{if .}}<table><tr><th>Event</th><th>Why</th><th>Sources</th><th>Testimonies</th></tr>
{{range .}}<tr><td>{{.What}}</td><td>{{range .Why}}<b>{{.Field}}</b>: {{.Value}}<br><span class="muted">as written: {{range $i, $w := .Written}}{{if $i}}; {{end}}“{{$w}}”{{end}}</span><br>{{end}}</td><td>{{.Sources}}</td><td>{{range .Rows}}{{.Source}}:{{range .Items}} <a href="{{href .}}">{{.M.Day}} {{.M.Kind}}</a>{{end}}{{with .Withdrawal}} <span class="withdrawn">({{.}})</span>{{end}}{{with .Note}} — {{.}}{{end}}<br>{{end}}</td></tr>
{{end}}</table>{{else}}<p class="muted">None.</p>{{end}}{{end}}`

var reportPage = template.Must(template.Must(template.New("report").Funcs(reportFuncs).Parse(groupTable)).Parse(`<!DOCTYPE html>
<html lang="{{.Lang}}"><head><meta charset="utf-8">
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
<p>Groups of sources whose answers describe the same event. Places are compared as the gazetteer names them (a name it does not know by its words, case, accents and punctuation aside), dates at the precision the witness gave: a month matches any day in it. Each group says which answers matched and how each witness wrote them; a source counts once, whatever its follow-ups. Also in corroboration.csv.</p>
<h3>Shared flights ({{len .Flights}})</h3>
<p class="muted">The same departure, transit and arrival, on the same day.</p>
{{template "groups" .Flights}}
<h3>Shared arrival ({{len .Arrivals}})</h3>
<p class="muted">The same arrival airport on the same day, where the witnesses differ on departure or transit.</p>
{{template "groups" .Arrivals}}
<h3>Shared detention ({{len .Detentions}})</h3>
<p class="muted">The same facility, at overlapping times (a chain of overlaps is one group). A stay given only by its year is not grouped.</p>
{{template "groups" .Detentions}}
<h2>Charts</h2>
<p>{{columns "Testimonies per month of the events told" (months .Undated) .PerMonth}}</p>
<p>{{bars (index .Titles "detention.place") .Facilities}}</p>
<p>{{bars (index .Titles "flight.via") .Transit}}</p>
<p>{{bars (index .Titles "detention.conditions") .Conditions}}</p>
<p>{{bars (index .Titles "flight.treatment") .Treatment}}</p>
</body></html>
`))
