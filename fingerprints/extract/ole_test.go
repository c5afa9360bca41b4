package extract

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"golang.org/x/text/encoding/charmap"
)

// ---- test-only Compound File Binary writer ---------------------------
//
// Version 3 (512-byte sectors), every stream under the root storage.
// Streams under 4096 bytes go to the mini stream (64-byte mini sectors),
// larger ones to regular sectors, as Office does. Only up to 109 FAT
// sectors (about 7 MB), which is all these tests need.

const (
	cfbSector   = 512
	cfbMini     = 64
	cfbCutoff   = 4096
	cfbEnd      = 0xFFFFFFFE
	cfbFree     = 0xFFFFFFFF
	cfbFATSect  = 0xFFFFFFFD
	cfbNoStream = 0xFFFFFFFF
)

type cfbStream struct {
	name string
	data []byte
}

// cfbLayout is a built compound file and where its parts went, so tests
// can corrupt them.
type cfbLayout struct {
	data       []byte
	fatSectors []uint32          // sector numbers of the FAT
	dirSector  uint32            // first directory sector
	miniStart  uint32            // first sector of the mini stream container
	entry      map[string]int    // directory entry index of each stream
	start      map[string]uint32 // first (mini) sector of each stream
}

func sectorOffset(sn uint32) int { return int(sn+1) * cfbSector }

// fatEntryOffset is the byte offset of sector sn's FAT entry.
func (l *cfbLayout) fatEntryOffset(sn uint32) int {
	return sectorOffset(l.fatSectors[sn/(cfbSector/4)]) + 4*int(sn%(cfbSector/4))
}

func (l *cfbLayout) setFAT(sn, next uint32) {
	binary.LittleEndian.PutUint32(l.data[l.fatEntryOffset(sn):], next)
}

// dirEntryOffset is the byte offset of a stream's directory entry (the
// directory fits in consecutive sectors here).
func (l *cfbLayout) dirEntryOffset(name string) int {
	return sectorOffset(l.dirSector) + 128*l.entry[name]
}

func (l *cfbLayout) setSize(name string, size uint32) {
	binary.LittleEndian.PutUint32(l.data[l.dirEntryOffset(name)+120:], size)
}

func buildCFB(t testing.TB, streams ...cfbStream) *cfbLayout {
	t.Helper()
	l := &cfbLayout{entry: map[string]int{}, start: map[string]uint32{}}
	var sectors [][]byte
	var fat []uint32
	alloc := func(b []byte) uint32 {
		if len(b) == 0 {
			return cfbEnd
		}
		first := uint32(len(sectors))
		for off := 0; off < len(b); off += cfbSector {
			s := make([]byte, cfbSector)
			copy(s, b[off:])
			sectors = append(sectors, s)
			fat = append(fat, uint32(len(sectors)))
		}
		fat[len(fat)-1] = cfbEnd
		return first
	}
	// Mini stream first (it is one regular chain), then big streams.
	var mini []byte
	var miniFAT []uint32
	for _, s := range streams {
		if len(s.data) >= cfbCutoff || len(s.data) == 0 {
			continue
		}
		l.start[s.name] = uint32(len(mini) / cfbMini)
		n := (len(s.data) + cfbMini - 1) / cfbMini
		for i := 0; i < n; i++ {
			miniFAT = append(miniFAT, uint32(len(miniFAT)+1))
		}
		miniFAT[len(miniFAT)-1] = cfbEnd
		padded := make([]byte, n*cfbMini)
		copy(padded, s.data)
		mini = append(mini, padded...)
	}
	l.miniStart = alloc(mini)
	for _, s := range streams {
		switch {
		case len(s.data) == 0:
			l.start[s.name] = cfbEnd
		case len(s.data) >= cfbCutoff:
			l.start[s.name] = alloc(s.data)
		}
	}
	miniFATStart := uint32(cfbEnd)
	if len(miniFAT) > 0 {
		b := make([]byte, 4*len(miniFAT))
		for i, v := range miniFAT {
			binary.LittleEndian.PutUint32(b[4*i:], v)
		}
		miniFATStart = alloc(b)
	}
	nMiniFAT := (4*len(miniFAT) + cfbSector - 1) / cfbSector

	// Directory: root, then the streams; the root's child is a balanced
	// binary tree of the streams in the format's order (length, then
	// upper case).
	order := make([]int, len(streams))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool {
		na, nb := streams[order[a]].name, streams[order[b]].name
		if len(na) != len(nb) {
			return len(na) < len(nb)
		}
		return strings.ToUpper(na) < strings.ToUpper(nb)
	})
	left := make([]uint32, len(streams)+1)
	right := make([]uint32, len(streams)+1)
	for i := range left {
		left[i], right[i] = cfbNoStream, cfbNoStream
	}
	var tree func(lo, hi int) uint32
	tree = func(lo, hi int) uint32 {
		if lo >= hi {
			return cfbNoStream
		}
		mid := (lo + hi) / 2
		id := order[mid] + 1
		left[id] = tree(lo, mid)
		right[id] = tree(mid+1, hi)
		return uint32(id)
	}
	rootChild := tree(0, len(streams))
	nEntries := (len(streams) + 1 + 3) &^ 3
	dir := make([]byte, 128*nEntries)
	entry := func(i int, name string, typ byte, child, start uint32, size int) {
		e := dir[128*i:]
		u := utf16.Encode([]rune(name))
		if len(u) > 31 {
			t.Fatalf("CFB name %q too long", name)
		}
		for k, c := range u {
			binary.LittleEndian.PutUint16(e[2*k:], c)
		}
		binary.LittleEndian.PutUint16(e[64:], uint16(2*(len(u)+1)))
		e[66] = typ
		e[67] = 1 // black
		binary.LittleEndian.PutUint32(e[68:], left[i])
		binary.LittleEndian.PutUint32(e[72:], right[i])
		binary.LittleEndian.PutUint32(e[76:], child)
		binary.LittleEndian.PutUint32(e[116:], start)
		binary.LittleEndian.PutUint32(e[120:], uint32(size))
	}
	entry(0, "Root Entry", 5, rootChild, l.miniStart, len(mini))
	for i, s := range streams {
		l.entry[s.name] = i + 1
		entry(i+1, s.name, 2, cfbNoStream, l.start[s.name], len(s.data))
	}
	for i := len(streams) + 1; i < nEntries; i++ {
		e := dir[128*i:]
		for _, off := range []int{68, 72, 76} {
			binary.LittleEndian.PutUint32(e[off:], cfbNoStream)
		}
	}
	l.dirSector = alloc(dir)

	// The FAT covers every sector, its own included.
	nFAT := 1
	for (len(sectors)+nFAT+cfbSector/4-1)/(cfbSector/4) > nFAT {
		nFAT++
	}
	if nFAT > 109 {
		t.Fatalf("test CFB too big: %d FAT sectors", nFAT)
	}
	for i := 0; i < nFAT; i++ {
		l.fatSectors = append(l.fatSectors, uint32(len(sectors)))
		sectors = append(sectors, make([]byte, cfbSector))
		fat = append(fat, cfbFATSect)
	}
	for len(fat) < nFAT*cfbSector/4 {
		fat = append(fat, cfbFree)
	}
	for i, v := range fat {
		binary.LittleEndian.PutUint32(sectors[l.fatSectors[i/(cfbSector/4)]][4*(i%(cfbSector/4)):], v)
	}

	h := make([]byte, cfbSector)
	copy(h, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
	binary.LittleEndian.PutUint16(h[24:], 0x3E)
	binary.LittleEndian.PutUint16(h[26:], 3)
	binary.LittleEndian.PutUint16(h[28:], 0xFFFE)
	binary.LittleEndian.PutUint16(h[30:], 9)
	binary.LittleEndian.PutUint16(h[32:], 6)
	binary.LittleEndian.PutUint32(h[44:], uint32(nFAT))
	binary.LittleEndian.PutUint32(h[48:], l.dirSector)
	binary.LittleEndian.PutUint32(h[56:], cfbCutoff)
	binary.LittleEndian.PutUint32(h[60:], miniFATStart)
	binary.LittleEndian.PutUint32(h[64:], uint32(nMiniFAT))
	binary.LittleEndian.PutUint32(h[68:], cfbEnd)
	for i := 0; i < 109; i++ {
		v := uint32(cfbFree)
		if i < nFAT {
			v = l.fatSectors[i]
		}
		binary.LittleEndian.PutUint32(h[76+4*i:], v)
	}
	l.data = append(l.data, h...)
	for _, s := range sectors {
		l.data = append(l.data, s...)
	}
	return l
}

