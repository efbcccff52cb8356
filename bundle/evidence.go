package bundle

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// A bundle proves what it holds with two kinds of signature by the
// server's signing key (Ed25519), which investigators note at enrolment:
//
//   - [DayRoot]: for each UTC day, once it is over, the root of a Merkle
//     tree (merkle.go) over that day's items, with the audit log's head at
//     sealing, chained to the previous day's root. A root commits the
//     server to what it held that day: changing, adding or removing an
//     item of a sealed day later breaks the item's proof or the chain.
//   - [Listing]: the ids and SHA-256 of the items in the bundle, in their
//     order, signed when the bundle is made, so an item dropped from,
//     added to or moved within a bundle is named by verify.
//
// Each item of a sealed day carries a [Proof] of inclusion in its day's
// tree. Items of the day still running carry none: their day has no root
// yet.
//
// No time finer than the day is kept in any of them.

// RootFormat versions the signed message of a day root.
const RootFormat = "testimony-dayroot/v1"

// ListingFormat versions the signed message of a bundle's listing.
const ListingFormat = "testimony-listing/v1"

// RootsFormat versions a day-roots file ([RootsFile]).
const RootsFormat = "testimony-roots/v1"

// DayRoot is a day's signed root.
type DayRoot struct {
	Day   string `json:"day"`   // YYYY-MM-DD, UTC
	Count uint64 `json:"count"` // leaves of the day's tree: items stored that day
	Root  string `json:"root"`  // hex Merkle root (RFC 9162) of the leaves
	Audit string `json:"audit"` // audit log head at sealing, COUNT:HASH ("0:" and 64 zeros if empty)
	Prev  string `json:"prev"`  // hex [DayRoot.Hash] of the previous day's root; 64 zeros for the first
	Sig   string `json:"sig"`   // base64 Ed25519 signature of [DayRoot.Message]
}

// ZeroHash is the hex of 32 zero bytes: the prev of the first root, the
// hash of an empty audit log.
var ZeroHash = strings.Repeat("0", 2*sha256.Size)

// Message is the text a day root's signature covers: the format, then
// each field but the signature on a line of its own.
func (r DayRoot) Message() []byte {
	return []byte(RootFormat + "\n" + r.Day + "\n" + strconv.FormatUint(r.Count, 10) + "\n" +
		r.Root + "\n" + r.Audit + "\n" + r.Prev + "\n")
}

// Hash is the hex SHA-256 of the root's message: what the next day's root
// names as prev.
func (r DayRoot) Hash() string {
	h := sha256.Sum256(r.Message())
	return hex.EncodeToString(h[:])
}

// SignRoot fills in r.Sig.
func SignRoot(r DayRoot, key ed25519.PrivateKey) DayRoot {
	r.Sig = base64.StdEncoding.EncodeToString(ed25519.Sign(key, r.Message()))
	return r
}

// SignatureValid reports whether r is signed by pub.
func (r DayRoot) SignatureValid(pub ed25519.PublicKey) bool {
	return validSig(pub, r.Message(), r.Sig)
}

func validSig(pub ed25519.PublicKey, msg []byte, sig string) bool {
	s, err := base64.StdEncoding.DecodeString(sig)
	return err == nil && len(pub) == ed25519.PublicKeySize && ed25519.Verify(pub, msg, s)
}

// Proof is an item's inclusion proof in its day's tree.
type Proof struct {
	Leaf uint64   `json:"leaf"` // the item's leaf number in the day's tree
	Path []string `json:"path"` // hex audit path, RFC 9162 2.1.3
}

// Listing is the signed list of a bundle's items.
type Listing struct {
	Key string `json:"key"` // the signing key, as [FormatKey] writes it
	// Last is "DAY HASH" of the last root the bundle carries (its
	// [DayRoot.Hash]), "" if none: roots cut from a bundle are named.
	Last  string   `json:"last"`
	Items []string `json:"items"` // "ID SHA256" per item, in the bundle's order
	Sig   string   `json:"sig"`   // base64 Ed25519 signature of [Listing.Message]
}

// Message is the text a listing's signature covers: the format, the
// bundle's day, the last root, then one line per item.
func (l Listing) Message(day string) []byte {
	var b strings.Builder
	b.WriteString(ListingFormat + "\n" + day + "\n" + l.Last + "\n")
	for _, it := range l.Items {
		b.WriteString(it + "\n")
	}
	return []byte(b.String())
}

// SignatureValid reports whether l, for a bundle of day, is signed by pub.
func (l Listing) SignatureValid(day string, pub ed25519.PublicKey) bool {
	return validSig(pub, l.Message(day), l.Sig)
}

// RootsFile is a file of day roots as a bundle carries them, for an
// investigator to keep or to take elsewhere (to have them timestamped).
// It is JSON: {"format":"testimony-roots/v1","key":"ed25519:…","roots":[…]}.
type RootsFile struct {
	Format string    `json:"format"`
	Key    string    `json:"key"`
	Roots  []DayRoot `json:"roots"`
}

// Evidence is what the writer of a bundle adds to index.json for verify:
// the proofs of the items of sealed days, the chain of roots they need,
// and the key that signs the listing. A nil Key writes no listing. Team,
// if set, names the team's recipient set (index.json's team), which is
// no evidence but travels the same way.
type Evidence struct {
	Proofs map[string]*Proof
	Roots  []DayRoot
	Key    ed25519.PrivateKey
	Team   *Team
}

// KeyPrefix begins the text form of a server signing key.
const KeyPrefix = "ed25519:"

// FormatKey is the text form of a server's public signing key, as status
// and the enrolment print it: "ed25519:" and 64 hex digits.
func FormatKey(pub ed25519.PublicKey) string { return KeyPrefix + hex.EncodeToString(pub) }

// ParseKey reads a key in the form [FormatKey] writes; spaces and dashes
// an investigator wrote down to group the digits are ignored.
func ParseKey(s string) (ed25519.PublicKey, error) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' || r == '\n' {
			return -1
		}
		return r
	}, strings.ToLower(s))
	b, err := hex.DecodeString(strings.TrimPrefix(s, KeyPrefix))
	if err != nil || len(b) != ed25519.PublicKeySize || !strings.HasPrefix(s, KeyPrefix) {
		return nil, fmt.Errorf("a server key is %s and 64 hex digits, as testimonyd status prints it", KeyPrefix)
	}
	return ed25519.PublicKey(b), nil
}
