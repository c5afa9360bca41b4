package evidence

import (
	"bytes"
	"crypto/sha256"
	"fmt"
)

// MerkleRoot returns the RFC 6962 (§2.1) Merkle Tree Hash, with SHA-256,
// of digests taken as the leaves in order: a leaf is H(0x00 || d) and an
// inner node H(0x01 || left || right). The tree is built bottom-up by
// pairing neighbours; an odd node at the end of a level is promoted
// unchanged to the next level (not duplicated, so no second-preimage
// ambiguity as in Bitcoin's tree). This gives exactly RFC 6962's MTH, whose
// left subtree always holds the largest power of two of leaves smaller than
// n. The root of no leaves is SHA-256 of the empty string, as in RFC 6962.
//
// For a run, digests are its captures' leaves in order: payload SHA-256
// values, and block digests of redirects (see Capture.Leaf and
// Manifest.ComputeRoot).
func MerkleRoot(digests [][]byte) []byte {
	if len(digests) == 0 {
		h := sha256.Sum256(nil)
		return h[:]
	}
	level := make([][]byte, len(digests))
	for i, d := range digests {
		level[i] = leafHash(d)
	}
	for len(level) > 1 {
		next := level[:0:0]
		for i := 0; i < len(level); i += 2 {
			if i+1 == len(level) {
				next = append(next, level[i]) // promote the odd node
			} else {
				next = append(next, nodeHash(level[i], level[i+1]))
			}
		}
		level = next
	}
	return level[0]
}

// InclusionProof returns the RFC 6962 audit path for leaf index in the tree
// over digests: the sibling hashes from the leaf level up.
func InclusionProof(digests [][]byte, index int) ([][]byte, error) {
	if index < 0 || index >= len(digests) {
		return nil, fmt.Errorf("evidence: leaf index %d out of range [0,%d)", index, len(digests))
	}
	level := make([][]byte, len(digests))
	for i, d := range digests {
		level[i] = leafHash(d)
	}
	var proof [][]byte
	for len(level) > 1 {
		if sib := index ^ 1; sib < len(level) {
			proof = append(proof, level[sib])
		}
		next := level[:0:0]
		for i := 0; i < len(level); i += 2 {
			if i+1 == len(level) {
				next = append(next, level[i])
			} else {
				next = append(next, nodeHash(level[i], level[i+1]))
			}
		}
		level = next
		index /= 2
	}
	return proof, nil
}

// VerifyInclusion reports whether proof shows that digest is leaf index of a
// tree of size leaves with the given root (RFC 9162 §2.1.3.2).
func VerifyInclusion(digest []byte, index, size int, proof [][]byte, root []byte) bool {
	if index < 0 || index >= size {
		return false
	}
	fn, sn := index, size-1
	r := leafHash(digest)
	for _, p := range proof {
		if sn == 0 {
			return false
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
	return sn == 0 && bytes.Equal(r, root)
}

func leafHash(d []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0x00})
	h.Write(d)
	return h.Sum(nil)
}

func nodeHash(l, r []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0x01})
	h.Write(l)
	h.Write(r)
	return h.Sum(nil)
}