// ---- test-only Word 97 writer -----------------------------------------

type docTestPiece struct {
	text  string // Word's characters, control codes included
	utf16 bool   // stored as UTF-16LE; else 8-bit Windows-1252
}

// docFIBLen: FibBase, csw + 14 words, cslw + 22 longs, cbRgFcLcb + 93
// pairs (Word 97), cswNew.
const docFIBLen = 32 + 2 + 28 + 2 + 88 + 2 + 93*8 + 2

// buildWordDocument assembles the WordDocument and 1Table streams for the
// pieces, storing their bytes in reverse order so that reading them in
// stream order would scramble the text.
func buildWordDocument(t testing.TB, pieces []docTestPiece) (wd, table []byte) {
	t.Helper()
	wd = make([]byte, 0x600)
	fcs := make([]uint32, len(pieces))
	cps := []uint32{0}
	for i := len(pieces) - 1; i >= 0; i-- {
		p := pieces[i]
		off := uint32(len(wd))
		if p.utf16 {
			for _, u := range utf16.Encode([]rune(p.text)) {
				wd = binary.LittleEndian.AppendUint16(wd, u)
			}
			fcs[i] = off
		} else {
			b, err := charmap.Windows1252.NewEncoder().Bytes([]byte(p.text))
			if err != nil {
				t.Fatalf("piece %d not Windows-1252: %v", i, err)
			}
			wd = append(wd, b...)
			fcs[i] = pcdCompressed | 2*off
		}
	}
	textEnd := len(wd)
	for _, p := range pieces {
		n := len([]rune(p.text))
		if p.utf16 {
			n = len(utf16.Encode([]rune(p.text)))
		}
		cps = append(cps, cps[len(cps)-1]+uint32(n))
	}
	for len(wd) < 2*cfbCutoff { // a regular (not mini) stream, as Word writes
		wd = append(wd, 0)
	}
	var plc []byte
	for _, cp := range cps {
		plc = binary.LittleEndian.AppendUint32(plc, cp)
	}
	for _, fc := range fcs {
		plc = binary.LittleEndian.AppendUint16(plc, 0)
		plc = binary.LittleEndian.AppendUint32(plc, fc)
		plc = binary.LittleEndian.AppendUint16(plc, 0)
	}
	// A Prc first, as Word writes for pieces with direct formatting.
	table = []byte{1, 3, 0, 0x55, 0x08, 0x01}
	table = append(table, 2)
	table = binary.LittleEndian.AppendUint32(table, uint32(len(plc)))
	table = append(table, plc...)
	clxLen := len(table)
	// An empty style sheet after it (cbStshi, then a Stshi with no
	// styles): this reader ignores it, antiword reads past its end
	// without one.
	table = append(table, 18, 0, 0, 0, 10, 0)
	table = append(table, make([]byte, 14)...)

	fib := wd[:docFIBLen]
	binary.LittleEndian.PutUint16(fib[0:], fibWIdent)
	binary.LittleEndian.PutUint16(fib[2:], 0x00C1) // Word 97
	binary.LittleEndian.PutUint16(fib[6:], 0x0409)
	binary.LittleEndian.PutUint16(fib[fibFlagsOff:], fibWhichTblStm|0x1000) // 1Table, fExtChar
	binary.LittleEndian.PutUint16(fib[0x0C:], 0x00BF)
	binary.LittleEndian.PutUint32(fib[fibFcMinOff:], 0x600)
	binary.LittleEndian.PutUint32(fib[fibFcMacOff:], uint32(textEnd))
	binary.LittleEndian.PutUint16(fib[32:], 14)
	binary.LittleEndian.PutUint16(fib[62:], 22)
	rgLw := fib[64:]
	binary.LittleEndian.PutUint32(rgLw[0:], uint32(len(wd)))  // cbMac
	binary.LittleEndian.PutUint32(rgLw[12:], cps[len(cps)-1]) // ccpText
	binary.LittleEndian.PutUint16(fib[152:], 93)
	fcLcb := fib[154:]
	binary.LittleEndian.PutUint32(fcLcb[8:], uint32(clxLen)) // fcStshf
	binary.LittleEndian.PutUint32(fcLcb[12:], uint32(len(table)-clxLen))
	binary.LittleEndian.PutUint32(fcLcb[8*fibClxIndex:], 0)
	binary.LittleEndian.PutUint32(fcLcb[8*fibClxIndex+4:], uint32(clxLen))
	return wd, table
}

// docClxLcb is the lcbClx buildWordDocument wrote (its Clx is at the
// start of the table stream); setDocClx rewrites fcClx/lcbClx.
func docClxLcb(wd []byte) int {
	return int(binary.LittleEndian.Uint32(wd[154+8*fibClxIndex+4:]))
}

func setDocClx(wd []byte, fc, lcb uint32) {
	binary.LittleEndian.PutUint32(wd[154+8*fibClxIndex:], fc)
	binary.LittleEndian.PutUint32(wd[154+8*fibClxIndex+4:], lcb)
}

func buildDOCLayout(t testing.TB, pieces []docTestPiece) *cfbLayout {
	t.Helper()
	wd, table := buildWordDocument(t, pieces)
	return buildCFB(t, cfbStream{"WordDocument", wd}, cfbStream{"1Table", table},
		cfbStream{"\x05SummaryInformation", make([]byte, 200)})
}

