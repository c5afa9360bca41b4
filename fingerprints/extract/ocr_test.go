package extract

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"

	"github.com/leakwatch/leakwatch/fingerprints/ocr"
)

// scanPage renders lines as a printed page at 150 dpi.
func scanPage(t testing.TB, lines ...string) *image.RGBA {
	t.Helper()
	f, err := opentype.Parse(goregular.TTF)
	if err != nil {
		t.Fatal(err)
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: 12, DPI: 150, Hinting: font.HintingFull})
	if err != nil {
		t.Fatal(err)
	}
	defer face.Close()
	img := image.NewRGBA(image.Rect(0, 0, 1240, 1754))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.RGBA{248, 247, 242, 255}), image.Point{}, draw.Src)
	d := font.Drawer{Dst: img, Src: image.NewUniform(color.RGBA{30, 30, 35, 255}), Face: face}
	for i, l := range lines {
		d.Dot = fixed.P(120, 160+i*40)
		d.DrawString(l)
	}
	return img
}

// imagePDF wraps a JPEG as the only content of a one-page PDF: a scan.
func imagePDF(t testing.TB, img image.Image) []byte {
	b := img.Bounds()
	jpg := jpegBytes(t, img)
	p := &testPDF{}
	catalog := p.add("")
	pagesID := p.add("")
	im := p.stream(fmt.Sprintf("/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode", b.Dx(), b.Dy()), jpg)
	cs := p.stream("", []byte("q 595 0 0 842 0 0 cm /Im1 Do Q"))
	pg := p.add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Resources << /XObject << /Im1 %d 0 R >> >> /Contents %d 0 R >>", pagesID, im, cs))
	p.set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pagesID))
	p.set(pagesID, fmt.Sprintf("<< /Type /Pages /Kids [%d 0 R] /Count 1 >>", pg))
	return p.bytes(catalog)
}

var letterLines = []string{
	"Outpatient letter, dermatology clinic",
	"Patient NHI ZQA1234 was reviewed on 2 February 2026.",
	"The lesion on the left forearm has grown to 9 mm and",
	"will be excised under local anaesthetic next month.",
	"Please continue the topical treatment until then.",
}

// fakeOCR stands in for Tesseract where the hook, not recognition, is tested.
type fakeOCR struct{ calls atomic.Int32 }

func (f *fakeOCR) Recognize(_ context.Context, img image.Image) (string, error) {
	f.calls.Add(1)
	if !ocr.LooksLikeDocument(img) {
		return "", ocr.ErrNotDocument
	}
	return "recognised page text", nil
}

// OCR runs only where a document has no text of its own, and photos are
// skipped before any recognition.
func TestOCRHook(t *testing.T) {
	ctx := context.Background()
	fake := &fakeOCR{}
	x := &Extractor{Limits: testLimits(), OCR: fake}

	res, err := x.Extract(ctx, pngBytes(t, scanPage(t, letterLines...)))
	if err != nil {
		t.Fatal(err)
	}
	wantText(t, res, "recognised page text")
	if len(res.Images) != 1 {
		t.Errorf("the scan was not also kept as an image (%d)", len(res.Images))
	}

	res, err = x.Extract(ctx, imagePDF(t, scanPage(t, letterLines...)))
	if err != nil {
		t.Fatal(err)
	}
	wantText(t, res, "recognised page text")

	res, err = x.Extract(ctx, pngBytes(t, testImage(640, 480)))
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != "" {
		t.Error("a photo yielded OCR text")
	}

	before := fake.calls.Load()
	res, err = x.Extract(ctx, simplePDF(false, "A born-digital lab report with its own text layer"))
	if err != nil {
		t.Fatal(err)
	}
	if fake.calls.Load() != before || strings.Contains(res.Text, "recognised") {
		t.Error("OCR ran on a PDF that has text")
	}
}

