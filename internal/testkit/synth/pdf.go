package synth

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// buildPDF writes a minimal, valid single-page PDF 1.4 document whose
// content stream shows title and lines as real text (standard Type 1 fonts,
// uncompressed), so text extractors such as ledongthuc/pdf or pdftotext
// recover the words. Writing it by hand avoids a PDF dependency and keeps the
// bytes fully deterministic.
func buildPDF(title string, lines []string, created time.Time) []byte {
	var content bytes.Buffer
	content.WriteString("BT\n/F2 14 Tf\n50 790 Td\n")
	fmt.Fprintf(&content, "(%s) Tj\n", pdfString(title))
	content.WriteString("/F1 9 Tf\n13 TL\n0 -10 Td\n")
	for _, l := range lines {
		fmt.Fprintf(&content, "T* (%s) Tj\n", pdfString(l))
	}
	content.WriteString("ET\n")

	date := created.UTC().Format("20060102150405")
	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] " +
			"/Resources << /Font << /F1 4 0 R /F2 5 0 R >> >> /Contents 6 0 R >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Courier /Encoding /WinAnsiEncoding >>",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", content.Len(), content.String()),
		fmt.Sprintf("<< /Title (%s) /Producer (leakwatch synth) /CreationDate (D:%sZ) >>", pdfString(title), date),
	}

	return assemblePDF(objects, fmt.Sprintf(" /Info %d 0 R", len(objects)))
}

// pdfString escapes s for a PDF literal string. Characters outside printable
// ASCII become '?', since the fonts use a single-byte encoding.
func pdfString(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '(' || r == ')' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		default:
			b.WriteByte('?')
		}
	}
	return b.String()
}

// AssemblePDF joins objs as objects 1..n (the first the catalog) into a
// PDF with a correct cross-reference table, for hand-built test PDFs.
func AssemblePDF(objs []string) []byte { return assemblePDF(objs, "") }

// assemblePDF is AssemblePDF with extra trailer entries (e.g. " /Info 7 0 R").
func assemblePDF(objs []string, trailer string) []byte {
	var b bytes.Buffer
	// The second line's high bytes mark the file as binary for transfer tools.
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	// Each cross-reference entry must be exactly 20 bytes, EOL included.
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, trailer, xref)
	return b.Bytes()
}
