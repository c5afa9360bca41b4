package pdq

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"

	"github.com/leakwatch/leakwatch/fingerprints"
)

// keyLabel names the fingerprint subkey the Keyer is derived from.
const keyLabel = "pdq"

// Keyer turns plain PDQ hashes into keyed ones: a secret permutation of the
// 256 bit positions followed by a secret XOR mask. Both preserve Hamming
// distance exactly, so keyed hashes are matched with Distance and
// MatchThreshold as usual, but only against other hashes keyed with the
// same key: a stored keyed hash cannot be compared with the plain hash of a
// known image without the key.
//
// What it does not hide: distances between stored hashes (near-duplicates
// in the index stay visible as such), and an attacker who learns the plain
// hashes of many stored images can solve for the permutation and mask. It
// keeps a stolen index from being checked against known images; it is not
// encryption.
//
// A Keyer is immutable and safe for concurrent use.
type Keyer struct {
	perm [256]uint8 // plain bit i goes to keyed bit perm[i]
	mask Hash
	// Low-texture signatures (Flat) are keyed the same way: a secret
	// permutation of the cells and a secret offset added to each, modulo
	// 256, which FlatDistance's modular difference preserves.
	flatPerm [len(Flat{})]uint8
	flatOff  Flat
}

// NewKeyer derives a Keyer from the fingerprint key's "pdq" subkey. The
// derivation uses only HMAC-SHA256, so the same key gives the same Keyer in
// every Go version and the stored index stays valid.
func NewKeyer(k *fingerprints.Key) *Keyer {
	sub := k.Derive(keyLabel)
	kr := &Keyer{}
	copy(kr.mask[:], hmacSum(sub, []byte("mask")))

	// Fisher-Yates shuffle driven by an HMAC counter-mode byte stream, with
	// rejection sampling so every permutation is equally likely.
	shuffle(kr.perm[:], &stream{key: sub, label: "perm"})
	copy(kr.flatOff[:], hmacSum(sub, []byte("flat-offset")))
	shuffle(kr.flatPerm[:], &stream{key: sub, label: "flat-perm"})
	return kr
}

// shuffle fills perm with a permutation of 0..len(perm)-1 drawn from s:
// Fisher-Yates with rejection sampling, so every permutation is equally
// likely.
func shuffle(perm []uint8, s *stream) {
	for i := range perm {
		perm[i] = uint8(i)
	}
	for i := len(perm) - 1; i > 0; i-- {
		n := uint32(i + 1)
		limit := 65536 - 65536%n // largest multiple of n that fits in 16 bits
		var v uint32
		for {
			v = uint32(s.uint16())
			if v < limit {
				break
			}
		}
		j := v % n
		perm[i], perm[j] = perm[j], perm[i]
	}
}

// KeyFlat returns the keyed form of a low-texture signature.
// FlatDistance(k.KeyFlat(a), k.KeyFlat(b)) equals FlatDistance(a, b).
func (k *Keyer) KeyFlat(f Flat) Flat {
	var out Flat
	for i, v := range f {
		j := k.flatPerm[i]
		out[j] = v + k.flatOff[j]
	}
	return out
}

// Key returns the keyed form of a plain hash. Distance(k.Key(a), k.Key(b))
// equals Distance(a, b) for all a and b.
func (k *Keyer) Key(h Hash) Hash {
	out := k.mask
	for i := 0; i < 256; i++ {
		if h.bit(i) {
			bi, m := bitPos(int(k.perm[i]))
			out[bi] ^= m
		}
	}
	return out
}

func hmacSum(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

// stream is a deterministic keyed byte stream: HMAC(key, label || counter)
// blocks, read in order.
type stream struct {
	key   []byte
	label string
	ctr   uint32
	buf   []byte
}

func (s *stream) uint16() uint16 {
	if len(s.buf) < 2 {
		msg := binary.BigEndian.AppendUint32([]byte(s.label), s.ctr)
		s.ctr++
		s.buf = hmacSum(s.key, msg) // 32 bytes: an even count, so no byte is left over
	}
	v := binary.BigEndian.Uint16(s.buf)
	s.buf = s.buf[2:]
	return v
}
