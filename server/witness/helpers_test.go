package witness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"testimony/crypto"
	"testimony/internal/testutil"
	"testimony/records"
	"testimony/store"
)

// witEnv is a witness site on a test server, with three investigators'
// hybrid keys as escrow recipients.
type witEnv struct {
	t    testing.TB
	dir  string
	db   *store.DB
	s    *Site
	ids  []*crypto.Identity
	ts   *httptest.Server
	logs *testutil.Buffer
}

func newWitEnv(t testing.TB, cfg Config) *witEnv {
	t.Helper()
	return newWitEnvStore(t, cfg, store.Options{})
}

// newWitEnvStore is newWitEnv with the store opened with opts.
func newWitEnvStore(t testing.TB, cfg Config, opts store.Options) *witEnv {
	t.Helper()
	e := &witEnv{t: t, dir: t.TempDir(), logs: &testutil.Buffer{}}
	db, err := store.Open(filepath.Join(e.dir, "testimony.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e.db = db
	if cfg.Escrow == nil {
		for range 3 {
			id, err := crypto.GenerateIdentity(false)
			if err != nil {
				t.Fatal(err)
			}
			e.ids = append(e.ids, id)
			cfg.Escrow = append(cfg.Escrow, id.Recipient)
		}
	}
	cfg.DataDir = e.dir
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.s, err = New(cfg, db, crypto.NewServerKeyForTest(9), log)
	if err != nil {
		t.Fatal(err)
	}
	e.ts = httptest.NewServer(e.s.Handler())
	t.Cleanup(e.ts.Close)
	return e
}

// reload makes e's site again over the same store, as a restart of serve
// would, so that the overrides a test wrote into e.dir are read.
func (e *witEnv) reload() {
	e.t.Helper()
	s, err := New(e.s.cfg, e.db, e.s.key, e.s.log)
	if err != nil {
		e.t.Fatal(err)
	}
	e.s = s
	e.ts.Config.Handler = s.Handler()
}

// part is one part of a multipart body; a file part has a file name (or
// file set to true for an empty name).
type part struct {
	name, filename, body, ctype string
	file                        bool
	rawHeader                   string // if set, the part's whole header block
}

// multipartBody builds a body in the given order.
func multipartBody(t testing.TB, parts ...part) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		switch {
		case p.file || p.filename != "":
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, p.name, p.filename))
			ct := p.ctype
			if ct == "" {
				ct = "application/octet-stream"
			}
			h.Set("Content-Type", ct)
		case p.rawHeader != "":
			h.Set("Content-Disposition", p.rawHeader)
		default:
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"`, p.name))
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, p.body)
	}
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

