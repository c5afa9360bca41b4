package extract

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// Word 97-2003 binary documents ([MS-DOC]). The text lives in the
// WordDocument stream as pieces, in any order, some 8-bit and some UTF-16;
// the piece table (the Clx, in the 0Table or 1Table stream) lists them in
// character order. Formatting is not read, so hidden text and tracked
// deletions come out as ordinary text.

// FIB (File Information Block) fields, at the start of WordDocument.
const (
	fibWIdent      = 0xA5EC
	fibFlagsOff    = 0x0A
	fibEncrypted   = 0x0100 // fEncrypted: RC4 or, with fObfuscated, XOR
	fibWhichTblStm = 0x0200 // the table stream is 1Table, not 0Table
	fibFcMinOff    = 0x18
	fibFcMacOff    = 0x1C
	fibBaseLen     = 32
	fibClxIndex    = 33 // fcClx/lcbClx pair in FibRgFcLcb97
	nFibWord97     = 0xC0
)

// Piece descriptors: bit 30 of fc says the piece is 8-bit, stored at fc/2.
const (
	pcdCompressed = 0x40000000
	pcdFcMask     = 0x3FFFFFFF
)

// maxFieldDepth caps the field nesting kept on the stack; deeper levels
// are counted, not stored.
const maxFieldDepth = 256

type docPiece struct {
	cpStart, cpEnd uint32
	fc             uint32 // raw FcCompressed
}

// extractDOC reads a Word document's text through its piece table. Word 6
// and 95 files (older FIB, no separate table stream) get a documented best
// effort instead; Word 97+ files without a usable piece table are refused
// rather than guessed at.
func extractDOC(d *doc, c *cfbFile) error {
	wd, err := c.read(d, "WordDocument")
	if err != nil {
		return fmt.Errorf("doc: %w", err)
	}
	return docStreams(d, wd, func(name string) ([]byte, error) { return c.read(d, name) })
}

// docStreams parses the WordDocument stream wd; table reads the table
// stream the FIB names.
func docStreams(d *doc, wd []byte, table func(name string) ([]byte, error)) error {
	if len(wd) < fibBaseLen {
		return fmt.Errorf("doc: FIB truncated (%d bytes): %w", len(wd), ErrCorrupt)
	}
	if id := le16(wd, 0); id != fibWIdent {
		return fmt.Errorf("doc: FIB wIdent %#04x, want %#04x: %w", id, fibWIdent, ErrCorrupt)
	}
	nFib := le16(wd, 2)
	flags := le16(wd, fibFlagsOff)
	if flags&fibEncrypted != 0 {
		return fmt.Errorf("doc: FIB fEncrypted set: %w", errOLEEncrypted)
	}
	if nFib < nFibWord97 {
		return docWord95(d, wd, nFib)
	}
	fc, lcb, err := fibClx(wd)
	if err != nil {
		return fmt.Errorf("doc: %w", err)
	}
	tableName := "0Table"
	if flags&fibWhichTblStm != 0 {
		tableName = "1Table"
	}
	tbl, err := table(tableName)
	if err != nil {
		return fmt.Errorf("doc: %w", err)
	}
	pieces, err := parseClx(tbl, fc, lcb)
	if err != nil {
		return fmt.Errorf("doc: piece table: %w", err)
	}
	w := newDocText(d)
	skipped := 0
	for _, p := range pieces {
		if err := d.err(); err != nil {
			return err
		}
		if d.full() {
			break
		}
		if !w.piece(wd, p) {
			skipped++
		}
	}
	w.flush()
	if skipped > 0 {
		d.warnf("doc: %d of %d pieces point outside the WordDocument stream; skipped", skipped, len(pieces))
	}
	return nil
}

// fibClx finds fcClx/lcbClx in a Word 97+ FIB: FibBase, then three
// counted arrays (csw 16-bit words, cslw 32-bit longs, cbRgFcLcb fc/lcb
// pairs), so the pair's offset depends on the counts the file declares.
func fibClx(wd []byte) (fc, lcb uint32, err error) {
	pos := fibBaseLen
	if pos+2 > len(wd) {
		return 0, 0, fmt.Errorf("FIB truncated at csw: %w", ErrCorrupt)
	}
	pos += 2 + 2*int(le16(wd, pos))
	if pos+2 > len(wd) {
		return 0, 0, fmt.Errorf("FIB truncated at cslw: %w", ErrCorrupt)
	}
	pos += 2 + 4*int(le16(wd, pos))
	if pos+2 > len(wd) {
		return 0, 0, fmt.Errorf("FIB truncated at cbRgFcLcb: %w", ErrCorrupt)
	}
	n := int(le16(wd, pos))
	pos += 2
	if n <= fibClxIndex || pos+8*(fibClxIndex+1) > len(wd) {
		return 0, 0, fmt.Errorf("FIB has no fcClx (%d fc/lcb pairs): %w", n, ErrCorrupt)
	}
	off := pos + 8*fibClxIndex
	return le32(wd, off), le32(wd, off+4), nil
}

