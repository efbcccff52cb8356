package bundle

import (
	"cmp"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Check is what verify does with a bundle: it holds the items read from
// the tar against the signed listing, each item of a sealed day against
// its proof and its day's signed root, and the roots against each other
// (signatures, one root per day, each naming the one before, the audit
// log only growing). Every fault is named; items of days not yet sealed
// are reported apart, as they prove nothing yet but are no fault.

// Fault kinds, as verify names them.
const (
	FaultAltered   = "altered item"
	FaultRemoved   = "item removed"
	FaultAdded     = "item added"
	FaultReordered = "items reordered"
	FaultReplayed  = "root replayed from another day"
	FaultForked    = "forked chain"
	FaultGap       = "root missing"
	FaultAudit     = "audit log truncated"
	FaultSignature = "bad signature"
	FaultNoProof   = "no evidence"
)

// Fault is one thing that did not hold.
type Fault struct {
	Kind   string
	Detail string
}

func (f Fault) String() string { return f.Kind + ": " + f.Detail }

// Report is the outcome of [Check].
type Report struct {
	Faults   []Fault
	Proved   int      // items whose proof leads to a signed root
	Unsealed []string // items of a day with no root yet
	Last     string   // the last sealed day the bundle carries, or ""
}

// OK reports whether everything held.
func (r *Report) OK() bool { return len(r.Faults) == 0 }

func (r *Report) fault(kind, format string, a ...any) {
	r.Faults = append(r.Faults, Fault{kind, fmt.Sprintf(format, a...)})
}

// Check checks a bundle's index and the items read from its tar (in tar
// order) against the server's public key pub.
func Check(idx *Index, read []ReadItem, pub ed25519.PublicKey) *Report {
	r := &Report{}
	got := map[string]ReadItem{}
	for _, it := range read {
		got[it.ID] = it
	}
	entries := map[string]Entry{}
	for _, e := range idx.Items {
		entries[e.ID] = e
	}
	// The listing: what the server put in the bundle, and in which order.
	var listed []string
	want := map[string]string{}
	switch l := idx.Listing; {
	case l == nil:
		r.fault(FaultNoProof, "the bundle carries no signed listing (made by a server before signed roots?)")
		for _, e := range idx.Items {
			listed = append(listed, e.ID)
			want[e.ID] = e.SHA256
		}
	default:
		if !l.SignatureValid(idx.Day, pub) {
			if l.Key != FormatKey(pub) {
				r.fault(FaultSignature, "the listing is signed by %s, not the server key given", l.Key)
			} else {
				r.fault(FaultSignature, "the listing's signature does not hold: the item list or the bundle's day was changed")
			}
		}
		for _, line := range l.Items {
			id, sum, _ := strings.Cut(line, " ")
			listed = append(listed, id)
			want[id] = sum
		}
	}
	for _, id := range listed {
		it, ok := got[id]
		switch {
		case !ok:
			r.fault(FaultRemoved, "item %s is listed but not in the bundle", id)
		case it.SHA256 != want[id]:
			r.fault(FaultAltered, "item %s: its bytes have SHA-256 %s, the listing says %s", id, it.SHA256, want[id])
		case entries[id].SHA256 != it.SHA256 || entries[id].Size != it.Size:
			r.fault(FaultAltered, "item %s does not match its entry in index.json", id)
		}
	}
	for _, it := range read {
		if _, ok := want[it.ID]; !ok {
			r.fault(FaultAdded, "item %s is in the bundle but not in the signed listing", it.ID)
		}
	}
	var a, b []string
	for _, id := range listed {
		if _, ok := got[id]; ok {
			a = append(a, id)
		}
	}
	for _, it := range read {
		if _, ok := want[it.ID]; ok {
			b = append(b, it.ID)
		}
	}
	if !slices.Equal(a, b) {
		for i := range min(len(a), len(b)) {
			if a[i] != b[i] {
				r.fault(FaultReordered, "item %s is where the listing has item %s", b[i], a[i])
				break
			}
		}
		if len(a) != len(b) {
			r.fault(FaultAdded, "the listing names an item more than once")
		}
	}

	// Against a key other than the listing's, every root fails: do not
	// search for the days they were moved from.
	search := idx.Listing == nil || idx.Listing.Key == FormatKey(pub)
	byDay := r.checkChain(idx.Roots, pub, idx.Items, search)
	// The listing names the last root the server put in: roots cut off
	// the end (or all of them) would make sealed items look unsealed.
	if l := idx.Listing; l != nil && l.SignatureValid(idx.Day, pub) {
		last := ""
		if r.Last != "" {
			last = r.Last + " " + byDay[r.Last].Hash()
		}
		if l.Last != last {
			d, _, _ := strings.Cut(l.Last, " ")
			if d == "" {
				d = "none"
			}
			r.fault(FaultGap, "the signed listing names %s as the last sealed day, the roots given end at %s", d, cmp.Or(r.Last, "none"))
			if d > r.Last {
				r.Last = d // items up to that day should have had proofs
			}
		}
	}
	for _, id := range listed {
		it, ok := got[id]
		if !ok {
			continue
		}
		e, ok := entries[id]
		if !ok {
			r.fault(FaultNoProof, "item %s has no entry in index.json", id)
			continue
		}
		root, sealed := byDay[e.Day]
		if !sealed {
			if r.Last == "" || e.Day > r.Last {
				r.Unsealed = append(r.Unsealed, id)
			} else {
				r.fault(FaultGap, "item %s is of %s, a day the bundle carries no root for", id, e.Day)
			}
			continue
		}
		if e.Proof == nil {
			r.fault(FaultAdded, "item %s of %s has no proof: it is not in that day's signed root", id, e.Day)
			continue
		}
		if err := checkProof(id, it.SHA256, e.Proof, root); err != nil {
			r.fault(FaultAltered, "item %s is not in the signed root of %s: %v", id, e.Day, err)
			continue
		}
		r.Proved++
	}
	return r
}

func checkProof(id, sum string, p *Proof, root DayRoot) error {
	var s, rh Hash
	if b, err := hex.DecodeString(sum); err != nil || len(b) != len(s) {
		return fmt.Errorf("bad hash")
	} else {
		copy(s[:], b)
	}
	if b, err := hex.DecodeString(root.Root); err != nil || len(b) != len(rh) {
		return fmt.Errorf("bad root")
	} else {
		copy(rh[:], b)
	}
	data, err := LeafData(id, s)
	if err != nil {
		return err
	}
	path := make([]Hash, len(p.Path))
	for i, h := range p.Path {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != len(path[i]) {
			return fmt.Errorf("bad proof")
		}
		copy(path[i][:], b)
	}
	return VerifyInclusion(LeafHash(data), p.Leaf, root.Count, path, rh)
}

// checkChain checks the roots and returns those whose signature holds,
// by day.
func (r *Report) checkChain(roots []DayRoot, pub ed25519.PublicKey, items []Entry, search bool) map[string]DayRoot {
	byDay := map[string]DayRoot{}
	var prev *DayRoot
	bad := 0
	for i := range roots {
		rt := roots[i]
		if _, err := time.Parse(time.DateOnly, rt.Day); err != nil {
			r.fault(FaultSignature, "root %d names no day (%q)", i, rt.Day)
			continue
		}
		if !rt.SignatureValid(pub) {
			// Looking for the day a root was moved from costs hundreds of
			// signature checks: a hostile bundle of many bad roots must not
			// keep verify busy for hours, so only the first few are.
			bad++
			d := ""
			if search && bad <= maxReplaySearch {
				d = signedDay(rt, pub, roots, items)
			}
			if d != "" {
				r.fault(FaultReplayed, "the root given for %s is the root of %s", rt.Day, d)
			} else {
				r.fault(FaultSignature, "the root of %s is not signed by the server key given", rt.Day)
			}
			continue
		}
		if old, dup := byDay[rt.Day]; dup {
			if old == rt {
				r.fault(FaultReplayed, "the root of %s is given twice", rt.Day)
			} else {
				r.fault(FaultForked, "two different signed roots for %s", rt.Day)
			}
			continue
		}
		if prev != nil {
			switch next := nextDay(prev.Day); {
			case rt.Day < next:
				r.fault(FaultReplayed, "the root of %s comes after the root of %s", rt.Day, prev.Day)
				continue
			case rt.Day > next:
				r.fault(FaultGap, "no root for the days from %s to the day before %s", next, rt.Day)
			case rt.Prev != prev.Hash():
				r.fault(FaultForked, "the root of %s does not name the root of %s before it", rt.Day, prev.Day)
			}
			pc, ph := auditHead(prev.Audit)
			c, h := auditHead(rt.Audit)
			if c < pc || (c == pc && h != ph) {
				r.fault(FaultAudit, "the audit log had %s at the end of %s but %s at the end of %s", prev.Audit, prev.Day, rt.Audit, rt.Day)
			}
		}
		byDay[rt.Day] = rt
		prev = &roots[i]
		r.Last = rt.Day
	}
	return byDay
}

// maxReplaySearch is how many roots with a bad signature are searched
// for the day they were signed for.
const maxReplaySearch = 4

// signedDay finds another day whose root this one is: a root moved to
// another day keeps the signature of its own.
func signedDay(rt DayRoot, pub ed25519.PublicKey, roots []DayRoot, items []Entry) string {
	days := map[string]bool{}
	for _, o := range roots {
		days[o.Day] = true
		days[nextDay(o.Day)] = true
	}
	for _, e := range items {
		days[e.Day] = true
	}
	// A root moved from a day just before the chain: try the month before
	// its first root.
	if len(roots) > 0 {
		if t, err := time.Parse(time.DateOnly, roots[0].Day); err == nil {
			for i := 1; i <= 31; i++ {
				days[t.AddDate(0, 0, -i).Format(time.DateOnly)] = true
			}
		}
	}
	for d := range days {
		c := rt
		c.Day = d
		if d != rt.Day && c.SignatureValid(pub) {
			return d
		}
	}
	return ""
}

func nextDay(day string) string {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return ""
	}
	return t.AddDate(0, 0, 1).Format(time.DateOnly)
}

func auditHead(s string) (uint64, string) {
	c, h, _ := strings.Cut(s, ":")
	n, _ := strconv.ParseUint(c, 10, 64)
	return n, h
}
