package main

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"testimony/crypto"
)

// formWithFile is witnessForm with one attachment of size bytes.
func formWithFile(marker string, size int) (string, []byte) {
	ct, body := witnessForm(marker)
	// Rebuild with the file part added after the answers.
	_ = ct
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mr := multipart.NewReader(bytes.NewReader(body), strings.TrimPrefix(ct, "multipart/form-data; boundary="))
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		v, _ := io.ReadAll(p)
		mw.WriteField(p.FormName(), string(v))
	}
	fw, _ := mw.CreateFormFile("files", "scan.bin")
	fw.Write(bytes.Repeat([]byte(marker[:1]), size))
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

// TestServeDatabaseFull: with max_db_mb reached, a submission gets a clear
// 503/507 page and leaves nothing half written; reading (status, check,
// backup) keeps working; once a purge frees space, submissions go through
// again without a restart.
func TestServeDatabaseFull(t *testing.T) {
	escrow, err := crypto.GenerateIdentity(false)
	if err != nil {
		t.Fatal(err)
	}
	rs, _ := testRecipients(t)
	dir := newDataDir(t)
	// Old ballast that a purge can free later.
	plantItems(t, dir, rs, 1<<20, daysAgo(100), daysAgo(100), daysAgo(100), daysAgo(100))
	d := startServe(t, dir, nil, "--escrow-recipients", escrow.Recipient, "--max-db-mb", "16")

	post := func(marker string) (int, string) {
		ct, body := formWithFile(marker, 1<<20)
		res, err := http.Post(d.witness+"/submit", ct, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		page, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(page)
	}
	acked := 0
	var code int
	var page string
	for i := range 40 {
		code, page = post(fmt.Sprintf("load-full-%d", i))
		if code != http.StatusOK {
			break
		}
		acked++
	}
	t.Logf("%d submissions of 1 MiB fit under max_db_mb = 16; then %d", acked, code)
	if acked == 0 || code == http.StatusOK {
		t.Fatalf("the cap was never reached (%d accepted)", acked)
	}
	if code != http.StatusInsufficientStorage && code != http.StatusServiceUnavailable {
		t.Errorf("a submission over the cap got %d, want 507 or 503 (the witness handler must map store.ErrFull)", code)
	}
	if strings.Contains(page, "goroutine") || strings.Contains(page, "bbolt") || strings.Contains(page, "maximum db size") {
		t.Errorf("the refusal page leaks internals:\n%s", page)
	}
	// The server may log after its reply, and its stderr reaches d.logs
	// through a pipe: wait for the line a little.
	for wait := time.Now(); !strings.Contains(d.logs.String(), "size limit"); time.Sleep(20 * time.Millisecond) {
		if time.Since(wait) > 5*time.Second {
			t.Errorf("the log does not say the database is full:\n%s", d.logs.String())
			break
		}
	}
	// Nothing half written, and reading still works.
	mustRun(t, "check", "--data", dir)
	st := statusOf(t, "--data", dir)
	if st.Items != 4+acked {
		t.Errorf("%d items after the refusal, want %d (4 planted + %d acknowledged)", st.Items, 4+acked, acked)
	}
	mustRun(t, "backup", "-o", t.TempDir()+"/full.db", "--data", dir)
	if c, _ := httpGet(t, d.witness+"/"); c != http.StatusOK {
		t.Errorf("landing page while full: %d", c)
	}

	// Free space: the purge's freed pages are reused, no restart needed.
	mustRun(t, "purge", "--older-than", "30", "--data", dir)
	if c, p := post("load-full-after"); c != http.StatusOK {
		t.Errorf("after a purge freed 4 MiB, a submission got %d:\n%.500s\nserver log:\n%s", c, p, d.logs.String())
	}
	mustRun(t, "check", "--data", dir)
}
