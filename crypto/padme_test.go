package crypto_test

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	"testimony/crypto"
)

// padmeBound returns PADMÉ's maximal overhead for a length n ≥ 2, computed
// the slow way from the paper's definition: E = ⌊log2 n⌋, S = ⌊log2 E⌋+1,
// and the last E−S bits of the padded length are zero, so at most
// 2^(E−S)−1 bytes are added.
func padmeBound(n int64) (step int64) {
	e := 0
	for int64(1)<<(e+1) <= n {
		e++
	}
	s := 0
	for 1<<(s+1) <= e {
		s++
	}
	s++
	return int64(1) << (e - s)
}

// sizes returns the lengths to check from lo to hi: every power of two
// and its neighbours, and random sizes, sorted.
func sizes(lo, hi int64, random int) []int64 {
	var out []int64
	for p := int64(1); p <= hi*2; p <<= 1 {
		for d := int64(-3); d <= 3; d++ {
			if n := p + d; n >= lo && n <= hi {
				out = append(out, n)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range random {
		out = append(out, lo+r.Int64N(hi-lo+1))
	}
	out = append(out, lo, hi)
	slices.Sort(out)
	return slices.Compact(out)
}

func checkPadded(t *testing.T, n int64) {
	t.Helper()
	p := crypto.PaddedLen(n)
	step := padmeBound(n)
	switch {
	case p < n:
		t.Fatalf("PaddedLen(%d) = %d, shorter than the plaintext", n, p)
	case p-n > step-1:
		t.Fatalf("PaddedLen(%d) = %d: overhead %d over PADMÉ's bound %d", n, p, p-n, step-1)
	case p%step != 0:
		t.Fatalf("PaddedLen(%d) = %d: not a multiple of 2^(E-S) = %d, so it leaks more than PADMÉ", n, p, step)
	case float64(p-n) >= 0.12*float64(n):
		t.Fatalf("PaddedLen(%d) = %d: overhead %.2f%% ≥ 12%%", n, p, 100*float64(p-n)/float64(n))
	}
}

// Above the floor, the padded length is PADMÉ's: at most 2^(E−S)−1 bytes
// more, under 12%, and monotonic — for every size from 16 KiB to 1 GiB.
func TestPaddedLenPADME(t *testing.T) {
	const lo, hi = crypto.PadFloor, 1 << 30
	prev := int64(0)
	for _, n := range sizes(lo, hi, 200_000) {
		checkPadded(t, n)
		p := crypto.PaddedLen(n)
		if p < prev {
			t.Fatalf("PaddedLen not monotonic: PaddedLen(%d) = %d after %d", n, p, prev)
		}
		prev = p
	}
	// Every size of the first MiBs, where the steps are small.
	prev = 0
	for n := int64(lo); n <= 4<<20; n++ {
		checkPadded(t, n)
		p := crypto.PaddedLen(n)
		if p < prev {
			t.Fatalf("PaddedLen not monotonic: PaddedLen(%d) = %d after %d", n, p, prev)
		}
		prev = p
	}
}

// Below the floor, every length pads to the floor, so short testimonies
// cannot be told apart by size.
func TestPaddedLenFloor(t *testing.T) {
	for n := int64(0); n <= crypto.PadFloor; n++ {
		if p := crypto.PaddedLen(n); p != crypto.PadFloor {
			t.Fatalf("PaddedLen(%d) = %d, want the floor %d", n, p, crypto.PadFloor)
		}
	}
}

// PADMÉ leaks O(log log n) bits: few distinct lengths per power of two.
func TestPaddedLenLeak(t *testing.T) {
	for e := 15; e < 30; e++ {
		lo, hi := int64(1)<<e, int64(1)<<(e+1)
		distinct := (crypto.PaddedLen(hi-1) - crypto.PaddedLen(lo)) / padmeBound(lo)
		if distinct > 1<<6 {
			t.Errorf("[2^%d, 2^%d): %d distinct lengths", e, e+1, distinct)
		}
	}
}

// Through the real envelope: a 1 KiB and a 15 KiB testimony give ciphertexts
// of the same length (issue 2), and so does a 1 KiB testimony with a small
// photo whose total stays under the floor.
func TestPaddingHidesShortLengths(t *testing.T) {
	rs := recipients3(t)
	lengths := map[string]int{}
	for _, c := range []struct {
		name  string
		text  int
		files []file
	}{
		{"1KiB", 1 << 10, nil},
		{"15KiB", 15 << 10, nil},
		{"1B", 1, nil},
		{"1KiB+8KiB photo", 1 << 10, []file{{"фото.jpg", bytes.Repeat([]byte{0xff}, 8<<10), "image/jpeg"}}},
	} {
		m := manifestFor(map[string]crypto.Answer{"account": crypto.TextAnswer(textOf(c.text))}, c.files...)
		ct := seal(t, rs, m, c.files...)
		lengths[c.name] = len(ct)
		pt := decrypt(t, ct, identities(t)[0])
		t.Logf("%s: plaintext %d bytes, ciphertext %d bytes", c.name, len(pt), len(ct))
	}
	for name, n := range lengths {
		if n != lengths["1KiB"] {
			t.Errorf("ciphertext of %s is %d bytes, of 1KiB %d: the length leaks", name, n, lengths["1KiB"])
		}
	}
	// Well over the floor, lengths differ again, by PADMÉ steps.
	big := seal(t, rs, manifestFor(map[string]crypto.Answer{"account": crypto.TextAnswer(textOf(40 << 10))}))
	if len(big) == lengths["1KiB"] {
		t.Errorf("a 40 KiB testimony has the length of a 1 KiB one: padding too coarse")
	}
}
