// Package testimony_test guards the project's layout: the import edges of
// shared/DESIGN.md ("Dependencies point one way").
package testimony_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const mod = "testimony"

// deps lists the packages pkg imports, directly or not (not its tests).
func deps(t *testing.T, pkg string) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	m := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		m[sc.Text()] = true
	}
	return m
}

// importersOf lists the packages among pkg's dependencies (and pkg) that
// import dep directly.
func importersOf(t *testing.T, pkg, dep string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	var imp []string
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) > 1 && slices.Contains(f[1:], dep) {
			imp = append(imp, f[0])
		}
	}
	return imp
}

func TestImportEdges(t *testing.T) {
	forbidden := []struct {
		pkg, dep, why string
	}{
		{"./cmd/testimony", "net/http", "the offline tool runs on an air-gapped machine: no network code"},
		{"./cmd/testimony", mod + "/server/web", "the offline tool does not reach the server"},
		{"./cmd/testimony", mod + "/server/witness", "the offline tool does not reach the server"},
		{"./cmd/testimony", mod + "/server/investigator", "the offline tool does not reach the server"},
		{"./cmd/testimony", mod + "/store", "the offline tool reads bundles, not the database"},
		{"./cmd/testimony", "go.etcd.io/bbolt", "the offline tool links no database library"},
		{"./bundle", "go.etcd.io/bbolt", "the bundle format is read offline, without a database"},
		{"./bundle", mod + "/store", "the bundle format is read offline, without a database"},
		{"./bundle", mod + "/server/web", "the bundle format knows no HTTP"},
		{"./bundle", "net/http", "the bundle format knows no HTTP"},
		{"./store", mod + "/crypto", "the store holds opaque bytes"},
		{"./store", mod + "/server/web", "the store holds opaque bytes"},
		{"./store", "filippo.io/age", "the store knows nothing of age"},
		{"./store", "net/http", "the store knows nothing of HTTP"},
		{"./crypto", mod + "/store", "crypto knows no storage"},
		{"./crypto", mod + "/server/web", "crypto knows no HTTP"},
		{"./crypto", "net/http", "crypto knows no HTTP"},
		{"./server/...", mod + "/cmd/testimonyd", "nothing imports cmd/"},
		{"./server/witness", mod + "/server/investigator", "the witness site knows nothing of the investigator site"},
		{"./server/investigator", mod + "/server/witness", "the investigator site knows nothing of the witness site"},
		{"./server/web", mod + "/server/witness", "the shared web package serves both sites and imports neither"},
		{"./server/web", mod + "/server/investigator", "the shared web package serves both sites and imports neither"},
		{"./form", "net/http", "the questionnaire is read on the air-gapped machine too"},
		{"./form", mod + "/server/web", "the questionnaire knows no HTTP"},
		{"./form", mod + "/store", "the questionnaire knows no storage"},
		{"./form", "go.etcd.io/bbolt", "the questionnaire knows no storage"},
		{"./records", mod + "/server/web", "the console's account and audit commands use records without the web package"},
		{"./records", "net/http", "records are stored data, not HTTP"},
		{"./annotations", "net/http", "annotations are written and merged on the air-gapped machine"},
		{"./annotations", mod + "/store", "annotations reach the server only as encrypted items"},
		{"./annotations", "go.etcd.io/bbolt", "annotations reach the server only as encrypted items"},
	}
	for _, f := range forbidden {
		if deps(t, f.pkg)[f.dep] {
			t.Errorf("%s imports %s: %s", f.pkg, f.dep, f.why)
		}
	}
	for _, pkg := range []string{"./cmd/testimonyd", "./cmd/testimony", "./server/...", "./store", "./bundle", "./crypto"} {
		if deps(t, pkg)["testing"] {
			t.Errorf("%s imports testing: production code must not", pkg)
		}
	}
}

// TestOfflineToolNoNet: the offline tool reaches package net only through
// crypto/x509, which imports it for the IP addresses a certificate may
// name (timestamp tokens' certificates), and github.com/google/uuid, which
// the SQLite driver (modernc.org/sqlite, for cases.db) brings in and which
// reads the network interfaces only to make a version-1 UUID, which
// nothing here asks for. Whatever imports net,
// TestOfflineToolLinksNoSocket checks that no code that opens a socket is
// in the binary.
func TestOfflineToolNoNet(t *testing.T) {
	allowed := map[string]bool{"crypto/x509": true, "github.com/google/uuid": true}
	for _, pkg := range importersOf(t, "./cmd/testimony", "net") {
		if !allowed[pkg] {
			t.Errorf("%s, in the offline tool, imports net: the offline tool runs on an air-gapped machine: no network code", pkg)
		}
	}
}

// TestOfflineToolLinksNoSocket builds the offline tool and fails if its
// binary holds a function that dials, listens or makes a socket.
func TestOfflineToolLinksNoSocket(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "testimony")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/testimony").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command("go", "tool", "nm", bin).Output()
	if err != nil {
		t.Fatalf("go tool nm: %v", err)
	}
	bad := regexp.MustCompile(`^net\.(Dial|Listen|socket|sysSocket|\(\*Dialer\)|\(\*ListenConfig\))|^syscall\.(Socket|Connect|Bind|Listen)$|^golang\.org/x/sys/unix\.(Socket|Connect|Bind|Listen)$|^net/http\.`)
	n := 0
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		n++
		if bad.MatchString(f[2]) {
			t.Errorf("the offline tool links %s: it must hold no network code", f[2])
		}
	}
	if n < 1000 {
		t.Fatalf("go tool nm listed %d symbols: the check saw too little", n)
	}
}

// TestTestutilOnlyInTests: no package's own code reaches internal/testutil
// (it builds binaries, starts browsers, imports testing); only tests
// import it. go list -deps leaves test files out, so every edge it shows
// is one from production code.
func TestTestutilOnlyInTests(t *testing.T) {
	const testutil = mod + "/internal/testutil"
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list ./...: %v", err)
	}
	n := 0
	for line := range strings.Lines(string(out)) {
		pkg, deps, _ := strings.Cut(strings.TrimSpace(line), " ")
		n++
		if pkg != testutil && slices.Contains(strings.Fields(deps), testutil) {
			t.Errorf("%s imports %s: only tests may", pkg, testutil)
		}
	}
	if n < 10 {
		t.Fatalf("go list ./... named %d packages: the check saw too little\n%s", n, out)
	}
}

// TestLibrariesStayInTheirFile checks that gorilla/mux is imported only by
// the HTTP file of server/web (server/web/http.go), and pquerna/otp only by its TOTP file, so
// either can be swapped.
func TestLibrariesStayInTheirFile(t *testing.T) {
	allowed := map[string]func(string) bool{
		"github.com/gorilla/mux": func(f string) bool {
			return f == "server/web/http.go"
		},
		"github.com/pquerna/otp": func(f string) bool { return f == "records/totp.go" },
	}
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for lib, ok := range allowed {
			if strings.Contains(string(src), `"`+lib) && !ok(filepath.ToSlash(path)) {
				t.Errorf("%s imports %s; keep it in its one file", path, lib)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
