package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age/armor"

	"testimony/crypto"
)

func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	old := stderr
	stderr = &buf
	defer func() { stderr = old }()

	// Not a terminal: silent, whatever the size.
	p := newProgress("b.tar", 1<<30)
	p.add(1 << 29)
	p.finish()
	if buf.Len() != 0 {
		t.Fatalf("progress drawn when standard error is not a terminal: %q", buf.String())
	}
	// On a terminal it draws one line, rewritten in place, and ends it.
	p = &progress{label: "b.tar", total: 8 << 20, on: true}
	r := &progressReader{r: bytes.NewReader(make([]byte, 8<<20)), p: p}
	if _, err := r.Read(make([]byte, 8<<20)); err != nil {
		t.Fatal(err)
	}
	p.finish()
	out := buf.String()
	if !strings.HasPrefix(out, "\rtestimony: b.tar [") || !strings.Contains(out, "100% 8/8 MB") || !strings.HasSuffix(out, "\n") {
		t.Errorf("progress output %q", out)
	}
}

func TestParseInterleaved(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		pos      []string
		i, o     string
		wantFail bool
	}{
		{args: []string{"-i", "k", "a", "b"}, pos: []string{"a", "b"}, i: "k"},
		{args: []string{"a", "-i", "k", "b", "-o", "d"}, pos: []string{"a", "b"}, i: "k", o: "d"},
		{args: []string{"a", "--", "-i", "b"}, pos: []string{"a", "-i", "b"}},
		{args: []string{"a", "-x"}, wantFail: true},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(&bytes.Buffer{})
		i := fs.String("i", "", "")
		o := fs.String("o", "", "")
		pos, err := parseInterleaved(fs, tc.args)
		if tc.wantFail {
			if err == nil {
				t.Errorf("%q: no error", tc.args)
			}
			continue
		}
		if err != nil || !slices.Equal(pos, tc.pos) || *i != tc.i || *o != tc.o {
			t.Errorf("%q: pos %q i %q o %q, %v", tc.args, pos, *i, *o, err)
		}
	}
}

// TestOpenArmored opens an item in age's ASCII armor, as age -a writes it.
func TestOpenArmored(t *testing.T) {
	dir := t.TempDir()
	keyFile, rs := newIdentity(t, dir, "key.txt")
	var buf bytes.Buffer
	aw := armor.NewWriter(&buf)
	spec := &itemSpec{Day: "2026-04-01", Answers: map[string]crypto.Answer{"role": crypto.TextAnswer("witness")}}
	if err := spec.write(aw, rs); err != nil {
		t.Fatal(err)
	}
	aw.Close()
	item := filepath.Join(dir, "item.age")
	os.WriteFile(item, append([]byte("\n"), buf.Bytes()...), 0o600)
	ids, _ := readIdentities([]string{keyFile})
	res, err := openInto(ids, filepath.Join(dir, "out"), []string{item})
	if err != nil || res.opened != 1 {
		t.Fatalf("open: %+v, %v", res, err)
	}
}
