package text

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/glaslos/tlsh"
)

// lightEdit changes a few words and drops a few, as a lightly redacted or
// re-typed copy would.
func lightEdit(rng *rand.Rand, s string) string {
	ws := strings.Fields(s)
	for range 3 {
		ws[rng.IntN(len(ws))] = vocab[rng.IntN(len(vocab))]
	}
	cut := rng.IntN(len(ws) - 10)
	ws = append(ws[:cut], ws[cut+3:]...)
	return strings.Join(ws, " ")
}

func TestTLSHNearAndFar(t *testing.T) {
	h := NewHasher(testKey(t, 1), Params{})
	rng := rand.New(rand.NewPCG(21, 22))
	var near, far []int
	for range 200 {
		doc := Normalize(synthText(rng, 3000+rng.IntN(5000)))
		edit := Normalize(lightEdit(rng, doc))
		other := Normalize(synthText(rng, 3000+rng.IntN(5000)))
		dd, err1 := h.TLSH(doc)
		de, err2 := h.TLSH(edit)
		do, err3 := h.TLSH(other)
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatal(err)
		}
		n, err := TLSHDistance(dd, de)
		if err != nil {
			t.Fatal(err)
		}
		f, err := TLSHDistance(dd, do)
		if err != nil {
			t.Fatal(err)
		}
		near, far = append(near, n), append(far, f)
	}
	// TLSH's quartile ratios are coded mod 16, so an edit that nudges a
	// ratio across a step costs 12–24 at once: a few per cent of edited
	// copies land above the auto threshold (30) but stay under review (100).
	slices.Sort(near)
	slices.Sort(far)
	t.Logf("edited copies: median %d, p95 %d, max %d", near[len(near)/2], near[len(near)*95/100], near[len(near)-1])
	t.Logf("other notes (same small vocabulary): min %d, median %d", far[0], far[len(far)/2])
	if near[len(near)/2] >= 15 || near[len(near)*95/100] >= 30 || near[len(near)-1] >= 100 {
		t.Errorf("edited copies too far: median %d, p95 %d, max %d (want < 15, < 30, < 100)", near[len(near)/2], near[len(near)*95/100], near[len(near)-1])
	}
	if far[len(far)/2] <= 100 {
		t.Errorf("unrelated notes: median distance %d (want > 100)", far[len(far)/2])
	}
	// Unrelated prose in another register is far.
	doc := Normalize(synthText(rng, 5000))
	prose := Normalize(strings.Repeat("It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness, it was the epoch of belief. ", 30) +
		"We had everything before us, we had nothing before us; we were all going direct to Heaven, we were all going direct the other way.")
	d1, _ := h.TLSH(doc)
	d2, err := h.TLSH(prose)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := TLSHDistance(d1, d2); d <= 100 {
		t.Errorf("unrelated texts at distance %d (want > 100)", d)
	}
}

func TestTLSHKeyedEqualsUnkeyed(t *testing.T) {
	h := NewHasher(testKey(t, 5), Params{})
	rng := rand.New(rand.NewPCG(23, 24))
	for range 200 {
		a := Normalize(synthText(rng, 200+rng.IntN(4000)))
		b := a
		if rng.IntN(2) == 0 {
			b = Normalize(lightEdit(rng, a))
		} else {
			b = Normalize(synthText(rng, 200+rng.IntN(4000)))
		}
		ua, err1 := tlsh.HashBytes([]byte(a))
		ub, err2 := tlsh.HashBytes([]byte(b))
		ka, err3 := h.TLSH(a)
		kb, err4 := h.TLSH(b)
		if err := errors.Join(err1, err2, err3, err4); err != nil {
			t.Fatal(err)
		}
		if ka == ua.String() {
			t.Fatal("keyed digest equals the unkeyed one")
		}
		kd, err := TLSHDistance(ka, kb)
		if err != nil {
			t.Fatal(err)
		}
		if ud := ua.Diff(ub); kd != ud {
			t.Fatalf("keyed distance %d, unkeyed %d", kd, ud)
		}
	}
}

func TestTLSHOtherKeyIncomparable(t *testing.T) {
	h1 := NewHasher(testKey(t, 1), Params{})
	h2 := NewHasher(testKey(t, 2), Params{})
	rng := rand.New(rand.NewPCG(25, 26))
	for range 20 {
		s := Normalize(synthText(rng, 4000))
		a, err1 := h1.TLSH(s)
		b, err2 := h2.TLSH(s)
		u, err3 := tlsh.HashBytes([]byte(s))
		if err := errors.Join(err1, err2, err3); err != nil {
			t.Fatal(err)
		}
		same, _ := TLSHDistance(a, a)
		if same != 0 {
			t.Fatalf("self distance %d", same)
		}
		if d, _ := TLSHDistance(a, b); d < 100 {
			t.Errorf("same text under two keys at distance %d (want ≥ 100)", d)
		}
		if d, _ := TLSHDistance(a, u.String()); d < 100 {
			t.Errorf("keyed vs unkeyed digest of the same text at distance %d (want ≥ 100)", d)
		}
	}
}

func TestTLSHRejects(t *testing.T) {
	h := NewHasher(testKey(t, 1), Params{})
	for _, s := range []string{"", "short text", strings.Repeat("a", 49), strings.Repeat("a", 5000)} {
		if d, err := h.TLSH(s); err == nil || !errors.Is(err, ErrNoTLSH) {
			t.Errorf("TLSH(%.20q) = %q, %v; want ErrNoTLSH", s, d, err)
		}
	}
	for _, bad := range []string{"", "zz", strings.Repeat("0", 69), strings.Repeat("g", 70), "T1" + strings.Repeat("0", 70)} {
		if _, err := TLSHDistance(bad, strings.Repeat("0", 70)); err == nil {
			t.Errorf("TLSHDistance accepted %q", bad)
		}
		if _, err := TLSHDistance(strings.Repeat("0", 70), bad); err == nil {
			t.Errorf("TLSHDistance accepted %q as second", bad)
		}
	}
}

func TestTLSHPermutation(t *testing.T) {
	h := NewHasher(testKey(t, 1), Params{})
	var seen [tlshBuckets]bool
	moved := 0
	for i, p := range h.tlshPerm {
		if seen[p] {
			t.Fatalf("position %d used twice", p)
		}
		seen[p] = true
		if int(p) != i {
			moved++
		}
	}
	if moved < tlshBuckets/2 {
		t.Errorf("only %d of %d buckets moved", moved, tlshBuckets)
	}
	if NewHasher(testKey(t, 2), Params{}).tlshPerm == h.tlshPerm {
		t.Error("permutation does not depend on the key")
	}
}
