//go:build e2e

package main

// The crash battery (make test-crash): the real testimonyd is killed with
// SIGKILL at random moments while it takes submissions, and while a
// backup, a purge or a compaction runs; each time the data directory must
// come back with every acknowledged submission whole, nothing partial
// visible, and a database that checks clean. The data directory is kept
// across rounds, so whatever damage a kill does accumulates.
//
// TESTIMONY_CRASH_ROUNDS sets the number of rounds (3 by default, so that
// a plain run is short; make test-crash runs 50). TESTIMONY_CRASH_SEED
// replays a run: every round's kill delay comes from it, and it is logged.

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"filippo.io/age"

	"testimony/crypto"
	"testimony/store"
)

// crashRounds is the number of rounds of each crash test.
func crashRounds(t *testing.T) int {
	t.Helper()
	s := os.Getenv("TESTIMONY_CRASH_ROUNDS")
	if s == "" {
		return 3
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("TESTIMONY_CRASH_ROUNDS=%q: want a positive number", s)
	}
	return n
}

// crashRand is the random source of a crash test, seeded from
// TESTIMONY_CRASH_SEED or the clock; the seed is logged.
func crashRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TESTIMONY_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("TESTIMONY_CRASH_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (TESTIMONY_CRASH_SEED=%d replays this run's delays)", seed, seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// crashDelay is a random duration in [lo, hi).
func crashDelay(r *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.Int64N(int64(hi-lo)))
}

// crashFile is an attachment a test sent.
type crashFile struct {
	name   string
	data   []byte
	sha256 string
}

func newCrashFile(r *rand.Rand, name string, size int) crashFile {
	b := make([]byte, size)
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], r.Uint64())
	binary.LittleEndian.PutUint64(seed[8:], r.Uint64())
	rand.NewChaCha8(seed).Read(b)
	return crashFile{name: name, data: b, sha256: sha256Hex(b)}
}

// formFiles are files as a form takes them.
func formFiles(files []crashFile) []formFile {
	var ff []formFile
	for _, f := range files {
		ff = append(ff, formFile{f.name, f.data})
	}
	return ff
}

// crashWithFiles is witnessForm(marker) with files attached.
func crashWithFiles(marker string, files []crashFile) (string, []byte) {
	return witnessForm(marker, formFiles(files)...)
}