// Synthetic letter: one 8-bit piece and one UTF-16 piece, with a
// hyperlink field crossing between them, a nested field, a table, a page
// break and characters from both halves of Windows-1252 and beyond.
var (
	docTestPieces = []docTestPiece{
		{text: "Patient record\r" +
			"NHI " + nhi1 + " " + name1 + " \u2013 Caf\u00e9 \u20ac5\x02\r" +
			"\x13 HYPERLINK \"http://example.invalid/\" "},
		{utf16: true, text: "\x14clinic site\x15\r" +
			"Wh\u0101nau: " + name2 + "\x0bTable:\r" +
			nhi2 + "\x07" + name2 + "\x07\x07" +
			nhi3 + "\x07H\u0113mi Testperson\x07\x07" +
			"End\x0cPage two \U0001F600\r" +
			"\x13 IF \x13 DATE \x14x\x15 = 1 \x14yes\x15\r"},
	}
	docTestText = "Patient record\n" +
		"NHI " + nhi1 + " " + name1 + " \u2013 Caf\u00e9 \u20ac5\n" +
		"clinic site\n" +
		"Wh\u0101nau: " + name2 + "\nTable:\n" +
		nhi2 + "\t" + name2 + "\n" +
		nhi3 + "\tH\u0113mi Testperson\n" +
		"End\nPage two \U0001F600\n" +
		"yes\n"
)

func TestOLEDoc(t *testing.T) {
	res := mustExtract(t, buildDOCLayout(t, docTestPieces).data)
	if res.Type != TypeOLE {
		t.Errorf("type %s", res.Type)
	}
	if res.Text != docTestText {
		t.Errorf("text:\n%q\nwant:\n%q", res.Text, docTestText)
	}
	if len(res.Warnings) > 0 {
		t.Errorf("warnings: %q", res.Warnings)
	}
}

// TestOLEDocLarge: streams of hundreds of kilobytes, read in several
// chunks over several FAT sectors.
func TestOLEDocLarge(t *testing.T) {
	var pieces []docTestPiece
	var want strings.Builder
	for i := 0; i < 6; i++ {
		line := fmt.Sprintf("Line %d for %s, %s, Caf\u00e9.", i, nhi1, name1)
		if i%2 == 1 {
			line += " Wh\u0101nau."
		}
		text := strings.Repeat(line+"\r", 30000/len(line))
		pieces = append(pieces, docTestPiece{text: text, utf16: i%2 == 1})
		want.WriteString(strings.ReplaceAll(text, "\r", "\n"))
	}
	l := buildDOCLayout(t, pieces)
	if len(l.data) < 200<<10 {
		t.Fatalf("test file only %d bytes", len(l.data))
	}
	res := mustExtract(t, l.data)
	if res.Text != want.String() {
		t.Errorf("text differs: %d bytes, want %d", len(res.Text), want.Len())
	}
}

// TestOLEDocFields: field codes are dropped at any depth, results kept,
// and unbalanced marks do not swallow the rest of the document.
func TestOLEDocFields(t *testing.T) {
	for in, want := range map[string]string{
		"a\x13 PAGE \x14" + "3\x15b":             "a3b",
		"a\x13 XE \"x\" \x15b":                   "ab",
		"\x13 A \x14r1\x13 B \x14r2\x15r3\x15\r": "r1r2r3\n",
		"a\x15\x15b\x14c":                        "abc",
		"a\x07\x07\x07x\x07y":                    "a\n\tx\ty",
		"a\x1eb\x1fc\x01\x08\x05d\te":            "a-bcd\te",
		"x\r\r\r\x0c\x0by":                       "x\ny",
	} {
		d := newDoc(context.Background(), TypeOLE, testLimits().withDefaults())
		w := newDocText(d)
		for _, r := range in {
			w.char(r)
		}
		w.flush()
		if got := d.text.String(); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
	d := newDoc(context.Background(), TypeOLE, testLimits().withDefaults())
	w := newDocText(d)
	for i := 0; i < 3*maxFieldDepth; i++ {
		w.char(0x13)
	}
	for i := 0; i < 3*maxFieldDepth; i++ {
		w.char(0x15)
	}
	for _, r := range "after" {
		w.char(r)
	}
	w.flush()
	if got := d.text.String(); got != "after" {
		t.Errorf("deep fields: got %q", got)
	}
}

// TestOLEDocWord95: the documented best effort for pre-97 files.
func TestOLEDocWord95(t *testing.T) {
	wd := make([]byte, 0x1200)
	text := "Old memo about " + nhi1 + " for " + name1 + " \xe9\r"
	binary.LittleEndian.PutUint16(wd[0:], fibWIdent)
	binary.LittleEndian.PutUint16(wd[2:], 0x65) // Word 6
	binary.LittleEndian.PutUint32(wd[fibFcMinOff:], 0x300)
	binary.LittleEndian.PutUint32(wd[fibFcMacOff:], uint32(0x300+len(text)))
	copy(wd[0x300:], text)
	res := mustExtract(t, buildCFB(t, cfbStream{"WordDocument", wd}).data)
	if want := "Old memo about " + nhi1 + " for " + name1 + " \u00e9\n"; res.Text != want {
		t.Errorf("text %q, want %q", res.Text, want)
	}
	wantErrOrWarning(t, res, nil, "Word 6/95")
}

// ---- test-only BIFF8 writer ---------------------------------------------

func biffRec(typ uint16, parts ...[]byte) []byte {
	var body []byte
	for _, p := range parts {
		body = append(body, p...)
	}
	out := binary.LittleEndian.AppendUint16(nil, typ)
	out = binary.LittleEndian.AppendUint16(out, uint16(len(body)))
	return append(out, body...)
}

func u16b(vs ...int) []byte {
	var b []byte
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return b
}

func u32b(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func f64b(v float64) []byte { return binary.LittleEndian.AppendUint64(nil, math.Float64bits(v)) }

// xlsChars encodes characters 8-bit (Latin-1) or UTF-16LE.
func xlsChars(s string, high bool) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		if high {
			b = binary.LittleEndian.AppendUint16(b, u)
		} else {
			b = append(b, byte(u))
		}
	}
	return b
}

// xlsString is an XLUnicodeString: 16-bit count, option byte, characters.
func xlsString(s string, high bool) []byte {
	flags := byte(0)
	if high {
		flags = 1
	}
	b := append(u16b(len(utf16.Encode([]rune(s)))), flags)
	return append(b, xlsChars(s, high)...)
}

func xlsBOF(dt int) []byte {
	return biffRec(biffBOF, u16b(biff8Version, dt, 0x0DBB, 0x07CC), u32b(0), u32b(6))
}

func xlsCell(typ uint16, row, col, xf int, rest ...[]byte) []byte {
	return biffRec(typ, append([][]byte{u16b(row, col, xf)}, rest...)...)
}

func rkInt(n int) []byte       { return u32b(uint32(int32(n)<<2) | 2) }
func rkX100(n int) []byte      { return u32b(uint32(int32(n)<<2) | 3) }
func rkFloat(f float64) []byte { return u32b(uint32(math.Float64bits(f) >> 32)) }

