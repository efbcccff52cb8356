package server

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"testimony/bundle"
	"testimony/crypto"
	"testimony/records"
	"testimony/store"
)

func (e *witEnv) withdraw(codename, request, message, lang string, hdr ...string) (int, string) {
	e.t.Helper()
	f := url.Values{"codename": {codename}, "lang": {lang}, "message": {message}}
	if request != "" {
		f.Set("request", request)
	}
	return e.post("/withdraw", "application/x-www-form-urlencoded", []byte(f.Encode()), hdr...)
}

// TestWithdrawalStored: the thread page offers the withdrawal form; a
// deletion request and a withdrawal are stored as items of their own
// kinds under the codename's source, encrypted to the investigators only,
// and nothing is deleted.
func TestWithdrawalStored(t *testing.T) {
	e := newWitEnv(t, Config{})
	_, page := e.submit(fullTestimony("x")...)
	codename := codenameOf(t, page)
	_, thread := e.login(codename, "en")
	for _, want := range []string{`action="/withdraw?lang=en"`, `name="request" value="withdraw"`, `name="request" value="erase"`, "Take your account back"} {
		if !strings.Contains(thread, want) {
			t.Fatalf("the thread page lacks %q\n%s", want, thread)
		}
	}
	st, p := e.withdraw(codename, "erase", "Please delete it: my family is at risk.", "ru")
	if st != 200 || !strings.Contains(p, "вы попросили удалить ваш рассказ") || !strings.Contains(p, `lang="ru"`) {
		t.Fatalf("deletion request: %d\n%s", st, p)
	}
	if st, p := e.withdraw(codename, "withdraw", "", "en"); st != 200 || !strings.Contains(p, "you withdrew your consent") {
		t.Fatalf("withdrawal: %d\n%s", st, p)
	}
	src := crypto.Pseudonym(e.s.key, codename)
	er, wd := e.items(crypto.KindErasure), e.items(crypto.KindWithdrawal)
	if len(er) != 1 || len(wd) != 1 || er[0].Source != src || wd[0].Source != src {
		t.Fatalf("erasure %+v, withdrawal %+v", er, wd)
	}
	m, files := e.open(er[0])
	if m.Kind != crypto.KindErasure || m.Form.ID != "withdrawal" || m.Form.Version != 1 || m.Lang != "ru" ||
		m.Answers["request"].Text != "erase" || m.Answers["message"].Text != "Please delete it: my family is at risk." || len(files) != 0 {
		t.Fatalf("erasure manifest %+v", m)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	if m, _ := e.open(wd[0]); m.Answers["request"].Text != "withdraw" || m.Answers["message"].Text != "" {
		t.Fatalf("withdrawal manifest %+v", m)
	}
	rid, _ := crypto.ReplyIdentity(e.s.key, codename)
	_, rd, _ := e.db.Open(er[0].ID)
	if _, err := crypto.OpenEnvelope(rd, rid); err == nil {
		t.Error("the request is encrypted to the witness's reply key too")
	}
	if n := len(e.items(crypto.KindSubmission)); n != 1 {
		t.Errorf("%d submissions left: nothing may be deleted automatically", n)
	}
}

// TestWithdrawalRefusals: no choice, a codename that fails the check, a
// cross-site post: nothing stored (the store byte for byte as it was).
func TestWithdrawalRefusals(t *testing.T) {
	e := newWitEnv(t, Config{})
	_, page := e.submit(fullTestimony("x")...)
	codename := codenameOf(t, page)
	before := storeContents(t, e.db)
	if st, p := e.withdraw(codename, "", "x", "en"); st != 422 || !strings.Contains(p, "Choose one: withdraw your consent") {
		t.Errorf("no choice: %d\n%s", st, p)
	}
	if st, _ := e.withdraw(codename, "everything", "x", "en"); st != 422 {
		t.Errorf("an unknown choice: %d", st)
	}
	if st, p := e.withdraw(mistype(t, codename, 3), "erase", "x", "en"); st != 422 || !strings.Contains(p, "These words do not make a codename") {
		t.Errorf("a mistyped codename: %d\n%s", st, p)
	}
	if st, _ := e.withdraw("hello", "erase", "x", "en"); st != 422 {
		t.Errorf("not a codename: %d", st)
	}
	if st, _ := e.withdraw(codename, "erase", "x", "en", "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"); st != 403 {
		t.Errorf("cross-site: %d", st)
	}
	if st, _ := e.withdraw(codename, "erase", strings.Repeat("a", 70000), "en"); st != 422 {
		t.Errorf("a message too long: %d", st)
	}
	if after := storeContents(t, e.db); after != before {
		t.Errorf("a refused request changed the store:\n%s\n----\n%s", before, after)
	}
}

// TestWithdrawalUnderUnknownCodename: a well-formed codename with no
// record gets the same page as a right one and its request is kept under
// a new source, as a follow-up would be.
func TestWithdrawalUnderUnknownCodename(t *testing.T) {
	e := newWitEnv(t, Config{})
	_, page := e.submit(fullTestimony("x")...)
	right := codenameOf(t, page)
	wrong, _ := crypto.NewCodename()
	st1, p1 := e.withdraw(right, "withdraw", "", "en")
	st2, p2 := e.withdraw(wrong, "withdraw", "", "en")
	if st1 != 200 || st1 != st2 || codenameValueRE.ReplaceAllString(p1, "") != codenameValueRE.ReplaceAllString(p2, "") {
		t.Fatalf("%d %d: pages differ\n%s\n----\n%s", st1, st2, p1, p2)
	}
	src := crypto.Pseudonym(e.s.key, wrong)
	if ok, _ := records.SourceExists(e.s.db, src); !ok {
		t.Fatal("no source record for the unknown codename's request")
	}
}

// TestWithdrawalReachesInvestigatorsAndTools: a deletion request made on
// the witness site is flagged on the investigator site's list and source
// page, is in a bundle (index.json and the item), and marks every item of
// its source in testimony open's output and index and in the report; the
// submission is still there.
func TestWithdrawalReachesInvestigatorsAndTools(t *testing.T) {
	e := newInvEnv(t, Config{DataDir: t.TempDir()})
	alice := e.addInvestigator("alice")
	wts := httptest.NewServer(e.s.WitnessHandler())
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
	ct, body := multipartBody(t, fullTestimony("x")...)
	codename := codenameOf(t, post("/submit", ct, body))
	ct, body = multipartBody(t, fullTestimony("y")...)
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
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/testimony").CombinedOutput(); err != nil {
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
