package text

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/dchest/siphash"
)

// refHashes recomputes every k-gram's selection value from scratch (no
// rolling).
func refHashes(h *Hasher, norm string) []uint64 {
	rs := []rune(norm)
	K := h.p.K
	var out []uint64
	for i := 0; i+K <= len(rs); i++ {
		var v uint64
		for _, c := range rs[i : i+K] {
			v = v*rollBase + uint64(c)
		}
		out = append(out, fmix64(v^h.sel))
	}
	return out
}

// refKey is the stored hash of a selection value: SipHash-2-4 of its
// little-endian bytes under the winnow subkey.
func refKey(h *Hasher, sel uint64) uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], sel)
	return siphash.Hash(h.k0, h.k1, b[:])
}

// refWinnow is the robust winnowing rule written directly: per window the
// minimum, keeping the previous selection on ties while it is in the window,
// else the rightmost minimum; record on change.
func refWinnow(hs []uint64, W int) []Print {
	if len(hs) == 0 {
		return nil
	}
	if len(hs) < W {
		m := 0
		for i, v := range hs {
			if v <= hs[m] {
				m = i
			}
		}
		return []Print{{hs[m], int32(m)}}
	}
	var out []Print
	sel := -1
	for start := 0; start+W <= len(hs); start++ {
		mv := hs[start]
		for _, v := range hs[start : start+W] {
			mv = min(mv, v)
		}
		if sel >= start && hs[sel] == mv {
			continue // keep the previous selection
		}
		for i := start + W - 1; i >= start; i-- {
			if hs[i] == mv {
				sel = i
				break
			}
		}
		out = append(out, Print{mv, int32(sel)})
	}
	return out
}

func TestWinnowMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, p := range []Params{{K: 3, T: 3}, {K: 3, T: 8}, {K: 5, T: 20}, {}} {
		h := NewHasher(testKey(t, 1), p)
		for range 200 {
			n := rng.IntN(3 * h.p.T)
			var s string
			if rng.IntN(4) == 0 {
				// Low-entropy text: repeated k-grams, many equal hashes.
				s = randomNorm(rng, 1+rng.IntN(7))
				for len([]rune(s)) < n {
					s += s
				}
				s = string([]rune(s)[:n])
			} else {
				s = randomNorm(rng, n)
			}
			got := h.Winnow(s)
			want := refWinnow(refHashes(h, s), h.w)
			for i := range want {
				want[i].Hash = refKey(h, want[i].Hash)
			}
			if len(got) != len(want) {
				t.Fatalf("%+v len %d: %d prints, want %d", p, n, len(got), len(want))
			}
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%+v len %d: print %d = %+v, want %+v", p, n, i, got[i], want[i])
				}
			}
		}
	}
}