// formulaResult is FORMULA's cached value for a non-number result.
func formulaResult(kind, val byte) []byte {
	return []byte{kind, 0, val, 0, 0, 0, 0xFF, 0xFF}
}

func xlsFormula(row, col, xf int, result []byte) []byte {
	return xlsCell(biffFORMULA, row, col, xf, result, u16b(0), u32b(0), u16b(0))
}

func excelSerial(y int, m time.Month, d int) int {
	return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Sub(time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)).Hours() / 24)
}

// xlsTestSST is the shared string table, split over CONTINUE records at
// every kind of boundary Excel uses: inside a string's characters (with a
// change from 8-bit to UTF-16), between formatting runs, inside phonetic
// data, and between a string's header and its characters.
func xlsTestSST() (strs []string, records []byte) {
	strs = []string{"NHI", "Name", "DOB", "Note", "Score", nhi1, name1, nhi2,
		"Wh\u0101nau contact", "follow-up due", "Code", "Count", "Ward 7", "\u30c6\u30b9\u30c8"}
	var seg0, seg1, seg2, seg3, seg4 []byte
	seg0 = append(u32b(uint32(len(strs)+3)), u32b(uint32(len(strs)))...)
	for _, s := range strs[:8] {
		seg0 = append(seg0, xlsString(s, false)...)
	}
	// 8: "Wh" 8-bit, then the rest as UTF-16 after a new option byte.
	seg0 = append(seg0, u16b(14)...)
	seg0 = append(seg0, 0)
	seg0 = append(seg0, xlsChars("Wh", false)...)
	seg1 = append([]byte{1}, xlsChars("\u0101nau contact", true)...)
	// 9: rich text, its two formatting runs in two records.
	seg1 = append(seg1, u16b(13)...)
	seg1 = append(seg1, 0x08)
	seg1 = append(seg1, u16b(2)...)
	seg1 = append(seg1, xlsChars("follow-up due", false)...)
	seg1 = append(seg1, 0, 0, 1, 0)
	seg2 = []byte{4, 0, 2, 0}
	// 10: phonetic block (10 bytes) split 4+6.
	seg2 = append(seg2, u16b(4)...)
	seg2 = append(seg2, 0x04)
	seg2 = append(seg2, u32b(10)...)
	seg2 = append(seg2, xlsChars("Code", false)...)
	seg2 = append(seg2, 1, 2, 3, 4)
	seg3 = []byte{5, 6, 7, 8, 9, 10}
	// 11 whole; 12's header ends the record, its characters follow.
	seg3 = append(seg3, xlsString("Count", false)...)
	seg3 = append(seg3, u16b(6)...)
	seg3 = append(seg3, 0)
	seg4 = append([]byte{0}, xlsChars("Ward 7", false)...)
	seg4 = append(seg4, xlsString("\u30c6\u30b9\u30c8", true)...)
	records = biffRec(biffSST, seg0)
	for _, s := range [][]byte{seg1, seg2, seg3, seg4} {
		records = append(records, biffRec(biffCONTINUE, s)...)
	}
	return strs, records
}

// buildWorkbook assembles a BIFF8 Workbook stream: globals (code page,
// date mode, number formats, cell styles, two sheets, the SST), a first
// sheet with every cell kind read and an embedded chart, a second sheet
// with its own header. extra records go right after the globals' BOF.
func buildWorkbook(t testing.TB, extra ...[]byte) []byte {
	t.Helper()
	strs, sst := xlsTestSST()
	idx := func(s string) []byte {
		for i, v := range strs {
			if v == s {
				return u32b(uint32(i))
			}
		}
		t.Fatalf("no SST string %q", s)
		return nil
	}
	labelSST := func(row, col int, s string) []byte { return xlsCell(biffLABELSST, row, col, 0, idx(s)) }
	xf := func(ifmt int) []byte { return biffRec(biffXF, u16b(0, ifmt), make([]byte, 16)) }
	boundSheet := func(pos int, name string) []byte {
		return biffRec(0x0085, u32b(uint32(pos)), []byte{0, 0, byte(len(name)), 0}, []byte(name))
	}
	globals := func(sheet1, sheet2 int) []byte {
		g := xlsBOF(bofGlobals)
		for _, e := range extra {
			g = append(g, e...)
		}
		g = append(g, biffRec(biffCODEPAGE, u16b(1200))...)
		g = append(g, biffRec(biffDATEMODE, u16b(0))...)
		g = append(g, biffRec(biffFORMAT, u16b(164), xlsString("dd/mm/yyyy", false))...)
		g = append(g, biffRec(biffFORMAT, u16b(165), xlsString(`0.0" days"`, false))...)
		g = append(g, xf(0)...)
		g = append(g, xf(14)...)
		g = append(g, xf(164)...)
		g = append(g, xf(165)...)
		g = append(g, boundSheet(sheet1, "Patients")...)
		g = append(g, boundSheet(sheet2, "Wards")...)
		g = append(g, sst...)
		return append(g, biffRec(biffEOF)...)
	}
	var s1 []byte
	s1 = append(s1, xlsBOF(bofWorksheet)...)
	s1 = append(s1, biffRec(0x0200, u32b(0), u32b(5), u16b(0, 5, 0))...) // DIMENSIONS
	for col, h := range []string{"NHI", "Name", "DOB", "Note", "Score"} {
		s1 = append(s1, labelSST(0, col, h)...)
	}
	s1 = append(s1, labelSST(1, 0, nhi1)...)
	s1 = append(s1, labelSST(1, 1, name1)...)
	s1 = append(s1, xlsCell(biffNUMBER, 1, 2, 1, f64b(float64(excelSerial(1985, 3, 15))))...)
	s1 = append(s1, labelSST(1, 3, "Wh\u0101nau contact")...)
	s1 = append(s1, xlsCell(biffRK, 1, 4, 0, rkInt(42))...)
	s1 = append(s1, labelSST(2, 0, nhi2)...)
	s1 = append(s1, xlsCell(biffLABEL, 2, 1, 0, xlsString(name2, true))...)
	s1 = append(s1, xlsCell(biffRK, 2, 2, 2, rkInt(excelSerial(2001, 12, 25)))...)
	s1 = append(s1, xlsFormula(2, 3, 0, formulaResult(0, 0))...)
	s1 = append(s1, biffRec(biffSHRFMLA, make([]byte, 10))...)
	s1 = append(s1, biffRec(biffSTRING, xlsString("see notes", false))...)
	s1 = append(s1, xlsCell(biffRK, 2, 4, 0, rkX100(1234))...)
	s1 = append(s1, xlsCell(biffLABEL, 3, 0, 0, xlsString(nhi3, false))...)
	s1 = append(s1, xlsCell(biffBOOLERR, 3, 1, 0, []byte{1, 0})...)
	s1 = append(s1, biffRec(biffMULRK, u16b(3, 2), u16b(0), rkFloat(3.5), u16b(0), rkInt(1000), u16b(3), rkInt(7), u16b(4))...)
	s1 = append(s1, xlsFormula(4, 0, 0, f64b(0.1+0.2))...)
	s1 = append(s1, xlsFormula(4, 1, 0, formulaResult(1, 0))...)
	s1 = append(s1, xlsFormula(4, 2, 0, formulaResult(2, 0x07))...)
	s1 = append(s1, labelSST(4, 3, "follow-up due")...)
	s1 = append(s1, xlsCell(biffNUMBER, 4, 4, 0, f64b(1e20))...)
	// An embedded chart: its own substream, whose records are no cells.
	s1 = append(s1, xlsBOF(0x0020)...)
	s1 = append(s1, xlsCell(biffNUMBER, 0, 0, 0, f64b(999))...)
	s1 = append(s1, biffRec(biffEOF)...)
	s1 = append(s1, biffRec(biffEOF)...)

	var s2 []byte
	s2 = append(s2, xlsBOF(bofWorksheet)...)
	s2 = append(s2, labelSST(0, 0, "Code")...)
	s2 = append(s2, labelSST(0, 1, "Count")...)
	s2 = append(s2, labelSST(1, 0, "Ward 7")...)
	s2 = append(s2, xlsCell(biffRK, 1, 1, 3, rkInt(12))...)
	s2 = append(s2, labelSST(2, 0, "\u30c6\u30b9\u30c8")...)
	s2 = append(s2, biffRec(biffEOF)...)

	g := globals(0, 0)
	return append(append(globals(len(g), len(g)+len(s1)), s1...), s2...)
}

