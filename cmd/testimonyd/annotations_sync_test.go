package main

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"testimony/bundle"
	"testimony/crypto"
	"testimony/internal/testutil"
)

// TestAnnotationsSyncThroughServer (issue 20, done when): three
// investigators of one real testimonyd download the same submissions,
// each in their own folder (their own machine), annotate overlapping
// cases with conflicting status changes, export, upload; each then
// downloads what is new and opens it, and `testimony annotations` prints
// one and the same state in all three folders. The server stores the
// exports and never sees a note: the marker is nowhere in its data
// folder.
func TestAnnotationsSyncThroughServer(t *testing.T) {
	const submissions = 1000
	tool := testutil.Testimony(t)
	work := t.TempDir()
	testimony := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(tool, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("testimony %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	escrow, err := crypto.GenerateIdentity(false)
	if err != nil {
		t.Fatal(err)
	}
	dir := newDataDir(t)
	names := []string{"alice", "bob", "carol"}
	keys := map[string]string{}
	ens := map[string]enrolment{}
	for _, n := range names {
		keys[n] = filepath.Join(work, n+".key")
		testimony("keygen", "-o", keys[n])
		b, _ := os.ReadFile(keys[n])
		pub := crypto.PublicKeysInIdentityFile(bytes.NewReader(b))
		if len(pub) != 1 {
			t.Fatalf("keygen wrote %d public keys", len(pub))
		}
		ens[n] = parseEnrolment(t, mustRun(t, "investigator", "add", "--json", "--recipient", pub[0], "--data", dir, n).stdout)
	}
	d := startServe(t, dir, nil, "--escrow-recipients", escrow.Recipient)

	// The submissions, posted as fast as four clients go.
	var wg sync.WaitGroup
	errs := make(chan error, submissions)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < submissions; i += 4 {
				ct, body := witnessForm(fmt.Sprintf("sync-%d", i))
				res, err := http.Post(d.witness+"/submit", ct, bytes.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("submission %d: %d", i, res.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	clients := map[string]*ptClient{}
	for _, n := range names {
		c := newPTClient(t, d.inv)
		if code, hdr, p := c.form("/login", url.Values{"account": {n}, "passphrase": {ens[n].Passphrase},
			"code": {oathtoolNow(t, ens[n].TOTPSecret)}}); code != http.StatusSeeOther || hdr.Get("Location") != "/passphrase" {
			t.Fatalf("%s's first login: %d %q\n%.500s", n, code, hdr.Get("Location"), p)
		}
		np := "harbour lantern meadow quartz violet " + n
		if code, _, p := c.form("/passphrase", url.Values{"current": {ens[n].Passphrase}, "new": {np}, "confirm": {np}}); code != http.StatusSeeOther {
			t.Fatalf("%s's passphrase change: %d\n%.500s", n, code, p)
		}
		clients[n] = c
	}
	folder := func(n string) string { return filepath.Join(work, "cases-"+n) }
	// download fetches the default bundle (everything new) and opens it.
	download := func(n string, round int) *bundle.Index {
		t.Helper()
		code, _, b := clients[n].form("/bundle", url.Values{})
		if code != http.StatusOK {
			t.Fatalf("%s's bundle %d: %d\n%.500s", n, round, code, b)
		}
		f := filepath.Join(work, fmt.Sprintf("%s-%d.tar", n, round))
		if err := os.WriteFile(f, b, 0o600); err != nil {
			t.Fatal(err)
		}
		testimony("open", "-i", keys[n], "-o", folder(n), f)
		idx, err := readIndexOf(b)
		if err != nil {
			t.Fatal(err)
		}
		return idx
	}
	var ids []string
	for _, n := range names {
		idx := download(n, 1)
		if len(idx.Items) != submissions {
			t.Fatalf("%s's first bundle holds %d items, want %d", n, len(idx.Items), submissions)
		}
		if ids == nil {
			for _, e := range idx.Items {
				ids = append(ids, e.ID)
			}
		}
	}
	// Overlapping cases: every investigator sets a status on the first ten
	// (conflicting), tags and notes some of their own.
	const marker = "annotation-marker-7f3a9c"
	statuses := map[string]string{"alice": "verified", "bob": "follow-up", "carol": "closed"}
	for k, n := range names {
		for _, id := range ids[:10] {
			testimony("annotate", "--as", n, folder(n), id, "status", statuses[n])
		}
		testimony("annotate", "--as", n, folder(n), ids[10+k], "tag", "flight-"+n)
		testimony("annotate", "--as", n, folder(n), ids[k], "note", marker+" by "+n)
		testimony("annotate", "--as", n, folder(n), ids[0], "assign", names[(k+1)%3])
	}
	for _, n := range names {
		exp := filepath.Join(work, n+".annotations.age")
		testimony("annotations", "export", "--as", n, "-i", keys[n], "-o", exp, folder(n))
		b, _ := os.ReadFile(exp)
		if code, _, p := uploadFile(t, clients[n], "/annotations", b); code != http.StatusSeeOther {
			t.Fatalf("%s's upload: %d\n%.500s", n, code, p)
		}
	}
	for _, n := range names {
		idx := download(n, 2)
		if len(idx.Items) != 2 {
			t.Errorf("%s's second bundle holds %d items, want the 2 others' annotations", n, len(idx.Items))
		}
	}
	states := map[string]string{}
	for _, n := range names {
		states[n] = testimony("annotations", folder(n))
	}
	if states["alice"] != states["bob"] || states["alice"] != states["carol"] {
		t.Fatalf("the three folders differ:\nalice:\n%s\nbob:\n%s\ncarol:\n%s", states["alice"], states["bob"], states["carol"])
	}
	for _, want := range []string{marker + " by alice", marker + " by bob", marker + " by carol", "flight-bob", "item:" + ids[9]} {
		if !strings.Contains(states["alice"], want) {
			t.Errorf("the merged state lacks %q:\n%s", want, states["alice"])
		}
	}
	// The server holds the notes only as ciphertext.
	d.stop(t)
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(marker)) {
				t.Errorf("the note's marker is in %s", p)
			}
		}
		return nil
	})
	if strings.Contains(d.Out.String(), marker) {
		t.Error("the note's marker is in the server's log")
	}
}

// uploadFile posts data as the "file" field of a multipart form.
func uploadFile(t *testing.T, c *ptClient, path string, data []byte) (int, http.Header, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	fw, _ := mw.CreateFormFile("file", "annotations.age")
	fw.Write(data)
	mw.Close()
	return c.do("POST", path, mw.FormDataContentType(), &b)
}

// readIndexOf reads a bundle's index.json.
func readIndexOf(b []byte) (*bundle.Index, error) {
	br := bundle.NewReader(bytes.NewReader(b))
	for {
		_, _, err := br.Next()
		if err != nil {
			if err == io.EOF {
				break
			}
			return nil, err
		}
	}
	if br.Index() == nil {
		return nil, fmt.Errorf("no index.json")
	}
	return br.Index(), nil
}
