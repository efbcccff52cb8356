package server

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"testimony/crypto"
	"testimony/records"
	"testimony/store"
)

func TestSubmitRoundTrip(t *testing.T) {
	e := newWitEnv(t, Config{})
	photo := make([]byte, 300<<10)
	rand.Read(photo)
	status, page := e.submit(fullTestimony("MARKER-1",
		part{name: "files", filename: "photo.jpg", body: string(photo), ctype: "image/jpeg"},
		part{name: "files", filename: "order.pdf", body: "%PDF-1.4 deportation order", ctype: "application/pdf"},
	)...)
	if status != http.StatusOK {
		t.Fatalf("status %d:\n%s", status, page)
	}
	codename := codenameOf(t, page)
	if _, err := crypto.CheckCodename(codename); err != nil || len(strings.Fields(codename)) != crypto.CodenameWords {
		t.Fatalf("codename %q: %v", codename, err)
	}
	items := e.items("")
	if len(items) != 1 {
		t.Fatalf("%d items, want 1", len(items))
	}
	it := items[0]
	if it.Kind != crypto.KindSubmission || it.Source != crypto.Pseudonym(e.s.key, codename) || it.Day != e.s.today() {
		t.Errorf("item record %+v", it)
	}
	rs, _ := e.s.recipients()
	if it.Recipients != rs.Fingerprint() {
		t.Errorf("item recipients %s, want %s", it.Recipients, rs.Fingerprint())
	}
	m, files := e.open(it)
	if m.Form.ID != "detention-deportation" || m.Form.Version != 1 || m.Lang != "en" {
		t.Errorf("manifest form %+v lang %q", m.Form, m.Lang)
	}
	want := map[string]string{
		"role": "relative", "consent_proxy": "yes", "detention_from": "2025-03", "detention_to": "2025-08-20",
		"deport_date": "2025-08-27", "arrival_questioned": "unsure", "consent_use": "statistics_only", "contact": "codename_only",
		"account": "My brother was held for months. MARKER-1",
	}
	for k, v := range want {
		if got := m.Answers[k]; got.IsList || got.Text != v {
			t.Errorf("answer %s = %+v, want %q", k, got, v)
		}
	}
	if c := m.Answers["conditions"]; !c.IsList || !slices.Equal(c.List, []string{"overcrowding", "medical_denied"}) {
		t.Errorf("conditions = %+v", c)
	}
	if _, ok := m.Answers["arrival_detained"]; ok {
		t.Error("an unanswered question is in the manifest")
	}
	if len(files) != 2 || !bytes.Equal(files[0], photo) || string(files[1]) != "%PDF-1.4 deportation order" {
		t.Fatalf("attachments differ: %d files", len(files))
	}
	if m.Attachments[0].Name != "photo.jpg" || m.Attachments[0].Type != "image/jpeg" || m.Attachments[1].Type != "application/pdf" {
		t.Errorf("attachments %+v", m.Attachments)
	}
	// Every investigator's key opens it; the reply key of the source does not.
	rid, _ := crypto.ReplyIdentity(e.s.key, codename)
	_, rd, _ := e.db.Open(it.ID)
	if _, err := crypto.OpenEnvelope(rd, rid); err == nil {
		t.Error("the witness's own reply key opens their submission")
	}
	if got := e.spoolFiles(); len(got) != 0 {
		t.Errorf("spool not empty after the submission: %v", got)
	}
	// The source record holds the reply key derived from the codename.
	var rec records.Source
	e.db.View(func(tx store.Tx) error {
		v, err := tx.Get(records.BucketSources, []byte(it.Source))
		if err != nil {
			return err
		}
		return jsonUnmarshal(v, &rec)
	})
	if rec.ReplyRecipient != rid.Recipient().String() || rec.Day != e.s.today() {
		t.Errorf("source record %+v", rec)
	}
}

