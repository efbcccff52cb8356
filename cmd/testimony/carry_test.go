package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"testimony/bundle"
	"testimony/crypto"
	"testimony/store"
)

// carryEnv is three investigators' identities (with signing keys), the
// recipient set of alice and bob (the team), and three items to it.
type carryEnv struct {
	dir             string
	alice, bob, eve string // identity files
	pub             map[string]string
	team            *crypto.Recipients
	specs           []*itemSpec
}

func newCarryEnv(t *testing.T) *carryEnv {
	t.Helper()
	e := &carryEnv{dir: t.TempDir(), pub: map[string]string{}}
	for _, n := range []string{"alice", "bob", "eve"} {
		id, rs := newIdentity(t, e.dir, n+".txt")
		e.pub[n] = rs.Keys()[0]
		if _, err := crypto.CreateSigningKey(signKeyPath(id)); err != nil {
			t.Fatal(err)
		}
		switch n {
		case "alice":
			e.alice = id
		case "bob":
			e.bob = id
		default:
			e.eve = id
		}
	}
	team, err := crypto.NewRecipients("team", e.pub["alice"], e.pub["bob"])
	if err != nil {
		t.Fatal(err)
	}
	e.team = team
	e.specs = []*itemSpec{
		{Source: "s-aaaaaaaaaaaaaaaa", Answers: map[string]crypto.Answer{"account": crypto.TextAnswer("one")}},
		{Source: "s-aaaaaaaaaaaaaaaa", Kind: crypto.KindFollowup, Answers: map[string]crypto.Answer{"account": crypto.TextAnswer("two")}},
		{Source: "s-bbbbbbbbbbbbbbbb", Answers: map[string]crypto.Answer{"account": crypto.TextAnswer("three")}},
	}
	return e
}

