package main

import (
	"bytes"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"

	"testimony/crypto"
	"testimony/internal/atomicfile"
	"testimony/store"
)

// configFile is the commented configuration init writes into the data
// directory.
const configFile = "testimonyd.toml"

// sampleConfig is deploy/testimonyd.toml (a test keeps the copy equal).
//
//go:embed config_sample.toml
var sampleConfig string

const initUsage = `Usage: testimonyd init --data DIR

Creates the data directory DIR (mode 0700) with an empty database, a new
server key (server.key, mode 0600), a signing key for the day roots
(sign.key, mode 0600) and a commented configuration file
(testimonyd.toml, the sample of deploy/ with data_dir set to DIR). Refuses to
overwrite any of them. Run it as the user the service runs as, e.g.
    sudo -u testimony testimonyd init --data /var/lib/testimony`

func runInit(args []string) error {
	fl := flag.NewFlagSet("init", flag.ContinueOnError)
	fl.Usage = func() { fmt.Fprintln(os.Stderr, initUsage); fl.PrintDefaults() }
	dir := fl.String("data", "", "data directory to create")
	if err := fl.Parse(args); err != nil {
		return errUsage
	}
	if *dir == "" {
		return errors.New("init: pass --data DIR")
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	for _, f := range []string{dbFile, keyFile, signKeyFile, configFile} {
		if _, err := os.Stat(filepath.Join(abs, f)); err == nil {
			return fmt.Errorf("init: %s already exists; refusing to overwrite an existing installation", filepath.Join(abs, f))
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	cfgText, err := initialConfig(abs)
	if err != nil {
		return err
	}
	_, statErr := os.Stat(abs)
	existed := statErr == nil
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(abs, 0o700); err != nil {
		return err
	}
	if _, err := crypto.CreateServerKey(filepath.Join(abs, keyFile)); err != nil {
		return err
	}
	if _, err := crypto.CreateSigningKey(filepath.Join(abs, signKeyFile)); err != nil {
		return err
	}
	db, err := store.Open(filepath.Join(abs, dbFile), store.Options{})
	if err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	cf, err := os.OpenFile(filepath.Join(abs, configFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := cf.WriteString(cfgText); err != nil {
		cf.Close()
		return err
	}
	if err := cf.Sync(); err != nil {
		cf.Close()
		return err
	}
	if err := cf.Close(); err != nil {
		return err
	}
	if existed {
		// Run as root on a directory made for the service's user (by the
		// Debian package): the files are that user's.
		for _, f := range []string{keyFile, signKeyFile, dbFile, configFile} {
			if err := matchOwner(filepath.Join(abs, f), abs); err != nil {
				return err
			}
		}
	}
	atomicfile.SyncDir(abs)
	outf("created %s: %s, %s, %s, %s\n", abs, dbFile, keyFile, signKeyFile, configFile)
	outf("server signing key (investigators note it at enrolment): %s\n", publicSigningKey(abs))
	outf("next: add an investigator (testimonyd investigator add), then\n    testimonyd serve --config %s\n", filepath.Join(abs, configFile))
	return nil
}

// initialConfig is the sample configuration with data_dir set to dir.
func initialConfig(dir string) (string, error) {
	const line = `data_dir = "/var/lib/testimony"` + "\n"
	if !strings.Contains(sampleConfig, line) {
		return "", errors.New("init: the embedded sample configuration lacks its data_dir line")
	}
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(map[string]string{"data_dir": dir}); err != nil {
		return "", err
	}
	return strings.Replace(sampleConfig, line, b.String(), 1), nil
}
