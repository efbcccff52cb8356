package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"os"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"testimony/annotations"
	"testimony/crypto"
)

// The triage pages of a case folder: index.html at its root (an overview
// and the first page of every item by source), and in triage/ one list of
// cases per status, tag, assignee and month received, each cut into pages
// that stay far below 1 MB however many cases there are; each item's own
// page (testimony.html in its folder) is rewritten with its source's
// thread and the annotation history. cases.db (casesdb.go) is written
// beside them. Everything is rebuilt from the item folders and the merged
// annotations, by open and by "testimony index DIR".
//
// The pages are read from file:// on the air-gapped machine: no script,
// relative links only, every string from an item or a log escaped by
// html/template and its control characters made visible.

// triageDir holds the pages other than index.html.
const triageDir = "triage"

// Page limits: a page holds at most maxRows rows and at most pageBudget
// bytes, whichever comes first. Every row is bounded (texts in lists are
// cut), so a page never reaches 1 MB.
const (
	maxRows       = 400
	pageBudget    = 800 << 10
	maxSnippet    = 240 // runes of the narrative in a list
	maxKeyAnswer  = 160 // runes of a key answer in a list
	maxListed     = 12  // tags or attachments shown in one row
	overviewGroup = 24  // groups of a facet named on the overview
)

// runIndex rebuilds the pages and cases.db of a case folder, after
// annotate or after others' annotation logs were put in .annotations/.
// (annotate itself does not: at 30,000 cases a rebuild takes seconds, and
// a session of triage makes many changes.)
func runIndex(args []string) error {
	fl := newFlags("index")
	pos, err := parseInterleaved(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		errorf("index needs one folder written by open")
		return errUsage
	}
	root, err := os.OpenRoot(pos[0])
	if err != nil {
		return err
	}
	defer root.Close()
	if err := writeIndex(root); err != nil {
		return fmt.Errorf("writing the index of %s: %v", pos[0], err)
	}
	infof("%s: index.html, %s/ and cases.db rebuilt", pos[0], triageDir)
	return nil
}

// writeIndex rebuilds testimonies.csv, the pages and cases.db from the
// folder and its annotations, and says which sources took their account
// back.
func writeIndex(root *os.Root) error { return writeIndexOf(root, true) }

// writeIndexOf is writeIndex, without cases.db unless withDB (what the
// open benchmark compares).
func writeIndexOf(root *os.Root, withDB bool) error {
	items, err := loadCases(root)
	if err != nil {
		return err
	}
	warnWithdrawals(markWithdrawals(items))
	st, err := mergedLogs(root)
	if err != nil {
		return fmt.Errorf("annotations: %v", err)
	}
	for _, a := range st.Gaps {
		warnf("part of %s's log has not arrived: the pages show the state without it", a)
	}
	var csvBuf bytes.Buffer
	if err := writeCSV(&csvBuf, items); err != nil {
		return err
	}
	if err := replaceFile(root, "testimonies.csv", csvBuf.Bytes()); err != nil {
		return err
	}
	tv := newTriage(items, st)
	// cases.db is written while the pages are: it only reads tv's items,
	// marks, threads and annotations, which nothing changes from here on.
	dbErr := make(chan error, 1)
	if withDB {
		go func() { dbErr <- writeCasesDB(root, tv) }()
	} else {
		dbErr <- nil
	}
	err = tv.writeItemPages(root)
	if err == nil {
		err = tv.writePages(root)
	}
	if err1 := <-dbErr; err == nil && err1 != nil {
		err = fmt.Errorf("%s: %v", casesDB, err1)
	}
	return err
}

// caseMark is what the annotations say of an item: its own status, assignee
// and tags, else its source's (an investigator may triage a witness as a
// whole). Tags are the union of both.
type caseMark struct {
	Status, Assignee string
	Tags             []string
}

func itemTarget(it *caseItem) string   { return "item:" + it.Info.ID }
func sourceTarget(it *caseItem) string { return "source:" + it.Info.Source }

