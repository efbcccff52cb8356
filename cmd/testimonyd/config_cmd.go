package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"testimony/server/witness"
)

const configUsage = `Usage: testimonyd config check [--config FILE] [setting flags]

Reads the configuration file (TOML, documented in deploy/testimonyd.toml),
applies the flags over it, checks every setting and prints the effective
configuration with secrets shown as <redacted>. Exits 1 if anything is wrong,
naming each problem.`

func runConfig(args []string) error {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(os.Stderr, configUsage)
		return errUsage
	}
	fl := flag.NewFlagSet("config check", flag.ContinueOnError)
	fl.Usage = func() { fmt.Fprintln(os.Stderr, configUsage); fl.PrintDefaults() }
	sf := addSettingFlags(fl)
	if err := fl.Parse(args[1:]); err != nil {
		return errUsage
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("config check: unexpected argument %q", fl.Arg(0))
	}
	s, err := sf.load()
	if err != nil {
		var joined interface{ Unwrap() []error }
		if errors.As(err, &joined) {
			for _, e := range joined.Unwrap() {
				errorf("%v", e)
			}
			return fmt.Errorf("config check: %d problems", len(joined.Unwrap()))
		}
		return err
	}
	warnDataDir(s.DataDir)
	for _, w := range s.warnings() {
		warnf("%s", w)
	}
	if err := witness.Check(s.DataDir); err != nil {
		errorf("%v", err)
		return errors.New("config check: 1 problem")
	}
	outf("# the configuration is valid; effective settings:\n")
	return s.writeRedacted(os.Stdout)
}

// warnDataDir says what would stop the server from starting on dir, as
// warnings: config check may run before init.
func warnDataDir(dir string) {
	fi, err := os.Stat(dir)
	switch {
	case err != nil:
		warnf("data_dir %s: %v (run \"testimonyd init --data %s\")", dir, err, dir)
		return
	case !fi.IsDir():
		warnf("data_dir %s is not a directory", dir)
		return
	case fi.Mode().Perm()&0o077 != 0:
		warnf("data_dir %s has mode %v; make it 0700", dir, fi.Mode().Perm())
	}
	for _, f := range []string{dbFile, keyFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			warnf("data_dir %s has no %s (run \"testimonyd init --data %s\")", dir, f, dir)
		}
	}
}
