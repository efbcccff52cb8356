// Package bundle is the format of a bundle: the tar of items and its
// index.json that an investigator downloads and opens offline.
//
// A bundle is a tar of items/<id>.age, one entry per item (its ciphertext,
// as the store keeps it), then index.json, an [Index] listing each item's
// record and the SHA-256 of its bytes, and the evidence that the server
// held them: signed day roots, inclusion proofs and a signed listing
// (evidence.go, merkle.go). The index comes last so that a
// bundle can be written as a stream; a reader checks the items against it
// once it has been read ([Reader.Verify]).
//
// The package holds the format only: the store writes bundles from its
// database, and the offline tool reads them. It imports no database, so
// the air-gapped tool that opens bundles links none.
package bundle

import "errors"

// Format names the version of index.json this package writes and reads.
const Format = "testimony-bundle/v1"

// Index is a bundle's index.json: what it holds, verifiable offline.
type Index struct {
	Format string  `json:"format"`
	Day    string  `json:"day"` // when the bundle was made, UTC day
	Items  []Entry `json:"items"`
	// Roots are the signed day roots the items' proofs need, from the
	// earliest of their days to the last sealed day (evidence.go).
	Roots []DayRoot `json:"roots,omitempty"`
	// Listing is the server's signature of the items and their order.
	Listing *Listing `json:"listing,omitempty"`
	// Team is the investigators' recipient set, to which they encrypt
	// their annotations. The offline tool pins it on first sight and
	// never switches to another without being told (a server must not
	// slip its own key in). Bundles of older servers have none.
	Team *Team `json:"team,omitempty"`
}

// Team names the investigators' recipient set: its age public keys,
// sorted, and their fingerprint (crypto.Fingerprint).
type Team struct {
	Fingerprint string   `json:"fingerprint"`
	Recipients  []string `json:"recipients"`
}

// Entry describes one item of a bundle.
type Entry struct {
	ID         string `json:"id"`
	Kind       string `json:"kind"`
	Day        string `json:"day"`
	Source     string `json:"source"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"` // of the ciphertext
	Recipients string `json:"recipients"`
	Proof      *Proof `json:"proof,omitempty"` // none for an item of a day not yet sealed
}

// ItemPath is the tar path of an item in a bundle.
func ItemPath(id string) string { return "items/" + id + ".age" }

// MaxIndex bounds the size of a bundle's index.json.
const MaxIndex = 64 << 20

// ErrBad is wrapped by errors about a bundle's structure.
var ErrBad = errors.New("bad bundle")