func markOf(st *annotations.State, it *caseItem) caseMark {
	var m caseMark
	src, own := st.Cases[sourceTarget(it)], st.Cases[itemTarget(it)]
	for _, c := range []*annotations.Case{src, own} {
		if c == nil {
			continue
		}
		if c.Status != "" {
			m.Status = c.Status
		}
		if c.Assignee != "" {
			m.Assignee = c.Assignee
		}
		m.Tags = append(m.Tags, c.Tags...)
	}
	if m.Status == "" {
		m.Status = "new"
	}
	slices.Sort(m.Tags)
	m.Tags = slices.Compact(m.Tags)
	return m
}

// triage is the folder as the pages show it.
type triage struct {
	items   []*caseItem
	marks   []caseMark
	st      *annotations.State
	threads map[string][]int // source folder → its items, in folder order
	// sourcePage is the page of the by-source listing where a source
	// starts, as a path from the folder's root.
	sourcePage map[string]string
	rows       []string // cachedRow
}

func newTriage(items []*caseItem, st *annotations.State) *triage {
	tv := &triage{items: items, st: st, threads: map[string][]int{}, sourcePage: map[string]string{}}
	for i, it := range items {
		tv.marks = append(tv.marks, markOf(st, it))
		tv.threads[it.Info.Source] = append(tv.threads[it.Info.Source], i)
	}
	return tv
}

// visible makes the control, bidi and separator characters of a text from
// an item or a log visible, as on the terminal (\x1b, \u202e); newlines
// stay, for the page's pre-wrap.
func visible(s string) string { return safeLines(strings.ReplaceAll(s, "\r\n", "\n")) }

// cut shortens s to n runes, with "…".
func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// narrativeKey is the answer of the default form that holds the witness's
// own account.
const narrativeKey = "account"

// narrative is an item's account in the witness's words: the default
// form's account, a follow-up's or reply's message.
func narrative(m *crypto.Manifest) string {
	for _, k := range []string{narrativeKey, "message"} {
		if s := answer(m, k); s != "" {
			return s
		}
	}
	return ""
}

// A row of a listing: rendered for the page it lands on (base is the path
// from that page to the folder's root: "" or "../").
type listRow struct {
	group  string // rows of one group share a heading
	head   func(base string) string
	render func(base string) string
}

// listing is a list of rows cut into pages: the first named first, the
// others triage/<name>-N.html.
type listing struct {
	name, title, about string
	first              string // the first page's path from the root; "" for triage/<name>-1.html
	rows               []listRow
	tail               string // closes a group's heading
}

func (l *listing) pageName(n int) string {
	if n == 1 && l.first != "" {
		return l.first
	}
	return fmt.Sprintf("%s/%s-%d.html", triageDir, l.name, n)
}

// pageOf is a listing's page: its rows' HTML and where it is.
type pageOf struct {
	path string
	body template.HTML
	n    int
}

// paginate renders the rows of l into pages; prefix and suffix are the
// page's own bytes, counted against the budget. It calls at(row, page)
// for every row, so a caller can tell where a row landed.
func (l *listing) paginate(overhead int, at func(i, page int)) []pageOf {
	var pages []pageOf
	var b strings.Builder
	rows, group := 0, ""
	base := func() string {
		if strings.Contains(l.pageName(len(pages)+1), "/") {
			return "../"
		}
		return ""
	}
	flush := func() {
		if group != "" || rows > 0 {
			b.WriteString(l.tail)
		}
		pages = append(pages, pageOf{path: l.pageName(len(pages) + 1), body: template.HTML(b.String()), n: len(pages) + 1})
		b.Reset()
		rows, group = 0, ""
	}
	for i, r := range l.rows {
		bs := base()
		body := r.render(bs)
		head := ""
		if rows == 0 || r.group != group {
			head = r.head(bs)
		}
		if rows > 0 && (rows >= maxRows || overhead+b.Len()+len(head)+len(body)+len(l.tail) > pageBudget) {
			flush()
			bs = base()
			body, head = r.render(bs), r.head(bs)
		} else if rows > 0 && head != "" {
			b.WriteString(l.tail)
		}
		b.WriteString(head)
		b.WriteString(body)
		rows++
		group = r.group
		if at != nil {
			at(i, len(pages)+1)
		}
	}
	if rows > 0 || len(pages) == 0 {
		flush()
	}
	return pages
}

// pageLink is a numbered link between the pages of a listing.
type pageLink struct {
	N       int
	Href    string
	Current bool
}

