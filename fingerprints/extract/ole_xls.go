package extract

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"golang.org/x/text/encoding/charmap"
)

// Excel 97-2003 workbooks ([MS-XLS], BIFF8; BIFF5 from Excel 5/95 as far
// as cells go). The Workbook stream is a flat run of records: a globals
// substream (shared strings, number formats, encryption marker), then one
// substream per sheet, each bracketed by BOF and EOF. Cells become rows as
// in extractXLSX: every row is a tab-separated line of text, the first
// non-empty row of a sheet is its header, the rest are records.

// BIFF record types used here.
const (
	biffFORMULA   = 0x0006
	biffEOF       = 0x000A
	biffDATEMODE  = 0x0022
	biffFILEPASS  = 0x002F
	biffCONTINUE  = 0x003C
	biffCODEPAGE  = 0x0042
	biffMULRK     = 0x00BD
	biffRSTRING   = 0x00D6
	biffXF        = 0x00E0
	biffSST       = 0x00FC
	biffLABELSST  = 0x00FD
	biffNUMBER    = 0x0203
	biffLABEL     = 0x0204
	biffBOOLERR   = 0x0205
	biffSTRING    = 0x0207
	biffRK        = 0x027E
	biffFORMAT    = 0x041E
	biffBOF       = 0x0809
	biffSHRFMLA   = 0x04BC
	biffARRAY     = 0x0221
	biffTABLE     = 0x0236
	bofGlobals    = 0x0005
	bofWorksheet  = 0x0010
	biff8Version  = 0x0600
	biff5Version  = 0x0500
	xlsMaxColumns = 16384 // XLSX's limit; BIFF8 itself stops at 256
	xlsMaxXFs     = 1 << 16
	xlsMaxFormats = 1 << 16
)

// extractXLS walks a BIFF workbook stream.
func extractXLS(d *doc, c *cfbFile, name string) error {
	wb, err := c.read(d, name)
	if err != nil {
		return fmt.Errorf("xls: %w", err)
	}
	return xlsStream(d, wb)
}

// xlsStream parses a Workbook (or Book) stream.
func xlsStream(d *doc, wb []byte) error {
	x := &xlsReader{d: d, data: wb, cp: charmap.Windows1252, dateFmt: map[uint16]bool{}}
	if err := x.run(); err != nil {
		return fmt.Errorf("xls: %w", err)
	}
	return nil
}

type xlsReader struct {
	d     *doc
	data  []byte
	pos   int
	biff8 bool
	cp    *charmap.Charmap // BIFF5 8-bit strings (BIFF8's are Latin-1 by definition)

	date1904 bool
	xfFmt    []uint16        // number format of each XF (cell style), by index
	dateFmt  map[uint16]bool // custom number formats that show dates or times
	sst      []string

	depth    int    // BOF/EOF nesting: charts inside a sheet nest
	kind     uint16 // substream type at depth 1
	sheets   int
	header   []string
	row      int      // row being collected, -1 if none
	cells    []string // its cells by column
	pendRow  int      // FORMULA cell whose string result the next STRING holds
	pendCol  int
	badIndex int // LABELSST indices outside the SST
	badStr   int // cell strings shorter than they declare (kept as read)
	wideCols int // cells beyond xlsMaxColumns
}

// next returns the record at x.pos and advances past it.
func (x *xlsReader) next() (typ uint16, body []byte, ok bool) {
	if x.pos+4 > len(x.data) {
		return 0, nil, false
	}
	typ, n := le16(x.data, x.pos), int(le16(x.data, x.pos+2))
	if x.pos+4+n > len(x.data) {
		return 0, nil, false
	}
	body = x.data[x.pos+4 : x.pos+4+n]
	x.pos += 4 + n
	return typ, body, true
}

// continued gathers the CONTINUE records following the current one.
func (x *xlsReader) continued(first []byte) [][]byte {
	segs := [][]byte{first}
	for x.pos+4 <= len(x.data) && le16(x.data, x.pos) == biffCONTINUE {
		_, body, ok := x.next()
		if !ok {
			break
		}
		segs = append(segs, body)
	}
	return segs
}