// The real engine, end to end through Extract: a scanned page as a PNG and
// as an image-only PDF yields its words.
func TestOCRTesseract(t *testing.T) {
	path, err := ocr.Resolve(ocr.Auto)
	if err != nil {
		t.Fatal(err)
	}
	if path == "" {
		if os.Getenv("LEAKWATCH_REQUIRE_OCR") == "1" {
			t.Fatal("tesseract is not installed and LEAKWATCH_REQUIRE_OCR=1")
		}
		t.Skip("tesseract is not installed: OCR through Extract not tested")
	}
	x := &Extractor{Limits: testLimits(), OCR: &ocr.Engine{Path: path}}
	page := scanPage(t, append([]string{"Discharge summary for Zelda Marchbank", "NHI ZQB7710 admitted with cellulitis of the left leg"}, letterLines...)...)
	for name, data := range map[string][]byte{"png": pngBytes(t, page), "pdf": imagePDF(t, page)} {
		res, err := x.Extract(context.Background(), data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := strings.ToLower(strings.Join(strings.Fields(res.Text), " "))
		if !strings.Contains(got, "discharge summary for zelda marchbank") || !strings.Contains(got, "cellulitis of the left leg") {
			t.Errorf("%s: OCR text lacks the page's words (%d characters)", name, len(res.Text))
		}
	}
}

// flatePDF wraps raw pixel rows, Flate-compressed, as the only content of a
// one-page PDF, as lossless scanners write them.
func flatePDF(w, h, bpc int, cs string, raw []byte) []byte {
	p := &testPDF{}
	catalog := p.add("")
	pagesID := p.add("")
	im := p.stream(fmt.Sprintf("/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /%s /BitsPerComponent %d /Filter /FlateDecode", w, h, cs, bpc), zflate(raw))
	cs2 := p.stream("", []byte("q 595 0 0 842 0 0 cm /Im1 Do Q"))
	pg := p.add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Resources << /XObject << /Im1 %d 0 R >> >> /Contents %d 0 R >>", pagesID, im, cs2))
	p.set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pagesID))
	p.set(pagesID, fmt.Sprintf("<< /Type /Pages /Kids [%d 0 R] /Count 1 >>", pg))
	return p.bytes(catalog)
}

// Images other than JPEG in a PDF: Flate-compressed grey, RGB and 1-bit
// pages are decoded, so they match by image and reach OCR.
func TestPDFFlateImages(t *testing.T) {
	page := scanPage(t, letterLines...)
	b := page.Bounds()
	gray := image.NewGray(b)
	draw.Draw(gray, b, page, image.Point{}, draw.Src)
	rgb := make([]byte, 0, 3*b.Dx()*b.Dy())
	for i := 0; i < len(page.Pix); i += 4 {
		rgb = append(rgb, page.Pix[i], page.Pix[i+1], page.Pix[i+2])
	}
	stride := (b.Dx() + 7) / 8
	bits := make([]byte, stride*b.Dy())
	for y := range b.Dy() {
		for x := range b.Dx() {
			if gray.Pix[y*gray.Stride+x] > 128 {
				bits[y*stride+x/8] |= 0x80 >> (x % 8)
			}
		}
	}
	fake := &fakeOCR{}
	x := &Extractor{Limits: testLimits(), OCR: fake}
	for name, data := range map[string][]byte{
		"gray": flatePDF(b.Dx(), b.Dy(), 8, "DeviceGray", gray.Pix),
		"rgb":  flatePDF(b.Dx(), b.Dy(), 8, "DeviceRGB", rgb),
		"1bit": flatePDF(b.Dx(), b.Dy(), 1, "DeviceGray", bits),
	} {
		res, err := x.Extract(context.Background(), data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(res.Images) != 1 || res.Images[0].Bounds() != b {
			t.Fatalf("%s: %d images; want the %v page", name, len(res.Images), b)
		}
		// The ink is where it was drawn: same luma as the original page.
		r, _, _, _ := res.Images[0].At(130, 150).RGBA()
		want, _, _, _ := gray.At(130, 150).RGBA()
		if (r>>8 > 128) != (want>>8 > 128) {
			t.Errorf("%s: pixel (130,150) is %d, want about %d", name, r>>8, want>>8)
		}
		wantText(t, res, "recognised page text")
	}

	// A PDF with text keeps its Flate images (logos) undecoded.
	p := &testPDF{}
	catalog := p.add("")
	pagesID := p.add("")
	im := p.stream("/Type /XObject /Subtype /Image /Width 64 /Height 64 /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode", zflate(make([]byte, 64*64)))
	cs := p.stream("", []byte("q 64 0 0 64 72 700 cm /Im1 Do Q BT /F1 12 Tf 72 650 Td (Letter with a logo for "+nhi1+") Tj ET"))
	font := p.add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
	pg := p.add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /Resources << /Font << /F1 %d 0 R >> /XObject << /Im1 %d 0 R >> >> /Contents %d 0 R >>", pagesID, font, im, cs))
	p.set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pagesID))
	p.set(pagesID, fmt.Sprintf("<< /Type /Pages /Kids [%d 0 R] /Count 1 >>", pg))
	res := mustExtract(t, p.bytes(catalog))
	wantText(t, res, "Letter with a logo for "+nhi1)
	if len(res.Images) != 0 {
		t.Errorf("a PDF with text: %d Flate images decoded, want none", len(res.Images))
	}

	// A stream shorter than its dimensions need is skipped, not padded.
	res, err := x.Extract(context.Background(), flatePDF(b.Dx(), b.Dy(), 8, "DeviceGray", gray.Pix[:1000]))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 0 {
		t.Errorf("truncated Flate image kept")
	}
}