var (
	xlsTestText = "NHI\tName\tDOB\tNote\tScore\n" +
		nhi1 + "\t" + name1 + "\t1985-03-15\tWh\u0101nau contact\t42\n" +
		nhi2 + "\t" + name2 + "\t2001-12-25\tsee notes\t12.34\n" +
		nhi3 + "\tTRUE\t3.5\t1000\t7\n" +
		"0.3\tFALSE\t#DIV/0!\tfollow-up due\t100000000000000000000\n" +
		"Code\tCount\n" +
		"Ward 7\t12\n" +
		"\u30c6\u30b9\u30c8\n"
	xlsTestHeader1 = []string{"NHI", "Name", "DOB", "Note", "Score"}
	xlsTestHeader2 = []string{"Code", "Count"}
	xlsTestRecords = []Record{
		{Columns: xlsTestHeader1, Values: []string{nhi1, name1, "1985-03-15", "Wh\u0101nau contact", "42"}},
		{Columns: xlsTestHeader1, Values: []string{nhi2, name2, "2001-12-25", "see notes", "12.34"}},
		{Columns: xlsTestHeader1, Values: []string{nhi3, "TRUE", "3.5", "1000", "7"}},
		{Columns: xlsTestHeader1, Values: []string{"0.3", "FALSE", "#DIV/0!", "follow-up due", "100000000000000000000"}},
		{Columns: xlsTestHeader2, Values: []string{"Ward 7", "12"}},
		{Columns: xlsTestHeader2, Values: []string{"\u30c6\u30b9\u30c8"}},
	}
)

func buildXLSLayout(t testing.TB, extra ...[]byte) *cfbLayout {
	t.Helper()
	return buildCFB(t, cfbStream{"Workbook", buildWorkbook(t, extra...)},
		cfbStream{"\x05SummaryInformation", make([]byte, 200)})
}

func TestOLEXLS(t *testing.T) {
	res := mustExtract(t, buildXLSLayout(t).data)
	if res.Text != xlsTestText {
		t.Errorf("text:\n%q\nwant:\n%q", res.Text, xlsTestText)
	}
	if !reflect.DeepEqual(res.Records, xlsTestRecords) {
		t.Errorf("records:\n%q\nwant:\n%q", res.Records, xlsTestRecords)
	}
	if len(res.Warnings) > 0 {
		t.Errorf("warnings: %q", res.Warnings)
	}
}

