//go:build e2e

package main

// Attacks on the HTTP surface of both sites of the real binary: cross-site
// posts, odd methods, security headers, what witness pages may contain,
// investigator routes on the witness listener, the right and wrong
// codename, and what error pages may say.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	mrand "math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"testimony/crypto"
	"testimony/server/web"
	"testimony/store"
)

// secCrossSite are the ways a cross-site form post shows itself to the
// server: the Fetch metadata of a modern browser, and an Origin of another
// host (older browsers, or none of the Sec-Fetch headers).
var secCrossSite = []struct {
	name string
	hdr  []string
}{
	{"Sec-Fetch-Site: cross-site", []string{"Sec-Fetch-Site", "cross-site"}},
	{"Sec-Fetch-Site: same-site", []string{"Sec-Fetch-Site", "same-site"}},
	{"foreign Origin", []string{"Origin", "http://attacker.example"}},
	{"foreign onion Origin", []string{"Origin", "http://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.onion"}},
}

// secMessage is the English text of a witness message key.
func secMessage(t *testing.T, key string) string {
	t.Helper()
	b, err := os.ReadFile("../../server/web/locales/witness.en.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil || m[key] == "" {
		t.Fatalf("witness.en.json: %v, no %s", err, key)
	}
	return m[key]
}

// secHrefRE matches link targets, which a page may derive from its own
// path (the language menu links to the same page in another language).
var secHrefRE = regexp.MustCompile(`href="[^"]*"`)

// TestSecurityCrossSitePostsRefused: every state-changing route of both
// sites (from their route tables) refuses a cross-site post with 403
// and the cross-origin page — the same page, but for links, as a
// cross-site post to a path that does not exist, so the refusal comes
// before any handler — even with a live session; the same post from our
// own page is not refused that way; and the session survives the
// cross-site logout.
func TestSecurityCrossSitePostsRefused(t *testing.T) {
	d, _, accs := secServeWith(t, []string{"csrf"})
	a := accs["csrf"]
	step := secStepStart(t, 3*time.Second)
	tok := secMustLogin(t, d.inv, a, secTOTP(t, a.Secret, step.Add(time.Second)), "")
	form := []byte(url.Values{"account": {a.Name}, "passphrase": {a.Passphrase}, "message": {"x"}, "codename": {"x"}}.Encode())
	const ct = "application/x-www-form-urlencoded"
	refusal := secMessage(t, "error.crossorigin")
	refused := func(r secResp) bool {
		return r.status == http.StatusForbidden && strings.Contains(html.UnescapeString(string(r.body)), refusal)
	}
	norm := func(b []byte) []byte { return secHrefRE.ReplaceAll(b, nil) }
	n := 0
	for _, r := range secRoutes(t) {
		if r.method != "POST" {
			continue
		}
		base := secBase(d, r.site)
		for _, cs := range secCrossSite {
			ref := secDo(t, secRequest(t, "POST", base+"/no/such/page", ct, form, tok, cs.hdr...))
			if !refused(ref) {
				t.Fatalf("%s: a cross-site post to a missing page: %d\n%s", cs.name, ref.status, ref.body)
			}
			res := secDo(t, secRequest(t, "POST", base+r.path(), ct, form, tok, cs.hdr...))
			if !refused(res) || !bytes.Equal(norm(res.body), norm(ref.body)) {
				t.Errorf("%s %s with %s: %d, want 403 and the cross-origin page\n%.300s", r.site, r.pattern, cs.name, res.status, res.body)
			}
			n++
		}
		// Control: from our own page, without a session, the route is
		// reached (whatever it answers, it is not the cross-origin page).
		own := secDo(t, secRequest(t, "POST", base+r.path(), ct, form, "", "Sec-Fetch-Site", "same-origin"))
		if refused(own) {
			t.Errorf("%s %s from our own page gets the cross-origin refusal: the test proves nothing", r.site, r.pattern)
		}
	}
	if !secAlive(t, d.inv, tok) {
		t.Error("the session ended: a cross-site post reached /logout")
	}
	t.Logf("%d cross-site posts refused", n)
	secLogsHoldNone(t, d, a.Passphrase, tok)
}

