package witness

import (
	"archive/tar"
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"

	"filippo.io/age"

	"testimony/crypto"
	"testimony/form"
	"testimony/store"
)

// streamAll makes every upload with a file to e's site stream into the
// store, however small.
func (e *witEnv) streamAll() { e.s.lim.streamMin = -1 }

// manifestRoom returns the size of an item's manifest.json entry and the
// length of the JSON in it: a streamed item keeps room after its manifest.
func (e *witEnv) manifestRoom(id string) (entry, json int) {
	e.t.Helper()
	_, rd, err := e.db.Open(id)
	if err != nil {
		e.t.Fatal(err)
	}
	pr, err := age.Decrypt(rd, e.ids[1].AgeIdentity())
	if err != nil {
		e.t.Fatal(err)
	}
	tr := tar.NewReader(pr)
	h, err := tr.Next()
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(tr)
	return int(h.Size), len(bytes.TrimRight(b, " "))
}

// noPending fails if the store holds any chunk of an unfinished write.
func (e *witEnv) noPending() {
	e.t.Helper()
	st, err := e.db.Stats()
	if err != nil {
		e.t.Fatal(err)
	}
	if st.PendingChunks != 0 {
		e.t.Errorf("%d chunks of unfinished writes left in the store", st.PendingChunks)
	}
	if err := e.db.Check(); err != nil {
		e.t.Error(err)
	}
}

// TestStreamedSubmission: a submission whose files go straight into the
// store (a large upload) gives the same testimony as one spooled: the
// answers, the files byte for byte, the source; and its manifest has room
// after it. No spool file is made.
func TestStreamedSubmission(t *testing.T) {
	e := newWitEnv(t, Config{})
	e.streamAll()
	photo := make([]byte, 300<<10)
	for i := range photo {
		photo[i] = byte(rand.Uint32())
	}
	// The file field sits where the form has it: before the last two
	// questions, whose answers come after the files.
	parts := fullTestimony("MARKER-S")
	parts = append(parts[:len(parts)-2:len(parts)-2],
		part{name: "files", filename: "photo.jpg", body: string(photo), ctype: "image/jpeg"},
		part{name: "files", filename: "", file: true},
		part{name: "files", filename: "приказ о депортации.pdf", body: "%PDF-1.4 order", ctype: "application/pdf"},
		part{name: "consent_use", body: "statistics_only"},
		part{name: "contact", body: "codename_only"},
	)
	status, page := e.submit(parts...)
	if status != http.StatusOK {
		t.Fatalf("status %d:\n%s", status, page)
	}
	codename := codenameOf(t, page)
	items := e.items(crypto.KindSubmission)
	if len(items) != 1 {
		t.Fatalf("%d items", len(items))
	}
	it := items[0]
	if it.Source != crypto.Pseudonym(e.s.key, codename) || it.Day != e.s.today() {
		t.Errorf("item record %+v", it)
	}
	m, files := e.open(it)
	if m.Answers["account"].Text != "My brother was held for months. MARKER-S" || m.Answers["contact"].Text != "codename_only" || m.Answers["consent_use"].Text != "statistics_only" {
		t.Errorf("answers %+v", m.Answers)
	}
	if len(files) != 2 || !bytes.Equal(files[0], photo) || string(files[1]) != "%PDF-1.4 order" {
		t.Fatalf("attachments differ: %d files", len(files))
	}
	if m.Attachments[1].Name != "приказ о депортации.pdf" || m.Attachments[1].Type != "application/pdf" || m.Attachments[0].Size != int64(len(photo)) {
		t.Errorf("attachments %+v", m.Attachments)
	}
	if entry, json := e.manifestRoom(it.ID); entry <= json {
		t.Errorf("manifest entry of %d bytes for %d of JSON: the files were spooled, not streamed", entry, json)
	}
	if got := e.spoolFiles(); len(got) != 0 {
		t.Errorf("spool files: %v", got)
	}
	e.noPending()

	// A follow-up with a file streams too.
	ct, body := multipartBody(t, part{name: "codename", body: codename}, part{name: "message", body: "More: MARKER-F"},
		part{name: "files", filename: "more.jpg", body: "jpeg bytes", ctype: "image/jpeg"})
	if status, page := e.post("/followup", ct, body); status != http.StatusOK {
		t.Fatalf("follow-up: status %d:\n%s", status, page)
	}
	fu := e.items(crypto.KindFollowup)
	if len(fu) != 1 || fu[0].Source != it.Source {
		t.Fatalf("follow-ups %+v", fu)
	}
	m, files = e.open(fu[0])
	if m.Answers["message"].Text != "More: MARKER-F" || len(files) != 1 || string(files[0]) != "jpeg bytes" {
		t.Errorf("follow-up %+v, %q", m.Answers, files)
	}
	if entry, json := e.manifestRoom(fu[0].ID); entry <= json {
		t.Errorf("follow-up manifest entry of %d bytes for %d of JSON: not streamed", entry, json)
	}
}

