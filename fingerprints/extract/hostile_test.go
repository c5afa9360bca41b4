package extract

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/zlib"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// hostile runs Extract on data, without pdftotext, and fails if a parser
// panicked (Extract recovers, so a panic shows as ErrPanic), or if it takes
// longer than maxDur or allocates more than maxAlloc bytes in total. It
// returns what Extract returned.
func hostile(t *testing.T, data []byte, maxDur time.Duration, maxAlloc uint64) (Result, error) {
	t.Helper()
	res, err := bounded(t, &Extractor{Limits: testLimits()}, data, maxDur, maxAlloc)
	noPanic(t, err)
	return res, err
}

// bounded runs x.Extract on data and fails if it takes longer than maxDur or
// allocates more than maxAlloc bytes in total (in this process: pdftotext's
// memory is the deployment's to bound).
func bounded(t *testing.T, x *Extractor, data []byte, maxDur time.Duration, maxAlloc uint64) (Result, error) {
	t.Helper()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	res, err := x.Extract(context.Background(), data)
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	if took > maxDur {
		t.Errorf("took %s, want < %s", took, maxDur)
	}
	if alloc > maxAlloc {
		t.Errorf("allocated %d MB, want < %d MB", alloc>>20, maxAlloc>>20)
	}
	t.Logf("%s in %s, %d KB allocated, err=%v, %d warnings", res.Type, took.Round(time.Millisecond), alloc>>10, err, len(res.Warnings))
	return res, err
}

func noPanic(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, ErrPanic) {
		t.Errorf("parser panicked: %v", err)
	}
}

// pdfMode is one way hostilePDF runs a PDF.
type pdfMode struct {
	name      string
	pdftotext string // Extractor.PDFToText
}

// pdfModes: pdftotext off, in every environment, so what the library path
// alone does is always tested; and on as well where it is installed.
func pdfModes(t *testing.T) []pdfMode {
	t.Helper()
	modes := []pdfMode{{name: "pdftotext=off"}}
	if p := installedPDFToText(t); p != "" {
		modes = append(modes, pdfMode{name: "pdftotext=on", pdftotext: p})
	}
	return modes
}

// hostilePDF runs a PDF through bounded once per pdfModes entry, as
// subtests, and hands each outcome to check (noPanic when check is nil).
func hostilePDF(t *testing.T, data []byte, maxDur time.Duration, maxAlloc uint64, check func(t *testing.T, m pdfMode, res Result, err error)) {
	t.Helper()
	for _, m := range pdfModes(t) {
		t.Run(m.name, func(t *testing.T) {
			res, err := bounded(t, &Extractor{Limits: testLimits(), PDFToText: m.pdftotext}, data, maxDur, maxAlloc)
			if check == nil {
				noPanic(t, err)
				return
			}
			check(t, m, res, err)
		})
	}
}

// libraryRejected reports whether err is ledongthuc/pdf's own verdict on
// malformed input: the library reports bad syntax by panicking, and
// pdfLibText recovers that as ErrPanic with the summary "malformed PDF".
// Runtime errors (index out of range, nil dereference) are not included:
// those are bugs, here or in the library.
func libraryRejected(err error) bool {
	return errors.Is(err, ErrPanic) &&
		strings.HasSuffix(err.Error(), ErrPanic.Error()+": "+pdfPanicSummary(errors.New("any")))
}

// wantCorruptPDF checks the outcome for a damaged PDF: a clear per-item
// error — a failed check here, or the library's recovered verdict, which is
// the handled path for corrupt files — and never an unexplained panic. With
// pdftotext on, poppler may repair the file instead, and says so.
func wantCorruptPDF(t *testing.T, m pdfMode, res Result, err error) {
	t.Helper()
	switch {
	case err == nil && m.pdftotext == "":
		t.Error("corrupt PDF: no error")
	case err == nil:
		if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "using pdftotext") }) {
			t.Errorf("corrupt PDF read without error or pdftotext warning: %q", res.Warnings)
		}
	case libraryRejected(err):
		t.Logf("library rejected it (panic recovered): %v", err)
	case errors.Is(err, ErrPanic):
		t.Errorf("parser panicked: %v", err)
	case !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge):
		t.Errorf("err = %v, want ErrCorrupt, ErrTooLarge or the library's malformed-PDF verdict", err)
	}
}