// parseClx reads the Clx at table[fc:fc+lcb]: optional Prc entries (clxt 1,
// property modifiers, skipped), then one Pcdt (clxt 2) holding the PlcPcd:
// n+1 ascending character positions, then n 8-byte piece descriptors.
func parseClx(table []byte, fc, lcb uint32) ([]docPiece, error) {
	if lcb == 0 {
		return nil, fmt.Errorf("lcbClx is 0: %w", ErrCorrupt)
	}
	if uint64(fc)+uint64(lcb) > uint64(len(table)) {
		return nil, fmt.Errorf("Clx at %d+%d outside the %d-byte table stream: %w", fc, lcb, len(table), ErrCorrupt)
	}
	clx := table[fc : fc+lcb]
	for i := 0; i < len(clx); {
		switch clx[i] {
		case 1: // Prc: clxt, cbGrpprl (int16), grpprl
			if i+3 > len(clx) {
				return nil, fmt.Errorf("Prc truncated: %w", ErrCorrupt)
			}
			cb := int(int16(le16(clx, i+1)))
			if cb < 0 {
				return nil, fmt.Errorf("Prc size %d: %w", cb, ErrCorrupt)
			}
			i += 3 + cb
		case 2: // Pcdt: clxt, lcb (uint32), PlcPcd
			if i+5 > len(clx) {
				return nil, fmt.Errorf("Pcdt truncated: %w", ErrCorrupt)
			}
			n := le32(clx, i+1)
			body := clx[i+5:]
			if uint64(n) > uint64(len(body)) {
				return nil, fmt.Errorf("PlcPcd declares %d bytes, %d left: %w", n, len(body), ErrCorrupt)
			}
			return parsePlcPcd(body[:n])
		default:
			return nil, fmt.Errorf("unknown clxt %d: %w", clx[i], ErrCorrupt)
		}
	}
	return nil, fmt.Errorf("no Pcdt in Clx: %w", ErrCorrupt)
}

func parsePlcPcd(b []byte) ([]docPiece, error) {
	if len(b) < 16 || (len(b)-4)%12 != 0 {
		return nil, fmt.Errorf("PlcPcd of %d bytes: %w", len(b), ErrCorrupt)
	}
	n := (len(b) - 4) / 12
	pieces := make([]docPiece, 0, n)
	for k := 0; k < n; k++ {
		start, end := le32(b, 4*k), le32(b, 4*(k+1))
		if end < start {
			return nil, fmt.Errorf("piece %d: character positions descend: %w", k, ErrCorrupt)
		}
		if end == start {
			continue
		}
		pcd := 4*(n+1) + 8*k
		pieces = append(pieces, docPiece{cpStart: start, cpEnd: end, fc: le32(b, pcd+2)})
	}
	return pieces, nil
}

// docWord95 is the best effort for Word 6 and 95 (nFib below Word 97's):
// their FIB has another layout and no table stream, and their piece table,
// present only in fast-saved ("complex") files, is not parsed. The text is
// taken as the one 8-bit run FibBase's fcMin..fcMac spans, which is the
// whole text of a normally saved file; for a fast-saved one it may miss or
// repeat edits, and a warning says so.
func docWord95(d *doc, wd []byte, nFib uint16) error {
	fcMin, fcMac := le32(wd, fibFcMinOff), le32(wd, fibFcMacOff)
	if fcMac <= fcMin || uint64(fcMac) > uint64(len(wd)) {
		return fmt.Errorf("doc: Word 6/95 FIB (nFib %d) text range %d..%d outside the %d-byte stream: %w", nFib, fcMin, fcMac, len(wd), ErrCorrupt)
	}
	d.warnf("doc: Word 6/95 format (nFib %d): text read as one 8-bit run without a piece table (best effort)", nFib)
	if le16(wd, fibFlagsOff)&0x0004 != 0 {
		d.warnf("doc: Word 6/95 file was fast-saved: text may be incomplete or out of order")
	}
	w := newDocText(d)
	w.bytes8(wd[fcMin:fcMac])
	w.flush()
	return nil
}