// secRaw sends one request over a new connection, written by hand so that
// any method and request target go out as they are, and reads the answer.
func secRaw(t *testing.T, base, method, target string) secResp {
	t.Helper()
	u, _ := url.Parse(base)
	c, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", method, target, u.Host)
	req, _ := http.NewRequest(method, base+"/", nil)
	res, err := http.ReadResponse(bufio.NewReader(c), req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	var body bytes.Buffer
	body.ReadFrom(res.Body)
	res.Body.Close()
	r := secResp{status: res.StatusCode, header: res.Header, body: body.Bytes()}
	secCheckHeaders(t, method+" "+base+target, r.status, r.header)
	if r.status >= 400 {
		secErrorBodies.Lock()
		if secErrorBodies.m == nil {
			secErrorBodies.m = map[string][]byte{}
		}
		secErrorBodies.m[fmt.Sprintf("%s %s%s %d", method, base, target, r.status)] = r.body
		secErrorBodies.Unlock()
	}
	return r
}

// TestSecurityMethodsRefused: every route of both sites, and a path that
// does not exist, answer PUT, DELETE, PATCH, OPTIONS, TRACE, CONNECT and a
// made-up method with 405, an Allow header of GET, HEAD, POST, and never
// echo the request (TRACE); GET and HEAD still work on the GET routes.
func TestSecurityMethodsRefused(t *testing.T) {
	d, _, _ := secServeWith(t, []string{"methods"})
	methods := []string{"PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "PROPFIND", "FROBNICATE"}
	routes := append(secRoutes(t), secRoute{site: "witness", method: "GET", pattern: "/no/such/page"}, secRoute{site: "investigator", method: "GET", pattern: "/no/such/page"})
	for _, r := range routes {
		base := secBase(d, r.site)
		for _, m := range methods {
			res := secRaw(t, base, m, r.path())
			if res.status != http.StatusMethodNotAllowed || res.header.Get("Allow") != "GET, HEAD, POST" {
				t.Errorf("%s %s %s: %d Allow %q, want 405 and GET, HEAD, POST", r.site, m, r.pattern, res.status, res.header.Get("Allow"))
			}
			if bytes.Contains(res.body, []byte("Connection: close")) || bytes.Contains(res.body, []byte("Host: ")) {
				t.Errorf("%s %s %s echoes the request", r.site, m, r.pattern)
			}
		}
		// The authority form of CONNECT, as a proxy client sends it.
		if res := secRaw(t, base, "CONNECT", strings.TrimPrefix(base, "http://")); res.status != http.StatusMethodNotAllowed && res.status != http.StatusBadRequest {
			t.Errorf("%s CONNECT authority-form: %d", r.site, res.status)
		}
	}
	// Control: the allowed methods get through on public GET routes.
	for _, p := range []string{"/", "/form", "/codename", "/static/witness.css"} {
		for _, m := range []string{"GET", "HEAD"} {
			if res := secRaw(t, d.witness, m, p); res.status != http.StatusOK {
				t.Errorf("%s %s on the witness site: %d", m, p, res.status)
			}
		}
	}
}

// TestSecurityHeadersOnEveryResponse: the header rules (secCheckHeaders)
// hold on 2xx pages, static files, 3xx redirects, 4xx errors of both sites
// and a 5xx (a server with no investigator refuses testimonies with 503).
// Every other test of the suite checks them on its own responses too.
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	d, _, accs := secServeWith(t, []string{"headers"})
	a := accs["headers"]
	seen := map[int]bool{}
	see := func(r secResp) { seen[r.status/100] = true }
	for _, p := range []string{"/", "/?lang=ru", "/form", "/codename", "/static/witness.css", "/nope", "/static/nope.css"} {
		see(secGet(t, d.witness+p, ""))
	}
	for _, p := range []string{"/login", "/static/investigator.css", "/", "/audit", "/nope"} {
		see(secGet(t, d.inv+p, ""))
	}
	see(secDo(t, secRequest(t, "HEAD", d.witness+"/form", "", nil, "")))
	ct, body := witnessForm("header-probe")
	see(secDo(t, secRequest(t, "POST", d.witness+"/submit", ct, body, "")))
	see(secDo(t, secRequest(t, "POST", d.witness+"/submit", "text/plain", []byte("x"), "")))
	see(secDo(t, secRequest(t, "POST", d.witness+"/thread", "application/x-www-form-urlencoded", []byte("codename=a+b"), "")))
	see(secDo(t, secRequest(t, "POST", d.witness+"/submit", ct, body, "", "Sec-Fetch-Site", "cross-site")))
	see(secRaw(t, d.witness, "DELETE", "/"))
	step := secStepStart(t, 3*time.Second)
	r, _ := secLogin(t, d.inv, a.Name, a.Passphrase, "000000", "")
	see(r)
	r, tok := secLogin(t, d.inv, a.Name, a.Passphrase, secTOTP(t, a.Secret, step.Add(time.Second)), "")
	see(r)
	for _, p := range []string{"/passphrase", "/", "/account"} {
		see(secGet(t, d.inv+p, tok))
	}
	see(secPostForm(t, d.inv+"/bundle", nil, tok))

	// A 5xx: a site with nobody to encrypt to refuses testimonies.
	empty := startServe(t, newDataDir(t), nil)
	r = secDo(t, secRequest(t, "POST", empty.witness+"/submit", ct, body, ""))
	if r.status != http.StatusServiceUnavailable {
		t.Errorf("a submission with no investigator: %d, want 503", r.status)
	}
	see(r)
	for _, c := range []int{2, 3, 4, 5} {
		if !seen[c] {
			t.Errorf("no %dxx response was checked", c)
		}
	}
	secLogsHoldNone(t, d, a.Passphrase, tok)
}

// secPageRules are what no witness page and no style sheet may hold:
// scripts, inline event handlers, SVG, frames and plugins, web fonts, and
// the javascript: scheme.
var secPageRules = []struct {
	what string
	re   *regexp.Regexp
}{
	{"a script", regexp.MustCompile(`(?i)<\s*script`)},
	{"SVG", regexp.MustCompile(`(?i)<\s*svg|image/svg|\.svg\b`)},
	{"a frame or plugin", regexp.MustCompile(`(?i)<\s*(iframe|frame|object|embed|applet)\b`)},
	{"a web font", regexp.MustCompile(`(?i)@font-face|\.(woff2?|ttf|otf|eot)\b|fonts\.googleapis`)},
	{"a javascript: URL", regexp.MustCompile(`(?i)javascript\s*:`)},
	{"a base element", regexp.MustCompile(`(?i)<\s*base\b`)},
	{"a CSS import", regexp.MustCompile(`(?i)@import`)},
	{"a meta refresh", regexp.MustCompile(`(?i)http-equiv\s*=\s*["']?refresh`)},
}

var (
	secTagRE  = regexp.MustCompile(`(?s)<([a-zA-Z][a-zA-Z0-9-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>`)
	secAttrRE = regexp.MustCompile(`([^\s"'=/<>]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+))?`)
	secCSSURL = regexp.MustCompile(`(?i)url\(\s*["']?([^"')]*)`)
	// URL-valued attributes.
	secURLAttrs = []string{"href", "src", "action", "formaction", "srcset", "poster", "background", "cite", "data", "ping", "manifest", "icon", "longdesc", "lowsrc", "dynsrc", "xlink:href"}
)

// secForeign reports whether a URL found on a page of base points to
// another origin (or to a scheme other than plain same-origin HTTP).
func secForeign(base, ref string) bool {
	ref = strings.TrimSpace(ref)
	if ref == "" || strings.HasPrefix(ref, "#") {
		return false
	}
	b, _ := url.Parse(base)
	u, err := url.Parse(ref)
	if err != nil {
		return true
	}
	u = b.ResolveReference(u)
	return u.Scheme != b.Scheme || u.Host != b.Host
}

// secInspectPage applies the page rules to an HTML page, reports each
// problem as an error, and returns the same-origin links to follow.
func secInspectPage(t *testing.T, base, where string, page []byte) (follow []string) {
	t.Helper()
	problems, follow := secPageProblems(base, page)
	for _, p := range problems {
		t.Errorf("%s: %s", where, p)
	}
	return follow
}

// secPageProblems lists what breaks the page rules in an HTML page, and
// its same-origin links to follow (a href, link href, GET form actions).
func secPageProblems(base string, page []byte) (problems, follow []string) {
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, r := range secPageRules {
		if m := r.re.Find(page); m != nil {
			bad("holds %s: %q", r.what, m)
		}
	}
	for _, tag := range secTagRE.FindAllSubmatch(page, -1) {
		name := strings.ToLower(string(tag[1]))
		attrs := map[string]string{}
		for _, at := range secAttrRE.FindAllSubmatch(tag[2], -1) {
			k := strings.ToLower(string(at[1]))
			v := strings.Trim(string(at[2]), `"'`)
			attrs[k] = v
			if strings.HasPrefix(k, "on") {
				bad("inline event handler %s= on <%s>", k, name)
			}
			if k == "style" {
				for _, u := range secCSSURL.FindAllStringSubmatch(v, -1) {
					bad("url(%s) in a style attribute", u[1])
				}
			}
			if slices.Contains(secURLAttrs, k) {
				for _, ref := range strings.Split(v, ",") { // srcset lists
					ref = strings.Fields(ref + " x")[0]
					if secForeign(base, ref) {
						bad("<%s %s=%q> points to another origin", name, k, v)
					}
				}
			}
		}
		switch {
		case name == "a" || name == "link":
			if h, ok := attrs["href"]; ok && !secForeign(base, h) {
				follow = append(follow, h)
			}
		case name == "form":
			if m := strings.ToLower(attrs["method"]); m == "" || m == "get" {
				follow = append(follow, attrs["action"])
			}
		case name == "style":
			bad("an inline <style> element")
		}
	}
	return problems, follow
}

// TestSecurityPageRulesCatch: the page checker of the crawl finds each kind
// of forbidden content in a page made to hold it, and nothing in a clean
// one, so a clean crawl means something.
func TestSecurityPageRulesCatch(t *testing.T) {
	const base = "http://127.0.0.1:8080"
	clean := `<!doctype html><html lang="en"><head><link rel="stylesheet" href="/static/witness.css"></head>
<body><a href="/form?lang=en">Form</a><form method="post" action="/submit"><input name="a" value="online"></form>
<form action="/codename"><button type="submit">Go</button></form><p>Write to us at our onion address.</p></body></html>`
	problems, follow := secPageProblems(base, []byte(clean))
	if len(problems) > 0 || !slices.Equal(follow, []string{"/static/witness.css", "/form?lang=en", "/codename"}) {
		t.Errorf("clean page: problems %q, links %q", problems, follow)
	}
	for _, bad := range []string{
		`<script>alert(1)</script>`,
		`<SCRIPT src="/x.js"></SCRIPT>`,
		`<img src="/a.png" onerror="alert(1)">`,
		`<body onload=alert(1)>`,
		`<svg><circle r="1"/></svg>`,
		`<img src="/logo.svg">`,
		`<style>@font-face{font-family:x;src:url(/x.woff2)}</style>`,
		`<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">`,
		`<a href="https://evil.example/">x</a>`,
		`<a href="//evil.example/">x</a>`,
		`<img srcset="/a.png 1x, http://evil.example/b.png 2x">`,
		`<form action="http://127.0.0.1:9999/submit"></form>`,
		`<button formaction="http://evil.example/">x</button>`,
		`<div style="background:url(/bg.png)">x</div>`,
		`<a href="javascript:alert(1)">x</a>`,
		`<iframe src="/"></iframe>`,
		`<img src="data:image/png;base64,AAAA">`,
		`<meta http-equiv="refresh" content="0;url=http://evil.example/">`,
		`<base href="/">`,
	} {
		if p, _ := secPageProblems(base, []byte("<html><body>"+bad+"</body></html>")); len(p) == 0 {
			t.Errorf("not caught: %s", bad)
		}
	}
}

// secInspectCSS applies the rules to a style sheet.
func secInspectCSS(t *testing.T, base, where string, css []byte) {
	t.Helper()
	for _, r := range secPageRules {
		if m := r.re.Find(css); m != nil {
			t.Errorf("%s holds %s: %q", where, r.what, m)
		}
	}
	for _, u := range secCSSURL.FindAllSubmatch(css, -1) {
		if secForeign(base, string(u[1])) {
			t.Errorf("%s: url(%s) points to another origin", where, u[1])
		}
	}
}

// secWitnessLangs are the languages the witness site offers: of those
// with a message catalog, the ones whose landing page comes in them.
func secWitnessLangs(t *testing.T, base string) []string {
	t.Helper()
	files, _ := filepath.Glob("../../server/web/locales/witness.*.json")
	var langs []string
	for _, f := range files {
		l := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "witness."), ".json")
		if r := secGet(t, base+"/?lang="+l, ""); bytes.Contains(r.body, []byte(`<html lang="`+l+`"`)) {
			langs = append(langs, l)
		} else {
			t.Logf("language %s has a catalog but is not offered", l)
		}
	}
	if len(langs) < 2 {
		t.Fatalf("witness languages offered: %v", langs)
	}
	return langs
}