// TestStreamedRefusals: a streamed upload refused, for whatever reason,
// leaves no item and no chunk.
func TestStreamedRefusals(t *testing.T) {
	e := newWitEnv(t, Config{MaxFile: 100 << 10})
	e.streamAll()
	big := part{name: "files", filename: "big.bin", body: strings.Repeat("b", 200<<10)}
	small := part{name: "files", filename: "a.txt", body: "a file"}
	cases := []struct {
		name   string
		parts  []part
		status int
	}{
		{"file too large", fullTestimony("x", small, big), http.StatusRequestEntityTooLarge},
		{"invalid answers", append(fullTestimony("x", small), part{name: "role", body: "astronaut"}), http.StatusUnprocessableEntity},
		// Only a client that is not a browser sends a text twice: an
		// empty account before the files, then a long one, which the room
		// kept for the manifest did not allow for.
		{"text longer than its room", textTwice(small), http.StatusRequestEntityTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if status, page := e.submit(c.parts...); status != c.status {
				t.Fatalf("status %d, want %d:\n%.500s", status, c.status, page)
			}
			if n := len(e.items("")); n != 0 {
				t.Fatalf("%d items stored", n)
			}
			e.noPending()
		})
	}
}

// TestStreamedUploadStoreFull: a streamed upload that meets the store's
// size cap gets the calm 507 page, and leaves no chunk: once it has gone,
// a small testimony fits again.
func TestStreamedUploadStoreFull(t *testing.T) {
	e := newWitEnvStore(t, Config{MaxUpload: 1 << 30, MaxFile: 1 << 30}, store.Options{MaxSize: 24 << 20})
	e.streamAll()
	big := part{name: "files", filename: "video.mp4", body: strings.Repeat("v", 64<<20)}
	status, page := e.submit(fullTestimony("full", big)...)
	if status != http.StatusInsufficientStorage || !strings.Contains(page, "</html>") {
		t.Fatalf("status %d, want 507 with a page:\n%.300s", status, page)
	}
	if n := len(e.items("")); n != 0 {
		t.Fatalf("%d items stored", n)
	}
	e.noPending()
	if status, _ := e.submit(fullTestimony("after", part{name: "files", filename: "a.txt", body: "a file"})...); status != http.StatusOK {
		t.Fatalf("a small testimony after the refused upload: status %d", status)
	}
}

// textTwice is a whole form, with an empty account, then file, then the
// account again, long.
func textTwice(file part) []part {
	var p []part
	for _, x := range fullTestimony("x") {
		if x.name == "account" {
			x.body = ""
		}
		p = append(p, x)
	}
	p = append(p, part{name: "charges", body: ""}, part{name: "asylum_case", body: ""}, file)
	// Quotes, the longest JSON for their length that a text can still
	// hold now that control characters are removed as they arrive.
	return append(p, part{name: "account", body: strings.Repeat(`"`, 60<<10)})
}

