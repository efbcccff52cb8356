package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// The day trees are Merkle trees as RFC 9162 (Certificate Transparency
// v2, section 2.1) defines them: a leaf is hashed as SHA-256(0x00 || data)
// and an inner node as SHA-256(0x01 || left || right), so no inner node
// can pass for a leaf (the second-preimage trick); a tree of n leaves
// splits at the largest power of two below n; the empty tree's hash is
// SHA-256 of nothing. Inclusion proofs are the audit paths of that RFC,
// and checking one follows its section 2.1.3.2 step by step.

// Hash is a SHA-256 digest.
type Hash = [sha256.Size]byte

// LeafData is the data of the leaf of one item in its day's tree: the
// item's id (16 bytes) and the SHA-256 of its ciphertext. Binding the id
// means an item cannot be passed off under another item's name.
func LeafData(id string, ciphertextSHA256 Hash) ([]byte, error) {
	raw, err := hex.DecodeString(id)
	if err != nil || len(raw) != 16 {
		return nil, fmt.Errorf("%w: item id %q", ErrBad, id)
	}
	return append(raw, ciphertextSHA256[:]...), nil
}

// LeafHash is the RFC 9162 hash of a leaf: SHA-256(0x00 || data).
func LeafHash(data []byte) Hash {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(data)
	var out Hash
	h.Sum(out[:0])
	return out
}

func nodeHash(l, r Hash) Hash {
	var b [1 + 2*sha256.Size]byte
	b[0] = 1
	copy(b[1:], l[:])
	copy(b[1+sha256.Size:], r[:])
	return sha256.Sum256(b[:])
}

// split is the largest power of two smaller than n (n > 1).
func split(n int) int {
	k := 1
	for k<<1 < n {
		k <<= 1
	}
	return k
}

// TreeRoot is the root hash of the tree over leaf hashes.
func TreeRoot(leaves []Hash) Hash {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	}
	k := split(len(leaves))
	return nodeHash(TreeRoot(leaves[:k]), TreeRoot(leaves[k:]))
}

// Tree is a Merkle tree kept level by level, so that the proofs of all
// its leaves cost one pass to build, not one per proof. An RFC 9162 tree
// is such a tree where a last node without a sibling moves up a level
// unchanged.
type Tree struct{ levels [][]Hash }

// NewTree builds the tree over leaf hashes.
func NewTree(leaves []Hash) *Tree {
	t := &Tree{levels: [][]Hash{leaves}}
	for l := leaves; len(l) > 1; {
		next := make([]Hash, 0, (len(l)+1)/2)
		for i := 0; i < len(l); i += 2 {
			if i+1 < len(l) {
				next = append(next, nodeHash(l[i], l[i+1]))
			} else {
				next = append(next, l[i])
			}
		}
		t.levels = append(t.levels, next)
		l = next
	}
	return t
}

// Proof is the audit path of leaf m, from the leaf's sibling up to the
// root's child (RFC 9162, 2.1.3.1).
func (t *Tree) Proof(m int) ([]Hash, error) {
	if m < 0 || m >= len(t.levels[0]) {
		return nil, fmt.Errorf("leaf %d of a tree of %d", m, len(t.levels[0]))
	}
	var p []Hash
	for _, l := range t.levels[:len(t.levels)-1] {
		if s := m ^ 1; s < len(l) {
			p = append(p, l[s])
		}
		m >>= 1
	}
	return p, nil
}

// InclusionProof is the audit path of leaf m in the tree over leaves; to
// prove many leaves of one tree, use [NewTree].
func InclusionProof(leaves []Hash, m int) ([]Hash, error) {
	return NewTree(leaves).Proof(m)
}

// ErrProof is wrapped by an inclusion proof that does not lead to its root.
var ErrProof = errors.New("inclusion proof does not match the root")

// VerifyInclusion checks that leaf (a leaf hash) is leaf number index of a
// tree of size leaves whose root is root, by the audit path proof
// (RFC 9162, 2.1.3.2).
func VerifyInclusion(leaf Hash, index, size uint64, proof []Hash, root Hash) error {
	if index >= size {
		return fmt.Errorf("%w: leaf %d of a tree of %d", ErrProof, index, size)
	}
	fn, sn := index, size-1
	r := leaf
	for _, p := range proof {
		if sn == 0 {
			return fmt.Errorf("%w: path too long", ErrProof)
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = nodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 || r != root {
		return ErrProof
	}
	return nil
}
