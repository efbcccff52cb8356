package witness

import (
	"bytes"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"testimony/crypto"
	"testimony/records"
	"testimony/store"
)

// witnessRoutes are every page of the witness site, with what reaches it.
func witnessPages(t *testing.T, e *witEnv) map[string]string {
	t.Helper()
	pages := map[string]string{}
	for _, p := range []string{"/", "/?lang=ru", "/form", "/form?lang=ru", "/codename", "/codename?lang=ru", "/nope", "/static/witness.css"} {
		_, body := e.get(p)
		pages["GET "+p] = body
	}
	st, receipt := e.submit(fullTestimony("walk")...)
	if st != 200 {
		t.Fatalf("submit: %d", st)
	}
	pages["POST /submit"] = receipt
	_, pages["POST /submit (invalid)"] = e.submit(part{name: "account", body: ""})
	_, pages["POST /submit (bad)"] = e.post("/submit", "text/plain", []byte("x"))
	codename := codenameOf(t, receipt)
	e.plantReply(codename, "A reply with <script>alert(1)</script> and javascript:void(0)")
	_, pages["POST /thread"] = e.post("/thread", "application/x-www-form-urlencoded", []byte("lang=ru&codename="+strings.ReplaceAll(codename, " ", "+")))
	_, pages["POST /thread (not a codename)"] = e.post("/thread", "application/x-www-form-urlencoded", []byte("codename=hello"))
	ct, body := multipartBody(t, part{name: "lang", body: "en"}, part{name: "codename", body: codename}, part{name: "message", body: "more"})
	_, pages["POST /followup"] = e.post("/followup", ct, body)
	_, pages["POST /thread (mistyped)"] = e.login(mistype(t, codename, 1), "en")
	_, pages["POST /thread (unknown word)"] = e.login(strings.Replace(codename, " ", "<b>x</b> ", 1), "en")
	_, pages["POST /withdraw"] = e.withdraw(codename, "withdraw", "<script>alert(1)</script>", "uk")
	_, pages["POST /withdraw (no choice)"] = e.withdraw(codename, "", "", "es")
	checkEveryRouteWalked(t, pages)
	return pages
}

// checkEveryRouteWalked fails unless pages (keyed "METHOD /path…") hold a
// page of every route of the site's table: a route added to the table
// that the walk misses fails the tests that use the walk, so that its
// pages get their checks too.
func checkEveryRouteWalked(t *testing.T, pages map[string]string) {
	t.Helper()
	for _, r := range Routes() {
		found := false
		for k := range pages {
			p := strings.TrimPrefix(k, r.Method+" ")
			if p != k && (p == r.Path || strings.HasPrefix(p, r.Path+"?") || strings.HasPrefix(p, r.Path+" (")) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("route %s %s of the table has no page in witnessPages: add it to the walk", r.Method, r.Path)
		}
	}
}

