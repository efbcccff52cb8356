package main

import (
	"bytes"
	"crypto/ed25519"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"testimony/bundle"
	"testimony/crypto"
	"testimony/records"
	"testimony/store"
)

// evidenceFixture is a case folder opened from a bundle as the server
// writes it, with an identity and signing key made by keygen.
type evidenceFixture struct {
	dir, cases, bundle, identity string
	serverPub                    string
	sealedID                     string // the item of the sealed day, with an attachment
	photo                        []byte // its attachment
}

func newEvidenceFixture(t *testing.T) *evidenceFixture {
	t.Helper()
	f := &evidenceFixture{dir: t.TempDir()}
	f.cases = filepath.Join(f.dir, "cases")
	f.identity = filepath.Join(f.dir, "key.txt")
	if code, out := runCaptured("keygen", "-o", f.identity); code != 0 || !strings.Contains(out, bundle.KeyPrefix) {
		t.Fatalf("keygen: exit %d:\n%s", code, out)
	}
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, ed25519.SeedSize))
	f.serverPub = bundle.FormatKey(key.Public().(ed25519.PublicKey))
	rs, err := loadRecipients(f.identity)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(filepath.Join(f.dir, "t.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// A photo with bytes a re-encoding would lose: an EXIF-like marker,
	// zeros, and every byte value.
	f.photo = append([]byte("\xff\xd8\xff\xe1\x00\x10Exif\x00\x00camera-serial-123"), make([]byte, 64)...)
	for i := range 256 {
		f.photo = append(f.photo, byte(i))
	}
	specs := []*itemSpec{
		{Day: "2026-11-27", Source: "src", Answers: map[string]crypto.Answer{"story": crypto.TextAnswer("one")},
			Attachments: []attachmentSpec{{Name: "photo 1.jpg", Type: "image/jpeg", File: writeTemp(t, f.photo)}}},
		{Day: "2026-11-28", Source: "src", Answers: map[string]crypto.Answer{"story": crypto.TextAnswer("two")}},
	}
	ids, err := storeItems(db, specs, func(*itemSpec) (*crypto.Recipients, error) { return rs, nil })
	if err != nil {
		t.Fatal(err)
	}
	f.sealedID = ids[0]
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
	f.bundle = filepath.Join(f.dir, "b.tar")
	if err := os.WriteFile(f.bundle, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := runCaptured("open", "-i", f.identity, "-o", f.cases, f.bundle); code != 0 {
		t.Fatalf("open: exit %d:\n%s", code, out)
	}
	return f
}

func setCustodyDay(t *testing.T, day string) {
	old := custodyDay
	custodyDay = func() string { return day }
	t.Cleanup(func() { custodyDay = old })
}

// TestKeygenSigningKey: keygen -o writes the signing key beside the
// identity, mode 0600, and never overwrites it; --sign-key-for makes one
// for an identity made before (which open then uses); an identity without
// one still opens, with a warning and no custody entry.
func TestKeygenSigningKey(t *testing.T) {
	dir := t.TempDir()
	id := filepath.Join(dir, "key.txt")
	if code, out := runCaptured("keygen", "-o", id); code != 0 {
		t.Fatalf("keygen: %d %s", code, out)
	}
	st, err := os.Stat(signKeyPath(id))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("signing key: %v %v", st, err)
	}
	if _, err := crypto.LoadSigningKey(signKeyPath(id)); err != nil {
		t.Fatal(err)
	}
	if code, out := runCaptured("keygen", "--sign-key-for", id); code != 1 || !strings.Contains(out, "refusing to overwrite") {
		t.Errorf("second signing key: exit %d: %s", code, out)
	}
	os.Remove(signKeyPath(id))
	if code, out := runCaptured("keygen", "--sign-key-for", id); code != 0 || !strings.Contains(out, bundle.KeyPrefix) {
		t.Errorf("--sign-key-for: exit %d: %s", code, out)
	}
	if code, _ := runCaptured("keygen", "--sign-key-for", filepath.Join(dir, "none.txt")); code == 0 {
		t.Error("--sign-key-for a missing identity succeeded")
	}
}

// TestCustodyLog: open appends a signed entry naming the items opened,
// a second open of new items one more chained to it; verify of the case
// folder checks the log, and an entry removed, altered or moved is named
// (and the exit status says so).
func TestCustodyLog(t *testing.T) {
	setCustodyDay(t, "2026-12-01")
	f := newEvidenceFixture(t)
	log := filepath.Join(f.cases, custodyName)
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte("\n")); n != 1 || !bytes.Contains(b, []byte(f.sealedID)) || !bytes.Contains(b, []byte(`"action":"open"`)) || !bytes.Contains(b, []byte(`"day":"2026-12-01"`)) {
		t.Fatalf("custody log after open:\n%s", b)
	}
	// Two more entries, by export-like appends with the investigator's key.
	key, err := crypto.LoadSigningKey(signKeyPath(f.identity))
	if err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"share", "export"} {
		if err := appendCustody(f.cases, key, action, []string{f.sealedID}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	if code, out := runCaptured("verify", "--server-key", f.serverPub, f.cases); code != 0 || !strings.Contains(out, "OK: 3 entries") {
		t.Fatalf("verify: exit %d:\n%s", code, out)
	}
	good, _ := os.ReadFile(log)
	lines := strings.SplitAfter(strings.TrimSuffix(string(good), "\n"), "\n")
	// An entry of another case folder's log, by the same key, with the
	// same number: signed, but not this log's.
	otherDir := t.TempDir()
	for _, action := range []string{"open", "share"} {
		if err := appendCustody(otherDir, key, action, []string{"ffff"}, "elsewhere"); err != nil {
			t.Fatal(err)
		}
	}
	ob, _ := os.ReadFile(filepath.Join(otherDir, custodyName))
	otherLines := strings.SplitAfter(strings.TrimSuffix(string(ob), "\n"), "\n")
	tampers := []struct {
		name, log, want string
	}{
		{"removed", lines[0] + lines[2], custodyRemoved},
		{"altered", lines[0] + strings.Replace(lines[1], `"share"`, `"open"`, 1) + lines[2], custodyAltered},
		{"last altered", lines[0] + lines[1] + strings.Replace(lines[2], `"export"`, `"share"`, 1), custodyAltered},
		{"replaced", lines[0] + otherLines[1] + "\n" + lines[2], custodyAltered},
		{"reordered", lines[0] + strings.TrimSuffix(lines[2], "\n") + "\n" + lines[1], custodyReordered},
	}
	for _, tc := range tampers {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(log, []byte(tc.log), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out := runCaptured("verify", "--server-key", f.serverPub, f.cases)
			if code != 1 || !strings.Contains(out, "FAULT: "+tc.want) {
				t.Errorf("exit %d, want 1 naming %q:\n%s", code, tc.want, out)
			}
		})
	}
	os.WriteFile(log, good, 0o600)
	other := bundle.FormatKey(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32)).Public().(ed25519.PublicKey))
	if code, out := runCaptured("verify", "--server-key", f.serverPub, "--investigator-key", other, f.cases); code != 1 || !strings.Contains(out, custodyForeign) {
		t.Errorf("foreign key: exit %d:\n%s", code, out)
	}
	// An identity without a signing key still opens, with a warning.
	os.Remove(signKeyPath(f.identity))
	cases2 := filepath.Join(f.dir, "cases2")
	code, out := runCaptured("open", "-i", f.identity, "-o", cases2, f.bundle)
	if code != 0 || !strings.Contains(out, "no signing key beside") {
		t.Errorf("open without a signing key: exit %d:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(cases2, custodyName)); err == nil {
		t.Error("a custody log was written without a signing key")
	}
}

