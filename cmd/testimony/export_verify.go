package main

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"testimony/bundle"
	"testimony/crypto"
)

// Checking an evidence package (export.go): what verify does with a
// folder that testimony export wrote.

// isPackage tells an evidence package from a case folder.
func isPackage(dir string) bool {
	for _, f := range []string{"SHA256SUMS", "evidence.json", "item.age"} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err != nil {
			return false
		}
	}
	return true
}

// Package fault kinds, as verify names them.
const (
	pkgMissing = "file missing"
	pkgAltered = "file altered"
	pkgAdded   = "file added"
)

// verifyPackage checks an evidence package: every file against
// SHA256SUMS (and none unlisted), the originals against the manifest,
// the ciphertext against its proof and the signed roots, the custody log
// and any timestamp tokens. It reports whether everything held.
func verifyPackage(dir string, pub ed25519.PublicKey, opt *verifyOptions) bool {
	ok := true
	fault := func(kind, format string, a ...any) {
		printf("%s: FAULT: %s: %s\n", dir, kind, fmt.Sprintf(format, a...))
		ok = false
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		errorf("%v", err)
		return false
	}
	defer root.Close()
	sums, err := fs.ReadFile(root.FS(), "SHA256SUMS")
	if err != nil {
		errorf("%v", err)
		return false
	}
	listed := map[string]bool{"SHA256SUMS": true}
	for i, line := range strings.Split(strings.TrimRight(string(sums), "\n"), "\n") {
		sum, name, found := strings.Cut(line, "  ")
		if !found {
			fault(pkgAltered, "SHA256SUMS line %d is not \"HASH  FILE\"", i+1)
			continue
		}
		listed[name] = true
		got, err := fileSHA256(root, name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			fault(pkgMissing, "%s is listed in SHA256SUMS but not in the package", name)
		case err != nil:
			fault(pkgMissing, "%s: %v", name, err)
		case got != sum:
			fault(pkgAltered, "%s has SHA-256 %s, SHA256SUMS says %s", name, got, sum)
		}
	}
	fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !listed[p] {
			fault(pkgAdded, "%s is in the package but not in SHA256SUMS", p)
		}
		return nil
	})
	var ev packageEvidence
	b, err := fs.ReadFile(root.FS(), "evidence.json")
	if err == nil {
		err = json.Unmarshal(b, &ev)
	}
	if err != nil || ev.Format != packageFormat {
		fault(pkgAltered, "evidence.json is not of format %s", packageFormat)
		return false
	}
	if ev.ServerKey != bundle.FormatKey(pub) {
		fault(bundle.FaultSignature, "the package names the server key %s, not the one given", ev.ServerKey)
	}
	sum, err := fileSHA256(root, "item.age")
	if err != nil {
		fault(pkgMissing, "item.age: %v", err)
		return false
	}
	rep := bundle.CheckItem(ev.Item, sum, ev.Roots, pub)
	if !report(filepath.Join(dir, "item.age"), rep) {
		ok = false
	}
	if m, err := fs.ReadFile(root.FS(), "originals/"+crypto.ManifestName); err != nil {
		fault(pkgMissing, "originals/%s: %v", crypto.ManifestName, err)
	} else {
		ok = checkOriginals(dir, root, m) && ok
	}
	ok = verifyCustody(dir, opt.custodyKeys) && ok
	ok = verifyTimestamps(filepath.Join(dir, "timestamps"), opt.tsaCAs, pub) && ok
	if ok {
		printf("%s: OK: evidence package of item %s\n", dir, ev.Item.ID)
	} else {
		printf("%s: FAILED\n", dir)
	}
	return ok
}

// checkOriginals checks the attachments against the manifest's sizes
// and hashes (the manifest against the ciphertext needs the key: the
// statement gives the age command).
func checkOriginals(dir string, root *os.Root, manifest []byte) bool {
	er, err := crypto.ReadEnvelope(manifestTar(manifest))
	if err != nil {
		printf("%s: FAULT: %s: originals/manifest.json: %v\n", dir, pkgAltered, err)
		return false
	}
	ok := true
	for i, a := range er.Manifest().Attachments {
		name := "originals/attachments/" + attachmentFile(i, a)
		got, err := fileSHA256(root, name)
		switch {
		case err != nil:
			printf("%s: FAULT: %s: %s: %v\n", dir, pkgMissing, name, err)
			ok = false
		case got != a.SHA256:
			printf("%s: FAULT: %s: %s has SHA-256 %s, the manifest says %s\n", dir, pkgAltered, name, got, a.SHA256)
			ok = false
		}
	}
	return ok
}

// manifestTar is a tar holding only manifest.json, for ReadEnvelope to
// parse and validate it as it parses every manifest.
func manifestTar(m []byte) io.Reader {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	tw.WriteHeader(&tar.Header{Name: crypto.ManifestName, Mode: 0o600, Size: int64(len(m)), Typeflag: tar.TypeReg})
	tw.Write(m)
	tw.Close()
	return &b
}

func fileSHA256(root *os.Root, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", fmt.Errorf("%q is not a path inside the package", name)
	}
	f, err := root.Open(path.Clean(name))
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
