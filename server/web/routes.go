package web

import (
	"net/http"

	"github.com/gorilla/mux"
)

// Access says who may use a route.
type Access int

const (
	// Public routes are open to anyone who reaches the listener.
	Public Access = iota
	// Session routes need an investigator's session, even one that must
	// still choose a new passphrase.
	Session
	// Ready routes need a session whose passphrase is no longer the one
	// of the enrolment.
	Ready
)

// Route is one route of a site's table. A site builds its router from its
// table ([Router]), so the router and the table cannot differ, and the
// security tests iterate the table.
type Route struct {
	// Method is GET (which takes HEAD too) or POST.
	Method string
	// Path is the pattern as the router takes it, e.g.
	// /items/{id:[0-9a-f]{32}}.
	Path string
	// Access says who may use it.
	Access Access
	// WhileAccepting marks the witness routes that show or take a
	// testimony: while the service is not accepting, they refuse.
	WhileAccepting bool
}

// Router builds the router of a site: route i of routes is served by
// handlers[i]; any other path gets notFound, a known path asked with
// another method gets badMethod.
func Router(routes []Route, handlers []http.Handler, notFound, badMethod http.Handler) http.Handler {
	if len(routes) != len(handlers) {
		panic("web.Router: routes and handlers differ in length")
	}
	r := mux.NewRouter()
	r.NotFoundHandler, r.MethodNotAllowedHandler = notFound, badMethod
	for i, rt := range routes {
		switch rt.Method {
		case http.MethodGet:
			r.Handle(rt.Path, handlers[i]).Methods(http.MethodGet, http.MethodHead)
		case http.MethodPost:
			r.Handle(rt.Path, handlers[i]).Methods(http.MethodPost)
		default:
			panic("web.Router: route " + rt.Path + " has method " + rt.Method + ", not GET or POST")
		}
	}
	return r
}

// Var is a variable of the route that matched the request.
func Var(r *http.Request, name string) string { return mux.Vars(r)[name] }
