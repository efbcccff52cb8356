package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"testimony/bundle"
)

// evidenceDir is the folder of a case folder where open keeps what verify
// needs of each bundle it opened: the bundle's index.json (the SHA-256 of
// each ciphertext, the proofs, the signed roots and listing) and the
// hashes and order of the items as they were read from the tar. The
// ciphertext itself is not kept: the case folder proves that the items
// open read were the ones the server signed, by their hashes.
const evidenceDir = "evidence"

// EvidenceFormat versions an evidence file.
const evidenceFormat = "testimony-evidence/v1"

// evidenceFile is evidence/<bundle day>-<hash>.json.
type evidenceFile struct {
	Format string            `json:"format"`
	Index  *bundle.Index     `json:"index"`
	Read   []bundle.ReadItem `json:"read"`
}

// keepEvidence writes the evidence of a bundle just opened; a failure is
// a warning, as the items themselves are open.
func (o *opener) keepEvidence(name string, idx *bundle.Index, read []bundle.ReadItem) {
	b, err := json.MarshalIndent(evidenceFile{Format: evidenceFormat, Index: idx, Read: read}, "", "  ")
	if err != nil {
		warnf("%s: evidence not kept: %v", name, err)
		return
	}
	sum := sha256.Sum256(b)
	file := evidenceDir + "/" + safeDay(idx.Day) + "-" + hex.EncodeToString(sum[:8]) + ".json"
	if err := o.root.Mkdir(evidenceDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		warnf("%s: evidence not kept: %v", name, err)
		return
	}
	if err := writeFile(o.root, file, b); err != nil && !errors.Is(err, fs.ErrExist) {
		warnf("%s: evidence not kept: %v", name, err)
	}
}

// safeDay is the day if it is one, for a file name.
func safeDay(d string) string {
	if len(d) == len("2006-01-02") {
		for _, c := range d {
			if (c < '0' || c > '9') && c != '-' {
				return "bundle"
			}
		}
		return d
	}
	return "bundle"
}

// verifyFolder checks the evidence a case folder keeps, one file per
// bundle opened into it; it reports whether everything held.
func verifyFolder(dir string, pub ed25519.PublicKey) bool {
	files, err := filepath.Glob(filepath.Join(dir, evidenceDir, "*.json"))
	if err != nil || len(files) == 0 {
		errorf("%s: no evidence kept (%s/ is empty: opened by an older testimony, or from items rather than bundles)", dir, evidenceDir)
		return false
	}
	sort.Strings(files)
	ok := true
	for _, f := range files {
		ev, err := readEvidenceFile(f)
		if err != nil {
			errorf("%v", err)
			ok = false
			continue
		}
		if !report(f, bundle.Check(ev.Index, ev.Read, pub)) {
			ok = false
		}
	}
	return ok
}

// readEvidenceFile reads one file of a case folder's evidence/.
func readEvidenceFile(name string) (*evidenceFile, error) {
	b, err := os.ReadFile(name)
	var ev evidenceFile
	if err == nil {
		err = json.Unmarshal(b, &ev)
	}
	if err == nil && (ev.Format != evidenceFormat || ev.Index == nil) {
		err = fmt.Errorf("not an evidence file of format %s", evidenceFormat)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return &ev, nil
}
