package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"testimony/bundle"
	"testimony/crypto"
	"testimony/records"
	"testimony/store"
)

// verifyBundleFile writes a bundle as the server does: items of two days,
// the first sealed, with the evidence of package records.
func verifyBundleFile(t *testing.T, key ed25519.PrivateKey) string {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "t.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i, day := range []string{"2026-11-27", "2026-11-27", "2026-11-28"} {
		w := db.NewItem()
		w.Write(bytes.Repeat([]byte{byte(i)}, 3000))
		if _, err := w.Commit(store.Item{Kind: "submission", Day: day, Source: "s", Recipients: "r"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := records.Seal(db, key, "2026-11-28"); err != nil {
		t.Fatal(err)
	}
	items, err := db.Items()
	if err != nil {
		t.Fatal(err)
	}
	ev, err := records.BundleEvidence(db, items, key)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := db.WriteBundleItems(&buf, "2026-11-28", items, ev); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "bundle.tar")
	if err := os.WriteFile(out, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

func runCaptured(args ...string) (int, string) {
	var out bytes.Buffer
	old, olde := stdout, stderr
	stdout, stderr = &out, &out
	defer func() { stdout, stderr = old, olde }()
	code := run(args)
	return code, out.String()
}

// TestVerifyCommand: testimony verify exits 0 on a bundle as the server
// writes it (the item of the running day reported as not yet sealed), and
// 1, naming the fault, on one with a flipped byte or against another key.
func TestVerifyCommand(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, ed25519.SeedSize))
	pub := bundle.FormatKey(key.Public().(ed25519.PublicKey))
	file := verifyBundleFile(t, key)
	code, out := runCaptured("verify", "--server-key", pub, file)
	if code != 0 || !strings.Contains(out, "OK: 2 items proved") || !strings.Contains(out, "not yet sealed: download again after the day ends") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	b, _ := os.ReadFile(file)
	b[512+1500] ^= 1 // inside the first item
	bad := filepath.Join(t.TempDir(), "bad.tar")
	os.WriteFile(bad, b, 0o600)
	if code, out := runCaptured("verify", "--server-key", pub, bad); code != 1 || !strings.Contains(out, "FAULT: altered item") {
		t.Errorf("flipped byte: exit %d:\n%s", code, out)
	}
	other := bundle.FormatKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{6}, ed25519.SeedSize)).Public().(ed25519.PublicKey))
	if code, out := runCaptured("verify", "--server-key", other, file); code != 1 || !strings.Contains(out, "bad signature") {
		t.Errorf("another key: exit %d:\n%s", code, out)
	}
	if code, _ := runCaptured("verify", file); code != 2 {
		t.Errorf("no key: exit %d", code)
	}
}

// TestVerifyCaseFolder: open keeps the evidence of a bundle in the case
// folder (evidence/), verify of the folder holds, and an altered hash in
// the kept evidence is named.
func TestVerifyCaseFolder(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, ed25519.SeedSize))
	pub := bundle.FormatKey(key.Public().(ed25519.PublicKey))
	id, err := crypto.GenerateIdentity(false)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := crypto.NewRecipients("test", id.Recipient)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "t.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	specs := []*itemSpec{{Day: "2026-11-27", Source: "src", Answers: map[string]crypto.Answer{"story": crypto.TextAnswer("one")}},
		{Day: "2026-11-28", Source: "src", Answers: map[string]crypto.Answer{"story": crypto.TextAnswer("two")}}}
	if _, err := storeItems(db, specs, func(*itemSpec) (*crypto.Recipients, error) { return rs, nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := records.Seal(db, key, "2026-11-28"); err != nil {
		t.Fatal(err)
	}
	items, _ := db.Items()
	ev, err := records.BundleEvidence(db, items, key)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := db.WriteBundleItems(&buf, "2026-11-28", items, ev); err != nil {
		t.Fatal(err)
	}
	tarFile := filepath.Join(dir, "b.tar")
	os.WriteFile(tarFile, buf.Bytes(), 0o600)
	cases := filepath.Join(dir, "cases")
	res, err := openInto([]age.Identity{id.AgeIdentity()}, cases, []string{tarFile})
	if err != nil || res.failed != 0 {
		t.Fatalf("open: %v, %+v", err, res)
	}
	if code, out := runCaptured("verify", "--server-key", pub, cases); code != 0 || !strings.Contains(out, "OK: 1 items proved") {
		t.Fatalf("case folder: exit %d:\n%s", code, out)
	}
	files, _ := filepath.Glob(filepath.Join(cases, evidenceDir, "*.json"))
	if len(files) != 1 {
		t.Fatalf("evidence files: %v", files)
	}
	b, _ := os.ReadFile(files[0])
	var ef evidenceFile
	json.Unmarshal(b, &ef)
	ef.Read[0].SHA256 = strings.Repeat("0", 64)
	b, _ = json.Marshal(ef)
	os.WriteFile(files[0], b, 0o600)
	if code, out := runCaptured("verify", "--server-key", pub, cases); code != 1 || !strings.Contains(out, "FAULT: altered item") {
		t.Errorf("altered evidence: exit %d:\n%s", code, out)
	}
}
