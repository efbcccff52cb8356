package witness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"testimony/crypto"
	"testimony/form"
	"testimony/server/web"
)

// The fuzz targets of the witness site's parsers. Each goes
// through the code a request reaches: the real handler with an
// httptest request, or the parser the handler calls. They run as
// regression tests in make test (their seeds and anything kept under
// testdata/fuzz/) and for FUZZTIME each in make fuzz.

// fuzzBoundary is the multipart boundary of the fuzzed bodies: fixed, so
// that the fuzzer mutates the parts rather than the framing's key.
const fuzzBoundary = "fuzzb0undary"

// fuzzDeadline is how long one fuzzed request may take before it counts as
// a hang. A valid submission takes a few milliseconds.
const fuzzDeadline = 20 * time.Second

// serveWithin runs one request through h and fails t if it takes longer
// than fuzzDeadline.
func serveWithin(t *testing.T, h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(rec, req)
	}()
	select {
	case <-done:
	case <-time.After(fuzzDeadline):
		t.Fatalf("%s %s: no answer within %v", req.Method, req.URL.Path, fuzzDeadline)
	}
	return rec
}

// fuzzBody builds a multipart body with the fixed boundary.
func fuzzBody(tb testing.TB, parts ...part) []byte {
	tb.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if err := mw.SetBoundary(fuzzBoundary); err != nil {
		tb.Fatal(err)
	}
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		if p.file || p.filename != "" {
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, p.name, p.filename))
			h.Set("Content-Type", p.ctype)
		} else {
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"`, p.name))
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			tb.Fatal(err)
		}
		io.WriteString(w, p.body)
	}
	mw.Close()
	return b.Bytes()
}

// storeState is what a refused request must leave unchanged.
type storeState struct {
	items, pending int
	spool          []string
}

func (e *witEnv) state(t *testing.T) storeState {
	t.Helper()
	st, err := e.db.Stats()
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(e.dir, spoolDirName))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var spool []string
	for _, d := range ents {
		spool = append(spool, d.Name())
	}
	return storeState{items: st.Items, pending: st.PendingChunks, spool: spool}
}

// openLast decrypts the newest submission with the first investigator's
// key and returns its manifest. (witEnv's helpers report to the F, which a
// fuzz function must not use.)
func (e *witEnv) openLast(t *testing.T) *crypto.Manifest {
	t.Helper()
	all, err := e.db.Items()
	if err != nil || len(all) == 0 {
		t.Fatalf("no item: %v", err)
	}
	_, rd, err := e.db.Open(all[len(all)-1].ID)
	if err != nil {
		t.Fatal(err)
	}
	er, err := crypto.OpenEnvelope(rd, e.ids[0].AgeIdentity())
	if err != nil {
		t.Fatal(err)
	}
	for {
		_, r, err := er.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, r)
	}
	if err := er.Finish(); err != nil {
		t.Fatal(err)
	}
	return er.Manifest()
}

