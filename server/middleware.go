package server

import (
	"net/http"
)

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

// harden wraps a site's handler in the middleware every response goes
// through, in this order: security headers, panic recovery, a method
// filter (GET, HEAD, POST), and cross-origin protection for state-changing
// requests.
func (s *Server) harden(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, &HTTPError{Status: http.StatusForbidden, Msg: "error.crossorigin"})
	}))
	inner := cop.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panic", "err", panicString(v))
				s.renderError(w, r, &HTTPError{Status: http.StatusInternalServerError, Msg: "error.internal"})
			}
		}()
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodPost:
		default:
			w.Header().Set("Allow", "GET, HEAD, POST")
			s.renderError(w, r, &HTTPError{Status: http.StatusMethodNotAllowed, Msg: "error.method"})
			return
		}
		inner.ServeHTTP(w, r)
	})
}