func TestWinnowShortTexts(t *testing.T) {
	h := NewHasher(testKey(t, 1), Params{})
	if got := h.Winnow(""); got != nil {
		t.Errorf("empty: %v", got)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	if got := h.Winnow(randomNorm(rng, DefaultK-1)); len(got) != 0 {
		t.Errorf("shorter than K: %d prints", len(got))
	}
	for _, n := range []int{DefaultK, DefaultK + 1, 100, DefaultT - 1} {
		if got := h.Winnow(randomNorm(rng, n)); len(got) != 1 {
			t.Errorf("%d runes (< T): %d prints, want 1", n, len(got))
		}
	}
	if got := h.Winnow(randomNorm(rng, DefaultT)); len(got) < 1 {
		t.Errorf("T runes: no print")
	}
}

// TestWinnowGuarantee: two unrelated random texts sharing one run of ≥ T
// characters at random places always share a print hash.
func TestWinnowGuarantee(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, p := range []Params{{}, {K: 5, T: 30}, {K: 20, T: 60}} {
		h := NewHasher(testKey(t, 3), p)
		T := h.p.T
		for i := range 400 {
			shared := randomNorm(rng, T+rng.IntN(T/4+1))
			a := randomNorm(rng, rng.IntN(3*T)) + shared + randomNorm(rng, rng.IntN(3*T))
			b := randomNorm(rng, rng.IntN(3*T)) + shared + randomNorm(rng, rng.IntN(3*T))
			pa, pb := h.Winnow(a), h.Winnow(b)
			set := map[uint64]bool{}
			for _, x := range pa {
				set[x.Hash] = true
			}
			ok := false
			for _, x := range pb {
				ok = ok || set[x.Hash]
			}
			if !ok {
				t.Fatalf("%+v case %d: shared run of %d runes, no shared print", p, i, len([]rune(shared)))
			}
			checkPositions(t, h, a, pa)
		}
	}
}

// checkPositions: every print lies inside the text and is the hash of the
// k-gram at its position.
func checkPositions(t *testing.T, h *Hasher, s string, ps []Print) {
	t.Helper()
	rs := []rune(s)
	for i, p := range ps {
		if p.Pos < 0 || int(p.Pos)+h.p.K > len(rs) {
			t.Fatalf("print %d at %d, text of %d runes", i, p.Pos, len(rs))
		}
		if i > 0 && p.Pos <= ps[i-1].Pos {
			t.Fatalf("positions not increasing: %d then %d", ps[i-1].Pos, p.Pos)
		}
		if one := h.Winnow(string(rs[p.Pos : int(p.Pos)+h.p.K])); len(one) != 1 || one[0].Hash != p.Hash {
			t.Fatalf("print %d hash is not its k-gram's", i)
		}
	}
}

func TestWinnowDensity(t *testing.T) {
	h := NewHasher(testKey(t, 4), Params{})
	rng := rand.New(rand.NewPCG(11, 12))
	s := Normalize(synthText(rng, 2_000_000))
	ps := h.Winnow(s)
	kgrams := len([]rune(s)) - h.p.K + 1
	got := float64(len(ps)) / float64(kgrams)
	want := 2 / float64(h.w+1)
	t.Logf("density %.5f, expected %.5f (%d prints over %d k-grams)", got, want, len(ps), kgrams)
	if got < 0.85*want || got > 1.15*want {
		t.Errorf("density %.5f outside ±15%% of %.5f", got, want)
	}
}

func TestWinnowKeyed(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	s := Normalize(synthText(rng, 200_000))
	a := NewHasher(testKey(t, 1), Params{}).Winnow(s)
	b := NewHasher(testKey(t, 2), Params{}).Winnow(s)
	if len(a) == 0 || len(b) == 0 {
		t.Fatal("no prints")
	}
	set := map[uint64]bool{}
	for _, p := range a {
		set[p.Hash] = true
	}
	for _, p := range b {
		if set[p.Hash] {
			t.Fatalf("hash %x shared across keys", p.Hash)
		}
	}
	// Same key, same text: identical prints (the index relies on it).
	c := NewHasher(testKey(t, 1), Params{}).Winnow(s)
	if len(c) != len(a) || c[0] != a[0] || c[len(c)-1] != a[len(a)-1] {
		t.Error("prints not deterministic")
	}
}

func TestParamsDefaults(t *testing.T) {
	k := testKey(t, 1)
	for _, c := range []struct{ in, want Params }{
		{Params{}, Params{K: 40, T: 200}},
		{Params{K: 10}, Params{K: 10, T: 200}},
		{Params{K: 300}, Params{K: 300, T: 300}},
		{Params{K: 20, T: 5}, Params{K: 20, T: 20}},
		{Params{K: -1, T: -1}, Params{K: 40, T: 200}},
	} {
		if got := NewHasher(k, c.in).Params(); got != c.want {
			t.Errorf("%+v → %+v, want %+v", c.in, got, c.want)
		}
	}
}

// TestHasherConcurrent: one Hasher serves many goroutines (run with -race).
func TestHasherConcurrent(t *testing.T) {
	h := NewHasher(testKey(t, 1), Params{})
	s := Normalize(synthText(rand.New(rand.NewPCG(41, 42)), 20000))
	want := h.Winnow(s)
	wantTLSH, _ := h.TLSH(s)
	done := make(chan bool)
	for range 4 {
		go func() {
			ok := true
			for range 5 {
				got := h.Winnow(Normalize(s))
				d, _ := h.TLSH(s)
				ok = ok && len(got) == len(want) && got[len(got)-1] == want[len(want)-1] && d == wantTLSH && h.TextDigest(s) != ""
			}
			done <- ok
		}()
	}
	for range 4 {
		if !<-done {
			t.Error("concurrent results differ")
		}
	}
}
