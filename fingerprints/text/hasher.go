package text

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	"github.com/leakwatch/leakwatch/fingerprints"
)

// Default winnowing parameters (DESIGN.md §3): 40-character k-grams and a
// 200-character guarantee, so window W = T-K+1 = 161 and about 2/(W+1) ≈
// 1.2 % of k-grams are kept.
const (
	DefaultK = 40
	DefaultT = 200
)

// Params sets the winnowing parameters. Zero values mean the defaults.
type Params struct {
	K int // k-gram length in characters (runes of normalised text); default 40
	T int // guarantee threshold in characters: any shared run of ≥ T characters shares a print; default 200
}

// withDefaults fills zero or unusable values: K ≥ 1 and T ≥ K (W ≥ 1).
func (p Params) withDefaults() Params {
	if p.K <= 0 {
		p.K = DefaultK
	}
	if p.T <= 0 {
		p.T = max(DefaultT, p.K)
	}
	if p.T < p.K {
		p.T = p.K
	}
	return p
}

// Hasher computes keyed text fingerprints. It holds only subkeys derived from
// the fingerprint key and is safe for concurrent use.
type Hasher struct {
	p        Params
	w        int    // window: T-K+1 k-grams
	digest   []byte // subkey "text-sha256"
	k0, k1   uint64 // siphash key from subkey "winnow" (bytes 0–15)
	sel      uint64 // selection mask from subkey "winnow" (bytes 16–23)
	powK     uint64 // rollBase^K, to drop the character leaving the k-gram
	tlshPerm [tlshBuckets]uint8
	tlshXor  byte // checksum mask
	tlshLAdd byte // length-code offset (mod 256)
	tlshQ1   byte // quartile-ratio offsets (mod 16)
	tlshQ2   byte
}

// NewHasher derives the text subkeys from k. Params with zero fields take
// the defaults; T below K is raised to K.
func NewHasher(k *fingerprints.Key, p Params) *Hasher {
	p = p.withDefaults()
	h := &Hasher{p: p, w: p.T - p.K + 1, digest: k.Derive("text-sha256")}
	wk := k.Derive("winnow")
	h.k0 = binary.LittleEndian.Uint64(wk[0:8])
	h.k1 = binary.LittleEndian.Uint64(wk[8:16])
	h.sel = binary.LittleEndian.Uint64(wk[16:24])
	h.powK = 1
	for range p.K {
		h.powK *= rollBase
	}
	h.initTLSH(k.Derive("tlsh"))
	return h
}

// Params returns the effective parameters (defaults applied).
func (h *Hasher) Params() Params { return h.p }

// TextDigest returns hex HMAC-SHA256 of the normalised text under the
// "text-sha256" subkey: equal for every re-encoding of the same text, and
// uncheckable against a candidate text without the key. Empty text has no
// digest ("").
func (h *Hasher) TextDigest(norm string) string {
	if norm == "" {
		return ""
	}
	m := hmac.New(sha256.New, h.digest)
	// Feed through a fixed buffer: no copy of a large text on the heap.
	var buf [4096]byte
	for s := norm; len(s) > 0; {
		n := copy(buf[:], s)
		m.Write(buf[:n])
		s = s[n:]
	}
	return hex.EncodeToString(m.Sum(nil))
}