// TestSecurityWitnessPagesClean: crawling the witness site from its landing
// page in every offered language, following every same-origin link and GET
// form, and adding the pages only a POST reaches (the receipt, a
// validation error, the thread of a right and of a wrong codename, a
// follow-up's answer, error pages), no page holds a script, an inline
// handler, SVG, a web font, a frame or a URL of another origin; nor does
// any style sheet; and each page is in the language asked for.
func TestSecurityWitnessPagesClean(t *testing.T) {
	d, _, _ := secServeWith(t, []string{"crawl"})
	langs := secWitnessLangs(t, d.witness)
	// inspected are the routes ("GET /form") whose pages were checked; at
	// the end every route of the witness table must be among them.
	inspected := map[string]bool{}
	seen := map[string]bool{}
	queue := []string{"/"}
	for _, l := range langs {
		queue = append(queue, "/?lang="+l)
	}
	pages := 0
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		u, _ := url.Parse(d.witness)
		u = u.ResolveReference(&url.URL{Path: strings.SplitN(p, "?", 2)[0], RawQuery: strings.Join(strings.SplitN(p, "?", 2)[1:], "")})
		key := u.RequestURI()
		if seen[key] {
			continue
		}
		seen[key] = true
		r := secGet(t, u.String(), "")
		if r.status != http.StatusOK {
			t.Errorf("GET %s (linked from a page): %d", key, r.status)
			continue
		}
		pages++
		inspected["GET "+u.Path] = true
		if strings.HasPrefix(r.header.Get("Content-Type"), "text/css") {
			secInspectCSS(t, d.witness, key, r.body)
			continue
		}
		if lang := u.Query().Get("lang"); lang != "" && !bytes.Contains(r.body, []byte(`<html lang="`+lang+`"`)) {
			t.Errorf("%s is not in %s", key, lang)
		}
		queue = append(queue, secInspectPage(t, d.witness, key, r.body)...)
	}
	if pages < 3*len(langs)+1 { // landing, form, codename page in each, and the style sheet
		t.Errorf("the crawl reached only %d pages: %v", pages, seen)
	}

	// Pages that only a POST reaches, in every language.
	for _, l := range langs {
		ct, body := witnessForm("crawl-" + l)
		body = bytes.Replace(body, []byte("\r\n\r\nen\r\n"), []byte("\r\n\r\n"+l+"\r\n"), 1)
		r := secDo(t, secRequest(t, "POST", d.witness+"/submit", ct, body, ""))
		if r.status != http.StatusOK {
			t.Fatalf("submission in %s: %d\n%s", l, r.status, r.body)
		}
		secInspectPage(t, d.witness, "receipt ("+l+")", r.body)
		inspected["POST /submit"] = true
		words := regexp.MustCompile(`<span>([a-z]+)</span>`).FindAllSubmatch(r.body, -1)
		var cn []string
		for _, w := range words {
			cn = append(cn, string(w[1]))
		}
		codename := strings.Join(cn, " ")
		if _, err := crypto.CheckCodename(codename); err != nil {
			t.Fatalf("the receipt's codename %q: %v", codename, err)
		}
		wrongCN, _ := crypto.NewCodename()
		for what, c := range map[string]string{"right": codename, "wrong": wrongCN, "malformed": "not a codename"} {
			r := secPostForm(t, d.witness+"/thread", url.Values{"codename": {c}, "lang": {l}}, "")
			secInspectPage(t, d.witness, what+" codename's page ("+l+")", r.body)
		}
		inspected["POST /thread"] = true
		var fb bytes.Buffer
		mw := multipart.NewWriter(&fb)
		mw.WriteField("lang", l)
		mw.WriteField("codename", codename)
		mw.WriteField("message", "a follow-up")
		mw.Close()
		r = secDo(t, secRequest(t, "POST", d.witness+"/followup", mw.FormDataContentType(), fb.Bytes(), ""))
		secInspectPage(t, d.witness, "follow-up answer ("+l+")", r.body)
		inspected["POST /followup"] = true
		r = secPostForm(t, d.witness+"/withdraw", url.Values{"codename": {codename}, "lang": {l}, "request": {"withdraw"}}, "")
		if r.status != http.StatusOK {
			t.Errorf("a withdrawal in %s: %d", l, r.status)
		}
		secInspectPage(t, d.witness, "withdrawal answer ("+l+")", r.body)
		inspected["POST /withdraw"] = true
		bad := bytes.Replace(body, []byte("My brother"), []byte{}, 1)
		bad = regexp.MustCompile(`name="role"\r\n\r\nrelative`).ReplaceAll(bad, []byte("name=\"role\"\r\n\r\nnonsense"))
		r = secDo(t, secRequest(t, "POST", d.witness+"/submit", ct, bad, ""))
		if r.status != http.StatusUnprocessableEntity {
			t.Errorf("an invalid answer: %d, want 422", r.status)
		}
		secInspectPage(t, d.witness, "form with errors ("+l+")", r.body)
		for _, p := range []string{"/nope?lang=" + l, "/login?lang=" + l} {
			secInspectPage(t, d.witness, p, secGet(t, d.witness+p, "").body)
		}
		secInspectPage(t, d.witness, "cross-site refusal", secDo(t, secRequest(t, "POST", d.witness+"/thread?lang="+l, "", nil, "", "Sec-Fetch-Site", "cross-site")).body)
		secLogsHoldNone(t, d, codename, "crawl-"+l)
	}
	// Every route of the witness table had its pages checked: a route
	// added to the table that this crawl does not reach fails here.
	for _, r := range secRoutes(t) {
		if r.site == "witness" && !inspected[r.method+" "+r.pattern] {
			t.Errorf("witness route %s %s: none of its pages was inspected; make the crawl reach it", r.method, r.pattern)
		}
	}
}