// docText turns Word's character stream into plain text: control
// characters become line breaks or tabs, and of each field
// (0x13 code 0x14 result 0x15) only the result is kept.
type docText struct {
	d      *doc
	out    strings.Builder
	lastNL bool   // last character written ends a line (collapses blank lines)
	cell   bool   // a cell mark (0x07) is pending: tab, or newline if a row mark follows
	fields []bool // open fields, innermost last: true while in the code part
	inCode int    // open fields currently in their code part
	deep   int    // open fields beyond maxFieldDepth (treated as code)
}

func newDocText(d *doc) *docText {
	return &docText{d: d, lastNL: d.lastNL}
}

// piece decodes one piece from the WordDocument stream; false if its bytes
// are not inside the stream.
func (w *docText) piece(wd []byte, p docPiece) bool {
	n := uint64(p.cpEnd - p.cpStart)
	if p.fc&pcdCompressed != 0 {
		off := uint64(p.fc&pcdFcMask) / 2
		if off+n > uint64(len(wd)) {
			return false
		}
		w.bytes8(wd[off : off+n])
		return true
	}
	off := uint64(p.fc & pcdFcMask)
	if off+2*n > uint64(len(wd)) {
		return false
	}
	w.utf16(wd[off : off+2*n])
	return true
}

// bytes8 decodes an 8-bit piece: Windows-1252 ([MS-DOC] 2.4.1).
func (w *docText) bytes8(b []byte) {
	for i, c := range b {
		if i&0xffff == 0 && w.stop() {
			return
		}
		r := rune(c)
		if c >= 0x80 {
			r = charmap.Windows1252.DecodeByte(c)
		}
		w.char(r)
	}
}

// utf16 decodes a UTF-16LE piece; a lone surrogate becomes U+FFFD.
func (w *docText) utf16(b []byte) {
	for i := 0; i+1 < len(b); i += 2 {
		if i&0x1ffff == 0 && w.stop() {
			return
		}
		r := rune(le16(b, i))
		if utf16.IsSurrogate(r) {
			r2 := utf8.RuneError
			if i+3 < len(b) {
				r2 = rune(le16(b, i+2))
			}
			if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
				i += 2
				r = dec
			} else {
				r = utf8.RuneError
			}
		}
		w.char(r)
	}
}

// stop flushes what is buffered and reports whether to stop reading.
func (w *docText) stop() bool {
	if w.out.Len() >= 64<<10 {
		w.flush()
	}
	return w.d.full() || w.d.err() != nil
}

func (w *docText) flush() {
	w.d.write(w.out.String())
	w.out.Reset()
}

func (w *docText) char(r rune) {
	switch r {
	case 0x13: // field begin: its code part follows
		if len(w.fields) < maxFieldDepth {
			w.fields = append(w.fields, true)
			w.inCode++
		} else {
			w.deep++
		}
		return
	case 0x14: // field separator: the result part follows
		if w.deep == 0 && len(w.fields) > 0 && w.fields[len(w.fields)-1] {
			w.fields[len(w.fields)-1] = false
			w.inCode--
		}
		return
	case 0x15: // field end
		switch {
		case w.deep > 0:
			w.deep--
		case len(w.fields) > 0:
			if w.fields[len(w.fields)-1] {
				w.inCode--
			}
			w.fields = w.fields[:len(w.fields)-1]
		}
		return
	}
	if w.inCode > 0 || w.deep > 0 {
		return
	}
	if r == 0x07 {
		// Cell end; a second mark straight after is the row end. (An
		// empty cell looks the same, so it can end a row early: only the
		// layout suffers, not the words.)
		if w.cell {
			w.cell = false
			w.newline()
		} else {
			w.cell = true
		}
		return
	}
	lineBreak := r == 0x0D || r == 0x0B || r == 0x0C || r == 0x0E
	if w.cell {
		w.cell = false
		if !lineBreak {
			w.emit('\t')
		}
	}
	switch {
	case lineBreak:
		// Paragraph end, line break, page or section break, column break.
		w.newline()
	case r == 0x09:
		w.emit('\t')
	case r == 0x1E: // non-breaking hyphen
		w.emit('-')
	case r < 0x20:
		// Anchors for pictures, footnote and comment references,
		// separators, optional hyphens (0x1F): no text of their own.
	default:
		w.emit(r)
	}
}

func (w *docText) newline() {
	if !w.lastNL {
		w.out.WriteByte('\n')
		w.lastNL = true
	}
}

func (w *docText) emit(r rune) {
	w.out.WriteRune(r)
	w.lastNL = false
}
