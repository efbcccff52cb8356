package witness

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"testimony/crypto"
	"testimony/records"
	"testimony/server/web"
	"testimony/store"
)

func TestSubmitRoundTrip(t *testing.T) {
	e := newWitEnv(t, Config{})
	photo := make([]byte, 300<<10)
	rand.Read(photo)
	status, page := e.submit(fullTestimony("MARKER-1",
		part{name: "files", filename: "photo.jpg", body: string(photo), ctype: "image/jpeg"},
		part{name: "files", filename: "order.pdf", body: "%PDF-1.4 deportation order", ctype: "application/pdf"},
	)...)
	if status != http.StatusOK {
		t.Fatalf("status %d:\n%s", status, page)
	}
	codename := codenameOf(t, page)
	if _, err := crypto.CheckCodename(codename); err != nil || len(strings.Fields(codename)) != crypto.CodenameWords {
		t.Fatalf("codename %q: %v", codename, err)
	}
	items := e.items("")
	if len(items) != 1 {
		t.Fatalf("%d items, want 1", len(items))
	}
	it := items[0]
	if it.Kind != crypto.KindSubmission || it.Source != crypto.Pseudonym(e.s.key, codename) || it.Day != e.s.today() {
		t.Errorf("item record %+v", it)
	}
	rs, _ := e.s.recipients()
	if it.Recipients != rs.Fingerprint() {
		t.Errorf("item recipients %s, want %s", it.Recipients, rs.Fingerprint())
	}
	m, files := e.open(it)
	if m.Form.ID != "detention-deportation" || m.Form.Version != 1 || m.Lang != "en" {
		t.Errorf("manifest form %+v lang %q", m.Form, m.Lang)
	}
	want := map[string]string{
		"role": "relative", "consent_proxy": "yes", "detention_from": "2025-03", "detention_to": "2025-08-20",
		"deport_date": "2025-08-27", "arrival_questioned": "unsure", "consent_use": "statistics_only", "contact": "codename_only",
		"account": "My brother was held for months. MARKER-1",
	}
	for k, v := range want {
		if got := m.Answers[k]; got.IsList || got.Text != v {
			t.Errorf("answer %s = %+v, want %q", k, got, v)
		}
	}
	if c := m.Answers["conditions"]; !c.IsList || !slices.Equal(c.List, []string{"overcrowding", "medical_denied"}) {
		t.Errorf("conditions = %+v", c)
	}
	if _, ok := m.Answers["arrival_detained"]; ok {
		t.Error("an unanswered question is in the manifest")
	}
	if len(files) != 2 || !bytes.Equal(files[0], photo) || string(files[1]) != "%PDF-1.4 deportation order" {
		t.Fatalf("attachments differ: %d files", len(files))
	}
	if m.Attachments[0].Name != "photo.jpg" || m.Attachments[0].Type != "image/jpeg" || m.Attachments[1].Type != "application/pdf" {
		t.Errorf("attachments %+v", m.Attachments)
	}
	// Every investigator's key opens it; the reply key of the source does not.
	rid, _ := crypto.ReplyIdentity(e.s.key, codename)
	_, rd, _ := e.db.Open(it.ID)
	if _, err := crypto.OpenEnvelope(rd, rid); err == nil {
		t.Error("the witness's own reply key opens their submission")
	}
	if got := e.spoolFiles(); len(got) != 0 {
		t.Errorf("spool not empty after the submission: %v", got)
	}
	// The source record holds the reply key derived from the codename.
	var rec records.Source
	e.db.View(func(tx store.Tx) error {
		v, err := tx.Get(records.BucketSources, []byte(it.Source))
		if err != nil {
			return err
		}
		return jsonUnmarshal(v, &rec)
	})
	if rec.ReplyRecipient != rid.Recipient().String() || rec.Day != e.s.today() {
		t.Errorf("source record %+v", rec)
	}
}

