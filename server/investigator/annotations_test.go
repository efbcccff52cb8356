package investigator

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"testimony/bundle"
	"testimony/crypto"
	"testimony/records"
	"testimony/store"
)

// postFile posts data as the form field name of a multipart form, as a
// browser's file upload does.
func (c *client) postFile(path, name string, data []byte) resp {
	c.e.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if name != "" {
		fw, err := mw.CreateFormFile(name, "annotations.age")
		if err != nil {
			c.e.t.Fatal(err)
		}
		fw.Write(data)
	}
	mw.Close()
	req, err := http.NewRequest("POST", c.e.ts.URL+path, &b)
	if err != nil {
		c.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, res.Header, body}
}

// bundleOf reads a bundle: its items' ids and kinds, and its index.
func bundleOf(t *testing.T, body []byte) (map[string]string, *bundle.Index) {
	t.Helper()
	br := bundle.NewReader(bytes.NewReader(body))
	for {
		_, rd, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, rd)
	}
	if bad, err := br.Verify(); err != nil || len(bad) > 0 {
		t.Fatalf("bundle does not verify: %v %v", bad, err)
	}
	idx := br.Index()
	kinds := map[string]string{}
	for _, e := range idx.Items {
		kinds[e.ID] = e.Kind
	}
	return kinds, idx
}

// TestBundleDefaultIsNewSinceLastDownload: the bundle form posted as it
// comes (no scope chosen) gives, per account, everything not yet
// downloaded: all on the first click (never a 400), nothing new (a 404
// saying so) right after, then only what arrived since; another account's
// first download is still everything. index.json names the team's
// recipient set.
func TestBundleDefaultIsNewSinceLastDownload(t *testing.T) {
	e := newInvEnv(t, Config{})
	alice, bob := e.addInvestigator("alice"), e.addInvestigator("bob")
	e.plantItem(src1, "submission", "one")
	e.plantItem(src2, "submission", "two")
	ca, cb := e.client(), e.client()
	ca.loginReady(alice)
	cb.loginReady(bob)

	r := ca.post("/bundle", url.Values{})
	if r.status != http.StatusOK {
		t.Fatalf("first click on the bundle form: %d: %s", r.status, r.body)
	}
	got, idx := bundleOf(t, r.body)
	if len(got) != 2 {
		t.Fatalf("first bundle holds %d items, want 2", len(got))
	}
	if idx.Team == nil || !slices.Contains(idx.Team.Recipients, alice.id.Recipient) || !slices.Contains(idx.Team.Recipients, bob.id.Recipient) ||
		idx.Team.Fingerprint != crypto.Fingerprint(idx.Team.Recipients...) {
		t.Fatalf("index.json's team: %+v", idx.Team)
	}
	if r := ca.post("/bundle", url.Values{"scope": {"new"}}); r.status != http.StatusNotFound {
		t.Fatalf("nothing new: %d, want 404", r.status)
	}
	third := e.plantItem(src1, "followup", "three")
	r = ca.post("/bundle", url.Values{})
	if got, _ := bundleOf(t, r.body); r.status != http.StatusOK || len(got) != 1 || got[third.ID] == "" {
		t.Fatalf("second bundle: %d, %v; want only %s", r.status, got, third.ID)
	}
	r = cb.post("/bundle", url.Values{})
	if got, _ := bundleOf(t, r.body); r.status != http.StatusOK || len(got) != 3 {
		t.Fatalf("bob's first bundle: %d, %d items, want 3", r.status, len(got))
	}
}

// TestUploadAnnotations: an age file posted to /annotations is stored as
// an item of kind annotations with no source and the day, audited, and
// travels in the other investigators' next bundles (not the uploader's,
// who has it); what is not an age file, no file, a file over 8 MiB and a
// body that is no multipart form are refused with a 4xx and store
// nothing.
func TestUploadAnnotations(t *testing.T) {
	e := newInvEnv(t, Config{})
	alice, bob := e.addInvestigator("alice"), e.addInvestigator("bob")
	e.plantItem(src1, "submission", "one")
	ca, cb := e.client(), e.client()
	ca.loginReady(alice)
	cb.loginReady(bob)
	ca.post("/bundle", url.Values{})
	cb.post("/bundle", url.Values{})

	age := append([]byte("age-encryption.org/v1\n-> X25519 abc\n"), bytes.Repeat([]byte{0xa5}, 3000)...)
	bad := []struct {
		name   string
		r      resp
		status int
	}{
		{"not age", ca.postFile("/annotations", "file", []byte("hello, this is plain text\n")), http.StatusBadRequest},
		{"armored age", ca.postFile("/annotations", "file", []byte("-----BEGIN AGE ENCRYPTED FILE-----\n")), http.StatusBadRequest},
		{"empty", ca.postFile("/annotations", "file", nil), http.StatusBadRequest},
		{"no file", ca.postFile("/annotations", "", nil), http.StatusBadRequest},
		{"over 8 MiB", ca.postFile("/annotations", "file", append(bytes.Clone(age[:22]), make([]byte, maxAnnotationsUpload)...)), http.StatusRequestEntityTooLarge},
		{"url-encoded", ca.post("/annotations", url.Values{"file": {string(age)}}), http.StatusBadRequest},
	}
	for _, b := range bad {
		if b.r.status != b.status {
			t.Errorf("%s: %d, want %d: %s", b.name, b.r.status, b.status, b.r.body)
		}
	}
	if items, _ := e.db.Items(); len(items) != 1 {
		t.Fatalf("refused uploads stored %d items", len(items)-1)
	}

	r := ca.postFile("/annotations", "file", age)
	if r.status != http.StatusSeeOther {
		t.Fatalf("upload: %d: %s", r.status, r.body)
	}
	items, _ := e.db.Items()
	var up store.Item
	for _, it := range items {
		if it.Kind == crypto.KindAnnotations {
			up = it
		}
	}
	if up.ID == "" || up.Source != "" || up.Day != e.s.today() || up.Size != int64(len(age)) {
		t.Fatalf("stored as %+v", up)
	}
	entries, err := records.ReadAudit(e.db, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(entries, func(a records.AuditEntry) bool {
		return a.Event == "upload_annotations" && a.Account == "alice" && a.Item == up.ID
	}) {
		t.Error("no audit entry for the upload")
	}
	r = cb.post("/bundle", url.Values{})
	if got, _ := bundleOf(t, r.body); r.status != http.StatusOK || got[up.ID] != crypto.KindAnnotations {
		t.Fatalf("bob's next bundle: %d, %v", r.status, got)
	}
	if r := ca.post("/bundle", url.Values{}); r.status != http.StatusNotFound {
		t.Fatalf("alice's next bundle: %d, want 404 (she has her own upload)", r.status)
	}
}
