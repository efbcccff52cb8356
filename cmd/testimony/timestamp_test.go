package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"testimony/bundle"
)

// testTSA is a throwaway timestamping authority made with openssl: a CA,
// a TSA certificate it issued (extendedKeyUsage critical timeStamping),
// and the config for openssl ts -reply. other is a CA that issued
// nothing here.
type testTSA struct {
	dir, ca, other, config string
}

func needOpenSSL(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl is needed (apt-get install openssl)")
		}
		t.Skip("no openssl")
	}
}

func openssl(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("openssl", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newTestTSA(t *testing.T) *testTSA {
	t.Helper()
	needOpenSSL(t)
	d := t.TempDir()
	a := &testTSA{dir: d, ca: filepath.Join(d, "ca.pem"), other: filepath.Join(d, "other.pem"), config: filepath.Join(d, "tsa.cnf")}
	for _, ca := range []string{"ca", "other"} {
		openssl(t, d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca+".key", "-out", ca+".pem",
			"-subj", "/CN=Test TSA CA "+ca, "-days", "30",
			"-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	}
	// The TSA's own key is ECDSA, the CA's RSA: both signature paths.
	openssl(t, d, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr", "-subj", "/CN=Test TSA")
	os.WriteFile(filepath.Join(d, "tsa.ext"), []byte("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n"), 0o600)
	openssl(t, d, "x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "tsa.pem", "-days", "30", "-extfile", "tsa.ext")
	cnf := `[ tsa ]
default_tsa = tsa1
[ tsa1 ]
dir = ` + d + `
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/ca.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = sha256
`
	os.WriteFile(a.config, []byte(cnf), 0o600)
	os.WriteFile(filepath.Join(d, "serial"), []byte("01\n"), 0o600)
	return a
}

// stamp has the TSA stamp file with the commands of docs/evidence.md
// (the TSA answering with openssl ts -reply instead of over HTTP), and
// returns the reply.
func (a *testTSA) stamp(t *testing.T, file string) string {
	t.Helper()
	q := filepath.Join(t.TempDir(), "q.tsq")
	openssl(t, a.dir, "ts", "-query", "-data", file, "-sha256", "-cert", "-out", q)
	r := strings.TrimSuffix(q, ".tsq") + ".tsr"
	openssl(t, a.dir, "ts", "-reply", "-config", a.config, "-queryfile", q, "-out", r)
	return r
}

// stampCaseFolder exports the case folder's roots, has them stamped and
// imports the token, as an investigator does.
func stampCaseFolder(t *testing.T, f *evidenceFixture, a *testTSA) {
	t.Helper()
	roots := filepath.Join(f.dir, "roots.json")
	if code, out := runCaptured("roots", "export", f.cases, "-o", roots); code != 0 {
		t.Fatalf("roots export: exit %d:\n%s", code, out)
	}
	tsr := a.stamp(t, roots)
	if code, out := runCaptured("roots", "import", f.cases, roots, tsr); code != 0 {
		t.Fatalf("roots import: exit %d:\n%s", code, out)
	}
}

// TestTimestamps: roots exported from a case folder, stamped by a TSA
// made with openssl, imported, and checked offline by verify against the
// TSA's CA, which prints the TSA's time; a token with a flipped byte, a
// roots file that is not the one stamped, and another CA are each
// refused and named. roots import refuses a token of another file.
func TestTimestamps(t *testing.T) {
	f := newEvidenceFixture(t)
	a := newTestTSA(t)
	stampCaseFolder(t, f, a)
	code, out := runCaptured("verify", "--server-key", f.serverPub, "--tsa-ca", a.ca, f.cases)
	if code != 0 || !strings.Contains(out, "OK: the day roots 2026-11-27 to 2026-11-27 existed by ") || !strings.Contains(out, "CN=Test TSA") {
		t.Fatalf("verify: exit %d:\n%s", code, out)
	}
	if code, out := runCaptured("verify", "--server-key", f.serverPub, f.cases); code != 0 || !strings.Contains(out, "1 timestamp tokens not checked") {
		t.Errorf("verify without --tsa-ca: exit %d:\n%s", code, out)
	}
	if code, out := runCaptured("verify", "--server-key", f.serverPub, "--tsa-ca", a.other, f.cases); code != 1 || !strings.Contains(out, "FAULT: "+tsUntrusted) {
		t.Errorf("another CA: exit %d:\n%s", code, out)
	}
	// The token stamps the bytes of the roots file, so the file is kept
	// beside it: changing it is named.
	ts := filepath.Join(f.cases, timestampsDir)
	tokens, _ := filepath.Glob(filepath.Join(ts, "*.tsr"))
	rootsFiles, _ := filepath.Glob(filepath.Join(ts, "*.roots.json"))
	if len(tokens) != 1 || len(rootsFiles) != 1 {
		t.Fatalf("kept: %v %v", tokens, rootsFiles)
	}
	good, _ := os.ReadFile(rootsFiles[0])
	os.WriteFile(rootsFiles[0], append(good, ' '), 0o600)
	if code, out := runCaptured("verify", "--server-key", f.serverPub, "--tsa-ca", a.ca, f.cases); code != 1 || !strings.Contains(out, "FAULT: "+tsImprint) {
		t.Errorf("other roots file: exit %d:\n%s", code, out)
	}
	os.WriteFile(rootsFiles[0], good, 0o600)
	tok, _ := os.ReadFile(tokens[0])
	// A byte of the imprint (in the TSTInfo, which the signature covers
	// by its digest), of the certificates, of the signature.
	sum := sha256.Sum256(good)
	imprint := bytes.Index(tok, sum[:])
	if imprint < 0 {
		t.Fatal("the token does not hold the roots file's hash")
	}
	for _, at := range []int{imprint + 3, len(tok) / 2, len(tok) - 10} {
		bad := append([]byte(nil), tok...)
		bad[at] ^= 0x01
		os.WriteFile(tokens[0], bad, 0o600)
		if code, out := runCaptured("verify", "--server-key", f.serverPub, "--tsa-ca", a.ca, f.cases); code != 1 || !strings.Contains(out, "FAULT: "+tsDamaged) {
			t.Errorf("byte %d of %d flipped: exit %d:\n%s", at, len(tok), code, out)
		}
	}
	os.WriteFile(tokens[0], tok, 0o600)
	// roots import of a token of another file.
	other := filepath.Join(f.dir, "other.json")
	os.WriteFile(other, append(good, '\n'), 0o600)
	if code, out := runCaptured("roots", "import", f.cases, other, tokens[0]); code != 1 || !strings.Contains(out, "does not stamp") {
		t.Errorf("import of a token of another file: exit %d:\n%s", code, out)
	}
	// The roots stamped must be the server's.
	tampered := strings.Replace(string(good), `"count": 1`, `"count": 2`, 1)
	if tampered == string(good) {
		t.Fatalf("roots file has no count 1:\n%s", good)
	}
	tf := filepath.Join(f.dir, "tampered.json")
	os.WriteFile(tf, []byte(tampered), 0o600)
	tsr := a.stamp(t, tf)
	if code, out := runCaptured("roots", "import", f.cases, tf, tsr); code != 0 {
		t.Fatalf("import: exit %d:\n%s", code, out)
	}
	if code, out := runCaptured("verify", "--server-key", f.serverPub, "--tsa-ca", a.ca, f.cases); code != 1 || !strings.Contains(out, "FAULT: "+tsRoots) {
		t.Errorf("stamped roots not the server's: exit %d:\n%s", code, out)
	}
}

// TestTimestampTokenChecks: a TSA certificate issued by a trusted CA
// but with the timeStamping purpose not critical, or another purpose, or
// none, or at a time outside its validity, is refused by checkTSA.
// (openssl ts -reply refuses to sign with such certificates, so the
// tokens are made here around certificates from crypto/x509.)
func TestTimestampTokenChecks(t *testing.T) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "CA"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	ekuCritical := pkix.Extension{Id: oidEKU, Critical: true, Value: mustASN1(t, []asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})}
	ekuPlain := ekuCritical
	ekuPlain.Critical = false
	ekuCode := pkix.Extension{Id: oidEKU, Critical: true, Value: mustASN1(t, []asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 3}})}
	for _, tc := range []struct {
		name string
		ext  []pkix.Extension
		at   time.Time
		ok   bool
	}{
		{"timeStamping critical", []pkix.Extension{ekuCritical}, now, true},
		{"timeStamping not critical", []pkix.Extension{ekuPlain}, now, false},
		{"codeSigning", []pkix.Extension{ekuCode}, now, false},
		{"no purpose", nil, now, false},
		{"outside validity", []pkix.Extension{ekuCritical}, now.Add(3 * time.Hour), false},
	} {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "TSA"}, NotBefore: now.Add(-time.Hour),
			NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtraExtensions: tc.ext}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		err = checkTSA(&tsToken{Signer: c, Certificates: []*x509.Certificate{c}, Time: tc.at}, pool)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func mustASN1(t *testing.T, v any) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzParseToken: parseToken on any bytes returns a token or an error,
// never panics; seeded with a real reply from openssl.
func FuzzParseToken(f *testing.F) {
	for _, seed := range tokenSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := parseToken(b)
		if err == nil && (tok.Signer == nil || len(tok.Imprint) == 0 && tok.Hash == 0) {
			t.Fatalf("token without signer or imprint: %+v", tok)
		}
	})
}

