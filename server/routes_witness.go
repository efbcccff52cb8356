package server

import (
	"net/http"

	"github.com/gorilla/mux"
)

// WitnessHandler is the witness site. No investigator route exists here,
// and no page of it links to one. The listener keeps no access log.
func (s *Server) WitnessHandler() http.Handler {
	r := mux.NewRouter()
	r.NotFoundHandler = s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &HTTPError{Status: http.StatusNotFound, Msg: "error.notfound"}
	})
	r.MethodNotAllowedHandler = s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &HTTPError{Status: http.StatusMethodNotAllowed, Msg: "error.method"}
	})
	get := func(path string, h handlerFunc) { r.Handle(path, s.handle(h)).Methods(http.MethodGet, http.MethodHead) }
	post := func(path string, h handlerFunc) { r.Handle(path, s.handle(h)).Methods(http.MethodPost) }

	get("/", s.landing)
	get("/static/witness.css", s.witnessCSS)
	get("/form", s.whileAccepting(s.formPage))
	post("/submit", s.whileAccepting(s.submit))
	get("/codename", s.codenamePage)
	post("/thread", s.thread)
	post("/followup", s.whileAccepting(s.followup))
	post("/withdraw", s.whileAccepting(s.withdraw))
	return s.harden(siteWitness, r)
}