// TestValidationReshowsForm: a form with errors comes back with every
// answer kept, those in folded sections too; a summary at the top names
// each problem with a link to its field, whose own message is there too;
// the folded sections holding an error are open, the others closed; and
// the witness is asked to choose files again only when they had chosen
// some.
func TestValidationReshowsForm(t *testing.T) {
	e := newWitEnv(t, Config{})
	kept := []part{{name: "lang", body: "en"}, {name: "facility", body: "Kept facility name"}, {name: "role", body: "lawyer"},
		{name: "charges", body: "Kept charges\nover two lines"}, {name: "transit_country", body: "Kept Egypt"},
		{name: "consent_use", body: "no_publication"}, {name: "account", body: "   "}}
	cases := []struct {
		name   string
		parts  []part
		fields []string
	}{
		{"missing account", kept, []string{"account"}},
		{"option not offered", append(fullTestimony("x"), part{name: "role", body: "astronaut"}), []string{"role"}},
		{"two single answers", append(fullTestimony("x"), part{name: "consent_use", body: "no_publication"}), []string{"consent_use"}},
		{"bad multi option", append(fullTestimony("x"), part{name: "conditions", body: "nice_food"}), []string{"conditions"}},
		{"bad date", append(fullTestimony("x")[:4], part{name: "deport_date", body: "27 August"}, part{name: "account", body: "text"}), []string{"deport_date"}},
		{"bad yes/no", []part{{name: "arrival_detained", body: "maybe"}, {name: "account", body: "text"}}, []string{"arrival_detained"}},
		{"three problems", append(slices.Clip(kept), part{name: "detention_to", body: "soon"}, part{name: "arrival_detained", body: "maybe"}),
			[]string{"account", "detention_to", "arrival_detained"}},
	}
	for _, c := range cases {
		for _, withFile := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s, file %v", c.name, withFile), func(t *testing.T) {
				parts := slices.Clip(c.parts)
				if withFile {
					parts = append(parts, part{name: "files", filename: "a.txt", body: "a file"})
				}
				status, page := e.submit(parts...)
				if status != http.StatusUnprocessableEntity {
					t.Fatalf("status %d, want 422", status)
				}
				if !strings.Contains(page, `class="field invalid"`) {
					t.Errorf("the page does not mark the field:\n%s", page)
				}
				if got := strings.Contains(page, "choose them again"); got != withFile {
					t.Errorf("file chosen %v, but the page asks for the files again: %v", withFile, got)
				}
				if !strings.Contains(page, `<form method="post" action="/submit?lang=`) {
					t.Error("the form is not shown again")
				}
				doc := parsePage(t, page)
				checkErrorSummary(t, doc, c.fields)
				if c.name == "missing account" || c.name == "three problems" {
					for id, want := range map[string]string{"f-facility": "Kept facility name", "f-transit_country": "Kept Egypt"} {
						if n := byID(doc, id); n == nil || attrOf(n, "value") != want || enclosing(n, "details") == nil {
							t.Errorf("%s: the answer %q was not kept in its folded section", id, want)
						}
					}
					if n := byID(doc, "f-charges"); n == nil || textOf(n) != "Kept charges\nover two lines" || enclosing(n, "details") == nil {
						t.Error("the text area's answer was not kept in its folded section")
					}
					for _, v := range []string{`value="lawyer" checked`, `value="no_publication" checked`} {
						if !strings.Contains(page, v) {
							t.Errorf("the choice %s was not kept", v)
						}
					}
				}
				if c.name == "bad multi option" && !strings.Contains(page, `value="overcrowding" checked`) {
					t.Error("the choices given were not kept")
				}
			})
		}
	}
	if n := len(e.items("")); n != 0 {
		t.Fatalf("%d items stored from invalid forms", n)
	}
	if got := e.spoolFiles(); len(got) != 0 {
		t.Errorf("spool not empty: %v", got)
	}
}

// checkErrorSummary checks a form page sent back with errors in fields:
// the error summary comes before the form, and holds one link for each
// field, in the page's order, to the field's id; each field has its own
// message, the one the link names; a folded section is open exactly when
// it holds one of the fields.
func checkErrorSummary(t *testing.T, doc *html.Node, fields []string) {
	t.Helper()
	sum := find(doc, func(n *html.Node) bool { return hasClass(n, "error-summary") })
	if sum == nil {
		t.Fatal("no error summary")
	}
	if f := find(doc, func(n *html.Node) bool { return n.Data == "form" && strings.HasPrefix(attrOf(n, "action"), "/submit") }); f == nil || !before(doc, sum, f) {
		t.Error("the error summary is not above the form")
	}
	if attrOf(sum, "role") != "alert" || find(sum, func(n *html.Node) bool { return n.Data == "h2" }) == nil {
		t.Error("the error summary has no role=alert or no heading")
	}
	var links []*html.Node
	walk(sum, func(n *html.Node) {
		if n.Data == "a" {
			links = append(links, n)
		}
	})
	var hrefs, order []string
	for _, l := range links {
		hrefs = append(hrefs, attrOf(l, "href"))
	}
	// The fields in the page's order.
	walk(doc, func(n *html.Node) {
		if id := attrOf(n, "id"); n.Type == html.ElementNode && strings.HasPrefix(id, "f-") && slices.Contains(fields, id[2:]) {
			order = append(order, "#"+id)
		}
	})
	if len(order) != len(fields) || !slices.Equal(hrefs, order) {
		t.Fatalf("the summary links to %v, the failing fields are %v", hrefs, order)
	}
	for i, l := range links {
		key := hrefs[i][len("#f-"):]
		msg := byID(doc, "e-"+key)
		if msg == nil || textOf(msg) == "" || !strings.HasSuffix(textOf(l), textOf(msg)) {
			t.Errorf("%s: no message at the field, or not the summary's %q", key, textOf(l))
		}
	}
	walk(doc, func(n *html.Node) {
		if n.Data != "details" {
			return
		}
		holds := false
		for _, k := range fields {
			if f := byID(doc, "f-"+k); f != nil && enclosing(f, "details") == n {
				holds = true
			}
		}
		if _, open := attrOK(n, "open"); open != holds {
			title := textOf(find(n, func(n *html.Node) bool { return n.Data == "summary" }))
			t.Errorf("section %q: open %v, holds a failing field %v", title, open, holds)
		}
	})
}

