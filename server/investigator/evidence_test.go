package investigator

import (
	"archive/tar"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"testimony/bundle"
	"testimony/records"
	"testimony/store"
)

// evidenceEnv is an investigator site whose bundles carry evidence: items
// on three days, the first two sealed, the third the day still running.
type evidenceEnv struct {
	*invEnv
	key   ed25519.PrivateKey
	pub   ed25519.PublicKey
	c     *client
	alice *investigator
	tar   []byte
	count int // items in the bundle
}

func newEvidenceEnv(t *testing.T) *evidenceEnv {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize))
	e := &evidenceEnv{invEnv: newInvEnv(t, Config{SigningKey: key}), key: key, pub: key.Public().(ed25519.PublicKey)}
	e.alice = e.addInvestigator("alice")
	for day := range 3 {
		for range 3 {
			e.plantItem(src1, "submission", "testimony")
			e.count++
		}
		if day < 2 {
			e.clock.Add(24 * time.Hour)
		}
	}
	if _, err := records.Seal(e.db, key, e.s.today()); err != nil {
		t.Fatal(err)
	}
	e.c = e.client()
	e.c.loginReady(e.alice)
	r := e.c.post("/bundle", url.Values{"scope": {"all"}})
	if r.status != 200 {
		t.Fatalf("bundle: %d %s", r.status, r.body)
	}
	e.tar = r.body
	return e
}

// check verifies a bundle as testimony verify does.
func (e *evidenceEnv) check(t *testing.T, b []byte) *bundle.Report {
	t.Helper()
	br := bundle.NewReader(bytes.NewReader(b))
	for {
		_, _, err := br.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return bundle.Check(br.Index(), br.Read(), e.pub)
}

// tarEntry is one file of a bundle, for tampering.
type tarEntry struct {
	name string
	body []byte
}

func untar(t *testing.T, b []byte) []tarEntry {
	t.Helper()
	var out []tarEntry
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		out = append(out, tarEntry{h.Name, body})
	}
}

func retar(t *testing.T, es []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Size: int64(len(e.body)), Mode: 0o600})
		tw.Write(e.body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// editIndex decodes index.json of es, lets fn change it, and writes it back.
func editIndex(t *testing.T, es []tarEntry, fn func(*bundle.Index)) {
	t.Helper()
	last := &es[len(es)-1]
	var idx bundle.Index
	if err := json.Unmarshal(last.body, &idx); err != nil {
		t.Fatal(err)
	}
	fn(&idx)
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	last.body = b
}

// wantFault fails unless rep names a fault of kind.
func wantFault(t *testing.T, rep *bundle.Report, kind string) {
	t.Helper()
	for _, f := range rep.Faults {
		if f.Kind == kind {
			t.Logf("named: %s", f)
			return
		}
	}
	t.Errorf("no %q fault; faults: %v", kind, rep.Faults)
}

// TestBundleEvidenceVerifies: a bundle downloaded from the investigator
// site proves each item of a sealed day against its signed root, and names
// the items of the day still running as not yet sealed.
func TestBundleEvidenceVerifies(t *testing.T) {
	e := newEvidenceEnv(t)
	rep := e.check(t, e.tar)
	if !rep.OK() {
		t.Fatalf("faults: %v", rep.Faults)
	}
	if rep.Proved != 6 || len(rep.Unsealed) != 3 {
		t.Errorf("proved %d, unsealed %d; want 6 and 3", rep.Proved, len(rep.Unsealed))
	}
	if rep.Last != "2026-11-29" {
		t.Errorf("last sealed day %q", rep.Last)
	}
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{4}, ed25519.SeedSize))
	if rep := bundle.Check(mustIndex(t, e.tar), nil, other.Public().(ed25519.PublicKey)); rep.OK() {
		t.Error("a bundle verified against another server's key")
	}
}

func mustIndex(t *testing.T, b []byte) *bundle.Index {
	es := untar(t, b)
	var idx bundle.Index
	if err := json.Unmarshal(es[len(es)-1].body, &idx); err != nil {
		t.Fatal(err)
	}
	return &idx
}

func TestBundleTamperFlippedByte(t *testing.T) {
	e := newEvidenceEnv(t)
	es := untar(t, e.tar)
	es[1].body[len(es[1].body)/2] ^= 1
	wantFault(t, e.check(t, retar(t, es)), bundle.FaultAltered)
}

// TestBundleTamperFlippedByteIndexToo: the index's hash changed to match
// the flipped item still leaves it out of the signed listing and root.
func TestBundleTamperFlippedByteIndexToo(t *testing.T) {
	e := newEvidenceEnv(t)
	es := untar(t, e.tar)
	es[0].body[100] ^= 1
	id := strings.TrimSuffix(strings.TrimPrefix(es[0].name, "items/"), ".age")
	editIndex(t, es, func(idx *bundle.Index) {
		for i := range idx.Items {
			if idx.Items[i].ID == id {
				idx.Items[i].SHA256 = sha256hex(es[0].body)
			}
		}
	})
	wantFault(t, e.check(t, retar(t, es)), bundle.FaultAltered)
}