func TestValidationReshowsForm(t *testing.T) {
	e := newWitEnv(t, Config{})
	cases := []struct {
		name  string
		parts []part
		field string
	}{
		{"missing account", []part{{name: "lang", body: "en"}, {name: "facility", body: "Kept facility name"}, {name: "account", body: "   "}}, "account"},
		{"option not offered", append(fullTestimony("x"), part{name: "role", body: "astronaut"}), "role"},
		{"two single answers", append(fullTestimony("x"), part{name: "consent_use", body: "no_publication"}), "consent_use"},
		{"bad multi option", append(fullTestimony("x"), part{name: "conditions", body: "nice_food"}), "conditions"},
		{"bad date", append(fullTestimony("x")[:4], part{name: "deport_date", body: "27 August"}, part{name: "account", body: "text"}), "deport_date"},
		{"bad yes/no", []part{{name: "arrival_detained", body: "maybe"}, {name: "account", body: "text"}}, "arrival_detained"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, page := e.submit(append(c.parts, part{name: "files", filename: "a.txt", body: "a file"})...)
			if status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", status)
			}
			if !strings.Contains(page, `class="field invalid"`) || !strings.Contains(page, "choose them again") {
				t.Errorf("the page does not mark the field or does not ask for the files again:\n%s", page)
			}
			if !strings.Contains(page, `<form method="post" action="/submit?lang=`) {
				t.Error("the form is not shown again")
			}
			if c.name == "missing account" && !strings.Contains(page, `value="Kept facility name"`) {
				t.Error("the answers given were not kept")
			}
			if c.name == "bad multi option" && !strings.Contains(page, `value="overcrowding" checked`) {
				t.Error("the choices given were not kept")
			}
		})
	}
	if n := len(e.items("")); n != 0 {
		t.Fatalf("%d items stored from invalid forms", n)
	}
	if got := e.spoolFiles(); len(got) != 0 {
		t.Errorf("spool not empty: %v", got)
	}
}

// TestStalledUploadTimesOut: an upload that stops sending is ended after
// the read window, leaving nothing behind; one that keeps sending slowly,
// longer than the window in all, goes through.
func TestStalledUploadTimesOut(t *testing.T) {
	old := readWindow
	readWindow = 300 * time.Millisecond
	t.Cleanup(func() { readWindow = old })
	e := newWitEnv(t, Config{})
	ct, body := multipartBody(t, fullTestimony("stall", part{name: "files", filename: "a.bin", body: strings.Repeat("s", 3<<20)})...)

	conn, err := net.Dial("tcp", e.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /submit HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", ct, len(body))
	conn.Write(body[:len(body)/2])
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	resp, _ := io.ReadAll(conn) // the server answers and closes, or just closes
	if time.Since(start) > 5*time.Second {
		t.Fatal("the stalled upload was not ended")
	}
	if len(resp) > 0 && !strings.Contains(string(resp), "408") {
		t.Errorf("answer to a stalled upload: %.200s", resp)
	}
	if n := len(e.items("")); n != 0 {
		t.Fatalf("%d items", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(e.spoolFiles()) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := e.spoolFiles(); len(got) != 0 {
		t.Errorf("spool: %v", got)
	}

	// A slow but steady upload: 3 MiB in pieces over about a second, four
	// read windows, with no pause as long as one.
	pr, pw := io.Pipe()
	go func() {
		for i := 0; i < len(body); i += 256 << 10 {
			pw.Write(body[i:min(len(body), i+256<<10)])
			time.Sleep(80 * time.Millisecond)
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("POST", e.ts.URL+"/submit", pr)
	req.Header.Set("Content-Type", ct)
	req.ContentLength = int64(len(body))
	res, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || len(e.items("")) != 1 {
		t.Fatalf("slow upload: %d, %d items", res.StatusCode, len(e.items("")))
	}
}

// TestRecipientChangeTakesEffect: the recipient set is memoised, but a new
// investigator's key is used from the next submission on.
func TestRecipientChangeTakesEffect(t *testing.T) {
	e := newWitEnv(t, Config{})
	if st, _ := e.submit(fullTestimony("one")...); st != 200 {
		t.Fatal(st)
	}
	inv, _ := crypto.GenerateIdentity(false)
	e.db.Update(func(tx store.Tx) error {
		return tx.Put(records.BucketInvestigators, []byte("new"), []byte(`{"recipient":"`+inv.Recipient+`","disabled":false}`))
	})
	if st, _ := e.submit(fullTestimony("two")...); st != 200 {
		t.Fatal(st)
	}
	items := e.items("")
	if len(items) != 2 || items[0].Recipients == items[1].Recipients {
		t.Fatalf("the recipient set did not change: %+v", items)
	}
	opened := 0
	for _, it := range items {
		_, rd, _ := e.db.Open(it.ID)
		if _, err := crypto.OpenEnvelope(rd, inv.AgeIdentity()); err == nil {
			opened++
		}
	}
	if opened != 1 {
		t.Fatalf("the new investigator opens %d items, want 1", opened)
	}
}
