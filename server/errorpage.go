package server

import (
	"bytes"
	"fmt"
	"html"
	"net/http"
)

// renderError writes the error page for e, in the look of the request's
// site (see [siteOf]). It never shows e.Err.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, e *HTTPError) {
	if siteOf(r) == siteInvestigator {
		s.renderInvestigatorError(w, e.Status, translate(defaultLang, e.Msg))
		return
	}
	// The language comes from the query (the forms post to ?lang=) or
	// Accept-Language only: the body may be unread or too large, and is
	// never parsed here.
	lang := s.langOf(r, "")
	err := s.renderWitness(w, e.Status, "error", lang, wPage{Title: "w.error.pagetitle", Message: e.Msg, Path: r.URL.Path})
	if err == nil {
		return
	}
	// The templates are broken: a plain page still says what happened.
	var b bytes.Buffer
	fmt.Fprintf(&b, "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>%d</title></head><body><h1>%d</h1><p>%s</p></body></html>\n",
		e.Status, e.Status, html.EscapeString(translate(defaultLang, e.Msg)))
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Del("Content-Length")
	w.WriteHeader(e.Status)
	w.Write(b.Bytes())
}
