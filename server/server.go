package server

import (
	"crypto/ed25519"
	"errors"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"testimony/crypto"
	"testimony/store"
)

// Config holds the settings the server needs. Zero values take the
// defaults of [Config.withDefaults].
type Config struct {
	// DataDir holds the database, the server key and the optional
	// questionnaire override (questionnaire.json).
	DataDir string
	// Escrow lists age public keys every new item is encrypted to besides
	// the active investigators' keys.
	Escrow []string
	// MaxUpload bounds one submission's body; MaxFile one attachment.
	MaxUpload int64
	MaxFile   int64
	// Organisation is who runs the service, shown on the witness pages
	// (organisation.go).
	Organisation Organisation
	// SecureCookies marks cookies Secure (HTTPS, or an onion address,
	// which Tor Browser treats as a secure context).
	SecureCookies bool
	// SessionIdle and SessionMax are the investigators' session time-outs.
	SessionIdle time.Duration
	SessionMax  time.Duration
	// LoginFailures is how many failed logins the investigator site takes
	// in ten minutes, over all accounts, before it refuses logins for a
	// while (see loginWindow); zero means 50.
	LoginFailures int
	// Now is the clock; tests inject a fake one.
	Now func() time.Time
	// SigningKey signs the listing of each bundle; the day roots it
	// signed give the proofs bundles carry (records.Seal). Nil: bundles
	// carry no evidence.
	SigningKey ed25519.PrivateKey
}

func (c Config) withDefaults() Config {
	if c.MaxUpload == 0 {
		c.MaxUpload = 500 << 20
	}
	if c.MaxFile == 0 {
		c.MaxFile = c.MaxUpload
	}
	if c.SessionIdle == 0 {
		c.SessionIdle = 30 * time.Minute
	}
	if c.SessionMax == 0 {
		c.SessionMax = 12 * time.Hour
	}
	if c.LoginFailures == 0 {
		c.LoginFailures = defaultLoginFailures
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Server serves both sites from one store.
type Server struct {
	cfg Config
	db  *store.DB
	key *crypto.ServerKey
	log *slog.Logger
	inv investigatorSite // the investigator site's state (investigator_site.go)
	wit witnessSite      // the witness site's state (witness_site.go)
	// streams holds a token for each upload streamed into the store
	// (witness_upload.go).
	streams chan struct{}
	// uploads is the memory budget of uploads (limits.go).
	uploads *memBudget
}

// New makes a server. log receives only allow-listed fields (see logging.go).
func New(cfg Config, db *store.DB, key *crypto.ServerKey, log *slog.Logger) (*Server, error) {
	if db == nil || key == nil {
		return nil, errors.New("server: a store and a server key are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg.withDefaults(), db: db, key: key, log: log, streams: make(chan struct{}, streamSlots), uploads: newMemBudget(uploadBudget)}
	if err := s.cleanSpool(); err != nil { // spool.go
		return nil, err
	}
	return s, nil
}

// today is the current UTC day, the only time kept with an item.
func (s *Server) today() string { return s.cfg.Now().UTC().Format(time.DateOnly) }

// ErrNotLoopback is returned by [Listen] for an address off the machine.
var ErrNotLoopback = errors.New("refusing to listen on a non-loopback address: the sites are meant to be reached through Tor onion services on this machine; pass --allow-public-bind if you really mean it")

// Listen opens a TCP listener on addr, which must be a loopback address
// unless allowPublic is set. It holds at most 1024 connections open, fewer
// under a low file limit (see connLimit), so that a flood of one site
// leaves the other its own.
func Listen(addr string, allowPublic bool) (net.Listener, error) {
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
	return limitListener(l), nil
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
