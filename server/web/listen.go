package web

import (
	"errors"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"net/netip"
)

// ErrNotLoopback is returned by [Listen] for an address off the machine.
var ErrNotLoopback = errors.New("refusing to listen on a non-loopback address: the sites are meant to be reached through Tor onion services on this machine; pass --allow-public-bind if you really mean it")

// Listen opens a TCP listener on addr, which must be a loopback address
// unless allowPublic is set. It holds at most 1024 connections open, fewer
// under a low file limit (see connLimit), so that a flood of one site
// leaves the other its own.
func Listen(addr string, allowPublic bool) (net.Listener, error) {
	return listen(addr, allowPublic, maxConns)
}

// listen is Listen with a cap of at most max connections.
func listen(addr string, allowPublic bool, max int) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if !allowPublic {
		ip, err := netip.ParseAddr(host)
		if host == "localhost" {
			err, ip = nil, netip.MustParseAddr("127.0.0.1")
		}
		if err != nil || !ip.IsLoopback() {
			return nil, ErrNotLoopback
		}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return limitListener(l, max), nil
}

// NewHTTPServer returns an http.Server with time-outs fit for slow Tor
// clients: a short header time-out and an idle one, no total read or
// write time-out (the sites' middleware keeps read and write deadlines
// that move on as a body or a reply progresses: see limits.go), and no
// error log of request details.
func NewHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: headerTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    32 << 10,
		// http.Server's own lines name the client's address ("http: panic
		// serving 1.2.3.4:5678"); drop them.
		ErrorLog: stdlog.New(io.Discard, "", 0),
	}
}
