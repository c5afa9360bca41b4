package extract

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/ledongthuc/pdf"
)

// Synthetic test identities only: NHIs in the Z test range, invented names.
const (
	nhi1  = "ZAC5361"
	nhi2  = "ZVU27KZ"
	nhi3  = "ZAD96LT"
	name1 = "Aroha Testwell"
	name2 = "Mere Zample"
)

// testLimits are small so hostile inputs hit caps fast.
func testLimits() Limits {
	return Limits{
		MaxBytes:       8 << 20,
		MaxText:        1 << 20,
		MaxPages:       50,
		MaxImages:      8,
		MaxImagePixels: 4_000_000,
		MaxRows:        10_000,
		Timeout:        10 * time.Second,
	}
}

// installedPDFToText is the path of pdftotext when it is installed, else "".
func installedPDFToText(t testing.TB) string {
	t.Helper()
	p, err := ResolvePDFToText(PDFToTextAuto)
	if err != nil {
		t.Fatalf("ResolvePDFToText(auto): %v", err) // auto never fails
	}
	return p
}

// mustExtract extracts with testLimits and no pdftotext.
func mustExtract(t testing.TB, data []byte) Result {
	t.Helper()
	res, err := Extract(context.Background(), data, testLimits())
	if err != nil {
		t.Fatalf("Extract: %v (warnings %q)", err, res.Warnings)
	}
	return res
}

func wantText(t testing.TB, res Result, phrases ...string) {
	t.Helper()
	for _, p := range phrases {
		if !strings.Contains(res.Text, p) {
			t.Errorf("text lacks %q; got:\n%s", p, clipForLog(res.Text))
		}
	}
}

func clipForLog(s string) string {
	if len(s) > 2000 {
		return s[:2000] + "…"
	}
	return s
}

// ---- PDF builder ------------------------------------------------------

// testPDF assembles a PDF from object bodies. Objects are numbered from 1
// in the order added.
type testPDF struct {
	objs       []string
	compressed map[int]bool // objects to place in an object stream
}

func (p *testPDF) add(body string) int {
	p.objs = append(p.objs, body)
	return len(p.objs)
}

// set replaces object n's body (for forward references).
func (p *testPDF) set(n int, body string) { p.objs[n-1] = body }

func (p *testPDF) stream(dict string, data []byte) int {
	return p.add(streamBody(dict, data))
}

func streamBody(dict string, data []byte) string {
	return fmt.Sprintf("<< %s /Length %d >>\nstream\n%s\nendstream", dict, len(data), data)
}