// TestSecurityInvestigatorRoutesNeedSession: every route of the
// investigator table that needs a session (web.Session, web.Ready), asked
// without one, sends a GET to the login page and refuses a POST from our
// own page with 401, and never shows the route's page; the public pages
// open without one. A route added to the table is checked with it.
func TestSecurityInvestigatorRoutesNeedSession(t *testing.T) {
	d, _, _ := secServeWith(t, []string{"nosession"})
	n := 0
	for _, r := range secRoutes(t) {
		if r.site != "investigator" {
			continue
		}
		var res secResp
		if r.method == "GET" {
			res = secGet(t, d.inv+r.path(), "")
		} else {
			res = secDo(t, secRequest(t, "POST", d.inv+r.path(), "application/x-www-form-urlencoded", []byte("confirm=yes&message=x"), "", "Sec-Fetch-Site", "same-origin"))
		}
		if r.access == web.Public {
			// A public page opens without a session (a login post
			// without credentials fails as a login does: not checked).
			if r.method == "GET" && res.status != http.StatusOK {
				t.Errorf("public route GET %s without a session: %d %q, want 200", r.pattern, res.status, res.location())
			}
			continue
		}
		n++
		switch {
		case r.method == "GET" && (res.status != http.StatusSeeOther || res.location() != "/login"):
			t.Errorf("GET %s without a session: %d %q, want 303 to /login", r.pattern, res.status, res.location())
		case r.method == "POST" && res.status != http.StatusUnauthorized:
			t.Errorf("POST %s without a session: %d, want 401", r.pattern, res.status)
		}
	}
	if n < 10 {
		t.Fatalf("only %d routes need a session: the table was not read", n)
	}
}

