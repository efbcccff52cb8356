package web

import (
	"cmp"
	"errors"
	"fmt"
	"html"
	"io"
	stdlog "log"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/gorilla/mux"
	"golang.org/x/net/netutil"

	"testimony/store"
)

// ErrNotLoopback is returned by [Listen] for an address off the machine.
var ErrNotLoopback = errors.New("refusing to listen on a non-loopback address: the sites are meant to be reached through Tor onion services on this machine; pass --allow-public-bind if you really mean it")

// Listen opens a TCP listener on addr, which must be a loopback address
// unless allowPublic is set. It holds at most 1024 connections open, fewer
// under a low file limit (see connLimit), so that a flood of one site
// leaves the other its own.
func Listen(addr string, allowPublic bool) (net.Listener, error) {
	return listen(addr, allowPublic, maxConns)
}

// listen is Listen with a cap of at most max connections.
func listen(addr string, allowPublic bool, max int) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if !allowPublic {
		ip, err := netip.ParseAddr(host)
		if host == "localhost" {
			err, ip = nil, netip.MustParseAddr("127.0.0.1")
		}
		if err != nil || !ip.IsLoopback() {
			return nil, ErrNotLoopback
		}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return limitListener(l, max), nil
}

// NewHTTPServer returns an http.Server with time-outs fit for slow Tor
// clients: a short header time-out and an idle one, no total read or
// write time-out (the sites' middleware keeps read and write deadlines
// that move on as a body or a reply progresses: see bodyDeadline), and no
// error log of request details.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: headerTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    32 << 10,
		// http.Server's own lines name the client's address ("http: panic
		// serving 1.2.3.4:5678"); drop them.
		ErrorLog: stdlog.New(io.Discard, "", 0),
	}
}

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
// file, its upload's spool file (one at a time: see package witness), so the limit
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

// Site is what one site (the witness site, the investigator site) shares
// with the other: the handler adapter ([Site.Handle]) and the middleware
// every response goes through ([Site.Harden]), with its own error page.
type Site struct {
	// Log receives only allow-listed fields (logging.go).
	Log *slog.Logger
	// ErrorPage writes the site's page for an error; it never shows e.Err.
	ErrorPage func(w http.ResponseWriter, r *http.Request, e *HTTPError)
	// FullMsg is the message key of the page shown when the store is full.
	FullMsg string
	// UnavailableMsg is the message key of the page of a 503 for an
	// unavailable store; empty is "error.busy", which every catalog holds.
	UnavailableMsg string
	// Limits are the site's body deadlines; zero fields take the defaults.
	Limits Limits
}

// witnessCSP is the witness pages' Content-Security-Policy: no script, no
// frames, no other origin; styles and images from this origin only.
const witnessCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// setSecurityHeaders sets every security header of a response. It is the
// one place they are set.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", witnessCSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cross-Origin-Embedder-Policy", "require-corp")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
	// No Server header (net/http sets none); no ETag (we never set one);
	// no HSTS: onion services are not HTTPS.
}

// Harden wraps the site's handler in the middleware every response goes
// through, in this order: the request's deadlines (bodyDeadline, writeDeadline), security
// headers, panic recovery, a method filter (GET, HEAD, POST), and
// cross-origin protection for state-changing requests.
func (s *Site) Harden(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.ErrorPage(w, r, &HTTPError{Status: http.StatusForbidden, Msg: "error.crossorigin"})
	}))
	inner := cop.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs := &reqState{}
		// A copy of the request: net/http looks at its own's Body, which
		// must stay its own, to choose how to end the connection.
		r = r.WithContext(r.Context())
		if r.ContentLength != 0 { // a body, of known length or chunked
			window := s.Limits.formWindow()
			if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
				window = s.Limits.readWindow()
			}
			rs.body = newBodyDeadline(w, r, window)
			r.Body = rs.body
		}
		w = newWriteDeadline(w, rs)
		setSecurityHeaders(w.Header())
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				// Never the value: it may be built from request data.
				s.Log.Error("handler panic", "stack", panicFrames())
				s.ErrorPage(w, r, &HTTPError{Status: http.StatusInternalServerError, Msg: "error.internal"})
			}
		}()
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodPost:
		default:
			w.Header().Set("Allow", "GET, HEAD, POST")
			s.ErrorPage(w, r, &HTTPError{Status: http.StatusMethodNotAllowed, Msg: "error.method"})
			return
		}
		inner.ServeHTTP(w, r)
	})
}