type listPage struct {
	Title, About string
	Base         string // to the folder's root
	Page, Pages  int
	Links        []pageLink
	Prev, Next   string
	Body         template.HTML
}

// writePages writes index.html and triage/, the latter built in a
// temporary folder and swapped in, so that no page of a group that is gone
// (an untagged tag) stays behind.
func (tv *triage) writePages(root *os.Root) error {
	tmp := "." + triageDir + "-" + randHex()
	if err := root.Mkdir(tmp, 0o700); err != nil {
		return err
	}
	defer root.RemoveAll(tmp)
	pages := map[string][]byte{} // path from the root → bytes
	write := func(l *listing) ([]pageOf, error) {
		overhead := len(pageStyle) + 4<<10 // the chrome and page links
		var at func(i, p int)
		if l.name == "source" {
			overhead += 64 << 10 // the overview, on index.html
			at = func(i, p int) {
				if s := l.rows[i].group; tv.sourcePage[s] == "" {
					tv.sourcePage[s] = l.pageName(p)
				}
			}
		}
		ps := l.paginate(overhead, at)
		for _, p := range ps {
			v := listPage{Title: l.title, About: l.about, Page: p.n, Pages: len(ps), Body: p.body}
			if strings.Contains(p.path, "/") {
				v.Base = "../"
			}
			link := func(n int) string { return v.Base + l.pageName(n) }
			for n := max(1, p.n-5); n <= min(len(ps), p.n+5); n++ {
				v.Links = append(v.Links, pageLink{N: n, Href: link(n), Current: n == p.n})
			}
			if p.n > 1 {
				v.Prev = link(p.n - 1)
			}
			if p.n < len(ps) {
				v.Next = link(p.n + 1)
			}
			if p.path == "index.html" {
				continue // written with the overview
			}
			var b bytes.Buffer
			if err := listTemplate.Execute(&b, v); err != nil {
				return nil, err
			}
			pages[p.path] = b.Bytes()
		}
		return ps, nil
	}
	bySource, err := write(tv.sourceListing())
	if err != nil {
		return err
	}
	ov := tv.overview()
	for _, f := range ov.Facets {
		for _, g := range f.all {
			if _, err := write(tv.caseListing(f.Name, g)); err != nil {
				return err
			}
		}
		if len(f.all) == 0 {
			continue
		}
		if _, err := write(tv.groupListing(f)); err != nil {
			return err
		}
	}
	ov.SourcePages = len(bySource)
	ov.Body = bySource[0].body
	if len(bySource) > 1 {
		ov.Next = triageDir + "/source-2.html"
	}
	var idx bytes.Buffer
	if err := overviewTemplate.Execute(&idx, ov); err != nil {
		return err
	}
	for p, b := range pages {
		if err := writeFile(root, tmp+"/"+strings.TrimPrefix(p, triageDir+"/"), b); err != nil {
			return err
		}
	}
	// triage/ is replaced whole: it must be ours. A source an older open
	// named "triage" (before the name was reserved) is a folder of item
	// folders; ours holds only pages.
	if ents, err := fs.ReadDir(root.FS(), triageDir); err == nil {
		for _, e := range ents {
			if e.IsDir() {
				return fmt.Errorf("%s/ holds folders (%s): it is a source's, not the pages'; rename it to source-%s and run index again",
					triageDir, e.Name(), triageDir)
			}
		}
	}
	old := "." + triageDir + "-old-" + randHex()
	if err := root.Rename(triageDir, old); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if len(pages) > 0 { // an empty folder gets no triage/
		if err := root.Rename(tmp, triageDir); err != nil {
			return err
		}
	}
	root.RemoveAll(old)
	return replaceFile(root, "index.html", idx.Bytes())
}

func randHex() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Facets: the ways the overview groups the submissions.

type facetGroup struct {
	Key   string // as shown
	File  string // in page names
	Count int
	Href  string // its first page, from the root
	items []int
}

type triageFacet struct {
	Name, Title, About string
	Groups             []facetGroup // the first overviewGroup, for the overview
	More               int          // groups not named on the overview
	AllHref            string       // the list of every group
	all                []facetGroup
}

