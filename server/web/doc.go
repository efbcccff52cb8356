// Package web is what Testimony's two sites share: the witness site
// (package witness) and the investigator site (package investigator), each
// its own [http.Handler] meant for its own loopback listener ([Listen],
// [NewHTTPServer]), published as its own onion service.
//
// Every response of a site goes through one middleware stack
// ([Site.Harden]): security headers, a strict CSP, no-store, a method
// filter, cross-origin protection and the request's deadlines. Handlers
// return errors ([HandlerFunc]); an [HTTPError] keeps what the client sees
// apart from what is logged, and logs never hold a client's address, user
// agent, codename, passphrase, code or answer (logging.go). Routes are
// tables of [Route], from which [Router] builds a site's router, and which
// the security tests iterate.
//
// The package also holds the message catalogs of both sites ([Translate]),
// the organisation shown on the witness pages ([Organisation]) and the
// recipient set new items are encrypted to ([Recipients]). It imports
// neither site.
package web
