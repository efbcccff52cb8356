package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestHasClobberFree(t *testing.T) {
	for in, want := range map[string]bool{
		"":                            false,
		"clobberfree=1":               true,
		"gctrace=1,clobberfree=1":     true,
		"clobberfree=1,clobberfree=0": false,
		"clobberfree=0,clobberfree=1": true,
		"xclobberfree=1":              false,
	} {
		if got := hasClobberFree(in); got != want {
			t.Errorf("hasClobberFree(%q) = %v", in, got)
		}
	}
}

// TestServeRunsWithClobberFree: the running server has GODEBUG with
// clobberfree=1, after the other settings it was started with, in the same
// process (its id is the one started, so systemd and the tests still hold
// it).
func TestServeRunsWithClobberFree(t *testing.T) {
	t.Setenv("GODEBUG", "madvdontneed=1")
	d := startServe(t, newDataDir(t), nil)
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", d.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	var godebug []string
	for _, kv := range bytes.Split(env, []byte{0}) {
		if bytes.HasPrefix(kv, []byte("GODEBUG=")) {
			godebug = append(godebug, string(kv))
		}
	}
	if len(godebug) != 1 || godebug[0] != "GODEBUG=madvdontneed=1,clobberfree=1" {
		t.Errorf("the server's GODEBUG: %q, want one, with clobberfree=1 after the given settings", godebug)
	}
	if strings.Contains(d.Out.String(), "without GODEBUG") {
		t.Errorf("serve warned:\n%s", d.Out.String())
	}
}
