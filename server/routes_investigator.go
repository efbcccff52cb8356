package server

import (
	"net/http"

	"github.com/gorilla/mux"
)

// InvestigatorHandler is the investigator site, for its own listener.
func (s *Server) InvestigatorHandler() http.Handler {
	r := mux.NewRouter()
	r.NotFoundHandler = s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &HTTPError{Status: http.StatusNotFound, Msg: "error.notfound"}
	})
	return s.harden(r)
}
