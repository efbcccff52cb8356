package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"testimony/crypto"
	"testimony/server"
	"testimony/store"
)

func init() {
	register(command{"serve", "serve the witness and investigator sites", runServe})
}

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
	db, err := openStoreForServe(cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := server.CheckWitnessSite(cfg.DataDir); err != nil {
		return fmt.Errorf("cannot start: %w", err)
	}
	srv, err := server.New(cfg.serverConfig(), db, key, log)
	if err != nil {
		return err
	}
	if err := srv.Accepting(); err != nil {
		log.Warn("not accepting testimonies: the recipient set is empty or unusable, so the witness site shows no form; add an investigator (testimonyd investigator add)", "err", err.Error())
	}
	wl, err := server.Listen(cfg.WitnessAddr, cfg.AllowPublicBind)
	if err != nil {
		return fmt.Errorf("witness listener %s: %w", cfg.WitnessAddr, err)
	}
	il, err := server.Listen(cfg.InvestigatorAddr, cfg.AllowPublicBind)
	if err != nil {
		return fmt.Errorf("investigator listener %s: %w", cfg.InvestigatorAddr, err)
	}
	ctl, err := listenControl(cfg.DataDir)
	if err != nil {
		return err
	}
	defer ctl.Close()
	console := &control{db: db, cfg: cfg, log: log, now: time.Now}

	ws := server.NewHTTPServer(srv.WitnessHandler())
	is := server.NewHTTPServer(srv.InvestigatorHandler())
	errc := make(chan error, 2)
	go func() { errc <- ws.Serve(wl) }()
	go func() { errc <- is.Serve(il) }()
	go console.serve(ctl)
	log.Info("serving", "listener", "witness", "addr", wl.Addr().String())
	log.Info("serving", "listener", "investigator", "addr", il.Addr().String())
	log.Info("serving", "listener", "control", "addr", ctl.Addr().String())

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	if cfg.RetentionDays > 0 {
		go console.retain(ctx, retentionEvery)
	}

	select {
	case s := <-sig:
		log.Info("shutting down", "event", s.String())
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	stop()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctl.Close()
	ws.Shutdown(sctx)
	is.Shutdown(sctx)
	console.wait()
	return nil
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