// tokenSeeds are the replies kept in testdata/tsr (made with openssl as
// newTestTSA does, for a throwaway TSA).
func tokenSeeds() [][]byte {
	files, _ := filepath.Glob(filepath.Join("testdata", "tsr", "*.tsr"))
	var out [][]byte
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			out = append(out, b)
		}
	}
	return out
}

// TestTimestampRootsWithGap: a roots file of days far apart (bundles
// opened weeks apart) is stamped and checked: each root is signed, the
// days between are no fault; a root not the server's still is.
func TestTimestampRootsWithGap(t *testing.T) {
	a := newTestTSA(t)
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, ed25519.SeedSize))
	pub := key.Public().(ed25519.PublicKey)
	zero := "0:" + bundle.ZeroHash
	r1 := bundle.SignRoot(bundle.DayRoot{Day: "2026-11-01", Root: bundle.ZeroHash, Audit: zero, Prev: bundle.ZeroHash}, key)
	r2 := bundle.SignRoot(bundle.DayRoot{Day: "2026-11-20", Root: bundle.ZeroHash, Audit: zero, Prev: bundle.ZeroHash}, key)
	pool, err := loadCAs([]string{a.ca})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		roots []bundle.DayRoot
		ok    bool
	}{{[]bundle.DayRoot{r1, r2}, true}, {[]bundle.DayRoot{r1, {Day: "2026-11-02", Sig: r2.Sig}}, false}} {
		b, _ := marshalRoots(&bundle.RootsFile{Format: bundle.RootsFormat, Key: bundle.FormatKey(pub), Roots: tc.roots})
		file := writeTemp(t, b)
		tsr, _ := os.ReadFile(a.stamp(t, file))
		c, faults := checkTimestamp(b, tsr, pool, pub)
		if (len(faults) == 0) != tc.ok || c == nil {
			t.Errorf("roots %v: %v %v", tc.roots, c, faults)
		}
	}
}