// TestSecurityInvestigatorRoutesAbsentFromWitness: every investigator path
// that the witness site does not route itself, asked with GET, HEAD and
// POST on the witness listener, gets the very same answer as a random path:
// 404, same headers, same bytes.
func TestSecurityInvestigatorRoutesAbsentFromWitness(t *testing.T) {
	d, _, _ := secServeWith(t, []string{"absent"})
	witness := map[string]bool{}
	var inv []string
	for _, r := range secRoutes(t) {
		if r.site == "witness" {
			witness[r.path()] = true
		} else {
			inv = append(inv, r.path())
		}
	}
	inv = append(inv, "/items/0123456789abcdef0123456789abcdef/download", "/login?next=/", "/static/investigator.css")
	n := 0
	for _, m := range []string{"GET", "HEAD", "POST"} {
		ref := secDo(t, secRequest(t, m, d.witness+"/"+strings.ToLower(secRandomToken()[:12]), "application/x-www-form-urlencoded", []byte{}, ""))
		if ref.status != http.StatusNotFound {
			t.Fatalf("%s of a random path: %d", m, ref.status)
		}
		for _, p := range inv {
			if witness[strings.SplitN(p, "?", 2)[0]] {
				continue
			}
			r := secDo(t, secRequest(t, m, d.witness+p, "application/x-www-form-urlencoded", []byte{}, ""))
			if r.status != ref.status || !bytes.Equal(r.body, ref.body) {
				t.Errorf("%s %s on the witness listener: %d, not the random path's 404\n%.300s", m, p, r.status, r.body)
			}
			secSameHeaders(t, m+" "+p, r.header, ref.header)
			n++
		}
	}
	// Control: the same paths exist on the investigator listener.
	if r := secGet(t, d.inv+"/login", ""); r.status != http.StatusOK {
		t.Errorf("GET /login on the investigator listener: %d", r.status)
	}
	t.Logf("%d investigator requests on the witness listener, all the random path's 404", n)
}

