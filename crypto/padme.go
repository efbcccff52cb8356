package crypto

import "math/bits"

// PadFloor is the smallest padded plaintext: every object is at least this
// long, so short testimonies all look alike.
const PadFloor = 16 << 10

// PaddedLen returns the length an envelope's plaintext of n bytes is padded
// to: the PADMÉ length of n (Nikitin et al., "Reducing Metadata Leakage from
// Encrypted Files and Communication with PURBs", 2019), and never less than
// [PadFloor]. PADMÉ keeps the overhead under 12% while leaking only
// O(log log n) bits of the length.
func PaddedLen(n int64) int64 {
	if n <= PadFloor {
		return PadFloor
	}
	e := bits.Len64(uint64(n)) - 1 // floor(log2 n)
	s := bits.Len64(uint64(e))     // floor(log2 e) + 1
	mask := int64(1)<<(e-s) - 1
	return (n + mask) &^ mask
}