type overviewT struct {
	Items, Submissions, Sources int
	Facets                      []triageFacet
	Withdrawn                   int
	SourcePages                 int
	Next                        string
	Body                        template.HTML
}

// groupFile is a group's name in a page's file name: a status, month or
// account name as it is (they are made of [a-z0-9._-]), a tag by a hash
// of it (tags are any text).
func groupFile(facetName, key string) string {
	if facetName == "tag" {
		h := sha256.Sum256([]byte(key))
		return hex.EncodeToString(h[:8])
	}
	return key
}

func (tv *triage) overview() overviewT {
	ov := overviewT{Items: len(tv.items), Sources: len(tv.threads)}
	byKey := map[string]map[string][]int{"status": {}, "assignee": {}, "tag": {}, "month": {}}
	for i, it := range tv.items {
		if it.Withdrawal != "" {
			ov.Withdrawn++
		}
		if it.M.Kind != crypto.KindSubmission {
			continue
		}
		ov.Submissions++
		m := tv.marks[i]
		byKey["status"][m.Status] = append(byKey["status"][m.Status], i)
		who := m.Assignee
		if who == "" {
			who = "nobody"
		}
		byKey["assignee"][who] = append(byKey["assignee"][who], i)
		for _, t := range m.Tags {
			byKey["tag"][t] = append(byKey["tag"][t], i)
		}
		if len(it.M.Day) >= 7 {
			byKey["month"][it.M.Day[:7]] = append(byKey["month"][it.M.Day[:7]], i)
		}
	}
	facets := []triageFacet{
		{Name: "status", Title: "By status", About: "Statuses: " + strings.Join(annotations.Statuses, ", ") + ". A submission without one is new; an item's own status comes before its source's."},
		{Name: "assignee", Title: "By assignee", About: "Who took the case: the item's assignee, else its source's."},
		{Name: "tag", Title: "By tag", About: "The item's tags and its source's."},
		{Name: "month", Title: "By month received", About: "The month of the day the site received the submission (not the month of the events told)."},
	}
	for fi := range facets {
		f := &facets[fi]
		keys := make([]string, 0, len(byKey[f.Name]))
		for k := range byKey[f.Name] {
			keys = append(keys, k)
		}
		switch f.Name {
		case "status": // in the statuses' order
			slices.SortFunc(keys, func(a, b string) int {
				return slices.Index(annotations.Statuses, a) - slices.Index(annotations.Statuses, b)
			})
		case "month":
			slices.Sort(keys)
			slices.Reverse(keys) // latest first
		default:
			slices.Sort(keys)
		}
		for _, k := range keys {
			g := facetGroup{Key: k, File: groupFile(f.Name, k), items: byKey[f.Name][k]}
			g.Count = len(g.items)
			g.Href = fmt.Sprintf("%s/%s-%s-1.html", triageDir, f.Name, g.File)
			f.all = append(f.all, g)
		}
		f.Groups = f.all[:min(len(f.all), overviewGroup)]
		f.More = len(f.all) - len(f.Groups)
		f.AllHref = fmt.Sprintf("%s/%s-1.html", triageDir, plural(f.Name))
	}
	ov.Facets = facets
	return ov
}

// plural names the list of a facet's groups.
func plural(facet string) string {
	if facet == "status" {
		return "statuses"
	}
	return facet + "s"
}

// groupListing lists every group of a facet.
func (tv *triage) groupListing(f triageFacet) *listing {
	l := &listing{name: plural(f.Name), title: f.Title, about: f.About, tail: "</table>\n"}
	head := func(string) string {
		return "<table><tr><th>" + template.HTMLEscapeString(f.Name) + "</th><th>Submissions</th></tr>\n"
	}
	for _, g := range f.all {
		l.rows = append(l.rows, listRow{group: "all", head: head, render: func(base string) string {
			return fmt.Sprintf("<tr><td><a href=\"%s\">%s</a></td><td>%d</td></tr>\n",
				template.HTMLEscapeString(base+g.Href), template.HTMLEscapeString(visible(g.Key)), g.Count)
		}})
	}
	return l
}

