package witness

import (
	"net/http"

	"testimony/server/web"
)

// route is a route of the table with its handler.
type route struct {
	web.Route
	h func(*Site) web.HandlerFunc
}

// routes is the witness site's table: no investigator route exists here,
// and no page of it links to one. Every route is public; those that show
// or take a testimony refuse while the service is not accepting.
var routes = []route{
	{web.Route{Method: http.MethodGet, Path: "/"}, func(s *Site) web.HandlerFunc { return s.landing }},
	{web.Route{Method: http.MethodGet, Path: "/static/witness.css"}, func(s *Site) web.HandlerFunc { return s.witnessCSS }},
	{web.Route{Method: http.MethodGet, Path: "/form", WhileAccepting: true}, func(s *Site) web.HandlerFunc { return s.formPage }},
	{web.Route{Method: http.MethodPost, Path: "/submit", WhileAccepting: true}, func(s *Site) web.HandlerFunc { return s.submit }},
	{web.Route{Method: http.MethodGet, Path: "/codename"}, func(s *Site) web.HandlerFunc { return s.codenamePage }},
	{web.Route{Method: http.MethodPost, Path: "/thread"}, func(s *Site) web.HandlerFunc { return s.thread }},
	{web.Route{Method: http.MethodPost, Path: "/followup", WhileAccepting: true}, func(s *Site) web.HandlerFunc { return s.followup }},
	{web.Route{Method: http.MethodPost, Path: "/withdraw", WhileAccepting: true}, func(s *Site) web.HandlerFunc { return s.withdraw }},
}

// Routes lists the witness site's routes, the table its router is built
// from, for the security tests to iterate.
func Routes() []web.Route {
	out := make([]web.Route, len(routes))
	for i, rt := range routes {
		out[i] = rt.Route
	}
	return out
}

// Handler is the witness site, for its own listener, which keeps no
// access log.
func (s *Site) Handler() http.Handler {
	hs := make([]http.Handler, len(routes))
	for i, rt := range routes {
		h := rt.h(s)
		if rt.WhileAccepting {
			h = s.whileAccepting(h)
		}
		hs[i] = s.handle(h)
	}
	notFound := s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &web.HTTPError{Status: http.StatusNotFound, Msg: "error.notfound"}
	})
	badMethod := s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &web.HTTPError{Status: http.StatusMethodNotAllowed, Msg: "error.method"}
	})
	return s.web.Harden(web.Router(Routes(), hs, notFound, badMethod))
}
