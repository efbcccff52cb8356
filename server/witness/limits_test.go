package witness

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"testimony/server/web"
)

// Hostile clients. These tests run the sites
// behind NewHTTPServer on real loopback listeners from Listen, as serve
// does, with the time-outs shortened.

// hang is how long a test waits before it calls the server hung: far
// beyond any shortened time-out, so that a loaded machine does not flake.
const hang = 20 * time.Second

// realSite serves h as serve does and returns its address and the number
// of connections the server holds open at the moment.
func realSite(t *testing.T, h http.Handler) (addr string, open func() int64) {
	t.Helper()
	l, err := web.Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	srv := web.NewHTTPServer(h)
	var n atomic.Int64
	srv.ConnState = func(c net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			n.Add(1)
		case http.StateClosed, http.StateHijacked:
			n.Add(-1)
		}
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String(), n.Load
}

// rawRequest opens a connection to addr and writes head (a request line
// and headers, without the blank line), a Content-Length of length, and
// then body, which may be shorter: the rest never comes.
func rawRequest(t *testing.T, addr, head string, length int, body string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, hang)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "%s\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", head, length, body)
	return c
}

// answer reads the response on c, within hang, and then expects the
// server to close the connection. (ReadResponse turns Connection: close
// into res.Close.)
func answer(t *testing.T, what string, c net.Conn) *http.Response {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(hang))
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%s: no answer: %v (the server holds the request)", what, err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("%s: %d, then the connection stays open (%v)", what, res.StatusCode, err)
	}
	return res
}

// TestStalledBodiesCutOff: a request whose body stops arriving ends
// within the read window, url-encoded form or upload, and the server
// closes the connection instead of waiting for the rest. (The
// investigator site's login: TestStalledLoginCutOff there.)
func TestStalledBodiesCutOff(t *testing.T) {
	e := newWitEnv(t, Config{})
	e.s.web.Limits = web.Limits{FormWindow: 300 * time.Millisecond, ReadWindow: 300 * time.Millisecond}
	wit, _ := realSite(t, e.s.Handler())
	const form = "Content-Type: application/x-www-form-urlencoded"
	ct, body := multipartBody(t, fullTestimony("stall", part{name: "files", filename: "a.txt", body: strings.Repeat("a", 10000)})...)
	for _, tc := range []struct {
		what, addr, head string
		length           int
		body             string
	}{
		{"witness /thread", wit, "POST /thread HTTP/1.1\r\n" + form, 1000, "codename=abc"},
		// Under net/http's 256 KiB: it would read the rest after the handler.
		{"witness /submit", wit, "POST /submit HTTP/1.1\r\nContent-Type: " + ct, 100000, string(body[:len(body)/2])},
	} {
		res := answer(t, tc.what, rawRequest(t, tc.addr, tc.head, tc.length, tc.body))
		if res.StatusCode < 400 || res.StatusCode >= 500 || !res.Close {
			t.Errorf("%s: %d %v, want a 4xx with Connection: close", tc.what, res.StatusCode, res.Header)
		}
	}
}

// TestErrorReplyClosesConnection: an error page answering a request whose
// body was not read comes at once, with Connection: close, and the
// connection ends: the server does not wait for a body it will not use.
func TestErrorReplyClosesConnection(t *testing.T) {
	e := newWitEnv(t, Config{})
	wit, _ := realSite(t, e.s.Handler())
	start := time.Now()
	for _, tc := range []struct{ what, head string }{
		{"not multipart", "POST /submit HTTP/1.1\r\nContent-Type: text/plain"},
		{"a post to a page", "POST /form HTTP/1.1\r\nContent-Type: text/plain"},
		{"no such page", "POST /nowhere HTTP/1.1\r\nContent-Type: text/plain"},
	} {
		res := answer(t, tc.what, rawRequest(t, wit, tc.head, 1000, "0123456789"))
		if res.StatusCode < 400 || !res.Close {
			t.Errorf("%s: %d %v, want an error with Connection: close", tc.what, res.StatusCode, res.Header)
		}
	}
	if d := time.Since(start); d > 30*time.Second { // the default form window
		t.Errorf("the answers took %v: the server waited for the bodies", d)
	}
}

