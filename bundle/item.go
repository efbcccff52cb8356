package bundle

import "crypto/ed25519"

// Checks outside a bundle: an evidence package holds one item and the
// roots it needs, and a roots file is taken on its own to a timestamping
// authority. Neither has a listing, since it holds not a bundle's items
// but one of them, or none.

// CheckRoots checks a chain of day roots on its own (signatures, one
// root per day, each naming the one before, the audit log only growing).
func CheckRoots(roots []DayRoot, pub ed25519.PublicKey) *Report {
	r := &Report{}
	r.checkChain(roots, pub, nil, true)
	return r
}

// CheckItem checks one item whose ciphertext has SHA-256 sum (hex)
// against its entry e (its day and proof) and the chain of roots. An item
// of a day the roots do not reach is reported as not yet sealed; one of a
// day they cover but do not hold is a fault.
func CheckItem(e Entry, sum string, roots []DayRoot, pub ed25519.PublicKey) *Report {
	r := &Report{}
	byDay := r.checkChain(roots, pub, []Entry{e}, true)
	switch root, sealed := byDay[e.Day]; {
	case e.SHA256 != sum:
		r.fault(FaultAltered, "item %s: its bytes have SHA-256 %s, its entry says %s", e.ID, sum, e.SHA256)
	case !sealed && (r.Last == "" || e.Day > r.Last):
		r.Unsealed = append(r.Unsealed, e.ID)
	case !sealed:
		r.fault(FaultGap, "item %s is of %s, a day the roots given do not hold", e.ID, e.Day)
	case e.Proof == nil:
		r.fault(FaultAdded, "item %s of %s has no proof: it is not in that day's signed root", e.ID, e.Day)
	default:
		if err := checkProof(e.ID, sum, e.Proof, root); err != nil {
			r.fault(FaultAltered, "item %s is not in the signed root of %s: %v", e.ID, e.Day, err)
		} else {
			r.Proved++
		}
	}
	return r
}
