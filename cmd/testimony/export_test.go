package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"testimony/internal/testutil"
)

// TestExportPackage: testimony export writes an evidence package that
// checks with stock tools alone, as its statement.html says: sha256sum -c
// SHA256SUMS; the stock age CLI decrypts item.age to the originals byte
// for byte (manifest.json and the photo, EXIF marker and all); openssl ts
// -verify accepts the token against the TSA's CA. The export is recorded
// in the custody log the package carries; verify checks the package
// whole, and a changed original, a file added to the package, or an entry
// removed from its custody log are each named.
func TestExportPackage(t *testing.T) {
	setCustodyDay(t, "2026-12-01")
	f := newEvidenceFixture(t)
	a := newTestTSA(t)
	stampCaseFolder(t, f, a)
	pkg := filepath.Join(f.dir, "package")
	if code, out := runCaptured("export", "-i", f.identity, "-o", pkg, f.cases, f.sealedID[:8], f.bundle); code != 0 {
		t.Fatalf("export: exit %d:\n%s", code, out)
	}
	for _, tool := range []string{"sha256sum", "tar", "cmp"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (coreutils, tar, diffutils)", tool)
		}
	}
	if out, err := runStockTool(pkg, "sha256sum", "-c", "--strict", "SHA256SUMS"); err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, out)
	}
	ageBin := testutil.Age(t)
	plain := filepath.Join(t.TempDir(), "plain.tar")
	if out, err := runStockTool(pkg, ageBin, "-d", "-i", f.identity, "-o", plain, "item.age"); err != nil {
		t.Fatalf("age -d: %v\n%s", err, out)
	}
	// The pipeline statement.html gives, as it stands.
	pipe := fmt.Sprintf("%s -d -i %s item.age | tar -xO manifest.json | cmp - originals/manifest.json", ageBin, f.identity)
	if out, err := runStockTool(pkg, "sh", "-c", pipe); err != nil {
		t.Errorf("%s: %v\n%s", pipe, err, out)
	}
	x := t.TempDir()
	if out, err := runStockTool(x, "tar", "-xf", plain); err != nil {
		t.Fatalf("tar -x: %v\n%s", err, out)
	}
	for _, p := range []string{"manifest.json", "attachments/01-photo_1.jpg"} {
		want, err1 := os.ReadFile(filepath.Join(x, p))
		got, err2 := os.ReadFile(filepath.Join(pkg, "originals", p))
		if err1 != nil || err2 != nil || !bytes.Equal(want, got) {
			t.Errorf("originals/%s is not the sealed file byte for byte (%v, %v)", p, err1, err2)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(pkg, "originals/attachments/01-photo_1.jpg")); !bytes.Equal(got, f.photo) {
		t.Error("the photo in originals/ is not the witness's bytes")
	}
	tokens, _ := filepath.Glob(filepath.Join(pkg, "timestamps", "*.tsr"))
	if len(tokens) != 1 {
		t.Fatalf("tokens in the package: %v", tokens)
	}
	tok, _ := filepath.Rel(pkg, tokens[0])
	if out, err := runStockTool(pkg, "openssl", "ts", "-verify", "-data", filepath.Join("timestamps", rootsOf(tok)), "-in", tok, "-CAfile", a.ca); err != nil || !strings.Contains(out, "Verification: OK") {
		t.Errorf("openssl ts -verify: %v\n%s", err, out)
	}
	page, _ := os.ReadFile(filepath.Join(pkg, "statement.html"))
	for _, want := range []string{"sha256sum -c SHA256SUMS", "age -d -i KEY.txt item.age", "openssl ts -verify -data timestamps/", f.sealedID} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("statement.html lacks %q", want)
		}
	}
	if bytes.Contains(bytes.ToLower(page), []byte("<script")) || bytes.Contains(page, []byte("http://")) || bytes.Contains(page, []byte("https://")) {
		t.Error("statement.html holds a script or loads from elsewhere")
	}
	log, _ := os.ReadFile(filepath.Join(pkg, custodyName))
	if !bytes.Contains(log, []byte(`"action":"export"`)) || bytes.Count(log, []byte("\n")) != 2 {
		t.Errorf("custody log of the package:\n%s", log)
	}
	code, out := runCaptured("verify", "--server-key", f.serverPub, "--tsa-ca", a.ca, pkg)
	if code != 0 || !strings.Contains(out, "OK: evidence package of item "+f.sealedID) || !strings.Contains(out, "OK: 1 items proved") || !strings.Contains(out, "existed by") {
		t.Fatalf("verify of the package: exit %d:\n%s", code, out)
	}

	tamper := func(name string, edit func(dir string), want string) {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "p")
			if out, err := exec.Command("cp", "-a", pkg, dir).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v %s", err, out)
			}
			edit(dir)
			code, out := runCaptured("verify", "--server-key", f.serverPub, "--tsa-ca", a.ca, dir)
			if code != 1 || !strings.Contains(out, "FAULT: "+want) {
				t.Errorf("exit %d, want 1 naming %q:\n%s", code, want, out)
			}
		})
	}
	tamper("original altered", func(dir string) {
		p := filepath.Join(dir, "originals/attachments/01-photo_1.jpg")
		b, _ := os.ReadFile(p)
		b[10] ^= 1
		os.WriteFile(p, b, 0o600)
	}, pkgAltered)
	tamper("statement altered", func(dir string) {
		p := filepath.Join(dir, "statement.html")
		b, _ := os.ReadFile(p)
		os.WriteFile(p, bytes.Replace(b, []byte("sha256sum -c"), []byte("sha256sum -x"), 1), 0o600)
	}, pkgAltered)
	tamper("file added", func(dir string) {
		os.WriteFile(filepath.Join(dir, "originals/attachments/02-extra.jpg"), []byte("x"), 0o600)
	}, pkgAdded)
	tamper("custody entry removed", func(dir string) {
		p := filepath.Join(dir, custodyName)
		b, _ := os.ReadFile(p)
		_, rest, _ := bytes.Cut(b, []byte("\n"))
		os.WriteFile(p, rest, 0o600)
		// SHA256SUMS updated too: the custody chain must still name it.
		sums, _ := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
			if strings.HasSuffix(l, "  "+custodyName) {
				l = sha256hexOf(rest) + "  " + custodyName
			}
			out = append(out, l)
		}
		os.WriteFile(filepath.Join(dir, "SHA256SUMS"), []byte(strings.Join(out, "\n")+"\n"), 0o600)
	}, custodyRemoved)
	tamper("ciphertext swapped", func(dir string) {
		p := filepath.Join(dir, "item.age")
		b, _ := os.ReadFile(p)
		b[len(b)-5] ^= 1
		os.WriteFile(p, b, 0o600)
	}, "altered item")

	// No package over an existing folder, none without the signing key.
	if code, _ := runCaptured("export", "-i", f.identity, "-o", pkg, f.cases, f.sealedID, f.bundle); code == 0 {
		t.Error("export over an existing folder succeeded")
	}
	os.Remove(signKeyPath(f.identity))
	if code, _ := runCaptured("export", "-i", f.identity, "-o", filepath.Join(f.dir, "p2"), f.cases, f.sealedID, f.bundle); code == 0 {
		t.Error("export without a signing key succeeded")
	}
	if _, err := os.Stat(filepath.Join(f.dir, "p2")); err == nil {
		t.Error("a failed export left a folder")
	}
}

func sha256hexOf(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
