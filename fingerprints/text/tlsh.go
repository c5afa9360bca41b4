package text

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/glaslos/tlsh"
)

// ErrNoTLSH is returned (wrapped) when TLSH rejects the input: fewer than 50
// bytes, or too little variety for its quartiles. Callers skip the layer.
var ErrNoTLSH = errors.New("text too short or too uniform for TLSH")

const (
	tlshBuckets   = 128 // two-bit buckets in the digest body
	tlshHeader    = 3   // checksum, length code, quartile ratios
	tlshBodyBytes = tlshBuckets / 4
	tlshHexLen    = 2 * (tlshHeader + tlshBodyBytes)
)

// Keying TLSH. A TLSH digest is a 3-byte header (checksum, length code, two
// 4-bit quartile ratios) and a body of 128 two-bit bucket codes. Its distance
// is a sum of independent per-position terms: equality of the checksums,
// circular differences of the length code (mod 256) and of each ratio (mod
// 16), and a per-bucket difference of the two-bit codes summed over bucket
// positions (tlsh's bit-pair table is exactly that sum).
//
// So we apply, with values derived from the "tlsh" subkey: a permutation of
// the 128 bucket positions, an XOR mask on the checksum, and constant
// offsets on the length code and the ratios. Each preserves its term of the
// distance when both digests get the same transformation, so the distance
// between two keyed digests equals the distance between the unkeyed ones.
// A digest computed without the key (or with another key) has its buckets
// in different positions, and its distance to a keyed digest is that of
// unrelated texts. The permutation-invariant content of the body — how many
// buckets hold each code — carries almost nothing, because TLSH codes
// buckets by quartile (about 32 of each code in every digest). The offsets
// also hide the length code.
//
// This is a keyed permutation, not a MAC: whoever holds many pairs of a
// reference text and its stored digest could reconstruct the permutation.
// Those pairs require the breached documents themselves, and what the
// digest then allows is only nearness tests against texts already in hand.
func (h *Hasher) initTLSH(subkey []byte) {
	stream := keyStream{key: subkey}
	for i := range h.tlshPerm {
		h.tlshPerm[i] = uint8(i)
	}
	// Fisher–Yates with unbiased draws, so the permutation is fixed by the
	// key alone (no dependence on math/rand's algorithms).
	for i := tlshBuckets - 1; i > 0; i-- {
		j := stream.below(uint64(i + 1))
		h.tlshPerm[i], h.tlshPerm[j] = h.tlshPerm[j], h.tlshPerm[i]
	}
	v := stream.next()
	h.tlshXor = byte(v)
	h.tlshLAdd = byte(v >> 8)
	h.tlshQ1 = byte(v>>16) & 0xf
	h.tlshQ2 = byte(v>>24) & 0xf
}

// TLSH returns the keyed TLSH digest (70 hex characters, tlsh's own
// layout) of the normalised text. It returns an error wrapping ErrNoTLSH for
// text TLSH rejects.
func (h *Hasher) TLSH(norm string) (string, error) {
	t, err := tlsh.HashReader(strings.NewReader(norm))
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoTLSH, err)
	}
	raw := t.Binary()
	if len(raw) != tlshHeader+tlshBodyBytes {
		return "", fmt.Errorf("tlsh: digest of %d bytes, want %d", len(raw), tlshHeader+tlshBodyBytes)
	}
	return hex.EncodeToString(h.keyTLSH(raw)), nil
}

// keyTLSH applies the keyed transformation to tlsh's binary digest:
// [swapped checksum, swapped length code, q1<<4|q2, body…], where body byte
// 31-i holds buckets 4i…4i+3 at bit offsets 0, 2, 4, 6.
func (h *Hasher) keyTLSH(raw []byte) []byte {
	out := make([]byte, len(raw))
	out[0] = raw[0] ^ h.tlshXor // equality of checksums is all that counts
	out[1] = swapNibbles(swapNibbles(raw[1]) + h.tlshLAdd)
	q1 := (raw[2]>>4 + h.tlshQ1) & 0xf
	q2 := (raw[2] + h.tlshQ2) & 0xf
	out[2] = q1<<4 | q2
	in, body := raw[tlshHeader:], out[tlshHeader:]
	for b := range tlshBuckets {
		code := in[tlshBodyBytes-1-b/4] >> (2 * (b % 4)) & 3
		p := int(h.tlshPerm[b])
		body[tlshBodyBytes-1-p/4] |= code << (2 * (p % 4))
	}
	return out
}

func swapNibbles(b byte) byte { return b<<4 | b>>4 }

// TLSHDistance returns tlsh's distance (length-aware) between two digests
// from Hasher.TLSH. Digests made with the same key compare as their unkeyed
// originals would; digests made with different keys look unrelated.
func TLSHDistance(a, b string) (int, error) {
	ta, err := parseTLSH(a)
	if err != nil {
		return 0, fmt.Errorf("first digest: %w", err)
	}
	tb, err := parseTLSH(b)
	if err != nil {
		return 0, fmt.Errorf("second digest: %w", err)
	}
	return ta.Diff(tb), nil
}

// parseTLSH checks the shape before handing the digest to tlsh, whose parser
// indexes without checking lengths.
func parseTLSH(s string) (*tlsh.TLSH, error) {
	if len(s) != tlshHexLen {
		return nil, fmt.Errorf("tlsh digest: %d hex characters, want %d", len(s), tlshHexLen)
	}
	t, err := tlsh.ParseStringToTlsh(s)
	if err != nil {
		return nil, fmt.Errorf("tlsh digest: %w", err)
	}
	return t, nil
}

// keyStream is HMAC-SHA256(key, counter) in counter mode: a deterministic,
// key-dependent source of bits for deriving the permutation.
type keyStream struct {
	key []byte
	ctr uint64
	buf []byte
}

func (s *keyStream) next() uint64 {
	if len(s.buf) < 8 {
		m := hmac.New(sha256.New, s.key)
		var c [8]byte
		binary.BigEndian.PutUint64(c[:], s.ctr)
		s.ctr++
		m.Write([]byte("tlsh-permutation"))
		m.Write(c[:])
		s.buf = m.Sum(nil)
	}
	v := binary.LittleEndian.Uint64(s.buf)
	s.buf = s.buf[8:]
	return v
}

// below returns a uniform value in [0, n) by rejection sampling.
func (s *keyStream) below(n uint64) uint64 {
	limit := ^uint64(0) - ^uint64(0)%n
	for {
		if v := s.next(); v < limit {
			return v % n
		}
	}
}
