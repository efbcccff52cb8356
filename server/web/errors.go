package web

import (
	"errors"
	"fmt"
	"html"
	"net/http"

	"testimony/store"
)

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

// Handle adapts a HandlerFunc: an *HTTPError becomes its page and status;
// any other error is logged and becomes a plain 500 page.
func (s *Site) Handle(h HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var he *HTTPError
		if !errors.As(err, &he) {
			he = &HTTPError{Status: http.StatusInternalServerError, Msg: "error.internal", Err: err}
			if errors.Is(err, store.ErrFull) {
				// max_db_mb reached or the disk is full: nothing was stored.
				he.Status, he.Msg = http.StatusInsufficientStorage, s.FullMsg
			}
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