// crashRaw looks at the database file with bbolt itself, below the store's
// API: the pending writes it records and the chunks that belong to no
// item. Run it only while no process has the file open for writing.
func crashRaw(t *testing.T, path string) (pending, orphans int) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("bbolt open %s: %v", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		// Schema 3: an item's record under its 16-byte id, its chunks
		// under id||seq, all in the chunks bucket.
		chunks := tx.Bucket([]byte("chunks"))
		if chunks == nil {
			return errors.New("the chunks bucket is missing")
		}
		if p := tx.Bucket([]byte("pending")); p != nil {
			pending = p.Stats().KeyN
		}
		return chunks.ForEach(func(k, _ []byte) error {
			if len(k) != 16 && (len(k) < 16 || chunks.Get(k[:16]) == nil) {
				orphans++
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return pending, orphans
}

// crashCount is the number of entries in a directory (0 if it is missing).
func crashCount(t *testing.T, dir string) int {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return len(es)
}

// crashTally counts what a round found. A round's lost is the number of
// submissions acknowledged in it or before that are missing; a total's,
// the number missing in any round.
type crashTally struct {
	acked, visible, lost, partial, integrity int
}

func (c *crashTally) add(o crashTally) {
	c.acked += o.acked
	c.visible += o.visible
	c.lost += o.lost
	c.partial += o.partial
	c.integrity += o.integrity
}

// crashItem is one visible item read back whole.
type crashItem struct {
	it       store.Item
	manifest *crypto.Manifest
	files    []crashFile // name, size (len(data) is not kept) and digest
	sizes    []int64
}

// crashReadAll opens the (stopped) data directory's database read-only and
// decrypts every item with id, reading each attachment to its end (the
// envelope reader checks size and SHA-256 against the manifest) and the
// padding (Finish). Items that do not read whole are returned in bad with
// the reason.
func crashReadAll(t *testing.T, dataDir string, id age.Identity) (good []crashItem, bad map[string]error) {
	t.Helper()
	db, items := storedItems(t, filepath.Join(dataDir, dbFile), store.Options{})
	defer db.Close()
	bad = map[string]error{}
	for _, it := range items {
		ci, err := crashReadItem(db, it, id)
		if err != nil {
			bad[it.ID] = err
			continue
		}
		good = append(good, ci)
	}
	return good, bad
}

func crashReadItem(db *store.DB, it store.Item, id age.Identity) (crashItem, error) {
	_, r, err := db.Open(it.ID)
	if err != nil {
		return crashItem{}, err
	}
	cr := &countingReader{r: r}
	er, err := crypto.OpenEnvelope(cr, id)
	if err != nil {
		return crashItem{}, err
	}
	ci := crashItem{it: it, manifest: er.Manifest()}
	for {
		a, ar, err := er.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return crashItem{}, err
		}
		h := sha256.New()
		n, err := io.Copy(h, ar)
		if err != nil {
			return crashItem{}, err
		}
		ci.files = append(ci.files, crashFile{name: a.Name, sha256: hex.EncodeToString(h.Sum(nil))})
		ci.sizes = append(ci.sizes, n)
	}
	if err := er.Finish(); err != nil {
		return crashItem{}, err
	}
	if cr.n != it.Size {
		return crashItem{}, fmt.Errorf("read %d bytes, the record says %d", cr.n, it.Size)
	}
	return ci, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// crashMarker finds a "crash-…" marker in an item's account answer.
func crashMarker(m *crypto.Manifest) string {
	for _, v := range m.Answers["account"].Values() {
		if i := strings.Index(v, "crash-"); i >= 0 {
			return strings.Fields(v[i:])[0]
		}
	}
	return ""
}

// crashSub is a submission a round sent.
type crashSub struct {
	marker string
	files  []crashFile
	ct     string
	body   []byte
}

// crashSubs makes the 64 submissions of a round: most with a small file or
// two (2–64 KiB), every fourth with a medium one (256 KiB–1 MiB), every
// sixteenth with a large one (1.5–4 MiB), and two with 5–9 and 10–16 MiB,
// more than the store writes in one transaction (4 chunks of 1 MiB), so
// that a kill can find chunks on disk whose record is not.
func crashSubs(r *rand.Rand, round int) []*crashSub {
	subs := make([]*crashSub, 64)
	for i := range subs {
		var sizes []int
		switch {
		case i == 0:
			sizes = []int{10<<20 + r.IntN(6<<20)}
		case i == 32:
			sizes = []int{5<<20 + r.IntN(4<<20)}
		case i%16 == 0:
			sizes = []int{1536<<10 + r.IntN(2560<<10)}
		case i%4 == 0:
			sizes = []int{256<<10 + r.IntN(768<<10)}
		default:
			sizes = []int{2<<10 + r.IntN(62<<10)}
			if i%3 == 0 {
				sizes = append(sizes, 2<<10+r.IntN(30<<10))
			}
		}
		s := &crashSub{marker: fmt.Sprintf("crash-r%03d-%02d", round, i)}
		for j, n := range sizes {
			s.files = append(s.files, newCrashFile(r, fmt.Sprintf("photo-%d-%d.jpg", i, j), n))
		}
		s.ct, s.body = crashWithFiles(s.marker, s.files)
		subs[i] = s
	}
	return subs
}

// crashMatches reports whether an item read back holds exactly the files
// of a submission.
func crashMatches(ci crashItem, s *crashSub) error {
	if len(ci.files) != len(s.files) {
		return fmt.Errorf("%d attachments, %d were sent", len(ci.files), len(s.files))
	}
	for i, f := range s.files {
		if ci.sizes[i] != int64(len(f.data)) || ci.files[i].sha256 != f.sha256 {
			return fmt.Errorf("attachment %d: %d bytes %s, sent %d bytes %s", i+1, ci.sizes[i], ci.files[i].sha256[:12], len(f.data), f.sha256[:12])
		}
	}
	return nil
}

// TestCrashDuringSubmissions: each round starts serve on the same data
// directory, fires 64 concurrent submissions with attachments, kills the
// server with SIGKILL after a random delay (early: mid-upload; later:
// mid-encryption and mid-commit, as the uploads finish at different
// times), restarts it, and checks offline that every acknowledged
// submission is there and decrypts whole, that every visible item does,
// that no pending write or orphan chunk survived the restart, and that
// testimonyd check passes.
func TestCrashDuringSubmissions(t *testing.T) {
	rounds := crashRounds(t)
	rng := crashRand(t)
	dir := newDataDir(t)
	inv, err := crypto.GenerateIdentity(false)
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, "investigator", "add", "crash", "--recipient", inv.Recipient, "--data", dir)

	sent := map[string]*crashSub{} // every submission ever sent, by marker
	acked := map[string]bool{}     // those that got their receipt
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}, Timeout: 2 * time.Minute}
	var total crashTally
	visibleNow := 0
	lostEver := map[string]bool{} // acknowledged submissions missing in some round
	longest := time.Duration(0)   // the latest receipt seen after the start of a round
	began := time.Now()
	for round := range rounds {
		start := time.Now()
		subs := crashSubs(rng, round)
		for _, s := range subs {
			sent[s.marker] = s
		}
		d := startServe(t, dir, nil)
		client.Transport.(*http.Transport).CloseIdleConnections()

		var (
			mu    sync.Mutex
			ackd  []string
			ackAt []time.Duration
			wg    sync.WaitGroup
			other []string // statuses that are neither success nor a cut connection
		)
		gate := make(chan struct{})
		var opened time.Time
		for _, s := range subs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				res, err := client.Post(d.witness+"/submit", s.ct, bytes.NewReader(s.body))
				if err != nil {
					return // the server died under it
				}
				page, err := io.ReadAll(res.Body)
				res.Body.Close()
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && res.StatusCode == http.StatusOK && bytes.Contains(page, []byte(`id="codename"`)):
					ackd = append(ackd, s.marker)
					ackAt = append(ackAt, time.Since(opened))
				case err == nil:
					other = append(other, fmt.Sprintf("%s: %d", s.marker, res.StatusCode))
				}
			}()
		}
		// Kill anywhere from the first bytes to just after the last
		// receipt. How long the 64 uploads take depends on the machine and
		// its load (300–400 ms when idle, over a second when busy), so
		// every tenth round is a calibration: the kill comes right after
		// the last receipt, and its time scales the next rounds' delays.
		calibrate := round%10 == 0
		delay := crashDelay(rng, 2*time.Millisecond, max(200*time.Millisecond, longest*6/5))
		opened = time.Now()
		close(gate)
		if calibrate {
			wg.Wait()
			delay = time.Since(opened)
			longest = 0
		} else {
			time.Sleep(delay)
		}
		d.Kill(t)
		wg.Wait()
		for _, o := range other {
			t.Errorf("round %d: a submission was refused, not cut: %s", round, o)
		}
		for _, m := range ackd {
			acked[m] = true
		}
		dbPath := filepath.Join(dir, dbFile)
		pendingAtKill, _ := crashRaw(t, dbPath)
		spoolAtKill := crashCount(t, filepath.Join(dir, "spool"))

		// Restart: serve must come up on what the kill left, and its
		// start-up removes the remains of interrupted writes.
		d = startServe(t, dir, nil)
		d.stop(t)
		pending, orphans := crashRaw(t, dbPath)
		var tally crashTally
		tally.acked = len(ackd)
		if n := crashCount(t, filepath.Join(dir, "spool")); n != 0 {
			tally.integrity++
			t.Errorf("round %d: %d spool files remain after a restart", round, n)
		}
		if pending != 0 || orphans != 0 {
			tally.integrity++
			t.Errorf("round %d: after a restart, %d pending writes and %d orphan chunks remain", round, pending, orphans)
		}
		if r := runBin(t, "check", "--data", dir); r.code != 0 {
			tally.integrity++
			t.Errorf("round %d: check exit %d: %s%s", round, r.code, r.stdout, r.stderr)
		}
		good, bad := crashReadAll(t, dir, inv.AgeIdentity())
		for id, err := range bad {
			tally.partial++
			t.Errorf("round %d: item %s is visible but does not read whole: %v", round, id, err)
		}
		found := map[string]bool{}
		for _, ci := range good {
			m := crashMarker(ci.manifest)
			s := sent[m]
			if s == nil {
				tally.integrity++
				t.Errorf("round %d: item %s holds no marker that was sent (%q)", round, ci.it.ID, m)
				continue
			}
			if found[m] {
				tally.integrity++
				t.Errorf("round %d: %s is stored twice", round, m)
			}
			found[m] = true
			if err := crashMatches(ci, s); err != nil {
				tally.integrity++
				t.Errorf("round %d: %s: %v", round, m, err)
			}
		}
		for m := range acked {
			if !found[m] {
				tally.lost++
				lostEver[m] = true
				t.Errorf("round %d: acknowledged %s is gone", round, m)
			}
		}
		tally.visible = len(good) + len(bad)
		visibleNow = tally.visible
		total.add(tally)
		total.lost = len(lostEver)
		first, last := time.Duration(0), time.Duration(0)
		if len(ackAt) > 0 {
			first, last = slices.Min(ackAt), slices.Max(ackAt)
			longest = max(longest, last)
		}
		t.Logf("round %2d: killed after %4d ms%s, %2d/64 acknowledged (from %d to %d ms), %d spooled files and %d pending writes at the kill; %d items visible; lost %d, partial %d, integrity errors %d (%.1f s)",
			round, delay.Milliseconds(), map[bool]string{true: " (calibration)"}[calibrate], tally.acked, first.Milliseconds(), last.Milliseconds(), spoolAtKill, pendingAtKill, tally.visible, tally.lost, tally.partial, tally.integrity, time.Since(start).Seconds())
	}
	t.Logf("TOTAL %d rounds in %.0f s: %d acknowledged, %d items visible at the end, lost %d, partial visible %d, integrity errors %d",
		rounds, time.Since(began).Seconds(), total.acked, visibleNow, total.lost, total.partial, total.integrity)
}