// TestCustodyChecks: checkCustody on hostile logs: a line that is no
// entry, a number far ahead (no long loop), an empty log.
func TestCustodyChecks(t *testing.T) {
	rep, err := checkCustody(strings.NewReader(""), nil)
	if err != nil || rep.Entries != 0 || len(rep.Faults) != 0 || rep.Head != bundle.ZeroHash {
		t.Errorf("empty: %+v %v", rep, err)
	}
	rep, err = checkCustody(strings.NewReader("{\"format\":\"testimony-custody/v1\",\"n\":18446744073709551615}\nnot json\n"), nil)
	if err != nil || len(rep.Faults) < 2 {
		t.Errorf("hostile: %+v %v", rep, err)
	}
}

// TestEvidenceNoTimeFinerThanDay (the offline half; the server's is in
// server/): the custody log and everything an evidence package carries
// but the witness's own files, the ciphertext and the TSA's tokens hold
// no time finer than the UTC day: a marker search for the clock's time
// of day and its Unix time, in seconds and milliseconds, at the start and
// end of the test, finds none. The tokens are left out on purpose: their
// time is the TSA's, of when the investigator had the roots stamped, on
// the online machine days after the witness's act.
func TestEvidenceNoTimeFinerThanDay(t *testing.T) {
	start := time.Now()
	f := newEvidenceFixture(t)
	tsa := newTestTSA(t)
	stampCaseFolder(t, f, tsa)
	pkg := filepath.Join(f.dir, "package")
	if code, out := runCaptured("export", "-i", f.identity, "-o", pkg, f.cases, f.sealedID[:8], f.bundle); code != 0 {
		t.Fatalf("export: exit %d:\n%s", code, out)
	}
	end := time.Now()
	var markers []string
	for _, at := range []time.Time{start, end} {
		at = at.UTC()
		markers = append(markers, at.Format("15:04"), at.Format("T15:"), at.Format("150405"),
			strconv.FormatInt(at.Unix(), 10)[:8], strconv.FormatInt(at.UnixMilli(), 10)[:10])
		local := at.Local()
		markers = append(markers, local.Format("15:04"), local.Format("150405"))
	}
	check := map[string]string{"case folder custody.log": filepath.Join(f.cases, custodyName)}
	for _, name := range []string{"custody.log", "statement.html", "evidence.json", "roots.json", "SHA256SUMS"} {
		check["package "+name] = filepath.Join(pkg, name)
	}
	roots, _ := filepath.Glob(filepath.Join(pkg, "timestamps", "*.roots.json"))
	if len(roots) != 1 {
		t.Fatalf("timestamps in the package: %v", roots)
	}
	check["package roots file timestamped"] = roots[0]
	for name, p := range check {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range markers {
			if bytes.Contains(b, []byte(m)) {
				t.Errorf("%s holds %q, a time finer than the day", name, m)
			}
		}
	}
}

// runTool runs a stock tool in dir and returns its output.
func runStockTool(dir string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}