// secCodenameOf submits a testimony and returns the receipt's codename.
func secCodenameOf(t *testing.T, d *daemon) string {
	t.Helper()
	ct, body := witnessForm("codename-probe")
	r := secDo(t, secRequest(t, "POST", d.witness+"/submit", ct, body, ""))
	if r.status != http.StatusOK {
		t.Fatalf("submission: %d", r.status)
	}
	var words []string
	for _, w := range regexp.MustCompile(`<span>([a-z]+)</span>`).FindAllSubmatch(r.body, -1) {
		words = append(words, string(w[1]))
	}
	c := strings.Join(words, " ")
	if _, err := crypto.CheckCodename(c); err != nil {
		t.Fatalf("the receipt's codename %q: %v", c, err)
	}
	return c
}

// secPlantReplies writes n investigator replies to the source of codename
// into the database (no server may run): each an age envelope to the
// source's reply key, as the investigator site makes them.
func secPlantReplies(t *testing.T, dataDir, codename string, n int) {
	t.Helper()
	key, err := crypto.LoadServerKey(filepath.Join(dataDir, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	rid, err := crypto.ReplyIdentity(key, codename)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := crypto.NewRecipients("reply", rid.Recipient().String())
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(dataDir, dbFile), store.Options{LockTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	day := time.Now().UTC().Format(time.DateOnly)
	for i := range n {
		m := &crypto.Manifest{Kind: crypto.KindReply, Day: day, Lang: "en", Form: crypto.FormRef{ID: "reply", Version: 1},
			Answers: map[string]crypto.Answer{"message": crypto.TextAnswer(fmt.Sprintf("planted reply %d: thank you, we read your account", i))}}
		w := db.NewItem()
		env, err := crypto.NewEnvelope(w, rs, m)
		if err != nil {
			t.Fatal(err)
		}
		if err := env.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Commit(store.Item{Kind: crypto.KindReply, Day: day, Source: crypto.Pseudonym(key, codename), Recipients: rs.Fingerprint()}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSecurityCodenameLookAlike: a right codename without replies and a
// wrong (well-formed) one get the same status, headers and page, but for
// the codename itself, which the follow-up form carries back; and a right
// codename with 5 replies to decrypt, a right one without, and wrong ones
// take the same time: 20 of each, interleaved in random order, medians
// within 20% of each other (secTimingMargin).
func TestSecurityCodenameLookAlike(t *testing.T) {
	d, dir, _ := secServeWith(t, []string{"codename"})
	plain, busy := secCodenameOf(t, d), secCodenameOf(t, d)
	d.stop(t)
	secPlantReplies(t, dir, busy, 5)
	d = startServe(t, dir, nil)
	var wrongs []string
	for range 21 {
		w, _ := crypto.NewCodename()
		wrongs = append(wrongs, w)
	}
	ask := func(c string) secResp {
		return secPostForm(t, d.witness+"/thread", url.Values{"codename": {c}, "lang": {"en"}}, "")
	}
	norm := func(r secResp, c string) []byte { return bytes.ReplaceAll(r.body, []byte(c), []byte("CODENAME")) }
	if r := ask(busy); r.status != http.StatusOK || bytes.Count(r.body, []byte("planted reply")) != 5 {
		t.Fatalf("the codename with replies: %d, its replies are not on its page: the test would prove nothing\n%s", r.status, r.body)
	}
	ask(plain)
	ref := ask(wrongs[20])
	took := map[string][]time.Duration{}
	for i := range 20 {
		order := [][2]string{{"right, no reply", plain}, {"right, 5 replies", busy}, {"wrong", wrongs[i]}}
		mrand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, p := range order {
			r := ask(p[1])
			if r.status != ref.status {
				t.Errorf("%s codename: %d, a wrong one %d", p[0], r.status, ref.status)
			}
			if p[1] != busy && !bytes.Equal(norm(r, p[1]), norm(ref, wrongs[20])) {
				t.Errorf("%s codename: its page differs from a wrong one's\n%s", p[0], norm(r, p[1]))
			}
			secSameHeaders(t, p[0]+" codename", r.header, ref.header)
			took[p[0]] = append(took[p[0]], r.took)
		}
	}
	secSameTiming(t, took)
	// A codename with a mistyped word — the right one's, the busy one's, a
	// wrong one's — gets the "check the words" page: byte for byte the same
	// for each, headers alike, and it does not echo the words.
	var check secResp
	for i, c := range []string{plain, busy, wrongs[0], wrongs[1]} {
		w := strings.Fields(c)
		w[i+1] = map[bool]string{true: "zoom", false: "abacus"}[w[i+1] == "abacus"]
		typo := strings.Join(w, " ")
		r := ask(typo)
		if r.status != http.StatusOK || !bytes.Contains(r.body, []byte("These words do not make a codename")) || bytes.Contains(r.body, []byte(typo)) {
			t.Fatalf("%q: %d, not the check page\n%s", typo, r.status, r.body)
		}
		if i == 0 {
			check = r
			continue
		}
		if !bytes.Equal(r.body, check.body) {
			t.Errorf("the check pages of two mistyped codenames differ:\n%s\n----\n%s", check.body, r.body)
		}
		secSameHeaders(t, "a mistyped codename", r.header, check.header)
	}
	secLogsHoldNone(t, d, plain, busy)
}

// secLeaks are what an error page must never show.
var secLeaks = []string{"goroutine", ".go:", "/work", "/root", "/home/", "/tmp/", "testimony/", "runtime.", "panic", "go1.", "bbolt", "net/http", "GOROOT", "[running]", "debug.Stack"}

// TestSecurityErrorPagesLeakNothing: error answers of many kinds — bad
// and truncated multipart, text not UTF-8, unknown fields, a file name too
// long, oversize bodies, a form too large, bad login forms, malformed
// requests net/http answers itself, and every error any earlier test of the
// suite met — show no stack trace, no Go version, no file or module path.
func TestSecurityErrorPagesLeakNothing(t *testing.T) {
	d, dir, _ := secServeWith(t, []string{"errors"})
	ct, body := witnessForm("error-probe")
	bnd := strings.TrimPrefix(ct, "multipart/form-data; boundary=")
	reqs := []struct {
		name, path, ct string
		body           []byte
	}{
		{"truncated multipart", "/submit", ct, body[:len(body)/2]},
		{"no boundary", "/submit", "multipart/form-data", body},
		{"not multipart", "/submit", "application/json", []byte(`{"a":1}`)},
		{"bad UTF-8", "/submit", ct, bytes.Replace(body, []byte("My brother"), []byte("My \xff\xfe brother"), 1)},
		{"unknown field", "/submit", ct, bytes.Replace(body, []byte(`name="account"`), []byte(`name="../../etc/passwd"`), 1)},
		{"file part in a text field", "/submit", ct, bytes.Replace(body, []byte(`name="account"`), []byte(`name="account"; filename="x"`), 1)},
		{"file name too long", "/submit", ct, bytes.Replace(body, []byte(`name="account"`), []byte(`name="files"; filename="`+strings.Repeat("n", 5000)+`"`), 1)},
		{"part without a name", "/submit", ct, bytes.Replace(body, []byte(`form-data; name="account"`), []byte(`form-data`), 1)},
		{"text too long", "/submit", ct, bytes.Replace(body, []byte("My brother"), bytes.Repeat([]byte("x"), 2<<20), 1)},
		{"header without end", "/submit", ct, []byte("--" + bnd + "\r\nContent-Disposition: form-data; name=\"lang\"\r\n")},
		{"thread form too large", "/thread", "application/x-www-form-urlencoded", bytes.Repeat([]byte("codename=a&"), 4000)},
		{"thread bad escape", "/thread", "application/x-www-form-urlencoded", []byte("codename=%zz")},
		{"follow-up without codename", "/followup", ct, body},
	}
	for _, rq := range reqs {
		r := secDo(t, secRequest(t, "POST", d.witness+rq.path, rq.ct, rq.body, ""))
		if r.status < 400 || r.status >= 500 {
			t.Errorf("%s: %d, want a 4xx", rq.name, r.status)
		}
	}
	for _, b := range []string{"account=%zz", strings.Repeat("a=b&", 100000)} {
		secDo(t, secRequest(t, "POST", d.inv+"/login", "application/x-www-form-urlencoded", []byte(b), ""))
	}
	// Requests net/http refuses before our handler: their answers must not
	// leak either (they are plain text, without our headers).
	for _, raw := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
		"GARBAGE\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 40<<10) + "\r\n\r\n",
		"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		for _, base := range []string{d.witness, d.inv} {
			u, _ := url.Parse(base)
			c, err := net.Dial("tcp", u.Host)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			c.Write([]byte(raw))
			var out bytes.Buffer
			out.ReadFrom(c)
			c.Close()
			for _, l := range secLeaks {
				if bytes.Contains(out.Bytes(), []byte(l)) {
					t.Errorf("net/http's answer to %.40q leaks %q:\n%s", raw, l, out.Bytes())
				}
			}
			if bytes.Contains(bytes.ToLower(out.Bytes()), []byte("\nserver:")) {
				t.Errorf("net/http's answer to %.40q names the server:\n%s", raw, out.Bytes())
			}
		}
	}
	secErrorBodies.Lock()
	defer secErrorBodies.Unlock()
	leaks := append(slices.Clone(secLeaks), dir)
	if wd, err := os.Getwd(); err == nil {
		leaks = append(leaks, wd)
	}
	for what, b := range secErrorBodies.m {
		for _, l := range leaks {
			if bytes.Contains(b, []byte(l)) {
				t.Errorf("%s: the error page shows %q:\n%s", what, l, b)
			}
		}
	}
	t.Logf("%d error answers searched", len(secErrorBodies.m))
	if len(secErrorBodies.m) < len(reqs) {
		t.Errorf("only %d error answers were kept", len(secErrorBodies.m))
	}
}
