package investigator

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"testimony/bundle"
	"testimony/crypto"
	"testimony/internal/testutil"
	"testimony/records"
	"testimony/store"
)

// ageDecrypt decrypts an age file with the stock CLI and returns the
// manifest of the tar inside.
func ageDecrypt(t *testing.T, ageFile string, id *crypto.Identity) *crypto.Manifest {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "key.txt")
	if err := os.WriteFile(keyFile, []byte(id.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(testutil.Age(t), "-d", "-i", keyFile, ageFile).Output()
	if err != nil {
		t.Fatalf("age -d %s: %v", ageFile, err)
	}
	tr := tar.NewReader(bytes.NewReader(out))
	h, err := tr.Next()
	if err != nil || h.Name != crypto.ManifestName {
		t.Fatalf("decrypted tar: first entry %v, %v", h, err)
	}
	var m crypto.Manifest
	if err := json.NewDecoder(tr).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return &m
}

const src1, src2 = "s-SRCONEAAAAAAAAAA", "s-SRCTWOBBBBBBBBBB"

// TestCaseListAndItemPages: the list shows each item's source, day, kind,
// size, new/seen, whether a reply exists and whether the investigator's key
// is in its set; an item page shows the same; marking seen changes it.
func TestCaseListAndItemPages(t *testing.T) {
	e := newInvEnv(t, Config{})
	alice := e.addInvestigator("alice")
	e.plantSource(src1)
	a := e.plantItem(src1, "submission", "депортационный рейс")
	bob := e.addInvestigator("bob") // joins after item a: a's set lacks him
	b := e.plantItem(src2, "followup", "фильтрация")
	_ = bob
	c := e.client()
	c.loginReady(alice)
	r := c.get("/")
	if r.status != http.StatusOK {
		t.Fatalf("case list: %d", r.status)
	}
	for _, s := range []string{a.ID, b.ID, src1, src2, "submission", "followup", e.s.today(), "Items: 2", "new for you: 2"} {
		mustContain(t, r.body, s)
	}
	// The item page of a: seen after the mark.
	r = c.get("/items/" + a.ID)
	mustContain(t, r.body, `<span id="inset">yes</span>`)
	mustContain(t, r.body, `action="/items/`+a.ID+`/seen"`)
	if r := c.post("/items/"+a.ID+"/seen", url.Values{}); r.status != http.StatusSeeOther {
		t.Fatalf("seen: %d", r.status)
	}
	r = c.get("/items/" + a.ID)
	mustContain(t, r.body, `<dd id="status">seen</dd>`)
	mustContain(t, c.get("/").body, "new for you: 1")

	// bob logs in: item a predates his key; its set is known, without him.
	e.clock.Add(31e9)
	cb := e.client()
	cb.loginReady(bob)
	mustContain(t, cb.get("/items/"+a.ID).body, `<span id="inset">no</span>`)
	mustContain(t, cb.get("/items/"+b.ID).body, `<span id="inset">yes</span>`)

	// A source page lists only that source's items and offers a reply.
	r = c.get("/sources/" + src1)
	mustContain(t, r.body, a.ID)
	if bytes.Contains(r.body, []byte(b.ID)) {
		t.Fatal("source page lists another source's item")
	}
	mustContain(t, r.body, `action="/sources/`+src1+`/reply"`)
	if r := c.get("/items/" + strings.Repeat("0", 32)); r.status != http.StatusNotFound {
		t.Fatalf("missing item: %d", r.status)
	}
	if r := c.get("/sources/no-such-source"); r.status != http.StatusNotFound {
		t.Fatalf("missing source: %d", r.status)
	}
}

// TestCaseListPaging: pages of pageSize, sorted.
func TestCaseListPaging(t *testing.T) {
	e := newInvEnv(t, Config{})
	alice := e.addInvestigator("alice")
	for i := 0; i < pageSize+3; i++ {
		e.plantItem(src1, "submission", "x")
	}
	c := e.client()
	c.loginReady(alice)
	p1, p2 := c.get("/?sort=day"), c.get("/?sort=day&page=2")
	n1, n2 := bytes.Count(p1.body, []byte(`class="open"`)), bytes.Count(p2.body, []byte(`class="open"`))
	if n1 != pageSize || n2 != 3 {
		t.Fatalf("pages hold %d and %d items, want %d and 3", n1, n2, pageSize)
	}
	mustContain(t, p1.body, "Page 1 / 2")
}

// TestItemDownloadOpensWithAge: one item downloaded as .age decrypts with
// the stock age CLI.
func TestItemDownloadOpensWithAge(t *testing.T) {
	e := newInvEnv(t, Config{})
	alice := e.addInvestigator("alice")
	it := e.plantItem(src1, "submission", "наручники в самолёте")
	c := e.client()
	c.loginReady(alice)
	r := c.get("/items/" + it.ID + "/download")
	if r.status != http.StatusOK {
		t.Fatalf("download: %d", r.status)
	}
	if cd := r.header.Get("Content-Disposition"); cd != `attachment; filename="`+it.ID+`.age"` {
		t.Errorf("Content-Disposition %q", cd)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	f := filepath.Join(t.TempDir(), it.ID+".age")
	os.WriteFile(f, r.body, 0o600)
	m := ageDecrypt(t, f, alice.id)
	if m.Answers["story"].Text != "наручники в самолёте" {
		t.Fatalf("decrypted manifest: %+v", m)
	}
}

// TestBundleDownloadOpensWithAge: a bundle of all items, of selected items
// and of items since a day, downloaded through the site, verifies with the
// store's bundle reader, and each of its items decrypts with the stock age
// CLI; if the offline tool builds, "testimony open" opens it too.
func TestBundleDownloadOpensWithAge(t *testing.T) {
	e := newInvEnv(t, Config{})
	alice := e.addInvestigator("alice")
	texts := map[string]string{}
	var ids []string
	for i, s := range []string{"задержание", "депортация", "кайданки"} {
		src := src1
		if i == 2 {
			src = src2
		}
		it := e.plantItem(src, "submission", s)
		texts[it.ID] = s
		ids = append(ids, it.ID)
	}
	c := e.client()
	c.loginReady(alice)

	fetch := func(form url.Values) (string, []string) {
		t.Helper()
		r := c.post("/bundle", form)
		if r.status != http.StatusOK {
			t.Fatalf("bundle %v: %d: %s", form, r.status, r.body)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/x-tar" {
			t.Errorf("bundle Content-Type %q", ct)
		}
		dir := t.TempDir()
		br := bundle.NewReader(bytes.NewReader(r.body))
		var got []string
		for {
			id, rd, err := br.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rd)
			os.WriteFile(filepath.Join(dir, id+".age"), b, 0o600)
			got = append(got, id)
		}
		if bad, err := br.Verify(); err != nil || len(bad) != 0 {
			t.Fatalf("bundle does not verify: %v %v", bad, err)
		}
		tarPath := filepath.Join(dir, "bundle.tar")
		os.WriteFile(tarPath, r.body, 0o600)
		return tarPath, got
	}

	tarPath, got := fetch(url.Values{"scope": {"all"}})
	if len(got) != 3 {
		t.Fatalf("bundle of all holds %d items", len(got))
	}
	for _, id := range got {
		m := ageDecrypt(t, filepath.Join(filepath.Dir(tarPath), id+".age"), alice.id)
		if m.Answers["story"].Text != texts[id] {
			t.Errorf("item %s decrypts to %q, want %q", id, m.Answers["story"].Text, texts[id])
		}
	}
	if _, got := fetch(url.Values{"scope": {"selected"}, "item": {ids[0], ids[2]}}); len(got) != 2 {
		t.Fatalf("bundle of 2 selected holds %d", len(got))
	}
	if _, got := fetch(url.Values{"scope": {"since"}, "since": {e.s.today()}}); len(got) != 3 {
		t.Fatalf("bundle since today holds %d", len(got))
	}
	if r := c.post("/bundle", url.Values{"scope": {"since"}, "since": {"2999-01-01"}}); r.status != http.StatusNotFound {
		t.Fatalf("empty bundle: %d", r.status)
	}
	if r := c.post("/bundle", url.Values{"scope": {"since"}, "since": {"yesterday"}}); r.status != http.StatusBadRequest {
		t.Fatalf("bad day: %d", r.status)
	}

	// The offline tool.
	bin := testutil.Testimony(t)
	keyFile := filepath.Join(t.TempDir(), "key.txt")
	os.WriteFile(keyFile, []byte(alice.id.Secret+"\n"), 0o600)
	outDir := filepath.Join(t.TempDir(), "cases")
	if out, err := exec.Command(bin, "open", "-i", keyFile, "-o", outDir, tarPath).CombinedOutput(); err != nil {
		t.Fatalf("testimony open: %v\n%s", err, out)
	}
	var found int
	filepath.WalkDir(outDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == crypto.ManifestName {
			b, _ := os.ReadFile(p)
			for _, s := range texts {
				if bytes.Contains(b, []byte(s)) || bytes.Contains(b, []byte(strings.Trim(strconvQuote(s), `"`))) {
					found++
				}
			}
		}
		return nil
	})
	if found != 3 {
		t.Errorf("testimony open wrote %d manifests with the testimonies, want 3", found)
	}
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

// TestReplyReachesSourceAndInvestigators: a reply is one envelope of kind
// "reply" for the source, that the source's reply identity and every
// investigator's key open.
func TestReplyReachesSourceAndInvestigators(t *testing.T) {
	e := newInvEnv(t, Config{})
	alice := e.addInvestigator("alice")
	bob := e.addInvestigator("bob")
	witness := e.plantSource(src1)
	e.plantItem(src1, "submission", "адвокат")
	c := e.client()
	c.loginReady(alice)
	msg := "Thank you. Can you tell us the date of the flight?"
	r := c.post("/sources/"+src1+"/reply", url.Values{"message": {msg}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("reply: %d: %s", r.status, r.body)
	}
	items, _ := e.db.Items()
	var reply *store.Item
	for i := range items {
		if items[i].Kind == "reply" {
			reply = &items[i]
		}
	}
	if reply == nil || reply.Source != src1 || reply.Day != e.s.today() {
		t.Fatalf("reply item: %+v", reply)
	}
	for _, id := range []*crypto.Identity{witness, alice.id, bob.id} {
		_, rd, err := e.db.Open(reply.ID)
		if err != nil {
			t.Fatal(err)
		}
		er, err := crypto.OpenEnvelope(rd, id.AgeIdentity())
		if err != nil {
			t.Fatalf("reply does not open with %s…: %v", id.Recipient[:12], err)
		}
		m := er.Manifest()
		if m.Kind != crypto.KindReply || m.Answers["message"].Text != msg {
			t.Fatalf("reply manifest: %+v", m)
		}
	}
	mustContain(t, c.get("/").body, "<td>yes</td>") // a reply exists for src1
	if r := c.post("/sources/"+src2+"/reply", url.Values{"message": {"x"}}); r.status != http.StatusNotFound {
		t.Fatalf("reply to a source without a record: %d", r.status)
	}
	if r := c.post("/sources/"+src1+"/reply", url.Values{"message": {"  "}}); r.status != http.StatusBadRequest {
		t.Fatalf("empty reply: %d", r.status)
	}
}

// TestDeleteNeedsConfirmation: deleting an item or a whole source needs the
// confirmation; afterwards the records and the chunks are gone.
func TestDeleteNeedsConfirmation(t *testing.T) {
	e := newInvEnv(t, Config{})
	alice := e.addInvestigator("alice")
	e.plantSource(src1)
	a := e.plantItem(src1, "submission", "one")
	b := e.plantItem(src1, "followup", "two")
	keep := e.plantItem(src2, "submission", "three")
	c := e.client()
	c.loginReady(alice)
	r := c.get("/items/" + a.ID + "/delete")
	mustContain(t, r.body, `name="confirm"`)
	if r := c.post("/items/"+a.ID+"/delete", url.Values{}); r.status != http.StatusBadRequest {
		t.Fatalf("unconfirmed delete: %d", r.status)
	}
	if _, err := e.db.Item(a.ID); err != nil {
		t.Fatal("unconfirmed delete deleted")
	}
	if r := c.post("/items/"+a.ID+"/delete", url.Values{"confirm": {"yes"}}); r.status != http.StatusSeeOther {
		t.Fatalf("delete: %d", r.status)
	}
	if err := e.db.Check(); err != nil { // no orphan chunk left behind
		t.Fatal(err)
	}
	if _, err := e.db.Item(a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted item still there: %v", err)
	}
	mustContain(t, c.get("/sources/"+src1+"/delete").body, "Items: 1.")
	if r := c.post("/sources/"+src1+"/delete", url.Values{"confirm": {"yes"}}); r.status != http.StatusSeeOther {
		t.Fatalf("delete source: %d", r.status)
	}
	items, _ := e.db.Items()
	if len(items) != 1 || items[0].ID != keep.ID {
		t.Fatalf("after deleting the source: %v", items)
	}
	if _, err := records.GetSource(e.s.db, src1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("source record survived: %v", err)
	}
	st, _ := e.db.Stats()
	if st.Items != 1 || st.ItemBytes != keep.Size {
		t.Fatalf("stats after delete: %+v", st)
	}
	_ = b
	if err := e.db.Check(); err != nil {
		t.Fatal(err)
	}
}

// TestAuditChainAndTamper: actions land in the audit log; the chain
// verifies; changing one entry in the database makes the check fail and
// name that entry; so does removing one.
func TestAuditChainAndTamper(t *testing.T) {
	e := newInvEnv(t, Config{})
	alice := e.addInvestigator("alice")
	it := e.plantItem(src1, "submission", "x")
	c := e.client()
	c.loginReady(alice)
	c.get("/items/" + it.ID + "/download")
	c.post("/bundle", url.Values{"scope": {"all"}})
	c.post("/logout", url.Values{})
	entries, _ := records.ReadAudit(e.db, 0, 100)
	var events []string
	for i := len(entries) - 1; i >= 0; i-- {
		events = append(events, entries[i].Event)
	}
	want := "account_added login passphrase_changed download_item download_bundle logout"
	if strings.Join(events, " ") != want {
		t.Fatalf("audit events %q, want %q", events, want)
	}
	n, err := records.VerifyAudit(e.db)
	if err != nil || n != 6 {
		t.Fatalf("verify: %d, %v", n, err)
	}
	r := func() resp { c2 := e.client(); e.clock.Add(31e9); c2.loginReady(alice); return c2.get("/audit") }()
	mustContain(t, r.body, "intact")

	// Change entry 4: the download becomes someone else's.
	err = e.db.Update(func(tx store.Tx) error {
		v, err := tx.Get(records.BucketAudit, records.AuditKey(4))
		if err != nil {
			return err
		}
		return tx.Put(records.BucketAudit, records.AuditKey(4), bytes.Replace(v, []byte(`"account":"alice"`), []byte(`"account":"bob"`), 1))
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = records.VerifyAudit(e.db)
	var ae *records.AuditError
	if !errors.As(err, &ae) || ae.Seq != 4 {
		t.Fatalf("tampered entry 4: verify says %v", err)
	}
	e.clock.Add(31e9)
	c3 := e.client()
	c3.loginReady(alice)
	mustContain(t, c3.get("/audit").body, "audit log entry 4: content does not match its hash")
	// Removing entry 2 is caught at 2.
	e.db.Update(func(tx store.Tx) error { return tx.Delete(records.BucketAudit, records.AuditKey(2)) })
	if _, err = records.VerifyAudit(e.db); !errors.As(err, &ae) || ae.Seq != 2 {
		t.Fatalf("removed entry 2: verify says %v", err)
	}
}
