package extract

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/ledongthuc/pdf"
	"golang.org/x/text/encoding/charmap"
)

// Fonts are decoded here, not by the library: its CMap reader loops and
// appends as many entries as a count in the file says. Caps below bound
// every table built from a font.
const (
	maxFontsPerDoc  = 1024
	maxCMapBytes    = 1 << 20  // one ToUnicode stream
	maxCMapBytesDoc = 64 << 20 // all ToUnicode streams of a document
	maxCMapEntries  = 100_000
	maxCodeRanges   = 64
	maxCIDWidths    = 16384
)

// pdfFont maps a font's character codes to text and glyph widths.
type pdfFont struct {
	twoByte bool // composite (Type0) font: 2-byte codes unless its CMap says otherwise
	ucs2    bool // predefined UCS-2/UTF-16 CMap: codes are Unicode
	toUni   *pdfCMap
	table   [256]rune // simple fonts
	first   int
	widths  []float64
	missing float64
	cidW    []pdfCIDWidth
	dw      float64
}

type pdfCIDWidth struct {
	lo, hi uint32
	w      float64
}

func defaultPDFFont() *pdfFont {
	f := &pdfFont{missing: 500, dw: 1000}
	f.table = baseEncoding("")
	return f
}

// font returns the decoder for a font resource, cached per document by the
// font dictionary's object number and resource name.
func (x *pdfText) font(res pdf.Value, name string) *pdfFont {
	fv := res.Key("Font").Key(name)
	key := ""
	if id, gen, ok := valuePtr(fv); ok {
		key = strconv.FormatUint(uint64(id), 10) + " " + strconv.FormatUint(uint64(gen), 10) + " " + name
		if f, ok := x.fonts[key]; ok {
			return f
		}
	}
	if x.fontsParsed >= maxFontsPerDoc {
		if x.fontsParsed == maxFontsPerDoc {
			x.d.warnf("pdf: more than %d fonts; the rest decoded as WinAnsi", maxFontsPerDoc)
			x.fontsParsed++
		}
		return defaultPDFFont()
	}
	x.fontsParsed++
	f := x.parseFont(fv)
	if key != "" {
		x.fonts[key] = f
	}
	return f
}

func (x *pdfText) parseFont(fv pdf.Value) *pdfFont {
	f := defaultPDFFont()
	if fv.Kind() != pdf.Dict {
		return f
	}
	if fv.Key("Subtype").Name() == "Type0" {
		f.twoByte = true
		if enc := fv.Key("Encoding"); enc.Kind() == pdf.Name {
			n := enc.Name()
			f.ucs2 = strings.Contains(n, "UCS2") || strings.Contains(n, "UTF16")
		}
		desc := fv.Key("DescendantFonts").Index(0)
		if dw := desc.Key("DW"); dw.Kind() == pdf.Integer || dw.Kind() == pdf.Real {
			f.dw = dw.Float64()
		}
		f.cidW = parseCIDWidths(desc.Key("W"))
	} else {
		enc := fv.Key("Encoding")
		switch enc.Kind() {
		case pdf.Name:
			f.table = baseEncoding(enc.Name())
		case pdf.Dict:
			f.table = baseEncoding(enc.Key("BaseEncoding").Name())
			applyDifferences(&f.table, enc.Key("Differences"))
		}
		f.first = int(fv.Key("FirstChar").Int64())
		if w := fv.Key("Widths"); w.Kind() == pdf.Array {
			n := min(w.Len(), 256)
			f.widths = make([]float64, n)
			for i := range n {
				f.widths[i] = w.Index(i).Float64()
			}
		}
		if mw := fv.Key("FontDescriptor").Key("MissingWidth"); mw.Kind() == pdf.Integer || mw.Kind() == pdf.Real {
			f.missing = mw.Float64()
		}
	}
	if tu := fv.Key("ToUnicode"); tu.Kind() == pdf.Stream && x.cmapBytes < maxCMapBytesDoc {
		b, err := readPDFStream(tu, min(maxCMapBytes, maxCMapBytesDoc-x.cmapBytes))
		x.cmapBytes += len(b)
		if err != nil {
			x.d.warnf("pdf: ToUnicode map: %v", err)
		}
		if len(b) > 0 {
			f.toUni = parseCMap(b)
		}
	}
	return f
}

