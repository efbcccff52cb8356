package server

import (
	"errors"
	"fmt"
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

// handlerFunc is an HTTP handler that returns an error instead of writing
// one; [Server.handle] turns it into an error page.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle adapts a handlerFunc: an *HTTPError becomes its page and status;
// any other error is logged and becomes a plain 500 page.
func (s *Server) handle(h handlerFunc) http.Handler {
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
				he.Status, he.Msg = http.StatusInsufficientStorage, "error.unavailable"
				if siteOf(r) == siteInvestigator {
					he.Msg = "inv.error.full"
				}
			}
		}
		if he.Err != nil && he.Status >= 500 {
			s.log.Error("request failed", "status", he.Status, "err", he.Err.Error())
		}
		s.renderError(w, r, he)
	})
}
