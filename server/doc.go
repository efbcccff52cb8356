// Package server is Testimony's HTTP side: the witness site and the
// investigator site, each its own [http.Handler] meant for its own
// loopback listener (published as its own onion service).
//
// The witness site takes testimonies and streams them straight into the
// age envelope (package crypto) and the store (package store): no
// plaintext touches the disk. The investigator site hands out ciphertext
// and takes replies; the server holds no key that decrypts a testimony.
//
// Every response goes through one middleware stack ([Server.harden]):
// security headers, a strict CSP, no-store, a method filter and
// cross-origin protection. Handlers return errors; an [HTTPError] keeps
// what the client sees apart from what is logged, and logs never hold a
// client's address, user agent, codename, passphrase, code or answer.
package server