func wantErrOrWarning(t *testing.T, res Result, err error, substr string) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), substr) {
		return
	}
	for _, w := range res.Warnings {
		if strings.Contains(w, substr) {
			return
		}
	}
	t.Errorf("want error or warning containing %q; err=%v warnings=%q", substr, err, res.Warnings)
}

// libOnly runs the library path alone (pdfLibText: no raw image scan, no
// pdftotext) on a PDF.
func libOnly(t *testing.T, data []byte) (*doc, error) {
	t.Helper()
	d := newDoc(context.Background(), TypePDF, testLimits().withDefaults())
	start := time.Now()
	err := pdfLibText(d, data)
	if time.Since(start) > 5*time.Second {
		t.Errorf("library path took %s", time.Since(start))
	}
	if errors.Is(err, ErrPanic) {
		t.Logf("library panicked (recovered): %v", err)
	}
	return d, err
}

// TestHostilePDFTruncatedAndCorrupt: damaged PDFs give a clear per-item
// error within bounds, with pdftotext off (everywhere) and on (where
// installed).
func TestHostilePDFTruncatedAndCorrupt(t *testing.T) {
	good := simplePDF(true, textLines("Truncation test for "+name1), textLines("second page"))
	for pct := 5; pct < 100; pct += 7 {
		t.Run(fmt.Sprintf("cut at %d%%", pct), func(t *testing.T) {
			cut := good[:len(good)*pct/100]
			if _, err := libOnly(t, cut); err == nil {
				t.Error("library path: no error")
			}
			hostilePDF(t, cut, 10*time.Second, 64<<20, wantCorruptPDF)
		})
	}
	t.Run("garbage", func(t *testing.T) {
		// Garbage after a valid header and a plausible trailer.
		garbage := []byte("%PDF-1.4\n" + strings.Repeat("<< /Kids [1 0 R] >> ( (( \\", 2000) + "\nstartxref\n9\n%%EOF\n")
		if _, err := libOnly(t, garbage); err == nil {
			t.Error("library path: no error")
		}
		hostilePDF(t, garbage, 10*time.Second, 64<<20, wantCorruptPDF)
	})
	t.Run("flipped bytes", func(t *testing.T) {
		// Flip bytes inside the compressed content stream.
		bad := bytes.Clone(good)
		for i := len(bad) / 3; i < len(bad)/2; i += 5 {
			bad[i] ^= 0x5a
		}
		hostilePDF(t, bad, 10*time.Second, 64<<20, wantCorruptPDF)
	})
}

func TestHostilePDFXrefNumbers(t *testing.T) {
	good := simplePDF(false, textLines("x"))
	// A subsection starting at object 4e9: the library would size its table
	// to 4e9 entries (about 130 GB).
	huge := bytes.Replace(good, []byte("xref\n0 "), []byte("xref\n4000000000 "), 1)
	_, err := libOnly(t, huge)
	if err == nil || !strings.Contains(err.Error(), "xref subsection") {
		t.Errorf("huge subsection: %v", err)
	}
	hostilePDF(t, huge, 10*time.Second, 64<<20, nil)

	// An xref stream whose /Size and /W would allocate gigabytes.
	p := &testPDF{compressed: map[int]bool{}}
	catalog := p.add("")
	pagesID := p.add("")
	p.set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pagesID))
	p.set(pagesID, "<< /Type /Pages /Kids [] /Count 0 >>")
	xs := p.bytesXRefStream(catalog, nil)
	for _, edit := range []struct{ from, to, want string }{
		{"/Size 5", "/Size 99999999999", "/Size"},
		{"/W [1 4 2]", "/W [1 4 2000000000]", "/W"},
		{"/W [1 4 2]", "/W [1 4 2] /Index [4294967000 5]", "/Index"},
	} {
		bad := bytes.Replace(xs, []byte(edit.from), []byte(edit.to), 1)
		if bytes.Equal(bad, xs) {
			t.Fatalf("edit %q did not apply", edit.from)
		}
		_, err := libOnly(t, bad)
		if err == nil || !strings.Contains(err.Error(), edit.want) {
			t.Errorf("%s: %v", edit.to, err)
		}
	}
}

