package hostile

import (
	"archive/zip"
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"strings"

	"github.com/leakwatch/leakwatch/internal/testkit/synth"
)

// File is a good (non-hostile) synthetic document the site serves as a
// normal attachment among the traps.
type File struct {
	Name string // file name used in URLs; "/" and "\" become "_"
	Data []byte
}

// DefaultFiles returns the good files used when Options.Files is empty: a
// clinical note, a lab report PDF, a records CSV and a PNG "scan", all
// synthetic (NHIs in the Z test range).
func DefaultFiles() []File {
	return []File{
		{Name: "note-ZZZ0016.txt", Data: []byte("Clinical note (synthetic)\nNHI: ZZZ0016\nPatient: Test Patient One\n" +
			"Seen for review. HbA1c 41 mmol/mol. Plan: repeat bloods in three months.\n")},
		{Name: "lab-ZZZ0024.pdf", Data: syntheticPDF("Lab report (synthetic) NHI ZZZ0024 Ferritin 120 ug/L")},
		{Name: "records.csv", Data: []byte("nhi,name,test,result\nZZZ0016,Test Patient One,HbA1c,41\nZZZ0024,Test Patient Two,Ferritin,120\n")},
		{Name: "scan-ZZZ0032.png", Data: syntheticPNG(3)},
	}
}

// syntheticPDF returns a minimal valid one-page PDF showing text, with a
// correct cross-reference table.
func syntheticPDF(text string) []byte {
	text = strings.NewReplacer(`\`, `\\`, "(", `\(`, ")", `\)`).Replace(text)
	stream := fmt.Sprintf("BT /F1 12 Tf 72 720 Td (%s) Tj ET", text)
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(stream), stream),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	return synth.AssemblePDF(objs)
}

// syntheticPNG returns a small noise-free PNG whose pixels depend on seed.
func syntheticPNG(seed int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 16, 16))
	for y := range 16 {
		for x := range 16 {
			img.Set(x, y, color.RGBA{uint8(x * 16), uint8(y * 16), uint8(seed * 40), 255})
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img) // in-memory: cannot fail
	return b.Bytes()
}

// syntheticZip returns a small zip holding one synthetic note.
func syntheticZip() []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.Create("note-ZZZ0040.txt")
	_, _ = w.Write([]byte("Clinical note (synthetic)\nNHI: ZZZ0040\nPatient: Test Patient Four\nNo concerns.\n"))
	_ = zw.Close()
	return b.Bytes()
}