func (x *xlsReader) run() error {
	typ, bof, ok := x.next()
	if !ok || typ != biffBOF || len(bof) < 4 {
		return fmt.Errorf("workbook stream does not start with a BOF record: %w", ErrCorrupt)
	}
	switch v := le16(bof, 0); v {
	case biff8Version:
		x.biff8 = true
	case biff5Version:
	default:
		return fmt.Errorf("BIFF version %#04x not supported: %w", v, ErrCorrupt)
	}
	x.pos = 0
	x.row, x.pendRow = -1, -1
	for n := 0; ; n++ {
		if n&0xfff == 0 {
			if err := x.d.err(); err != nil {
				return err
			}
		}
		if x.d.full() && x.d.recordsFull {
			break
		}
		start := x.pos
		typ, body, ok := x.next()
		if !ok {
			if x.pos < len(x.data) {
				x.d.warnf("xls: record at byte %d runs past the end of the stream", start)
			}
			break
		}
		if err := x.record(typ, body); err != nil {
			return err
		}
	}
	x.endSheet()
	if x.badIndex > 0 {
		x.d.warnf("xls: %d shared-string references outside the string table", x.badIndex)
	}
	if x.badStr > 0 {
		x.d.warnf("xls: %d cell strings end before their declared length", x.badStr)
	}
	if x.wideCols > 0 {
		x.d.warnf("xls: %d cells beyond column %d dropped", x.wideCols, xlsMaxColumns)
	}
	return nil
}

func (x *xlsReader) record(typ uint16, b []byte) error {
	switch typ {
	case biffBOF:
		x.depth++
		if x.depth == 1 {
			x.kind = 0
			if len(b) >= 4 {
				x.kind = le16(b, 2)
			}
			if x.kind == bofWorksheet {
				x.sheets++
				x.header = nil
			}
		}
		return nil
	case biffEOF:
		if x.depth == 1 {
			x.endSheet()
			x.kind = 0
		}
		x.depth = max(0, x.depth-1)
		return nil
	}
	if x.depth != 1 {
		return nil
	}
	if x.kind == bofGlobals {
		return x.global(typ, b)
	}
	if x.kind == bofWorksheet {
		x.cell(typ, b)
	}
	return nil
}

// global handles the workbook-wide records.
func (x *xlsReader) global(typ uint16, b []byte) error {
	switch typ {
	case biffFILEPASS:
		return fmt.Errorf("FILEPASS record: %w", errOLEEncrypted)
	case biffCODEPAGE:
		if len(b) >= 2 && !x.biff8 {
			cp := int(le16(b, 0))
			if cp == 0x8000 {
				cp = 10000 // Mac Roman, as the RTF reader numbers it
			}
			x.cp = rtfCodepage(cp)
		}
	case biffDATEMODE:
		x.date1904 = len(b) >= 2 && le16(b, 0) == 1
	case biffXF:
		if len(b) >= 4 && len(x.xfFmt) < xlsMaxXFs {
			x.xfFmt = append(x.xfFmt, le16(b, 2))
		}
	case biffFORMAT: // BIFF8 and BIFF5 alike, but for the string
		if len(b) < 3 || len(x.dateFmt) >= xlsMaxFormats {
			return nil
		}
		var code string
		if x.biff8 {
			code, _ = x.unicodeString([][]byte{b[2:]}, 2)
		} else {
			n := min(int(b[2]), len(b)-3)
			code = string(b[3 : 3+n]) // the date test reads ASCII letters only
		}
		if isDateFormat(code) {
			x.dateFmt[le16(b, 0)] = true
		}
	case biffSST:
		x.readSST(x.continued(b))
	}
	return nil
}

