package notices

import (
	"bytes"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"codeberg.org/go-pdf/fpdf"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"
)

// TextPDF lays out a rendered text notice as an A4 PDF: the title in bold,
// the text in a fixed-width core font (so the schedule's columns line up as
// in the e-mail), and the reference and page number in the footer.
//
// It takes the text rather than Data so that the attachment can be made from
// the text as approved, edits included. The output is deterministic for the
// same input: created is the document's creation and modification date, the
// catalog is sorted and fpdf writes an empty file ID.
//
// Only the PDF core fonts are used, which cover Windows-1252; other
// characters are reduced to their base letter where there is one (Māori
// macrons: "ā" becomes "a") and to "?" otherwise, rather than fail.
func TextPDF(title, reference, text string, created time.Time) ([]byte, error) {
	if created.IsZero() {
		return nil, fmt.Errorf("notice pdf %s: creation time is required (it keeps the output reproducible)", reference)
	}
	const (
		margin = 50.0 // points
		lineH  = 11.0
	)
	created = created.UTC().Truncate(time.Second)
	pdf := fpdf.New("P", "pt", "A4", "")
	pdf.SetCreationDate(created)
	pdf.SetModificationDate(created)
	pdf.SetCatalogSort(true)
	pdf.SetTitle(cp1252(title), false)
	pdf.SetCreator("leakwatch", false)
	pdf.SetMargins(margin, margin, margin)
	pdf.SetAutoPageBreak(true, margin)
	pdf.AliasNbPages("{nb}")
	footer := cp1252(reference)
	pdf.SetFooterFunc(func() {
		pdf.SetY(-margin + 15)
		pdf.SetFont("Helvetica", "", 8)
		pdf.CellFormat(0, 10, fmt.Sprintf("%s - page %d of {nb}", footer, pdf.PageNo()), "", 0, "C", false, 0, "")
	})
	pdf.AddPage()
	pdf.SetFont("Helvetica", "B", 13)
	pdf.MultiCell(0, 16, cp1252(title), "", "L", false)
	pdf.Ln(8)
	pdf.SetFont("Courier", "", 9)
	for _, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			pdf.Ln(lineH)
			continue
		}
		pdf.MultiCell(0, lineH, cp1252(line), "", "L", false)
	}
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return nil, fmt.Errorf("notice pdf %s: %w", reference, err)
	}
	return buf.Bytes(), nil
}

// cp1252 converts s to the Windows-1252 bytes the core fonts expect. Runes
// outside it become their base letter when they decompose to one, else "?";
// tabs become spaces and other control characters are dropped.
func cp1252(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteString("    ")
			continue
		case r < 0x20 || r == 0x7f:
			continue
		case r == utf8.RuneError:
			b.WriteByte('?')
			continue
		}
		if c, ok := charmap.Windows1252.EncodeRune(r); ok {
			b.WriteByte(c)
			continue
		}
		base, _ := utf8.DecodeRuneInString(norm.NFD.String(string(r)))
		if c, ok := charmap.Windows1252.EncodeRune(base); ok && base != r {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('?')
	}
	return b.String()
}

// pdfName is the attachment name for a notice's PDF.
func pdfName(reference string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' {
			return '_'
		}
		return r
	}, reference) + ".pdf"
}

// PDFAttachment wraps a notice's PDF as the attachment every notice e-mail
// carries, named "<reference>.pdf".
func PDFAttachment(reference string, pdf []byte) Attachment {
	return Attachment{Name: pdfName(reference), ContentType: "application/pdf", Data: pdf}
}