// TestStreamSlots: with every stream slot taken, an upload is spooled, and
// the slot of a finished upload is given back.
func TestStreamSlots(t *testing.T) {
	e := newWitEnv(t, Config{})
	e.streamAll()
	for range streamSlots {
		e.s.streams <- struct{}{}
	}
	submit := func() string {
		status, page := e.submit(fullTestimony("slots", part{name: "files", filename: "a.txt", body: "a file"})...)
		if status != http.StatusOK {
			t.Fatalf("status %d", status)
		}
		return codenameOf(t, page)
	}
	submit()
	if entry, json := e.manifestRoom(e.items("")[0].ID); entry != json {
		t.Errorf("with no slot free: manifest entry %d for %d bytes of JSON, want it spooled", entry, json)
	}
	<-e.s.streams
	for range 3 {
		submit()
	}
	if n := len(e.s.streams); n != streamSlots-1 {
		t.Errorf("%d slots taken after the uploads ended, want %d", n, streamSlots-1)
	}
}

// TestWorstAnswersBound: whatever valid answers a form gets, in whatever
// order its text fields and files come, the manifest fits the room kept
// when its first file began. The answers are random, with the characters
// JSON writes longest.
func TestWorstAnswersBound(t *testing.T) {
	e := newWitEnv(t, Config{})
	q := e.s.quest
	var keys []*form.Field
	for _, sec := range q.Sections {
		for i := range sec.Fields {
			if sec.Fields[i].Type != form.TypeFile {
				keys = append(keys, sec.Fields[i])
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	text := func(n int) string {
		var b strings.Builder
		for b.Len() < n {
			b.WriteString([]string{"\x01", "\"", "\\", "\u2028", "д", "a", "\r\n", "<"}[r.IntN(8)])
		}
		return strings.ToValidUTF8(b.String()[:n], "")
	}
	first := crypto.Attachment{Name: "photo.jpg", Type: "image/jpeg"}
	for round := range 300 {
		v := form.Values{}
		budget := form.MaxTextBytes
		for _, f := range keys {
			if r.IntN(4) == 0 {
				continue // not answered
			}
			switch f.Type {
			case form.TypeText, form.TypeDate:
				v[f.Key] = []string{text(min(r.IntN(form.MaxShortField+1), budget))}
			case form.TypeTextarea:
				v[f.Key] = []string{text(min(r.IntN(form.MaxFieldBytes+1), budget))}
			case form.TypeSingle, form.TypeYesNo:
				v[f.Key] = []string{f.Options[r.IntN(len(f.Options))].Value}
			case form.TypeMulti:
				for _, o := range f.Options {
					if r.IntN(2) == 0 {
						v[f.Key] = append(v[f.Key], o.Value)
					}
				}
			}
			if f.Type == form.TypeText || f.Type == form.TypeDate || f.Type == form.TypeTextarea {
				budget -= len(v[f.Key][0])
			}
		}
		// Validation of dates is beside the point: keep them out.
		for _, f := range keys {
			if f.Type == form.TypeDate {
				v[f.Key] = []string{"2025-08"}
			}
		}
		answers, errs := q.Validate(v)
		if errs != nil {
			continue
		}
		// The files begin after a random number of the fields.
		cut := r.IntN(len(keys) + 1)
		seen, used := form.Values{}, 0
		for _, f := range keys[:cut] {
			if vals, ok := v[f.Key]; ok {
				seen[f.Key] = vals
				if f.Type == form.TypeText || f.Type == form.TypeDate || f.Type == form.TypeTextarea {
					used += len(vals[0])
				}
			}
		}
		room, err := e.s.roomFor(&crypto.Manifest{Kind: crypto.KindSubmission, Form: q.Ref(), Answers: q.WorstAnswers(seen, form.MaxTextBytes-used)}, first)
		if err != nil {
			t.Fatal(err)
		}
		atts := []crypto.Attachment{{Name: first.Name, Type: first.Type, Size: 1 << 40, SHA256: strings.Repeat("a", 64)}}
		for range crypto.MaxAttachments - 1 {
			atts = append(atts, crypto.Attachment{Name: text(crypto.MaxCleanName), Type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document", Size: 1 << 40, SHA256: strings.Repeat("b", 64)})
		}
		got, err := crypto.ManifestLen(&crypto.Manifest{Kind: crypto.KindSubmission, Day: "2026-11-29", Lang: e.s.longestLang(), Form: q.Ref(), Answers: answers, Attachments: atts})
		if err != nil {
			t.Fatal(err)
		}
		if got > room {
			t.Fatalf("round %d: a manifest of %d bytes for a room of %d (files after %d fields)", round, got, room, cut)
		}
	}
}