// cell handles a worksheet's cell records.
func (x *xlsReader) cell(typ uint16, b []byte) {
	switch typ {
	case biffSTRING:
		if x.pendRow < 0 {
			return
		}
		var s string
		segs := x.continued(b)
		if x.biff8 {
			s = x.cellString(segs)
		} else if len(b) >= 2 {
			s = x.string8(b[2:], int(le16(b, 0)))
		}
		x.set(x.pendRow, x.pendCol, s)
		x.pendRow = -1
		return
	case biffSHRFMLA, biffARRAY, biffTABLE:
		return // may sit between a FORMULA and its STRING
	}
	if len(b) < 6 {
		return
	}
	row, col, xf := int(le16(b, 0)), int(le16(b, 2)), le16(b, 4)
	switch typ {
	case biffLABELSST:
		x.pendRow = -1
		if len(b) < 10 {
			return
		}
		if i := le32(b, 6); uint64(i) < uint64(len(x.sst)) {
			x.set(row, col, x.sst[i])
		} else {
			x.badIndex++
		}
	case biffLABEL, biffRSTRING:
		x.pendRow = -1
		if x.biff8 {
			x.set(row, col, x.cellString([][]byte{b[6:]}))
		} else if len(b) >= 8 {
			x.set(row, col, x.string8(b[8:], int(le16(b, 6))))
		}
	case biffNUMBER:
		x.pendRow = -1
		if len(b) >= 14 {
			x.set(row, col, x.number(xf, math.Float64frombits(le64(b, 6))))
		}
	case biffRK:
		x.pendRow = -1
		if len(b) >= 10 {
			x.set(row, col, x.number(xf, rkValue(le32(b, 6))))
		}
	case biffMULRK:
		// rw, colFirst, then (ixfe, RK) per cell, then colLast.
		x.pendRow = -1
		for k := 0; 4+6*k+6 <= len(b)-2; k++ {
			x.set(row, col+k, x.number(le16(b, 4+6*k), rkValue(le32(b, 6+6*k))))
		}
	case biffBOOLERR:
		x.pendRow = -1
		if len(b) >= 8 {
			x.set(row, col, boolErr(b[6], b[7] != 0))
		}
	case biffFORMULA:
		// The cached result: a float, or (0xFFFF in its top bytes) a
		// type byte: 0 string (in the STRING record that follows),
		// 1 boolean, 2 error, 3 empty string.
		x.pendRow = -1
		if len(b) < 14 {
			return
		}
		if le16(b, 12) != 0xFFFF {
			x.set(row, col, x.number(xf, math.Float64frombits(le64(b, 6))))
			return
		}
		switch b[6] {
		case 0:
			x.pendRow, x.pendCol = row, col
		case 1:
			x.set(row, col, boolErr(b[8], false))
		case 2:
			x.set(row, col, boolErr(b[8], true))
		}
	}
}

// set stores one cell, first emitting the row being collected if this cell
// belongs to another (BIFF writes rows in order, cells left to right).
func (x *xlsReader) set(row, col int, v string) {
	if col >= xlsMaxColumns {
		x.wideCols++
		return
	}
	if row != x.row {
		x.endRow()
		x.row = row
	}
	for len(x.cells) <= col {
		x.cells = append(x.cells, "")
	}
	x.cells[col] = v
}

// endRow writes the collected row like xlsxSheet: trailing empty cells
// trimmed, a line of text, then header or record.
func (x *xlsReader) endRow() {
	cells := x.cells
	x.cells = nil
	x.row = -1
	for len(cells) > 0 && strings.TrimSpace(cells[len(cells)-1]) == "" {
		cells = cells[:len(cells)-1]
	}
	if len(cells) == 0 {
		return
	}
	x.d.writeRow(cells)
	if x.header == nil {
		x.header = cells
		return
	}
	if !x.d.recordsFull {
		x.d.addRecord(x.header, cells)
	}
}

func (x *xlsReader) endSheet() {
	x.endRow()
	x.pendRow = -1
}

// readSST reads the shared string table from the SST record and its
// CONTINUE records. A string's characters may run on into the next
// record, which then starts with a fresh option byte (the encoding may
// change there); formatting runs and phonetic data continue as raw bytes.
func (x *xlsReader) readSST(segs [][]byte) {
	if len(segs[0]) < 8 {
		x.d.warnf("xls: SST record of %d bytes", len(segs[0]))
		return
	}
	unique := le32(segs[0], 4)
	segs[0] = segs[0][8:]
	total := 0
	for _, s := range segs {
		total += len(s)
	}
	// Each string takes at least 3 bytes: the declared count only bounds
	// the loop, never the allocation.
	x.sst = make([]string, 0, min(uint64(unique), uint64(total/3)))
	r := &contReader{segs: segs}
	for uint32(len(x.sst)) < unique {
		s, ok := x.richString(r)
		if !ok {
			x.d.warnf("xls: shared string table ends after %d of %d strings", len(x.sst), unique)
			return
		}
		x.sst = append(x.sst, s)
	}
}

// richString reads one XLUnicodeRichExtendedString.
func (x *xlsReader) richString(r *contReader) (string, bool) {
	cch, ok1 := r.u16()
	flags, ok2 := r.u8()
	if !ok1 || !ok2 {
		return "", false
	}
	var runs, ext uint32
	if flags&0x08 != 0 {
		n, ok := r.u16()
		if !ok {
			return "", false
		}
		runs = uint32(n)
	}
	if flags&0x04 != 0 {
		n, ok := r.u32()
		if !ok {
			return "", false
		}
		ext = n
	}
	s, ok := r.chars(int(cch), flags&0x01 != 0)
	if !ok {
		return s, false
	}
	if !r.skip(4*uint64(runs) + uint64(ext)) {
		return s, false
	}
	return s, true
}

