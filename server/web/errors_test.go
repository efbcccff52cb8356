package web

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"testimony/store"
)

// detail is what an internal error says and no page may show: an address
// of the cluster and the words of the client library.
const detail = "nats: no responders at 10.9.8.7:4222"

// TestHandleStoreErrors: an error of the store becomes the status that says
// what happened, the site's page for it and nothing of the error itself;
// an unavailable store (no quorum, the cluster unreachable) is a 503 with
// Retry-After, whether the handler returned the store's error as it came
// or wrapped in an HTTPError of its own.
func TestHandleStoreErrors(t *testing.T) {
	cases := []struct {
		name   string
		err    error
		status int
		msg    string
		retry  bool
	}{
		{"unavailable", fmt.Errorf("put item: %v: %w", detail, store.ErrUnavailable), http.StatusServiceUnavailable, "error.busy", true},
		{"unavailable in an HTTPError", &HTTPError{Status: http.StatusInternalServerError, Msg: "error.internal", Err: fmt.Errorf("%s: %w", detail, store.ErrUnavailable)}, http.StatusServiceUnavailable, "error.busy", true},
		{"unavailable in an HTTPError of the site's own 503", &HTTPError{Status: http.StatusServiceUnavailable, Msg: "error.unavailable", Err: fmt.Errorf("%s: %w", detail, store.ErrUnavailable)}, http.StatusServiceUnavailable, "error.busy", true},
		{"full", fmt.Errorf("%s: %w", detail, store.ErrFull), http.StatusInsufficientStorage, "error.unavailable", false},
		{"other", errors.New(detail), http.StatusInternalServerError, "error.internal", false},
		{"a 4xx of the site", &HTTPError{Status: http.StatusBadRequest, Msg: "error.badform", Err: errors.New(detail)}, http.StatusBadRequest, "error.badform", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logged bytes.Buffer
			var shown *HTTPError
			s := &Site{
				Log:     slog.New(slog.NewTextHandler(&logged, nil)),
				FullMsg: "error.unavailable",
				ErrorPage: func(w http.ResponseWriter, r *http.Request, e *HTTPError) {
					shown = e
					PlainError(w, e)
				},
			}
			rec := httptest.NewRecorder()
			s.Handle(func(w http.ResponseWriter, r *http.Request) error { return c.err }).ServeHTTP(rec, httptest.NewRequest("POST", "/submit", nil))
			if rec.Code != c.status {
				t.Errorf("status %d, want %d", rec.Code, c.status)
			}
			if shown == nil || shown.Msg != c.msg {
				t.Fatalf("page %+v, want the message %s", shown, c.msg)
			}
			body := rec.Body.String()
			if !strings.Contains(body, Translate(DefaultLang, c.msg)) {
				t.Errorf("the page does not say %q: %s", Translate(DefaultLang, c.msg), body)
			}
			if strings.Contains(body, "10.9.8.7") || strings.Contains(body, "nats") || strings.Contains(body, "responders") {
				t.Errorf("the page shows the internal error: %s", body)
			}
			ra := rec.Header().Get("Retry-After")
			if c.retry && ra != "30" {
				t.Errorf("Retry-After %q, want 30 (seconds)", ra)
			}
			if !c.retry && ra != "" {
				t.Errorf("Retry-After %q on a %d", ra, c.status)
			}
			if c.status >= 500 && !strings.Contains(logged.String(), "responders") {
				t.Errorf("the error is not logged for the sysadmin: %q", logged.String())
			}
		})
	}
}

// TestHandleUnavailableMsg: a site that names its own page for an
// unavailable store gets it.
func TestHandleUnavailableMsg(t *testing.T) {
	var shown *HTTPError
	s := &Site{Log: discardLog(), UnavailableMsg: "error.timeout", ErrorPage: func(w http.ResponseWriter, r *http.Request, e *HTTPError) {
		shown = e
		PlainError(w, e)
	}}
	rec := httptest.NewRecorder()
	s.Handle(func(w http.ResponseWriter, r *http.Request) error { return store.ErrUnavailable }).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusServiceUnavailable || shown == nil || shown.Msg != "error.timeout" {
		t.Errorf("status %d, page %+v", rec.Code, shown)
	}
}
