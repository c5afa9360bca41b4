package match

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
)

// blankPDF is a one-page PDF with an empty page: a scan separator, the
// blank last page of a print job.
func blankPDF() []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << >> >>",
		"<< /Length 0 >>\nstream\n\nendstream",
	}
	return synth.AssemblePDF(objs)
}

func encodeImage(t *testing.T, img image.Image, jpegQuality int) []byte {
	t.Helper()
	var b bytes.Buffer
	var err error
	if jpegQuality > 0 {
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: jpegQuality})
	} else {
		err = png.Encode(&b, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func paint(w, h int, f func(x, y int) color.RGBA) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetRGBA(x, y, f(x, y))
		}
	}
	return img
}

// TestTrivialContent: the analyzer applies the trivial rule to what it
// finds, the same way for references and queries.
func TestTrivialContent(t *testing.T) {
	key, err := fingerprints.NewKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	noise := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		b[0], b[1] = 0x8f, 0x01 // no format's magic
		return b
	}
	// A cream page with JPEG noise and per-pixel sensor noise of ±4 levels.
	blank := paint(640, 480, func(x, y int) color.RGBA {
		v := uint8(242 + rng.IntN(9))
		return color.RGBA{v, v, v - 10, 255}
	})
	// A flat, low-texture design: soft radial shading and one pale shape,
	// not blank (section 1 of issue 13 needs it kept).
	design := paint(640, 480, func(x, y int) color.RGBA {
		d := math.Hypot(float64(x-320), float64(y-240)) / 400
		v := uint8(200 - 60*d)
		if x > 400 && x < 520 && y > 100 && y < 220 {
			v -= 25
		}
		return color.RGBA{v, v + 10, 230, 255}
	})
	favicon := paint(16, 16, func(x, y int) color.RGBA { return color.RGBA{uint8(x * 16), uint8(y * 16), 90, 255} })
	letter := []byte("Dear Dr Te Whata, thank you for seeing Ms Rangi Parata (NHI ZZZ0016) about her follow-up " +
		"after the cholecystectomy on 4 March; her wound has healed and the LFTs are back to normal.")

	for _, c := range []struct {
		name string
		data []byte
		want fingerprints.TrivialReason
	}{
		{"empty", nil, fingerprints.TrivialEmpty},
		{"ten bytes of text", []byte("Page 1 of1"), fingerprints.TrivialNoContent},
		{"thirty opaque bytes", noise(30), fingerprints.TrivialSmall},
		{"a one-line 404 page", []byte("<!DOCTYPE html><html><head><title>404 Not Found</title></head><body><h1>404 Not Found</h1></body></html>\n"), fingerprints.TrivialNoContent},
		{"whitespace", bytes.Repeat([]byte(" \n\t"), 200), fingerprints.TrivialNoContent},
		{"blank PDF page", blankPDF(), fingerprints.TrivialNoContent},
		{"blank photo, JPEG q55", encodeImage(t, blank, 55), fingerprints.TrivialBlank},
		{"favicon", encodeImage(t, favicon, 0), fingerprints.TrivialBlank},
		{"low-texture design, JPEG q55", encodeImage(t, design, 55), ""},
		{"letter", letter, ""},
		{"opaque bytes", noise(200), ""},
	} {
		for _, mode := range []Mode{Reference, Query} {
			var got []Features
			err := NewAnalyzer(key, Options{}).Analyze(context.Background(), c.name, c.data, mode, func(f Features) error {
				got = append(got, f)
				return nil
			})
			if err != nil || len(got) != 1 {
				t.Fatalf("%s: %d items, %v", c.name, len(got), err)
			}
			if got[0].Trivial != c.want {
				t.Errorf("%s (mode %d): trivial %q, want %q (type %s, text %d, images %d, err %v)", c.name, mode, got[0].Trivial, c.want,
					got[0].Type, got[0].TextLen, len(got[0].Images), got[0].Err)
			}
		}
	}
}
