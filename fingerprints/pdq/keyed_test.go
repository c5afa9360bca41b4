package pdq

import (
	"bytes"
	"image"
	"math/rand/v2"
	"testing"

	"github.com/leakwatch/leakwatch/fingerprints"
)

func testKey(t testing.TB, fill byte) *fingerprints.Key {
	t.Helper()
	k, err := fingerprints.NewKey(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func randomHash(r *rand.Rand) Hash {
	var h Hash
	for i := range h {
		h[i] = byte(r.Uint32())
	}
	return h
}

func TestKeyerPreservesDistance(t *testing.T) {
	k := NewKeyer(testKey(t, 1))
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 1000 {
		a := randomHash(r)
		b := a
		// Mix near pairs (a few flipped bits, as matches are) with random ones.
		if i%2 == 0 {
			for range r.IntN(40) {
				b[r.IntN(32)] ^= 1 << r.IntN(8)
			}
		} else {
			b = randomHash(r)
		}
		if d, kd := Distance(a, b), Distance(k.Key(a), k.Key(b)); d != kd {
			t.Fatalf("pair %d: distance %d plain, %d keyed", i, d, kd)
		}
	}
}

func TestKeyerIsAPermutation(t *testing.T) {
	k := NewKeyer(testKey(t, 2))
	var seen [256]bool
	for _, p := range k.perm {
		if seen[p] {
			t.Fatalf("position %d used twice", p)
		}
		seen[p] = true
	}
	fixed := 0
	for i, p := range k.perm {
		if int(p) == i {
			fixed++
		}
	}
	if fixed > 8 {
		t.Errorf("%d of 256 positions unmoved; want a few at most", fixed)
	}
	if k.Key(Hash{}) != k.mask || k.mask == (Hash{}) {
		t.Error("zero hash should key to the (non-zero) mask")
	}
	// Every single bit moves to a distinct place.
	var union Hash
	for i := 0; i < 256; i++ {
		var h Hash
		h.setBit(i)
		kh := k.Key(h)
		if Distance(kh, k.mask) != 1 {
			t.Fatalf("bit %d keyed to %d bits", i, Distance(kh, k.mask))
		}
		for j := range union {
			union[j] |= kh[j] ^ k.mask[j]
		}
	}
	if Distance(union, Hash{}) != 256 {
		t.Error("keyed single bits do not cover all positions")
	}
}

func TestKeyerKeys(t *testing.T) {
	k1a, k1b, k2 := NewKeyer(testKey(t, 1)), NewKeyer(testKey(t, 1)), NewKeyer(testKey(t, 3))
	if *k1a != *k1b {
		t.Fatal("same key gave different Keyers")
	}
	for s := range uint64(20) {
		h, _ := mustCompute(t, synth(300+s, 200, 150))
		a, b := k1a.Key(h), k2.Key(h)
		if a != k1b.Key(h) {
			t.Fatal("Key is not deterministic")
		}
		// Far apart: an unrelated pair is about 128 bits apart.
		if d := Distance(a, b); d < 90 || d > 166 {
			t.Errorf("seed %d: same image under two keys is %d bits apart, want about 128", s, d)
		}
		if d := Distance(a, h); a == h || d < 90 || d > 166 {
			t.Errorf("seed %d: keyed hash is %d bits from the plain one, want about 128", s, d)
		}
	}
	// A keyed stored hash does not match the plain hash of the same image,
	// nor of its near-copies.
	img := synth(42, 400, 300)
	stored := k1a.Key(mustHash(t, img))
	for _, probe := range []Hash{mustHash(t, img), mustHash(t, reencodeJPEG(t, img, 60)), mustHash(t, resize(img, 200, 150))} {
		if d := Distance(stored, probe); d <= MatchThreshold {
			t.Errorf("plain probe matches a keyed hash (distance %d)", d)
		}
		if d := Distance(stored, k1a.Key(probe)); d > MatchThreshold {
			t.Errorf("keyed probe does not match (distance %d)", d)
		}
	}
}

func mustHash(t testing.TB, img image.Image) Hash {
	t.Helper()
	h, _ := mustCompute(t, img)
	return h
}
