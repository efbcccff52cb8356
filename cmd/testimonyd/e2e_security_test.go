//go:build e2e

package main

// The security suite (make test-security) attacks the real testimonyd
// binary, started with "testimonyd serve" on free loopback ports, with
// investigators enrolled through "testimonyd investigator add --json" and
// TOTP codes from Debian's oathtool. Every test is a TestSecurity…
// function; this file holds the helpers they share, all named sec….
//
// Every response any of these tests receives through secDo goes through
// secCheckHeaders, so the header rules are checked on every status the
// suite provokes, not only on the pages of the header test.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"testimony/crypto"
	"testimony/server/investigator"
	"testimony/server/web"
	"testimony/server/witness"
)

// secCookie is the session cookie's name with secure_cookies on (the
// default, as on an onion service).
const secCookie = "__Host-session"

// secAccount is an enrolled investigator, with what the enrolment printed.
type secAccount struct {
	Name, Passphrase, Secret string
	KeyFile                  string // the investigator's age identity file
	ID                       *crypto.Identity
}

// secEnrol adds an investigator to a data directory (no server may run on
// it) the way a sysadmin does, and returns the printed secrets.
func secEnrol(t *testing.T, dir, name string) *secAccount {
	t.Helper()
	keyFile, id := newKeyFile(t, false)
	r := mustRun(t, "investigator", "add", name, "--recipient-file", keyFile, "--json", "--data", dir)
	var en map[string]string
	if err := json.NewDecoder(strings.NewReader(r.stdout)).Decode(&en); err != nil {
		t.Fatalf("investigator add --json: %v\n%s", err, r.stdout)
	}
	a := &secAccount{Name: en["account"], Passphrase: en["passphrase"], Secret: en["totp_secret"], KeyFile: keyFile, ID: id}
	if a.Name != name || a.Passphrase == "" || a.Secret == "" {
		t.Fatalf("enrolment of %s: %q", name, r.stdout)
	}
	return a
}

// secTOTP is the code of secret at time at, from oathtool.
func secTOTP(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	out, err := exec.Command("oathtool", "--totp", "-b", "--now", at.UTC().Format("2006-01-02 15:04:05 UTC"), secret).Output()
	if err != nil {
		t.Fatalf("oathtool (apt-get install -y oathtool): %v", err)
	}
	code := strings.TrimSpace(string(out))
	if len(code) != 6 {
		t.Fatalf("oathtool printed %q", out)
	}
	return code
}

// secStepStart waits, if needed, until the current 30 s TOTP step has at
// least need left, and returns the start of the step it is in. Tests that
// compute codes relative to the current step call it first, so that the
// step does not change under them.
func secStepStart(t *testing.T, need time.Duration) time.Time {
	t.Helper()
	now := time.Now()
	start := time.Unix(now.Unix()/30*30, 0)
	if left := start.Add(30 * time.Second).Sub(now); left < need {
		t.Logf("waiting %v for the next TOTP step", (left + 300*time.Millisecond).Round(time.Millisecond))
		time.Sleep(left + 300*time.Millisecond)
		start = start.Add(30 * time.Second)
	}
	return start
}

// secResp is a response read whole.
type secResp struct {
	status int
	header http.Header
	body   []byte
	took   time.Duration
}

func (r secResp) location() string { return r.header.Get("Location") }

// secClient follows no redirect and keeps no cookies: each test says which
// cookie it sends. It records the client address of every connection, so
// that the server's log can be searched for them.
var secClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       2 * time.Minute,
	Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			secConns.Lock()
			if secConns.m == nil {
				secConns.m = map[string][]string{}
			}
			secConns.m[addr] = append(secConns.m[addr], c.LocalAddr().String())
			secConns.Unlock()
		}
		return c, err
	}},
}

// secConns are the client addresses of the suite's connections, by server
// address.
var secConns struct {
	sync.Mutex
	m map[string][]string
}

// secErrorBodies collects the body of every 4xx and 5xx response of the
// suite, for the leak test.
var secErrorBodies struct {
	sync.Mutex
	m map[string][]byte // "METHOD URL STATUS" → body
}

// secDo sends req and reads the whole answer, checks its security headers
// and keeps error bodies.
func secDo(t *testing.T, req *http.Request) secResp {
	t.Helper()
	t0 := time.Now()
	res, err := secClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	took := time.Since(t0)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL, err)
	}
	r := secResp{status: res.StatusCode, header: res.Header, body: body, took: took}
	secCheckHeaders(t, req.Method+" "+req.URL.String(), r.status, r.header)
	if r.status >= 400 {
		secErrorBodies.Lock()
		if secErrorBodies.m == nil {
			secErrorBodies.m = map[string][]byte{}
		}
		secErrorBodies.m[fmt.Sprintf("%s %s %d", req.Method, req.URL, r.status)] = body
		secErrorBodies.Unlock()
	}
	return r
}

