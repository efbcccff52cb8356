package main

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"testimony/crypto"
	"testimony/store"
)

// formFile is a file a witness attaches.
type formFile struct {
	name string
	data []byte
}

// multipartForm is a form as a browser posts it: the fields in order,
// then the files as the "files" field. It returns the content type and
// the body.
func multipartForm(fields [][2]string, files ...formFile) (string, []byte) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, kv := range fields {
		mw.WriteField(kv[0], kv[1])
	}
	for _, f := range files {
		fw, _ := mw.CreateFormFile("files", f.name)
		fw.Write(f.data)
	}
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

// witnessForm is a valid submission of the default questionnaire, with a
// marker in a free-text answer, and files attached.
func witnessForm(marker string, files ...formFile) (string, []byte) {
	return multipartForm([][2]string{
		{"lang", "en"}, {"role", "relative"}, {"consent_proxy", "yes"},
		{"facility", "A county detention centre"}, {"detention_from", "2025-03"}, {"detention_to", "2025-08-20"},
		{"conditions", "overcrowding"}, {"deport_date", "2025-08-27"}, {"depart_airport", "Alexandria"},
		{"transit_country", "Egypt"}, {"arrival_airport", "Moscow"}, {"flight_treatment", "shackled"},
		{"arrival_questioned", "unsure"}, {"account", "My brother was held for months. " + marker},
		{"consent_use", "statistics_only"}, {"contact", "codename_only"},
	}, files...)
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
	db, items := storedItems(t, path, store.Options{})
	defer db.Close()
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
	days := slices.Repeat([]string{daysAgo(1)}, 96)
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

// postFormFile posts witnessForm(marker) with one attached file of size
// random bytes.
func postFormFile(client *http.Client, base, marker string, size int) (int, error) {
	data := make([]byte, size)
	rand.Read(data)
	ct, body := witnessForm(marker, formFile{"photo.jpg", data})
	req, _ := http.NewRequest("POST", base+"/submit", bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	io.Copy(io.Discard, res.Body)
	return res.StatusCode, nil
}

// submitAll has 32 witnesses post each times submissions with a file of
// size bytes, and returns the slowest one, the number that failed, and when
// the last one ended.
func submitAll(client *http.Client, base, tag string, each, size int) (slowest time.Duration, failed int64, ended time.Time) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var fails atomic.Int64
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range each {
				start := time.Now()
				code, err := postFormFile(client, base, fmt.Sprintf("load-%s-%02d-%02d", tag, w, n), size)
				took := time.Since(start)
				if err != nil || code != http.StatusOK {
					fails.Add(1)
				}
				mu.Lock()
				slowest = max(slowest, took)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return slowest, fails.Load(), time.Now()
}

// readFrame reads one frame of a backup stream.
func readFrame(t *testing.T, r io.Reader) {
	t.Helper()
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(io.Discard, r, int64(binary.BigEndian.Uint32(hdr[:]))); err != nil {
		t.Fatal(err)
	}
}

// TestBackupStalledReader: a backup reader that stops reading for 30 s
// while 32 witnesses submit (enough to make the database file grow past
// bbolt's mapping, which needs every read transaction closed) stalls no
// submission: all of them are acknowledged before the reader wakes. The
// stalled backup is cut off with a clear error, in the server's log and
// on the client, and a second stalled backup does not hold shutdown.
func TestBackupStalledReader(t *testing.T) {
	const stall = 30 * time.Second // the figure; the server cuts off at backupStall
	if backupStall >= stall {
		t.Fatalf("backupStall %v must be shorter than the test's stall %v", backupStall, stall)
	}
	escrow, err := crypto.GenerateIdentity(false)
	if err != nil {
		t.Fatal(err)
	}
	ballast, _ := testRecipients(t)
	dir := newDataDir(t)
	// More than the socket's buffers hold, so that the stream is stuck.
	days := slices.Repeat([]string{daysAgo(1)}, 8)
	plantItems(t, dir, ballast, 512<<10, days...)
	d := startServe(t, dir, nil, "--escrow-recipients", escrow.Recipient)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}, Timeout: 2 * time.Minute}
	const fileSize = 128 << 10

	base, fails, _ := submitAll(client, d.witness, "base", 1, fileSize)
	if fails > 0 {
		t.Fatalf("%d submissions failed without a backup", fails)
	}

	// A backup whose reader takes the start of the stream, then stops.
	_, conn, br, err := askServer(dir, controlRequest{Op: "backup"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	readFrame(t, br)
	stalled := time.Now()

	// Enough to grow the file past bbolt's mapping, which is at most
	// twice the file's size.
	fi, err := os.Stat(filepath.Join(dir, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	each := int((2*fi.Size()+4<<20)/(32*fileSize)) + 1
	type outcome struct {
		slowest time.Duration
		fails   int64
		ended   time.Time
	}
	done := make(chan outcome, 1)
	go func() {
		s, f, e := submitAll(client, d.witness, "stall", each, fileSize)
		done <- outcome{s, f, e}
	}()
	var got outcome
	select {
	case got = <-done:
	case <-time.After(time.Until(stalled.Add(stall))):
		// Wake the reader, or the submissions wait on it for ever.
		go io.Copy(io.Discard, br)
		<-done
		t.Fatalf("32×%d submissions were still waiting when the stalled backup reader woke after %v", each, stall)
	}
	t.Logf("slowest submission: %v without a backup, %v with a stalled one (32×%d of %d KiB, done %v into the stall)",
		base.Round(time.Millisecond), got.slowest.Round(time.Millisecond), each, fileSize>>10, got.ended.Sub(stalled).Round(time.Millisecond))
	if got.fails > 0 {
		t.Errorf("%d submissions failed while a backup reader stalled", got.fails)
	}
	if after, _ := os.Stat(filepath.Join(dir, dbFile)); after.Size() <= fi.Size() {
		t.Errorf("the database did not grow (%d bytes): the test did not need a remap", after.Size())
	}

	// The reader wakes: the stream was cut off, and says why.
	time.Sleep(time.Until(stalled.Add(stall)))
	_, err = receiveBackup(br, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "cut short") || !strings.Contains(err.Error(), "takes nothing for") {
		t.Errorf("the stalled backup reader got: %v", err)
	}
	if !strings.Contains(d.Out.String(), "the backup reader took nothing for "+backupStall.String()+": cut off") {
		t.Errorf("the server's log does not say the backup was cut off:\n%s", d.Out.String())
	}

	// A backup stalled at shutdown is cut off at once, not at its deadline.
	_, conn2, br2, err := askServer(dir, controlRequest{Op: "backup"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	readFrame(t, br2)
	stopAt := time.Now()
	d.stop(t)
	if took := time.Since(stopAt); took >= backupStall*2/3 {
		t.Errorf("shutdown took %v with a stalled backup: it waited for the reader", took)
	}
	mustRun(t, "check", "--data", dir)
	if ents, _ := filepath.Glob(filepath.Join(dir, ".snapshot-*")); len(ents) > 0 {
		t.Errorf("snapshot files left in the data directory: %v", ents)
	}
}
