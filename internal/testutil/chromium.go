package testutil

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// chromiumSwitches are the switches every test's Chromium runs with
// (shared/TESTING.md): headless as root, and none of the background
// traffic to hosts this machine cannot reach.
var chromiumSwitches = []string{
	"headless", "no-sandbox", "disable-gpu", "disable-quic", "no-first-run", "no-default-browser-check",
	"disable-background-networking", "disable-component-update", "disable-sync",
}

// browserTimeout bounds a whole browser session of a test: it catches a
// hang, generously, as make test runs every package at once and a test
// may take dozens of screenshots.
const browserTimeout = 5 * time.Minute

// chromiumPath finds Chromium, or skips the test saying what to install
// (.ci/run installs it and fails when it is missing).
func chromiumPath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install -y chromium; .ci/run does): the real-browser test cannot run")
	}
	return p
}

// Chromium starts a headless Chromium, with a fresh profile and page
// scripts disabled, and returns a chromedp context for it that ends with
// the test or after browserTimeout. opts add allocator options (a window size).
// Without Chromium installed, the test is skipped.
func Chromium(t testing.TB, opts ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	all := []chromedp.ExecAllocatorOption{chromedp.ExecPath(chromiumPath(t)), chromedp.UserDataDir(t.TempDir())}
	for _, s := range chromiumSwitches {
		all = append(all, chromedp.Flag(s, true))
	}
	// chromedp.Headless also hides scroll bars (they would show in
	// screenshots) and mutes audio.
	all = append(append(all, chromedp.Headless), opts...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), all...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, browserTimeout)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("disabling scripts: %v", err)
	}
	return ctx
}

// ChromiumCommand is Chromium run once with the same switches and a fresh
// profile, then args (a --screenshot= or --dump-dom and a page); scripts
// stay on unless args turn them off. Without Chromium installed, the test
// is skipped.
func ChromiumCommand(t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	var all []string
	for _, s := range chromiumSwitches {
		all = append(all, "--"+s)
	}
	all = append(all, "--user-data-dir="+t.TempDir())
	return exec.Command(chromiumPath(t), append(all, args...)...)
}