// secRequest builds a request; body may be nil; cookie is a session token
// or "".
func secRequest(t *testing.T, method, u, contentType string, body []byte, cookie string, hdr ...string) *http.Request {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: secCookie, Value: cookie})
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return req
}

func secGet(t *testing.T, u, cookie string) secResp {
	t.Helper()
	return secDo(t, secRequest(t, "GET", u, "", nil, cookie))
}

// secPostForm posts url-encoded values, as a browser would from our own
// page (Sec-Fetch-Site: same-origin).
func secPostForm(t *testing.T, u string, v url.Values, cookie string) secResp {
	t.Helper()
	return secDo(t, secRequest(t, "POST", u, "application/x-www-form-urlencoded", []byte(v.Encode()), cookie,
		"Sec-Fetch-Site", "same-origin"))
}

// secLogin posts the login form and returns the answer and the new session
// token, if one was set.
func secLogin(t *testing.T, base, name, pass, code, cookie string) (secResp, string) {
	t.Helper()
	r := secPostForm(t, base+"/login", url.Values{"account": {name}, "passphrase": {pass}, "code": {code}}, cookie)
	return r, secTokenOf(r)
}

// secTokenOf returns the session token a response sets, or "".
func secTokenOf(r secResp) string {
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == secCookie && c.MaxAge >= 0 && c.Value != "" {
			return c.Value
		}
	}
	return ""
}

// secMustLogin logs in and fails the test unless it worked.
func secMustLogin(t *testing.T, base string, a *secAccount, code, cookie string) string {
	t.Helper()
	r, tok := secLogin(t, base, a.Name, a.Passphrase, code, cookie)
	if r.status != http.StatusSeeOther || tok == "" {
		t.Fatalf("login of %s with code %s: %d %q\n%s", a.Name, code, r.status, r.location(), r.body)
	}
	return tok
}

// secAlive reports whether a session token still opens a page that needs a
// session: GET /passphrase answers 200 with one (a first session may only
// see that page), a redirect to /login without.
func secAlive(t *testing.T, base, token string) bool {
	t.Helper()
	r := secGet(t, base+"/passphrase", token)
	switch {
	case r.status == http.StatusOK:
		return true
	case r.status == http.StatusSeeOther && r.location() == "/login":
		return false
	}
	t.Fatalf("GET /passphrase with a session cookie: %d %q", r.status, r.location())
	return false
}

// secRandomToken is a well-formed session token that no session has.
func secRandomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// secCheckHeaders applies the header rules of server/web/http.go to one
// response: a strict CSP with no script source, framing refused, no
// sniffing, no referrer, the Cross-Origin-* isolation headers, no-store on
// pages and redirects, safe cookie attributes; and no Server, ETag, HSTS or
// X-Powered-By header.
func secCheckHeaders(t *testing.T, what string, status int, h http.Header) {
	t.Helper()
	bad := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s (%d): %s", what, status, fmt.Sprintf(format, args...))
	}
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			bad("CSP %q lacks %s", csp, want)
		}
	}
	for _, no := range []string{"unsafe-inline", "unsafe-eval", "unsafe-hashes", "*", "http:", "https:", "data:"} {
		if strings.Contains(csp, no) {
			bad("CSP %q allows %s", csp, no)
		}
	}
	for _, dir := range strings.Split(csp, ";") {
		f := strings.Fields(dir)
		if len(f) > 0 && strings.HasPrefix(f[0], "script-src") && strings.Join(f[1:], " ") != "'none'" {
			bad("CSP allows scripts: %q", dir)
		}
	}
	for k, v := range map[string]string{
		"X-Content-Type-Options":       "nosniff",
		"Referrer-Policy":              "no-referrer",
		"X-Frame-Options":              "DENY",
		"Cross-Origin-Opener-Policy":   "same-origin",
		"Cross-Origin-Resource-Policy": "same-origin",
		"Cross-Origin-Embedder-Policy": "require-corp",
	} {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			bad("%s: %q, want %q", k, got, v)
		}
	}
	if !strings.Contains(h.Get("Permissions-Policy"), "camera=()") {
		bad("Permissions-Policy %q", h.Get("Permissions-Policy"))
	}
	if strings.HasPrefix(h.Get("Content-Type"), "text/html") || (status >= 300 && status < 400) {
		if !strings.Contains(h.Get("Cache-Control"), "no-store") {
			bad("Cache-Control %q on a page, want no-store", h.Get("Cache-Control"))
		}
	}
	for _, k := range []string{"Server", "ETag", "Strict-Transport-Security", "X-Powered-By", "Public-Key-Pins", "Alt-Svc"} {
		if v, ok := h[k]; ok {
			bad("header %s: %q must not be sent", k, v)
		}
	}
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" {
			bad("cookie %s: HttpOnly %v Secure %v SameSite %v Path %q Domain %q", c.Name, c.HttpOnly, c.Secure, c.SameSite, c.Path, c.Domain)
		}
	}
}

