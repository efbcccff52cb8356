package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"testimony/bundle"
)

// Independent timestamps (issue 21 §3). The day roots are written as a
// small file (roots export), which the investigator takes to an online
// machine and has stamped by an RFC 3161 timestamping authority of their
// choice with openssl and curl (docs/evidence.md); the TSA sees only the
// SHA-256 of the file. The reply (.tsr) is imported into the case folder
// with the roots file it stamps (roots import), and verify checks it
// offline: the token's signature, its certificate chain to a TSA CA the
// investigator gives (--tsa-ca), and that its message imprint is the hash
// of the roots file. So "these roots existed by time T" rests on a third
// party, not on the server.
//
// rfc3161.go reads the token and checks its CMS signature; crypto/x509
// checks the certificate chain.

// timestampsDir is where roots import keeps the pairs of roots file and
// token, inside the case folder's evidence/.
const timestampsDir = evidenceDir + "/timestamps"

// maxTimestampFile bounds a roots file or a token read.
const maxTimestampFile = 16 << 20

// Timestamp fault kinds, as verify names them.
const (
	tsDamaged   = "damaged timestamp token"
	tsImprint   = "timestamp of other data"
	tsUntrusted = "timestamp not by a trusted TSA"
	tsRoots     = "timestamped roots do not hold"
)

const rootsUsage = `roots export writes the signed day roots of a case folder (or a bundle)
as a small file (testimony-roots/v1), to be timestamped elsewhere: see
docs/evidence.md. roots import keeps a timestamping authority's reply
(.tsr, RFC 3161) for such a file in the case folder, beside the file;
verify --tsa-ca then checks it offline.`

func runRoots(args []string) error {
	if len(args) == 0 {
		errorf("roots needs a command: export or import")
		return errUsage
	}
	switch args[0] {
	case "export":
		return runRootsExport(args[1:])
	case "import":
		return runRootsImport(args[1:])
	}
	errorf("unknown roots command %q: export or import", args[0])
	return errUsage
}

func runRootsExport(args []string) error {
	fl := newFlags("roots export")
	out := fl.String("o", "", "write the roots to `FILE`")
	pos, err := parseInterleaved(fl, args)
	if err != nil {
		return err
	}
	if *out == "" || len(pos) != 1 {
		errorf("roots export needs one case folder or bundle and -o FILE")
		return errUsage
	}
	rf, err := collectRoots(pos[0])
	if err != nil {
		return err
	}
	b, err := marshalRoots(rf)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err1 := f.Close(); err == nil {
		err = err1
	}
	if err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	infof("%d day roots (%s to %s) written to %s; its SHA-256, all a timestamping authority sees: %x",
		len(rf.Roots), rf.Roots[0].Day, rf.Roots[len(rf.Roots)-1].Day, *out, sum)
	return nil
}

func marshalRoots(rf *bundle.RootsFile) ([]byte, error) {
	b, err := json.MarshalIndent(rf, "", "  ")
	return append(b, '\n'), err
}

