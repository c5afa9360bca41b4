package extract

import (
	"bytes"
	"fmt"
	"strings"

	"golang.org/x/text/encoding/charmap"
)

// maxRTFDepth bounds the group stack; deeper groups are still counted so
// braces keep balancing, but they inherit the innermost kept state.
const maxRTFDepth = 4096

type rtfGroup struct {
	skip bool // inside a destination whose text is not document text
	uc   int  // characters to skip after \uN
}

// rtfSkipDestinations are destinations whose content is metadata or binary,
// not document text.
func rtfSkipDestination(word string) bool {
	switch word {
	case "fonttbl", "colortbl", "stylesheet", "info", "pict", "object", "objdata",
		"themedata", "colorschememapping", "datastore", "latentstyles", "listtable",
		"listoverridetable", "rsidtbl", "generator", "xmlnstbl", "mmathPr", "fldinst",
		"bkmkstart", "bkmkend", "nonshppict", "filetbl", "revtbl", "pgdsctbl",
		"listtext", "pntext", "pntxta", "pntxtb", "template", "wgrffmtfilter",
		"passwordhash", "protusertbl", "docvar", "blipuid", "sp", "sn", "sv":
		return true
	}
	return false
}

// rtfCodepage maps \ansicpgN to a single-byte decoder; others (including
// double-byte CJK pages) fall back to Windows-1252.
func rtfCodepage(n int) *charmap.Charmap {
	switch n {
	case 437:
		return charmap.CodePage437
	case 850:
		return charmap.CodePage850
	case 866:
		return charmap.CodePage866
	case 874:
		return charmap.Windows874
	case 1250:
		return charmap.Windows1250
	case 1251:
		return charmap.Windows1251
	case 1253:
		return charmap.Windows1253
	case 1254:
		return charmap.Windows1254
	case 1255:
		return charmap.Windows1255
	case 1256:
		return charmap.Windows1256
	case 1257:
		return charmap.Windows1257
	case 1258:
		return charmap.Windows1258
	case 10000:
		return charmap.Macintosh
	}
	return charmap.Windows1252
}

// extractRTF is a small RTF tokenizer: groups, control words and symbols,
// \'hh and \uN escapes. It never recurses, so nesting depth costs only the
// group stack, which is capped.
func extractRTF(d *doc, data []byte) error {
	if !bytes.HasPrefix(data, []byte("{\\rtf")) {
		return fmt.Errorf("missing {\\rtf header: %w", ErrCorrupt)
	}
	var (
		out      strings.Builder
		stack    = make([]rtfGroup, 0, 16)
		cur      = rtfGroup{uc: 1}
		overflow int // groups beyond maxRTFDepth
		cp       = charmap.Windows1252
		ucSkip   int // characters still to skip after \uN
		extraClo int // unbalanced closing braces
	)
	flush := func() {
		d.write(out.String())
		out.Reset()
	}
	emit := func(s string) {
		if ucSkip > 0 {
			ucSkip--
			return
		}
		if !cur.skip {
			out.WriteString(s)
		}
	}
	for n, i := 0, 0; i < len(data); n++ {
		if n&0xffff == 0 {
			if err := d.err(); err != nil {
				return err
			}
			if out.Len() > 0 {
				flush()
			}
			if d.full() {
				return nil
			}
		}
		c := data[i]
		switch c {
		case '{':
			i++
			if len(stack) >= maxRTFDepth {
				overflow++
				continue
			}
			stack = append(stack, cur)
		case '}':
			i++
			ucSkip = 0
			switch {
			case overflow > 0:
				overflow--
			case len(stack) == 0:
				extraClo++
			default:
				cur = stack[len(stack)-1]
				stack = stack[:len(stack)-1]
			}
		case '\r', '\n':
			i++
		case '\\':
			i++
			if i >= len(data) {
				break
			}
			c = data[i]
			switch {
			case isASCIILetter(c):
				start := i
				for i < len(data) && isASCIILetter(data[i]) && i-start < 32 {
					i++
				}
				word := string(data[start:i])
				param, hasParam := 0, false
				neg := false
				if i < len(data) && data[i] == '-' {
					neg = true
					i++
				}
				digits := 0
				for i < len(data) && data[i] >= '0' && data[i] <= '9' {
					if digits < 10 {
						param = param*10 + int(data[i]-'0')
					}
					digits++
					hasParam = true
					i++
				}
				if neg {
					param = -param
				}
				if i < len(data) && data[i] == ' ' {
					i++ // the delimiting space belongs to the control word
				}
				i = rtfControlWord(data, i, word, param, hasParam, &cur, &cp, &ucSkip, emit)
			case c == '\'':
				i++
				if i+2 <= len(data) {
					if v, ok := hexByte(data[i], data[i+1]); ok {
						emit(string(cp.DecodeByte(v)))
					}
					i += 2
				} else {
					i = len(data)
				}
			case c == '*':
				i++
				cur.skip = true
			case c == '{' || c == '}' || c == '\\':
				i++
				emit(string(c))
			case c == '~':
				i++
				emit("\u00a0")
			case c == '_':
				i++
				emit("-")
			case c == '\r' || c == '\n':
				i++
				emit("\n")
			default:
				i++ // \- (optional hyphen), \| and others: nothing to show
			}
		default:
			i++
			if c < 0x80 {
				emit(string(c))
			} else {
				emit(string(cp.DecodeByte(c)))
			}
		}
	}
	flush()
	if extraClo > 0 {
		d.warnf("rtf: %d unbalanced closing braces", extraClo)
	}
	if n := len(stack) + overflow; n > 0 {
		d.warnf("rtf: %d unclosed groups", n)
	}
	if overflow > 0 {
		d.warnf("rtf: groups nested deeper than %d", maxRTFDepth)
	}
	return nil
}

// rtfControlWord applies one control word and returns the new read offset
// (only \bin moves it).
func rtfControlWord(data []byte, i int, word string, param int, hasParam bool,
	cur *rtfGroup, cp **charmap.Charmap, ucSkip *int, emit func(string)) int {
	if rtfSkipDestination(word) {
		cur.skip = true
		return i
	}
	switch word {
	case "par", "line", "row", "sect", "page":
		emit("\n")
	case "tab", "cell":
		emit("\t")
	case "emdash":
		emit("—")
	case "endash":
		emit("–")
	case "bullet":
		emit("•")
	case "lquote":
		emit("‘")
	case "rquote":
		emit("’")
	case "ldblquote":
		emit("“")
	case "rdblquote":
		emit("”")
	case "emspace", "enspace", "qmspace":
		emit(" ")
	case "u":
		if hasParam {
			r := param
			if r < 0 {
				r += 65536
			}
			if r >= 0 && r <= 0x10ffff {
				emit(string(rune(r)))
			}
			*ucSkip = cur.uc
		}
	case "uc":
		if hasParam {
			cur.uc = max(0, min(param, 8))
		}
	case "ansicpg":
		*cp = rtfCodepage(param)
	case "bin":
		// Raw binary follows; skip it without reading it as text. The
		// offset is clamped so a huge N cannot run past the data.
		if param > 0 {
			i += min(param, len(data)-i)
		}
	}
	return i
}

func isASCIILetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func hexByte(a, b byte) (byte, bool) {
	h, ok1 := hexVal(a)
	l, ok2 := hexVal(b)
	return h<<4 | l, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