// unicodeString reads an XLUnicodeString (count of lenBytes bytes, option
// byte, characters) from a record and its continuations.
func (x *xlsReader) unicodeString(segs [][]byte, lenBytes int) (string, bool) {
	r := &contReader{segs: segs}
	var cch int
	if lenBytes == 1 {
		n, ok := r.u8()
		if !ok {
			return "", false
		}
		cch = int(n)
	} else {
		n, ok := r.u16()
		if !ok {
			return "", false
		}
		cch = int(n)
	}
	flags, ok := r.u8()
	if !ok {
		return "", false
	}
	return r.chars(cch, flags&0x01 != 0)
}

// cellString reads a cell's XLUnicodeString, keeping what there is of a
// string cut short.
func (x *xlsReader) cellString(segs [][]byte) string {
	s, ok := x.unicodeString(segs, 2)
	if !ok {
		x.badStr++
	}
	return s
}

// string8 decodes a BIFF5 8-bit string in the workbook's code page.
func (x *xlsReader) string8(b []byte, n int) string {
	if n > len(b) {
		x.badStr++
	}
	return decodeSingleByte(b[:min(n, len(b))], x.cp)
}

// number renders a numeric cell; in a date or time format, as an ISO date
// (which the EDM layer's date parser reads unambiguously).
func (x *xlsReader) number(xf uint16, v float64) string {
	if int(xf) < len(x.xfFmt) {
		if f := x.xfFmt[xf]; builtinDateFormat(f) || x.dateFmt[f] {
			if s, ok := excelDate(v, x.date1904); ok {
				return s
			}
		}
	}
	return formatNumber(v)
}

// rkValue decodes an RK number: a 30-bit integer or the top 30 bits of a
// float64, optionally scaled by 1/100.
func rkValue(rk uint32) float64 {
	var v float64
	if rk&0x02 != 0 {
		v = float64(int32(rk) >> 2)
	} else {
		v = math.Float64frombits(uint64(rk&^3) << 32)
	}
	if rk&0x01 != 0 {
		v /= 100
	}
	return v
}

func boolErr(v byte, isErr bool) string {
	if !isErr {
		if v != 0 {
			return "TRUE"
		}
		return "FALSE"
	}
	switch v {
	case 0x00:
		return "#NULL!"
	case 0x07:
		return "#DIV/0!"
	case 0x0F:
		return "#VALUE!"
	case 0x17:
		return "#REF!"
	case 0x1D:
		return "#NAME?"
	case 0x24:
		return "#NUM!"
	case 0x2A:
		return "#N/A"
	}
	return "#ERR"
}

// formatNumber shows a number as Excel's General format would in its 15
// significant digits, without exponent for ordinary magnitudes.
func formatNumber(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "#NUM!"
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 15, 64), 64)
	if err != nil {
		r = v
	}
	if a := math.Abs(r); a >= 1e-9 && a < 1e21 {
		return strconv.FormatFloat(r, 'f', -1, 64)
	}
	return strconv.FormatFloat(r, 'g', -1, 64)
}

// builtinDateFormat: the built-in number formats that show dates or times
// (14-22, 45-47; 27-36 and 50-58 are the East Asian locales' dates).
func builtinDateFormat(f uint16) bool {
	switch {
	case f >= 14 && f <= 22, f >= 45 && f <= 47, f >= 27 && f <= 36, f >= 50 && f <= 58:
		return true
	}
	return false
}

// isDateFormat reports whether a custom number format shows a date or a
// time: a d, m, y, h or s outside quoted text, escapes and [colour] or
// [$-locale] brackets ([h] elapsed time counts).
func isDateFormat(code string) bool {
	for i := 0; i < len(code); i++ {
		switch c := code[i]; c {
		case '"':
			for i++; i < len(code) && code[i] != '"'; i++ {
			}
		case '\\', '_', '*':
			i++ // the next character is literal (or a fill or space width)
		case '[':
			j := strings.IndexByte(code[i:], ']')
			if j < 0 {
				return false
			}
			inner := strings.ToLower(code[i+1 : i+j])
			if inner != "" && strings.Trim(inner, "hms") == "" {
				return true
			}
			i += j
		case 'd', 'D', 'm', 'M', 'y', 'Y', 'h', 'H', 's', 'S':
			return true
		}
	}
	return false
}

