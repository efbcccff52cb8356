package main

import (
	"bufio"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

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
A case folder's custody.log is checked too (each entry signed, numbered
and chained: one removed, altered or moved is named; --investigator-key
KEY accepts only entries signed by such keys), and with --tsa-ca FILE the
timestamp tokens imported into it (roots import). An evidence package
(export) is checked whole: SHA256SUMS, the originals against the
manifest, the ciphertext against its proof and roots, the custody log
and the tokens.
The exit status is 0 only if everything held.`

func runVerify(args []string) error {
	fs := newFlags("verify")
	keyText := fs.String("server-key", "", "the server's signing key, as noted at enrolment")
	var opt verifyOptions
	fs.Var(&opt.tsaCAs, "tsa-ca", "check timestamp tokens against the TSA CA certificate in `FILE` (PEM); repeatable")
	fs.Var(&opt.custodyKeys, "investigator-key", "accept custody entries signed by `KEY` only (as keygen printed it); repeatable")
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
	for i, k := range opt.custodyKeys {
		p, err := bundle.ParseKey(k)
		if err != nil {
			errorf("--investigator-key: %v", err)
			return errUsage
		}
		opt.custodyKeys[i] = bundle.FormatKey(p)
	}
	failed := false
	for _, name := range files {
		if !verifyFile(name, pub, &opt) {
			failed = true
		}
	}
	if failed {
		return errFailed
	}
	return nil
}

// verifyOptions are verify's checks beyond the server's key.
type verifyOptions struct {
	tsaCAs      multiFlag // PEM files of the TSA CAs trusted
	custodyKeys multiFlag // the investigators' keys custody entries may be signed by; any if none
}

// verifyFile checks one bundle and prints what it found; it reports
// whether everything held.
func verifyFile(name string, pub ed25519.PublicKey, opt *verifyOptions) bool {
	if st, err := os.Stat(name); err == nil && st.IsDir() {
		if isPackage(name) { // export.go
			return verifyPackage(name, pub, opt)
		}
		ok := verifyFolder(name, pub)
		ok = verifyCustody(name, opt.custodyKeys) && ok                                  // custody.go
		ok = verifyTimestamps(filepath.Join(name, timestampsDir), opt.tsaCAs, pub) && ok // timestamp.go
		return ok
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
