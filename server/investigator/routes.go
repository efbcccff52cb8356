package investigator

import (
	"net/http"

	"testimony/server/web"
)

// route is a route of the table with its handler: h for a public route,
// a for one that needs a session.
type route struct {
	web.Route
	h func(*Site) web.HandlerFunc
	a func(*Site) authed
}

const (
	get  = http.MethodGet
	post = http.MethodPost
)

// routes is the investigator site's table, for its own listener. Every
// route but the login page and the style sheet needs a session; every
// state-changing route is a POST, behind the cross-origin protection of
// web.Site.Harden.
var routes = []route{
	{web.Route{Method: get, Path: "/static/investigator.css"}, func(s *Site) web.HandlerFunc { return s.investigatorCSS }, nil},
	{web.Route{Method: get, Path: "/login"}, func(s *Site) web.HandlerFunc { return s.loginPage }, nil},
	{web.Route{Method: post, Path: "/login"}, func(s *Site) web.HandlerFunc { return s.login }, nil},
	{web.Route{Method: post, Path: "/logout", Access: web.Session}, nil, func(s *Site) authed { return s.logout }},
	{web.Route{Method: get, Path: "/passphrase", Access: web.Session}, nil, func(s *Site) authed { return s.passphrasePage }},
	{web.Route{Method: post, Path: "/passphrase", Access: web.Session}, nil, func(s *Site) authed { return s.changePassphrase(true) }},

	{web.Route{Method: get, Path: "/", Access: web.Ready}, nil, func(s *Site) authed { return s.caseList }},
	{web.Route{Method: get, Path: "/items/{id:[0-9a-f]{32}}", Access: web.Ready}, nil, func(s *Site) authed { return s.itemPage }},
	{web.Route{Method: get, Path: "/items/{id:[0-9a-f]{32}}/download", Access: web.Ready}, nil, func(s *Site) authed { return s.downloadItem }},
	{web.Route{Method: post, Path: "/items/{id:[0-9a-f]{32}}/seen", Access: web.Ready}, nil, func(s *Site) authed { return s.markSeen }},
	{web.Route{Method: get, Path: "/items/{id:[0-9a-f]{32}}/delete", Access: web.Ready}, nil, func(s *Site) authed { return s.confirmDeleteItem }},
	{web.Route{Method: post, Path: "/items/{id:[0-9a-f]{32}}/delete", Access: web.Ready}, nil, func(s *Site) authed { return s.deleteItem }},
	{web.Route{Method: get, Path: "/sources/{source}", Access: web.Ready}, nil, func(s *Site) authed { return s.sourcePage }},
	{web.Route{Method: post, Path: "/sources/{source}/reply", Access: web.Ready}, nil, func(s *Site) authed { return s.reply }},
	{web.Route{Method: get, Path: "/sources/{source}/delete", Access: web.Ready}, nil, func(s *Site) authed { return s.confirmDeleteSource }},
	{web.Route{Method: post, Path: "/sources/{source}/delete", Access: web.Ready}, nil, func(s *Site) authed { return s.deleteSource }},
	{web.Route{Method: post, Path: "/bundle", Access: web.Ready}, nil, func(s *Site) authed { return s.bundle }},
	{web.Route{Method: post, Path: "/annotations", Access: web.Ready}, nil, func(s *Site) authed { return s.uploadAnnotations }},
	{web.Route{Method: get, Path: "/account", Access: web.Ready}, nil, func(s *Site) authed { return s.accountPage }},
	{web.Route{Method: post, Path: "/account/passphrase", Access: web.Ready}, nil, func(s *Site) authed { return s.changePassphrase(false) }},
	{web.Route{Method: post, Path: "/account/totp", Access: web.Ready}, nil, func(s *Site) authed { return s.reenrolTOTP }},
	{web.Route{Method: get, Path: "/audit", Access: web.Ready}, nil, func(s *Site) authed { return s.auditPage }},
}

// Routes lists the investigator site's routes, the table its router is
// built from, for the security tests to iterate.
func Routes() []web.Route {
	out := make([]web.Route, len(routes))
	for i, rt := range routes {
		out[i] = rt.Route
	}
	return out
}

// Handler is the investigator site, for its own listener.
func (s *Site) Handler() http.Handler {
	hs := make([]http.Handler, len(routes))
	for i, rt := range routes {
		if (rt.Access == web.Public) != (rt.h != nil) || (rt.Access == web.Public) == (rt.a != nil) {
			panic("investigator: route " + rt.Path + ": a public route has h, one that needs a session a")
		}
		var h web.HandlerFunc
		switch rt.Access {
		case web.Public:
			h = rt.h(s)
		case web.Session:
			h = s.requireSession(true, rt.a(s))
		case web.Ready:
			h = s.requireSession(false, rt.a(s))
		default:
			panic("investigator: route " + rt.Path + " has no known access")
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
