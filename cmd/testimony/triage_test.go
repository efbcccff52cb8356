package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"testimony/annotations"
	"testimony/crypto"
	"testimony/internal/testutil"
)

// hostileAccount is an answer that would run as a page or act on a
// terminal if any page or output let it through.
const hostileAccount = "<script>alert(1)</script><img src=x onerror=alert(2)>\x1b[31mred\x1b[0m \u202egpj.exe\u0007 end"

// triageFolder writes a case folder of n generated submissions (and their
// follow-ups, replies) as open leaves it, without encrypting anything: each
// item folder gets the manifest.json and item.json that loadCases reads.
// One submission holds hostileAccount; the annotations log of "alice" and
// "bob" gives statuses, tags, assignees, notes and a link to a share of
// them. It returns the folder and the hostile item's id.
func triageFolder(t testing.TB, n int) (string, string) {
	t.Helper()
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	ds := generate(3, n)
	specs := ds.specs
	// Threads: every tenth source also has a follow-up and a reply.
	for i := 0; i < n; i += 10 {
		s := specs[i]
		specs = append(specs,
			&itemSpec{Kind: crypto.KindFollowup, Day: day(s.Day, 3), Source: s.Source, Answers: map[string]crypto.Answer{"message": crypto.TextAnswer("Ещё одно: нас везли через Стамбул.")}},
			&itemSpec{Kind: crypto.KindReply, Day: day(s.Day, 5), Source: s.Source, Answers: map[string]crypto.Answer{"message": crypto.TextAnswer("Thank you, we read it.")}})
	}
	hostile := fmt.Sprintf("%032x", 1)
	specs[1].Answers["account"] = crypto.TextAnswer(hostileAccount)
	specs[1].Answers["facility"] = crypto.TextAnswer("<b>Krome</b>\x1b]0;pwned\x07")
	for i, s := range specs {
		m, err := s.manifest()
		if err != nil {
			t.Fatal(err)
		}
		m.Format = crypto.Format
		if m.Attachments == nil {
			m.Attachments = []crypto.Attachment{}
		}
		id := fmt.Sprintf("%032x", i)
		folder := itemFolder(s.Source, m.Day, m.Kind, id)
		if err := root.MkdirAll(folder, 0o700); err != nil {
			t.Fatal(err)
		}
		mj, _ := json.Marshal(m)
		ij, _ := json.Marshal(itemInfo{ID: id, Source: sourceFolder(s.Source), Kind: m.Kind, Day: m.Day})
		if err := root.WriteFile(folder+"/manifest.json", mj, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := root.WriteFile(folder+"/item.json", ij, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeLogs(t, root, n, ds.specs[:n])
	return dir, hostile
}

// writeLogs annotates the first n items: a status on every third, a tag
// on every fifth (and a hostile-looking tag on the hostile one), an
// assignee on every seventh, and on item 0 a note, a link to item 2, and
// a change by bob made without seeing alice's.
func writeLogs(t testing.TB, root *os.Root, n int, specs []*itemSpec) {
	t.Helper()
	logs := map[string][]*annotations.Op{}
	clock := uint64(0)
	add := func(author, target, kind, value string) {
		clock++
		logs[author] = append(logs[author], &annotations.Op{Author: author, Seq: uint64(len(logs[author]) + 1), Clock: clock,
			Day: "2026-12-01", Target: target, Kind: kind, Value: value})
	}
	item := func(i int) string { return fmt.Sprintf("item:%032x", i) }
	for i := range n {
		if i%3 == 0 {
			add("alice", item(i), annotations.SetStatus, annotations.Statuses[1+i/3%4])
		}
		if i%5 == 0 {
			add("alice", item(i), annotations.AddTag, fmt.Sprintf("flight %d", i%4))
		}
		if i%7 == 0 {
			add("bob", item(i), annotations.Assign, []string{"alice", "bob", "carol"}[i%3])
		}
	}
	add("alice", item(1), annotations.AddTag, "<script>x</script>")
	add("alice", item(0), annotations.AddNote, "Called the lawyer.\x1b[2J Same flight as 0002.")
	add("alice", item(0), annotations.Link, item(2))
	add("alice", "source:"+specs[0].Source, annotations.AddTag, "whole-source")
	add("bob", item(0), annotations.SetStatus, "closed")
	if err := root.MkdirAll(annotationsDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for author, ops := range logs {
		var b bytes.Buffer
		if err := annotations.Encode(&b, ops); err != nil {
			t.Fatal(err)
		}
		if err := root.WriteFile(annotationsDir+"/"+author+".jsonl", b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// linkRE finds the links of a page's own tags (attrRE would find the
// src= of an answer shown as text, too).
var linkRE = regexp.MustCompile(`<(?:a|link|img)\b[^>]*\b(?:href|src)="([^"]*)"`)

// pageReport is what checkPages saw.
type pageReport struct {
	pages   int
	largest int
	name    string
	all     map[string][]byte // by path from the folder
}

// checkPages checks every page of the folder's index and triage/: under
// 1 MB, static, every link relative and to a file that exists.
func checkPages(t *testing.T, dir string) pageReport {
	t.Helper()
	rep := pageReport{all: map[string][]byte{}}
	var names []string
	names = append(names, "index.html")
	ents, err := os.ReadDir(filepath.Join(dir, triageDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		names = append(names, triageDir+"/"+e.Name())
	}
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		rep.all[name] = b
		rep.pages++
		if len(b) > rep.largest {
			rep.largest, rep.name = len(b), name
		}
		if len(b) >= 1<<20 {
			t.Errorf("%s is %d bytes, not under 1 MB", name, len(b))
		}
		checkStatic(t, name, b)
		if bytes.ContainsAny(b, "\x1b\x07") || bytes.Contains(b, []byte("\u202e")) {
			t.Errorf("%s holds a raw control or bidi character", name)
		}
		for _, m := range linkRE.FindAllStringSubmatch(string(b), -1) {
			href := strings.ReplaceAll(m[1], "&amp;", "&")
			if strings.HasPrefix(href, "/") || strings.HasPrefix(href, "#") && href != "#" {
				if strings.HasPrefix(href, "/") {
					t.Errorf("%s: absolute link %q", name, href)
				}
				continue
			}
			p, _, _ := strings.Cut(href, "#")
			p, err := url.PathUnescape(p)
			if err != nil {
				t.Errorf("%s: link %q: %v", name, href, err)
				continue
			}
			target := path.Join(path.Dir(name), p)
			if strings.HasPrefix(target, "../") {
				t.Errorf("%s: link %q leaves the folder", name, href)
				continue
			}
			if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(target))); err != nil {
				t.Errorf("%s links %q, which does not exist", name, href)
			}
		}
	}
	return rep
}

// rowsOf counts the case rows of a listing's pages.
func rowsOf(rep pageReport, prefix string) int {
	n := 0
	for name, b := range rep.all {
		if strings.HasPrefix(name, triageDir+"/"+prefix+"-") && regexp.MustCompile(`-[0-9]+\.html$`).MatchString(name) {
			n += bytes.Count(b, []byte("<tr><td><a href=\"../"))
		}
	}
	return n
}

func TestTriagePages(t *testing.T) {
	const n = 1000
	dir, hostile := triageFolder(t, n)
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := writeIndex(root); err != nil {
		t.Fatal(err)
	}
	rep := checkPages(t, dir)
	t.Logf("%d cases: %d pages, the largest %s of %d bytes", n, rep.pages, rep.name, rep.largest)

	index := string(rep.all["index.html"])
	for _, s := range []string{"triage/status-triage-1.html", "triage/assignee-alice-1.html", "triage/months-1.html",
		"By month received", "not the month of the events told", fmt.Sprintf("%d submissions", n)} {
		if !strings.Contains(index, s) {
			t.Errorf("index.html lacks %q", s)
		}
	}
	// Every submission is in exactly one status list, and in one month.
	if got := rowsOf(rep, "status"); got != n {
		t.Errorf("the status lists hold %d rows, want %d", got, n)
	}
	if got := rowsOf(rep, "month"); got != n {
		t.Errorf("the month lists hold %d rows, want %d", got, n)
	}
	// Status triage: items 3, 15, 27… (i%3 == 0 and i/3%4 == 1), less none.
	want := 0
	for i := 0; i < n; i += 3 {
		if i != 0 && annotations.Statuses[1+i/3%4] == "triage" {
			want++
		}
	}
	if got := rowsOf(rep, "status-triage"); got != want {
		t.Errorf("status triage lists %d rows, want %d", got, want)
	}
	// "new" holds about two thirds of the cases, more than a page's rows.
	if got := rowsOf(rep, "status-new"); got <= maxRows {
		t.Fatalf("status new lists %d rows: the test needs more than a page", got)
	}
	if _, ok := rep.all["triage/status-new-2.html"]; !ok {
		t.Error("a list longer than a page is not paginated")
	}
	for name, b := range rep.all {
		if rows := bytes.Count(b, []byte("<tr><td>")); rows > maxRows+1 {
			t.Errorf("%s holds %d rows, more than %d", name, rows, maxRows)
		}
	}
	// The month page says which month it is.
	for name, b := range rep.all {
		if strings.HasPrefix(name, "triage/month-2") && !bytes.Contains(b, []byte("not the month of the events told")) {
			t.Errorf("%s does not say it counts by the day received", name)
		}
	}

	// The hostile answer and tag are shown, escaped and made visible.
	var listed bool
	for name, b := range rep.all {
		if bytes.Contains(b, []byte("alert(1)")) && strings.HasPrefix(name, "triage/status-") {
			listed = true
			for _, s := range []string{`&lt;script&gt;alert(1)&lt;/script&gt;`, `\x1b[31mred`, `\u202egpj.exe\x07`, `&lt;b&gt;Krome&lt;/b&gt;\x1b]0;pwned`} {
				if !bytes.Contains(b, []byte(s)) {
					t.Errorf("%s does not show %q escaped", name, s)
				}
			}
		}
	}
	if !listed {
		t.Error("the hostile item is in no status list")
	}
	tagPage := rep.all["triage/tag-"+groupFile("tag", "<script>x</script>")+"-1.html"]
	if !bytes.Contains(tagPage, []byte("Tagged &lt;script&gt;x&lt;/script&gt;")) {
		t.Errorf("the hostile tag's page:\n%.600s", tagPage)
	}

	// The item page: thread, annotations in merge order, escaped.
	items, err := loadCases(root)
	if err != nil {
		t.Fatal(err)
	}
	var first, hostileItem *caseItem
	for _, it := range items {
		switch it.Info.ID {
		case fmt.Sprintf("%032x", 0):
			first = it
		case hostile:
			hostileItem = it
		}
	}
	page, err := os.ReadFile(filepath.Join(dir, first.Dir, "testimony.html"))
	if err != nil {
		t.Fatal(err)
	}
	checkStatic(t, "item page", page)
	ps := string(page)
	for _, s := range []string{"Status <b>closed</b>", "whole-source", "Note by alice on 2026-12-01", `Called the lawyer.\x1b[2J Same flight`,
		"Ещё одно: нас везли через Стамбул.", "Thank you, we read it.", "followup", "reply", "Annotation history", "(this page)",
		"linked to: item:" + fmt.Sprintf("%032x", 2)} {
		if !strings.Contains(ps, s) {
			t.Errorf("the item page lacks %q", s)
		}
	}
	// alice's status "verified"… then her note, link, source tag, then
	// bob's "closed" (highest clock): in that order.
	order := []string{`<td>alice</td><td>item</td><td>status</td>`, `<td>alice</td><td>item</td><td>note</td>`,
		`<td>alice</td><td>item</td><td>link</td>`, `<td>alice</td><td>source</td><td>tag</td>`, `<td>bob</td><td>item</td><td>status</td>`}
	at := -1
	for _, s := range order {
		i := strings.Index(ps, s)
		if i <= at {
			t.Errorf("history: %q missing or out of merge order", s)
		}
		at = i
	}
	hp, _ := os.ReadFile(filepath.Join(dir, hostileItem.Dir, "testimony.html"))
	if bytes.ContainsAny(hp, "\x1b\x07") || bytes.Contains(hp, []byte("<script>alert")) || !bytes.Contains(hp, []byte(`\x1b[31mred`)) {
		t.Errorf("the hostile item's page shows its answer raw")
	}

	// A second build after an untag leaves no page of the gone tag, and
	// writes the item pages that did not change not again.
	before, _ := os.Stat(filepath.Join(dir, items[len(items)-1].Dir, "testimony.html"))
	ops, _ := readLog(root, "alice")
	st, _ := mergedLogs(root)
	op := st.Next("alice", "2026-12-02")
	op.Target, op.Kind, op.Value = "item:"+hostile, annotations.RemoveTag, "<script>x</script>"
	var b bytes.Buffer
	annotations.Encode(&b, append(ops, op))
	if err := root.WriteFile(annotationsDir+"/alice.jsonl", b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"index", dir}); code != 0 {
		t.Fatalf("index exited %d", code)
	}
	if _, err := os.Stat(filepath.Join(dir, "triage/tag-"+groupFile("tag", "<script>x</script>")+"-1.html")); err == nil {
		t.Error("the page of a tag no case has any more is still there")
	}
	after, _ := os.Stat(filepath.Join(dir, items[len(items)-1].Dir, "testimony.html"))
	if !os.SameFile(before, after) {
		t.Error("an item page that did not change was rewritten")
	}
	left, _ := fs.Glob(os.DirFS(dir), ".*")
	for _, l := range left {
		if l != annotationsDir {
			t.Errorf("%s left behind in the folder", l)
		}
	}
}

// TestTriagePages30k is the size check at 30,000 submissions (about 33,000
// items). It took 92 s of CPU and 5½ minutes on two shared cores, too long
// for make test: it runs with TESTIMONY_TRIAGE_30K=1, and make bench checks
// the largest page at that size (BenchmarkTriage30k, largest-page-KiB).
func TestTriagePages30k(t *testing.T) {
	if os.Getenv("TESTIMONY_TRIAGE_30K") != "1" {
		t.Skip("30,000 cases take minutes: set TESTIMONY_TRIAGE_30K=1")
	}
	const n = 30000
	dir, _ := triageFolder(t, n)
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := writeIndex(root); err != nil {
		t.Fatal(err)
	}
	rep := checkPages(t, dir)
	t.Logf("%d cases: %d pages, the largest %s of %d bytes (limit %d)", n, rep.pages, rep.name, rep.largest, 1<<20)
	for _, name := range []string{"index.html", "triage/status-new-1.html", "triage/month-2026-03-1.html", "triage/source-2.html"} {
		t.Logf("%s: %d bytes", name, len(rep.all[name]))
	}
	if got := rowsOf(rep, "status"); got != n {
		t.Errorf("the status lists hold %d rows, want %d", got, n)
	}
	st, err := os.Stat(filepath.Join(dir, casesDB))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cases.db: %d bytes", st.Size())
}

// BenchmarkTriage30k times rebuilding a case folder of 30,000 submissions
// (about 33,000 items) as open does after opening them: testimonies.csv,
// the pages, the item pages and cases.db (writeIndex), against the
// baseline of reading the same folder and writing only testimonies.csv,
// which is what open did before the pages scaled. Each round starts as
// after an open: the item pages are those open wrote. It reports the
// largest page, and how long cases.db took of it.
func BenchmarkTriage30k(b *testing.B) {
	n := 30000
	if v, err := strconv.Atoi(os.Getenv("TESTIMONY_TRIAGE_CASES")); err == nil && v > 0 {
		n = v // for a quick profile
	}
	dir, _ := triageFolder(b, n)
	root, err := os.OpenRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer root.Close()
	items, err := loadCases(root)
	if err != nil {
		b.Fatal(err)
	}
	// The item pages as open leaves them, before the index rewrites them.
	openPages := func() {
		for _, it := range items {
			var page bytes.Buffer
			if err := itemPage.Execute(&page, itemView(it, "")); err != nil {
				b.Fatal(err)
			}
			if err := replaceDerived(root, it.Dir+"/testimony.html", page.Bytes()); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("baseline", func(b *testing.B) {
		for b.Loop() {
			items, err := loadCases(root)
			if err != nil || len(items) == 0 {
				b.Fatal(err)
			}
			var csvBuf bytes.Buffer
			if err := writeCSV(&csvBuf, items); err != nil {
				b.Fatal(err)
			}
			if err := replaceFile(root, "testimonies.csv", csvBuf.Bytes()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ours", func(b *testing.B) {
		largest := 0
		for b.Loop() {
			b.StopTimer()
			openPages()
			b.StartTimer()
			if err := writeIndex(root); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		for _, name := range append([]string{"index.html"}, mustGlob(b, dir, triageDir+"/*.html")...) {
			st, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				b.Fatal(err)
			}
			largest = max(largest, int(st.Size()))
		}
		b.ReportMetric(float64(largest)/1024, "largest-page-KiB")
		// cases.db alone, from the same in-memory folder.
		st, err := mergedLogs(root)
		if err != nil {
			b.Fatal(err)
		}
		tv := newTriage(items, st)
		tv.writePages(root)
		t0 := time.Now()
		if err := writeCasesDB(root, tv); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(t0).Seconds(), "casesdb-s")
	})
}

func mustGlob(b *testing.B, dir, pattern string) []string {
	m, err := fs.Glob(os.DirFS(dir), pattern)
	if err != nil || len(m) == 0 {
		b.Fatalf("glob %s: %q, %v", pattern, m, err)
	}
	return m
}

// TestTriagePagesInBrowser follows the pages' links in Chromium with
// scripts off, from file://: the overview, a status list, its next page,
// a case, and back to the overview. Skipped without chromium.
func TestTriagePagesInBrowser(t *testing.T) {
	ctx := testutil.Chromium(t, chromedp.WindowSize(1280, 1000))
	dir, _ := triageFolder(t, 900)
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := writeIndex(root); err != nil {
		t.Fatal(err)
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	step := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		// The first screen of each page (a whole list is thousands of
		// pixels long), kept with go test -artifacts.
		shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err == nil {
			os.WriteFile(filepath.Join(t.ArtifactDir(), strings.ReplaceAll(what, " ", "-")+".png"), shot, 0o644)
		}
	}
	step("overview", chromedp.Navigate("file://"+filepath.Join(dir, "index.html")), chromedp.WaitVisible(chromedp.CSS("h1")))
	if h := text("h1"); h != "Cases" {
		t.Errorf("overview h1 %q", h)
	}
	step("status new", chromedp.Click(chromedp.CSS(`a[href="triage/status-new-1.html"]`)), chromedp.WaitVisible(chromedp.CSS("p.pager")))
	if h := text("h1"); h != "Status new" {
		t.Errorf("status page h1 %q", h)
	}
	step("next page", chromedp.Click(chromedp.CSS(`p.pager a[href="../triage/status-new-2.html"]`)), chromedp.WaitVisible(chromedp.CSS("p.pager b")))
	if p := text("p.pager b"); p != "2" {
		t.Errorf("after next, the pager marks page %q", p)
	}
	step("a case", chromedp.Click(chromedp.CSS(`table tr td a[href$="testimony.html"]`)), chromedp.WaitVisible(chromedp.CSS("h1")))
	if h := text("h2"); h != "Case" {
		t.Errorf("the item page's first section is %q", h)
	}
	step("back to the overview", chromedp.Click(chromedp.CSS(`a[href="../../index.html"]`)), chromedp.WaitVisible(chromedp.CSS("h1")))
	if h := text("h1"); h != "Cases" {
		t.Errorf("back link led to %q", h)
	}
}

// TestItemPageSameAsIndexWrites: the page open writes is the one the index
// writes for a lone item without annotations, so the index does not
// rewrite thousands of pages for nothing; an annotation changes it.
func TestItemPageSameAsIndexWrites(t *testing.T) {
	m := &crypto.Manifest{Format: crypto.Format, Kind: crypto.KindSubmission, Day: "2026-03-01", Lang: "ru",
		Form: crypto.FormRef{ID: defaultForm.ID, Version: defaultForm.Version}, Attachments: []crypto.Attachment{{Name: "a.jpg", Size: 3, Type: "image/jpeg"}},
		Answers: map[string]crypto.Answer{"account": crypto.TextAnswer(hostileAccount), "conditions": crypto.ListAnswer("cold")}}
	it := &caseItem{Dir: "s-a/2026-03-01-submission-00000000", Info: itemInfo{ID: fmt.Sprintf("%032x", 0), Source: "s-a"}, M: m}
	var atOpen, atIndex bytes.Buffer
	if err := itemPage.Execute(&atOpen, itemView(it, "")); err != nil {
		t.Fatal(err)
	}
	st, _ := annotations.Merge(nil)
	if err := casePageTemplate.Execute(&atIndex, newTriage([]*caseItem{it}, st).casePage(0)); err != nil {
		t.Fatal(err)
	}
	if atOpen.String() != atIndex.String() {
		t.Errorf("open's page and the index's differ:\n%s\n----\n%s", atOpen.String(), atIndex.String())
	}
	if bytes.ContainsAny(atOpen.Bytes(), "\x1b\x07") || !bytes.Contains(atOpen.Bytes(), []byte(`\x1b[31mred`)) {
		t.Error("open's item page shows control characters raw")
	}
	op := st.Next("alice", "2026-12-01")
	op.Target, op.Kind, op.Value = "item:"+it.Info.ID, annotations.SetStatus, "triage"
	st, _ = annotations.Merge([]*annotations.Op{op})
	atIndex.Reset()
	casePageTemplate.Execute(&atIndex, newTriage([]*caseItem{it}, st).casePage(0))
	if atOpen.String() == atIndex.String() || !strings.Contains(atIndex.String(), "Status <b>triage</b>") {
		t.Error("an annotated item's page is not the index's own")
	}
}

// TestTriageDirOfASource: a source folder named triage, from an open
// before the name was reserved, is never replaced by the pages.
func TestTriageDirOfASource(t *testing.T) {
	dir, _ := triageFolder(t, 50)
	item := filepath.Join(dir, triageDir, "2026-01-01-submission-aaaaaaaa")
	if err := os.MkdirAll(item, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(item, "testimony.txt"), []byte("evidence"), 0o600)
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	if err := writeIndex(root); err == nil || !strings.Contains(err.Error(), "source-triage") {
		t.Errorf("writeIndex over a source named triage: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(item, "testimony.txt")); err != nil || string(b) != "evidence" {
		t.Errorf("the source's item is gone: %v", err)
	}
}

// TestTriageNamesReserved: a source named like the pages' folder or the
// database goes into source-NAME, as one named index.html does.
func TestTriageNamesReserved(t *testing.T) {
	for _, name := range []string{"triage", "TRIAGE", "cases.db"} {
		if got := sourceFolder(name); !strings.HasPrefix(got, "source-") {
			t.Errorf("source %q goes into %q", name, got)
		}
	}
}