// caseListing lists the submissions of one group, in folder order.
func (tv *triage) caseListing(facetName string, g facetGroup) *listing {
	what := map[string]string{"status": "Status", "assignee": "Assigned to", "tag": "Tagged", "month": "Received in"}[facetName]
	about := fmt.Sprintf("%d submissions.", g.Count)
	if facetName == "month" {
		about += " By the month the site received them, not the month of the events told."
	}
	l := &listing{name: facetName + "-" + g.File, title: what + " " + visible(g.Key), about: about, tail: "</table>\n"}
	for _, i := range g.items {
		l.rows = append(l.rows, listRow{group: "all", head: caseHead, render: func(base string) string { return tv.cachedRow(i, base) }})
	}
	return l
}

// cachedRow is caseRow, rendered once for the pages of triage/: a
// submission is in three or more lists.
func (tv *triage) cachedRow(i int, base string) string {
	if base != "../" {
		return tv.caseRow(i, base)
	}
	if tv.rows == nil {
		tv.rows = make([]string, len(tv.items))
	}
	if tv.rows[i] == "" {
		tv.rows[i] = tv.caseRow(i, base)
	}
	return tv.rows[i]
}

func caseHead(string) string {
	return "<table><tr><th>Item</th><th>Source</th><th>Status</th><th>Assignee</th><th>Tags</th><th>Account and key answers</th></tr>\n"
}

// render executes a row template to a string; the templates are ours and
// the data typed, so an error is a bug worth showing in the page.
func renderRow(t *template.Template, v any) string {
	var b strings.Builder
	if err := t.Execute(&b, v); err != nil {
		return template.HTMLEscapeString(err.Error())
	}
	return b.String()
}

type caseRowT struct {
	Href, Day, Kind, ID8, Source, SourceHref, Status, Assignee, Withdrawal string
	Tags                                                                   []string
	MoreTags                                                               int
	Snippet                                                                string
	Key                                                                    []answerRow
}

func (tv *triage) caseRow(i int, base string) string {
	it, m := tv.items[i], tv.marks[i]
	v := caseRowT{Href: base + pathEscape(it.Dir) + "/testimony.html", Day: it.M.Day, Kind: it.M.Kind,
		ID8: cutRunes(it.Info.ID, 8), Source: it.Info.Source, Status: m.Status, Assignee: m.Assignee, Withdrawal: it.Withdrawal,
		Snippet: visible(cutRunes(narrative(it.M), maxSnippet))}
	if p := tv.sourcePage[it.Info.Source]; p != "" {
		v.SourceHref = base + p + "#" + sourceAnchor(it.Info.Source)
	}
	v.Tags = m.Tags[:min(len(m.Tags), maxListed)]
	v.MoreTags = len(m.Tags) - len(v.Tags)
	for _, a := range itemView(it, "").Key {
		if a.Key == narrativeKey {
			continue
		}
		a.Text = visible(cutRunes(a.Text, maxKeyAnswer))
		a.Label = visible(cutRunes(a.Label, maxKeyAnswer))
		v.Key = append(v.Key, a)
	}
	return renderRow(caseRowTemplate, v)
}

// sourceAnchor is a source's id in the by-source listing.
func sourceAnchor(source string) string { return pathEscape(source) }

// sourceListing lists every item by source, as index.html always did: its
// first page is index.html itself.
func (tv *triage) sourceListing() *listing {
	l := &listing{name: "source", first: "index.html", title: "Every item by source", tail: "</table>\n"}
	for i, it := range tv.items {
		src := it.Info.Source
		l.rows = append(l.rows, listRow{group: src,
			head: func(string) string {
				return renderRow(sourceHeadTemplate, struct{ Name, Withdrawal string }{src, it.Withdrawal})
			},
			render: func(base string) string { return tv.sourceRow(i, base) }})
	}
	return l
}

type sourceRowT struct {
	itemViewT
	Status, Assignee string
	Tags             []string
	MoreFiles        int
}

func (tv *triage) sourceRow(i int, base string) string {
	it := tv.items[i]
	v := sourceRowT{itemViewT: itemView(it, base+pathEscape(it.Dir)+"/"), Status: tv.marks[i].Status, Assignee: tv.marks[i].Assignee}
	v.Tags = tv.marks[i].Tags[:min(len(tv.marks[i].Tags), maxListed)]
	for j := range v.Key {
		v.Key[j].Text = visible(cutRunes(v.Key[j].Text, maxKeyAnswer))
		v.Key[j].Label = visible(cutRunes(v.Key[j].Label, maxKeyAnswer))
	}
	if len(v.Files) > maxListed {
		v.MoreFiles = len(v.Files) - maxListed
		v.Files = v.Files[:maxListed]
	}
	return renderRow(sourceRowTemplate, v)
}

