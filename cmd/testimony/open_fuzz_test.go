package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"testimony/bundle"
	"testimony/crypto"
)

// FuzzOpenIndex: `testimony open` of a real bundle of two items whose
// index.json is replaced by fuzzed bytes — the index names each item's
// source folder, kind and day, so it is the part of a bundle that shapes
// paths on the investigator's machine. Whatever it holds, open does not
// panic, writes only regular files and folders inside the output folder,
// leaves no unfinished item, and opens an item only if the index lists it
// with its true size and SHA-256.
func FuzzOpenIndex(f *testing.F) {
	dir := f.TempDir()
	id, err := crypto.GenerateIdentity(false)
	if err != nil {
		f.Fatal(err)
	}
	var kb bytes.Buffer
	crypto.WriteIdentityFile(&kb, id, "2026-11-28T00:00:00Z")
	keyFile := filepath.Join(dir, "key.txt")
	if err := os.WriteFile(keyFile, kb.Bytes(), 0o600); err != nil {
		f.Fatal(err)
	}
	rs, err := crypto.NewRecipients("key", id.Recipient)
	if err != nil {
		f.Fatal(err)
	}
	ids, err := readIdentities([]string{keyFile})
	if err != nil {
		f.Fatal(err)
	}
	good := filepath.Join(dir, "good.tar")
	specs := []*itemSpec{
		{Day: "2026-01-01", Source: "s-abcdefghijklmnop", Answers: map[string]crypto.Answer{"account": crypto.TextAnswer("Нас держали в ангаре.")}},
		{Day: "2026-01-02", Kind: crypto.KindFollowup, Source: "s-qrstuvwxyz234567", Attachments: []attachmentSpec{{Name: "scan.pdf", Type: "application/pdf", Text: "%PDF-1.7"}}},
	}
	if err := writeBundle(good, specs, func(*itemSpec) (*crypto.Recipients, error) { return rs, nil }); err != nil {
		f.Fatal(err)
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		f.Fatal(err)
	}
	type entry struct {
		h    tar.Header
		body []byte
	}
	var es []entry
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			f.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		es = append(es, entry{*h, body})
	}
	last := len(es) - 1
	if es[last].h.Name != "index.json" {
		f.Fatalf("index.json is not last: %q", es[last].h.Name)
	}
	var idx bundle.Index
	if err := json.Unmarshal(es[last].body, &idx); err != nil || len(idx.Items) != 2 {
		f.Fatalf("index: %v %+v", err, idx)
	}
	truth := map[string]bundle.Entry{}
	for _, e := range idx.Items {
		truth[e.ID] = e
	}
	edit := func(fn func(*bundle.Index)) []byte {
		var c bundle.Index
		json.Unmarshal(es[last].body, &c)
		fn(&c)
		b, _ := json.Marshal(c)
		return b
	}
	f.Add(es[last].body)
	f.Add(edit(func(c *bundle.Index) { c.Items[0].Source = "../../../../tmp/escaped" }))
	f.Add(edit(func(c *bundle.Index) { c.Items[0].Source = "/etc"; c.Items[1].Source = "C:\\Windows\\" }))
	f.Add(edit(func(c *bundle.Index) { c.Items[0].Day = "../.."; c.Items[0].Kind = "/x" }))
	f.Add(edit(func(c *bundle.Index) { c.Items[0].Kind = "reply"; c.Items[1].Day = "2027-13-45" }))
	f.Add(edit(func(c *bundle.Index) { c.Items[1].ID = c.Items[0].ID }))
	f.Add(edit(func(c *bundle.Index) { c.Items[0].Source = ".partial"; c.Items[1].Source = "testimonies.csv" }))
	f.Add(edit(func(c *bundle.Index) {
		c.Items[0].Source = "\x00\u202e\xff"
		c.Items[1].Source = strings.Repeat("д", 300)
	}))
	f.Add(edit(func(c *bundle.Index) { c.Items[0].Size++ }))
	f.Add([]byte(`{"format":"testimony-bundle/v1","items":[]}`))
	f.Add([]byte(`{}`))

	old := stderr
	stderr = io.Discard
	f.Cleanup(func() { stderr = old })
	f.Fuzz(func(t *testing.T, index []byte) {
		work := t.TempDir()
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for i, e := range es {
			h, body := e.h, e.body
			if i == last {
				body = index
				h.Size = int64(len(body))
			}
			tw.WriteHeader(&h)
			tw.Write(body)
		}
		tw.Close()
		tarPath := filepath.Join(work, "bundle.tar")
		if err := os.WriteFile(tarPath, b.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(work, "out")
		res, err := openInto(ids, out, []string{tarPath})
		if err != nil && res == nil {
			return // the output folder could not be made or indexed: nothing to check
		}
		// Only the bundle and the output folder in work: nothing escaped.
		ents, _ := os.ReadDir(work)
		if len(ents) != 2 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Fatalf("open wrote outside its folder: %q", names)
		}
		filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			if !d.Type().IsRegular() && !d.IsDir() {
				t.Fatalf("open made %s, a %v", p, d.Type())
			}
			if d.IsDir() && d.Name() == partialDir {
				if left, _ := os.ReadDir(p); len(left) > 0 {
					t.Fatalf("an unfinished item is left in %s", p)
				}
			}
			return nil
		})
		// An item is opened only if the index lists it truly.
		var got bundle.Index
		listed := 0
		if json.Unmarshal(index, &got) == nil {
			seen := map[string]bool{}
			for _, e := range got.Items {
				if tr, ok := truth[e.ID]; ok && !seen[e.ID] && tr.SHA256 == e.SHA256 && tr.Size == e.Size {
					listed++
				}
				seen[e.ID] = true
			}
		}
		if bytes.Equal(index, es[last].body) && res.opened != 2 {
			t.Fatalf("the true index: %+v, want both items opened", res)
		}
		if res.opened > listed {
			t.Fatalf("%d items opened, %d truly listed by the index", res.opened, listed)
		}
	})
}