// panicFrames lists the functions and lines of the goroutine that is
// panicking, innermost first, from inside a deferred recover: names and
// positions of our code and the runtime's only, never arguments or
// values.
func panicFrames() string {
	pc := make([]uintptr, 32)
	n := runtime.Callers(3, pc) // runtime.Callers, panicFrames, the deferred function
	frames := runtime.CallersFrames(pc[:n])
	var b strings.Builder
	for {
		f, more := frames.Next()
		fmt.Fprintf(&b, "%s %s:%d", f.Function, f.File, f.Line)
		if !more {
			break
		}
		b.WriteString("; ")
	}
	return b.String()
}

// Access says who may use a route.
type Access int

const (
	// Public routes are open to anyone who reaches the listener.
	Public Access = iota
	// Session routes need an investigator's session, even one that must
	// still choose a new passphrase.
	Session
	// Ready routes need a session whose passphrase is no longer the one
	// of the enrolment.
	Ready
)

// Route is one route of a site's table. A site builds its router from its
// table ([Router]), so the router and the table cannot differ, and the
// security tests iterate the table.
type Route struct {
	// Method is GET (which takes HEAD too) or POST.
	Method string
	// Path is the pattern as the router takes it, e.g.
	// /items/{id:[0-9a-f]{32}}.
	Path string
	// Access says who may use it.
	Access Access
	// WhileAccepting marks the witness routes that show or take a
	// testimony: while the service is not accepting, they refuse.
	WhileAccepting bool
}

// Router builds the router of a site: route i of routes is served by
// handlers[i]; any other path gets notFound, a known path asked with
// another method gets badMethod.
func Router(routes []Route, handlers []http.Handler, notFound, badMethod http.Handler) http.Handler {
	if len(routes) != len(handlers) {
		panic("web.Router: routes and handlers differ in length")
	}
	r := mux.NewRouter()
	r.NotFoundHandler, r.MethodNotAllowedHandler = notFound, badMethod
	for i, rt := range routes {
		switch rt.Method {
		case http.MethodGet:
			r.Handle(rt.Path, handlers[i]).Methods(http.MethodGet, http.MethodHead)
		case http.MethodPost:
			r.Handle(rt.Path, handlers[i]).Methods(http.MethodPost)
		default:
			panic("web.Router: route " + rt.Path + " has method " + rt.Method + ", not GET or POST")
		}
	}
	return r
}

// Var is a variable of the route that matched the request.
func Var(r *http.Request, name string) string { return mux.Vars(r)[name] }

// HTTPError is an error with what the client is shown kept apart from what
// is logged. Msg is a message key from the catalog, shown on the error
// page; Err, if any, is logged (never with request details) and never
// shown.
type HTTPError struct {
	Status int
	Msg    string
	Err    error
}

func (e *HTTPError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %v", e.Status, e.Msg, e.Err)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Msg)
}

func (e *HTTPError) Unwrap() error { return e.Err }

// HandlerFunc is an HTTP handler that returns an error instead of writing
// one; [Site.Handle] turns it into an error page.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// retryAfter (seconds): about the time a cluster takes to elect a leader.
const retryAfter = "30"

// Handle adapts a HandlerFunc: an *HTTPError becomes its page and status;
// any other error is logged and becomes a plain 500 page, or a 507 when
// the store is full. An error wrapping [store.ErrUnavailable] (no quorum,
// or the cluster unreachable) becomes a 503 with Retry-After, however the
// handler wrapped it: the store's state is what the client needs to know.
func (s *Site) Handle(h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var he *HTTPError
		switch {
		case errors.Is(err, store.ErrUnavailable):
			// The write may still be applied later, whole (store.Store):
			// never partial, so the page may say nothing was stored.
			msg := cmp.Or(s.UnavailableMsg, "error.busy")
			he = &HTTPError{Status: http.StatusServiceUnavailable, Msg: msg, Err: err}
			w.Header().Set("Retry-After", retryAfter)
		case errors.As(err, &he):
		case errors.Is(err, store.ErrFull):
			// max_db_mb reached or the disk is full: nothing was stored.
			he = &HTTPError{Status: http.StatusInsufficientStorage, Msg: s.FullMsg, Err: err}
		default:
			he = &HTTPError{Status: http.StatusInternalServerError, Msg: "error.internal", Err: err}
		}
		if he.Err != nil && he.Status >= 500 {
			s.Log.Error("request failed", "status", he.Status, "err", he.Err.Error())
		}
		s.ErrorPage(w, r, he)
	})
}

// PlainError writes a bare error page for e, for when a site's templates
// are broken: it still says what happened, in English.
func PlainError(w http.ResponseWriter, e *HTTPError) {
	var b []byte
	b = fmt.Appendf(b, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>%d</title></head><body><h1>%d</h1><p>%s</p></body></html>\n",
		e.Status, e.Status, html.EscapeString(Translate(DefaultLang, e.Msg)))
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Del("Content-Length")
	w.WriteHeader(e.Status)
	w.Write(b)
}
