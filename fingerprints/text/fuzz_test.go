package text

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"", "Hello, World!", "ﬁ ＡＢＣ", "İstanbul ΣΊΣΥΦΟΣ", "e\u00ad\u0301", "Ꭰꭰ", "bad\xff", "Māori\twhānau\r\n", "ΐ\u0345", "ﱞ ´"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := Normalize(s)
		if !utf8.ValidString(once) {
			t.Fatalf("invalid UTF-8 out: %+q", once)
		}
		if twice := Normalize(once); twice != once {
			t.Fatalf("not idempotent: %+q → %+q → %+q", s, once, twice)
		}
		if !norm.NFKC.IsNormalString(once) {
			t.Fatalf("not NFKC: %+q → %+q", s, once)
		}
		if strings.HasPrefix(once, " ") || strings.HasSuffix(once, " ") || strings.Contains(once, "  ") {
			t.Fatalf("bad spacing: %+q", once)
		}
		// The context-free table is an optimisation only.
		fast, _ := normalizePass(s)
		slow := normalizer{noTable: true}
		if want, _ := slow.pass(s); fast != want {
			t.Fatalf("table path %+q, Unicode path %+q for %+q", fast, want, s)
		}
	})
}

func FuzzWinnow(f *testing.F) {
	f.Add("the quick brown fox jumps over the lazy dog", uint8(5), uint8(12))
	f.Add("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", uint8(3), uint8(3))
	f.Add("māori whānau tūhoe ōtautahi", uint8(4), uint8(9))
	f.Add("", uint8(0), uint8(0))
	k := testKey(f, 7)
	f.Fuzz(func(t *testing.T, s string, kk, tt uint8) {
		h := NewHasher(k, Params{K: int(kk % 50), T: int(tt)})
		ps := h.Winnow(s) // raw fuzz input, not only normalised text: must not panic
		n := utf8.RuneCountInString(s)
		K := h.Params().K
		if n < K && len(ps) != 0 {
			t.Fatalf("%d prints from %d runes (K=%d)", len(ps), n, K)
		}
		if n >= K && len(ps) == 0 {
			t.Fatalf("no print from %d runes (K=%d)", n, K)
		}
		for i, p := range ps {
			if p.Pos < 0 || int(p.Pos)+K > n {
				t.Fatalf("print %d at %d: text of %d runes, K=%d", i, p.Pos, n, K)
			}
			if i > 0 && p.Pos <= ps[i-1].Pos {
				t.Fatalf("positions not increasing")
			}
		}
		// TLSH either rejects the text or gives a digest at distance 0
		// from itself.
		if d, err := h.TLSH(s); err == nil {
			if n, err := TLSHDistance(d, d); err != nil || n != 0 {
				t.Fatalf("self distance %d, %v", n, err)
			}
		} else if !errors.Is(err, ErrNoTLSH) {
			t.Fatalf("TLSH error %v", err)
		}
	})
}
