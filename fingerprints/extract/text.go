package extract

import (
	"bytes"
	"encoding/binary"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// utf16BOM returns the byte order announced by a UTF-16 BOM and its length.
func utf16BOM(b []byte) (binary.ByteOrder, int) {
	switch {
	case len(b) >= 2 && b[0] == 0xff && b[1] == 0xfe:
		return binary.LittleEndian, 2
	case len(b) >= 2 && b[0] == 0xfe && b[1] == 0xff:
		return binary.BigEndian, 2
	}
	return nil, 0
}

// decodeUTF16 decodes UTF-16 code units; a trailing odd byte is dropped.
func decodeUTF16(b []byte, bigEndian bool) string {
	units := make([]uint16, len(b)/2)
	for i := range units {
		if bigEndian {
			units[i] = binary.BigEndian.Uint16(b[2*i:])
		} else {
			units[i] = binary.LittleEndian.Uint16(b[2*i:])
		}
	}
	return string(utf16.Decode(units))
}

// guessUTF16 spots BOM-less UTF-16 of mostly-ASCII text: NUL in every
// other byte. It reports whether b looks like that and which byte order.
func guessUTF16(b []byte) (ok, bigEndian bool) {
	n := min(len(b), 4096) &^ 1
	if n < 8 {
		return false, false
	}
	evenNUL, oddNUL := 0, 0
	for i := 0; i < n; i += 2 {
		if b[i] == 0 {
			evenNUL++
		}
		if b[i+1] == 0 {
			oddNUL++
		}
	}
	pairs := n / 2
	switch {
	case oddNUL*10 >= pairs*9 && evenNUL*10 < pairs:
		return true, false
	case evenNUL*10 >= pairs*9 && oddNUL*10 < pairs:
		return true, true
	}
	return false, false
}

// decodeText turns bytes of unknown text encoding into UTF-8: a BOM wins,
// then valid UTF-8, then BOM-less UTF-16, then Windows-1252 (which maps
// every byte, so legacy "ANSI" exports stay readable).
func decodeText(b []byte) (string, string) {
	if bytes.HasPrefix(b, []byte("\xef\xbb\xbf")) {
		b = b[3:]
		if utf8.Valid(b) {
			return string(b), "utf-8"
		}
		return strings.ToValidUTF8(string(b), "\uFFFD"), "utf-8"
	}
	if order, n := utf16BOM(b); order != nil {
		return decodeUTF16(b[n:], order == binary.ByteOrder(binary.BigEndian)), "utf-16"
	}
	if utf8.Valid(b) {
		return string(b), "utf-8"
	}
	if ok, be := guessUTF16(b); ok {
		return decodeUTF16(b, be), "utf-16"
	}
	return decodeSingleByte(b, charmap.Windows1252), "windows-1252"
}

// decodeSingleByte maps each byte through a charmap, without the error
// paths of a transform.Reader.
func decodeSingleByte(b []byte, cm *charmap.Charmap) string {
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		if c < 0x80 {
			sb.WriteByte(c)
			continue
		}
		sb.WriteRune(cm.DecodeByte(c))
	}
	return sb.String()
}

// extractText handles plain text: decode, then keep it as is.
func extractText(d *doc, data []byte) error {
	// No encoding needs more than 4 bytes per rune: decoding more than that
	// would only be thrown away at MaxText.
	s, enc := decodeText(cutAtRune(data, 4*d.lim.MaxText))
	if enc != "utf-8" {
		d.warnf("text: decoded as %s", enc)
	}
	d.write(s)
	return nil
}

// cutAtRune shortens b to at most n bytes without splitting a UTF-8
// sequence, so a cut does not turn valid UTF-8 invalid.
func cutAtRune(b []byte, n int) []byte {
	if n < 0 || len(b) <= n {
		return b
	}
	i := n
	for k := 0; k < utf8.UTFMax && i > 0 && !utf8.RuneStart(b[i]); k++ {
		i--
	}
	return b[:i]
}