// countingReader counts what the server read of a request body.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// endless is an endless run of one byte.
type endless byte

func (b endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// TestPartHeaderCapped: a part whose header never ends is refused with a
// 4xx once a small cap is passed, long before Go's own 10 MiB limit, so
// the server never holds it; on /submit and on /followup.
func TestPartHeaderCapped(t *testing.T) {
	e := newWitEnv(t, Config{})
	h := e.s.Handler()
	for _, path := range []string{"/submit", "/followup"} {
		for _, head := range []string{
			"Content-Disposition: form-data; name=\"account\"; x=\"",             // one endless line
			"Content-Disposition: form-data; name=\"account\"\r\nX-Pad: a\r\n a", // continued lines
		} {
			body := &countingReader{r: io.MultiReader(strings.NewReader("--B\r\n"+head), endless('a'))}
			req := httptest.NewRequest("POST", path, body)
			req.ContentLength = 400 << 20
			req.Header.Set("Content-Type", "multipart/form-data; boundary=B")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code < 400 || rec.Code >= 500 {
				t.Errorf("%s: %d, want a 4xx", path, rec.Code)
			}
			if n := body.n.Load(); n > 64<<10 {
				t.Errorf("%s: the server read %d bytes of one part's header before refusing it", path, n)
			}
		}
	}
}

// TestPartHeadersCountAsText: part headers count in the text budget of a
// form: many parts with long (but each allowed) headers and short values
// are refused as too much text.
func TestPartHeadersCountAsText(t *testing.T) {
	e := newWitEnv(t, Config{})
	var b strings.Builder
	pad := strings.Repeat("p", 7000)
	for range 160 { // 160 × 7 kB: over form.MaxTextBytes in headers alone
		fmt.Fprintf(&b, "--B\r\nContent-Disposition: form-data; name=\"conditions\"\r\nX-Pad: %s\r\n\r\novercrowding\r\n", pad)
	}
	b.WriteString("--B--\r\n")
	st, page := e.post("/submit", "multipart/form-data; boundary=B", []byte(b.String()))
	if st != http.StatusRequestEntityTooLarge || !strings.Contains(page, translateHTML("error.textlong")) {
		t.Errorf("%d, want 413 and the too-much-text page\n%.300s", st, page)
	}
}

// translateHTML is the English text of a message key as a page shows it.
func translateHTML(key string) string {
	return strings.NewReplacer("'", "&#39;", `"`, "&#34;").Replace(web.Translate(web.DefaultLang, key))
}

// TestUploadMemoryBudget: uploads draw their memory from one budget; an
// upload that finds it spent waits a little, then gets the busy page and
// a closed connection; once memory is given back, uploads go through.
func TestUploadMemoryBudget(t *testing.T) {
	e := newWitEnv(t, Config{})
	e.s.uploads = newMemBudget(uploadBase + 100<<10)
	e.s.lim.uploadWait = 200 * time.Millisecond
	wit, _ := realSite(t, e.s.Handler())
	ct, body := multipartBody(t, fullTestimony("budget")...)
	// A stalled upload holds its share of the budget.
	hold := rawRequest(t, wit, "POST /submit HTTP/1.1\r\nContent-Type: "+ct, len(body), string(body[:len(body)/2]))
	time.Sleep(200 * time.Millisecond)
	res := answer(t, "a second upload", rawRequest(t, wit, "POST /submit HTTP/1.1\r\nContent-Type: "+ct, len(body), string(body)))
	if res.StatusCode != http.StatusServiceUnavailable || !res.Close || res.Header.Get("Retry-After") == "" {
		t.Errorf("a second upload with the budget spent: %d %v, want 503 with Retry-After and Connection: close", res.StatusCode, res.Header)
	}
	// The text of one upload is charged too: more than the budget's rest
	// is refused even with no other upload.
	hold.Close()
	time.Sleep(200 * time.Millisecond)
	long := fullTestimony("budget")
	long[len(long)-3].body = strings.Repeat("x", 60<<10)
	lct, lbody := multipartBody(t, long...)
	if st, _ := e.post("/submit", lct, lbody); st != http.StatusServiceUnavailable {
		// e.post goes through httptest's server: same handler, same budget.
		t.Errorf("an upload with more text than the budget holds: %d, want 503", st)
	}
	if st, page := e.post("/submit", ct, body); st != http.StatusOK {
		t.Errorf("an upload once the budget is free again: %d\n%.300s", st, page)
	}
}

// TestSlowUploadKeepsGoing: an upload that trickles in, but faster than
// 64 KiB per read window, completes however long it takes in all
// (here several windows); the same upload stalled halfway is cut off
// with a 408 and a closed connection.
func TestSlowUploadKeepsGoing(t *testing.T) {
	e := newWitEnv(t, Config{})
	e.s.web.Limits.ReadWindow = time.Second
	wit, _ := realSite(t, e.s.Handler())
	ct, body := multipartBody(t, fullTestimony("trickle", part{name: "files", filename: "a.bin", body: strings.Repeat("t", 800<<10)})...)
	head := fmt.Sprintf("POST /submit HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", ct, len(body))

	// 16 KiB every 50 ms: 64 KiB in about a fifth of the window, and the
	// whole body in 2.5 s, more than twice the window.
	c, err := net.DialTimeout("tcp", wit, hang)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	go func() {
		io.WriteString(c, head)
		for rest := body; len(rest) > 0; {
			k := min(len(rest), 16<<10)
			if _, err := c.Write(rest[:k]); err != nil {
				return
			}
			rest = rest[k:]
			time.Sleep(50 * time.Millisecond)
		}
	}()
	c.SetReadDeadline(time.Now().Add(hang))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("the trickling upload: no answer: %v", err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	switch d := time.Since(start); {
	case res.StatusCode != http.StatusOK:
		t.Errorf("a slow but live upload: %d after %v, want 200\n%.300s", res.StatusCode, d, page)
	case d < 2*e.s.web.Limits.ReadWindow:
		t.Errorf("the upload took %v, under two windows: the test proves nothing", d)
	}

	stalled := answer(t, "the stalled upload", rawRequest(t, wit, "POST /submit HTTP/1.1\r\nContent-Type: "+ct, len(body), string(body[:len(body)/2])))
	if stalled.StatusCode != http.StatusRequestTimeout || !stalled.Close {
		t.Errorf("the stalled upload: %d %v, want 408 with Connection: close", stalled.StatusCode, stalled.Header)
	}
}

// TestEarlyRefusalReachesClient: a client still sending a body the
// server will not read gets the refusal, not a reset connection: the
// server ends its side of the connection and waits a moment before it
// drops what is left, as net/http does for a tripped MaxBytesReader.
// (An early version of the Connection: close above closed at once, and
// the client's writes were answered with a reset.)
func TestEarlyRefusalReachesClient(t *testing.T) {
	e := newWitEnv(t, Config{MaxUpload: 4 << 20})
	wit, _ := realSite(t, e.s.Handler())
	cl := &http.Client{Timeout: hang}
	for _, tc := range []struct {
		what, path, ctype string
		size              int
		want              int
	}{
		{"an upload over the limit", "/submit", "multipart/form-data; boundary=B", 6 << 20, http.StatusRequestEntityTooLarge},
		{"a post to no page", "/nowhere", "text/plain", 6 << 20, http.StatusNotFound},
		{"a form that is not multipart", "/submit", "text/plain", 200 << 10, http.StatusBadRequest},
	} {
		for range 5 { // a reset is a race: give it a few chances
			res, err := cl.Post("http://"+wit+tc.path, tc.ctype, strings.NewReader(strings.Repeat("x", tc.size)))
			if err != nil {
				t.Fatalf("%s: %v, want the %d page", tc.what, err, tc.want)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != tc.want || !res.Close {
				t.Fatalf("%s: %d (close %v), want %d and Connection: close", tc.what, res.StatusCode, res.Close, tc.want)
			}
		}
	}
}