// baseEncoding returns a simple font's base table. StandardEncoding and
// PDFDocEncoding differ from WinAnsi only in a few punctuation slots, which
// matters little for matching.
func baseEncoding(name string) [256]rune {
	cm := charmap.Windows1252
	if name == "MacRomanEncoding" {
		cm = charmap.Macintosh
	}
	var t [256]rune
	for i := range t {
		t[i] = cm.DecodeByte(byte(i))
	}
	return t
}

func applyDifferences(t *[256]rune, diff pdf.Value) {
	code := 0
	for i := 0; i < min(diff.Len(), 1024); i++ {
		it := diff.Index(i)
		switch it.Kind() {
		case pdf.Integer:
			code = int(it.Int64())
		case pdf.Name:
			if code >= 0 && code < 256 {
				if r, ok := glyphRune(it.Name()); ok {
					t[code] = r
				}
			}
			code++
		}
	}
}

// parseCIDWidths reads a /W array: "c [w1 w2 ...]" and "cfirst clast w".
func parseCIDWidths(w pdf.Value) []pdfCIDWidth {
	var out []pdfCIDWidth
	n := min(w.Len(), maxCIDWidths)
	for i := 0; i < n && len(out) < maxCIDWidths; {
		first := w.Index(i)
		if first.Kind() != pdf.Integer {
			i++
			continue
		}
		c := uint32(max(0, first.Int64()))
		if i+1 >= n {
			break
		}
		next := w.Index(i + 1)
		if next.Kind() == pdf.Array {
			for k := 0; k < min(next.Len(), maxCIDWidths); k++ {
				out = append(out, pdfCIDWidth{c + uint32(k), c + uint32(k), next.Index(k).Float64()})
			}
			i += 2
			continue
		}
		if i+2 >= n {
			break
		}
		hi := uint32(max(0, next.Int64()))
		out = append(out, pdfCIDWidth{c, hi, w.Index(i + 2).Float64()})
		i += 3
	}
	sort.Slice(out, func(a, b int) bool { return out[a].lo < out[b].lo })
	return out
}

func (f *pdfFont) width(code uint32) float64 {
	if f.twoByte {
		i := sort.Search(len(f.cidW), func(i int) bool { return f.cidW[i].lo > code }) - 1
		if i >= 0 && code <= f.cidW[i].hi {
			return f.cidW[i].w
		}
		return f.dw
	}
	if k := int(code) - f.first; k >= 0 && k < len(f.widths) {
		return f.widths[k]
	}
	return f.missing
}

// decode maps a shown string to text and returns the sum of glyph widths
// (in thousandths of text space), the number of codes and of single-byte
// spaces (for word spacing).
func (f *pdfFont) decode(raw []byte) (string, float64, int, int) {
	if f.toUni == nil && !f.twoByte {
		// The common simple-font case, without a builder per string.
		buf := make([]byte, 0, len(raw)+8)
		var width float64
		spaces := 0
		for _, c := range raw {
			width += f.width(uint32(c))
			if c == ' ' {
				spaces++
			}
			if r := f.table[c]; r >= 0x20 || r == '\t' || r == '\n' {
				buf = utf8.AppendRune(buf, r)
			}
		}
		return string(buf), width, len(raw), spaces
	}
	var sb strings.Builder
	var width float64
	codes, spaces := 0, 0
	for i := 0; i < len(raw); {
		n := 0
		if f.toUni != nil {
			n = f.toUni.codeLen(raw, i)
		}
		if n == 0 {
			n = 1
			if f.twoByte {
				n = 2
			}
		}
		n = min(n, len(raw)-i)
		code := raw[i : i+n]
		c := uint32(0)
		for _, b := range code {
			c = c<<8 | uint32(b)
		}
		width += f.width(c)
		codes++
		if n == 1 && c == ' ' {
			spaces++
		}
		s, ok := "", false
		if f.toUni != nil {
			s, ok = f.toUni.lookup(code)
		}
		if !ok {
			switch {
			case f.twoByte && f.ucs2:
				if utf8.ValidRune(rune(c)) {
					s = string(rune(c))
				}
			case !f.twoByte:
				s = string(f.table[c&0xff])
			}
		}
		for _, r := range s {
			if r >= 0x20 || r == '\t' || r == '\n' {
				sb.WriteRune(r)
			}
		}
		i += n
	}
	return sb.String(), width, codes, spaces
}

