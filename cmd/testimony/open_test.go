package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"testimony/crypto"
	"testimony/store"
)

// rewriteIndex copies a bundle, letting edit change its index.json.
func rewriteIndex(t *testing.T, src, dst string, edit func(*store.BundleIndex)) {
	t.Helper()
	in, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	tr := tar.NewReader(bytes.NewReader(in))
	tw := tar.NewWriter(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if h.Name == "index.json" {
			var idx store.BundleIndex
			if err := json.Unmarshal(body, &idx); err != nil {
				t.Fatal(err)
			}
			edit(&idx)
			body, _ = json.Marshal(idx)
			h.Size = int64(len(body))
		}
		tw.WriteHeader(h)
		tw.Write(body)
	}
	tw.Close()
	if err := os.WriteFile(dst, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBundleCheckedAgainstIndex: an item whose ciphertext does not match
// index.json, or that index.json does not list, is not opened, even
// though it decrypts; the others are.
func TestBundleCheckedAgainstIndex(t *testing.T) {
	dir := t.TempDir()
	keyFile, rs := newIdentity(t, dir, "key.txt")
	specs := []*itemSpec{
		{Day: "2026-01-01", Source: "s1"},
		{Day: "2026-01-02", Source: "s2"},
		{Day: "2026-01-03", Source: "s3"},
	}
	good := filepath.Join(dir, "good.tar")
	if err := writeBundle(good, specs, func(*itemSpec) (*crypto.Recipients, error) { return rs, nil }); err != nil {
		t.Fatal(err)
	}
	ids, _ := readIdentities([]string{keyFile})
	var stderrBuf bytes.Buffer
	stderr = &stderrBuf
	defer func() { stderr = os.Stderr }()

	for _, tc := range []struct {
		name string
		edit func(*store.BundleIndex)
	}{
		{"altered digest", func(idx *store.BundleIndex) { idx.Items[0].SHA256 = strings.Repeat("0", 64) }},
		{"unlisted item", func(idx *store.BundleIndex) { idx.Items = idx.Items[1:] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stderrBuf.Reset()
			bad := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".tar")
			var first string
			rewriteIndex(t, good, bad, func(idx *store.BundleIndex) { first = idx.Items[0].ID; tc.edit(idx) })
			out := filepath.Join(dir, "out-"+filepath.Base(bad))
			res, err := openInto(ids, out, []string{bad})
			if err != nil || res.opened != 2 || res.failed != 1 {
				t.Fatalf("open: %+v, %v\n%s", res, err, stderrBuf.String())
			}
			if want := "item " + first + " does not match index.json"; !strings.Contains(stderrBuf.String(), want) {
				t.Errorf("stderr lacks %q:\n%s", want, stderrBuf.String())
			}
			if _, err := os.Stat(filepath.Join(out, "s1")); err == nil {
				t.Error("the item that does not match index.json was opened")
			}
			if _, err := os.Stat(filepath.Join(out, partialDir)); err == nil {
				t.Error("a partial folder was left behind")
			}
		})
	}
}
