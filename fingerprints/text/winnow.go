package text

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/dchest/siphash"
)

// rollBase is the Rabin–Karp multiplier (odd, so multiplication mod 2^64 is
// a bijection). The rolling value is only an intermediate: it is mixed with
// a key before it is compared, and keyed by SipHash before it is stored.
const rollBase uint64 = 0x9e3779b97f4a7c15

// Print is one winnowing fingerprint: a keyed 64-bit k-gram hash and the
// rune offset of that k-gram in the normalised text.
type Print struct {
	Hash uint64
	Pos  int32
}

// Winnow selects fingerprints from normalised text by winnowing
// (Schleimer, Wilkerson, Aiken 2003), robust variant: in each window of W
// consecutive k-gram hashes the minimum is selected, ties keeping the
// previously selected k-gram while it is in the window and otherwise taking
// the rightmost minimum; a print is recorded whenever the selection changes.
//
// Guarantee: any run of at least T = W+K-1 characters shared by two
// normalised texts contains a whole window, whose minimum hash value both
// texts record — so they share at least one Print.Hash. Expected density is
// 2/(W+1) prints per k-gram (less in repetitive text).
//
// Keying: each k-gram's Rabin–Karp value (over runes) is first mixed by a
// cheap keyed bijection (XOR with a subkey word, then the murmur3 finaliser);
// winnowing selects on that value. Only the selected k-grams — about 1.2 %
// of them — go through SipHash-2-4 keyed with the "winnow" subkey, and that
// PRF output is the stored Print.Hash, so stored prints cannot be recomputed
// from a candidate text without the key. Selecting on the cheap value is
// safe because the index stores only the hashes, never positions or the
// selection values, and because the mix is a bijection: equal selection
// values mean equal k-gram values, so the guarantee holds. It saves a
// SipHash per character (about 4× faster).
//
// Texts shorter than K characters yield no prints; texts with fewer than W
// k-grams (shorter than T) yield the single minimum.
func (h *Hasher) Winnow(norm string) []Print {
	K, W := h.p.K, h.w
	if len(norm) < K { // fewer bytes than K means fewer runes than K
		return nil
	}
	var (
		runes = make([]rune, K) // the current k-gram, as a ring
		ri    int               // oldest rune's slot
		roll  uint64
		i     int // byte offset in norm
	)
	next := func() rune {
		c := rune(norm[i])
		if c < utf8.RuneSelf {
			i++
			return c
		}
		c, size := utf8.DecodeRuneInString(norm[i:])
		i += size
		return c
	}
	// The first k-gram.
	for ri = 0; ri < K && i < len(norm); ri++ {
		c := next()
		runes[ri] = c
		roll = roll*rollBase + uint64(c)
	}
	if ri < K {
		return nil
	}
	ri = 0

	ring := make([]uint64, W) // selection values of the window's k-grams
	out := make([]Print, 0, 2*len(norm)/(W+1)+4)
	// First window (or the whole text, if shorter): its rightmost minimum.
	minSlot, minHash := 0, uint64(0)
	slot := 0
	for {
		v := fmix64(roll ^ h.sel)
		ring[slot] = v
		if slot == 0 || v <= minHash {
			minSlot, minHash = slot, v
		}
		slot++
		if slot == W || i == len(norm) {
			break
		}
		c := next()
		roll = roll*rollBase + uint64(c) - uint64(runes[ri])*h.powK
		runes[ri] = c
		if ri++; ri == K {
			ri = 0
		}
	}
	out = append(out, h.print(minHash, minSlot))
	if slot < W {
		return out // fewer than W k-grams: the single minimum
	}

	// Steady state: k-gram r enters at ring[slot], replacing k-gram r-W.
	slot = 0
	for r := W; i < len(norm); r++ {
		c := next()
		roll = roll*rollBase + uint64(c) - uint64(runes[ri])*h.powK
		runes[ri] = c
		if ri++; ri == K {
			ri = 0
		}
		v := fmix64(roll ^ h.sel)
		ring[slot] = v
		if minSlot == slot {
			// The selection left the window: take the rightmost minimum,
			// scanning from the newest k-gram back to the oldest.
			minHash = v
			for s := slot - 1; s >= 0; s-- {
				if x := ring[s]; x < minHash {
					minSlot, minHash = s, x
				}
			}
			for s := W - 1; s > slot; s-- {
				if x := ring[s]; x < minHash {
					minSlot, minHash = s, x
				}
			}
			out = append(out, h.print(minHash, r-(slot-minSlot+W)%W))
		} else if v < minHash {
			minSlot, minHash = slot, v
			out = append(out, h.print(minHash, r))
		}
		if slot++; slot == W {
			slot = 0
		}
	}
	return out
}

// print keys a selected k-gram with SipHash-2-4 under the "winnow" subkey.
func (h *Hasher) print(sel uint64, pos int) Print {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], sel)
	return Print{Hash: siphash.Hash(h.k0, h.k1, b[:]), Pos: int32(pos)}
}

// fmix64 is the murmur3 64-bit finaliser: a bijection with full avalanche,
// so selection values are spread evenly whatever the text.
func fmix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}
