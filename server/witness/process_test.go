package witness

// Tests against the real testimonyd binary: a SIGKILL in the middle of an
// upload, a 200 MiB upload watched from outside, a client that hangs up.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"testimony/crypto"
	"testimony/internal/testutil"
	"testimony/store"
)

// daemon is a running testimonyd serve.
type daemon struct {
	t      *testing.T
	bin    string
	data   string
	tmp    string // its $TMPDIR
	cmd    *exec.Cmd
	done   chan struct{}    // closed when cmd has exited
	logs   *testutil.Buffer // every run's output
	url    string
	ids    []*crypto.Identity
	escrow string // the escrow recipients file
}

// buildTestimonyd builds the server binary (without -race: it is the
// thing under test, not the test).
func buildTestimonyd(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	return testutil.Testimonyd(t)
}

// newDaemon makes a data directory with three escrow keys; start runs it.
func newDaemon(t *testing.T) *daemon {
	t.Helper()
	root := t.TempDir()
	d := &daemon{t: t, bin: buildTestimonyd(t), data: filepath.Join(root, "data"), tmp: filepath.Join(root, "tmp"), logs: &testutil.Buffer{}}
	if err := os.Mkdir(d.tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(d.bin, "init", "--data", d.data).CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	var keys []string
	for range 3 {
		id, err := crypto.GenerateIdentity(false)
		if err != nil {
			t.Fatal(err)
		}
		d.ids = append(d.ids, id)
		keys = append(keys, id.Recipient)
	}
	d.escrow = filepath.Join(root, "escrow.txt")
	if err := os.WriteFile(d.escrow, []byte(strings.Join(keys, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	logs := d.logs
	cmd := exec.Command(d.bin, "serve", "--data", d.data, "--witness-addr", "127.0.0.1:0",
		"--investigator-addr", "127.0.0.1:0", "--escrow-recipients-file", d.escrow)
	cmd.Env = append(os.Environ(), "TMPDIR="+d.tmp)
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	done := make(chan struct{})
	d.cmd, d.done = cmd, done
	d.t.Cleanup(func() { cmd.Process.Kill(); <-done })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sent := false
		for sc.Scan() {
			line := sc.Bytes()
			logs.Write(append(bytes.Clone(line), '\n'))
			var l struct{ Msg, Listener, Addr string }
			if json.Unmarshal(line, &l) == nil && l.Msg == "serving" && l.Listener == "witness" && !sent {
				addr <- l.Addr
				sent = true
			}
		}
	}()
	go func() { cmd.Wait(); pw.Close(); close(done) }()
	select {
	case a := <-addr:
		d.url = "http://" + a
	case <-time.After(30 * time.Second):
		d.t.Fatalf("testimonyd did not say where it serves:\n%s", d.logs.String())
	}
}

// stop ends the daemon with a signal and waits.
func (d *daemon) stop(sig os.Signal) {
	d.t.Helper()
	d.cmd.Process.Signal(sig)
	select {
	case <-d.done:
	case <-time.After(20 * time.Second):
		d.t.Fatal("testimonyd did not stop")
	}
}

// items opens the (stopped) daemon's store and decrypts every item.
func (d *daemon) openStore() *store.DB {
	d.t.Helper()
	db, err := store.Open(filepath.Join(d.data, "testimony.db"), store.Options{})
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { db.Close() })
	if err := db.Check(); err != nil {
		d.t.Fatalf("store check: %v", err)
	}
	return db
}

// filesHolding lists the files under dir whose bytes contain needle.
func filesHolding(t *testing.T, dir string, needle []byte) []string {
	t.Helper()
	var hits []string
	filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, needle) {
			hits = append(hits, p)
		}
		return nil
	})
	return hits
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestMarkerNeverOnDiskEvenAfterSIGKILL sends a marker in an answer, a
// file name and a file, through the real binary; kills it with SIGKILL in
// the middle of a second upload; and looks for the marker in every byte of
// the data directory, $TMPDIR and the logs.
func TestMarkerNeverOnDiskEvenAfterSIGKILL(t *testing.T) {
	const marker = "MARKER-5b1e0d-DISK"
	d := newDaemon(t)
	d.start()
	post := func(path string, parts ...part) (int, string) {
		ct, body := multipartBody(t, parts...)
		res, err := http.Post(d.url+path, ct, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	attachment := strings.Repeat(marker+" in a file. ", 40000) // ~1.2 MiB
	st, page := post("/submit", fullTestimony(marker, part{name: "files", filename: marker + ".txt", body: attachment})...)
	if st != 200 {
		t.Fatalf("submit: %d\n%s", st, page)
	}
	codename := codenameOf(t, page)
	if st, _ := post("/followup", part{name: "codename", body: codename}, part{name: "message", body: "more " + marker}); st != 200 {
		t.Fatalf("follow-up: %d", st)
	}

	// A second upload that stops half-way: the server is killed while its
	// spool holds part of the file (a body under 8 MiB), or while the store
	// holds the first chunks of its item (a larger one, streamed).
	spool := filepath.Join(d.data, spoolDirName)
	dbPath := filepath.Join(d.data, "testimony.db")
	check := func(when string) {
		t.Helper()
		for _, dir := range []string{d.data, d.tmp} {
			if hits := filesHolding(t, dir, []byte(marker)); len(hits) > 0 {
				t.Errorf("%s: the marker is on disk: %v", when, hits)
			}
		}
		if got := listDir(t, d.tmp); len(got) > 0 {
			t.Errorf("%s: $TMPDIR holds %v", when, got)
		}
		if strings.Contains(d.logs.String(), marker) || strings.Contains(d.logs.String(), codename) {
			t.Errorf("%s: the log holds the marker or the codename:\n%s", when, d.logs.String())
		}
	}
	for _, mode := range []string{"spooled", "streamed"} {
		before, err := os.Stat(dbPath)
		if err != nil {
			t.Fatal(err)
		}
		pieces := 4 // 5.8 MB
		if mode == "streamed" {
			pieces = 8
		}
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			mw.WriteField("account", "killed "+marker)
			w, _ := mw.CreateFormFile("files", marker+"-2.txt")
			for range pieces {
				io.WriteString(w, strings.Repeat(marker+" half-way. ", 50000))
			}
			// Hold the connection open, never finishing the body.
		}()
		req, _ := http.NewRequest("POST", d.url+"/submit", pr)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		if mode == "spooled" {
			req.ContentLength = 7 << 20 // as a browser says; the rest never comes
		}
		go http.DefaultClient.Do(req)
		deadline := time.Now().Add(20 * time.Second)
		for {
			var size int64
			for _, n := range listDir(t, spool) {
				if st, err := os.Stat(filepath.Join(spool, n)); err == nil {
					size += st.Size()
				}
			}
			if mode == "streamed" {
				st, err := os.Stat(dbPath)
				if err != nil {
					t.Fatal(err)
				}
				size = st.Size() - before.Size()
			}
			if size > 2<<20 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the %s upload never reached the spool or the store", mode)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if hits := filesHolding(t, d.data, []byte(marker)); len(hits) > 0 {
			t.Errorf("the marker is on disk during the %s upload: %v", mode, hits)
		}
		d.stop(syscall.SIGKILL)
		pw.CloseWithError(io.ErrUnexpectedEOF)
		if mode == "spooled" && len(listDir(t, spool)) == 0 {
			t.Fatal("the spool was empty after the kill, so this test proves nothing about it")
		}
		if mode == "streamed" {
			ro, err := store.Open(dbPath, store.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			st, _ := ro.Stats()
			ro.Close()
			if st.PendingChunks == 0 {
				t.Fatal("the store held no chunk of the upload after the kill, so this test proves nothing about it")
			}
		}
		check("after SIGKILL during the " + mode + " upload")
		d.start()
	}

	// Restarted: the spool is emptied; then stop and look at the store.
	if got := listDir(t, spool); len(got) > 0 {
		t.Errorf("the spool still holds %v after a restart", got)
	}
	d.stop(syscall.SIGTERM)
	check("after the restart")
	db := d.openStore()
	items, err := db.Items()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	found := 0
	for _, it := range items {
		kinds[it.Kind]++
		_, rd, _ := db.Open(it.ID)
		er, err := crypto.OpenEnvelope(rd, d.ids[1].AgeIdentity())
		if err != nil {
			t.Fatalf("item %s does not decrypt: %v", it.ID, err)
		}
		mj, _ := json.Marshal(er.Manifest())
		if bytes.Contains(mj, []byte(marker)) {
			found++
		}
		for {
			_, r, err := er.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(r)
			if !bytes.Equal(b, []byte(attachment)) {
				t.Error("the attachment differs")
			}
		}
		if err := er.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	if kinds[crypto.KindSubmission] != 1 || kinds[crypto.KindFollowup] != 1 || len(items) != 2 || found != 2 {
		t.Fatalf("after the kill the store holds %v (%d with the marker), want the submission and the follow-up only", kinds, found)
	}
}

// patternReader gives n deterministic pseudo-random bytes.
func patternReader(seed uint64, n int64) io.Reader {
	return io.LimitReader(&chachaReader{r: rand.NewChaCha8([32]byte{byte(seed)})}, n)
}

type chachaReader struct{ r *rand.ChaCha8 }

func (c *chachaReader) Read(p []byte) (int, error) { return c.r.Read(p) }

// procStatus reads a size field (kB) of /proc/PID/status, in bytes.
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// TestUpload200MiB streams a 200 MiB file to the real binary, watching
// $TMPDIR while it goes; samples the process's resident memory; kills the
// server once the upload is acknowledged; and opens the item offline with
// `testimony open` to compare it byte for byte.
func TestUpload200MiB(t *testing.T) {
	const size = 200 << 20
	d := newDaemon(t)
	d.start()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		mw.WriteField("account", "two hundred MiB")
		w, _ := mw.CreateFormFile("files", "video.mp4")
		if _, err := io.Copy(w, patternReader(1, size)); err != nil {
			pw.CloseWithError(err)
			return
		}
		pw.CloseWithError(mw.Close())
	}()
	req, _ := http.NewRequest("POST", d.url+"/submit", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var tmpSeen []string
	var peakAnon, peakFile int64 // sampled every 10 ms
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if got := listDir(t, d.tmp); len(got) > 0 {
				tmpSeen = got
			}
			if v, err := procStatus(d.cmd.Process.Pid, "RssAnon"); err == nil {
				peakAnon = max(peakAnon, v)
			}
			if v, err := procStatus(d.cmd.Process.Pid, "RssFile"); err == nil {
				peakFile = max(peakFile, v)
			}
		}
	})
	start := time.Now()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	close(stop)
	wg.Wait()
	if res.StatusCode != 200 || !bytes.Contains(page, []byte(`id="codename"`)) {
		t.Fatalf("status %d\n%s", res.StatusCode, page)
	}
	elapsed := time.Since(start)
	if tmpSeen != nil {
		t.Errorf("files appeared in $TMPDIR during the upload: %v", tmpSeen)
	}
	hwm, err := procStatus(d.cmd.Process.Pid, "VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	t.Logf("200 MiB in %v (%.0f MiB/s); testimonyd peak RSS %.1f MiB: anonymous (heap, stacks) %.1f MiB, file-backed (bbolt's read-only map of the database, reclaimable page cache) %.1f MiB",
		elapsed, float64(size>>20)/elapsed.Seconds(), mib(hwm), mib(peakAnon), mib(peakFile))
	// The server's own memory must stay flat whatever the upload's size.
	// bbolt maps the database file read-only; the pages of it the kernel
	// keeps mapped are page cache, counted in RSS but not the server's.
	if peakAnon == 0 || peakAnon > 64<<20 {
		t.Errorf("peak anonymous RSS %.1f MiB, want under 64 MiB", mib(peakAnon))
	}
	// Acknowledged: the streamed item survives a SIGKILL right after.
	d.stop(syscall.SIGKILL)
	db := d.openStore()
	items, _ := db.Items()
	if len(items) != 1 {
		t.Fatalf("%d items", len(items))
	}
	// Offline, as an investigator would: the item as a file, opened by
	// the real `testimony open`.
	dir := t.TempDir()
	item := filepath.Join(dir, items[0].ID+".age")
	f, err := os.Create(item)
	if err != nil {
		t.Fatal(err)
	}
	_, rd, _ := db.Open(items[0].ID)
	if _, err := io.Copy(f, rd); err != nil {
		t.Fatal(err)
	}
	f.Close()
	bin := testutil.Testimony(t)
	keyFile := filepath.Join(dir, "key.txt")
	os.WriteFile(keyFile, []byte(d.ids[2].Secret+"\n"), 0o600)
	outDir := filepath.Join(dir, "cases")
	if out, err := exec.Command(bin, "open", "-i", keyFile, "-o", outDir, item).CombinedOutput(); err != nil {
		t.Fatalf("testimony open: %v\n%s", err, out)
	}
	var video []string
	filepath.WalkDir(outDir, func(p string, de os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, "video.mp4") {
			video = append(video, p)
		}
		return nil
	})
	if len(video) != 1 {
		t.Fatalf("testimony open wrote %v, want one video.mp4", video)
	}
	got, err := os.Open(video[0])
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	want := patternReader(1, size)
	bufA, bufB := make([]byte, 1<<20), make([]byte, 1<<20)
	var off int64
	for {
		n, err := io.ReadFull(got, bufA)
		if n > 0 {
			if _, err := io.ReadFull(want, bufB[:n]); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(bufA[:n], bufB[:n]) {
				t.Fatalf("the opened file differs in the MiB at %d", off)
			}
			off += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if off != size {
		t.Fatalf("testimony open wrote %d bytes of %d", off, size)
	}
}

// TestClientHangsUpMidUpload: a client that disconnects in the middle of
// an upload leaves no item, no chunk and no spool file, before and after a
// restart: a small upload (spooled) and a large one (streamed into the
// store, whose chunks the server removes when the client leaves).
func TestClientHangsUpMidUpload(t *testing.T) {
	for _, c := range []struct {
		name string
		size int
	}{{"spooled", 4 << 20}, {"streamed", 24 << 20}} {
		t.Run(c.name, func(t *testing.T) {
			d := newDaemon(t)
			d.start()
			dbPath := filepath.Join(d.data, "testimony.db")
			st, err := os.Stat(dbPath)
			if err != nil {
				t.Fatal(err)
			}
			ct, body := multipartBody(t, fullTestimony("hang-up", part{name: "files", filename: "a.bin", body: strings.Repeat("z", c.size)})...)
			conn, err := net.Dial("tcp", strings.TrimPrefix(d.url, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "POST /submit HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", ct, len(body))
			conn.Write(body[:len(body)/2])
			spool := filepath.Join(d.data, spoolDirName)
			arrived := func() bool { return len(listDir(t, spool)) > 0 }
			if c.name == "streamed" {
				// Chunks flushed into the database: it grew.
				arrived = func() bool { now, err := os.Stat(dbPath); return err == nil && now.Size() > st.Size() }
			}
			deadline := time.Now().Add(10 * time.Second)
			for !arrived() {
				if time.Now().After(deadline) {
					t.Fatal("the upload never reached the spool or the store")
				}
				time.Sleep(10 * time.Millisecond)
			}
			if c.name == "streamed" && len(listDir(t, spool)) > 0 {
				t.Errorf("a large upload was spooled: %v", listDir(t, spool))
			}
			conn.Close()
			deadline = time.Now().Add(10 * time.Second)
			for len(listDir(t, spool)) > 0 {
				if time.Now().After(deadline) {
					t.Fatalf("the spool still holds %v after the client left", listDir(t, spool))
				}
				time.Sleep(10 * time.Millisecond)
			}
			time.Sleep(200 * time.Millisecond) // the server notices the hang-up
			d.stop(syscall.SIGTERM)
			// Read-only: no clean-up at open, so what is seen is what the
			// server left.
			ro, err := store.Open(dbPath, store.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			if st, _ := ro.Stats(); st.PendingChunks != 0 || st.Items != 0 {
				t.Errorf("after the hang-up: %+v", st)
			}
			ro.Close()
			d.start()
			d.stop(syscall.SIGTERM)
			db := d.openStore() // runs Check: no orphan chunk
			if items, _ := db.Items(); len(items) != 0 {
				t.Fatalf("%d items after a hang-up", len(items))
			}
			if st, _ := db.Stats(); st.ItemBytes != 0 || st.PendingChunks != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}
