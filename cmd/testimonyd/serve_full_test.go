package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"testimony/crypto"
)

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
	inv, err := crypto.GenerateIdentity(false)
	if err != nil {
		t.Fatal(err)
	}
	en := parseEnrolment(t, mustRun(t, "investigator", "add", "--json", "--recipient", inv.Recipient, "--data", dir, "irina").stdout)
	d := startServe(t, dir, nil, "--escrow-recipients", escrow.Recipient, "--max-db-mb", "16")

	post := func(marker string) (int, string) {
		ct, body := witnessForm(marker, formFile{"scan.bin", bytes.Repeat([]byte(marker[:1]), 1<<20)})
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
	// The server may log after its reply, and its stderr reaches d.Out
	// through a pipe: wait for the line a little.
	for wait := time.Now(); !strings.Contains(d.Out.String(), "size limit"); time.Sleep(20 * time.Millisecond) {
		if time.Since(wait) > 5*time.Second {
			t.Errorf("the log does not say the database is full:\n%s", d.Out.String())
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
	// Downloads keep working: an investigator logs in for the first time
	// (the session and the passphrase change are writes too), lists the
	// cases and downloads them all; each submission acknowledged before
	// the cap opens whole with their key.
	ic := newPTClient(t, d.inv)
	if c, hdr, p := ic.form("/login", url.Values{"account": {"irina"}, "passphrase": {en.Passphrase},
		"code": {oathtoolNow(t, en.TOTPSecret)}}); c != http.StatusSeeOther || hdr.Get("Location") != "/passphrase" {
		t.Fatalf("first login while full: %d %q\n%.500s", c, hdr.Get("Location"), p)
	}
	np := "harbour lantern meadow quartz violet anchor"
	if c, _, p := ic.form("/passphrase", url.Values{"current": {en.Passphrase}, "new": {np}, "confirm": {np}}); c != http.StatusSeeOther {
		t.Fatalf("passphrase change while full: %d\n%.500s", c, p)
	}
	if c, _, p := ic.do("GET", "/", "", nil); c != http.StatusOK {
		t.Fatalf("case list while full: %d\n%.500s", c, p)
	}
	c, _, bundle := ic.form("/bundle", url.Values{"scope": {"all"}})
	if c != http.StatusOK {
		t.Fatalf("bundle download while full: %d\n%.500s", c, bundle)
	}
	if items, opened := openBundle(t, bundle, inv, nil); items != 4+acked || opened != acked {
		t.Errorf("the bundle downloaded while full holds %d items, %d of them open with the investigator's key; want %d and %d", items, opened, 4+acked, acked)
	}

	// Free space: the purge's freed pages are reused, no restart needed.
	mustRun(t, "purge", "--older-than", "30", "--data", dir)
	if c, p := post("load-full-after"); c != http.StatusOK {
		t.Errorf("after a purge freed 4 MiB, a submission got %d:\n%.500s\nserver log:\n%s", c, p, d.Out.String())
	}
	mustRun(t, "check", "--data", dir)
}

// openBundle reads a bundle downloaded from the investigator site: how many
// items it holds, and how many of them open with id and read back whole
// (every attachment's hash checked). An item encrypted to other keys does
// not open; any other failure fails the test. each, if not nil, gets the
// manifest (as JSON) of every item that opens, then each attachment's bytes.
func openBundle(t *testing.T, bundle []byte, id *crypto.Identity, each func([]byte)) (items, opened int) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(bundle))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return items, opened
		}
		if err != nil {
			t.Fatalf("bundle: %v", err)
		}
		if !strings.HasSuffix(h.Name, ".age") {
			continue
		}
		items++
		er, err := crypto.OpenEnvelope(tr, id.AgeIdentity())
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		if each != nil {
			mj, err := json.Marshal(er.Manifest())
			if err != nil {
				t.Fatal(err)
			}
			each(mj)
		}
		for {
			_, r, err := er.Next()
			if err == io.EOF {
				break
			}
			var b []byte
			if err == nil {
				b, err = io.ReadAll(r)
			}
			if err != nil {
				t.Fatalf("%s: %v", h.Name, err)
			}
			if each != nil {
				each(b)
			}
		}
		if err := er.Finish(); err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		opened++
	}
}
