package server

import (
	"fmt"
	"html"
	"net/http"
)

// renderError writes the plain error page for e. It never shows e.Err.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, e *HTTPError) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Del("Content-Length")
	w.WriteHeader(e.Status)
	fmt.Fprintf(w, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>%d</title></head><body><h1>%s</h1></body></html>\n",
		e.Status, html.EscapeString(e.Msg))
}