// secLogsHoldNone fails if the daemon's log holds any of the secrets, or
// the address of any client connection this suite made to it.
func secLogsHoldNone(t *testing.T, d *daemon, secrets ...string) {
	t.Helper()
	logs := d.Out.String()
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("the server log holds %q", s)
		}
	}
	secConns.Lock()
	defer secConns.Unlock()
	n := 0
	for _, base := range []string{d.witness, d.inv} {
		for _, client := range secConns.m[strings.TrimPrefix(base, "http://")] {
			n++
			if strings.Contains(logs, client) {
				t.Errorf("the server log holds the client address %s", client)
			}
		}
	}
	if n == 0 {
		t.Error("no client connection to this server was recorded: the log check of client addresses proves nothing")
	}
}

// secRoute is a route of a site's table.
type secRoute struct {
	site    string     // "witness" or "investigator"
	method  string     // GET (with HEAD) or POST
	pattern string     // as registered, e.g. /items/{id:[0-9a-f]{32}}
	access  web.Access // who may use it
}

// path is the route's pattern with its variables filled in.
func (r secRoute) path() string {
	p := r.pattern
	for {
		i := strings.Index(p, "{")
		if i < 0 {
			return p
		}
		// A variable may hold a regexp with braces of its own.
		depth, j := 0, i
		for ; j < len(p); j++ {
			if p[j] == '{' {
				depth++
			} else if p[j] == '}' {
				if depth--; depth == 0 {
					break
				}
			}
		}
		v := p[i+1 : j]
		val := "s-e2esecurity"
		if strings.Contains(v, "[0-9a-f]{32}") {
			val = "0123456789abcdef0123456789abcdef"
		}
		p = p[:i] + val + p[j+1:]
	}
}

// secRoutes lists every route of both sites from their route tables
// (witness.Routes, investigator.Routes), from which their routers are
// built: a route added to a table is attacked by every test that iterates
// this list.
func secRoutes(t *testing.T) []secRoute {
	t.Helper()
	var out []secRoute
	for _, site := range []struct {
		name   string
		routes []web.Route
	}{{"witness", witness.Routes()}, {"investigator", investigator.Routes()}} {
		for _, r := range site.routes {
			out = append(out, secRoute{site: site.name, method: r.Method, pattern: r.Path, access: r.Access})
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d routes in the tables", len(out))
	}
	return out
}

// secStateChanging is the list of every state-changing (POST) route this
// suite knows; TestSecurityRouteList fails when the route tables have one
// more or one less, so a new route cannot go in unnoticed.
var secStateChanging = []string{
	"witness POST /submit",
	"witness POST /thread",
	"witness POST /followup",
	"witness POST /withdraw",
	"investigator POST /login",
	"investigator POST /logout",
	"investigator POST /passphrase",
	"investigator POST /items/{id:[0-9a-f]{32}}/seen",
	"investigator POST /items/{id:[0-9a-f]{32}}/delete",
	"investigator POST /sources/{source}/reply",
	"investigator POST /sources/{source}/delete",
	"investigator POST /bundle",
	"investigator POST /annotations",
	"investigator POST /account/passphrase",
	"investigator POST /account/totp",
}

// TestSecurityRouteList: the state-changing routes of the route tables are
// exactly the list above (the cross-site and method tests take their
// routes from the tables, so a new route is attacked anyway; this list
// makes its author look at it).
func TestSecurityRouteList(t *testing.T) {
	var got []string
	for _, r := range secRoutes(t) {
		if r.method == "POST" {
			got = append(got, r.site+" POST "+r.pattern)
		}
	}
	want := slices.Clone(secStateChanging)
	sort.Strings(got)
	sort.Strings(want)
	for _, g := range got {
		if !slices.Contains(want, g) {
			t.Errorf("new state-changing route %q: add it to secStateChanging after checking it is behind the cross-origin protection", g)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("route %q is gone from the route tables: update secStateChanging", w)
		}
	}
}

// secBase returns the base URL of a site of d.
func secBase(d *daemon, site string) string {
	if site == "investigator" {
		return d.inv
	}
	return d.witness
}

// secGrepDir returns the files under dir whose bytes contain needle.
func secGrepDir(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !de.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, needle) {
			hits = append(hits, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}
