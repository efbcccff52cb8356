package crypto

import "math/bits"

// PadFloor is the floor of [PaddedLen]: every object holds at least this
// much content (manifest and attachments), so short testimonies all look
// alike.
const PadFloor = 16 << 10

// tarFraming is what tar adds around a lone manifest of up to [PadFloor]
// bytes: its header block and the end-of-archive marker (two blocks).
const tarFraming = 3 * 512

// PaddedLen returns the length a plaintext of n bytes is padded to: the
// PADMÉ length of n (Nikitin et al., "Reducing Metadata Leakage from
// Encrypted Files and Communication with PURBs", 2019), and never less than
// [PadFloor]. PADMÉ keeps the overhead under 12% while leaking only
// O(log log n) bits of the length. An envelope pads its tar to PaddedLen,
// and never below the tar of [PadFloor] bytes of content.
func PaddedLen(n int64) int64 {
	if n <= PadFloor {
		return PadFloor
	}
	e := bits.Len64(uint64(n)) - 1 // floor(log2 n)
	s := bits.Len64(uint64(e))     // floor(log2 e) + 1
	mask := int64(1)<<(e-s) - 1
	return (n + mask) &^ mask
}

// envelopeLen is the length an envelope's tar of n bytes is padded to: the
// PADMÉ length, and never less than the tar of a [PadFloor]-byte manifest.
// With the floor on the tar itself, a 15 KiB testimony (whose tar is some
// 17 KiB) would stand out from a 1 KiB one.
func envelopeLen(n int64) int64 {
	return max(PaddedLen(n), PadFloor+tarFraming)
}