// excelDate turns a date serial number into "2006-01-02", with the time if
// it has one ("15:04:05" alone below day 1). The 1900 system counts the
// non-existent 1900-02-29 (serial 60), as Lotus 1-2-3 did.
func excelDate(v float64, date1904 bool) (string, bool) {
	if v < 0 || v >= 2958466 || math.IsNaN(v) {
		return "", false
	}
	days := math.Floor(v)
	secs := int(math.Round((v - days) * 86400))
	if secs >= 86400 {
		days++
		secs -= 86400
	}
	clock := time.Duration(secs) * time.Second
	if days == 0 && !date1904 {
		return time.Time{}.Add(clock).Format("15:04:05"), true
	}
	var t time.Time
	switch {
	case date1904:
		t = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(days))
	case days == 60:
		return withClock("1900-02-29", clock), true
	case days < 60:
		t = time.Date(1899, 12, 31, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(days))
	default:
		t = time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC).AddDate(0, 0, int(days))
	}
	return withClock(t.Format("2006-01-02"), clock), true
}

func withClock(date string, clock time.Duration) string {
	if clock == 0 {
		return date
	}
	return date + " " + time.Time{}.Add(clock).Format("15:04:05")
}

// contReader reads a record's body and its CONTINUE records as one byte
// sequence, except that characters of a string crossing into the next
// record restart with an option byte there.
type contReader struct {
	segs [][]byte
	seg  int
	pos  int
}

// at moves to the next non-empty segment when the current one is used up;
// false at the end of the data.
func (r *contReader) at() bool {
	for r.seg < len(r.segs) && r.pos >= len(r.segs[r.seg]) {
		r.seg++
		r.pos = 0
	}
	return r.seg < len(r.segs)
}

func (r *contReader) u8() (byte, bool) {
	if !r.at() {
		return 0, false
	}
	b := r.segs[r.seg][r.pos]
	r.pos++
	return b, true
}

func (r *contReader) u16() (uint16, bool) {
	lo, ok1 := r.u8()
	hi, ok2 := r.u8()
	return uint16(lo) | uint16(hi)<<8, ok1 && ok2
}

func (r *contReader) u32() (uint32, bool) {
	lo, ok1 := r.u16()
	hi, ok2 := r.u16()
	return uint32(lo) | uint32(hi)<<16, ok1 && ok2
}

// skip passes over n raw bytes.
func (r *contReader) skip(n uint64) bool {
	for n > 0 {
		if !r.at() {
			return false
		}
		k := min(n, uint64(len(r.segs[r.seg])-r.pos))
		r.pos += int(k)
		n -= k
	}
	return true
}

// chars reads cch characters, 8-bit (Latin-1: UTF-16 with the high bytes
// dropped) or UTF-16LE as high says. Where a record ends mid-string, the
// next one begins with an option byte giving the encoding of the rest.
func (r *contReader) chars(cch int, high bool) (string, bool) {
	var sb strings.Builder
	var units []uint16
	for got := 0; got < cch; {
		if r.seg >= len(r.segs) {
			return sb.String(), false
		}
		if r.pos >= len(r.segs[r.seg]) {
			r.seg++
			r.pos = 0
			if r.seg >= len(r.segs) || len(r.segs[r.seg]) == 0 {
				return sb.String(), false
			}
			high = r.segs[r.seg][0]&0x01 != 0
			r.pos = 1
			continue
		}
		b := r.segs[r.seg][r.pos:]
		if high {
			k := min(cch-got, len(b)/2)
			if k == 0 { // an odd byte left: malformed
				return sb.String(), false
			}
			units = units[:0]
			for i := 0; i < k; i++ {
				units = append(units, le16(b, 2*i))
			}
			for _, c := range utf16.Decode(units) {
				sb.WriteRune(c)
			}
			r.pos += 2 * k
			got += k
		} else {
			k := min(cch-got, len(b))
			for _, c := range b[:k] {
				sb.WriteRune(rune(c))
			}
			r.pos += k
			got += k
		}
	}
	return sb.String(), true
}

func le64(b []byte, off int) uint64 { return uint64(le32(b, off)) | uint64(le32(b, off+4))<<32 }