// pdfCMap is a parsed ToUnicode CMap.
type pdfCMap struct {
	space  []pdfCodeRange
	chars  map[uint64]string // len<<32 | code
	ranges []pdfBFRange      // sorted by (n, lo)
}

type pdfCodeRange struct{ lo, hi []byte }

type pdfBFRange struct {
	n      int
	lo, hi uint32
	dst    []uint16 // UTF-16 of the first code's text; the last unit increments
	arr    []string // or one text per code
}

// parseCMap reads codespace ranges, bfchar and bfrange blocks. The counts
// before each block are ignored: entries are taken from what is actually
// there, within maxCMapEntries.
func parseCMap(b []byte) *pdfCMap {
	m := &pdfCMap{chars: map[uint64]string{}}
	lx := pdfLexer{data: b}
	var ops []pdfToken
	var arr []pdfToken // elements of an open array
	inArray := false
	entries := 0
	for {
		tok := lx.next()
		switch tok.kind {
		case 0:
			sort.Slice(m.ranges, func(i, j int) bool {
				if m.ranges[i].n != m.ranges[j].n {
					return m.ranges[i].n < m.ranges[j].n
				}
				return m.ranges[i].lo < m.ranges[j].lo
			})
			return m
		case '[':
			inArray, arr = true, arr[:0]
			continue
		case ']':
			if inArray {
				inArray = false
				elems := make([]string, 0, len(arr))
				for _, t := range arr {
					elems = append(elems, utf16BytesToString(t.str))
				}
				ops = append(ops, pdfToken{kind: 'a', name: strings.Join(elems, "\x00")})
			}
			continue
		}
		if inArray {
			if tok.kind == 's' && len(arr) < 256 {
				arr = append(arr, tok)
			}
			continue
		}
		if tok.kind != 'k' {
			if len(ops) >= 3*maxOperands {
				ops = ops[:0]
			}
			ops = append(ops, tok)
			continue
		}
		switch tok.name {
		case "endcodespacerange":
			for i := 0; i+1 < len(ops) && len(m.space) < maxCodeRanges; i += 2 {
				lo, hi := ops[i].str, ops[i+1].str
				if len(lo) >= 1 && len(lo) <= 4 && len(lo) == len(hi) {
					m.space = append(m.space, pdfCodeRange{lo, hi})
				}
			}
		case "endbfchar":
			for i := 0; i+1 < len(ops) && entries < maxCMapEntries; i += 2 {
				src := ops[i].str
				if ops[i].kind != 's' || len(src) == 0 || len(src) > 4 || ops[i+1].kind != 's' {
					continue
				}
				m.chars[cmapKey(src)] = utf16BytesToString(ops[i+1].str)
				entries++
			}
		case "endbfrange":
			for i := 0; i+2 < len(ops) && entries < maxCMapEntries; i += 3 {
				lo, hi, dst := ops[i], ops[i+1], ops[i+2]
				if lo.kind != 's' || hi.kind != 's' || len(lo.str) == 0 || len(lo.str) > 4 || len(lo.str) != len(hi.str) {
					continue
				}
				r := pdfBFRange{n: len(lo.str), lo: beUint(lo.str), hi: beUint(hi.str)}
				switch dst.kind {
				case 's':
					r.dst = utf16Units(dst.str)
				case 'a':
					r.arr = strings.Split(dst.name, "\x00")
				default:
					continue
				}
				if r.hi < r.lo || len(r.dst) == 0 && r.arr == nil {
					continue
				}
				m.ranges = append(m.ranges, r)
				entries++
			}
		}
		ops = ops[:0]
	}
}

