package server

import (
	"net/http"

	"github.com/gorilla/mux"
)

// WitnessHandler is the witness site. No investigator route exists here.
func (s *Server) WitnessHandler() http.Handler {
	r := mux.NewRouter()
	r.NotFoundHandler = s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &HTTPError{Status: http.StatusNotFound, Msg: "error.notfound"}
	})
	return s.harden(r)
}
