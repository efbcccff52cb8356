package web

import (
	"testing"

	"testimony/internal/testutil"
)

// The guards of this file hold for the three server packages (serverDirs:
// web and the two sites), as store's hygiene_test.go does for store.

// TestTestsLeaveGlobals: no test of a server package assigns to one of
// its package-level variables. A test that needs another limit sets the
// field of its own site (Site.lim, web.Site.Limits, …), so tests cannot
// leak a setting into one another and may run in parallel.
func TestTestsLeaveGlobals(t *testing.T) {
	if n := testutil.TestsLeaveGlobals(t, serverDirs...); n < 50 {
		t.Fatalf("only %d test functions read", n)
	}
}

// TestCommentsCarryNoHistory: no comment in the server packages' files
// carries an issue number, nor one of their production files a measured
// figure.
func TestCommentsCarryNoHistory(t *testing.T) {
	if n := testutil.CommentsCarryNoHistory(t, serverDirs...); n < 30 {
		t.Fatalf("only %d files read", n)
	}
}

// TestFileSizes: no production file of a server package is over 500
// lines, no test file over 800.
func TestFileSizes(t *testing.T) { testutil.FileSizes(t, 500, 800, serverDirs...) }