// TestOLEXLSBIFF5: an Excel 5/95 "Book" stream, 8-bit strings in the
// workbook's code page.
func TestOLEXLSBIFF5(t *testing.T) {
	bof := func(dt int) []byte { return biffRec(biffBOF, u16b(biff5Version, dt, 0, 0)) }
	label := func(row, col int, s string) []byte {
		b, err := charmap.Windows1252.NewEncoder().Bytes([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return xlsCell(biffLABEL, row, col, 0, u16b(len(b)), b)
	}
	var wb []byte
	wb = append(wb, bof(bofGlobals)...)
	wb = append(wb, biffRec(biffCODEPAGE, u16b(1252))...)
	wb = append(wb, biffRec(biffXF, u16b(0, 0), make([]byte, 12))...)
	wb = append(wb, biffRec(biffXF, u16b(0, 15), make([]byte, 12))...)
	wb = append(wb, biffRec(biffFORMAT, u16b(164), []byte{8}, []byte("d/m/yyyy"))...)
	wb = append(wb, biffRec(biffXF, u16b(0, 164), make([]byte, 12))...)
	boundSheet := len(wb)
	wb = append(wb, biffRec(0x0085, u32b(0), u16b(0), []byte{5}, []byte("Sheet"))...)
	wb = append(wb, biffRec(biffEOF)...)
	binary.LittleEndian.PutUint32(wb[boundSheet+4:], uint32(len(wb)))
	wb = append(wb, bof(bofWorksheet)...)
	wb = append(wb, label(0, 0, "Name")...)
	wb = append(wb, label(0, 1, "Ward")...)
	wb = append(wb, label(0, 2, "Admitted")...)
	wb = append(wb, label(0, 3, "Status")...)
	wb = append(wb, label(0, 4, "Born")...)
	wb = append(wb, label(1, 0, name1)...)
	wb = append(wb, label(1, 1, "Caf\u00e9 \u2013 East")...)
	wb = append(wb, xlsCell(biffNUMBER, 1, 2, 1, f64b(float64(excelSerial(1999, 7, 4))+0.75))...)
	wb = append(wb, xlsFormula(1, 3, 0, formulaResult(0, 0))...)
	wb = append(wb, biffRec(biffSTRING, u16b(2), []byte("ok"))...)
	wb = append(wb, xlsCell(biffRK, 1, 4, 2, rkInt(excelSerial(1970, 1, 2)))...)
	wb = append(wb, biffRec(biffEOF)...)
	res := mustExtract(t, buildCFB(t, cfbStream{"Book", wb}).data)
	want := "Name\tWard\tAdmitted\tStatus\tBorn\n" + name1 + "\tCaf\u00e9 \u2013 East\t1999-07-04 18:00:00\tok\t1970-01-02\n"
	if res.Text != want {
		t.Errorf("text %q, want %q", res.Text, want)
	}
	if len(res.Records) != 1 || len(res.Records[0].Values) != 5 || res.Records[0].Columns[2] != "Admitted" {
		t.Errorf("records %q", res.Records)
	}
}

func TestOLEXLSValues(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {-3, "-3"}, {0.1 + 0.2, "0.3"}, {1.5e-12, "1.5e-12"}, {123456.789, "123456.789"},
		{1e15, "1000000000000000"}, {math.NaN(), "#NUM!"},
	} {
		if got := formatNumber(c.v); got != c.want {
			t.Errorf("formatNumber(%v) = %q, want %q", c.v, got, c.want)
		}
	}
	for _, c := range []struct {
		v        float64
		date1904 bool
		want     string
	}{
		{1, false, "1900-01-01"}, {59, false, "1900-02-28"}, {60, false, "1900-02-29"},
		{61, false, "1900-03-01"}, {31121.5, false, "1985-03-15 12:00:00"}, {0.25, false, "06:00:00"},
		{0, true, "1904-01-01"}, {1, true, "1904-01-02"},
	} {
		if got, ok := excelDate(c.v, c.date1904); !ok || got != c.want {
			t.Errorf("excelDate(%v, %v) = %q, want %q", c.v, c.date1904, got, c.want)
		}
	}
	if _, ok := excelDate(-1, false); ok {
		t.Error("negative serial read as a date")
	}
	for code, want := range map[string]bool{
		"dd/mm/yyyy": true, "[$-409]d-mmm-yy;@": true, "h:mm AM/PM": true, "[h]:mm": true,
		"0.00": false, `0.0" days"`: false, "[Red]#,##0": false, "General": false, `\d0`: false, "_-* #,##0": false,
	} {
		if got := isDateFormat(code); got != want {
			t.Errorf("isDateFormat(%q) = %v", code, got)
		}
	}
	if v := rkValue(binary.LittleEndian.Uint32(rkInt(-5))); v != -5 {
		t.Errorf("rk -5 = %v", v)
	}
	if v := rkValue(binary.LittleEndian.Uint32(rkX100(-1234))); v != -12.34 {
		t.Errorf("rk -12.34 = %v", v)
	}
}

// ---- other compound files and encryption ------------------------------

func TestOLEOtherAndEncrypted(t *testing.T) {
	res := mustExtract(t, buildCFB(t, cfbStream{"PowerPoint Document", make([]byte, 5000)}).data)
	wantErrOrWarning(t, res, nil, "no text extractor")

	// Encrypted Word: fEncrypted in the FIB (the table stream is then RC4).
	l := buildDOCLayout(t, docTestPieces)
	off := sectorOffset(l.start["WordDocument"]) + fibFlagsOff
	binary.LittleEndian.PutUint16(l.data[off:], binary.LittleEndian.Uint16(l.data[off:])|fibEncrypted)
	// Encrypted Excel: FILEPASS right after the globals' BOF.
	xls := buildXLSLayout(t, biffRec(biffFILEPASS, u16b(1, 1), make([]byte, 52))).data
	ooxml := buildCFB(t, cfbStream{"EncryptionInfo", make([]byte, 300)}, cfbStream{"EncryptedPackage", make([]byte, 5000)}).data
	for name, data := range map[string][]byte{"doc": l.data, "xls": xls, "ooxml": ooxml} {
		res, err := hostile(t, data, 2*time.Second, 32<<20)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "encrypted") {
			t.Errorf("%s: err = %v", name, err)
		}
		if res.Text != "" || len(res.Records) > 0 {
			t.Errorf("%s: content from an encrypted file: %q", name, res.Text)
		}
	}
}

// ---- hostile compound files -------------------------------------------

// wantOLEFailure: a damaged file ends in an error or a warning, never a
// panic, and (checked by hostile) quickly and within memory.
func wantOLEFailure(t *testing.T, name string, data []byte) (Result, error) {
	t.Helper()
	res, err := hostile(t, data, 2*time.Second, 64<<20)
	if err == nil && len(res.Warnings) == 0 {
		t.Errorf("%s: no error or warning", name)
	}
	return res, err
}

func TestHostileOLETruncated(t *testing.T) {
	doc := buildDOCLayout(t, docTestPieces).data
	xls := buildXLSLayout(t).data
	for _, data := range [][]byte{doc, xls} {
		for _, n := range []int{8, 100, 511, 512, 1024, len(data) / 2, len(data) - 512} {
			wantOLEFailure(t, "truncated", data[:n])
		}
		// The last byte is a free FAT entry nothing reads: still whole.
		if res, err := hostile(t, data[:len(data)-1], 2*time.Second, 64<<20); err != nil || res.Text == "" {
			t.Errorf("cut in the FAT's free tail: err %v, text %q", err, res.Text)
		}
	}
	// Truncated inside the streams, the container intact.
	wd, table := buildWordDocument(t, docTestPieces)
	prcOnly := bytes.Clone(wd)
	setDocClx(prcOnly, 0, 6)
	badClxt := bytes.Clone(table)
	badClxt[6] = 9
	for _, c := range []struct {
		name      string
		wd, table []byte
	}{
		{"short FIB", wd[:20], table},
		{"FIB cut before fcClx", wd[:300], table},
		{"text cut", wd[:0x700], table},
		{"Clx cut", wd, table[:docClxLcb(wd)-5]},
		{"no Pcdt", prcOnly, table},
		{"unknown clxt", wd, badClxt},
		{"no table stream", wd, nil},
	} {
		streams := []cfbStream{{"WordDocument", c.wd}}
		if c.table != nil {
			streams = append(streams, cfbStream{"1Table", c.table})
		}
		res, err := wantOLEFailure(t, c.name, buildCFB(t, streams...).data)
		if c.name == "text cut" && (err != nil || !strings.Contains(strings.Join(res.Warnings, "|"), "outside the WordDocument stream")) {
			t.Errorf("text cut: err %v, warnings %q", err, res.Warnings)
		}
	}
	wb := buildWorkbook(t)
	for _, n := range []int{3, 10, 200, len(wb) / 2, len(wb) - 3} {
		res, _ := wantOLEFailure(t, "workbook cut", buildCFB(t, cfbStream{"Workbook", wb[:n]}).data)
		if n == len(wb)-3 && !strings.HasPrefix(res.Text, "NHI\tName") {
			t.Errorf("workbook cut at the end: lost the text before the cut: %q", res.Text)
		}
	}
}