func zflate(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// bytes writes the file with a classic xref table.
func (p *testPDF) bytes(root int) []byte {
	var out bytes.Buffer
	out.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(p.objs))
	for i, body := range p.objs {
		offsets[i] = out.Len()
		fmt.Fprintf(&out, "%d 0 obj\n%s\nendobj\n", i+1, body)
	}
	xref := out.Len()
	fmt.Fprintf(&out, "xref\n0 %d\n0000000000 65535 f \n", len(p.objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&out, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&out, "trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(p.objs)+1, root, xref)
	return out.Bytes()
}

// bytesXRefStream writes a PDF 1.5 file: objects marked compressed go into
// one object stream, and a cross-reference stream indexes everything.
// containerOf, when set, overrides the container number written for
// compressed object n (to build hostile files).
func (p *testPDF) bytesXRefStream(root int, containerOf func(n int) int) []byte {
	n := len(p.objs)
	objStm, xrefID := n+1, n+2
	var hdr, body bytes.Buffer
	index := map[int]int{}
	k := 0
	for i := 1; i <= n; i++ {
		if !p.compressed[i] {
			continue
		}
		fmt.Fprintf(&hdr, "%d %d ", i, body.Len())
		body.WriteString(p.objs[i-1])
		body.WriteString("\n")
		index[i] = k
		k++
	}
	stmData := append(hdr.Bytes(), body.Bytes()...)
	stmZ := zflate(stmData)

	var out bytes.Buffer
	out.WriteString("%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
	offsets := map[int]int{}
	for i := 1; i <= n; i++ {
		if p.compressed[i] {
			continue
		}
		offsets[i] = out.Len()
		fmt.Fprintf(&out, "%d 0 obj\n%s\nendobj\n", i, p.objs[i-1])
	}
	offsets[objStm] = out.Len()
	fmt.Fprintf(&out, "%d 0 obj\n%s\nendobj\n", objStm,
		streamBody(fmt.Sprintf("/Type /ObjStm /N %d /First %d /Filter /FlateDecode", k, hdr.Len()), stmZ))
	offsets[xrefID] = out.Len()

	var rows bytes.Buffer
	row := func(typ byte, a uint32, b uint16) {
		rows.WriteByte(typ)
		binary.Write(&rows, binary.BigEndian, a)
		binary.Write(&rows, binary.BigEndian, b)
	}
	row(0, 0, 65535)
	for i := 1; i <= xrefID; i++ {
		switch {
		case p.compressed[i]:
			c := objStm
			if containerOf != nil {
				c = containerOf(i)
			}
			row(2, uint32(c), uint16(index[i]))
		default:
			row(1, uint32(offsets[i]), 0)
		}
	}
	xz := zflate(rows.Bytes())
	fmt.Fprintf(&out, "%d 0 obj\n%s\nendobj\n", xrefID,
		streamBody(fmt.Sprintf("/Type /XRef /Size %d /W [1 4 2] /Root %d 0 R /Filter /FlateDecode", xrefID+1, root), xz))
	fmt.Fprintf(&out, "startxref\n%d\n%%%%EOF\n", offsets[xrefID])
	return out.Bytes()
}

// simplePDF is one page per content stream, Helvetica, uncompressed or
// Flate-compressed content.
func simplePDF(compress bool, pages ...string) []byte {
	p := &testPDF{}
	catalog := p.add("")
	pagesID := p.add("")
	font := p.add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
	var kids []string
	for _, content := range pages {
		var cs int
		if compress {
			cs = p.stream("/Filter /FlateDecode", zflate([]byte(content)))
		} else {
			cs = p.stream("", []byte(content))
		}
		pg := p.add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Contents %d 0 R >>", pagesID, cs))
		kids = append(kids, fmt.Sprintf("%d 0 R", pg))
	}
	p.set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pagesID))
	p.set(pagesID, fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d /Resources << /Font << /F1 %d 0 R >> >> >>",
		strings.Join(kids, " "), len(pages), font))
	return p.bytes(catalog)
}

// textLines renders lines as a content stream, one Td per line.
func textLines(lines ...string) string {
	var b strings.Builder
	b.WriteString("BT /F1 11 Tf 72 770 Td 14 TL\n")
	for _, l := range lines {
		fmt.Fprintf(&b, "(%s) Tj T*\n", strings.NewReplacer(`\`, `\\`, "(", `\(`, ")", `\)`).Replace(l))
	}
	b.WriteString("ET\n")
	return b.String()
}

// ---- office builders --------------------------------------------------

type zipEntry struct {
	name string
	data []byte
	raw  bool // stored without compression
}

func buildZip(t testing.TB, entries ...zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		if e.raw {
			h.Method = zip.Store
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(e.data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const contentTypesDocx = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`

func docxBody(paras ...string) string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>`)
	for _, p := range paras {
		b.WriteString(`<w:p><w:pPr><w:pStyle w:val="Normal"/></w:pPr>`)
		for i, part := range strings.Split(p, "\t") {
			if i > 0 {
				b.WriteString(`<w:r><w:tab/></w:r>`)
			}
			fmt.Fprintf(&b, `<w:r><w:rPr><w:b/></w:rPr><w:t xml:space="preserve">%s</w:t></w:r>`, xmlEscape(part))
		}
		b.WriteString(`</w:p>`)
	}
	b.WriteString(`</w:body></w:document>`)
	return b.String()
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func buildDOCX(t testing.TB, document string, extra ...zipEntry) []byte {
	entries := append([]zipEntry{
		{name: "[Content_Types].xml", data: []byte(contentTypesDocx)},
		{name: "word/document.xml", data: []byte(document)},
	}, extra...)
	return buildZip(t, entries...)
}

func buildODT(t testing.TB, content string, extra ...zipEntry) []byte {
	entries := append([]zipEntry{
		{name: "mimetype", data: []byte("application/vnd.oasis.opendocument.text"), raw: true},
		{name: "content.xml", data: []byte(content)},
		{name: "META-INF/manifest.xml", data: []byte(`<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"/>`)},
	}, extra...)
	return buildZip(t, entries...)
}

// ---- images -----------------------------------------------------------

func testImage(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 5), uint8((x + y) * 3), 255})
		}
	}
	return img
}

func pngBytes(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegBytes(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pdfValueForTest opens data with the library and returns the catalog.
func pdfValueForTest(t testing.TB, data []byte) pdf.Value {
	t.Helper()
	r, err := pdf.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return r.Trailer().Key("Root")
}
