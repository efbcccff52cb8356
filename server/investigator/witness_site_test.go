package investigator

// The tests of this file run the witness site (package witness) beside the
// investigator site over one store, as serve does: what a witness does
// there reaches the investigators, and no investigator route is on the
// witness listener. Only these tests import package witness; the
// investigator package itself does not (deps_test.go).

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"testimony/bundle"
	"testimony/crypto"
	"testimony/server/witness"
	"testimony/store"
)

// witnessSite is the witness site over e's store and key.
func (e *invEnv) witnessSite() *witness.Site {
	e.t.Helper()
	w, err := witness.New(witness.Config{DataDir: e.t.TempDir(), Now: e.clock.Now}, e.db, e.s.key, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return w
}

// testimonyBody is a full testimony of the default questionnaire, as the
// witness form posts it.
func testimonyBody(t *testing.T, marker string) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, kv := range [][2]string{
		{"lang", "en"}, {"role", "relative"}, {"consent_proxy", "yes"}, {"facility", "A county detention centre " + marker},
		{"detention_from", "2025-03"}, {"detention_to", "2025-08-20"}, {"conditions", "overcrowding"},
		{"conditions", "medical_denied"}, {"deport_date", "2025-08-27"}, {"depart_airport", "Alexandria"},
		{"transit_country", "Egypt"}, {"arrival_airport", "Moscow"}, {"flight_treatment", "shackled"},
		{"arrival_questioned", "unsure"}, {"account", "My brother was held for months. " + marker},
		{"consent_use", "statistics_only"}, {"contact", "codename_only"},
	} {
		if err := mw.WriteField(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

var receiptCodenameRE = regexp.MustCompile(`(?s)<p class="codename" id="codename">(.*?)</p>`)

// codenameOf reads the codename off a receipt page.
func codenameOf(t *testing.T, page string) string {
	t.Helper()
	m := receiptCodenameRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no codename on the page:\n%s", page)
	}
	return strings.Join(strings.Fields(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(m[1], " ")), " ")
}

// routePath is a route's pattern with its variables filled in.
func routePath(pattern string) string {
	id := strings.Repeat("ab", 16)
	return strings.NewReplacer("{id:[0-9a-f]{32}}", id, "{source}", "s-AAAA").Replace(pattern)
}

// TestInvestigatorRoutesAbsentFromWitnessSite: every route of the
// investigator site's table (Routes) that the witness site's table does not
// hold itself answers 404 on the witness site, and the witness home page
// links to none of them. A route added to the table is checked with it.
func TestInvestigatorRoutesAbsentFromWitnessSite(t *testing.T) {
	e := newInvEnv(t, Config{})
	w := e.witnessSite().Handler()
	own := map[string]bool{}
	for _, r := range witness.Routes() {
		own[r.Path] = true
	}
	var paths []string
	for _, r := range Routes() {
		p := routePath(r.Path)
		if strings.Contains(p, "{") {
			t.Fatalf("route %s: routePath does not fill in its variable", r.Path)
		}
		if !own[p] && !slices.Contains(paths, p) {
			paths = append(paths, p)
		}
	}
	if len(paths) < 10 {
		t.Fatalf("only %d investigator paths to try: %v", len(paths), paths)
	}
	for _, p := range paths {
		for _, m := range []string{"GET", "POST"} {
			req := httptest.NewRequest(m, p, strings.NewReader("a=b"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			w.ServeHTTP(rec, req)
			if rec.Code != http.StatusNotFound {
				t.Errorf("witness site: %s %s: %d, want 404", m, p, rec.Code)
			}
		}
	}
	rec := httptest.NewRecorder()
	w.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	body := rec.Body.String()
	for _, p := range paths {
		if strings.Contains(body, `"`+p+`"`) {
			t.Errorf("the witness home page links to %s", p)
		}
	}
	if strings.Contains(body, ":8081") {
		t.Error("the witness home page names the investigator listener")
	}
}

// TestWithdrawalReachesInvestigatorsAndTools: a deletion request made on
// the witness site is flagged on the investigator site's list and source
// page, is in a bundle (index.json and the item), and marks every item of
// its source in testimony open's output and index and in the report; the
// submission is still there.
func TestWithdrawalReachesInvestigatorsAndTools(t *testing.T) {
	e := newInvEnv(t, Config{})
	alice := e.addInvestigator("alice")
	wts := httptest.NewServer(e.witnessSite().Handler())
	t.Cleanup(wts.Close)
	post := func(path, ct string, body []byte) string {
		t.Helper()
		r, err := http.Post(wts.URL+path, ct, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		if r.StatusCode != 200 {
			t.Fatalf("%s: %d\n%s", path, r.StatusCode, b)
		}
		return string(b)
	}
	ct, body := testimonyBody(t, "x")
	codename := codenameOf(t, post("/submit", ct, body))
	ct, body = testimonyBody(t, "y")
	other := codenameOf(t, post("/submit", ct, body))
	f := url.Values{"codename": {codename}, "lang": {"en"}, "request": {"erase"}, "message": {"Please delete it all."}}
	post("/withdraw", "application/x-www-form-urlencoded", []byte(f.Encode()))
	src, otherSrc := crypto.Pseudonym(e.s.key, codename), crypto.Pseudonym(e.s.key, other)

	c := e.client()
	c.loginReady(alice)
	list := c.get("/")
	mustContain(t, list.body, `<a href="/sources/`+src+`">`+src+`</a> <strong class="flag erasure">deletion requested</strong>`)
	if bytes.Count(list.body, []byte(`<strong class="flag erasure">`)) != 2 || bytes.Contains(list.body, []byte(`<a href="/sources/`+otherSrc+`">`+otherSrc+`</a> <strong`)) {
		t.Fatalf("the list flags other than the source's 2 items:\n%s", list.body)
	}
	page := c.get("/sources/" + src)
	mustContain(t, page.body, "The witness asked for their account to be deleted.")
	mustContain(t, page.body, "Nothing was deleted")
	if p := c.get("/sources/" + otherSrc); bytes.Contains(p.body, []byte("flag")) {
		t.Fatalf("another source is flagged:\n%s", p.body)
	}

	r := c.post("/bundle", url.Values{"scope": {"all"}})
	if r.status != 200 {
		t.Fatalf("bundle: %d", r.status)
	}
	br := bundle.NewReader(bytes.NewReader(r.body))
	for {
		if _, _, err := br.Next(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	idx, err := br.Verify()
	if err != nil || len(idx) != 0 {
		t.Fatalf("bundle does not verify: %v %v", idx, err)
	}
	var index struct {
		Items []struct{ ID, Kind, Source string }
	}
	dir := t.TempDir()
	tarPath := filepath.Join(dir, "bundle.tar")
	os.WriteFile(tarPath, r.body, 0o600)
	out, err := exec.Command("tar", "-xOf", tarPath, "index.json").Output()
	if err != nil || json.Unmarshal(out, &index) != nil {
		t.Fatalf("index.json: %v\n%s", err, out)
	}
	kinds := map[string]int{}
	for _, it := range index.Items {
		if it.Source == src {
			kinds[it.Kind]++
		}
	}
	if kinds[crypto.KindErasure] != 1 || kinds[crypto.KindSubmission] != 1 {
		t.Fatalf("the bundle's index, for the source: %v\n%s", kinds, out)
	}

	bin := filepath.Join(t.TempDir(), "testimony")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/testimony").CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/testimony: %v\n%s", err, out)
	}
	keyFile := filepath.Join(dir, "key.txt")
	os.WriteFile(keyFile, []byte(alice.id.Secret+"\n"), 0o600)
	cases := filepath.Join(dir, "cases")
	out, err = exec.Command(bin, "open", "-i", keyFile, "-o", cases, tarPath).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "warning: source "+src+": deletion requested (erasure, ") || strings.Contains(string(out), otherSrc) {
		t.Fatalf("testimony open: %v\n%s", err, out)
	}
	html, _ := os.ReadFile(filepath.Join(cases, "index.html"))
	mustContain(t, html, `Source `+src+` <span class="withdrawn">— deletion requested</span>`)
	if n := bytes.Count(html, []byte(`<span class="withdrawn">deletion requested</span>`)); n != 2 {
		t.Errorf("index.html marks %d items, want the source's 2", n)
	}
	out, err = exec.Command(bin, "report", cases).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "  "+src+": deletion requested on ") {
		t.Fatalf("testimony report: %v\n%s", err, out)
	}
	report, _ := os.ReadFile(filepath.Join(cases, "report.html"))
	mustContain(t, report, "Taken back by the witness (1)")
	if n := len(e.itemsOf(crypto.KindSubmission)); n != 2 {
		t.Errorf("%d submissions left, want 2: nothing is deleted automatically", n)
	}
}

func (e *invEnv) itemsOf(kind string) []store.Item {
	e.t.Helper()
	all, err := e.db.Items()
	if err != nil {
		e.t.Fatal(err)
	}
	var out []store.Item
	for _, it := range all {
		if it.Kind == kind {
			out = append(out, it)
		}
	}
	return out
}
