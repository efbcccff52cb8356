package main

// Tests that put crypto and store together the way the server does: an
// envelope streamed into an item writer. The store package cannot hold
// them (it must not import crypto, even in tests).

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"testimony/crypto"
	"testimony/store"
)

// crashAttachmentSizes are the sizes the crash child draws from: empty,
// small, around the store's chunk of 1 MiB, and a few MiB.
var crashAttachmentSizes = []int64{0, 1, 4 << 10, 100 << 10, 1<<20 - 1, 1<<20 + 1, 2<<20 + 12345, 4 << 20}

// streamOf returns a deterministic stream of n bytes for seed.
func streamOf(seed uint64, n int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24), 7}), n)
}

func sha256Of(r io.Reader) string {
	h := sha256.New()
	io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil))
}

// writeEnvelopeItem encrypts a manifest naming the item's own id, and the
// attachments of the given sizes, into a new item, and commits it.
func writeEnvelopeItem(db *store.DB, rs *crypto.Recipients, seed uint64, sizes []int64) (store.Item, error) {
	w := db.NewItem()
	defer w.Abort() // no effect after Commit
	m := &crypto.Manifest{
		Kind: crypto.KindSubmission, Day: "2026-08-27", Lang: "uk",
		Form:    crypto.FormRef{ID: "deportation", Version: 1},
		Answers: map[string]crypto.Answer{"item": crypto.TextAnswer(w.ID()), "seed": crypto.TextAnswer(fmt.Sprint(seed))},
	}
	for i, n := range sizes {
		m.Attachments = append(m.Attachments, crypto.Attachment{
			Name: fmt.Sprintf("photo-%d.jpg", i), Size: n, SHA256: sha256Of(streamOf(seed*100+uint64(i), n)), Type: "image/jpeg",
		})
	}
	env, err := crypto.NewEnvelope(w, rs, m)
	if err != nil {
		return store.Item{}, err
	}
	for i, n := range sizes {
		if err := env.WriteAttachment(streamOf(seed*100+uint64(i), n)); err != nil {
			return store.Item{}, err
		}
	}
	if err := env.Close(); err != nil {
		return store.Item{}, err
	}
	return w.Commit(store.Item{Kind: m.Kind, Day: m.Day, Recipients: rs.Fingerprint(), Source: fmt.Sprintf("src-%d", seed%5)})
}

// openItem decrypts an item whole: the manifest must name the item, and
// every attachment must match its digest (checked by the reader) and the
// bytes it was made from.
func openItem(db *store.DB, id string, ident age.Identity) error {
	_, r, err := db.Open(id)
	if err != nil {
		return err
	}
	er, err := crypto.OpenEnvelope(r, ident)
	if err != nil {
		return fmt.Errorf("decrypting: %w", err)
	}
	m := er.Manifest()
	if got := m.Answers["item"].Text; got != id {
		return fmt.Errorf("manifest names item %q", got)
	}
	var seed uint64
	fmt.Sscan(m.Answers["seed"].Text, &seed)
	for i := 0; ; i++ {
		a, ar, err := er.Next()
		if err == io.EOF {
			if i != len(m.Attachments) {
				return fmt.Errorf("%d of %d attachments", i, len(m.Attachments))
			}
			break
		}
		if err != nil {
			return err
		}
		if got := sha256Of(ar); got != sha256Of(streamOf(seed*100+uint64(i), a.Size)) {
			return fmt.Errorf("attachment %d: bytes differ from what was written", i)
		}
	}
	return er.Finish()
}

