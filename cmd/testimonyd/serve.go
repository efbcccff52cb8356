package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"testimony/crypto"
	"testimony/server/investigator"
	"testimony/server/web"
	"testimony/server/witness"
	"testimony/store"
)

const serveUsage = `Usage: testimonyd serve [--config FILE] [setting flags]

Serves the witness site and the investigator site, each on its own loopback
listener, and answers the console commands (backup, status, check, purge)
on DATA/control.sock. Logs are JSON lines on stderr; the first lines name
the bound addresses ("serving", with listener and addr).`

// retentionEvery is how often the retention setting is applied.
const retentionEvery = 24 * time.Hour

func runServe(args []string) error {
	fl := flag.NewFlagSet("serve", flag.ContinueOnError)
	fl.Usage = func() { fmt.Fprintln(os.Stderr, serveUsage); fl.PrintDefaults() }
	sf := addSettingFlags(fl)
	if err := fl.Parse(args); err != nil {
		return errUsage
	}
	cfg, err := sf.load()
	if err != nil {
		return err
	}
	execWithClobberFree() // clobber.go; returns only if it is on, or cannot be
	// Catch the stop signals before anything is announced: a stop that
	// comes right after the "serving" lines must shut down cleanly.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	lvl, _ := cfg.level()
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))

	key, err := crypto.LoadServerKey(filepath.Join(cfg.DataDir, keyFile))
	if err != nil {
		return fmt.Errorf("%v (run \"testimonyd init --data %s\" first?)", err, cfg.DataDir)
	}
	signKey, made, err := loadSigningKey(cfg.DataDir)
	if err != nil {
		return err
	}
	if made {
		log.Info("made the signing key of the day roots", "file", signKeyFile)
	}
	db, err := openStoreForServe(cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	wit, err := witness.New(cfg.witnessConfig(), db, key, log)
	if err != nil {
		return fmt.Errorf("cannot start: %w", err)
	}
	icfg := cfg.investigatorConfig()
	icfg.SigningKey = signKey
	inv, err := investigator.New(icfg, db, key, log)
	if err != nil {
		return fmt.Errorf("cannot start: %w", err)
	}
	if err := wit.Accepting(); err != nil {
		// A mixed set is a mistake to fix, not a state to wait out: age
		// cannot encrypt to it, and no investigator added later helps.
		var mixed *crypto.RecipientError
		if errors.As(err, &mixed) {
			return fmt.Errorf("cannot start: %w", err)
		}
		log.Warn("not accepting testimonies: the recipient set is empty, so the witness site shows no form; add an investigator (testimonyd investigator add)", "err", err.Error())
	}
	wl, err := web.Listen(cfg.WitnessAddr, cfg.AllowPublicBind)
	if err != nil {
		return fmt.Errorf("witness listener %s: %w", cfg.WitnessAddr, err)
	}
	il, err := web.Listen(cfg.InvestigatorAddr, cfg.AllowPublicBind)
	if err != nil {
		return fmt.Errorf("investigator listener %s: %w", cfg.InvestigatorAddr, err)
	}
	ctl, err := listenControl(cfg.DataDir)
	if err != nil {
		return err
	}
	defer ctl.Close()
	sv := &services{
		log:     log,
		witness: web.NewHTTPServer(wit.Handler()), wl: wl,
		inv: web.NewHTTPServer(inv.Handler()), il: il,
		console: &control{db: db, cfg: cfg, log: log, now: time.Now}, ctl: ctl,
		shutdownTimeout: 10 * time.Second,
		sealer:          &sealer{db: db, key: signKey, now: time.Now, log: log},
	}
	if cfg.RetentionDays > 0 {
		sv.retentionEvery = retentionEvery
	}
	return sv.run(sig)
}

// services is what serve runs: the two web servers, the console on the
// control socket, and the retention loop.
type services struct {
	log          *slog.Logger
	witness, inv *http.Server
	wl, il, ctl  net.Listener
	console      *control
	// retentionEvery is the period of the retention loop; 0 runs none.
	retentionEvery time.Duration
	// shutdownTimeout bounds the wait for requests in flight at shutdown.
	shutdownTimeout time.Duration
	// sealer, if set, seals the ended days at start and every sealEvery.
	sealer *sealer
}

// run serves until a signal comes on stop or a listener fails, and then
// shuts everything down the same way in either case: the control socket
// closed and backups in progress cut off, both web servers shut down
// (requests in flight get shutdownTimeout to finish), and every goroutine
// it started (servers, console, retention) joined. So the deferred
// db.Close of runServe runs with nothing left using the database. It
// returns the listener's error, if that is what ended it.
func (s *services) run(stop <-chan os.Signal) error {
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(3)
	go func() { defer wg.Done(); errc <- s.witness.Serve(s.wl) }()
	go func() { defer wg.Done(); errc <- s.inv.Serve(s.il) }()
	go func() { defer wg.Done(); s.console.serve(s.ctl) }()
	s.log.Info("serving", "listener", "witness", "addr", s.wl.Addr().String())
	s.log.Info("serving", "listener", "investigator", "addr", s.il.Addr().String())
	s.log.Info("serving", "listener", "control", "addr", s.ctl.Addr().String())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if s.sealer != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.sealer.run(ctx, sealEvery) }()
	}
	if s.retentionEvery > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); s.console.retain(ctx, s.retentionEvery) }()
	}

	var err error
	select {
	case sig := <-stop:
		s.log.Info("shutting down", "event", sig.String())
	case err = <-errc:
		// Serve returns ErrServerClosed only after Shutdown, which only
		// this function calls: any error here is a failed listener.
		s.log.Error("shutting down", "event", "listener failed", "err", err.Error())
		err = fmt.Errorf("serve: a listener failed: %w", err)
	}
	cancel()
	s.ctl.Close()
	s.console.cut()
	sctx, done := context.WithTimeout(context.Background(), s.shutdownTimeout)
	defer done()
	for _, hs := range []*http.Server{s.witness, s.inv} {
		if e := hs.Shutdown(sctx); e != nil {
			// Requests still running after the timeout: close their
			// connections rather than wait on.
			s.log.Error("shutting down", "event", "requests cut off", "err", e.Error())
			hs.Close()
		}
	}
	s.console.wait()
	wg.Wait()
	return err
}

// openStoreForServe opens the database with the configured size cap and
// checks it (bbolt's page check, then every item's chunks) before anything
// is served. A damaged file is a clear error that says what to do, never a
// panic.
func openStoreForServe(cfg settings) (*store.DB, error) {
	path := filepath.Join(cfg.DataDir, dbFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no database at %s (run \"testimonyd init --data %s\" first?)", path, cfg.DataDir)
	}
	db, err := openAndCheck(path, cfg.maxDBBytes())
	switch {
	case errors.Is(err, store.ErrCorrupt):
		return nil, fmt.Errorf("cannot start: %w\n(restore the last good backup: \"testimonyd restore FILE --data %s\")", err, cfg.DataDir)
	case err != nil:
		return nil, fmt.Errorf("cannot start: %w", err)
	}
	return db, nil
}

func openAndCheck(path string, maxSize int) (db *store.DB, err error) {
	defer func() {
		// bbolt panics on some damaged pages that pass its meta checksum.
		if r := recover(); r != nil {
			if db != nil {
				db.Close()
			}
			db, err = nil, fmt.Errorf("%w: %s: %v", store.ErrCorrupt, path, r)
		}
	}()
	db, err = store.Open(path, store.Options{LockTimeout: 2 * time.Second, MaxSize: maxSize})
	if err != nil {
		return nil, err
	}
	if err := db.Check(); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
