package records

import (
	"cmp"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"testimony/bundle"
	"testimony/store"
)

// BucketDayRoots holds the signed day roots: key the UTC day, YYYY-MM-DD
// (so the keys sort in time order), value a [DayRecord] as JSON. A day is
// sealed once it is over: items only ever get the day of their commit, so
// nothing joins a day after it has ended. Sealing reads each item of the
// day once, off the submit path ([Seal], run by serve at start-up and
// every hour).
const BucketDayRoots = "day_roots"

// DayRecord is what is kept of a sealed day: its signed root and the
// leaves of its tree, with the item id of each. Keeping the leaves lets
// proofs be made for the items that remain after others were deleted
// (retention, purge), without the ciphertext of either.
type DayRecord struct {
	Root   bundle.DayRoot `json:"root"`
	IDs    []string       `json:"ids"`    // the day's items, in id order
	Leaves []string       `json:"leaves"` // hex RFC 9162 leaf hash of each
}

// Seal signs a root for every day not yet sealed, from the day after the
// last root (or the day of the first item, or yesterday if there is
// none) up to the day before today, and returns the days it sealed. Each
// day is written in its own transaction, chained to the one before.
func Seal(db store.Store, key ed25519.PrivateKey, today string) ([]string, error) {
	t, err := time.Parse(time.DateOnly, today)
	if err != nil {
		return nil, fmt.Errorf("seal: bad day %q", today)
	}
	last := t.AddDate(0, 0, -1).Format(time.DateOnly)
	var start string
	err = db.View(func(tx store.Tx) error {
		k, _, err := tx.Last(BucketDayRoots)
		if err == nil {
			start = nextDay(string(k))
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	})
	rooted := start != ""
	if err != nil {
		return nil, err
	}
	items, err := db.Items()
	if err != nil {
		return nil, err
	}
	byDay := map[string][]store.Item{}
	for _, it := range items {
		byDay[it.Day] = append(byDay[it.Day], it)
		if !rooted && (start == "" || it.Day < start) {
			start = it.Day
		}
	}
	if start == "" {
		start = last
	}
	var sealed []string
	for day := start; day <= last; day = nextDay(day) {
		rec, err := dayRecord(db, byDay[day])
		if err != nil {
			return sealed, fmt.Errorf("seal %s: %w", day, err)
		}
		err = db.Update(func(tx store.Tx) error {
			if _, err := tx.Get(BucketDayRoots, []byte(day)); err == nil {
				return errSealed
			}
			prev := bundle.ZeroHash
			if k, v, err := tx.Last(BucketDayRoots); err == nil {
				if string(k) != previousDay(day) {
					return fmt.Errorf("the last root is of %s, not of the day before %s", k, day)
				}
				p, err := decodeJSON[DayRecord](BucketDayRoots, v)
				if err != nil {
					return err
				}
				prev = p.Root.Hash()
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			audit := "0:" + bundle.ZeroHash
			if h, ok, err := getAuditHead(tx); err != nil {
				return err
			} else if ok {
				audit = h.String()
			}
			rec.Root = bundle.SignRoot(bundle.DayRoot{Day: day, Count: uint64(len(rec.IDs)),
				Root: rec.Root.Root, Audit: audit, Prev: prev}, key)
			return putJSON(tx, BucketDayRoots, []byte(day), rec)
		})
		if errors.Is(err, errSealed) {
			continue // sealed meanwhile by another caller
		}
		if err != nil {
			return sealed, fmt.Errorf("seal %s: %w", day, err)
		}
		sealed = append(sealed, day)
	}
	return sealed, nil
}

var errSealed = errors.New("day already sealed")

// dayRecord hashes a day's items, in id order, into the leaves and root
// of its tree (the root not yet signed).
func dayRecord(db store.Store, items []store.Item) (DayRecord, error) {
	slices.SortFunc(items, func(a, b store.Item) int { return cmp.Compare(a.ID, b.ID) })
	rec := DayRecord{IDs: []string{}, Leaves: []string{}}
	leaves := make([]bundle.Hash, 0, len(items))
	for _, it := range items {
		_, r, err := db.Open(it.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted since it was listed
		}
		if err != nil {
			return rec, err
		}
		h := sha256.New()
		if _, err := io.Copy(h, r); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return rec, err
		}
		var sum bundle.Hash
		h.Sum(sum[:0])
		data, err := bundle.LeafData(it.ID, sum)
		if err != nil {
			return rec, err
		}
		leaf := bundle.LeafHash(data)
		leaves = append(leaves, leaf)
		rec.IDs = append(rec.IDs, it.ID)
		rec.Leaves = append(rec.Leaves, hex.EncodeToString(leaf[:]))
	}
	root := bundle.TreeRoot(leaves)
	rec.Root.Root = hex.EncodeToString(root[:])
	return rec, nil
}

// DayRoots returns every sealed day's record, in day order.
func DayRoots(tx store.Tx) ([]DayRecord, error) {
	var out []DayRecord
	err := tx.ForEach(BucketDayRoots, nil, func(k, v []byte) error {
		r, err := decodeJSON[DayRecord](BucketDayRoots, v)
		if err != nil {
			return err
		}
		out = append(out, *r)
		return nil
	})
	return out, err
}

// BundleEvidence is the evidence a bundle of items carries: a proof for
// each item of a sealed day, and the roots from the earliest such day to
// the last sealed day. key signs the bundle's listing.
func BundleEvidence(db store.Store, items []store.Item, key ed25519.PrivateKey) (*bundle.Evidence, error) {
	ev := &bundle.Evidence{Proofs: map[string]*bundle.Proof{}, Key: key}
	err := db.View(func(tx store.Tx) error {
		all, err := DayRoots(tx)
		if err != nil {
			return err
		}
		if len(all) == 0 {
			return nil
		}
		days := map[string]int{}
		for i, r := range all {
			days[r.Root.Day] = i
		}
		first := len(all)
		trees := map[int]*bundle.Tree{}
		for _, it := range items {
			i, ok := days[it.Day]
			if !ok {
				continue
			}
			first = min(first, i)
			rec := &all[i]
			m, found := slices.BinarySearch(rec.IDs, it.ID)
			if !found {
				continue // not in the root: verify names it
			}
			tree, ok := trees[i]
			if !ok {
				leaves := make([]bundle.Hash, len(rec.Leaves))
				for j, l := range rec.Leaves {
					if n, err := hex.Decode(leaves[j][:], []byte(l)); err != nil || n != len(leaves[j]) {
						return &DamagedError{What: "day root of " + rec.Root.Day, Err: fmt.Errorf("bad leaf %d", j)}
					}
				}
				tree = bundle.NewTree(leaves)
				trees[i] = tree
			}
			path, err := tree.Proof(m)
			if err != nil {
				return err
			}
			p := &bundle.Proof{Leaf: uint64(m), Path: make([]string, len(path))}
			for j, h := range path {
				p.Path[j] = hex.EncodeToString(h[:])
			}
			ev.Proofs[it.ID] = p
		}
		if first == len(all) {
			first = len(all) - 1 // no item of a sealed day: the last root alone
		}
		for _, r := range all[first:] {
			ev.Roots = append(ev.Roots, r.Root)
		}
		return nil
	})
	return ev, err
}

func nextDay(day string) string {
	t, _ := time.Parse(time.DateOnly, day)
	return t.AddDate(0, 0, 1).Format(time.DateOnly)
}

func previousDay(day string) string {
	t, _ := time.Parse(time.DateOnly, day)
	return t.AddDate(0, 0, -1).Format(time.DateOnly)
}
