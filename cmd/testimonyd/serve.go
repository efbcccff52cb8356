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
	"syscall"
	"time"

	"testimony/server"
)

func init() {
	register(command{"serve", "serve the witness and investigator sites", runServe})
}

func runServe(args []string) error {
	fl := flag.NewFlagSet("serve", flag.ContinueOnError)
	dir := fl.String("data", "", "data directory (made by init)")
	waddr := fl.String("witness-addr", "127.0.0.1:8080", "witness site listen address (loopback)")
	iaddr := fl.String("investigator-addr", "127.0.0.1:8081", "investigator site listen address (loopback)")
	public := fl.Bool("allow-public-bind", false, "allow a non-loopback listen address (not for onion services)")
	level := fl.String("log-level", "info", "log level: debug, info, warn, error")
	if err := fl.Parse(args); err != nil {
		return errUsage
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return fmt.Errorf("--log-level: %v", err)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))

	db, key, err := openData(*dir, false)
	if err != nil {
		return err
	}
	defer db.Close()
	srv, err := server.New(server.Config{DataDir: *dir}, db, key, log)
	if err != nil {
		return err
	}
	wl, err := server.Listen(*waddr, *public)
	if err != nil {
		return fmt.Errorf("witness listener %s: %w", *waddr, err)
	}
	il, err := server.Listen(*iaddr, *public)
	if err != nil {
		return fmt.Errorf("investigator listener %s: %w", *iaddr, err)
	}
	ws := server.NewHTTPServer(srv.WitnessHandler())
	is := server.NewHTTPServer(srv.InvestigatorHandler())
	errc := make(chan error, 2)
	go func() { errc <- ws.Serve(wl) }()
	go func() { errc <- is.Serve(il) }()
	log.Info("serving", "listener", "witness", "addr", wl.Addr().String())
	log.Info("serving", "listener", "investigator", "addr", il.Addr().String())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		log.Info("shutting down", "event", s.String())
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws.Shutdown(ctx)
	is.Shutdown(ctx)
	return nil
}