func cmapKey(code []byte) uint64 { return uint64(len(code))<<32 | uint64(beUint(code)) }

func beUint(b []byte) uint32 {
	var v uint32
	for _, c := range b {
		v = v<<8 | uint32(c)
	}
	return v
}

func utf16Units(b []byte) []uint16 {
	if len(b) == 1 {
		return []uint16{uint16(b[0])}
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	return u
}

func utf16BytesToString(b []byte) string {
	return string(utf16.Decode(utf16Units(b)))
}

// codeLen returns the length of the code at raw[i] by the codespace ranges,
// or 0 if none matches.
func (m *pdfCMap) codeLen(raw []byte, i int) int {
	for n := 1; n <= 4 && i+n <= len(raw); n++ {
		for _, sp := range m.space {
			if len(sp.lo) != n {
				continue
			}
			in := true
			for k := 0; k < n && in; k++ {
				c := raw[i+k]
				in = c >= sp.lo[k] && c <= sp.hi[k]
			}
			if in {
				return n
			}
		}
	}
	return 0
}

func (m *pdfCMap) lookup(code []byte) (string, bool) {
	if s, ok := m.chars[cmapKey(code)]; ok {
		return s, true
	}
	n, c := len(code), beUint(code)
	i := sort.Search(len(m.ranges), func(i int) bool {
		r := m.ranges[i]
		return r.n > n || r.n == n && r.lo > c
	}) - 1
	if i < 0 || m.ranges[i].n != n || c > m.ranges[i].hi {
		return "", false
	}
	r := m.ranges[i]
	off := c - r.lo
	if r.arr != nil {
		if int(off) < len(r.arr) {
			return r.arr[off], true
		}
		return "", false
	}
	u := append([]uint16(nil), r.dst...)
	u[len(u)-1] += uint16(off)
	return string(utf16.Decode(u)), true
}

// glyphRune maps an Adobe glyph name to its character: uniXXXX and uXXXX
// forms, single letters, and the common Latin names.
func glyphRune(name string) (rune, bool) {
	if i := strings.IndexByte(name, '.'); i > 0 {
		name = name[:i] // "a.sc", "one.oldstyle"
	}
	switch {
	case len(name) == 1 && (name[0] >= 'a' && name[0] <= 'z' || name[0] >= 'A' && name[0] <= 'Z'):
		return rune(name[0]), true
	case len(name) == 7 && strings.HasPrefix(name, "uni"):
		if v, err := strconv.ParseUint(name[3:], 16, 32); err == nil {
			return rune(v), true
		}
	case len(name) >= 5 && len(name) <= 7 && name[0] == 'u':
		if v, err := strconv.ParseUint(name[1:], 16, 32); err == nil && utf8.ValidRune(rune(v)) {
			return rune(v), true
		}
	}
	if r := glyphNames(name); r != 0 {
		return r, true
	}
	return 0, false
}

func glyphNames(name string) rune {
	switch name {
	case "space", "nbspace":
		return ' '
	case "exclam":
		return '!'
	case "quotedbl":
		return '"'
	case "numbersign":
		return '#'
	case "dollar":
		return '$'
	case "percent":
		return '%'
	case "ampersand":
		return '&'
	case "quotesingle":
		return '\''
	case "parenleft":
		return '('
	case "parenright":
		return ')'
	case "asterisk":
		return '*'
	case "plus":
		return '+'
	case "comma":
		return ','
	case "hyphen", "minus":
		return '-'
	case "period":
		return '.'
	case "slash":
		return '/'
	case "zero":
		return '0'
	case "one":
		return '1'
	case "two":
		return '2'
	case "three":
		return '3'
	case "four":
		return '4'
	case "five":
		return '5'
	case "six":
		return '6'
	case "seven":
		return '7'
	case "eight":
		return '8'
	case "nine":
		return '9'
	case "colon":
		return ':'
	case "semicolon":
		return ';'
	case "less":
		return '<'
	case "equal":
		return '='
	case "greater":
		return '>'
	case "question":
		return '?'
	case "at":
		return '@'
	case "bracketleft":
		return '['
	case "backslash":
		return '\\'
	case "bracketright":
		return ']'
	case "asciicircum":
		return '^'
	case "underscore":
		return '_'
	case "grave":
		return '`'
	case "braceleft":
		return '{'
	case "bar":
		return '|'
	case "braceright":
		return '}'
	case "asciitilde":
		return '~'
	case "quoteleft":
		return '‘'
	case "quoteright":
		return '’'
	case "quotedblleft":
		return '“'
	case "quotedblright":
		return '”'
	case "quotesinglbase":
		return '‚'
	case "quotedblbase":
		return '„'
	case "endash":
		return '–'
	case "emdash":
		return '—'
	case "bullet":
		return '•'
	case "ellipsis":
		return '…'
	case "dagger":
		return '†'
	case "daggerdbl":
		return '‡'
	case "degree":
		return '°'
	case "copyright":
		return '©'
	case "registered":
		return '®'
	case "trademark":
		return '™'
	case "section":
		return '§'
	case "paragraph":
		return '¶'
	case "sterling":
		return '£'
	case "Euro":
		return '€'
	case "yen":
		return '¥'
	case "cent":
		return '¢'
	case "mu":
		return 'µ'
	case "plusminus":
		return '±'
	case "multiply":
		return '×'
	case "divide":
		return '÷'
	case "fi":
		return 'ﬁ'
	case "fl":
		return 'ﬂ'
	case "germandbls":
		return 'ß'
	case "ae":
		return 'æ'
	case "AE":
		return 'Æ'
	case "oe":
		return 'œ'
	case "OE":
		return 'Œ'
	case "oslash":
		return 'ø'
	case "Oslash":
		return 'Ø'
	case "aring":
		return 'å'
	case "Aring":
		return 'Å'
	case "ccedilla":
		return 'ç'
	case "Ccedilla":
		return 'Ç'
	case "ntilde":
		return 'ñ'
	case "Ntilde":
		return 'Ñ'
	case "guillemotleft":
		return '«'
	case "guillemotright":
		return '»'
	case "macron":
		return '¯'
	}
	// Accented vowels: base letter + accent name (eacute, Udieresis, ...).
	for _, acc := range []struct {
		suffix string
		marks  string
	}{
		{"acute", "áéíóúýÁÉÍÓÚÝ"}, {"grave", "àèìòùÀÈÌÒÙ"}, {"circumflex", "âêîôûÂÊÎÔÛ"},
		{"dieresis", "äëïöüÿÄËÏÖÜŸ"}, {"tilde", "ãõÃÕ"}, {"macron", "āēīōūĀĒĪŌŪ"},
	} {
		if len(name) != len(acc.suffix)+1 || !strings.HasSuffix(name, acc.suffix) {
			continue
		}
		base := name[0]
		for _, r := range acc.marks {
			if decomposeBase(r) == base {
				return r
			}
		}
	}
	return 0
}

// decomposeBase gives the ASCII base letter of the accented letters used
// in glyphNames.
func decomposeBase(r rune) byte {
	const from = "áéíóúýÁÉÍÓÚÝàèìòùÀÈÌÒÙâêîôûÂÊÎÔÛäëïöüÿÄËÏÖÜŸãõÃÕāēīōūĀĒĪŌŪ"
	const to = "aeiouyAEIOUYaeiouAEIOUaeiouAEIOUaeiouyAEIOUYaoAOaeiouAEIOU"
	i := 0
	for _, c := range from {
		if c == r {
			return to[i]
		}
		i++
	}
	return 0
}
