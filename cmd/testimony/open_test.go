package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"html"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"testimony/bundle"
	"testimony/crypto"
	"testimony/store"
)

// rewriteIndex copies a bundle, letting edit change its index.json.
func rewriteIndex(t *testing.T, src, dst string, edit func(*bundle.Index)) {
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
			var idx bundle.Index
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
		edit func(*bundle.Index)
	}{
		{"altered digest", func(idx *bundle.Index) { idx.Items[0].SHA256 = strings.Repeat("0", 64) }},
		{"unlisted item", func(idx *bundle.Index) { idx.Items = idx.Items[1:] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stderrBuf.Reset()
			bad := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".tar")
			var first string
			rewriteIndex(t, good, bad, func(idx *bundle.Index) { first = idx.Items[0].ID; tc.edit(idx) })
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

// TestBilingualLabels: an item given in Russian shows each question and
// each choice in Russian and in English, on its page, in testimony.txt
// and in the index; the CSV keeps the keys and values; an organisation's
// questionnaire given with --form labels its own questions.
func TestBilingualLabels(t *testing.T) {
	dir := t.TempDir()
	keyFile, rs := newIdentity(t, dir, "key.txt")
	spec := &itemSpec{Day: "2026-01-05", Source: "s1", Lang: "ru", Answers: map[string]crypto.Answer{
		"role":               crypto.TextAnswer("self"),
		"conditions":         crypto.ListAnswer("overcrowding", "no_lawyer"),
		"arrival_questioned": crypto.TextAnswer("yes"),
		"account":            crypto.TextAnswer("Нас держали в наручниках."),
	}}
	b := filepath.Join(dir, "b.tar")
	err := writeBundleForm(b, []*itemSpec{spec}, crypto.FormRef{ID: "detention-deportation", Version: 1}, rs)
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := readIdentities([]string{keyFile})
	out := filepath.Join(dir, "cases")
	if res, err := openInto(ids, out, []string{b}); err != nil || res.opened != 1 {
		t.Fatalf("open: %+v %v", res, err)
	}
	def := forms[formKey{"detention-deportation", 1}]
	role, cond := def.field("role"), def.field("conditions")
	ruEn := func(m map[string]string) string { return m["ru"] + " / " + m["en"] }
	var page, text []byte
	filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		switch filepath.Base(p) {
		case "testimony.html":
			page, _ = os.ReadFile(p)
		case "testimony.txt":
			text, _ = os.ReadFile(p)
		}
		return nil
	})
	index, _ := os.ReadFile(filepath.Join(out, "index.html"))
	csv, _ := os.ReadFile(filepath.Join(out, "testimonies.csv"))
	for _, want := range []string{
		ruEn(role.Label), ruEn(role.Options[0].Label),
		ruEn(cond.Label), ruEn(cond.Options[0].Label) + "; " + ruEn(cond.Options[5].Label),
		ruEn(def.field("arrival_questioned").Label) + " (arrival_questioned): Yes",
	} {
		if role.Label["ru"] == "" || cond.Options[0].Label["ru"] == "" {
			t.Fatal("the embedded form has no Russian labels")
		}
		if !strings.Contains(string(text), want) {
			t.Errorf("testimony.txt lacks %q:\n%s", want, text)
		}
		short := strings.TrimSuffix(want, " (arrival_questioned): Yes")
		if !strings.Contains(html.UnescapeString(string(page)), short) {
			t.Errorf("testimony.html lacks %q", short)
		}
	}
	if !strings.Contains(html.UnescapeString(string(index)), ruEn(role.Label)) {
		t.Error("index.html lacks the bilingual label of a key answer")
	}
	if !strings.Contains(string(csv), ",role,") || !strings.Contains(string(csv), ",self,") || !strings.Contains(string(csv), "overcrowding;no_lawyer") {
		t.Errorf("the CSV does not keep keys and values:\n%s", csv)
	}

	// An organisation's own form, given with --form.
	custom := filepath.Join(dir, "questionnaire.json")
	os.WriteFile(custom, []byte(`{"id":"custom","version":2,"title":{"en":"T"},"sections":[{"title":{"en":"S"},"fields":[
		{"key":"camp","type":"single","label":{"en":"Which camp?","es":"¿Qué campo?"},"options":[{"value":"north","label":{"en":"North","es":"Norte"}}]}]}]}`), 0o600)
	if err := loadFormFile(custom); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { delete(forms, formKey{"custom", 2}) })
	m := &crypto.Manifest{Lang: "es", Form: crypto.FormRef{ID: "custom", Version: 2}, Answers: map[string]crypto.Answer{"camp": crypto.TextAnswer("north")}}
	if l, a := answerLabel(m, "camp"), answerShown(m, "camp"); l != "¿Qué campo? / Which camp?" || a != "Norte / North" {
		t.Errorf("custom form: %q %q", l, a)
	}
	// English: once; an unknown form: the built-in English name.
	m = &crypto.Manifest{Lang: "en", Form: crypto.FormRef{ID: "detention-deportation", Version: 1}, Answers: map[string]crypto.Answer{"role": crypto.TextAnswer("self")}}
	if l := answerLabel(m, "role"); l != role.Label["en"] {
		t.Errorf("English label %q", l)
	}
	m.Form.ID = "other"
	if l, a := answerLabel(m, "role"), answerShown(m, "role"); l != "Role" || a != "self" {
		t.Errorf("unknown form: %q %q", l, a)
	}
}

// writeBundleForm is writeBundle for items given to form.
func writeBundleForm(out string, specs []*itemSpec, form crypto.FormRef, rs *crypto.Recipients) error {
	dir, err := os.MkdirTemp("", "mkitem-db-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := store.Open(filepath.Join(dir, "store.db"), store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	var ids []string
	for _, s := range specs {
		m, err := s.manifest()
		if err != nil {
			return err
		}
		m.Form = form
		w := db.NewItem()
		env, err := crypto.NewEnvelope(w, rs, m)
		if err != nil {
			return err
		}
		if err := env.Close(); err != nil {
			return err
		}
		it, err := w.Commit(store.Item{Kind: m.Kind, Day: m.Day, Source: s.Source, Recipients: rs.Fingerprint()})
		if err != nil {
			return err
		}
		ids = append(ids, it.ID)
	}
	return exportBundle(db, out, ids)
}
