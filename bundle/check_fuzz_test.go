package bundle

import (
	"crypto/ed25519"
	"encoding/json"
	"testing"
)

// FuzzCheck: verify's checks on a hostile index.json (any roots, proofs
// and listing) never panic, and an index that is not signed by the key
// never passes.
func FuzzCheck(f *testing.F) {
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pub := key.Public().(ed25519.PublicKey)
	r0 := SignRoot(DayRoot{Day: "2026-11-27", Count: 1, Root: ZeroHash, Audit: "0:" + ZeroHash, Prev: ZeroHash}, key)
	r1 := SignRoot(DayRoot{Day: "2026-11-28", Count: 0, Root: ZeroHash, Audit: "3:" + ZeroHash, Prev: r0.Hash()}, key)
	idx := Index{Format: Format, Day: "2026-11-29", Roots: []DayRoot{r0, r1, r0},
		Items:   []Entry{{ID: "00112233445566778899aabbccddeeff", Day: "2026-11-27", SHA256: ZeroHash, Proof: &Proof{Leaf: 5, Path: []string{"zz", ZeroHash}}}},
		Listing: &Listing{Key: FormatKey(pub), Items: []string{"00112233445566778899aabbccddeeff " + ZeroHash, "x", "x"}, Sig: "!!"}}
	b, _ := json.Marshal(idx)
	f.Add(b)
	f.Add([]byte(`{"roots":[{"day":"2026-13-45"},{"day":"0000-01-01","count":18446744073709551615}],"items":[{"id":"","proof":{"leaf":18446744073709551615}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var idx Index
		if json.Unmarshal(b, &idx) != nil {
			return
		}
		read := []ReadItem{{ID: "00112233445566778899aabbccddeeff", SHA256: ZeroHash}}
		Check(&idx, read, pub)
		// No index passes against a key that signs nothing: a listing is
		// required, and its signature cannot hold.
		wrong := ed25519.PublicKey(make([]byte, ed25519.PublicKeySize))
		if Check(&idx, read, wrong).OK() {
			t.Errorf("an index passed against a key that signed nothing")
		}
	})
}