// TestStoreCrash (issue 2 acceptance): a child process writes envelope
// items from several goroutines and prints each id once Commit returned;
// it is killed with SIGKILL at a random moment, round after round. After
// each kill the store holds every printed item, whole and decryptable, no
// item that does not decrypt, passes Check, and keeps no orphan chunk once
// opened.
func TestStoreCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a child process several times; skipped with -short")
	}
	ident, err := crypto.GenerateIdentity(false)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "crash.db")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	acked := map[string]bool{}    // ids printed by a child
	verified := map[string]bool{} // ids decrypted whole
	sawPending := 0
	const rounds = 8
	for round := range rounds {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, exe, "-test.run=^TestStoreCrashChild$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "TESTIMONY_CRASH_CHILD="+path, "TESTIMONY_CRASH_RECIPIENT="+ident.Recipient,
			fmt.Sprintf("TESTIMONY_CRASH_SEED=%d", round*1_000_000))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		printed := make(chan string, 1000)
		var childErr atomic.Value
		started := make(chan struct{})
		go func() {
			defer close(printed)
			sc := bufio.NewScanner(out)
			once := sync.Once{}
			for sc.Scan() {
				line := sc.Text()
				if strings.HasPrefix(line, "STARTED") {
					once.Do(func() { close(started) })
				}
				if id, ok := strings.CutPrefix(line, "COMMITTED "); ok {
					printed <- id
				}
				if strings.HasPrefix(line, "ERROR") {
					childErr.Store(line)
				}
			}
		}()
		select {
		case <-started:
		case <-time.After(time.Minute):
			t.Fatalf("round %d: child did not start:\n%s", round, stderr.String())
		}
		delay := time.Duration(200+rng.IntN(2500)) * time.Millisecond
		time.Sleep(delay)
		if err := cmd.Process.Signal(os.Kill); err != nil {
			t.Fatal(err)
		}
		werr := cmd.Wait()
		cancel()
		n := 0
		for id := range printed {
			acked[id] = true
			n++
		}
		var ee *exec.ExitError
		if !errors.As(werr, &ee) || ee.String() != "signal: killed" {
			t.Fatalf("round %d: child ended with %v, not by our SIGKILL: %v\n%s", round, werr, childErr.Load(), stderr.String())
		}

		// The file as the crash left it: readable, consistent.
		ro, err := store.Open(path, store.Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("round %d: read-only open after the kill: %v", round, err)
		}
		st, _ := ro.Stats()
		if st.PendingChunks > 0 {
			sawPending++
		}
		if err := ro.Check(); err != nil {
			t.Errorf("round %d: Check of the crashed file: %v", round, err)
		}
		ro.Close()

		db, err := store.Open(path, store.Options{})
		if err != nil {
			t.Fatalf("round %d: reopening: %v", round, err)
		}
		if st, _ := db.Stats(); st.PendingChunks != 0 {
			t.Errorf("round %d: %d chunks of interrupted writes left after Open", round, st.PendingChunks)
		}
		if err := db.Check(); err != nil {
			t.Errorf("round %d: Check after reopening: %v", round, err)
		}
		items, err := db.Items()
		if err != nil {
			t.Fatal(err)
		}
		visible := map[string]bool{}
		for _, it := range items {
			visible[it.ID] = true
			if verified[it.ID] && round < rounds-1 {
				continue // decrypted after an earlier round; all again after the last
			}
			if err := openItem(db, it.ID, ident.AgeIdentity()); err != nil {
				t.Errorf("round %d: visible item %s does not decrypt whole: %v", round, it.ID, err)
			}
			verified[it.ID] = true
		}
		for id := range acked {
			if !visible[id] {
				t.Errorf("round %d: acknowledged item %s is missing", round, id)
			}
		}
		db.Close()
		t.Logf("round %d: killed after %v; %d items acknowledged in this round, %d in all, %d visible; %d chunks of interrupted writes before reopening",
			round, delay, n, len(acked), len(items), st.PendingChunks)
		if t.Failed() {
			return
		}
	}
	if len(acked) == 0 {
		t.Fatal("no child acknowledged any item: the test proves nothing")
	}
	if sawPending == 0 {
		t.Log("no kill landed in the middle of a multi-chunk write in this run")
	}
}

// TestStoreCrashChild is the child of TestStoreCrash: it writes items until
// it is killed.
func TestStoreCrashChild(t *testing.T) {
	path := os.Getenv("TESTIMONY_CRASH_CHILD")
	if path == "" {
		t.Skip("child process of TestStoreCrash")
	}
	rs, err := crypto.NewRecipients("test", os.Getenv("TESTIMONY_CRASH_RECIPIENT"))
	if err != nil {
		t.Fatal(err)
	}
	var base uint64
	fmt.Sscan(os.Getenv("TESTIMONY_CRASH_SEED"), &base)
	db, err := store.Open(path, store.Options{LockTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	say := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		os.Stdout.WriteString(s + "\n") // unbuffered: on its way once written
	}
	say("STARTED")
	var seq atomic.Uint64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				seed := base + seq.Add(1)
				r := rand.New(rand.NewPCG(seed, 1))
				var sizes []int64
				for range r.IntN(4) {
					sizes = append(sizes, crashAttachmentSizes[r.IntN(len(crashAttachmentSizes))])
				}
				if seed%9 == 0 {
					// A write given up half-way: the client went away.
					w := db.NewItem()
					io.Copy(w, streamOf(seed, 1<<20+1<<20/3)) // more than a chunk
					w.Abort()
					continue
				}
				it, err := writeEnvelopeItem(db, rs, seed, sizes)
				if err != nil {
					say("ERROR " + err.Error())
					os.Exit(3)
				}
				say("COMMITTED " + it.ID)
			}
		})
	}
	wg.Wait()
}

