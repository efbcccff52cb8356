package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"testimony/crypto"
	"testimony/internal/testutil"
	"testimony/store"
)

// The tests of this package run the real testimonyd binary, built once
// per test process (testutil.Testimonyd), which TestMain removes at exit.
func TestMain(m *testing.M) { testutil.Main(m) }

// result is a finished command.
type result struct {
	code           int
	stdout, stderr string
}

// runBin runs testimonyd with args and waits for it (at most a minute).
func runBin(t testing.TB, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, testutil.Testimonyd(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("testimonyd %v: %v", args, err)
	}
	return r
}

// mustRun runs testimonyd and fails the test unless it exits 0.
func mustRun(t testing.TB, args ...string) result {
	t.Helper()
	r := runBin(t, args...)
	if r.code != 0 {
		t.Fatalf("testimonyd %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// daemon is a running "testimonyd serve"; its Out holds the log.
type daemon struct {
	*testutil.Proc
	witness, inv string // http://127.0.0.1:PORT
}

// serveArgs are the arguments of "testimonyd serve" on free loopback
// ports, then extra.
func serveArgs(t testing.TB, dataDir string, extra ...string) []string {
	return append([]string{testutil.Testimonyd(t), "serve", "--data", dataDir,
		"--witness-addr", "127.0.0.1:0", "--investigator-addr", "127.0.0.1:0"}, extra...)
}

// startServe starts "testimonyd serve" on free loopback ports with extra
// flags and waits until both listeners and the control socket are up; the
// end of the test stops it, and fails the test if it did not exit
// cleanly. prefix, if set, is a command (and its arguments) that runs
// testimonyd.
func startServe(t testing.TB, dataDir string, prefix []string, extra ...string) *daemon {
	t.Helper()
	args := append(append([]string(nil), prefix...), serveArgs(t, dataDir, append([]string{"--log-level", "debug"}, extra...)...)...)
	d := &daemon{Proc: testutil.Start(t, exec.Command(args[0], args[1:]...))}
	t.Cleanup(func() { d.stop(t) })
	a := d.Serving(t, "witness", "investigator", "control")
	d.witness, d.inv = "http://"+a["witness"], "http://"+a["investigator"]
	return d
}

// stop asks serve to shut down (SIGINT) and fails the test unless it
// exits cleanly.
func (d *daemon) stop(t testing.TB) {
	t.Helper()
	if d.Exited() {
		return
	}
	if err := d.Stop(t, os.Interrupt); err != nil && !t.Failed() {
		t.Errorf("serve exited with %v\n%s", err, d.Out.String())
	}
}

// newDataDir runs "testimonyd init" in a fresh directory.
func newDataDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	mustRun(t, "init", "--data", dir)
	return dir
}

// storedItems opens a database file read-only, to read what a stopped
// server left, and lists its items. The caller closes the store (before a
// server opens the file again).
func storedItems(t testing.TB, path string, opts store.Options) (*store.DB, []store.Item) {
	t.Helper()
	opts.ReadOnly = true
	db, err := store.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	items, err := db.Items()
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	return db, items
}

// planted is an item written straight into a store by a test.
type planted struct {
	id, day string
	marker  []byte // 64 bytes from the middle of its ciphertext
}

// plantItems writes items (age envelopes of size bytes of attachment, to
// rs) with the given days into the data directory's database while no
// server runs.
func plantItems(t testing.TB, dataDir string, rs *crypto.Recipients, size int, days ...string) []planted {
	t.Helper()
	db, err := store.Open(filepath.Join(dataDir, dbFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out []planted
	for i, day := range days {
		var ct bytes.Buffer
		att := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		m := &crypto.Manifest{Kind: crypto.KindSubmission, Day: day, Form: crypto.FormRef{ID: "test", Version: 1},
			Answers:     map[string]crypto.Answer{"what": crypto.TextAnswer(fmt.Sprintf("planted item %d", i))},
			Attachments: []crypto.Attachment{{Name: "a.bin", Size: int64(size), SHA256: sha256Hex(att), Type: "application/octet-stream"}}}
		env, err := crypto.NewEnvelope(&ct, rs, m)
		if err != nil {
			t.Fatal(err)
		}
		if err := env.WriteAttachment(bytes.NewReader(att)); err != nil {
			t.Fatal(err)
		}
		if err := env.Close(); err != nil {
			t.Fatal(err)
		}
		w := db.NewItem()
		if _, err := w.Write(ct.Bytes()); err != nil {
			t.Fatal(err)
		}
		it, err := w.Commit(store.Item{Kind: crypto.KindSubmission, Day: day, Recipients: rs.Fingerprint(), Source: "s-test"})
		if err != nil {
			t.Fatal(err)
		}
		mid := ct.Len() / 2
		out = append(out, planted{id: it.ID, day: day, marker: bytes.Clone(ct.Bytes()[mid : mid+64])})
	}
	return out
}

func testRecipients(t testing.TB) (*crypto.Recipients, *crypto.Identity) {
	t.Helper()
	id, err := crypto.GenerateIdentity(false)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := crypto.NewRecipients("test", id.Recipient)
	if err != nil {
		t.Fatal(err)
	}
	return rs, id
}

func daysAgo(n int) string { return time.Now().UTC().AddDate(0, 0, -n).Format(time.DateOnly) }

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestServeRefusesPublicBind: a non-loopback address without
// --allow-public-bind is refused before anything listens, with a message
// that says why and what flag would allow it.
func TestServeRefusesPublicBind(t *testing.T) {
	dir := newDataDir(t)
	for _, flagv := range []string{"--witness-addr=0.0.0.0:0", "--investigator-addr=[::]:0"} {
		r := runBin(t, "serve", "--data", dir, "--witness-addr=127.0.0.1:0", "--investigator-addr=127.0.0.1:0", flagv)
		if r.code != 1 {
			t.Fatalf("%s: exit %d, want 1\n%s", flagv, r.code, r.stderr)
		}
		for _, want := range []string{"refusing to listen on a non-loopback address", "--allow-public-bind", "onion"} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("%s: stderr lacks %q:\n%s", flagv, want, r.stderr)
			}
		}
	}
	// The same address with the flag is accepted: the refusal is the
	// flag's doing, not the address's.
	d := startServe(t, dir, nil, "--allow-public-bind", "--witness-addr=0.0.0.0:0")
	if !strings.HasPrefix(d.witness, "http://0.0.0.0:") && !strings.HasPrefix(d.witness, "http://[::]:") {
		t.Errorf("witness listener %s, want 0.0.0.0", d.witness)
	}
}

// TestServeCorruptDatabase: a damaged database file stops start-up with
// a clear error naming the damage and the way out, never a panic.
func TestServeCorruptDatabase(t *testing.T) {
	rs, _ := testRecipients(t)
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"garbage", func(t *testing.T, path string) {
			os.WriteFile(path, bytes.Repeat([]byte("not a database "), 4096), 0o600)
		}},
		{"truncated", func(t *testing.T, path string) { os.Truncate(path, 100) }},
		{"both meta pages zeroed", func(t *testing.T, path string) {
			f, _ := os.OpenFile(path, os.O_RDWR, 0)
			f.WriteAt(make([]byte, 2*4096), 0)
			f.Close()
		}},
		{"data pages overwritten", func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			for i := 2 * 4096; i < len(b); i += 97 {
				b[i] ^= 0x5a
			}
			os.WriteFile(path, b, 0o600)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := newDataDir(t)
			plantItems(t, dir, rs, 50<<10, daysAgo(1), daysAgo(0))
			tc.damage(t, filepath.Join(dir, dbFile))
			r := runBin(t, "serve", "--data", dir, "--witness-addr=127.0.0.1:0", "--investigator-addr=127.0.0.1:0")
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\nstderr: %s", r.code, r.stderr)
			}
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
				t.Errorf("start-up panicked:\n%s", r.stderr)
			}
			for _, want := range []string{"cannot start", "damaged", "testimonyd restore"} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			// check says the same, also without a panic.
			r = runBin(t, "check", "--data", dir)
			if r.code != 1 || strings.Contains(r.stderr, "goroutine ") || !strings.Contains(r.stderr, "damaged") {
				t.Errorf("check: exit %d\n%s", r.code, r.stderr)
			}
		})
	}
}