// TestWitnessPagesShipNoScript walks every witness page: no script, no
// event handler attribute, no javascript: URL, no SVG, no font and nothing
// from another origin.
func TestWitnessPagesShipNoScript(t *testing.T) {
	e := newWitEnv(t, Config{})
	bad := []*regexp.Regexp{
		regexp.MustCompile(`(?i)<script`),
		regexp.MustCompile(`(?i)\son[a-z]+\s*=`),
		regexp.MustCompile(`(?i)(href|src|action)\s*=\s*"?\s*javascript:`),
		regexp.MustCompile(`(?i)<svg`),
		regexp.MustCompile(`(?i)@font-face`),
		regexp.MustCompile(`(?i)@import`),
		regexp.MustCompile(`(?i)url\(`),
		regexp.MustCompile(`(?i)(href|src|action|formaction)\s*=\s*"?(https?:)?//`),
		regexp.MustCompile(`(?i)<(iframe|object|embed|img|link[^>]*rel="?(preload|prefetch|dns-prefetch|preconnect))`),
		regexp.MustCompile(`(?i)/(login|cases|items|sources|audit|account)\b`),
	}
	pages := witnessPages(t, e)
	if len(pages) < 14 {
		t.Fatalf("walked only %d pages", len(pages))
	}
	for name, body := range pages {
		if len(body) < 100 {
			t.Errorf("%s: suspiciously short page %q", name, body)
		}
		for _, re := range bad {
			if loc := re.FindStringIndex(body); loc != nil {
				t.Errorf("%s contains %q: %q", name, re, body[max(0, loc[0]-60):min(len(body), loc[1]+60)])
			}
		}
	}
	// The planted reply's markup was escaped, not dropped.
	if !strings.Contains(pages["POST /thread"], "&lt;script&gt;") {
		t.Error("the reply is not on the thread page")
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	e := newWitEnv(t, Config{})
	reqs := []*http.Request{}
	for _, p := range []string{"/", "/form", "/codename", "/static/witness.css", "/nope", "/login", "/cases", "/items/0123456789abcdef0123456789abcdef", "/audit", "/account"} {
		r, _ := http.NewRequest("GET", e.ts.URL+p, nil)
		reqs = append(reqs, r)
	}
	r, _ := http.NewRequest("DELETE", e.ts.URL+"/", nil)
	reqs = append(reqs, r)
	r, _ = http.NewRequest("POST", e.ts.URL+"/submit", strings.NewReader("x"))
	r.Header.Set("Content-Type", "text/plain")
	reqs = append(reqs, r)
	r, _ = http.NewRequest("POST", e.ts.URL+"/submit", strings.NewReader("x"))
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	reqs = append(reqs, r)
	want := map[string]string{
		"Content-Security-Policy":      "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"Referrer-Policy":              "no-referrer",
		"X-Content-Type-Options":       "nosniff",
		"Cross-Origin-Opener-Policy":   "same-origin",
		"Cross-Origin-Resource-Policy": "same-origin",
	}
	for _, r := range reqs {
		res, err := e.ts.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		for k, v := range want {
			if got := res.Header.Get(k); got != v {
				t.Errorf("%s %s: %s = %q, want %q", r.Method, r.URL.Path, k, got, v)
			}
		}
		cc := res.Header.Get("Cache-Control")
		if r.URL.Path == "/static/witness.css" {
			if !strings.Contains(cc, "max-age=") || res.Header.Get("Content-Type") != "text/css; charset=utf-8" {
				t.Errorf("style sheet: Cache-Control %q, Content-Type %q", cc, res.Header.Get("Content-Type"))
			}
		} else if cc != "no-store" {
			t.Errorf("%s %s: Cache-Control %q", r.Method, r.URL.Path, cc)
		}
		for _, h := range []string{"Server", "ETag", "Last-Modified", "Set-Cookie"} {
			if res.Header.Get(h) != "" {
				t.Errorf("%s %s: has a %s header", r.Method, r.URL.Path, h)
			}
		}
		switch {
		case r.Method == "DELETE":
			if res.StatusCode != 405 {
				t.Errorf("DELETE: %d", res.StatusCode)
			}
		case r.Header.Get("Sec-Fetch-Site") == "cross-site":
			if res.StatusCode != 403 {
				t.Errorf("cross-site POST: %d, want 403", res.StatusCode)
			}
		case r.Method == "GET" && strings.Count(r.URL.Path, "/") >= 1 && r.URL.Path != "/" && r.URL.Path != "/form" && r.URL.Path != "/codename" && r.URL.Path != "/static/witness.css":
			if res.StatusCode != 404 {
				t.Errorf("GET %s: %d, want 404 (no investigator route on the witness site)", r.URL.Path, res.StatusCode)
			}
		}
	}
}

func TestCrossOriginPosts(t *testing.T) {
	e := newWitEnv(t, Config{})
	ct, body := multipartBody(t, fullTestimony("x")...)
	if st, page := e.post("/submit", ct, body, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"); st != 403 || !strings.Contains(page, "another site") {
		t.Errorf("cross-site post: %d\n%s", st, page)
	}
	if st, _ := e.post("/thread", "application/x-www-form-urlencoded", []byte("codename=x"), "Sec-Fetch-Site", "cross-site"); st != 403 {
		t.Errorf("cross-site login: %d", st)
	}
	if n := len(e.items("")); n != 0 {
		t.Fatalf("a cross-site post stored %d items", n)
	}
	// What a browser sends for our own form under no-referrer.
	if st, _ := e.post("/submit", ct, body, "Sec-Fetch-Site", "same-origin", "Origin", "null"); st != 200 {
		t.Errorf("same-origin post with Origin: null: %d", st)
	}
	// A client that is not a browser sends neither.
	if st, _ := e.post("/submit", ct, body); st != 200 {
		t.Errorf("plain post: %d", st)
	}
}

func TestRecipientProblemsGive503(t *testing.T) {
	classic, _ := crypto.GenerateIdentity(true)
	pq, _ := crypto.GenerateIdentity(false)
	cases := map[string]func(e *witEnv){
		"no keys": func(e *witEnv) {},
		"empty investigator key": func(e *witEnv) {
			e.db.Update(func(tx store.Tx) error {
				return tx.Put(records.BucketInvestigators, []byte("ana"), []byte(`{"recipient":"","disabled":false}`))
			})
		},
		"only disabled investigators": func(e *witEnv) {
			e.db.Update(func(tx store.Tx) error {
				return tx.Put(records.BucketInvestigators, []byte("ana"), []byte(`{"recipient":"`+pq.Recipient+`","disabled":true}`))
			})
		},
		"mixed keys": func(e *witEnv) {
			e.db.Update(func(tx store.Tx) error {
				tx.Put(records.BucketInvestigators, []byte("ana"), []byte(`{"recipient":"`+pq.Recipient+`","disabled":false}`))
				return tx.Put(records.BucketInvestigators, []byte("bob"), []byte(`{"recipient":"`+classic.Recipient+`","disabled":false}`))
			})
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			e := newWitEnv(t, Config{Escrow: []string{}})
			setup(e)
			st, page := e.submit(fullTestimony("x", part{name: "files", filename: "a.txt", body: "file"})...)
			if st != 503 || !strings.Contains(page, "cannot accept accounts right now") || !strings.Contains(page, "Nothing was stored") {
				t.Errorf("submit: %d\n%s", st, page)
			}
			ct, body := multipartBody(t, part{name: "codename", body: "abacus bagful cabana dab eager fable gab"}, part{name: "message", body: "m"})
			if st, _ := e.post("/followup", ct, body); st != 503 {
				t.Errorf("follow-up: %d", st)
			}
			if n := len(e.items("")); n != 0 {
				t.Errorf("%d items stored", n)
			}
			e.db.View(func(tx store.Tx) error {
				return tx.ForEach(records.BucketSources, nil, func(k, v []byte) error {
					t.Errorf("a source was stored: %s", k)
					return nil
				})
			})
			if got := e.spoolFiles(); len(got) != 0 {
				t.Errorf("spool: %v", got)
			}
		})
	}
}