// heapSampler records the peak of the live heap while it runs.
type heapSampler struct {
	stop chan struct{}
	done chan struct{}
	peak atomic.Uint64
}

func sampleHeap(every time.Duration) *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	go func() {
		defer close(h.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			metrics.Read(s)
			// Objects plus the unused parts of in-use spans: the heap in use.
			if v := s[0].Value.Uint64() + s[1].Value.Uint64(); v > h.peak.Load() {
				h.peak.Store(v)
			}
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) Stop() uint64 {
	close(h.stop)
	<-h.done
	return h.peak.Load()
}

// TestLargeAttachmentHeap (issue 2 acceptance): a 1 GiB attachment, made
// by a generator (never a file), streamed through the envelope into the
// store keeps the heap under 64 MiB, and decrypts back to the same digest.
// With -short it is 64 MiB.
func TestLargeAttachmentHeap(t *testing.T) {
	// 1 GiB took 38 s with the race detector on this 2-core machine under
	// load (20 s without): quick enough to run always, but not with -short.
	sizes := []int64{1 << 30}
	if testing.Short() {
		sizes = []int64{64 << 20}
	}
	ident, err := crypto.GenerateIdentity(false)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := crypto.NewRecipients("test", ident.Recipient)
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range sizes {
		t.Run(fmt.Sprintf("%dMiB", size>>20), func(t *testing.T) {
			db, err := store.Open(filepath.Join(t.TempDir(), "big.db"), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			const seed = 42
			start := time.Now()
			sum := sha256Of(streamOf(seed, size)) // first pass: the digest the manifest needs
			hashed := time.Since(start)

			runtime.GC()
			h := sampleHeap(5 * time.Millisecond)
			start = time.Now()
			w := db.NewItem()
			m := &crypto.Manifest{Kind: crypto.KindSubmission, Day: "2026-08-27",
				Attachments: []crypto.Attachment{{Name: "video.mp4", Size: size, SHA256: sum, Type: "video/mp4"}}}
			env, err := crypto.NewEnvelope(w, rs, m)
			if err != nil {
				t.Fatal(err)
			}
			if err := env.WriteAttachment(streamOf(seed, size)); err != nil {
				t.Fatal(err)
			}
			if err := env.Close(); err != nil {
				t.Fatal(err)
			}
			it, err := w.Commit(store.Item{Kind: m.Kind, Day: m.Day, Recipients: rs.Fingerprint()})
			if err != nil {
				t.Fatal(err)
			}
			wrote := time.Since(start)
			peak := h.Stop()

			h = sampleHeap(5 * time.Millisecond)
			start = time.Now()
			_, r, err := db.Open(it.ID)
			if err != nil {
				t.Fatal(err)
			}
			er, err := crypto.OpenEnvelope(r, ident.AgeIdentity())
			if err != nil {
				t.Fatal(err)
			}
			a, ar, err := er.Next()
			if err != nil {
				t.Fatal(err)
			}
			if got := sha256Of(ar); got != sum || a.SHA256 != sum {
				t.Errorf("decrypted attachment digest %s, want %s", got, sum)
			}
			if err := er.Finish(); err != nil {
				t.Fatal(err)
			}
			read := time.Since(start)
			readPeak := h.Stop()

			mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
			t.Logf("%d MiB: digest pass %v; encrypt+store %v (%.0f MB/s), heap peak %.1f MiB; read+decrypt %v (%.0f MB/s), heap peak %.1f MiB; item %d bytes",
				size>>20, hashed.Round(time.Millisecond), wrote.Round(time.Millisecond), float64(size)/wrote.Seconds()/1e6, mib(peak),
				read.Round(time.Millisecond), float64(size)/read.Seconds()/1e6, mib(readPeak), it.Size)
			if peak >= 64<<20 {
				t.Errorf("heap peaked at %.1f MiB while writing, limit 64 MiB", mib(peak))
			}
			if readPeak >= 64<<20 {
				t.Errorf("heap peaked at %.1f MiB while reading, limit 64 MiB", mib(readPeak))
			}
			if it.Size < size {
				t.Errorf("item of %d bytes for a %d-byte attachment", it.Size, size)
			}
		})
	}
}
