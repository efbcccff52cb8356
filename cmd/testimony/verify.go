package main

import (
	"bufio"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"

	"testimony/bundle"
)

const verifyUsage = `verify checks bundles (.tar from the investigator site), or case folders
written by open (from the evidence/ it keeps of each bundle), against the
server's signing key KEY ("ed25519:" and 64 hex digits, as noted at
enrolment or from testimonyd status): every item against the signed listing
and, for days the server has sealed, against its inclusion proof and the
day's signed root; the roots against each other (one per day, each naming
the one before, the audit log only growing). Each fault is named. Items of
a day not yet sealed are listed apart: download again after the day ends.
The exit status is 0 only if everything held.`

func runVerify(args []string) error {
	fs := newFlags("verify")
	keyText := fs.String("server-key", "", "the server's signing key, as noted at enrolment")
	files, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if *keyText == "" || len(files) == 0 {
		errorf("verify needs --server-key KEY and at least one bundle or case folder")
		return errUsage
	}
	pub, err := bundle.ParseKey(*keyText)
	if err != nil {
		errorf("--server-key: %v", err)
		return errUsage
	}
	failed := false
	for _, name := range files {
		if !verifyFile(name, pub) {
			failed = true
		}
	}
	if failed {
		return errFailed
	}
	return nil
}

// verifyFile checks one bundle and prints what it found; it reports
// whether everything held.
func verifyFile(name string, pub ed25519.PublicKey) bool {
	if st, err := os.Stat(name); err == nil && st.IsDir() {
		return verifyFolder(name, pub)
	}
	f, err := os.Open(name)
	if err != nil {
		errorf("%v", err)
		return false
	}
	defer f.Close()
	rep, err := verifyBundle(f, pub)
	if err != nil {
		errorf("%s: damaged or truncated bundle: %v", name, err)
		return false
	}
	return report(name, rep)
}

// report prints what a check found and reports whether everything held.
func report(name string, rep *bundle.Report) bool {
	for _, flt := range rep.Faults {
		printf("%s: FAULT: %s\n", name, flt)
	}
	for _, id := range rep.Unsealed {
		printf("%s: item %s: not yet sealed: download again after the day ends\n", name, id)
	}
	last := rep.Last
	if last == "" {
		last = "none"
	}
	if rep.OK() {
		printf("%s: OK: %d items proved against signed day roots (last sealed day %s), %d not yet sealed\n", name, rep.Proved, last, len(rep.Unsealed))
		return true
	}
	printf("%s: FAILED: %d faults; %d items proved (last sealed day %s)\n", name, len(rep.Faults), rep.Proved, last)
	return false
}

// verifyBundle reads a bundle through and checks it.
func verifyBundle(r io.Reader, pub ed25519.PublicKey) (*bundle.Report, error) {
	br := bundle.NewReader(bufio.NewReaderSize(r, 256<<10))
	for {
		_, _, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	idx := br.Index()
	if idx == nil {
		return nil, fmt.Errorf("no index.json")
	}
	return bundle.Check(idx, br.Read(), pub), nil
}