// The item pages.

type threadEntry struct {
	Href, Kind, Day, ID8 string
	Self                 bool
	Text                 string // a follow-up's or reply's message
	Files                []fileLink
}

type historyRow struct {
	Day, Author, Kind, Value, On string
}

type casePageT struct {
	itemViewT
	Mark    caseMark
	Links   []string
	Notes   []annotations.Note
	Thread  []threadEntry
	History []historyRow
}

// casePage is the page of item i: the item, its source's thread and the
// annotations of the item and its source.
func (tv *triage) casePage(i int) casePageT {
	it := tv.items[i]
	v := casePageT{itemViewT: itemView(it, ""), Mark: tv.marks[i]}
	for _, j := range tv.threads[it.Info.Source] {
		o := tv.items[j]
		e := threadEntry{Href: "../" + pathEscape(path.Base(o.Dir)) + "/testimony.html", Kind: o.M.Kind, Day: o.M.Day,
			ID8: cutRunes(o.Info.ID, 8), Self: j == i}
		if o.M.Kind == crypto.KindFollowup || o.M.Kind == crypto.KindReply {
			e.Text = visible(narrative(o.M))
			e.Files = itemView(o, "../"+pathEscape(path.Base(o.Dir))+"/").Files
		}
		v.Thread = append(v.Thread, e)
	}
	// The history of the item and of its source, in merge order (a link
	// between them is in both: shown once).
	var ops []*annotations.Op
	seen := map[[2]any]bool{}
	for _, t := range []string{itemTarget(it), sourceTarget(it)} {
		c := tv.st.Cases[t]
		if c == nil {
			continue
		}
		if t == itemTarget(it) {
			v.Links, v.Notes = c.Links, c.Notes
		} else {
			v.Notes = append(slices.Clone(c.Notes), v.Notes...)
		}
		for _, op := range c.History {
			if k := [2]any{op.Author, op.Seq}; !seen[k] {
				seen[k] = true
				ops = append(ops, op)
			}
		}
	}
	sortOps(ops)
	for _, op := range ops {
		on := "item"
		if op.Target != itemTarget(it) && op.Value != itemTarget(it) {
			on = "source"
		}
		v.History = append(v.History, historyRow{Day: op.Day, Author: op.Author, Kind: op.Kind, Value: visible(op.Value), On: on})
	}
	for j := range v.Notes {
		v.Notes[j].Text = visible(v.Notes[j].Text)
	}
	return v
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// writeItemPages rewrites each item's testimony.html where it changed,
// by a few goroutines. The pages are derived: written through a temporary
// file and a rename, not synced one by one (30,000 fsyncs would take
// minutes); "testimony index" rewrites any a crash spoiled.
func (tv *triage) writeItemPages(root *os.Root) error {
	next := make(chan int)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range min(2*runtime.GOMAXPROCS(0), max(1, len(tv.items))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b bytes.Buffer
			for i := range next {
				b.Reset()
				if err := casePageTemplate.Execute(&b, tv.casePage(i)); err != nil {
					select {
					case errs <- err:
					default:
					}
					continue
				}
				name := tv.items[i].Dir + "/testimony.html"
				if old, err := root.ReadFile(name); err == nil && bytes.Equal(old, b.Bytes()) {
					continue
				}
				if err := replaceDerived(root, name, b.Bytes()); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		}()
	}
	for i := range tv.items {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// replaceDerived is replaceFile without the fsync, for files rebuilt from
// others.
func replaceDerived(root *os.Root, name string, data []byte) error {
	tmp := path.Join(path.Dir(name), "."+path.Base(name)+"."+randHex())
	if err := writeFile(root, tmp, data); err != nil {
		root.Remove(tmp)
		return err
	}
	if err := root.Rename(tmp, name); err != nil {
		root.Remove(tmp)
		return err
	}
	return nil
}