// TestHostilePDFObjStmSelfContainer: a compressed object whose container
// is itself compressed makes the library's resolve() recurse forever with
// no read in between — a fatal stack overflow, not a panic.
func TestHostilePDFObjStmSelfContainer(t *testing.T) {
	p := &testPDF{compressed: map[int]bool{}}
	catalog := p.add("")
	pagesID := p.add("")
	p.set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pagesID))
	p.set(pagesID, "<< /Type /Pages /Kids [] /Count 0 >>")
	p.compressed[catalog] = true
	p.compressed[pagesID] = true
	// Object 2 claims to live in object stream 2, i.e. in itself.
	data := p.bytesXRefStream(catalog, func(n int) int { return pagesID })
	_, err := libOnly(t, data)
	if err == nil || !strings.Contains(err.Error(), "itself compressed") {
		t.Errorf("self container: %v", err)
	}
	hostilePDF(t, data, 10*time.Second, 64<<20, nil)
}

func TestHostilePDFPageTreeCycle(t *testing.T) {
	p := &testPDF{}
	catalog := p.add("")
	pagesID := p.add("")
	font := p.add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
	cs := p.stream("", []byte(textLines("cycle page")))
	pg := p.add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /Resources << /Font << /F1 %d 0 R >> >> /Contents %d 0 R >>", pagesID, font, cs))
	p.set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pagesID))
	// The page tree lists itself as a kid, twice.
	p.set(pagesID, fmt.Sprintf("<< /Type /Pages /Kids [%d 0 R %d 0 R %d 0 R] /Count 3 >>", pg, pagesID, pagesID))
	hostilePDF(t, p.bytes(catalog), 10*time.Second, 128<<20, func(t *testing.T, _ pdfMode, res Result, err error) {
		noPanic(t, err)
		if !strings.Contains(res.Text, "cycle page") {
			t.Errorf("text: %q", clipForLog(res.Text))
		}
	})
}

func TestHostilePDFFlateBomb(t *testing.T) {
	// 96 MB of spaces inside "( ... ) Tj": about 100 KB compressed, three
	// times the per-stream cap under testLimits.
	var zbuf bytes.Buffer
	zl, _ := zlib.NewWriterLevel(&zbuf, zlib.BestSpeed)
	zl.Write([]byte("BT /F1 12 Tf ("))
	chunk := bytes.Repeat([]byte(" "), 1<<20)
	for i := 0; i < 96; i++ {
		zl.Write(chunk)
	}
	zl.Write([]byte(") Tj ET"))
	zl.Close()
	p := &testPDF{}
	catalog := p.add("")
	pagesID := p.add("")
	cs := p.stream("/Filter /FlateDecode", zbuf.Bytes())
	pg := p.add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /Contents %d 0 R >>", pagesID, cs))
	p.set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pagesID))
	p.set(pagesID, fmt.Sprintf("<< /Type /Pages /Kids [%d 0 R] /Count 1 >>", pg))
	data := p.bytes(catalog)
	_, err := libOnly(t, data)
	if err == nil || !strings.Contains(err.Error(), "inflates past") {
		t.Errorf("bomb: %v", err)
	}
	hostilePDF(t, data, 20*time.Second, 64<<20, nil)
}

func TestHostilePDFPredictorColumns(t *testing.T) {
	p := &testPDF{}
	catalog := p.add("")
	pagesID := p.add("")
	cs := p.stream("/Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 99999999999 >>", zflate([]byte("BT ET")))
	pg := p.add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /Contents %d 0 R >>", pagesID, cs))
	p.set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pagesID))
	p.set(pagesID, fmt.Sprintf("<< /Type /Pages /Kids [%d 0 R] /Count 1 >>", pg))
	_, err := libOnly(t, p.bytes(catalog))
	if err == nil || !strings.Contains(err.Error(), "Columns") {
		t.Errorf("columns: %v", err)
	}
}