func TestBundleTamperItemRemoved(t *testing.T) {
	e := newEvidenceEnv(t)
	es := untar(t, e.tar)
	id := strings.TrimSuffix(strings.TrimPrefix(es[2].name, "items/"), ".age")
	es = append(es[:2], es[3:]...)
	editIndex(t, es, func(idx *bundle.Index) {
		for i := range idx.Items {
			if idx.Items[i].ID == id {
				idx.Items = append(idx.Items[:i], idx.Items[i+1:]...)
				break
			}
		}
	})
	wantFault(t, e.check(t, retar(t, es)), bundle.FaultRemoved)
}

func TestBundleTamperItemAdded(t *testing.T) {
	e := newEvidenceEnv(t)
	es := untar(t, e.tar)
	extra := tarEntry{"items/" + strings.Repeat("ab", 16) + ".age", []byte("forged ciphertext")}
	es = append([]tarEntry{extra}, es...)
	editIndex(t, es, func(idx *bundle.Index) {
		idx.Items = append(idx.Items, bundle.Entry{ID: strings.Repeat("ab", 16), Kind: "submission", Day: "2026-11-28",
			Source: src1, Size: int64(len(extra.body)), SHA256: sha256hex(extra.body)})
	})
	wantFault(t, e.check(t, retar(t, es)), bundle.FaultAdded)
}

func TestBundleTamperReordered(t *testing.T) {
	e := newEvidenceEnv(t)
	es := untar(t, e.tar)
	es[0], es[4] = es[4], es[0]
	wantFault(t, e.check(t, retar(t, es)), bundle.FaultReordered)
}

// TestBundleTamperRootReplayed: the root of the first day put in place of
// the second's, its day changed to match.
func TestBundleTamperRootReplayed(t *testing.T) {
	e := newEvidenceEnv(t)
	es := untar(t, e.tar)
	editIndex(t, es, func(idx *bundle.Index) {
		r := idx.Roots[0]
		r.Day = idx.Roots[1].Day
		idx.Roots[1] = r
	})
	wantFault(t, e.check(t, retar(t, es)), bundle.FaultReplayed)
}

// TestBundleTamperRootReplayedWhole: the first day's root given again,
// as it was signed, in place of the second's.
func TestBundleTamperRootReplayedWhole(t *testing.T) {
	e := newEvidenceEnv(t)
	es := untar(t, e.tar)
	editIndex(t, es, func(idx *bundle.Index) { idx.Roots[1] = idx.Roots[0] })
	wantFault(t, e.check(t, retar(t, es)), bundle.FaultReplayed)
}

// TestBundleTamperRootsCut: the roots taken out of a bundle, so that its
// sealed items would pass for not yet sealed.
func TestBundleTamperRootsCut(t *testing.T) {
	e := newEvidenceEnv(t)
	for _, keep := range []int{0, 1} {
		es := untar(t, e.tar)
		editIndex(t, es, func(idx *bundle.Index) { idx.Roots = idx.Roots[:keep] })
		rep := e.check(t, retar(t, es))
		wantFault(t, rep, bundle.FaultGap)
		if rep.OK() {
			t.Errorf("%d roots kept: verified", keep)
		}
	}
}

// TestBundleTamperForkedDay: two different roots signed for one day.
func TestBundleTamperForkedDay(t *testing.T) {
	e := newEvidenceEnv(t)
	es := untar(t, e.tar)
	editIndex(t, es, func(idx *bundle.Index) {
		f := idx.Roots[1]
		f.Count, f.Root = 0, bundle.ZeroHash
		idx.Roots = append(idx.Roots, bundle.SignRoot(f, e.key))
	})
	wantFault(t, e.check(t, retar(t, es)), bundle.FaultForked)
}

// TestBundleTamperForkedPrev: a history rewritten from the first day on,
// signed with the server's key, whose second root does not name the
// first as the investigator's older bundle has it.
func TestBundleTamperForkedPrev(t *testing.T) {
	e := newEvidenceEnv(t)
	es := untar(t, e.tar)
	editIndex(t, es, func(idx *bundle.Index) {
		r := idx.Roots[1]
		r.Prev = strings.Repeat("1", 64)
		idx.Roots[1] = bundle.SignRoot(r, e.key)
	})
	wantFault(t, e.check(t, retar(t, es)), bundle.FaultForked)
}

