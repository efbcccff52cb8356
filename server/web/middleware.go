package web

import (
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"runtime"
	"strings"
)

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
// through, in this order: the request's deadlines (limits.go), security
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