func TestHostilePDFContent(t *testing.T) {
	deep := "BT /F1 12 Tf " + strings.Repeat("[", 1_000_000) + " (deep) Tj " + strings.Repeat("<<", 100_000) + " ET"
	many := strings.Repeat("1 ", 2_000_000) + "BT /F1 12 Tf 0 0 Td (after numbers) Tj ET"
	inline := "BI /W 4 /H 4 /BPC 8 /CS /G ID \x00\x01EI\x02 (hidden) Tj junk EI BT /F1 12 Tf (after image) Tj /F2 12 Tf <00010002> Tj ET"
	cmap := strings.Repeat("999999999 beginbfchar <0001> <0041> endbfchar 999999999 beginbfrange <00000000> <FFFFFFFF> <0041> endbfrange ", 2000)
	p := &testPDF{}
	catalog := p.add("")
	pagesID := p.add("")
	f1 := p.add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
	tu := p.stream("/Filter /FlateDecode", zflate([]byte(cmap)))
	f2 := p.add(fmt.Sprintf("<< /Type /Font /Subtype /Type0 /Encoding /Identity-H /ToUnicode %d 0 R /DescendantFonts [<< /W [0 [%s] 1 4294967295 5] >>] >>", tu, strings.Repeat("1 ", 50000)))
	var kids []string
	for _, c := range []string{deep, many, inline} {
		cs := p.stream("/Filter /FlateDecode", zflate([]byte(c)))
		pg := p.add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >> /Contents [%d 0 R %d 0 R] >>", pagesID, f1, f2, cs, cs))
		kids = append(kids, fmt.Sprintf("%d 0 R", pg))
	}
	p.set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pagesID))
	p.set(pagesID, fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count 3 >>", strings.Join(kids, " ")))
	d, err := libOnly(t, p.bytes(catalog))
	if err != nil {
		t.Fatal(err)
	}
	text := d.text.String()
	for _, want := range []string{"deep", "after numbers", "after image"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q: %q", want, clipForLog(text))
		}
	}
	if strings.Contains(text, "hidden") {
		t.Errorf("inline image data read as text")
	}
	hostilePDF(t, p.bytes(catalog), 10*time.Second, 512<<20, nil)
}

func TestHostilePDFEncrypted(t *testing.T) {
	good := simplePDF(false, textLines("encrypted?"))
	enc := bytes.Replace(good, []byte("/Root 1 0 R"), []byte("/Root 1 0 R /Encrypt << /Filter /Standard /V 1 /R 2 /O (x) /U (y) /P -4 >>"), 1)
	_, err := libOnly(t, enc)
	if err == nil {
		t.Error("encrypted PDF accepted by the library path")
	}
	hostilePDF(t, enc, 10*time.Second, 64<<20, nil)
}

// rawZip writes entries with caller-chosen headers (sizes may lie).
func rawZip(t *testing.T, entries ...func(*zip.Writer)) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		e(zw)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func storedEntry(name string, data []byte) func(*zip.Writer) {
	return func(zw *zip.Writer) {
		w, _ := zw.Create(name)
		w.Write(data)
	}
}

