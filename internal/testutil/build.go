package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
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
		bin := filepath.Join(dir, path.Base(pkg))
		out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
			return
		}
		b.path = bin
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// Testimonyd is the path of the server, built once.
func Testimonyd(t testing.TB) string { t.Helper(); return Build(t, testimonydPkg) }

// Testimony is the path of the offline tool, built once.
func Testimony(t testing.TB) string { t.Helper(); return Build(t, testimonyPkg) }

// Age is the path of the stock age CLI at the version go.mod requires,
// built once: the interop tests read our output with it, as a partner
// without our tool would. It needs no install, so it is never skipped.
func Age(t testing.TB) string { t.Helper(); return Build(t, agePkg) }
