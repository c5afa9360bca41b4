package pdq

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"math"
	"testing"

	"github.com/leakwatch/leakwatch/fingerprints"
)

// gradient paints a smooth design: a diagonal ramp between two colours
// with one soft disc, no edges (PDQ quality 0 or near it).
func gradient(w, h int, c0, c1, disc color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	mix := func(a, b uint8, t float64) uint8 { return uint8(float64(a)*(1-t) + float64(b)*t) }
	for y := range h {
		for x := range w {
			u := (float64(x)/float64(w) + float64(y)/float64(h)) / 2
			c := color.NRGBA{mix(c0.R, c1.R, u), mix(c0.G, c1.G, u), mix(c0.B, c1.B, u), 255}
			d := math.Hypot(float64(x)-0.7*float64(w), float64(y)-0.4*float64(h)) / (0.25 * float64(w))
			a := 0.7 * math.Exp(-d*d)
			c = color.NRGBA{mix(c.R, disc.R, a), mix(c.G, disc.G, a), mix(c.B, disc.B, a), 255}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

// TestFlatSurvivesRecompression: a design's layout is within the
// tolerances after JPEG quality 55 and a resize, while PDQ cannot rate it,
// and another design's is not.
func TestFlatSurvivesRecompression(t *testing.T) {
	design := gradient(640, 400, color.NRGBA{30, 60, 150, 255}, color.NRGBA{200, 220, 240, 255}, color.NRGBA{250, 180, 40, 255})
	other := gradient(640, 400, color.NRGBA{40, 70, 140, 255}, color.NRGBA{190, 210, 250, 255}, color.NRGBA{40, 200, 90, 255})
	pr := mustPrepare(t, design)
	want, contrast := pr.Flat()
	if _, q := pr.Hash(); q >= MinQuality {
		t.Fatalf("the design has PDQ quality %d: not a low-texture image, the test shows nothing", q)
	}
	if contrast < FlatMinContrast {
		t.Fatalf("contrast %d, want at least %d", contrast, FlatMinContrast)
	}
	small := image.NewNRGBA(image.Rect(0, 0, 480, 300))
	draw.Draw(small, small.Bounds(), reencodeJPEG(t, design, 90), image.Point{}, draw.Src) // cropped is not the point here
	for name, img := range map[string]image.Image{"jpeg-55": reencodeJPEG(t, design, 55), "half": halfSize(design)} {
		got, _ := mustPrepare(t, img).Flat()
		if !FlatMatch(want, got) {
			mx, mean := FlatDistance(want, got)
			t.Errorf("%s: layout %d max / %.1f mean from the original's, want within %d / %d", name, mx, mean, FlatMaxCellDiff, FlatMaxMeanDiff)
		}
	}
	got, _ := mustPrepare(t, reencodeJPEG(t, other, 55)).Flat()
	if FlatMatch(want, got) {
		t.Error("another design's layout matched")
	}
	uniform := image.NewNRGBA(image.Rect(0, 0, 300, 200))
	draw.Draw(uniform, uniform.Bounds(), image.NewUniform(color.NRGBA{90, 90, 200, 255}), image.Point{}, draw.Src)
	if _, c := mustPrepare(t, reencodeJPEG(t, uniform, 55)).Flat(); c >= FlatMinContrast {
		t.Errorf("a uniform image has layout contrast %d", c)
	}
}

func halfSize(img image.Image) image.Image {
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx()/2, b.Dy()/2))
	for y := range b.Dy() / 2 {
		for x := range b.Dx() / 2 {
			var s [4]uint32
			for _, p := range [][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
				r, g, bl, a := img.At(b.Min.X+2*x+p[0], b.Min.Y+2*y+p[1]).RGBA()
				s[0], s[1], s[2], s[3] = s[0]+r, s[1]+g, s[2]+bl, s[3]+a
			}
			out.SetNRGBA(x, y, color.NRGBA{uint8(s[0] / 4 >> 8), uint8(s[1] / 4 >> 8), uint8(s[2] / 4 >> 8), 255})
		}
	}
	return out
}

// TestKeyFlat: keying preserves the layout distance exactly (modulo 256),
// hides the plain values, and depends on the key.
func TestKeyFlat(t *testing.T) {
	k1, _ := fingerprints.NewKey(bytes.Repeat([]byte{1}, 32))
	k2, _ := fingerprints.NewKey(bytes.Repeat([]byte{2}, 32))
	kr1, kr2 := NewKeyer(k1), NewKeyer(k2)
	var a, b Flat
	for i := range a {
		a[i] = byte(i * 7)
		b[i] = a[i] + byte(i%5) - 2
	}
	b[3] = a[3] + 100
	mx, mean := FlatDistance(a, b)
	kmx, kmean := FlatDistance(kr1.KeyFlat(a), kr1.KeyFlat(b))
	if mx != kmx || mean != kmean {
		t.Errorf("keyed distance %d/%.2f, plain %d/%.2f", kmx, kmean, mx, mean)
	}
	if kr1.KeyFlat(a) == a || kr1.KeyFlat(a) == kr2.KeyFlat(a) {
		t.Error("keyed signature equals the plain one or another key's")
	}
	f, err := ParseFlat(kr1.KeyFlat(a).String())
	if err != nil || f != kr1.KeyFlat(a) {
		t.Errorf("ParseFlat(String()) = %v, %v", f, err)
	}
	if _, err := ParseFlat("zz"); err == nil {
		t.Error("ParseFlat accepted garbage")
	}
}