// TestServeAppliesRetention: with retention_days set, the server purges
// old items at start-up (and daily), and nothing else.
func TestServeAppliesRetention(t *testing.T) {
	rs, _ := testRecipients(t)
	dir := newDataDir(t)
	items := plantItems(t, dir, rs, 20<<10, daysAgo(90), daysAgo(31), daysAgo(30), daysAgo(2), daysAgo(0))
	d := startServe(t, dir, nil, "--retention-days", "30")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(d.Out.String(), `"msg":"retention"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no retention log line:\n%s", d.Out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(d.Out.String(), `"count":2`) {
		t.Errorf("retention did not report 2 items purged:\n%s", d.Out.String())
	}
	r := mustRun(t, "status", "--data", dir, "--json")
	var st statusReport
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Serving || st.Items != 3 || st.OldestDay != items[2].day || st.RetentionDays != 30 {
		t.Errorf("status after retention: %+v", st)
	}
}

// TestServeLogLevel: --log-level filters the server's JSON log lines, and
// a level that does not exist is refused.
func TestServeLogLevel(t *testing.T) {
	dir := newDataDir(t)
	if r := runBin(t, "serve", "--data", dir, "--log-level", "chatty"); r.code != 1 || !strings.Contains(r.stderr, "log_level") {
		t.Errorf("bad level: exit %d: %s", r.code, r.stderr)
	}
	args := serveArgs(t, dir, "--log-level", "warn")
	p := testutil.Start(t, exec.Command(args[0], args[1:]...))
	// The control socket appears once serving has begun.
	p.Await(t, "make its control socket", time.Minute, func(string) bool {
		_, err := os.Stat(filepath.Join(dir, controlFile))
		return err == nil
	})
	time.Sleep(200 * time.Millisecond)
	if err := p.Stop(t, os.Interrupt); err != nil {
		t.Errorf("serve: %v", err)
	}
	if strings.Contains(p.Out.String(), `"level":"INFO"`) {
		t.Errorf("info lines at --log-level warn:\n%s", p.Out.String())
	}
}

// TestServeRefusesBadOverrides: an organisation's questionnaire.json or
// locale file that does not parse stops serve at start-up, and config
// check reports it, naming the file, instead of the witness site failing
// at its first request.
func TestServeRefusesBadOverrides(t *testing.T) {
	for _, tc := range []struct{ name, file, text, want string }{
		{"questionnaire", "questionnaire.json", `{"id":"q","version":1,"title":{"en":"T"},"sections":[{"title":{"en":"S"},"fields":[{"key":"a","type":"slider","label":{"en":"L"}}]}]}`, "unknown type"},
		{"locale", filepath.Join("locales", "witness.ru.json"), `{"landing.title": `, "witness.ru.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := newDataDir(t)
			path := filepath.Join(dir, tc.file)
			os.MkdirAll(filepath.Dir(path), 0o700)
			if err := os.WriteFile(path, []byte(tc.text), 0o600); err != nil {
				t.Fatal(err)
			}
			r := runBin(t, "serve", "--data", dir, "--witness-addr=127.0.0.1:0", "--investigator-addr=127.0.0.1:0")
			if r.code != 1 || !strings.Contains(r.stderr, "cannot start") || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("serve: exit %d, want 1 and %q:\n%s", r.code, tc.want, r.stderr)
			}
			r = runBin(t, "config", "check", "--data", dir)
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("config check: exit %d, want 1 and %q:\n%s", r.code, tc.want, r.stderr)
			}
			os.Remove(path)
			if r := runBin(t, "config", "check", "--data", dir); r.code != 0 {
				t.Errorf("config check without the bad file: exit %d\n%s", r.code, r.stderr)
			}
		})
	}
}