// TestBundleTamperAuditTruncated: the last root, re-signed by the
// server's holder with fewer audit entries than the day before had: the
// audit log was cut short between the two sealings.
func TestBundleTamperAuditTruncated(t *testing.T) {
	e := newEvidenceEnv(t)
	// Two more days sealed, with audit entries (logins, downloads) in
	// between, so the chain's audit heads grow.
	for range 2 {
		e.clock.Add(24 * time.Hour)
		if _, err := records.Seal(e.db, e.key, e.s.today()); err != nil {
			t.Fatal(err)
		}
		e.c = e.client()
		e.c.loginReady(e.alice)
	}
	r := e.c.post("/bundle", url.Values{"scope": {"all"}})
	if r.status != 200 {
		t.Fatalf("bundle: %d", r.status)
	}
	es := untar(t, r.body)
	if rep := e.check(t, r.body); !rep.OK() {
		t.Fatalf("untouched bundle: %v", rep.Faults)
	}
	editIndex(t, es, func(idx *bundle.Index) {
		n := len(idx.Roots)
		prev, _, _ := strings.Cut(idx.Roots[n-2].Audit, ":")
		if n < 2 || prev == "0" || idx.Roots[n-1].Audit == idx.Roots[n-2].Audit {
			t.Fatalf("audit heads do not grow: %v", idx.Roots)
		}
		last := idx.Roots[n-1]
		last.Audit = "1:" + strings.Repeat("e", 64)
		if prev == "1" {
			last.Audit = "0:" + bundle.ZeroHash
		}
		idx.Roots[n-1] = bundle.SignRoot(last, e.key)
	})
	wantFault(t, e.check(t, retar(t, es)), bundle.FaultAudit)
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestEvidenceNoTimeFinerThanDay: what sealing stores (the day roots
// bucket) and what a bundle's index.json carries (roots, proofs, listing)
// hold no time finer than the UTC day: a marker search for the clock's
// time of day and its Unix time, in seconds and milliseconds, finds none.
func TestEvidenceNoTimeFinerThanDay(t *testing.T) {
	e := newEvidenceEnv(t)
	var stored []byte
	err := e.db.View(func(tx store.Tx) error {
		return tx.ForEach(records.BucketDayRoots, nil, func(k, v []byte) error {
			stored = append(append(stored, k...), v...)
			return nil
		})
	})
	if err != nil || len(stored) == 0 {
		t.Fatalf("day roots: %d bytes, %v", len(stored), err)
	}
	index := mustIndexBytes(t, e.tar)
	// The fake clock moved only by whole days: these are every instant
	// the server could have seen.
	now := e.clock.Now()
	markers := []string{now.Format("15:04"), now.Format("T15:"), now.Format("150405")}
	for d := range 3 {
		at := now.Add(-time.Duration(d) * 24 * time.Hour)
		markers = append(markers, strconv.FormatInt(at.Unix(), 10), strconv.FormatInt(at.UnixMilli(), 10))
	}
	for name, b := range map[string][]byte{"day roots bucket": stored, "bundle index.json": index} {
		for _, m := range markers {
			if bytes.Contains(b, []byte(m)) {
				t.Errorf("%s holds %q, a time finer than the day", name, m)
			}
		}
	}
}

func mustIndexBytes(t *testing.T, b []byte) []byte {
	es := untar(t, b)
	return es[len(es)-1].body
}

// BenchmarkBundleProofs: the bundle download of BenchmarkBundleDownload
// (1,000 items of 4 KiB, their day sealed) without evidence (plain, as
// before signed roots) and with it (proofs: a proof per item, the roots
// and the signed listing), in the same run. Sealing itself runs in serve's
// background loop, never on the submit path, so submits pay nothing.
func BenchmarkBundleProofs(b *testing.B) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize))
	e := newInvEnv(b, Config{SigningKey: key})
	alice := e.addInvestigator("alice")
	const n, size = 1000, 4 << 10
	buf := make([]byte, size)
	for range n {
		rand.Read(buf)
		w := e.db.NewItem()
		w.Write(buf)
		if _, err := w.Commit(store.Item{Kind: "submission", Day: e.s.today(), Source: src1, Recipients: "0"}); err != nil {
			b.Fatal(err)
		}
	}
	e.clock.Add(24 * time.Hour)
	if _, err := records.Seal(e.db, key, e.s.today()); err != nil {
		b.Fatal(err)
	}
	c := e.client()
	c.loginReady(alice)
	form := url.Values{"scope": {"all"}}.Encode()
	// benchreport pairs baseline… with ours…: today's bundle without
	// evidence, and the same with proofs, roots and the signed listing.
	for _, mode := range []string{"baseline-without-proofs", "ours-with-proofs"} {
		b.Run(mode, func(b *testing.B) {
			e.s.cfg.SigningKey = nil
			if mode == "ours-with-proofs" {
				e.s.cfg.SigningKey = key
			}
			b.SetBytes(n * size)
			for b.Loop() {
				req, _ := http.NewRequest("POST", e.ts.URL+"/bundle", strings.NewReader(form))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.AddCookie(c.cookie)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				got, err := io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if err != nil || res.StatusCode != http.StatusOK || got < n*size {
					b.Fatalf("bundle: %d, %d bytes, %v", res.StatusCode, got, err)
				}
			}
		})
	}
}
