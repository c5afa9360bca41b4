// Package text fingerprints extracted document text: a keyed digest of the
// normalised text (re-encoded copies), keyed winnowing prints (excerpts) and
// a keyed TLSH digest (near-duplicates). Every stored value is keyed with a
// subkey of the fingerprint key, so a stolen index cannot be checked against
// candidate texts.
package text

import (
	"errors"
	"slices"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// NormalizeVersion names the rules Normalize implements. The reference index
// stores digests of normalised text, so any change to the rules (or to the
// Unicode tables they use) must bump it and rebuild the index.
const NormalizeVersion = 1

// maxPasses bounds the fixed-point loop in Normalize; real text converges
// after one pass, pathological mark sequences after two.
const maxPasses = 4

// asciiMap maps an ASCII byte to its output: a–z and 0–9 to themselves,
// A–Z to lower case, and everything else (whitespace, controls, punctuation,
// symbols) to a space, the word separator.
var asciiMap = func() (t [utf8.RuneSelf]byte) {
	for c := range t {
		t[c] = ' '
	}
	for c := byte('a'); c <= 'z'; c++ {
		t[c] = c
		t[c-'a'+'A'] = c
	}
	for c := byte('0'); c <= '9'; c++ {
		t[c] = c
	}
	return t
}()

// minASCIIRun is how many ASCII bytes end a non-ASCII chunk: short ASCII
// gaps (spaces, digits between words of a non-Latin script) stay in the
// chunk so the Unicode path runs on few, long chunks.
const minASCIIRun = 32

// Normalize returns the canonical form of extracted text that every text
// fingerprint is computed over. The rules (NormalizeVersion 1):
//
//   - NFKC (compatibility forms: ligatures, full-width forms, superscripts,
//     NBSP, … become their plain equivalents);
//   - full Unicode case folding (default, not Turkic: "İ" → "i̇", "ß" → "ss",
//     "Σ"/"ς" → "σ");
//   - letters, marks and numbers are kept; invisible format characters
//     (soft hyphen, zero-width joiners, BOM: category Cf) are deleted;
//   - everything else — whitespace, controls, punctuation, symbols, invalid
//     UTF-8 — is a word separator: each run of separators becomes one ASCII
//     space, and leading and trailing separators are dropped.
//
// Punctuation separates rather than vanishes so that the same values
// rendered as CSV ("Smith,John"), a table ("Smith  John") or JSON
// ("Smith","John") normalise alike; the price is "don't" → "don t", which is
// the same for every copy. The result is valid UTF-8, NFKC-normal, and
// Normalize(Normalize(s)) == Normalize(s).
func Normalize(s string) string {
	out, dirty := normalizePass(s)
	// A pass emits NFKC output pieces joined at boundaries, which is NFKC
	// text, unless it dropped something after the last NFKC step. Then a
	// combining mark may have met a new base ("e\u00ad\u0301" → "é"):
	// repeat until stable, so Normalize is idempotent.
	for i := 1; dirty && i < maxPasses && !norm.NFKC.IsNormalString(out); i++ {
		out, dirty = normalizePass(out)
	}
	return out
}

// normalizer carries one pass's output and scratch buffers.
type normalizer struct {
	out   []byte // a trailing space is a pending separator
	dirty bool   // a character was dropped after the last NFKC step
	// noTable forces the full Unicode path (tests compare the two).
	noTable bool
	caser   cases.Caser
	folder  bool // caser initialised
	nfkc    []byte
	folded  []byte
}

// normalizePass applies the rules once, reporting whether the output may
// not be NFKC (see Normalize). ASCII text takes a byte-table fast path; a
// chunk containing non-ASCII text (from the ASCII character before it, which
// combining marks may attach to, up to a run of minASCIIRun ASCII bytes)
// goes through a table of context-free characters if it can, and through
// NFKC and case folding if not. An ASCII character is always a
// normalisation boundary (a starter that composes with nothing before it),
// so splitting before one is exact.
func normalizePass(s string) (string, bool) {
	n := normalizer{out: make([]byte, 0, len(s)+len(s)/8)}
	return n.pass(s)
}

func (n *normalizer) pass(s string) (string, bool) {
	i := 0
	for i < len(s) {
		j := i
		for j < len(s) && s[j] < utf8.RuneSelf {
			j++
		}
		if j == len(s) {
			n.asciiRun(s[i:])
			break
		}
		start := j
		if start > i {
			start-- // the base character goes with its marks
		}
		n.asciiRun(s[i:start])
		// Extend the chunk over short ASCII gaps.
		k, ascii := j+1, 0
		for ; k < len(s) && ascii < minASCIIRun; k++ {
			if s[k] < utf8.RuneSelf {
				ascii++
			} else {
				ascii = 0
			}
		}
		k -= ascii // end the chunk before the ASCII run, at a boundary
		if n.noTable || !n.tableRun(s[start:k]) {
			n.slowRun(s[start:k])
		}
		i = k
	}
	out := n.out
	if len(out) > 0 && out[len(out)-1] == ' ' {
		out = out[:len(out)-1] // a trailing separator
	}
	return string(out), n.dirty
}

// asciiRun appends ASCII text. A pending separator is kept as a trailing
// space in out (trimmed at the end of the pass), which lets this loop run
// without unpredictable branches: every byte is written, and the write
// position advances unless a space follows a space (or starts the output).
func (n *normalizer) asciiRun(s string) {
	w := len(n.out)
	out := slices.Grow(n.out, len(s))[:w+len(s)]
	prevSpace := w == 0 || out[w-1] == ' '
	for i := 0; i < len(s); i++ {
		m := asciiMap[s[i]]
		out[w] = m
		space := m == ' '
		w += b2i(!(space && prevSpace))
		prevSpace = space
	}
	n.out = out[:w]
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// tableRun handles a chunk whose non-ASCII characters are all in the
// context-free table (most accented Latin, Greek and Cyrillic text); it
// reports false, having written nothing, if one is not.
func (n *normalizer) tableRun(s string) bool {
	tab := contextFree()
	mark := len(n.out)
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if m := asciiMap[c]; m == ' ' {
				n.separate()
			} else {
				n.out = append(n.out, m)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if size != 2 || tab[r] == "" {
			n.out = n.out[:mark]
			return false
		}
		n.out = append(n.out, tab[r]...)
		i += size
	}
	return true
}

// contextFree maps the characters U+0080–U+07FF (two UTF-8 bytes) whose
// normal form does not depend on their neighbours to that form, "" for the
// others. A character qualifies when it is a letter or number, NFKC-stable,
// a starter that composes with nothing before it (nor, then, do the
// characters it maps to); a combining mark after it is not in the table,
// so that chunk takes the full path. Built once, read-only after.
var contextFree = sync.OnceValue(func() *[0x800]string {
	var t [0x800]string
	ok := func(r rune) bool {
		s := string(r)
		p := norm.NFKC.PropertiesString(s)
		return (unicode.IsLetter(r) || unicode.IsNumber(r)) &&
			p.BoundaryBefore() && p.CCC() == 0 && norm.NFKC.IsNormalString(s)
	}
	var n normalizer
	for r := rune(0x80); r < 0x800; r++ {
		if !ok(r) {
			continue
		}
		n.out = n.out[:0]
		n.slowRun(string(r))
		if n.dirty || len(n.out) == 0 {
			n.dirty = false
			continue
		}
		good := true
		for _, f := range string(n.out) {
			good = good && (f < utf8.RuneSelf && asciiMap[f] == byte(f) || f >= utf8.RuneSelf && ok(f))
		}
		if good {
			t[r] = string(n.out)
		}
	}
	return &t
})

// separate appends a separator: one space, never leading or doubled.
func (n *normalizer) separate() {
	if len(n.out) > 0 && n.out[len(n.out)-1] != ' ' {
		n.out = append(n.out, ' ')
	}
}

// slowRun applies NFKC, case folding, the character classes and NFKC again
// (folding and deleting format characters can both leave sequences that
// compose) to a chunk that starts at a normalisation boundary.
func (n *normalizer) slowRun(s string) {
	n.nfkc = norm.NFKC.AppendString(n.nfkc[:0], s)
	if !n.folder {
		n.caser = cases.Fold()
		n.folder = true
	}
	n.folded = n.fold(n.nfkc)
	// Filter in place: the output is never longer than the input.
	w := 0
	for r := 0; r < len(n.folded); {
		c, size := utf8.DecodeRune(n.folded[r:])
		switch {
		case c == utf8.RuneError && size == 1:
			n.folded[w] = ' ' // invalid UTF-8 never reaches the output
			w++
		case c < utf8.RuneSelf:
			n.folded[w] = asciiMap[c]
			w++
		case unicode.IsLetter(c) || unicode.IsMark(c) || unicode.IsNumber(c):
			if f := cherokeeFold(c); f != c {
				w += utf8.EncodeRune(n.folded[w:], f) // same length: 3 bytes
			} else {
				w += copy(n.folded[w:], n.folded[r:r+size])
			}
		case unicode.Is(unicode.Cf, c):
			// invisible formatting: deleted, not a separator
		default:
			n.folded[w] = ' '
			w++
		}
		r += size
	}
	n.nfkc = norm.NFKC.Append(n.nfkc[:0], n.folded[:w]...)
	for p := n.nfkc; len(p) > 0; {
		c, size := utf8.DecodeRune(p)
		switch {
		case c < utf8.RuneSelf:
			// ASCII changes (case, punctuation to space) swap a starter
			// for a starter: no new composition, not dirty.
			if m := asciiMap[c]; m == ' ' {
				n.separate()
			} else {
				n.out = append(n.out, m)
			}
		case unicode.IsLetter(c) || unicode.IsMark(c) || unicode.IsNumber(c):
			n.out = append(n.out, p[:size]...)
		case unicode.Is(unicode.Cf, c):
			n.dirty = true
		default:
			n.dirty = true
			n.separate()
		}
		p = p[size:]
	}
}

// cherokeeFold corrects golang.org/x/text's folding of Cherokee, which maps
// capitals to small letters although CaseFolding.txt maps small letters to
// capitals (U+AB70–U+ABBF → U+13A0–U+13EF, U+13F8–U+13FD → U+13F0–U+13F5);
// without this, "Ꭰ" and "ꭰ" would normalise to each other.
func cherokeeFold(r rune) rune {
	switch {
	case 0xab70 <= r && r <= 0xabbf:
		return r - 0xab70 + 0x13a0
	case 0x13f8 <= r && r <= 0x13fd:
		return r - 8
	}
	return r
}

// fold case-folds src into the reusable buffer.
func (n *normalizer) fold(src []byte) []byte {
	dst := n.folded[:cap(n.folded)]
	if len(dst) < 2*len(src)+16 {
		dst = make([]byte, 3*len(src)+16)
	}
	for {
		n.caser.Reset()
		nDst, _, err := n.caser.Transform(dst, src, true)
		switch {
		case err == nil:
			return dst[:nDst]
		case errors.Is(err, transform.ErrShortDst):
			dst = make([]byte, 2*len(dst))
		default:
			// Not expected with the whole input at hand; the allocating
			// path applies the same rules.
			n.caser.Reset()
			return []byte(n.caser.String(string(src)))
		}
	}
}
