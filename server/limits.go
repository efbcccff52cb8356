package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/netutil"
)

// Every request has a bounded life and bounded memory, so that a client
// that is slow on purpose costs a socket, not the site:
//
//   - headers: headerTimeout (http.Server.ReadHeaderTimeout);
//   - a body: a read deadline that moves on with progress, formWindow for
//     a url-encoded form and readWindow for an upload, per readWindowStep
//     bytes; it stays set until the body's end, so that net/http's own
//     read of what a handler left is bounded too (bodyDeadline);
//   - a reply: a write deadline writeWindow after each write (writeDeadline);
//   - between requests: IdleTimeout;
//   - a reply to a request whose body was not read to its end says
//     Connection: close, so net/http does not wait for the rest;
//   - each listener holds at most connLimit connections (Listen), so that
//     a flood of the witness site leaves the investigator site its own;
//   - uploads draw their memory from one budget (memBudget), and a part's
//     header is capped (partHeaderLimit).

// Time-outs, variables so that tests can shorten them.
var (
	headerTimeout = 30 * time.Second
	idleTimeout   = 2 * time.Minute
	// formWindow is how long a url-encoded form's body may stall.
	formWindow = 30 * time.Second
	// writeWindow is how long a client may leave a reply unread.
	writeWindow = 2 * time.Minute
)

// Connections: each listener holds at most maxConns, and fewer when the
// process's file limit is low. A witness connection may hold a second
// file, its upload's spool file (one at a time: spool.go), so the limit
// left after fdReserve (the database, the control socket, the console) is
// shared in three: one part for each site's connections and one for the
// witness uploads' spool files; never fewer than minConns each. Over the
// cap, connections wait in the kernel's listen queue until one ends: the
// process never runs out of files, so each site keeps its own share.
var maxConns = 1024

const (
	fdReserve = 128
	minConns  = 16
)

// connLimit is the connection cap of one listener.
func connLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur < uint64(3*maxConns+fdReserve) {
		return max(int((int64(rl.Cur)-fdReserve)/3), minConns)
	}
	return maxConns
}

// limitListener caps the connections l holds open at connLimit.
func limitListener(l net.Listener) net.Listener { return netutil.LimitListener(l, connLimit()) }

// reqState is what harden keeps in a request's context: its site, and its
// body's deadline reader (nil for a request without a body).
type reqState struct {
	site site
	body *bodyDeadline
}

type reqKey struct{}

// stateOf returns the request's state, or nil outside harden.
func stateOf(r *http.Request) *reqState {
	st, _ := r.Context().Value(reqKey{}).(*reqState)
	return st
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

// Uploads' memory. Every upload takes uploadBase from one budget of
// uploadBudget bytes for the buffers it holds whatever it sends (the
// multipart reader's, a part's header, the spool's encryption and copy
// buffers), and textCost bytes for each byte of text it keeps (the value
// as read and as a string; the manifest is built from them at the end).
// An upload that finds the budget spent waits up to uploadWait for its
// base, then gets a 503 "busy" page; one whose text does not fit gets it
// at once. With the defaults, about a thousand uploads without much text
// fit — as many as the witness listener's connections — or some 128 with
// a full megabyte of text each. Streamed uploads hold an item writer's
// buffers besides, bounded by streamSlots.
var (
	uploadBudget int64 = 256 << 20
	uploadWait         = 10 * time.Second
)

const (
	uploadBase = 256 << 10
	textCost   = 2
)

// errBusy is the page of an upload refused for want of memory.
var errBusy = &HTTPError{Status: http.StatusServiceUnavailable, Msg: "error.busy"}

// memBudget is a count of bytes that uploads take and give back.
type memBudget struct {
	mu   sync.Mutex
	free int64
	back chan struct{} // closed, and replaced, when bytes are given back
}

func newMemBudget(n int64) *memBudget { return &memBudget{free: n, back: make(chan struct{})} }

// tryTake takes n bytes if they are free.
func (b *memBudget) tryTake(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.free < n {
		return false
	}
	b.free -= n
	return true
}

// take takes n bytes, waiting up to wait for them, or until ctx ends.
func (b *memBudget) take(ctx context.Context, n int64, wait time.Duration) bool {
	var timer <-chan time.Time
	for {
		b.mu.Lock()
		if b.free >= n {
			b.free -= n
			b.mu.Unlock()
			return true
		}
		back := b.back
		b.mu.Unlock()
		if timer == nil {
			t := time.NewTimer(wait)
			defer t.Stop()
			timer = t.C
		}
		select {
		case <-back:
		case <-timer:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// give returns n bytes.
func (b *memBudget) give(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.free += n
	close(b.back)
	b.back = make(chan struct{})
	b.mu.Unlock()
}

// A part's header is read by mime/multipart into memory, up to 10 MiB,
// before our code sees the part. partHeaderLimit, under the multipart
// reader, lets it read at most maxPartHeader bytes while it looks for the
// next part: the header and the multipart reader's read-ahead (4 KiB).
// A browser's header, with a file name of maxFileName bytes, is well
// under it. What the header holds counts in the form's text budget.
const maxPartHeader = 16 << 10

var errPartHeader = errors.New("multipart: a part's header is too long")

type partHeaderLimit struct {
	r    io.Reader
	left int // bytes still allowed while in a header; -1 in a part's body
}

// header starts the wait for a part's header; body ends it.
func (l *partHeaderLimit) header() { l.left = maxPartHeader }
func (l *partHeaderLimit) body()   { l.left = -1 }

func (l *partHeaderLimit) Read(p []byte) (int, error) {
	if l.left < 0 {
		return l.r.Read(p)
	}
	if l.left == 0 {
		return 0, errPartHeader
	}
	if len(p) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= n
	return n, err
}

// headerBytes is the size of a part's header as kept in memory.
func headerBytes(h map[string][]string) int {
	n := 0
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v) + 4 // ": " and CRLF
		}
	}
	return n
}