// post sends a body and returns the status and page.
func (e *witEnv) post(path, ctype string, body []byte, hdr ...string) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest("POST", e.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (e *witEnv) get(path string) (*http.Response, string) {
	e.t.Helper()
	res, err := e.ts.Client().Get(e.ts.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// submit posts a testimony made of parts.
func (e *witEnv) submit(parts ...part) (int, string) {
	ct, body := multipartBody(e.t, parts...)
	return e.post("/submit", ct, body)
}

var codenameRE = regexp.MustCompile(`(?s)<p class="codename" id="codename">(.*?)</p>`)
var tagRE = regexp.MustCompile(`<[^>]*>`)

// codenameOf reads the codename off a receipt page.
func codenameOf(t testing.TB, page string) string {
	t.Helper()
	m := codenameRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no codename on the page:\n%s", page)
	}
	return strings.Join(strings.Fields(tagRE.ReplaceAllString(m[1], " ")), " ")
}

// items returns the store's items of a kind.
func (e *witEnv) items(kind string) []store.Item {
	e.t.Helper()
	all, err := e.db.Items()
	if err != nil {
		e.t.Fatal(err)
	}
	var out []store.Item
	for _, it := range all {
		if kind == "" || it.Kind == kind {
			out = append(out, it)
		}
	}
	return out
}

// open decrypts an item with the first investigator's key and returns its
// manifest and attachments' bytes.
func (e *witEnv) open(it store.Item) (*crypto.Manifest, [][]byte) {
	e.t.Helper()
	_, rd, err := e.db.Open(it.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	er, err := crypto.OpenEnvelope(rd, e.ids[0].AgeIdentity())
	if err != nil {
		e.t.Fatal(err)
	}
	var files [][]byte
	for {
		_, r, err := er.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			e.t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		if err != nil {
			e.t.Fatal(err)
		}
		files = append(files, b)
	}
	if err := er.Finish(); err != nil {
		e.t.Fatal(err)
	}
	return er.Manifest(), files
}

// spoolFiles lists what is in the spool directory.
func (e *witEnv) spoolFiles() []string {
	e.t.Helper()
	ents, err := os.ReadDir(filepath.Join(e.dir, spoolDirName))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, d := range ents {
		out = append(out, d.Name())
	}
	return out
}

// plantReply stores a reply to a source the way the investigator site
// does: one envelope to the source's reply key and the recipient set.
func (e *witEnv) plantReply(codename, message string) {
	e.t.Helper()
	src := crypto.Pseudonym(e.s.key, codename)
	var rec records.Source
	err := e.db.View(func(tx store.Tx) error {
		v, err := tx.Get(records.BucketSources, []byte(src))
		if err != nil {
			return err
		}
		return jsonUnmarshal(v, &rec)
	})
	if err != nil {
		e.t.Fatalf("source record: %v", err)
	}
	keys := append([]string{rec.ReplyRecipient}, e.s.cfg.Escrow...)
	rs, err := crypto.NewRecipients("reply", keys...)
	if err != nil {
		e.t.Fatal(err)
	}
	m := &crypto.Manifest{Kind: crypto.KindReply, Day: e.s.today(), Answers: map[string]crypto.Answer{"message": crypto.TextAnswer(message)}}
	iw := e.db.NewItem()
	env, err := crypto.NewEnvelope(iw, rs, m)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := env.Close(); err != nil {
		e.t.Fatal(err)
	}
	if _, err := iw.Commit(store.Item{Kind: crypto.KindReply, Day: m.Day, Source: src, Recipients: rs.Fingerprint()}); err != nil {
		e.t.Fatal(err)
	}
}

// fullTestimony is a valid submission with every kind of field.
func fullTestimony(marker string, files ...part) []part {
	p := []part{
		{name: "lang", body: "en"},
		{name: "role", body: "relative"},
		{name: "consent_proxy", body: "yes"},
		{name: "facility", body: "A county detention centre " + marker},
		{name: "detention_from", body: "2025-03"},
		{name: "detention_to", body: "2025-08-20"},
		{name: "conditions", body: "overcrowding"},
		{name: "conditions", body: "medical_denied"},
		{name: "deport_date", body: "2025-08-27"},
		{name: "depart_airport", body: "Alexandria"},
		{name: "transit_country", body: "Egypt"},
		{name: "arrival_airport", body: "Moscow"},
		{name: "flight_treatment", body: "shackled"},
		{name: "arrival_questioned", body: "unsure"},
		{name: "account", body: "My brother was held for months. " + marker},
		{name: "consent_use", body: "statistics_only"},
		{name: "contact", body: "codename_only"},
	}
	return append(p, files...)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// parsePage parses an HTML page.
func parsePage(t testing.TB, page string) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// walk calls f on n and every node under it, in document order.
func walk(n *html.Node, f func(*html.Node)) {
	f(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, f)
	}
}

// find returns the first node under n (n included) that ok accepts.
func find(n *html.Node, ok func(*html.Node) bool) *html.Node {
	if n == nil {
		return nil
	}
	if n.Type == html.ElementNode && ok(n) {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if m := find(c, ok); m != nil {
			return m
		}
	}
	return nil
}

func byID(doc *html.Node, id string) *html.Node {
	return find(doc, func(n *html.Node) bool { return attrOf(n, "id") == id })
}

// attrOK returns an attribute and whether the element has it.
func attrOK(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func attrOf(n *html.Node, key string) string { v, _ := attrOK(n, key); return v }

func hasClass(n *html.Node, class string) bool {
	return slices.Contains(strings.Fields(attrOf(n, "class")), class)
}

// enclosing returns the nearest ancestor of n named tag, or nil.
func enclosing(n *html.Node, tag string) *html.Node {
	for p := n.Parent; p != nil; p = p.Parent {
		if p.Type == html.ElementNode && p.Data == tag {
			return p
		}
	}
	return nil
}

// textOf is the text under n, its white space collapsed except in a
// text area's value.
func textOf(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	if n.Data == "textarea" {
		return strings.TrimPrefix(b.String(), "\n")
	}
	return strings.Join(strings.Fields(b.String()), " ")
}

// before reports whether a comes before b in document order.
func before(doc, a, b *html.Node) bool {
	seen, ok := false, false
	walk(doc, func(n *html.Node) {
		switch n {
		case a:
			seen = true
		case b:
			ok = seen
		}
	})
	return ok
}

func TestMain(m *testing.M) { testutil.Main(m) }