func deflateRaw(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// lyingEntry declares uncompressed size declared for deflated data.
func lyingEntry(name string, data []byte, declared uint64) func(*zip.Writer) {
	return func(zw *zip.Writer) {
		raw := deflateRaw(data)
		h := &zip.FileHeader{Name: name, Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(data),
			CompressedSize64: uint64(len(raw)), UncompressedSize64: declared}
		w, _ := zw.CreateRaw(h)
		w.Write(raw)
	}
}

func TestHostileDOCX(t *testing.T) {
	ct := storedEntry("[Content_Types].xml", []byte(contentTypesDocx))
	small := []byte(docxBody("Hello " + name1))

	t.Run("declares 2GB", func(t *testing.T) {
		data := rawZip(t, ct, lyingEntry("word/document.xml", small, 2<<30))
		_, err := hostile(t, data, 5*time.Second, 32<<20)
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("err = %v, want ErrTooLarge", err)
		}
	})
	t.Run("inflates past its declared size", func(t *testing.T) {
		big := []byte(docxBody(strings.Repeat("A", 50<<20)))
		data := rawZip(t, ct, lyingEntry("word/document.xml", big, 1000))
		_, err := hostile(t, data, 10*time.Second, 64<<20)
		if err == nil {
			t.Error("no error")
		}
	})
	t.Run("honest bomb", func(t *testing.T) {
		para := "<w:p><w:r><w:t>a</w:t></w:r></w:p>"
		big := []byte(`<w:document xmlns:w="w"><w:body>` + strings.Repeat(para, 1_500_000) + `</w:body></w:document>`)
		data := rawZip(t, ct, lyingEntry("word/document.xml", big, uint64(len(big))))
		t.Logf("bomb: %d bytes -> %d", len(data), len(big))
		_, err := hostile(t, data, 10*time.Second, 64<<20)
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("err = %v, want ErrTooLarge", err)
		}
	})
	t.Run("billion laughs", func(t *testing.T) {
		var dtd strings.Builder
		dtd.WriteString(`<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY lol "lol">`)
		for i := 1; i <= 9; i++ {
			fmt.Fprintf(&dtd, `<!ENTITY lol%d "%s">`, i, strings.Repeat(fmt.Sprintf("&lol%d;", i-1), 10))
		}
		dtd.WriteString(`]>`)
		xml := strings.Replace(dtd.String(), "&lol0;", "&lol;", -1) +
			`<w:document xmlns:w="w"><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>`
		data := buildDOCX(t, xml)
		res, err := hostile(t, data, 2*time.Second, 16<<20)
		if err == nil || len(res.Text) > 1000 {
			t.Errorf("entities expanded? err=%v text=%d bytes", err, len(res.Text))
		}
	})
	t.Run("too many entries", func(t *testing.T) {
		var entries []func(*zip.Writer)
		entries = append(entries, ct, storedEntry("word/document.xml", small))
		for i := 0; i < maxZipEntries+10; i++ {
			entries = append(entries, storedEntry(fmt.Sprintf("x/%d", i), nil))
		}
		data := rawZip(t, entries...)
		_, err := hostile(t, data, 5*time.Second, 64<<20)
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("image bomb inside", func(t *testing.T) {
		data := buildDOCX(t, docxBody("Photo of "+name2), zipEntry{name: "word/media/image1.png", data: hugePNG(t)})
		res, err := hostile(t, data, 5*time.Second, 32<<20)
		if err != nil || !strings.Contains(res.Text, name2) || len(res.Images) != 0 {
			t.Errorf("err=%v images=%d", err, len(res.Images))
		}
		wantErrOrWarning(t, res, err, "MaxImagePixels")
	})
}

func TestHostileXLSXWideRows(t *testing.T) {
	good := xlsxBytes(t)
	zr, err := zip.NewReader(bytes.NewReader(good), int64(len(good)))
	if err != nil {
		t.Fatal(err)
	}
	var sheet strings.Builder
	sheet.WriteString(`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`)
	for r := 1; r <= 20000; r++ {
		fmt.Fprintf(&sheet, `<row r="%d"><c r="XFD%d" t="inlineStr"><is><t>x</t></is></c></row>`, r, r)
	}
	sheet.WriteString(`</sheetData></worksheet>`)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range zr.File {
		w, _ := zw.Create(f.Name)
		if f.Name == "xl/worksheets/sheet1.xml" {
			w.Write([]byte(sheet.String()))
			continue
		}
		rc, _ := f.Open()
		b := new(bytes.Buffer)
		b.ReadFrom(rc)
		rc.Close()
		w.Write(b.Bytes())
	}
	zw.Close()
	res, err := hostile(t, buf.Bytes(), 30*time.Second, 2<<30)
	if err != nil {
		t.Fatalf("err: %v", err)
	}
	wantErrOrWarning(t, res, err, "truncated")
}

// hugePNG is a valid PNG header claiming 100000×100000 pixels.
func hugePNG(t testing.TB) []byte {
	b := pngBytes(t, image.NewGray(image.Rect(0, 0, 1, 1)))
	// IHDR data starts at 16: width, height (big endian); CRC follows.
	binary.BigEndian.PutUint32(b[16:], 100000)
	binary.BigEndian.PutUint32(b[20:], 100000)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

func TestHostileImages(t *testing.T) {
	jpg := jpegBytes(t, testImage(8, 8))
	// SOF0: FF C0, length, precision, height, width.
	i := bytes.Index(jpg, []byte{0xff, 0xc0})
	binary.BigEndian.PutUint16(jpg[i+5:], 65000)
	binary.BigEndian.PutUint16(jpg[i+7:], 65000)

	var g bytes.Buffer
	gif.Encode(&g, image.NewPaletted(image.Rect(0, 0, 2, 2), color.Palette{color.Black, color.White}), nil)
	gb := g.Bytes()
	binary.LittleEndian.PutUint16(gb[6:], 65535)
	binary.LittleEndian.PutUint16(gb[8:], 65535)

	bmpHead := make([]byte, 54)
	copy(bmpHead, "BM")
	binary.LittleEndian.PutUint32(bmpHead[10:], 54)
	binary.LittleEndian.PutUint32(bmpHead[14:], 40)
	binary.LittleEndian.PutUint32(bmpHead[18:], 100000)
	binary.LittleEndian.PutUint32(bmpHead[22:], 100000)
	binary.LittleEndian.PutUint16(bmpHead[26:], 1)
	binary.LittleEndian.PutUint16(bmpHead[28:], 24)

	// TIFF: one IFD with ImageWidth and ImageLength of 2^31-1.
	tf := []byte("II*\x00\x08\x00\x00\x00")
	tf = append(tf, 2, 0)
	tf = append(tf, 0x00, 0x01, 4, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f)
	tf = append(tf, 0x01, 0x01, 4, 0, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f)
	tf = append(tf, 0, 0, 0, 0)

	// WebP lossless header: 14-bit width-1 and height-1, both maximal.
	webp := []byte("RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f")
	webp = append(webp, 0xff, 0xff, 0xff, 0xff, 0x00, 0, 0, 0, 0, 0, 0, 0)

	for name, data := range map[string][]byte{
		"png": hugePNG(t), "jpeg": jpg, "gif": gb, "bmp": bmpHead, "tiff": tf, "webp": webp,
	} {
		t.Run(name, func(t *testing.T) {
			res, err := hostile(t, data, 2*time.Second, 8<<20)
			if err == nil || len(res.Images) != 0 {
				t.Errorf("err=%v images=%d", err, len(res.Images))
			}
		})
	}
}

func TestHostileText(t *testing.T) {
	t.Run("deep html", func(t *testing.T) {
		data := []byte("<html><body>" + strings.Repeat("<div>", 1_000_000) + "deep " + nhi1 + strings.Repeat("</div>", 10))
		res, err := hostile(t, data, 10*time.Second, 1<<30)
		if err != nil || !strings.Contains(res.Text, nhi1) {
			t.Errorf("err=%v", err)
		}
	})
	t.Run("rtf unbalanced", func(t *testing.T) {
		data := []byte(`{\rtf1\ansi text ` + nhi1 + `}}}}}} {\b more` + strings.Repeat("{", 200_000) + ` deep\bin99999999999 `)
		res, err := hostile(t, data, 5*time.Second, 64<<20)
		if err != nil || !strings.Contains(res.Text, nhi1) {
			t.Errorf("err=%v text=%q", err, clipForLog(res.Text))
		}
		wantErrOrWarning(t, res, err, "unbalanced")
		wantErrOrWarning(t, res, err, "deeper than")
	})
	t.Run("deep json", func(t *testing.T) {
		data := []byte(strings.Repeat("[", 1_000_000))
		_, err := hostile(t, data, 5*time.Second, 256<<20)
		if err == nil {
			t.Error("no error")
		}
	})
	t.Run("deep multipart", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("From: a@example.invalid\r\nSubject: deep\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n")
		for i := 0; i < 100; i++ {
			fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n", i, i+1)
		}
		b.WriteString("--b100\r\nContent-Type: text/plain\r\n\r\nbottom\r\n")
		res, err := hostile(t, []byte(b.String()), 5*time.Second, 64<<20)
		wantErrOrWarning(t, res, err, "deeper than")
	})
	t.Run("sql unterminated", func(t *testing.T) {
		data := []byte("INSERT INTO t VALUES ('" + nhi1 + strings.Repeat("x", 1<<20))
		hostile(t, data, 5*time.Second, 64<<20)
	})
	t.Run("csv one huge field", func(t *testing.T) {
		data := []byte("a,b\n\"" + strings.Repeat("y", 4<<20) + "\n")
		hostile(t, data, 5*time.Second, 128<<20)
	})
}

// TestTimeout: a document that cannot finish in time returns ErrTimeout
// promptly, and the parser goroutine stops soon after (it checks ctx).
func TestTimeout(t *testing.T) {
	var b strings.Builder
	for i := 0; b.Len() < 6<<20; i++ {
		fmt.Fprintf(&b, "%s,%s,%d\n", nhi1, name1, i)
	}
	data := []byte(b.String())
	lim := testLimits()
	lim.Timeout = time.Millisecond
	before := runtime.NumGoroutine()
	start := time.Now()
	_, err := Extract(context.Background(), data, lim)
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("returned after %s", time.Since(start))
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("parser goroutine still running: %d > %d", n, before)
	}
}

