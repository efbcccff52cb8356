package witness

import (
	"net/http"

	"testimony/server/web"
)

// renderError writes the witness site's error page for e. It never shows
// e.Err.
func (s *Site) renderError(w http.ResponseWriter, r *http.Request, e *web.HTTPError) {
	// The language comes from the query (the forms post to ?lang=) or
	// Accept-Language only: the body may be unread or too large, and is
	// never parsed here.
	lang := s.langOf(r, "")
	err := s.renderWitness(w, e.Status, "error", lang, wPage{Title: "w.error.pagetitle", Message: e.Msg, Path: r.URL.Path})
	if err == nil {
		return
	}
	// The templates are broken: a plain page still says what happened.
	web.PlainError(w, e)
}