func TestHostileOLEFATCycle(t *testing.T) {
	// The directory chain loops on itself: the library refuses it.
	l := buildDOCLayout(t, docTestPieces)
	l.setFAT(l.dirSector, l.dirSector)
	res, err := wantOLEFailure(t, "directory cycle", l.data)
	wantErrOrWarning(t, res, err, "unreadable compound file")

	// A directory entry is its own right sibling: the library's walk
	// stops after as many steps as there are entries.
	l = buildDOCLayout(t, docTestPieces)
	rootChild := binary.LittleEndian.Uint32(l.data[sectorOffset(l.dirSector)+76:])
	binary.LittleEndian.PutUint32(l.data[sectorOffset(l.dirSector)+128*int(rootChild)+72:], rootChild)
	res, err = wantOLEFailure(t, "directory tree cycle", l.data)
	wantErrOrWarning(t, res, err, "unreadable compound file")

	// The mini stream's container chain loops.
	l = buildDOCLayout(t, docTestPieces)
	l.setFAT(l.miniStart, l.miniStart)
	wantOLEFailure(t, "mini stream cycle", l.data)

	// A stream's own chain loops (second sector back to the first). The
	// library would follow it until the declared size is read.
	l = buildDOCLayout(t, docTestPieces)
	first := l.start["WordDocument"]
	l.setFAT(first+1, first)
	_, err = wantOLEFailure(t, "stream cycle", l.data)
	if err == nil || !strings.Contains(err.Error(), "revisits a sector") {
		t.Errorf("stream cycle: err %v", err)
	}

	// A loop in the mini FAT (the table stream's chain of mini sectors,
	// padded to several).
	wd, table := buildWordDocument(t, docTestPieces)
	l = buildCFB(t, cfbStream{"WordDocument", wd}, cfbStream{"1Table", append(table, make([]byte, 300)...)})
	miniFATSector := binary.LittleEndian.Uint32(l.data[60:])
	tbl := l.start["1Table"]
	binary.LittleEndian.PutUint32(l.data[sectorOffset(miniFATSector)+4*int(tbl+1):], tbl)
	_, err = wantOLEFailure(t, "mini chain cycle", l.data)
	if err == nil || !strings.Contains(err.Error(), "revisits a sector") {
		t.Errorf("mini chain cycle: err %v", err)
	}

	// Two streams cross-linked (sharing sectors) read fine each alone:
	// only a repeat within one stream is refused.
	l = buildCFB(t, cfbStream{"Workbook", buildWorkbook(t)}, cfbStream{"Other", bytes.Repeat([]byte{1}, 5000)})
	if res := mustExtract(t, l.data); res.Text != xlsTestText {
		t.Errorf("text %q", res.Text)
	}
}

func TestHostileOLEHugeSizes(t *testing.T) {
	for _, name := range []string{"WordDocument", "1Table"} {
		for _, size := range []uint32{0x7FFFFFF0, 0xFFFFFFFF, 1 << 20} {
			l := buildDOCLayout(t, docTestPieces)
			l.setSize(name, size)
			_, err := wantOLEFailure(t, name, l.data)
			if err == nil || !errors.Is(err, ErrCorrupt) {
				t.Errorf("%s of %d bytes: err %v", name, size, err)
			}
		}
	}
	l := buildXLSLayout(t)
	l.setSize("Workbook", 0xFFFFFFF0)
	if _, err := wantOLEFailure(t, "Workbook", l.data); err == nil || !strings.Contains(err.Error(), "declares") {
		t.Errorf("huge Workbook: err %v", err)
	}

	// Declared counts inside the streams: a Clx or PlcPcd far beyond the
	// table stream, an SST promising four billion strings.
	wd, table := buildWordDocument(t, docTestPieces)
	huge := bytes.Clone(wd)
	setDocClx(huge, 0, 0xFFFFFFF0)
	wantOLEFailure(t, "lcbClx", buildCFB(t, cfbStream{"WordDocument", huge}, cfbStream{"1Table", table}).data)
	bad := bytes.Clone(table)
	binary.LittleEndian.PutUint32(bad[7:], 0xFFFFFFF0)
	wantOLEFailure(t, "PlcPcd", buildCFB(t, cfbStream{"WordDocument", wd}, cfbStream{"1Table", bad}).data)

	sst := biffRec(biffSST, u32b(0xFFFFFFFF), u32b(0xFFFFFFFF), xlsString("x", false), u16b(0xFFFF), []byte{1}, []byte("ab"))
	wb := append(append(xlsBOF(bofGlobals), sst...), biffRec(biffEOF)...)
	res, _ := wantOLEFailure(t, "SST count", buildCFB(t, cfbStream{"Workbook", wb}).data)
	wantErrOrWarning(t, res, nil, "shared string table ends")
}

// TestHostileOLEDirectoryBomb: a file that is nearly all directory, its
// entries one long chain of siblings. The library keeps every entry (a few
// hundred bytes each) and walks the chain recursively; this pins that cost
// at a small multiple of the input.
func TestHostileOLEDirectoryBomb(t *testing.T) {
	n := 20000
	streams := make([]cfbStream, n)
	for i := range streams {
		streams[i] = cfbStream{name: fmt.Sprintf("s%05d", i)}
	}
	l := buildCFB(t, streams...)
	dir := sectorOffset(l.dirSector)
	binary.LittleEndian.PutUint32(l.data[dir+76:], 1)
	for i := 1; i <= n; i++ {
		next := uint32(i + 1)
		if i == n {
			next = cfbNoStream
		}
		binary.LittleEndian.PutUint32(l.data[dir+128*i+68:], cfbNoStream)
		binary.LittleEndian.PutUint32(l.data[dir+128*i+72:], next)
	}
	res, err := hostile(t, l.data, 2*time.Second, 4*uint64(len(l.data)))
	wantErrOrWarning(t, res, err, "no text extractor")
}

// TestHostileOLEPieceAmplification: thousands of pieces all pointing at
// the same text stop at MaxText.
func TestHostileOLEPieceAmplification(t *testing.T) {
	text := strings.Repeat("Aroha Testwell ZAC5361 ", 200)
	wd, table := buildWordDocument(t, []docTestPiece{{text: text}})
	n := 20000
	var plc []byte
	for i := 0; i <= n; i++ {
		plc = binary.LittleEndian.AppendUint32(plc, uint32(i*len(text)))
	}
	fc := binary.LittleEndian.Uint32(table[docClxLcb(wd)-6:])
	for i := 0; i < n; i++ {
		plc = append(plc, 0, 0)
		plc = binary.LittleEndian.AppendUint32(plc, fc)
		plc = append(plc, 0, 0)
	}
	table = append(binary.LittleEndian.AppendUint32([]byte{2}, uint32(len(plc))), plc...)
	setDocClx(wd, 0, uint32(len(table)))
	data := buildCFB(t, cfbStream{"WordDocument", wd}, cfbStream{"1Table", table}).data
	res, err := hostile(t, data, 5*time.Second, 256<<20)
	if err != nil {
		t.Fatal(err)
	}
	if n := len([]rune(res.Text)); n != testLimits().MaxText {
		t.Errorf("text of %d runes, want MaxText", n)
	}
	wantErrOrWarning(t, res, nil, "truncated")
}

