package records

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"

	"testimony/bundle"
	"testimony/store"
)

// openStore makes the store of a test: bbolt, unless a test of both
// backends (backends_test.go) runs it on another.
var openStore = func(t *testing.T) store.Store {
	db, err := store.Open(filepath.Join(t.TempDir(), "t.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func sealEnv(t *testing.T) (store.Store, ed25519.PrivateKey) {
	return openStore(t), ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
}

func putItem(t *testing.T, db store.Store, day string, body string) store.Item {
	w := db.NewItem()
	w.Write([]byte(body))
	it, err := w.Commit(store.Item{Kind: "submission", Day: day, Source: "s", Recipients: "r"})
	if err != nil {
		t.Fatal(err)
	}
	return it
}

// TestSealChainsEveryDay: sealing covers each ended day from the first
// item's, empty days included (count 0, the empty tree's root), each
// signed and naming the root before; today is left open; sealing again
// seals nothing; the next day continues the chain.
func TestSealChainsEveryDay(t *testing.T) {
	db, key := sealEnv(t)
	putItem(t, db, "2026-11-01", "a")
	putItem(t, db, "2026-11-01", "b")
	putItem(t, db, "2026-11-04", "c")
	putItem(t, db, "2026-11-05", "today")
	days, err := Seal(db, key, "2026-11-05")
	if err != nil {
		t.Fatal(err)
	}
	if len(days) != 4 || days[0] != "2026-11-01" || days[3] != "2026-11-04" {
		t.Fatalf("sealed %v", days)
	}
	if again, err := Seal(db, key, "2026-11-05"); err != nil || len(again) != 0 {
		t.Fatalf("sealed again: %v %v", again, err)
	}
	if more, err := Seal(db, key, "2026-11-06"); err != nil || len(more) != 1 || more[0] != "2026-11-05" {
		t.Fatalf("next day: %v %v", more, err)
	}
	var recs []DayRecord
	db.View(func(tx store.Tx) error { recs, err = DayRoots(tx); return err })
	if err != nil || len(recs) != 5 {
		t.Fatalf("%d roots, %v", len(recs), err)
	}
	pub := key.Public().(ed25519.PublicKey)
	empty := sha256.Sum256(nil)
	for i, r := range recs {
		if !r.Root.SignatureValid(pub) {
			t.Errorf("root of %s: bad signature", r.Root.Day)
		}
		wantPrev := bundle.ZeroHash
		if i > 0 {
			wantPrev = recs[i-1].Root.Hash()
		}
		if r.Root.Prev != wantPrev {
			t.Errorf("root of %s: prev %s, want %s", r.Root.Day, r.Root.Prev, wantPrev)
		}
		if int(r.Root.Count) != len(r.IDs) || len(r.IDs) != len(r.Leaves) {
			t.Errorf("root of %s: count %d, %d ids, %d leaves", r.Root.Day, r.Root.Count, len(r.IDs), len(r.Leaves))
		}
	}
	for _, i := range []int{1, 2} { // 11-02 and 11-03 had no items
		if recs[i].Root.Count != 0 || recs[i].Root.Root != hexOf(empty) {
			t.Errorf("empty day %s: %+v", recs[i].Root.Day, recs[i].Root)
		}
	}
	// A verify of the whole chain finds nothing wrong.
	idx := &bundle.Index{Format: bundle.Format, Day: "2026-11-06", Items: []bundle.Entry{}}
	for _, r := range recs {
		idx.Roots = append(idx.Roots, r.Root)
	}
	idx.Listing = &bundle.Listing{}
	rep := bundle.Check(idx, nil, pub)
	for _, f := range rep.Faults {
		if f.Kind != bundle.FaultSignature { // the empty listing is unsigned here
			t.Errorf("chain: %v", f)
		}
	}
}

func hexOf(h bundle.Hash) string { return bytesHex(h[:]) }

// TestSealNoItems: a store with no items seals yesterday alone, so the
// chain starts and gaps show from then on.
func TestSealNoItems(t *testing.T) {
	db, key := sealEnv(t)
	days, err := Seal(db, key, "2026-11-05")
	if err != nil || len(days) != 1 || days[0] != "2026-11-04" {
		t.Fatalf("sealed %v, %v", days, err)
	}
}

// TestDeleteAfterSealKeepsProofs: items deleted after their day was sealed
// leave the proofs of the others valid: they come from the stored leaves.
func TestDeleteAfterSealKeepsProofs(t *testing.T) {
	db, key := sealEnv(t)
	var items []store.Item
	for i := range 7 {
		items = append(items, putItem(t, db, "2026-11-01", string(rune('a'+i))))
	}
	if _, err := Seal(db, key, time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{0, 3, 6} {
		if err := db.Delete(items[i].ID); err != nil {
			t.Fatal(err)
		}
	}
	var left []store.Item
	for _, i := range []int{1, 2, 4, 5} {
		left = append(left, items[i])
	}
	ev, err := BundleEvidence(db, left, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(ev.Roots) != 1 || len(ev.Proofs) != 4 {
		t.Fatalf("%d roots, %d proofs", len(ev.Roots), len(ev.Proofs))
	}
	idx := &bundle.Index{Format: bundle.Format, Day: "2026-11-02", Roots: ev.Roots, Listing: &bundle.Listing{}}
	var read []bundle.ReadItem
	for _, it := range left {
		sum := sha256.Sum256([]byte(string(rune('a' + indexOf(items, it.ID)))))
		read = append(read, bundle.ReadItem{ID: it.ID, SHA256: bytesHex(sum[:]), Size: it.Size})
		idx.Items = append(idx.Items, bundle.Entry{ID: it.ID, Day: it.Day, Size: it.Size, SHA256: bytesHex(sum[:]), Proof: ev.Proofs[it.ID]})
		idx.Listing.Items = append(idx.Listing.Items, it.ID+" "+bytesHex(sum[:]))
	}
	idx.Listing.Last = ev.Roots[0].Day + " " + ev.Roots[0].Hash()
	idx.Listing.Sig = signListing(key, idx)
	rep := bundle.Check(idx, read, key.Public().(ed25519.PublicKey))
	if !rep.OK() || rep.Proved != 4 {
		t.Fatalf("proved %d, faults %v", rep.Proved, rep.Faults)
	}
}

func indexOf(items []store.Item, id string) int {
	for i, it := range items {
		if it.ID == id {
			return i
		}
	}
	return -1
}

func bytesHex(b []byte) string { return hex.EncodeToString(b) }

func signListing(key ed25519.PrivateKey, idx *bundle.Index) string {
	return base64.StdEncoding.EncodeToString(ed25519.Sign(key, idx.Listing.Message(idx.Day)))
}
