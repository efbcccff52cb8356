package web

import (
	"cmp"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/netutil"
)

// Every request has a bounded life and bounded memory, so that a client
// that is slow on purpose costs a socket, not the site:
//
//   - headers: headerTimeout (http.Server.ReadHeaderTimeout);
//   - a body: a read deadline that moves on with progress, the site's
//     Limits.FormWindow for a url-encoded form and Limits.ReadWindow for
//     an upload, per readWindowStep bytes; it stays set until the body's end, so that net/http's own
//     read of what a handler left is bounded too (bodyDeadline);
//   - a reply: a write deadline writeWindow after each write (writeDeadline);
//   - between requests: IdleTimeout;
//   - a reply to a request whose body was not read to its end says
//     Connection: close, so net/http does not wait for the rest;
//   - each listener holds at most connLimit connections (Listen), so that
//     a flood of the witness site leaves the investigator site its own;
//   - the witness site's uploads draw their memory from one budget, and a
//     part's header is capped (package witness, budget.go).

// Time-outs.
const (
	headerTimeout = 30 * time.Second
	idleTimeout   = 2 * time.Minute
	// writeWindow is how long a client may leave a reply unread.
	writeWindow = 2 * time.Minute
	// readWindowStep is how far a body's read deadline moves on: after
	// each 64 KiB.
	readWindowStep = 64 << 10
)

// Limits are a site's body deadlines. A zero field takes its default;
// tests shorten them on their own site.
type Limits struct {
	// FormWindow is how long a url-encoded form's body may stall: 30 s.
	FormWindow time.Duration
	// ReadWindow is how long an upload may stall: the read deadline is set
	// this far ahead at the start and again after each 64 KiB: 2 min.
	ReadWindow time.Duration
}

func (l Limits) formWindow() time.Duration { return cmp.Or(l.FormWindow, 30*time.Second) }
func (l Limits) readWindow() time.Duration { return cmp.Or(l.ReadWindow, 2*time.Minute) }

// Connections: each listener holds at most maxConns, and fewer when the
// process's file limit is low. A witness connection may hold a second
// file, its upload's spool file (one at a time: spool.go), so the limit
// left after fdReserve (the database, the control socket, the console) is
// shared in three: one part for each site's connections and one for the
// witness uploads' spool files; never fewer than minConns each. Over the
// cap, connections wait in the kernel's listen queue until one ends: the
// process never runs out of files, so each site keeps its own share.
const (
	maxConns  = 1024
	fdReserve = 128
	minConns  = 16
)

// connLimit is the connection cap of one listener of at most maxConns.
func connLimit(maxConns int) int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur < uint64(3*maxConns+fdReserve) {
		return max(int((int64(rl.Cur)-fdReserve)/3), minConns)
	}
	return maxConns
}

// limitListener caps the connections l holds open at connLimit.
func limitListener(l net.Listener, maxConns int) net.Listener {
	return netutil.LimitListener(l, connLimit(maxConns))
}

// reqState is what Harden keeps of a request for its reply: its body's
// deadline reader (nil for a request without a body).
type reqState struct {
	body *bodyDeadline
}

// bodyUnread reports whether the request has a body that was not read to
// its end.
func (st *reqState) bodyUnread() bool { return st != nil && st.body != nil && !st.body.eof }

// bodyDeadline keeps a read deadline on the connection while a body is
// read: window ahead at first, and again after each readWindowStep bytes.
// A slow body goes on as long as it makes progress (64 KiB per two
// minutes for an upload: about 550 bytes a second); a stalled one, or a
// trickle meant to hold a connection, ends. At the body's end the
// deadline is cleared: net/http then reads ahead for the next request,
// and a deadline hit there would cancel the request's context.
type bodyDeadline struct {
	r      io.ReadCloser
	rc     *http.ResponseController
	window time.Duration
	n      int64
	next   int64
	eof    bool
}

func newBodyDeadline(w http.ResponseWriter, r *http.Request, window time.Duration) *bodyDeadline {
	b := &bodyDeadline{r: r.Body, rc: http.NewResponseController(w), window: window, next: readWindowStep}
	b.rc.SetReadDeadline(time.Now().Add(window)) // unsupported by a test's recorder: fine
	return b
}

func (b *bodyDeadline) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	switch {
	case err == io.EOF:
		b.eof = true
		b.rc.SetReadDeadline(time.Time{})
	case b.n >= b.next:
		b.rc.SetReadDeadline(time.Now().Add(b.window))
		b.next = b.n + readWindowStep
	}
	return n, err
}

func (b *bodyDeadline) Close() error { return b.r.Close() }

// writeDeadline keeps a write deadline writeWindow ahead of each write,
// which it splits into pieces of writeStep bytes: a client reading a long
// download slowly keeps it going, one that stops reading loses it. It
// also marks a reply Connection: close when the request's body was not
// read to its end.
type writeDeadline struct {
	http.ResponseWriter
	rc      *http.ResponseController
	st      *reqState
	last    time.Time
	started bool
}

// writeStep is the most a write may carry under one deadline.
const writeStep = 64 << 10

func newWriteDeadline(w http.ResponseWriter, st *reqState) *writeDeadline {
	d := &writeDeadline{ResponseWriter: w, rc: http.NewResponseController(w), st: st}
	d.extend(time.Now())
	return d
}

// Unwrap gives http.ResponseController the writer underneath.
func (w *writeDeadline) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *writeDeadline) extend(now time.Time) {
	w.rc.SetWriteDeadline(now.Add(writeWindow))
	w.last = now
}

func (w *writeDeadline) WriteHeader(code int) {
	if !w.started && code >= 200 {
		w.started = true
		if w.st.bodyUnread() {
			// The connection ends after this reply, and net/http would
			// still read up to 256 KiB of what is left before closing it:
			// a read deadline of now makes that read fail at once.
			w.Header().Set("Connection", "close")
			w.rc.SetReadDeadline(time.Now())
			closeAfterReply(w.ResponseWriter)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *writeDeadline) Write(p []byte) (int, error) {
	if !w.started {
		w.WriteHeader(http.StatusOK)
	}
	var done int
	for len(p) > 0 {
		// Moving the deadline costs a timer update: at most once a second
		// for small writes.
		if now := time.Now(); len(p) > writeStep/2 || now.Sub(w.last) > time.Second {
			w.extend(now)
		}
		k := min(len(p), writeStep)
		n, err := w.ResponseWriter.Write(p[:k])
		done += n
		if err != nil {
			return done, err
		}
		p = p[k:]
	}
	return done, nil
}

// closeAfterReply tells net/http that the request's body will not be
// read, so that it ends the connection after the reply as it does when a
// handler's http.MaxBytesReader trips: its write side first, and the rest
// half a second later. Closed at once, a connection with unread bytes
// answers the client's next write with a reset, and the client may lose
// the reply before reading it. A MaxBytesReader is the only public way
// to say so: one with a limit of nothing, over one byte, trips at once.
func closeAfterReply(w http.ResponseWriter) {
	var b [1]byte
	http.MaxBytesReader(w, io.NopCloser(strings.NewReader("x")), 0).Read(b[:])
}