// clearItems deletes every item, so that a long fuzz run keeps the store
// (and the scans of these checks) small.
func (e *witEnv) clearItems(t *testing.T) {
	t.Helper()
	all, err := e.db.Items()
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range all {
		if err := e.db.Delete(it.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// withoutThreadFloor lets a fuzz target reach the thread page of e's site
// without the floor on every input that holds a valid codename.
func (e *witEnv) withoutThreadFloor() { e.s.lim.threadFloor = 0 }

// fuzzCodename is a well-formed codename of the format issued before the
// check word (seven words of the EFF list), which still opens a thread.
const fuzzCodename = "abacus ladder nimble quarry sandal tripod velvet"

// FuzzSubmitMultipart: any multipart body (with a fixed boundary and a
// fuzzed content-type parameter), posted to the submit or the follow-up
// route of the real witness handler, gets an answer within the deadline
// with a 2xx or 4xx status — never a 5xx, the keys being configured — and
// a refusal leaves no item, no pending chunk and no spool file behind.
func FuzzSubmitMultipart(f *testing.F) {
	e := newWitEnv(f, Config{MaxUpload: 256 << 10, MaxFile: 128 << 10})
	e.withoutThreadFloor()
	if _, err := crypto.CheckCodename(fuzzCodename); err != nil {
		f.Fatalf("the seed codename is not one: %v", err)
	}
	photo := part{name: "files", filename: "IMG_2025.jpg", ctype: "image/jpeg", body: "\xff\xd8\xff\xe0 not really a jpeg"}
	seeds := []struct {
		followup bool
		param    string
		body     []byte
	}{
		{false, "", fuzzBody(f, fullTestimony("seed")...)},
		{false, "; charset=utf-8", fuzzBody(f, fullTestimony("seed", photo)...)},
		{false, "", fuzzBody(f, part{name: "lang", body: "ru"}, part{name: "account", body: "Меня держали три месяца."})},
		{false, "", fuzzBody(f, part{name: "nosuchfield", body: "x"})},
		{false, "", fuzzBody(f, fullTestimony("seed", part{name: "files", file: true, ctype: "application/octet-stream"})...)},
		{false, "", fuzzBody(f, fullTestimony("seed", part{name: "files", filename: "../../etc/passwd", ctype: "text/plain\r\nX: y", body: "root:x:0:0"})...)},
		{false, "", fuzzBody(f, part{name: "detention_from", body: "2025-13"}, part{name: "role", body: "martian"})},
		{false, "", fuzzBody(f, part{name: "account", body: "bad \xff\xfe utf-8"})},
		{false, "", fuzzBody(f, part{name: "account", body: strings.Repeat("a", form.MaxFieldBytes+1)})},
		{false, "", []byte("--" + fuzzBoundary + "\r\nContent-Disposition: form-data; name=\"account\"\r\n\r\nno closing boundary")},
		{false, "", []byte("--" + fuzzBoundary + "--\r\n")},
		{false, "; boundary=other", fuzzBody(f, fullTestimony("seed")...)},
		{false, "\x00;;=", nil},
		{true, "", fuzzBody(f, part{name: "lang", body: "en"}, part{name: "codename", body: fuzzCodename}, part{name: "message", body: "One more thing I remembered."})},
		{true, "", fuzzBody(f, part{name: "codename", body: fuzzCodename}, photo)},
		{true, "", fuzzBody(f, part{name: "codename", body: "not a codename"}, part{name: "message", body: "hello"})},
		{true, "", fuzzBody(f, part{name: "codename", body: fuzzCodename}, part{name: "codename", body: fuzzCodename})},
	}
	for _, s := range seeds {
		f.Add(s.followup, s.param, s.body)
	}
	h := e.s.Handler()
	f.Fuzz(func(t *testing.T, followup bool, param string, body []byte) {
		path := "/submit"
		if followup {
			path = "/followup"
		}
		// Each body twice: with its length, so small that files are
		// spooled, and of unknown length, as a chunked upload, so that
		// they stream into the store.
		for _, length := range []int64{int64(len(body)), -1} {
			before := e.state(t)
			req := httptest.NewRequest("POST", path, bytes.NewReader(body))
			req.ContentLength = length
			req.Header.Set("Content-Type", "multipart/form-data; boundary="+fuzzBoundary+param)
			rec := serveWithin(t, h, req)
			code := rec.Code
			if code >= 500 || code < 200 || (code >= 300 && code < 400) {
				t.Fatalf("%s (length %d) with %q: status %d (only 2xx and 4xx)\nlogs: %s", path, length, param, code, e.logs.String())
			}
			after := e.state(t)
			if code >= 400 {
				if after.items != before.items || after.pending != 0 || len(after.spool) != 0 {
					t.Fatalf("%s (length %d) refused with %d but left %+v (before %+v)", path, length, code, after, before)
				}
				if !strings.Contains(rec.Body.String(), "</html>") {
					t.Fatalf("%s refused with %d without a whole error page", path, code)
				}
				continue
			}
			if after.items != before.items+1 || after.pending != 0 || len(after.spool) != 0 {
				t.Fatalf("%s (length %d) accepted with %d but the store went from %+v to %+v", path, length, code, before, after)
			}
			e.clearItems(t)
		}
	})
}

// FuzzWitnessRequest: whatever the cookie header and the lang parameter, a
// witness page answers 200 in one of the site's languages and sets no
// cookie (the witness site keeps none).
func FuzzWitnessRequest(f *testing.F) {
	e := newWitEnv(f, Config{})
	h := e.s.Handler()
	for _, s := range [][3]string{
		{"/form", "", "ru"}, {"/", "lang=ru", "en"}, {"/codename", "session=abc; lang=ru", "xx"},
		{"/form", "\x00=\xff", "RU "}, {"/", strings.Repeat("a=b; ", 500), "../en"}, {"/codename", "lang=\"ru\"", "ru\x00"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, path, cookie, lang string) {
		switch path {
		case "/", "/form", "/codename":
		default:
			path = "/form"
		}
		req := httptest.NewRequest("GET", path, nil)
		q := req.URL.Query()
		q.Set("lang", lang)
		req.URL.RawQuery = q.Encode()
		req.Header.Set("Cookie", cookie)
		rec := serveWithin(t, h, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s lang %q cookie %q: %d", path, lang, cookie, rec.Code)
		}
		if c := rec.Header().Get("Set-Cookie"); c != "" {
			t.Fatalf("GET %s set a cookie: %q", path, c)
		}
		want := pageLang(lang)
		if !strings.Contains(rec.Body.String(), `lang="`+want+`"`) {
			t.Fatalf("GET %s lang %q: page not in %q", path, lang, want)
		}
	})
}

// FuzzQuestionnaire: any override file is either refused with an error or
// gives a definition whose form renders, in every language, without error
// and without a script, with an input for each of its fields, and whose
// empty answer set validates without a panic.
func FuzzQuestionnaire(f *testing.F) {
	pages, err := parseWitnessTemplates()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(form.DefaultJSON())
	for _, s := range []string{
		`{"id":"mini","version":1,"title":{"en":"Tell us"},"sections":[{"title":{"en":"One"},"fields":[{"key":"what","type":"textarea","label":{"en":"What happened?","ru":"Что случилось?"},"required":true}]}]}`,
		`{"id":"x","version":2,"title":{"en":"<script>alert(1)</script>"},"intro":{"en":"a","ru":"б"},"sections":[{"title":{"en":"s"},"help":{"en":"h"},"fields":[{"key":"when","type":"date","label":{"en":"When"}},{"key":"who","type":"single","label":{"en":"Who"},"options":[{"value":"me","label":{"en":"Me"}},{"value":"kin","label":{"en":"\"kin\" onclick=x"}}]},{"key":"ok","type":"yesno","label":{"en":"OK?"}},{"key":"docs","type":"file","multiple":true,"label":{"en":"Files"}}]}]}`,
		`{"id":"x","version":1,"title":{"en":"t"},"sections":[{"title":{"en":"s"},"fields":[{"key":"m","type":"multi","label":{"en":"m"},"options":[]}]}]}`,
		`{"id":"x","version":1,"title":{"en":"t"},"sections":[{"title":{"en":"s"},"fields":[{"key":"lang","type":"text","label":{"en":"l"}}]}]}`,
		`{"id":"x","version":1,"title":{"en":"t"},"sections":[{"title":{"en":"s"},"fields":[{"key":"a","type":"text","label":{"en":"l"}},{"key":"a","type":"text","label":{"en":"l"}}]}]}`,
		`{"id":"x","version":0}`, `{"id":"x","version":1,"title":{"en":"t"},"extra":1}`, `null`, `[]`, ``, `{"sections":[null]}`,
		`{"id":"x","version":1,"title":{"en":"t"},"sections":[{"fields":[null]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := parseQuestionnaire(b)
		if err != nil {
			if q != nil {
				t.Fatalf("an error and a definition: %v", err)
			}
			return
		}
		for _, lang := range web.WitnessLangs() {
			var out bytes.Buffer
			err := pages["form"].ExecuteTemplate(&out, "layout", wPage{Lang: lang, Dir: textDir(lang), Title: "w.form.pagetitle",
				Limit: "1 MB", Data: formData{Q: q, Values: form.Values{}, Errors: map[string]string{}}})
			if err != nil {
				t.Fatalf("a definition that parsed does not render in %s: %v", lang, err)
			}
			page := out.String()
			if strings.Contains(strings.ToLower(page), "<script") {
				t.Fatalf("the form holds a script")
			}
			for _, sec := range q.Sections {
				for _, fl := range sec.Fields {
					if !strings.Contains(page, `name="`+fl.Key+`"`) {
						t.Fatalf("the form has no input for field %q", fl.Key)
					}
				}
			}
		}
		// No answers: a valid empty testimony unless something is required.
		_, errs := q.Validate(form.Values{})
		for k, msg := range errs {
			if fl := q.Field(k); fl == nil || !fl.Required || msg != "w.form.err.required" {
				t.Fatalf("empty answers: field %q: %s", k, msg)
			}
		}
	})
}

// FuzzFormAnswers: a valid testimony with up to three of its answers
// replaced or added (partial dates, choices not in the list, over-long or
// invalid UTF-8 values, repeated fields), posted through the real handler,
// gets a clear error page (422 naming the fields, or 400/413) and stores
// nothing, or is accepted — and then the decrypted manifest holds exactly
// the answers validation accepted, each one allowed by its field.
func FuzzFormAnswers(f *testing.F) {
	e := newWitEnv(f, Config{MaxUpload: 1 << 20})
	h := e.s.Handler()
	q := e.s.quest
	f.Add("detention_from", "2025", false, "", "", false, "", "", false)
	f.Add("detention_from", "2025-02-30", false, "detention_to", "1899", false, "deport_date", "2025-8-1", false)
	f.Add("role", "martian", false, "conditions", "overcrowding", true, "conditions", "teleported", true)
	f.Add("facility", strings.Repeat("x", form.MaxShortField+1), false, "account", "", false, "", "", false)
	f.Add("account", "\xff\xfe", false, "", "", false, "", "", false)
	f.Add("account", "nul\x00byte", false, "", "", false, "", "", false)
	f.Add("account", "  Line one\r\nLine two  ", false, "role", "witness", false, "consent_use", "", false)
	f.Add("role", "relative", true, "arrival_questioned", "maybe", false, "contact", "codename_only", true)
	f.Add("lang", "ru", false, "facility", "Центр временного содержания", false, "transit_country", "", false)
	f.Add("nosuch", "x", false, "", "", false, "", "", false)
	f.Add("account", "", false, "account", "Then they took our phones.", true, "", "", false)
	f.Add("account", strings.Repeat("я", form.MaxFieldBytes/2+1), false, "", "", false, "", "", false)
	f.Fuzz(func(t *testing.T, k1, v1 string, add1 bool, k2, v2 string, add2 bool, k3, v3 string, add3 bool) {
		// The valid testimony, as ordered key/values, then the changes.
		var kv [][2]string
		for _, p := range fullTestimony("") {
			kv = append(kv, [2]string{p.name, p.body})
		}
		for _, c := range []struct {
			k, v string
			add  bool
		}{{k1, v1, add1}, {k2, v2, add2}, {k3, v3, add3}} {
			if c.k == "" || strings.ContainsAny(c.k, "\"\r\n\\") || q.IsFile(c.k) {
				continue // not a field name a browser sends in a header, or the file input (FuzzSubmitMultipart's)
			}
			if !c.add {
				kept := kv[:0]
				for _, p := range kv {
					if p[0] != c.k {
						kept = append(kept, p)
					}
				}
				kv = kept
			}
			kv = append(kv, [2]string{c.k, c.v})
		}
		var parts []part
		values := form.Values{}
		for _, p := range kv {
			parts = append(parts, part{name: p[0], body: p[1]})
			values[p[0]] = append(values[p[0]], p[1])
		}
		before := e.state(t)
		req := httptest.NewRequest("POST", "/submit", bytes.NewReader(fuzzBody(t, parts...)))
		req.Header.Set("Content-Type", "multipart/form-data; boundary="+fuzzBoundary)
		rec := serveWithin(t, h, req)
		after := e.state(t)
		page := rec.Body.String()

		// What the handler must have decided, from the values alone.
		var unknown, badText, long bool
		total := 0
		for k, vs := range values {
			if k != "lang" && (q.Field(k) == nil || q.IsFile(k)) {
				unknown = true
			}
			if !utf8.ValidString(k) {
				badText = true
			}
			for _, v := range vs {
				total += len(v)
				badText = badText || !form.CheckText(v)
				long = long || len(v) > form.MaxFieldBytes
			}
		}
		long = long || total > form.MaxTextBytes
		switch {
		case rec.Code >= 500:
			t.Fatalf("status %d\nlogs: %s", rec.Code, e.logs.String())
		case rec.Code >= 400:
			if after.items != before.items || after.pending != 0 || len(after.spool) != 0 {
				t.Fatalf("refused with %d but left %+v", rec.Code, after)
			}
		}
		if unknown || badText || long {
			if rec.Code != http.StatusBadRequest && rec.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("unknown field %v, bad text %v or too long %v: status %d, want 400 or 413", unknown, badText, long, rec.Code)
			}
			return
		}
		answers, errs := q.Validate(values)
		if errs != nil {
			if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(page, `class="error-summary"`) {
				t.Fatalf("invalid answers %v: status %d, want 422 with the error summary", errs, rec.Code)
			}
			for k := range errs {
				if !strings.Contains(page, `name="`+k+`"`) || !strings.Contains(page, `href="#f-`+k+`"`) {
					t.Fatalf("the error page does not show field %q again, or does not link to it", k)
				}
			}
			return
		}
		if rec.Code != http.StatusOK || after.items != before.items+1 {
			t.Fatalf("valid answers: status %d, items %d → %d", rec.Code, before.items, after.items)
		}
		m := e.openLast(t)
		e.clearItems(t)
		if len(m.Answers) != len(answers) {
			t.Fatalf("manifest answers %v, validated %v", m.Answers, answers)
		}
		for k, a := range answers {
			got, ok := m.Answers[k]
			if !ok || got.IsList != a.IsList || !reflect.DeepEqual(got.Values(), a.Values()) {
				gj, _ := json.Marshal(got)
				aj, _ := json.Marshal(a)
				t.Fatalf("answer %q: manifest %s, validated %s", k, gj, aj)
			}
			checkAnswer(t, q.Field(k), a)
		}
	})
}

// checkAnswer fails t unless a is an answer field fl allows.
func checkAnswer(t *testing.T, fl *form.Field, a crypto.Answer) {
	t.Helper()
	if fl == nil {
		t.Fatal("an answer for no field")
	}
	if len(a.Values()) == 0 {
		t.Fatalf("field %q: an empty answer", fl.Key)
	}
	for _, v := range a.Values() {
		switch {
		case v == "" || v != strings.TrimSpace(v):
			t.Fatalf("field %q: empty or untrimmed answer %q", fl.Key, v)
		case fl.Type == form.TypeDate && !form.ValidDate(v):
			t.Fatalf("field %q: date %q", fl.Key, v)
		case (fl.Type == form.TypeSingle || fl.Type == form.TypeMulti || fl.Type == form.TypeYesNo) && !fl.HasOption(v):
			t.Fatalf("field %q: %q is not an option", fl.Key, v)
		case fl.Type == form.TypeText && len(v) > form.MaxShortField:
			t.Fatalf("field %q: %d bytes", fl.Key, len(v))
		}
	}
	if a.IsList != (fl.Type == form.TypeMulti) {
		t.Fatalf("field %q of type %s: list %v", fl.Key, fl.Type, a.IsList)
	}
}
