package investigator

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"testimony/server/web"
	"testimony/store"
)

// TestStalledLoginCutOff: a login whose body stops arriving ends within
// the form window, and the server closes the connection instead of
// waiting for the rest (the witness site's forms and uploads:
// TestStalledBodiesCutOff there).
func TestStalledLoginCutOff(t *testing.T) {
	e := newInvEnv(t, Config{})
	e.s.web.Limits.FormWindow = 300 * time.Millisecond
	l, err := web.Listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	srv := web.NewHTTPServer(e.s.Handler())
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	const hang = 20 * time.Second
	c, err := net.DialTimeout("tcp", l.Addr().String(), hang)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /login HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nHost: x\r\nContent-Length: 1000\r\n\r\naccount=abc")
	c.SetReadDeadline(time.Now().Add(hang))
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v (the server holds the request)", err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode < 400 || res.StatusCode >= 500 || !res.Close {
		t.Errorf("%d %v, want a 4xx with Connection: close", res.StatusCode, res.Header)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		t.Errorf("%d, then the connection stays open (%v)", res.StatusCode, err)
	}
}

// TestPanicLogHoldsNoPanicValue: a handler that panics with a value built
// from request data gets the 500 page, and the log line says a handler
// panicked and where, never what the value was.
func TestPanicLogHoldsNoPanicValue(t *testing.T) {
	const marker = "MARKER-panic-4b1d"
	var logs bytes.Buffer
	e := newInvEnvOn(t, Config{}, store.Options{}, slog.New(slog.NewJSONHandler(&logs, nil)))
	h := e.s.web.Harden(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic(fmt.Errorf("answer %s", r.URL.Query().Get("q")))
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/?q="+marker, nil))
	if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), marker) {
		t.Fatalf("%d\n%s", rec.Code, rec.Body)
	}
	out := logs.String()
	if strings.Count(out, `"msg":"handler panic"`) != 1 {
		t.Fatalf("the panic was not logged, so this test proves nothing:\n%s", out)
	}
	if strings.Contains(out, marker) {
		t.Errorf("the log holds the panic value:\n%s", out)
	}
	if !strings.Contains(out, "TestPanicLogHoldsNoPanicValue") {
		t.Errorf("the log line names no stack frame of the panic:\n%s", out)
	}
}
