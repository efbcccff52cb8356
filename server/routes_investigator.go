package server

import (
	"net/http"

	"github.com/gorilla/mux"
)

// InvestigatorHandler is the investigator site, for its own listener. Every
// route but the login page and the style sheet needs a session; every
// state-changing route is a POST, behind the cross-origin protection of
// harden.
func (s *Server) InvestigatorHandler() http.Handler {
	r := mux.NewRouter()
	r.NotFoundHandler = s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &HTTPError{Status: http.StatusNotFound, Msg: "error.notfound"}
	})
	r.MethodNotAllowedHandler = s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &HTTPError{Status: http.StatusMethodNotAllowed, Msg: "error.method"}
	})
	get := func(path string, h handlerFunc) { r.Handle(path, s.handle(h)).Methods(http.MethodGet, http.MethodHead) }
	post := func(path string, h handlerFunc) { r.Handle(path, s.handle(h)).Methods(http.MethodPost) }
	page := func(h authed) handlerFunc { return s.requireSession(false, h) }

	get("/static/investigator.css", s.investigatorCSS)
	get("/login", s.loginPage)
	post("/login", s.login)
	post("/logout", s.requireSession(true, s.logout))
	get("/passphrase", s.requireSession(true, s.passphrasePage))
	post("/passphrase", s.requireSession(true, s.changePassphrase(true)))

	get("/", page(s.caseList))
	get("/items/{id:[0-9a-f]{32}}", page(s.itemPage))
	get("/items/{id:[0-9a-f]{32}}/download", page(s.downloadItem))
	post("/items/{id:[0-9a-f]{32}}/seen", page(s.markSeen))
	get("/items/{id:[0-9a-f]{32}}/delete", page(s.confirmDeleteItem))
	post("/items/{id:[0-9a-f]{32}}/delete", page(s.deleteItem))
	get("/sources/{source}", page(s.sourcePage))
	post("/sources/{source}/reply", page(s.reply))
	get("/sources/{source}/delete", page(s.confirmDeleteSource))
	post("/sources/{source}/delete", page(s.deleteSource))
	post("/bundle", page(s.bundle))
	get("/account", page(s.accountPage))
	post("/account/passphrase", page(s.changePassphrase(false)))
	post("/account/totp", page(s.reenrolTOTP))
	get("/audit", page(s.auditPage))
	return s.harden(siteInvestigator, r)
}

// invVar is a variable of the investigator route that matched.
func invVar(r *http.Request, name string) string { return mux.Vars(r)[name] }