// TestBadInput sends malformed and hostile bodies: each gets a 4xx and a
// readable page, never a 500, and stores nothing.
func TestBadInput(t *testing.T) {
	e := newWitEnv(t, Config{MaxUpload: 1 << 20, MaxFile: 256 << 10})
	valid := fullTestimony("x")
	mp := func(parts ...part) (string, []byte) { return multipartBody(t, parts...) }
	type tc struct {
		name   string
		ctype  string
		body   []byte
		status int
		msg    string
	}
	var cases []tc
	add := func(name string, status int, msg string, parts ...part) {
		ct, b := mp(parts...)
		cases = append(cases, tc{name, ct, b, status, msg})
	}
	add("file over the per-file limit", 413, "One of the files is larger", append(valid, part{name: "files", filename: "big.bin", body: strings.Repeat("x", 300<<10)})...)
	add("files over the total", 413, "larger than this site accepts", append(valid,
		part{name: "files", filename: "a.bin", body: strings.Repeat("x", 250<<10)},
		part{name: "files", filename: "b.bin", body: strings.Repeat("x", 250<<10)},
		part{name: "files", filename: "c.bin", body: strings.Repeat("x", 250<<10)},
		part{name: "files", filename: "d.bin", body: strings.Repeat("x", 250<<10)},
		part{name: "files", filename: "e.bin", body: strings.Repeat("x", 250<<10)})...)
	add("oversize body", 413, "larger than this site accepts", append(valid, part{name: "account", body: strings.Repeat("y", 60<<10)},
		part{name: "files", filename: "a.bin", body: strings.Repeat("x", 2<<20)})...)
	var many []part
	for range 250 {
		many = append(many, part{name: "conditions", body: "overcrowding"})
	}
	add("too many parts", 413, "too many parts", many...)
	add("a field over 64 KiB", 413, "longer than this site accepts", part{name: "account", body: strings.Repeat("z", 65<<10)})
	add("part without a name", 400, "could not be read", part{rawHeader: `form-data; filename="x.txt"`, body: "x"})
	add("file name of 10 KB", 400, "file name is too long", append(valid, part{name: "files", filename: strings.Repeat("n", 10<<10) + ".jpg", body: "x"})...)
	add("field name with ../", 400, "does not know", part{name: "../../etc/passwd", body: "x"})
	add("field name with NUL", 400, "could not be read", part{name: "acc\x00ount", body: "x"})
	add("field name with U+202E", 400, "does not know", part{name: "account\u202e", body: "x"})
	add("invalid UTF-8 in an answer", 400, "not valid UTF-8", part{name: "account", body: "caf\xe9"})
	add("NUL in an answer", 400, "not valid UTF-8", part{name: "account", body: "a\x00b"})
	add("invalid UTF-8 field name", 400, "not valid UTF-8", part{name: "acc\xffount", body: "x"})
	add("NUL in a file name", 400, "could not be read", append(valid, part{name: "files", filename: "a\x00b.txt", body: "x"})...)
	add("escape character in a file name", 400, "could not be read", append(valid, part{name: "files", filename: "\x1b[31mred.txt", body: "x"})...)
	add("unknown field", 400, "does not know", append(valid, part{name: "favourite_colour", body: "blue"})...)
	add("file in a text field", 400, "could not be read", part{name: "account", filename: "a.txt", body: "x"})
	add("text in the language field, twice is fine", 200, "", append(valid, part{name: "lang", body: "xx"})...)
	ct, b := mp(valid...)
	cases = append(cases,
		tc{"missing boundary", "multipart/form-data", b, 400, "could not be read"},
		tc{"wrong boundary", "multipart/form-data; boundary=nope", b, 400, "could not be read"},
		tc{"not multipart", "application/x-www-form-urlencoded", []byte("account=hello"), 400, "could not be read"},
		tc{"no content type", "", b, 400, "could not be read"},
		tc{"truncated body", ct, b[:len(b)-40], 400, "could not be read"},
		tc{"garbage", ct, []byte("\x00\x01\x02 not a multipart body at all"), 400, "could not be read"},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(e.items(""))
			st, page := e.post("/submit", c.ctype, c.body)
			if st != c.status {
				t.Fatalf("status %d, want %d\n%.600s", st, c.status, page)
			}
			if c.status >= 400 {
				if !strings.Contains(page, "<!doctype html>") || !strings.Contains(page, c.msg) {
					t.Errorf("page lacks %q:\n%.2000s", c.msg, page)
				}
				if got := len(e.items("")); got != before {
					t.Errorf("an item was stored")
				}
			}
			if got := e.spoolFiles(); len(got) != 0 {
				t.Errorf("spool: %v", got)
			}
		})
	}
	if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
		t.Errorf("bad input was logged as a server error:\n%s", e.logs.String())
	}
}

