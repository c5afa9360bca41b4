package match

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"testing"

	"github.com/leakwatch/leakwatch/fingerprints"
)

// pageOCR plays Tesseract: every image reads as the same letter.
type pageOCR struct{ calls int }

func (p *pageOCR) Recognize(context.Context, image.Image) (string, error) {
	p.calls++
	return "Referral letter for NHI ZQC5521, seen in the respiratory clinic on 3 May 2026.", nil
}

// TestAnalyzerOCR: Options.OCR reaches the extractor in both modes, so a
// scanned reference (refs add) and a scanned leak (scan, crawl) get text
// fingerprints as well as their image one, and equal text gives equal digests.
func TestAnalyzerOCR(t *testing.T) {
	key, err := fingerprints.NewKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewGray(image.Rect(0, 0, 600, 800))
	for i := range img.Pix {
		img.Pix[i] = 240
	}
	for x := 60; x < 540; x++ {
		img.SetGray(x, 100, color.Gray{Y: 20})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	analyze := func(opts Options, mode Mode) Features {
		t.Helper()
		var got []Features
		err := NewAnalyzer(key, opts).Analyze(context.Background(), "scan.png", buf.Bytes(), mode, func(f Features) error {
			got = append(got, f)
			return nil
		})
		if err != nil || len(got) != 1 || got[0].Err != nil {
			t.Fatalf("Analyze: %v, %d items %+v", err, len(got), got)
		}
		return got[0]
	}
	reader := &pageOCR{}
	ref := analyze(Options{OCR: reader}, Reference)
	query := analyze(Options{OCR: reader}, Query)
	if ref.TextDigest == "" || len(ref.Prints) == 0 || len(ref.Images) != 1 {
		t.Fatalf("reference: digest %q, %d prints, %d images; want text and image fingerprints", ref.TextDigest, len(ref.Prints), len(ref.Images))
	}
	if query.TextDigest != ref.TextDigest {
		t.Error("the same page read at query time has another text digest")
	}
	if reader.calls != 2 {
		t.Errorf("OCR ran %d times, want once per analysis", reader.calls)
	}
	if f := analyze(Options{}, Query); f.TextDigest != "" || len(f.Images) != 1 {
		t.Errorf("zero Options: digest %q, %d images; want image only", f.TextDigest, len(f.Images))
	}
}
