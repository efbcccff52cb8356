package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// The import paths of the commands the tests run.
const (
	testimonydPkg = "testimony/cmd/testimonyd"
	testimonyPkg  = "testimony/cmd/testimony"
	agePkg        = "filippo.io/age/cmd/age" // the stock CLI, at go.mod's version
)

// mainRuns is set by Main: only then does Build know that its directory
// will be removed.
var mainRuns atomic.Bool

var builds struct {
	mu   sync.Mutex
	dir  string // made on the first build, removed by Main
	err  error
	each map[string]*build // by import path
}

type build struct {
	once sync.Once
	path string
	err  error
}

// TestingM is what TestMain is given: *testing.M, or a runner that wraps
// it (testscript.Main takes one too).
type TestingM interface{ Run() int }

// Main runs the package's tests, removes what Build made, and exits with
// the tests' status. Call it from TestMain.
func Main(m TestingM) { os.Exit(Cleaning(m).Run()) }

// Cleaning returns m, whose Run then removes what Build made once the
// tests have run: for a TestMain that hands m to another runner, as in
// testscript.Main(testutil.Cleaning(m), commands).
func Cleaning(m TestingM) TestingM { return cleaning{m} }

type cleaning struct{ m TestingM }

func (c cleaning) Run() int {
	mainRuns.Store(true)
	defer func() {
		builds.mu.Lock()
		defer builds.mu.Unlock()
		if builds.dir != "" {
			os.RemoveAll(builds.dir)
		}
	}()
	return c.m.Run()
}

// Build compiles the command pkg (an import path) once per test binary,
// with go build and no race detector, and returns the binary's path. Every
// binary lands in one directory, named after the last element of pkg, so
// that a script given that directory finds them side by side.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	if !mainRuns.Load() {
		t.Fatal("testutil.Build: the package's TestMain must call testutil.Main(m) (or hand testutil.Cleaning(m) to its runner), which removes the built binaries at exit")
	}
	builds.mu.Lock()
	if builds.dir == "" && builds.err == nil {
		builds.dir, builds.err = os.MkdirTemp("", "testutil-bin-")
	}
	dir, err := builds.dir, builds.err
	if builds.each == nil {
		builds.each = map[string]*build{}
	}
	b := builds.each[pkg]
	if b == nil {
		b = &build{}
		builds.each[pkg] = b
	}
	builds.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	b.once.Do(func() {
		b.path, b.err = build1(dir, pkg)
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// build1 builds pkg into dir. A pkg with an @version is a command outside
// the module, installed at that version from the module proxy (go install
// names it after its path without a /vN suffix).
func build1(dir, pkg string) (string, error) {
	name, version, pinned := strings.Cut(pkg, "@")
	base := path.Base(name)
	if pinned && len(base) > 1 && base[0] == 'v' && strings.Trim(base[1:], "0123456789") == "" {
		base = path.Base(path.Dir(name))
	}
	bin := filepath.Join(dir, base)
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	if pinned {
		cmd = exec.Command("go", "install", name+"@"+version)
		cmd.Dir = dir // outside the module: its go.mod does not apply
		cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=", "GOWORK=off")
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%v: %v\n%s", cmd.Args, err, out)
	}
	return bin, nil
}

// Testimonyd is the path of the server, built once.
func Testimonyd(t testing.TB) string { t.Helper(); return Build(t, testimonydPkg) }

// Testimony is the path of the offline tool, built once.
func Testimony(t testing.TB) string { t.Helper(); return Build(t, testimonyPkg) }

// Age is the path of the stock age CLI at the version go.mod requires,
// built once: the interop tests read our output with it, as a partner
// without our tool would. It needs no install, so it is never skipped.
func Age(t testing.TB) string { t.Helper(); return Build(t, agePkg) }