// collectRoots gathers the roots a bundle carries, or those of every
// bundle opened into a case folder, one per day in day order. Two
// different roots for one day, or roots under two keys, are refused:
// verify names which.
func collectRoots(name string) (*bundle.RootsFile, error) {
	var idxs []*bundle.Index
	if st, err := os.Stat(name); err == nil && st.IsDir() {
		files, _ := filepath.Glob(filepath.Join(name, evidenceDir, "*.json"))
		for _, f := range files {
			ev, err := readEvidenceFile(f)
			if err != nil {
				return nil, err
			}
			idxs = append(idxs, ev.Index)
		}
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		idx, err := readIndex(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		idxs = append(idxs, idx)
	}
	rf := &bundle.RootsFile{Format: bundle.RootsFormat}
	byDay := map[string]bundle.DayRoot{}
	for _, idx := range idxs {
		if idx.Listing != nil {
			if rf.Key != "" && rf.Key != idx.Listing.Key {
				return nil, fmt.Errorf("%s holds bundles signed by two keys (%s, %s): run testimony verify", name, rf.Key, idx.Listing.Key)
			}
			rf.Key = idx.Listing.Key
		}
		for _, r := range idx.Roots {
			if old, ok := byDay[r.Day]; ok && old != r {
				return nil, fmt.Errorf("%s holds two different roots for %s: run testimony verify", name, r.Day)
			}
			byDay[r.Day] = r
		}
	}
	if len(byDay) == 0 {
		return nil, fmt.Errorf("%s holds no signed day roots (no bundle opened into it, or none of a sealed day)", name)
	}
	for _, r := range byDay {
		rf.Roots = append(rf.Roots, r)
	}
	sort.Slice(rf.Roots, func(i, j int) bool { return rf.Roots[i].Day < rf.Roots[j].Day })
	return rf, nil
}

func runRootsImport(args []string) error {
	fl := newFlags("roots import")
	pos, err := parseInterleaved(fl, args)
	if err != nil {
		return err
	}
	if len(pos) != 3 {
		errorf("roots import needs a case folder, the roots file and the token: DIR ROOTS TOKEN.tsr")
		return errUsage
	}
	dir, rootsName, tsrName := pos[0], pos[1], pos[2]
	roots, err := readBounded(rootsName)
	if err != nil {
		return err
	}
	if _, err := parseRootsFile(roots); err != nil {
		return fmt.Errorf("%s: %v", rootsName, err)
	}
	tsr, err := readBounded(tsrName)
	if err != nil {
		return err
	}
	// Checked here as far as it can be without the TSA's CA: the token is
	// whole and stamps this file. verify checks who signed it.
	ts, err := parseToken(tsr)
	if err != nil {
		return fmt.Errorf("%s: %v", tsrName, err)
	}
	if err := checkImprint(ts, roots); err != nil {
		return fmt.Errorf("%s does not stamp %s: %v", tsrName, rootsName, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	if err := root.MkdirAll(timestampsDir, 0o700); err != nil {
		return err
	}
	rs, ts8 := sha256.Sum256(roots), sha256.Sum256(tsr)
	base := timestampsDir + "/" + hex.EncodeToString(rs[:8])
	if err := writeFile(root, base+".roots.json", roots); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if err := writeFile(root, base+"-"+hex.EncodeToString(ts8[:8])+".tsr", tsr); err != nil {
		if errors.Is(err, fs.ErrExist) {
			infof("%s is already in %s", tsrName, dir)
			return nil
		}
		return err
	}
	infof("timestamp of %s imported into %s (TSA time %s); testimony verify --tsa-ca FILE checks it",
		rootsName, filepath.Join(dir, timestampsDir), ts.Time.UTC().Format(time.RFC3339))
	return nil
}

func readBounded(name string) ([]byte, error) {
	st, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxTimestampFile {
		return nil, fmt.Errorf("%s: %d bytes, too big for a roots file or a token", name, st.Size())
	}
	return os.ReadFile(name)
}

func parseRootsFile(b []byte) (*bundle.RootsFile, error) {
	var rf bundle.RootsFile
	if err := json.Unmarshal(b, &rf); err != nil {
		return nil, fmt.Errorf("not a roots file: %v", err)
	}
	if rf.Format != bundle.RootsFormat || len(rf.Roots) == 0 {
		return nil, fmt.Errorf("not a roots file of format %s with roots", bundle.RootsFormat)
	}
	return &rf, nil
}

// loadCAs reads PEM certificates, the TSA CAs an investigator trusts.
func loadCAs(files []string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	for _, f := range files {
		b, err := readBounded(f)
		if err != nil {
			return nil, err
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("%s: no PEM certificate in it", f)
		}
	}
	return pool, nil
}

// tsCheck is what one token proved.
type tsCheck struct {
	Time  time.Time // the TSA's time
	TSA   string    // the signer's subject
	First string    // the first and last day of the roots it stamps
	Last  string
}

// checkTimestamp checks one token against the roots file it stamps, the
// CAs and the server's key; the faults it returns are named.
func checkTimestamp(roots, tsr []byte, pool *x509.CertPool, pub ed25519.PublicKey) (*tsCheck, []bundle.Fault) {
	fault := func(kind string, err error) []bundle.Fault { return []bundle.Fault{{Kind: kind, Detail: err.Error()}} }
	ts, err := parseToken(tsr)
	if err != nil {
		return nil, fault(tsDamaged, err)
	}
	if err := checkImprint(ts, roots); err != nil {
		return nil, fault(tsImprint, fmt.Errorf("the token is not of its roots file: %v", err))
	}
	if err := checkTSA(ts, pool); err != nil {
		return nil, fault(tsUntrusted, err)
	}
	rf, err := parseRootsFile(roots)
	if err != nil {
		return nil, fault(tsRoots, err)
	}
	var faults []bundle.Fault
	// Days missing between the roots are no fault here: a case folder's
	// bundles may carry roots of days far apart, and each root stamped is
	// signed on its own. The chain where it runs must hold.
	if rep := bundle.CheckRoots(rf.Roots, pub); !rep.OK() {
		for _, f := range rep.Faults {
			if f.Kind == bundle.FaultGap {
				continue
			}
			faults = append(faults, bundle.Fault{Kind: tsRoots, Detail: f.String()})
		}
	}
	return &tsCheck{Time: ts.Time, TSA: ts.Signer.Subject.String(),
		First: rf.Roots[0].Day, Last: rf.Roots[len(rf.Roots)-1].Day}, faults
}

// timestampPair is a token and the roots file it stamps, as roots import
// keeps them: NAME.roots.json and NAME-TOKEN.tsr.
type timestampPair struct{ roots, token string }

func timestampPairs(dir string) []timestampPair {
	tokens, _ := filepath.Glob(filepath.Join(dir, "*.tsr"))
	sort.Strings(tokens)
	var out []timestampPair
	for _, t := range tokens {
		out = append(out, timestampPair{roots: filepath.Join(dir, rootsOf(t)), token: t})
	}
	return out
}

// verifyTimestamps checks the tokens kept in dir (a case folder's
// evidence/timestamps, or an evidence package's timestamps/) and prints
// what each proves; it reports whether all held. Without CAs the tokens
// are listed as not checked, which is no fault.
func verifyTimestamps(dir string, cas []string, pub ed25519.PublicKey) bool {
	pairs := timestampPairs(dir)
	if len(pairs) == 0 {
		return true
	}
	if len(cas) == 0 {
		printf("%s: %d timestamp tokens not checked: give --tsa-ca FILE, the certificate of the TSA's CA\n", dir, len(pairs))
		return true
	}
	pool, err := loadCAs(cas)
	if err != nil {
		errorf("--tsa-ca %v", err)
		return false
	}
	ok := true
	for _, p := range pairs {
		roots, err := readBounded(p.roots)
		if err != nil {
			printf("%s: FAULT: %s: the roots file it stamps is missing: %v\n", p.token, tsImprint, err)
			ok = false
			continue
		}
		tsr, err := readBounded(p.token)
		if err != nil {
			errorf("%v", err)
			ok = false
			continue
		}
		c, faults := checkTimestamp(roots, tsr, pool, pub)
		for _, f := range faults {
			printf("%s: FAULT: %s\n", p.token, f)
			ok = false
		}
		if c != nil && len(faults) == 0 {
			printf("%s: OK: the day roots %s to %s existed by %s, signed by the TSA %s\n", p.token, c.First, c.Last, c.Time.Format(time.RFC3339), c.TSA)
		}
	}
	return ok
}