// bundle writes a bundle with the store's real code, as the investigator
// site serves it: the env's items, then the annotation items given (kind
// annotations, no source), and index.json naming the team keys.
func (e *carryEnv) bundle(t *testing.T, name string, teamKeys []string, carried ...string) string {
	t.Helper()
	db, err := store.Open(filepath.Join(t.TempDir(), "store.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ids, err := storeItems(db, e.specs, func(*itemSpec) (*crypto.Recipients, error) { return e.team, nil })
	if err != nil {
		t.Fatal(err)
	}
	var items []store.Item
	for _, id := range ids {
		it, err := db.Item(id)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	for _, c := range carried {
		b, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		w := db.NewItem()
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
		it, err := w.Commit(store.Item{Kind: crypto.KindAnnotations, Day: todayUTC(), Recipients: e.team.Fingerprint()})
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, it)
	}
	ev := &bundle.Evidence{}
	if teamKeys != nil {
		ev.Team = &bundle.Team{Fingerprint: crypto.Fingerprint(teamKeys...), Recipients: teamKeys}
	}
	out := filepath.Join(e.dir, name+".tar")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := db.WriteBundleItems(f, "2026-11-28", items, ev); err != nil {
		t.Fatal(err)
	}
	return out
}

func todayUTC() string { return custodyDay() }

func (e *carryEnv) teamKeys() []string { return []string{e.pub["alice"], e.pub["bob"]} }

// mustRun runs the tool, failing the test on a non-zero exit.
func mustRun(t *testing.T, args ...string) string {
	t.Helper()
	code, out := runCaptured(args...)
	if code != 0 {
		t.Fatalf("%v: exit %d:\n%s", args, code, out)
	}
	return out
}

// TestCarryExportOpenMerges: alice and bob open the same bundle, annotate
// the same item differently (a conflicting status), export, and the
// exports come back in the next bundle; both folders then print one and
// the same state, and a third folder opened from that bundle alone too.
// The annotation items make no case folder.
func TestCarryExportOpenMerges(t *testing.T) {
	e := newCarryEnv(t)
	b1 := e.bundle(t, "b1", e.teamKeys())
	alice, bob, carol := filepath.Join(e.dir, "A"), filepath.Join(e.dir, "B"), filepath.Join(e.dir, "C")
	mustRun(t, "open", "-i", e.alice, "-o", alice, b1)
	mustRun(t, "open", "-i", e.bob, "-o", bob, b1)
	for _, d := range []string{alice, bob} {
		if _, err := os.Stat(filepath.Join(d, teamFile)); err != nil {
			t.Fatalf("team not pinned: %v", err)
		}
	}
	root, _ := os.OpenRoot(alice)
	items, err := loadCases(root)
	root.Close()
	if err != nil || len(items) != 3 {
		t.Fatalf("%d items, %v", len(items), err)
	}
	id := items[0].Info.ID
	mustRun(t, "annotate", "--as", "alice", alice, id, "status", "verified")
	mustRun(t, "annotate", "--as", "alice", alice, id, "note", "same flight as the other one")
	mustRun(t, "annotate", "--as", "bob", bob, id, "status", "follow-up")
	mustRun(t, "annotate", "--as", "bob", bob, id, "tag", "krome")
	ea, eb := filepath.Join(e.dir, "alice.age"), filepath.Join(e.dir, "bob.age")
	mustRun(t, "annotations", "export", "--as", "alice", "-i", e.alice, "-o", ea, alice)
	mustRun(t, "annotations", "export", "--as", "bob", "-i", e.bob, "-o", eb, bob)
	if b, _ := os.ReadFile(ea); !bytes.HasPrefix(b, []byte("age-encryption.org/v1\n")) || bytes.Contains(b, []byte("same flight")) {
		t.Fatal("the export is not an age file, or holds the note in the clear")
	}
	b2 := e.bundle(t, "b2", e.teamKeys(), ea, eb)
	mustRun(t, "open", "-i", e.alice, "-o", alice, b2)
	mustRun(t, "open", "-i", e.bob, "-o", bob, b2)
	mustRun(t, "open", "-i", e.bob, "-o", carol, b2)
	_, sa := cli(t, "annotations", alice)
	_, sb := cli(t, "annotations", bob)
	_, sc := cli(t, "annotations", carol)
	if sa != sb || sa != sc {
		t.Fatalf("states differ:\nalice: %s\nbob: %s\ncarol: %s", sa, sb, sc)
	}
	for _, want := range []string{"same flight as the other one", "krome", "by alice", "item:" + id} {
		if !strings.Contains(sa, want) {
			t.Errorf("state lacks %q:\n%s", want, sa)
		}
	}
	root, _ = os.OpenRoot(carol)
	items, err = loadCases(root)
	root.Close()
	if err != nil || len(items) != 3 {
		t.Fatalf("annotation items made case folders: %d items, %v", len(items), err)
	}
	// Opening the same exports again adds nothing and changes nothing.
	mustRun(t, "open", "-i", e.bob, "-o", carol, b2)
	if _, again := cli(t, "annotations", carol); again != sc {
		t.Fatalf("a second open changed the state:\n%s", again)
	}
}

// craft writes an annotation item by hand: log signed by key as signer.
func craft(t *testing.T, e *carryEnv, out string, log []byte, signer string, key ed25519.PrivateKey, signed []byte) string {
	t.Helper()
	if signed == nil {
		signed = log
	}
	sig := carrySignature{Author: signer, Key: bundle.FormatKey(key.Public().(ed25519.PublicKey)),
		Sig: base64.StdEncoding.EncodeToString(ed25519.Sign(key, carryMessage(signer, signed)))}
	var b bytes.Buffer
	if err := writeCarry(&b, e.team, sig, log); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCarryRefusesTamperedAndForged: an export with a flipped byte, a log
// changed after it was signed, operations of another author than the
// signer, a known author signed by another key, and an author's forked
// log are each refused, and nothing of them is merged.
func TestCarryRefusesTamperedAndForged(t *testing.T) {
	e := newCarryEnv(t)
	b1 := e.bundle(t, "b1", e.teamKeys())
	alice, bob := filepath.Join(e.dir, "A"), filepath.Join(e.dir, "B")
	mustRun(t, "open", "-i", e.alice, "-o", alice, b1)
	mustRun(t, "open", "-i", e.bob, "-o", bob, b1)
	root, _ := os.OpenRoot(alice)
	items, _ := loadCases(root)
	root.Close()
	id := items[0].Info.ID
	mustRun(t, "annotate", "--as", "alice", alice, id, "status", "closed")
	good := filepath.Join(e.dir, "good.age")
	mustRun(t, "annotations", "export", "--as", "alice", "-i", e.alice, "-o", good, alice)
	log, err := os.ReadFile(filepath.Join(alice, annotationsDir, "alice.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	aliceKey, _ := crypto.LoadSigningKey(signKeyPath(e.alice))
	eveKey, _ := crypto.LoadSigningKey(signKeyPath(e.eve))
	forgedLog := bytes.Replace(log, []byte(`"closed"`), []byte(`"triage"`), 1)

	flipped := filepath.Join(e.dir, "flipped.age")
	b, _ := os.ReadFile(good)
	b[len(b)-40] ^= 1
	os.WriteFile(flipped, b, 0o600)

	cases := []struct {
		name, file, want string
	}{
		{"flipped byte", flipped, "damaged"},
		{"log changed after signing", craft(t, e, filepath.Join(e.dir, "altered.age"), forgedLog, "alice", aliceKey, log), "signature does not hold"},
		{"another author's operations", craft(t, e, filepath.Join(e.dir, "other.age"), forgedLog, "eve", eveKey, nil), "hold an operation of alice"},
		{"a signer that is no account name", craft(t, e, filepath.Join(e.dir, "path.age"), nil, "../alice", eveKey, nil), "not an account name"},
		{"no operations", craft(t, e, filepath.Join(e.dir, "empty.age"), nil, "eve", eveKey, nil), "no operation"},
	}
	for _, c := range cases {
		code, out := runCaptured("open", "-i", e.bob, "-o", bob, c.file)
		if code == 0 || !strings.Contains(out, c.want) {
			t.Errorf("%s: exit %d, want a refusal saying %q:\n%s", c.name, code, c.want, out)
		}
		if _, err := os.Stat(filepath.Join(bob, annotationsDir, "alice.jsonl")); err == nil {
			t.Fatalf("%s: merged", c.name)
		}
	}
	// Alice's real export pins her key; then eve signing as alice is refused.
	mustRun(t, "open", "-i", e.bob, "-o", bob, good)
	before, _ := os.ReadFile(filepath.Join(bob, annotationsDir, "alice.jsonl"))
	forgedNew := []byte(strings.Replace(string(log), `"seq":1`, `"seq":2`, 1))
	forgedNew = bytes.Replace(forgedNew, []byte(`"clock":1`), []byte(`"clock":2`), 1)
	forgedNew = append(log, forgedNew...)
	code, out := runCaptured("open", "-i", e.bob, "-o", bob, craft(t, e, filepath.Join(e.dir, "eve-as-alice.age"), forgedNew, "alice", eveKey, nil))
	if code == 0 || !strings.Contains(out, "this folder knows alice by") {
		t.Errorf("eve's key signing as alice: exit %d:\n%s", code, out)
	}
	if after, _ := os.ReadFile(filepath.Join(bob, annotationsDir, "alice.jsonl")); !bytes.Equal(before, after) {
		t.Error("the forged operations were merged")
	}
	// Alice's own key, but another operation under a number already
	// merged: a forked log, reported and not merged.
	code, out = runCaptured("open", "-i", e.bob, "-o", bob, craft(t, e, filepath.Join(e.dir, "fork.age"), forgedLog, "alice", aliceKey, nil))
	if code == 0 || !strings.Contains(out, "forked") {
		t.Errorf("a forked log: exit %d:\n%s", code, out)
	}
	if after, _ := os.ReadFile(filepath.Join(bob, annotationsDir, "alice.jsonl")); !bytes.Equal(before, after) {
		t.Error("the forked operation was merged")
	}
}

// TestCarryTeamChangeNotSilent: a later bundle naming a set with another
// key in it (a server adding its own) is not used: the export is still
// encrypted to the pinned set, which the added key cannot read, until the
// investigator accepts the new set; a set without the investigator's own
// key is refused outright.
func TestCarryTeamChangeNotSilent(t *testing.T) {
	e := newCarryEnv(t)
	bob := filepath.Join(e.dir, "B")
	mustRun(t, "open", "-i", e.bob, "-o", bob, e.bundle(t, "b1", e.teamKeys()))
	pinned, _ := os.ReadFile(filepath.Join(bob, teamFile))
	withEve := append(e.teamKeys(), e.pub["eve"])
	code, out := runCaptured("open", "-i", e.bob, "-o", bob, e.bundle(t, "b2", withEve))
	if code != 0 || !strings.Contains(out, "another team recipient set") || !strings.Contains(out, "--accept") {
		t.Fatalf("a changed team set: exit %d, no warning:\n%s", code, out)
	}
	if now, _ := os.ReadFile(filepath.Join(bob, teamFile)); !bytes.Equal(now, pinned) {
		t.Fatal("the pinned team set was replaced without being accepted")
	}
	root, _ := os.OpenRoot(bob)
	items, _ := loadCases(root)
	root.Close()
	mustRun(t, "annotate", "--as", "bob", bob, items[0].Info.ID, "tag", "secret-lead")
	exp := filepath.Join(e.dir, "bob.age")
	mustRun(t, "annotations", "export", "--as", "bob", "-i", e.bob, "-o", exp, bob)
	if readableBy(t, exp, e.eve) {
		t.Fatal("the export is readable with the key the server added")
	}
	if !readableBy(t, exp, e.alice) {
		t.Fatal("the export is not readable by the team")
	}
	// Accepted explicitly, the new set is used.
	mustRun(t, "annotations", "team", "-i", e.bob, "--accept", bob)
	exp2 := filepath.Join(e.dir, "bob2.age")
	mustRun(t, "annotations", "export", "--as", "bob", "-i", e.bob, "-o", exp2, bob)
	if !readableBy(t, exp2, e.eve) {
		t.Fatal("the accepted set is not used")
	}
	// A set without one's own key is refused, and not pinned.
	other := filepath.Join(e.dir, "O")
	code, out = runCaptured("open", "-i", e.bob, "-o", other, e.bundle(t, "b3", []string{e.pub["alice"], e.pub["eve"]}))
	if code == 0 || !strings.Contains(out, "your own key is not in it") {
		t.Fatalf("a team set without bob's key: exit %d:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(other, teamFile)); err == nil {
		t.Fatal("a team set without bob's key was pinned")
	}
	// A bundle of an older server names no team: it opens, and an export
	// is refused with the reason rather than encrypted to a guess.
	old := filepath.Join(e.dir, "Old")
	mustRun(t, "open", "-i", e.bob, "-o", old, e.bundle(t, "b4", nil))
	root, _ = os.OpenRoot(old)
	items, _ = loadCases(root)
	root.Close()
	mustRun(t, "annotate", "--as", "bob", old, items[0].Info.ID, "status", "triage")
	code, out = runCaptured("annotations", "export", "--as", "bob", "-i", e.bob, "-o", filepath.Join(e.dir, "old.age"), old)
	if code == 0 || !strings.Contains(out, "no team recipient set") {
		t.Fatalf("export without a pinned team: exit %d:\n%s", code, out)
	}
}

// readableBy reports whether the identity file decrypts the item.
func readableBy(t *testing.T, item, identity string) bool {
	t.Helper()
	ids, err := readIdentities([]string{identity})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(item)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, err = crypto.OpenEnvelope(f, ids...)
	if _, ok := errors.AsType[*age.NoIdentityMatchError](err); ok {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}