// TestHostileBIFF: malformed records end quietly or with a warning.
func TestHostileBIFF(t *testing.T) {
	wb := buildWorkbook(t)
	globals := xlsBOF(bofGlobals)
	sheet := func(recs ...[]byte) []byte {
		b := append(bytes.Clone(globals), biffRec(biffEOF)...)
		b = append(b, xlsBOF(bofWorksheet)...)
		for _, r := range recs {
			b = append(b, r...)
		}
		return b
	}
	for name, data := range map[string][]byte{
		"not BIFF":          []byte("hello world, not a workbook"),
		"BIFF2 BOF":         biffRec(biffBOF, u16b(0x0200, 0x10)),
		"record past end":   append(bytes.Clone(wb[:40]), 0x03, 0x02, 0xFF, 0xFF, 1, 2),
		"short cells":       sheet(biffRec(biffNUMBER, u16b(0, 0)), biffRec(biffRK, u16b(0, 0, 0)), biffRec(biffLABELSST, u16b(0, 0, 0)), biffRec(biffLABEL, u16b(0, 0, 0, 9)), biffRec(biffMULRK, u16b(0)), biffRec(biffFORMULA, u16b(0, 0, 0))),
		"SST index":         sheet(xlsCell(biffLABELSST, 0, 0, 0, u32b(7))),
		"wide MULRK":        sheet(biffRec(biffMULRK, u16b(0, 0xFFF0), bytes.Repeat(append(u16b(0), rkInt(1)...), 1000), u16b(0xFFFF))),
		"label overlong":    sheet(xlsCell(biffLABEL, 0, 0, 0, u16b(5000), []byte{1}, []byte("abc"))),
		"unbalanced EOF":    append(bytes.Repeat(biffRec(biffEOF), 5), sheet(xlsCell(biffRK, 0, 0, 0, rkInt(1)))...),
		"STRING no FORMULA": sheet(biffRec(biffSTRING, xlsString("stray", false))),
		"nested BOFs":       sheet(bytes.Repeat(xlsBOF(0x20), 10000)),
	} {
		res, err := hostile(t, buildCFB(t, cfbStream{"Workbook", data}).data, 2*time.Second, 64<<20)
		t.Logf("%s: err %v, warnings %q, text %q", name, err, res.Warnings, clipForLog(res.Text))
		if name == "label overlong" {
			wantErrOrWarning(t, res, err, "end before their declared length")
		}
		if strings.Contains(res.Text, "stray") {
			t.Errorf("%s: STRING without FORMULA became a cell", name)
		}
	}
}

func TestOLENoContentInWarnings(t *testing.T) {
	secret := "ZZSECRET" + nhi1
	wd, table := buildWordDocument(t, []docTestPiece{{text: secret + "\r"}, {text: secret, utf16: true}})
	bad := bytes.Clone(table)
	binary.LittleEndian.PutUint32(bad[docClxLcb(wd)-6:], 0x7FFFFF00) // second piece out of range
	wb := append(append(xlsBOF(bofGlobals), biffRec(biffSST, u32b(5), u32b(5), xlsString(secret, false))...), biffRec(biffEOF)...)
	for _, data := range [][]byte{
		buildCFB(t, cfbStream{"WordDocument", wd}, cfbStream{"1Table", bad}).data,
		buildCFB(t, cfbStream{"WordDocument", wd[:0x640]}, cfbStream{"1Table", table}).data,
		buildCFB(t, cfbStream{"Workbook", wb}).data,
		buildCFB(t, cfbStream{secret, []byte(secret)}).data,
	} {
		res, err := Extract(context.Background(), data, testLimits())
		if err != nil && strings.Contains(err.Error(), "ZZSECRET") {
			t.Errorf("error carries content: %v", err)
		}
		for _, w := range res.Warnings {
			if strings.Contains(w, "ZZSECRET") {
				t.Errorf("warning carries content: %q", w)
			}
		}
	}
}

// TestOLECrossCheck compares with Debian's antiword and catdoc's xls2csv
// where they are installed; skipped otherwise. (python3-xlrd reads the
// test workbook exactly as xlsTestText says, but no test runs Python.)
func TestOLECrossCheck(t *testing.T) {
	dir := t.TempDir()
	run := func(t *testing.T, tool string, data []byte, args ...string) string {
		path, err := exec.LookPath(tool)
		if err != nil {
			t.Skipf("%s not installed", tool)
		}
		f := filepath.Join(dir, tool)
		if err := os.WriteFile(f, data, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(path, append(args, f)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v: %s", tool, err, out)
		}
		return string(out)
	}
	t.Run("antiword", func(t *testing.T) {
		out := run(t, "antiword", buildDOCLayout(t, docTestPieces).data, "-m", "UTF-8.txt", "-w", "0")
		// antiword keeps nested field results and drops surrogate pairs,
		// so the words compared are those both must agree on.
		for _, w := range []string{"Patient record", nhi1, name1, "Caf\u00e9", "\u20ac5", "clinic site",
			"Wh\u0101nau: " + name2, nhi2, nhi3, "H\u0113mi Testperson", "End", "Page two", "yes"} {
			if !strings.Contains(out, w) {
				t.Errorf("antiword output lacks %q:\n%s", w, out)
			}
		}
	})
	t.Run("xls2csv", func(t *testing.T) {
		out := run(t, "xls2csv", buildXLSLayout(t).data, "-d", "utf-8", "-q", "0", "-c", "\t")
		// catdoc 0.95's xls2csv loses its way in an SST continued past a
		// rich-text string and applies its own date rules, so only the
		// cells before that point and the plain numbers are compared.
		for _, line := range []string{
			"NHI\tName\tDOB\tNote\tScore",
			nhi1 + "\t" + name1 + "\t",
			nhi2 + "\t" + name2 + "\t",
			"\tsee notes\t12.34",
			nhi3 + "\t",
			"\t3.5\t1000\t7",
			"0.3\t",
		} {
			if !strings.Contains(out, line) {
				t.Errorf("xls2csv output lacks %q:\n%s", line, out)
			}
		}
	})
}

// ---- fuzzing ------------------------------------------------------------

// FuzzOLE runs whole compound files through extractOLE (its own recover
// turns a panic into ErrPanic, which fails the run).
func FuzzOLE(f *testing.F) {
	f.Add(buildDOCLayout(f, docTestPieces).data)
	f.Add(buildXLSLayout(f).data)
	f.Fuzz(func(t *testing.T, data []byte) {
		d := fuzzDoc(TypeOLE)
		if err := extractOLE(d, data); errors.Is(err, ErrPanic) {
			t.Fatal(err)
		}
		if len(d.records) > fuzzLimits().MaxRows || d.runes > fuzzLimits().MaxText {
			t.Fatalf("limits exceeded: %d records, %d runes", len(d.records), d.runes)
		}
	})
}

// FuzzOLEStreams fuzzes the stream parsers directly, past the container,
// where mutations of a whole compound file rarely reach.
func FuzzOLEStreams(f *testing.F) {
	wd, table := buildWordDocument(f, docTestPieces)
	f.Add(wd, table)
	f.Add(buildWorkbook(f), []byte(nil))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		d := fuzzDoc(TypeOLE)
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("panic: %v", r)
				}
			}()
			if len(a) >= 2 && a[0] == 0xEC && a[1] == 0xA5 {
				err = docStreams(d, a, func(string) ([]byte, error) { return b, nil })
			} else {
				err = xlsStream(d, a)
			}
		}()
		_ = err
		if len(d.records) > fuzzLimits().MaxRows || d.runes > fuzzLimits().MaxText {
			t.Fatalf("limits exceeded: %d records, %d runes", len(d.records), d.runes)
		}
	})
}
