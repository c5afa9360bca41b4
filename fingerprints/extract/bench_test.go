package extract

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func benchExtract(b *testing.B, data []byte, want Type) {
	b.Helper()
	lim := Limits{}
	res, err := Extract(context.Background(), data, lim)
	if err != nil || res.Type != want || res.Text == "" {
		b.Fatalf("setup: %s, %v, %d bytes of text, warnings %q", res.Type, err, len(res.Text), res.Warnings)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Extract(context.Background(), data, lim); err != nil {
			b.Fatal(err)
		}
	}
}

// benchLines is clinical-looking filler: synthetic names and test NHIs.
func benchLines(n int) []string {
	lines := make([]string, n)
	for i := range lines {
		lines[i] = fmt.Sprintf("Line %d: patient %s (%s) seen; Hb %d g/L, Na %d mmol/L, plan reviewed.", i, name1, nhi1, 120+i%40, 135+i%10)
	}
	return lines
}

// BenchmarkExtractPDF: 20 pages of 50 lines each, Flate-compressed.
func BenchmarkExtractPDF(b *testing.B) {
	var pages []string
	for p := 0; p < 20; p++ {
		pages = append(pages, textLines(benchLines(50)...))
	}
	benchExtract(b, simplePDF(true, pages...), TypePDF)
}

// BenchmarkExtractDOCX: 2,000 paragraphs.
func BenchmarkExtractDOCX(b *testing.B) {
	benchExtract(b, buildDOCX(b, docxBody(benchLines(2000)...)), TypeDOCX)
}

// BenchmarkExtractHTML: about 1 MB of paragraphs and table rows.
func BenchmarkExtractHTML(b *testing.B) {
	var s strings.Builder
	s.WriteString("<!DOCTYPE html><html><head><title>Report</title><style>td{}</style></head><body>")
	for i, l := range benchLines(6000) {
		if i%2 == 0 {
			fmt.Fprintf(&s, "<p class=\"n\">%s</p>\n", l)
		} else {
			fmt.Fprintf(&s, "<table><tr><td>%d</td><td>%s</td></tr></table>\n", i, l)
		}
	}
	s.WriteString("</body></html>")
	benchExtract(b, []byte(s.String()), TypeHTML)
}

// BenchmarkExtractText: about 4 MB of UTF-8 text.
func BenchmarkExtractText(b *testing.B) {
	benchExtract(b, []byte(strings.Join(benchLines(50000), "\n")), TypeText)
}
