package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
)

// rfcLeaves are the eight leaf inputs of the RFC 6962/9162 test vectors
// (as used by Certificate Transparency implementations, e.g.
// transparency-dev/merkle), and rfcRoots the roots of their first n.
var rfcLeaves = []string{"", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"}

var rfcRoots = []string{
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}

func hexLeaves(t *testing.T, n int) []Hash {
	var out []Hash
	for _, s := range rfcLeaves[:n] {
		d, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, LeafHash(d))
	}
	return out
}

func TestTreeRootVectors(t *testing.T) {
	if got, want := TreeRoot(nil), sha256.Sum256(nil); got != want {
		t.Errorf("empty tree: %x", got)
	}
	if r := TreeRoot(nil); hex.EncodeToString(r[:]) != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("empty tree root %x", r)
	}
	for n := 1; n <= len(rfcLeaves); n++ {
		r := TreeRoot(hexLeaves(t, n))
		if got := hex.EncodeToString(r[:]); got != rfcRoots[n-1] {
			t.Errorf("root of %d leaves: %s, want %s", n, got, rfcRoots[n-1])
		}
	}
}

// TestInclusionProofs: every leaf of every tree of 1 to 33 leaves has a
// proof that verifies, and that fails when the leaf or the index, or
// the root or any hash of the path is changed (the size alone may
// grow without changing the path, which is why the day root signs the size), or the path is cut short
// or lengthened.
func TestInclusionProofs(t *testing.T) {
	for n := 1; n <= 33; n++ {
		leaves := make([]Hash, n)
		for i := range leaves {
			leaves[i] = LeafHash([]byte(fmt.Sprintf("leaf %d", i)))
		}
		root := TreeRoot(leaves)
		if lv := NewTree(leaves).levels; lv[len(lv)-1][0] != root {
			t.Fatalf("n=%d: the levelled tree's root differs from TreeRoot", n)
		}
		for m := range n {
			p, err := InclusionProof(leaves, m)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyInclusion(leaves[m], uint64(m), uint64(n), p, root); err != nil {
				t.Fatalf("n=%d m=%d: %v", n, m, err)
			}
			bad := func(what string, leaf Hash, idx, size uint64, p []Hash, root Hash) {
				t.Helper()
				if err := VerifyInclusion(leaf, idx, size, p, root); !errors.Is(err, ErrProof) {
					t.Errorf("n=%d m=%d, %s: verified (%v)", n, m, what, err)
				}
			}
			flipped := leaves[m]
			flipped[0] ^= 1
			bad("altered leaf", flipped, uint64(m), uint64(n), p, root)
			if n > 1 {
				bad("another index", leaves[m], uint64((m+1)%n), uint64(n), p, root)
			}
			bad("index past size", leaves[m], uint64(n), uint64(n), p, root)
			r2 := root
			r2[31] ^= 0x80
			bad("altered root", leaves[m], uint64(m), uint64(n), p, r2)
			for i := range p {
				q := append([]Hash(nil), p...)
				q[i][5] ^= 4
				bad(fmt.Sprintf("altered path[%d]", i), leaves[m], uint64(m), uint64(n), q, root)
			}
			if len(p) > 0 {
				bad("short path", leaves[m], uint64(m), uint64(n), p[:len(p)-1], root)
			}
			bad("long path", leaves[m], uint64(m), uint64(n), append(append([]Hash(nil), p...), root), root)
		}
	}
}

func TestInclusionProofRange(t *testing.T) {
	if _, err := InclusionProof(nil, 0); err == nil {
		t.Error("proof of a leaf of the empty tree")
	}
	if _, err := InclusionProof(make([]Hash, 3), 3); err == nil {
		t.Error("proof of leaf 3 of 3")
	}
}
