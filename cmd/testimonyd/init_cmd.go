package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"testimony/crypto"
	"testimony/store"
)

func init() {
	register(command{"init", "create a data directory: database, server key", runInit})
}

func runInit(args []string) error {
	fl := flag.NewFlagSet("init", flag.ContinueOnError)
	dir := fl.String("data", "", "data directory to create")
	if err := fl.Parse(args); err != nil {
		return errUsage
	}
	if *dir == "" {
		return errors.New("init: pass --data DIR")
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(*dir, 0o700); err != nil {
		return err
	}
	for _, f := range []string{dbFile, keyFile} {
		if _, err := os.Stat(filepath.Join(*dir, f)); err == nil {
			return fmt.Errorf("init: %s already exists; refusing to overwrite an existing installation", filepath.Join(*dir, f))
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if _, err := crypto.CreateServerKey(filepath.Join(*dir, keyFile)); err != nil {
		return err
	}
	db, err := store.Open(filepath.Join(*dir, dbFile), store.Options{})
	if err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	fmt.Printf("created %s\n", *dir)
	return nil
}
