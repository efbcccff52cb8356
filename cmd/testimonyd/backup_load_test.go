package main

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"testimony/crypto"
	"testimony/store"
)

// witnessForm is a valid submission of the default questionnaire, with a
// marker in a free-text answer.
func witnessForm(marker string) (string, []byte) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, kv := range [][2]string{
		{"lang", "en"}, {"role", "relative"}, {"consent_proxy", "yes"},
		{"facility", "A county detention centre"}, {"detention_from", "2025-03"}, {"detention_to", "2025-08-20"},
		{"conditions", "overcrowding"}, {"deport_date", "2025-08-27"}, {"depart_airport", "Alexandria"},
		{"transit_country", "Egypt"}, {"arrival_airport", "Moscow"}, {"flight_treatment", "shackled"},
		{"arrival_questioned", "unsure"}, {"account", "My brother was held for months. " + marker},
		{"consent_use", "statistics_only"}, {"contact", "codename_only"},
	} {
		mw.WriteField(kv[0], kv[1])
	}
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

func postForm(client *http.Client, base, marker string) (int, string, error) {
	ct, body := witnessForm(marker)
	req, _ := http.NewRequest("POST", base+"/submit", bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	res, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	page, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(page), nil
}

// markersIn decrypts every item of a database file with id and returns the
// markers ("load-…") found in their answers.
func markersIn(t *testing.T, path string, id age.Identity) map[string]bool {
	t.Helper()
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	items, err := db.Items()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, it := range items {
		if it.Source == "s-test" {
			continue // planted ballast
		}
		_, r, err := db.Open(it.ID)
		if err != nil {
			t.Fatal(err)
		}
		er, err := crypto.OpenEnvelope(r, id)
		if err != nil {
			t.Fatalf("item %s: %v", it.ID, err)
		}
		for _, v := range er.Manifest().Answers["account"].Values() {
			if i := strings.Index(v, "load-"); i >= 0 {
				found[v[i:]] = true
			}
		}
	}
	return found
}

// TestBackupDuringConcurrentSubmissions: a backup taken with the real
// binary while 32 witnesses submit at once passes check, restores, and
// holds every item acknowledged before the backup began.
func TestBackupDuringConcurrentSubmissions(t *testing.T) {
	escrow, err := crypto.GenerateIdentity(false)
	if err != nil {
		t.Fatal(err)
	}
	ballast, _ := testRecipients(t)
	dir := newDataDir(t)
	// Ballast, so that the copy takes a while and overlaps the writes.
	var days []string
	for range 96 {
		days = append(days, daysAgo(1))
	}
	plantItems(t, dir, ballast, 512<<10, days...)
	d := startServe(t, dir, nil, "--escrow-recipients", escrow.Recipient)

	// Check the form is accepted before loading the server with it.
	if code, page, err := postForm(http.DefaultClient, d.witness, "load-probe"); err != nil || code != 200 {
		t.Fatalf("a submission was refused: %d %v\n%s", code, err, page)
	}

	type ack struct {
		marker string
		at     time.Time
	}
	var (
		mu       sync.Mutex
		acks     []ack
		failures atomic.Int64
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}, Timeout: time.Minute}
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; !stop.Load(); n++ {
				marker := fmt.Sprintf("load-%02d-%04d", w, n)
				code, _, err := postForm(client, d.witness, marker)
				if err != nil || code != http.StatusOK {
					failures.Add(1)
					continue
				}
				mu.Lock()
				acks = append(acks, ack{marker, time.Now()})
				mu.Unlock()
			}
		}()
	}
	// Let the writers get going, then back up while they run.
	for {
		mu.Lock()
		n := len(acks)
		mu.Unlock()
		if n >= 64 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	began := time.Now()
	backupFile := filepath.Join(t.TempDir(), "during.db")
	r := runBin(t, "backup", "-o", backupFile, "--data", dir)
	ended := time.Now()
	time.Sleep(200 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if r.code != 0 {
		t.Fatalf("backup during submissions: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if f := failures.Load(); f > 0 {
		t.Errorf("%d submissions failed under load", f)
	}
	var before, during int
	want := map[string]bool{}
	for _, a := range acks {
		switch {
		case a.at.Before(began):
			before++
			want[a.marker] = true
		case a.at.Before(ended):
			during++
		}
	}
	t.Logf("backup took %v: %d submissions acknowledged before it began, %d while it ran, %d in all",
		ended.Sub(began).Round(time.Millisecond), before, during, len(acks))
	if during == 0 {
		t.Error("no submission completed while the backup ran: the test did not overlap them")
	}

	mustRun(t, "check", "--file", backupFile)
	restored := newDataDir(t)
	mustRun(t, "restore", backupFile, "--data", restored)
	mustRun(t, "check", "--data", restored)
	got := markersIn(t, filepath.Join(restored, dbFile), escrow.AgeIdentity())
	missing := 0
	for m := range want {
		if !got[m] {
			missing++
			if missing < 5 {
				t.Errorf("acknowledged before the backup began, but not in it: %s", m)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d items acknowledged before the backup are missing from it", missing, len(want))
	}
	// Every acknowledged item is in the live database, whole.
	d.stop(t)
	live := markersIn(t, filepath.Join(dir, dbFile), escrow.AgeIdentity())
	for _, a := range acks {
		if !live[a.marker] {
			t.Errorf("acknowledged %s is not in the database", a.marker)
		}
	}
	if _, err := os.Stat(backupFile); err != nil {
		t.Fatal(err)
	}
}
