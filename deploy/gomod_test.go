package deploy_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestGoModTidy: go.mod and go.sum are what "go mod tidy" makes of the
// imports (no direct dependency marked "// indirect", none missing or
// left over; the stock age CLI the tests build is a tool of the module),
// and make lint checks it too.
func TestGoModTidy(t *testing.T) {
	cmd := exec.Command("go", "mod", "tidy", "-diff")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("go mod tidy -diff: %v (run go mod tidy)\n%s", err, out)
	}
	need(t, "make", "make")
	lint, err := exec.Command("make", "-n", "-C", "..", "lint").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(lint), " mod tidy -diff") {
		t.Errorf("make lint does not run go mod tidy -diff:\n%s", lint)
	}
}
