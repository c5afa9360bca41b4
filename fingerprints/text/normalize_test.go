package text

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestNormalizeVectors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", ""},
		{"   \t\r\n ", ""},
		{"Hello, World!", "hello world"},
		{"ﬁle ﬂow", "file flow"}, // NFKC ligatures
		{"ＡＢＣ　１２３", "abc 123"},   // full-width letters, digits, ideographic space
		{"x²", "x2"},             // superscript
		{"Straße", "strasse"},    // full fold
		{"ΣΊΣΥΦΟΣ σίσυφος", "σίσυφοσ σίσυφοσ"},     // Greek: final sigma folds to σ
		{"İstanbul", "i\u0307stanbul"},             // default (non-Turkic) fold of dotted capital I
		{"ISTANBUL ıstanbul", "istanbul ıstanbul"}, // dotless ı is its own letter
		{"Māori WHĀNAU", "māori whānau"},
		{"Ma\u0304ori", "māori"}, // decomposed macron composes
		{"line one\r\nline two\tand\u00a0three", "line one line two and three"},
		{"  lead and trail  ", "lead and trail"},
		{"Smith,John", "smith john"}, // punctuation separates
		{`{"name":"Smith","dob":"1980-05-01"}`, "name smith dob 1980 05 01"},
		{"don't — won’t", "don t won t"},
		{"medi\u00adcation zero\u200bwidth", "medication zerowidth"}, // Cf deleted
		{"price: $12.50 (approx.)", "price 12 50 approx"},
		{"\ufeffBOM first", "bom first"},
		{"bad\xffbyte", "bad byte"},
		{"e\u200d\u0301", "é"}, // mark meets its base once the joiner is gone
		{"e!\u0301", "e \u0301"},
		{"Ǆ ǅ ǆ", "dž dž dž"},
		{"Ⅻ ①", "xii 1"},   // compatibility numerals
		{"K Å", "k å"},     // Kelvin and Ångström signs
		{"Ꭰ ꭰ ᏸ", "Ꭰ Ꭰ Ᏸ"}, // Cherokee folds to capitals (CaseFolding.txt)
	}
	for _, c := range cases {
		if got := Normalize(c.in); got != c.want {
			t.Errorf("Normalize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestNormalizeIdempotent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pool := []rune("aZ \t\n.,!'’-ßİıΣςﬁＡé\u0301\u0308\u0316\u00ad\u200d①²ǅŉǰΐ\u0345Å\ufb01\u1e9e\u00b4\u0345ﱞ·")
	for range 20000 {
		n := rng.IntN(12)
		rs := make([]rune, n)
		for i := range rs {
			rs[i] = pool[rng.IntN(len(pool))]
		}
		checkNormalized(t, string(rs))
	}
	rngText := rand.New(rand.NewPCG(3, 4))
	for range 50 {
		checkNormalized(t, synthText(rngText, 2000))
	}
}

func checkNormalized(t *testing.T, in string) {
	t.Helper()
	once := Normalize(in)
	if twice := Normalize(once); twice != once {
		t.Fatalf("not idempotent for %q: %q then %q", in, once, twice)
	}
	if !utf8.ValidString(once) {
		t.Fatalf("invalid UTF-8 out of %q: %q", in, once)
	}
	if !norm.NFKC.IsNormalString(once) {
		t.Fatalf("not NFKC out of %q: %q", in, once)
	}
	if strings.HasPrefix(once, " ") || strings.HasSuffix(once, " ") || strings.Contains(once, "  ") {
		t.Fatalf("bad spacing out of %q: %q", in, once)
	}
}

func TestTextDigestReencoding(t *testing.T) {
	h := NewHasher(testKey(t, 1), Params{})
	base := "Patient: Jane Doe\nDOB 01/05/1980\nSeen at Taupō clinic; BP 120/80 — normal.\n"
	variants := []string{
		base,
		strings.ReplaceAll(base, "\n", "\r\n"),
		strings.ToUpper(base),
		"  " + strings.ReplaceAll(base, " ", "\t  ") + "\n\n",
		strings.NewReplacer(":", " ", ";", ",", "—", "--", "Taupō", "Taupo\u0304").Replace(base),
		"\ufeff" + strings.ReplaceAll(base, "Jane", "ＪＡＮＥ"),
	}
	want := h.TextDigest(Normalize(base))
	if len(want) != 64 {
		t.Fatalf("digest %q", want)
	}
	for i, v := range variants {
		if got := h.TextDigest(Normalize(v)); got != want {
			t.Errorf("variant %d: digest differs (normalised %q)", i, Normalize(v))
		}
	}
	if h.TextDigest(Normalize("Patient: Jane Doe, DOB 02/05/1980")) == want {
		t.Error("different text, same digest")
	}
	if h.TextDigest("") != "" {
		t.Error("empty text has a digest")
	}
	if NewHasher(testKey(t, 2), Params{}).TextDigest(Normalize(base)) == want {
		t.Error("digest does not depend on the key")
	}
	// Long text goes through the fixed buffer in pieces.
	long := strings.Repeat("a", 10000)
	if h.TextDigest(long) == h.TextDigest(long[:9999]) {
		t.Error("long text digest ignores the tail")
	}
}

// TestNormalizeAllRunes: every code point alone, after a base, before a
// mark, doubled, and around a deleted format character normalises to a
// fixed point. (It found golang.org/x/text folding Cherokee both ways.)
func TestNormalizeAllRunes(t *testing.T) {
	if testing.Short() {
		t.Skip("enumerates all of Unicode")
	}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		c := string(r)
		for _, s := range []string{c, "a" + c, c + "\u0301", c + c, "\u00ad" + c, c + "\u00ad\u0301"} {
			checkIdempotent(t, s)
		}
	}
}

func checkIdempotent(t *testing.T, s string) {
	t.Helper()
	once := Normalize(s)
	if twice := Normalize(once); twice != once {
		t.Fatalf("not idempotent for %+q: %+q then %+q", s, once, twice)
	}
}

// TestNormalizeTableMatchesUnicodePath: the context-free table gives what
// the full NFKC + fold path gives, in any mix with ASCII and marks.
func TestNormalizeTableMatchesUnicodePath(t *testing.T) {
	tab := contextFree()
	var pool []rune
	for r, f := range tab {
		if f != "" {
			pool = append(pool, rune(r))
		}
	}
	if len(pool) < 500 {
		t.Fatalf("only %d table entries", len(pool))
	}
	extra := []rune("aZ 09.,\t\u0301\u0308\u00ad\u200dİﬁ")
	rng := rand.New(rand.NewPCG(31, 32))
	for range 50000 {
		rs := make([]rune, rng.IntN(10))
		for i := range rs {
			if rng.IntN(3) == 0 {
				rs[i] = extra[rng.IntN(len(extra))]
			} else {
				rs[i] = pool[rng.IntN(len(pool))]
			}
		}
		s := string(rs)
		fast, _ := normalizePass(s)
		slow := normalizer{noTable: true}
		want, _ := slow.pass(s)
		if fast != want {
			t.Fatalf("%+q: table path %+q, Unicode path %+q", s, fast, want)
		}
	}
	for _, r := range pool {
		s := string(r)
		slow := normalizer{noTable: true}
		if want, _ := slow.pass(s); tab[r] != want {
			t.Fatalf("%U: table %+q, Unicode path %+q", r, tab[r], want)
		}
	}
	t.Logf("%d context-free characters in U+0080–U+07FF", len(pool))
}