func TestNoContentInWarnings(t *testing.T) {
	// Warnings and errors must not carry document text.
	secret := "ZZSECRET" + nhi1
	inputs := [][]byte{
		[]byte(`{\rtf1 ` + secret + `}}}`),
		[]byte("a,b\n\"" + secret + "\"x,y\n"),
		[]byte("INSERT INTO t VALUES ('" + secret),
		buildDOCX(t, "<w:document><w:t>"+secret+"</w:t>&bogus;"),
	}
	re := regexp.MustCompile(`ZZSECRET`)
	for _, in := range inputs {
		res, err := Extract(context.Background(), in, testLimits())
		if err != nil && re.MatchString(err.Error()) {
			t.Errorf("error carries content: %v", err)
		}
		for _, w := range res.Warnings {
			if re.MatchString(w) {
				t.Errorf("warning carries content: %q", w)
			}
		}
	}
}

// TestHostilePDFObjStmOpenHexString is FuzzPDFObjects' first find: an
// object stream ending inside "<" made the library's hex-string reader
// spin forever at end of data (no read, no allocation, so no guard saw
// it). checkObjStm now refuses such streams before the library lexes them.
func TestHostilePDFObjStmOpenHexString(t *testing.T) {
	p := &testPDF{compressed: map[int]bool{}}
	catalog := p.add("<< /Type /Catalog /Pages 2 0 R >>")
	p.add("<< /Type /Pages /Kids [3 0 R 2 0 R] /Cou0 02 >>")
	p.add("<< /Type /Page /Paren  3 0 R /Resources 4 0 R /Contents [5 0 R 5 0 R] >>")
	p.add("<")
	p.stream("/Filter /FlateDecode", zflate([]byte("1 begincodespacerange <0000> <ffff> endcodespacerange")))
	for _, n := range []int{1, 2, 3, 4} {
		p.compressed[n] = true
	}
	data := p.bytesXRefStream(catalog, nil)
	_, err := libOnly(t, data)
	if err == nil || !strings.Contains(err.Error(), "unterminated hex string") {
		t.Errorf("err = %v", err)
	}
	hostilePDF(t, data, 5*time.Second, 64<<20, nil)

	// The second find: "<" then one non-hex byte before the end hangs the
	// reader while it looks for the pair's second byte.
	p = &testPDF{compressed: map[int]bool{}}
	catalog = p.add("")
	p.add("<")
	p.add("}")
	p.stream("", []byte(" "))
	for _, n := range []int{1, 2, 3} {
		p.compressed[n] = true
	}
	data = p.bytesXRefStream(catalog, nil)
	if _, err := libOnly(t, data); err == nil || !strings.Contains(err.Error(), "unterminated hex string") {
		t.Errorf("err = %v", err)
	}

	for s, want := range map[string]bool{
		"<": true, "< }": true, "<0a": true, "<0a1": true, "<0a>": false, "<zz": false,
		"<<": true, "<< /A 1 >>": false, "(<) x": false, "x <0 a > <1": true,
	} {
		if got := openHexAtEnd([]byte(s)); got != want {
			t.Errorf("openHexAtEnd(%q) = %v, want %v", s, got, want)
		}
	}
}
