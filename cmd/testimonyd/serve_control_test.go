package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"testimony/internal/testutil"
	"testimony/store"
)

// TestFrames: a framed stream reads back byte for byte, and a stream cut
// anywhere before its end frame is an error, never a short success.
func TestFrames(t *testing.T) {
	for _, size := range []int{0, 1, 256 << 10, 256<<10 + 1, 3<<20 + 17} {
		data := make([]byte, size)
		rand.Read(data)
		var wire bytes.Buffer
		fw := newFrameWriter(&wire)
		// Odd write sizes, as tx.WriteTo makes them.
		for p := data; len(p) > 0; {
			k := min(len(p), 4096+len(p)%5000)
			if _, err := fw.Write(p[:k]); err != nil {
				t.Fatal(err)
			}
			p = p[k:]
		}
		if err := fw.Close(); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		n, err := readFrames(bytes.NewReader(wire.Bytes()), &out)
		if err != nil || n != int64(size) || !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("size %d: read %d bytes, %v", size, n, err)
		}
		for _, cut := range []int{0, 3, 4, wire.Len() / 2, wire.Len() - 4, wire.Len() - 1} {
			if cut < 0 || cut >= wire.Len() {
				continue
			}
			_, err := readFrames(bytes.NewReader(wire.Bytes()[:cut]), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), "cut short") {
				t.Errorf("size %d cut at %d of %d: %v", size, cut, wire.Len(), err)
			}
		}
	}
}

// TestRetentionRepeats: the retention loop purges at start and again at
// each period, as items age past retention_days on a moving clock.
func TestRetentionRepeats(t *testing.T) {
	rs, _ := testRecipients(t)
	dir := newDataDir(t)
	plantItems(t, dir, rs, 1<<10, "2026-01-01", "2026-01-20", "2026-02-10")
	db, err := store.Open(filepath.Join(dir, dbFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mu sync.Mutex
	now := time.Date(2026, 2, 5, 12, 0, 0, 0, time.UTC) // 30 days keep 2026-01-06 on
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	var logs testutil.Buffer
	c := &control{db: db, cfg: settings{RetentionDays: 30}, now: clock,
		log: slog.New(slog.NewJSONHandler(&logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.retain(ctx, 20*time.Millisecond); close(done) }()
	count := func() int {
		s, err := db.Stats()
		if err != nil {
			t.Fatal(err)
		}
		return s.Items
	}
	waitFor := func(n int) {
		deadline := time.Now().Add(10 * time.Second)
		for count() != n {
			if time.Now().After(deadline) {
				t.Fatalf("%d items, want %d", count(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor(2) // 2026-01-01 went at start
	mu.Lock()
	now = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) // keeps 2026-01-30 on
	mu.Unlock()
	waitFor(1)
	cancel()
	<-done
	if !strings.Contains(logs.String(), `"msg":"retention","event":"purge","count":1`) {
		t.Errorf("retention log:\n%s", logs.String())
	}
}

// failingListener's Accept fails at once, as a listener whose socket went
// away does.
type failingListener struct{ net.Listener }

func (failingListener) Accept() (net.Conn, error) {
	return nil, errors.New("accept: the socket is gone")
}

// TestServeListenerFailureShutsDown: when a listener fails, serve still
// shuts everything down before it returns: the other web server and the
// control socket are closed, and no goroutine of serve, the console or
// the retention loop is left running over a database about to close.
func TestServeListenerFailureShutsDown(t *testing.T) {
	rs, _ := testRecipients(t)
	dir := newDataDir(t)
	plantItems(t, dir, rs, 1<<10, daysAgo(1))
	db, err := store.Open(filepath.Join(dir, dbFile), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	wl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	il, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := listenControl(dir)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	sv := &services{
		log:     log,
		witness: &http.Server{Handler: ok}, wl: failingListener{wl},
		inv: &http.Server{Handler: ok}, il: il,
		console: &control{db: db, cfg: settings{DataDir: dir, RetentionDays: 30}, log: log, now: time.Now}, ctl: ctl,
		retentionEvery:  time.Hour,
		shutdownTimeout: 10 * time.Second,
	}
	done := make(chan error, 1)
	go func() { done <- sv.run(make(chan os.Signal)) }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not return after its listener failed")
	}
	wl.Close()
	if err == nil || !strings.Contains(err.Error(), "the socket is gone") {
		t.Errorf("serve returned %v, want the listener's error", err)
	}
	if c, err := net.DialTimeout("tcp", il.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("the investigator listener is still open")
	}
	if _, err := dialControl(dir); !errors.Is(err, errNotServing) {
		t.Errorf("the control socket still answers: %v", err)
	}
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, f := range []string{"main.(*control).retain", "main.(*control).serve", "net/http.(*Server).Serve", "main.(*services).run"} {
		if strings.Contains(stacks, f) {
			t.Errorf("%s still runs after serve returned", f)
		}
	}
}
