package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"testimony/crypto"
)

// annotateEnv is a bundle of three items of two sources, opened into two
// investigators' own folders.
func annotateEnv(t *testing.T) (alice, bob string, ids []string) {
	t.Helper()
	dir := t.TempDir()
	key, rs := newIdentity(t, dir, "key.txt")
	specs := []*itemSpec{
		{Source: "s-aaaaaaaaaaaaaaaa", Answers: map[string]crypto.Answer{"account": crypto.TextAnswer("one")}},
		{Source: "s-aaaaaaaaaaaaaaaa", Kind: crypto.KindFollowup, Answers: map[string]crypto.Answer{"account": crypto.TextAnswer("two")}},
		{Source: "s-bbbbbbbbbbbbbbbb", Answers: map[string]crypto.Answer{"account": crypto.TextAnswer("three")}},
	}
	bundle := filepath.Join(dir, "b.tar")
	if err := writeBundle(bundle, specs, func(*itemSpec) (*crypto.Recipients, error) { return rs, nil }); err != nil {
		t.Fatal(err)
	}
	alice, bob = filepath.Join(dir, "alice"), filepath.Join(dir, "bob")
	for _, out := range []string{alice, bob} {
		if code := run([]string{"open", "-i", key, "-o", out, bundle}); code != 0 {
			t.Fatalf("open exited %d", code)
		}
	}
	root, _ := os.OpenRoot(alice)
	defer root.Close()
	items, err := loadCases(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		ids = append(ids, it.Info.ID)
	}
	return alice, bob, ids
}

// cli runs the tool and returns its exit status and standard output.
func cli(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	stdout = &out
	defer func() { stdout = os.Stdout }()
	return run(args), out.String()
}

// TestAnnotateAndMerge: two investigators annotate their own copies of a
// case folder; each sees their own changes; once their logs are carried
// over to each other, both folders show one and the same state.
func TestAnnotateAndMerge(t *testing.T) {
	alice, bob, ids := annotateEnv(t)
	steps := []struct {
		dir  string
		args []string
	}{
		{alice, []string{"--as", "alice", ids[0][:8], "status", "triage"}},
		{alice, []string{ids[0][:8], "tag", "Krome", "--as", "alice"}},
		{alice, []string{"--as", "alice", "s-aaaaaaaaaaaaaaaa", "assign", "bob"}},
		{alice, []string{"--as", "alice", ids[0], "note", "same", "flight", "as", "\x1b[2Jthe", "other"}},
		{bob, []string{"--as", "bob", ids[0][:6], "status", "verified"}},
		{bob, []string{"--as", "bob", ids[0][:8], "link", ids[2][:8]}},
		{bob, []string{"--as", "bob", ids[0][:8], "untag", "Krome"}}, // bob never saw the tag
	}
	for _, s := range steps {
		if code, _ := cli(t, append([]string{"annotate", s.dir}, s.args...)...); code != 0 {
			t.Fatalf("annotate %v: exit %d", s.args, code)
		}
	}
	_, aliceOwn := cli(t, "annotations", alice)
	if !strings.Contains(aliceOwn, "item:"+ids[0]+": triage, assigned to nobody, tags: Krome") {
		t.Errorf("alice's folder before the carry:\n%s", aliceOwn)
	}
	// Carry the logs both ways, as bundles will.
	for _, c := range [][3]string{{alice, bob, "alice"}, {bob, alice, "bob"}} {
		b, err := os.ReadFile(filepath.Join(c[0], annotationsDir, c[2]+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(c[1], annotationsDir, c[2]+".jsonl"), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, a := cli(t, "annotations", alice)
	_, b := cli(t, "annotations", bob)
	if a != b {
		t.Fatalf("the two folders differ after the carry:\nalice:\n%s\nbob:\n%s", a, b)
	}
	for _, want := range []string{
		// Both statuses have clock 1: at equal clocks the later name, bob,
		// wins. Bob's untag (clock 3) was made without seeing alice's tag
		// (clock 2), and by the higher clock it applies after it.
		"item:" + ids[0] + ": verified, assigned to nobody, linked to: item:" + ids[2],
		"item:" + ids[2] + ": new, assigned to nobody, linked to: item:" + ids[0],
		"source:s-aaaaaaaaaaaaaaaa: new, assigned to bob",
		"note by alice on ",
	} {
		if !strings.Contains(a, want) {
			t.Errorf("merged state lacks %q:\n%s", want, a)
		}
	}
	if strings.Contains(a, "\x1b") || strings.Contains(a, "tags: Krome") {
		t.Errorf("merged state:\n%q", a)
	}
	if code, one := cli(t, "annotations", alice, ids[2][:8]); code != 0 || strings.Contains(one, ids[1]) || !strings.Contains(one, "linked to") {
		t.Errorf("one target: %d\n%s", code, one)
	}
}

// TestAnnotateRefuses: a wrong target, change or name changes nothing.
func TestAnnotateRefuses(t *testing.T) {
	alice, _, ids := annotateEnv(t)
	for _, args := range [][]string{
		{"--as", "alice", "ffff", "status", "triage"},     // no such item
		{"--as", "alice", ids[0][:2], "status", "triage"}, // too short
		{"--as", "alice", ids[0][:8], "status", "done"},   // no such status
		{"--as", "Alice Smith", ids[0][:8], "tag", "x"},   // not an account name
		{"--as", "alice", ids[0][:8], "delete"},           // no such change
		{"--as", "alice", ids[0][:8], "tag", "a\x1b[2Jb"}, // control characters
		{"--as", "alice", ids[0][:8], "link", ids[0][:8]}, // itself
		{ids[0][:8], "tag", "x"},                          // no author
	} {
		if code, _ := cli(t, append([]string{"annotate", alice}, args...)...); code == 0 {
			t.Errorf("annotate %q accepted", args)
		}
	}
	if _, err := os.Stat(filepath.Join(alice, annotationsDir)); !os.IsNotExist(err) {
		t.Errorf("a refused change left %s: %v", annotationsDir, err)
	}
	// The folder's own pages do not take the log for a source.
	if code, _ := cli(t, "annotate", alice, "--as", "alice", ids[0][:8], "tag", "x"); code != 0 {
		t.Fatal("annotate failed")
	}
	if code, _ := cli(t, "report", alice); code != 0 {
		t.Fatal("report failed")
	}
	if page, _ := os.ReadFile(filepath.Join(alice, "report.html")); bytes.Contains(page, []byte(annotationsDir)) {
		t.Error("the report reads the annotations folder as a source")
	}
}
