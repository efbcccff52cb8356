package web

import (
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// hang is how long a test waits before it calls the server hung.
const hang = 20 * time.Second

// testSite is a site of one page that says name, behind Harden.
func testSite(t *testing.T, name string) http.Handler {
	s := &Site{Log: discardLog(), FullMsg: "error.unavailable", ErrorPage: func(w http.ResponseWriter, r *http.Request, e *HTTPError) { PlainError(w, e) }}
	return s.Harden(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }))
}

// realSite serves h as serve does, on a listener that holds at most max
// connections, and returns its address and the number of connections the
// server holds open at the moment.
func realSite(t *testing.T, h http.Handler, max int) (addr string, open func() int64) {
	t.Helper()
	l, err := listen("127.0.0.1:0", false, max)
	if err != nil {
		t.Fatal(err)
	}
	srv := NewHTTPServer(h)
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

// TestConnectionCapPerListener: a listener holds at most its cap of
// connections, whatever comes; the other site's listener keeps
// answering while the witness one is full, and the witness site answers
// again once the flood ends. The sites here are hardened handlers that
// answer 200: the cap is the listener's, whatever it serves.
func TestConnectionCapPerListener(t *testing.T) {
	wit, open := realSite(t, testSite(t, "witness"), 8)
	inv, _ := realSite(t, testSite(t, "investigator"), 8)
	var stalls []net.Conn
	for range 40 {
		c, err := net.DialTimeout("tcp", wit, hang)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n") // and the headers never end
		stalls = append(stalls, c)
	}
	for deadline := time.Now().Add(hang); open() < 8 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // time for more to be accepted, if they were
	if n := open(); n != 8 {
		t.Errorf("the witness listener holds %d connections, want the cap, 8", n)
	}
	cl := &http.Client{Timeout: hang}
	res, err := cl.Get("http://" + inv + "/login")
	if err != nil {
		t.Fatalf("the investigator site does not answer while the witness site is flooded: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("investigator /login: %d", res.StatusCode)
	}
	for _, c := range stalls {
		c.Close()
	}
	res, err = cl.Get("http://" + wit + "/")
	if err != nil {
		t.Fatalf("the witness site does not answer after the flood: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("witness /: %d", res.StatusCode)
	}
}