// TestStalledUploadTimesOut: an upload that stops sending is ended after
// the read window, leaving nothing behind; one that keeps sending slowly,
// longer than the window in all, goes through.
func TestStalledUploadTimesOut(t *testing.T) {
	e := newWitEnv(t, Config{})
	e.s.web.Limits.ReadWindow = 300 * time.Millisecond
	ct, body := multipartBody(t, fullTestimony("stall", part{name: "files", filename: "a.bin", body: strings.Repeat("s", 3<<20)})...)

	conn, err := net.Dial("tcp", e.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /submit HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", ct, len(body))
	conn.Write(body[:len(body)/2])
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	resp, _ := io.ReadAll(conn) // the server answers and closes, or just closes
	if time.Since(start) > 5*time.Second {
		t.Fatal("the stalled upload was not ended")
	}
	if len(resp) > 0 && !strings.Contains(string(resp), "408") {
		t.Errorf("answer to a stalled upload: %.200s", resp)
	}
	if n := len(e.items("")); n != 0 {
		t.Fatalf("%d items", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(e.spoolFiles()) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := e.spoolFiles(); len(got) != 0 {
		t.Errorf("spool: %v", got)
	}

	// A slow but steady upload: 3 MiB in pieces over about a second, four
	// read windows, with no pause as long as one.
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < len(body); i += 256 << 10 {
			pw.Write(body[i:min(len(body), i+256<<10)])
			time.Sleep(80 * time.Millisecond)
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", e.ts.URL+"/submit", pr)
	req.Header.Set("Content-Type", ct)
	req.ContentLength = int64(len(body))
	res, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || len(e.items("")) != 1 {
		t.Fatalf("slow upload: %d, %d items", res.StatusCode, len(e.items("")))
	}
}

// TestRecipientChangeTakesEffect: the recipient set is memoised, but a new
// investigator's key is used from the next submission on.
func TestRecipientChangeTakesEffect(t *testing.T) {
	e := newWitEnv(t, Config{})
	if st, _ := e.submit(fullTestimony("one")...); st != 200 {
		t.Fatal(st)
	}
	inv, _ := crypto.GenerateIdentity(false)
	e.db.Update(func(tx store.Tx) error {
		return tx.Put(records.BucketInvestigators, []byte("new"), []byte(`{"recipient":"`+inv.Recipient+`","disabled":false}`))
	})
	if st, _ := e.submit(fullTestimony("two")...); st != 200 {
		t.Fatal(st)
	}
	items := e.items("")
	if len(items) != 2 || items[0].Recipients == items[1].Recipients {
		t.Fatalf("the recipient set did not change: %+v", items)
	}
	opened := 0
	for _, it := range items {
		_, rd, _ := e.db.Open(it.ID)
		if _, err := crypto.OpenEnvelope(rd, inv.AgeIdentity()); err == nil {
			opened++
		}
	}
	if opened != 1 {
		t.Fatalf("the new investigator opens %d items, want 1", opened)
	}
}

// TestSizeText: a size in each language's units and number format, with a
// non-breaking space before the unit, rounded down.
func TestSizeText(t *testing.T) {
	const nb = "\u00a0"
	for _, c := range []struct {
		n              int64
		en, ru, uk, es string
	}{
		{500 << 20, "500 MB", "500 МБ", "500 МБ", "500 MB"},
		{3 << 29, "1.5 GB", "1,5 ГБ", "1,5 ГБ", "1,5 GB"},
		{1 << 30, "1 GB", "1 ГБ", "1 ГБ", "1 GB"},
		{2<<30 - 1, "1.9 GB", "1,9 ГБ", "1,9 ГБ", "1,9 GB"}, // down, never up to 2
		{10 << 30, "10 GB", "10 ГБ", "10 ГБ", "10 GB"},
		{2048, "2 KB", "2 КБ", "2 КБ", "2 KB"},
		{100, "1 KB", "1 КБ", "1 КБ", "1 KB"},
		{1<<20 - 1, "1,023 KB", "1" + nb + "023 КБ", "1" + nb + "023 КБ", "1.023 KB"},
	} {
		for lang, want := range map[string]string{"en": c.en, "ru": c.ru, "uk": c.uk, "es": c.es} {
			want = strings.ReplaceAll(want, " ", nb)
			if got := sizeText(web.Translate, lang, c.n); got != want {
				t.Errorf("%d bytes in %s: %q, want %q", c.n, lang, got, want)
			}
		}
	}
	// An added language falls back to English units, in its own digits.
	if got := sizeText(web.Translate, "ar", 3<<29); got != "١٫٥"+nb+"GB" {
		t.Errorf("ar: %q", got)
	}
}
