package synth

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/math/fixed"
)

// Variants of TScanned, cycled on the item index so every one appears.
var scanVariants = []string{"png", "jpeg", "pdf"}

// scannedItem prints a lab result or clinical note to a page image at 150 or
// 200 dpi, as a scanner or a phone would see it: off-white paper, a slight
// skew (±0.3–1.2°), sensor noise, then posts it as a PNG, a JPEG or a JPEG
// wrapped in an image-only PDF.
func (m *mixer) scannedItem(rng *rand.Rand, i int, src Doc) (LeakItem, error) {
	lines, err := m.docLines(src)
	if err != nil {
		return LeakItem{}, err
	}
	dpi := []float64{150, 200}[rng.IntN(2)]
	page, err := printPage(lines, dpi)
	if err != nil {
		return LeakItem{}, err
	}
	angle := (0.3 + 0.9*rng.Float64()) * float64(1-2*rng.IntN(2))
	scan := skewNoise(rng, page, angle*math.Pi/180)
	variant := scanVariants[i%len(scanVariants)]
	var data []byte
	ext := "." + variant
	switch variant {
	case "png":
		data, err = encodeImage(scan, ".png", 0)
	case "jpeg":
		ext = ".jpg"
		data, err = encodeImage(scan, ".jpg", 80+rng.IntN(15))
	case "pdf":
		var buf bytes.Buffer
		if err = jpeg.Encode(&buf, scan, &jpeg.Options{Quality: 85}); err == nil {
			data = imageOnlyPDF(buf.Bytes(), scan.Bounds().Dx(), scan.Bounds().Dy())
		}
	}
	if err != nil {
		return LeakItem{}, fmt.Errorf("scan %s: %w", variant, err)
	}
	return LeakItem{Name: postedName(rng, ext), Data: data, Variant: fmt.Sprintf("%s-%.0fdpi", variant, dpi)}, nil
}

// docLines is the text of a reference as printed lines.
func (m *mixer) docLines(src Doc) ([]string, error) {
	data := m.files[src.RelPath]
	if src.Kind == KindLabResult {
		lines, err := pdfTextLines(data)
		if err != nil {
			return nil, fmt.Errorf("read lab text: %w", err)
		}
		return lines, nil
	}
	return strings.Split(strings.TrimRight(string(data), "\n"), "\n"), nil
}

// printPage renders lines in 10 pt Go Regular on an A4 page (taller when
// the text needs it), wrapping long lines at the margin.
func printPage(lines []string, dpi float64) (*image.RGBA, error) {
	face, err := goRegular(10, dpi)
	if err != nil {
		return nil, err
	}
	defer face.Close()
	w, h := int(8.27*dpi), int(11.69*dpi)
	margin := int(0.8 * dpi)
	lineH := int(math.Ceil(10 * 1.5 * dpi / 72))
	var wrapped []string
	for _, l := range lines {
		wrapped = append(wrapped, wrapLine(face, l, fixed.I(w-2*margin))...)
	}
	h = max(h, 2*margin+lineH*(len(wrapped)+1))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.RGBA{246, 244, 238, 255}), image.Point{}, draw.Src)
	d := font.Drawer{Dst: img, Src: image.NewUniform(color.RGBA{28, 28, 34, 255}), Face: face}
	for k, l := range wrapped {
		d.Dot = fixed.P(margin, margin+lineH*(k+1))
		d.DrawString(l)
	}
	return img, nil
}

// wrapLine splits s at spaces so each piece fits width.
func wrapLine(face font.Face, s string, width fixed.Int26_6) []string {
	words := strings.Fields(s)
	if len(words) == 0 {
		return []string{""}
	}
	var out []string
	cur := words[0]
	for _, wd := range words[1:] {
		if font.MeasureString(face, cur+" "+wd) > width {
			out = append(out, cur)
			cur = wd
			continue
		}
		cur += " " + wd
	}
	return append(out, cur)
}

// skewNoise rotates img by angle radians about its centre (bilinear, paper
// colour outside) and adds per-pixel noise of up to ±10 levels.
func skewNoise(rng *rand.Rand, img *image.RGBA, angle float64) *image.RGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	out := image.NewRGBA(b)
	sin, cos := math.Sin(angle), math.Cos(angle)
	cx, cy := float64(w)/2, float64(h)/2
	paper := [3]float64{246, 244, 238}
	at := func(x, y, c int) float64 {
		if x < 0 || y < 0 || x >= w || y >= h {
			return paper[c]
		}
		return float64(img.Pix[img.PixOffset(x, y)+c])
	}
	for y := range h {
		for x := range w {
			// Inverse mapping: where in the source this pixel comes from.
			dx, dy := float64(x)-cx, float64(y)-cy
			sx, sy := cos*dx+sin*dy+cx, -sin*dx+cos*dy+cy
			x0, y0 := int(math.Floor(sx)), int(math.Floor(sy))
			fx, fy := sx-float64(x0), sy-float64(y0)
			n := float64(rng.IntN(21) - 10)
			o := out.PixOffset(x, y)
			for c := range 3 {
				v := at(x0, y0, c)*(1-fx)*(1-fy) + at(x0+1, y0, c)*fx*(1-fy) +
					at(x0, y0+1, c)*(1-fx)*fy + at(x0+1, y0+1, c)*fx*fy
				out.Pix[o+c] = clamp8(v + n)
			}
			out.Pix[o+3] = 0xff
		}
	}
	return out
}

// imageOnlyPDF wraps a JPEG as the whole of a one-page A4 PDF, as scanners
// write them: no text layer at all.
func imageOnlyPDF(jpg []byte, w, h int) []byte {
	content := "q 595 0 0 842 0 0 cm /Im1 Do Q\n"
	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /XObject << /Im1 4 0 R >> >> /Contents 5 0 R >>",
		fmt.Sprintf("<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n%s\nendstream", w, h, len(jpg), jpg),
		fmt.Sprintf("<< /Length %d >>\nstream\n%sendstream", len(content), content),
	}
	return AssemblePDF(objects)
}