// TestHostileFileNamesMadeSafe sends names a witness's device could
// produce or an attacker could forge: they are kept recognisable in the
// manifest and safe as tar paths.
func TestHostileFileNamesMadeSafe(t *testing.T) {
	e := newWitEnv(t, Config{})
	names := []string{"../../etc/passwd", "..\\..\\boot.ini", "evil\u202Egpj.exe", ".hidden", "-rf", "фото 1.jpg"}
	var parts []part
	for i, n := range names {
		parts = append(parts, part{name: "files", filename: n, body: strings.Repeat("f", i+1)})
	}
	st, page := e.submit(append(fullTestimony("x"), parts...)...)
	if st != 200 {
		t.Fatalf("status %d\n%s", st, page)
	}
	m, files := e.open(e.items("")[0])
	if len(m.Attachments) != len(names) || len(files) != len(names) {
		t.Fatalf("%d attachments", len(m.Attachments))
	}
	for i, a := range m.Attachments {
		p := crypto.AttachmentPath(i, a.Name)
		if strings.ContainsAny(a.Name, "\x1b\u202e") || strings.Contains(p[len("attachments/"):], "/") || strings.Contains(p, "..") || strings.ContainsAny(p, "\\\x00\u202e") {
			t.Errorf("name %q → manifest %q, path %q", names[i], a.Name, p)
		}
		if !bytes.Equal(files[i], []byte(strings.Repeat("f", i+1))) {
			t.Errorf("attachment %d differs", i)
		}
	}
	if m.Attachments[len(names)-1].Name != "фото 1.jpg" {
		t.Errorf("a plain name was changed: %q", m.Attachments[len(names)-1].Name)
	}
}
