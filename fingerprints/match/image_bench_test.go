package match

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"testing"

	"github.com/leakwatch/leakwatch/fingerprints"
)

// BenchmarkAnalyzeImage is one JPEG photo through the analyzer, decode
// included: as a query (whole, trimmed, despeckled, 80 one-sided crop
// trials, layout) and as a reference (8 rotations and flips, 15 crops,
// trim). Thumbnail and camera sizes.
func BenchmarkAnalyzeImage(b *testing.B) {
	key, err := fingerprints.NewKey(bytes.Repeat([]byte{3}, 32))
	if err != nil {
		b.Fatal(err)
	}
	a := NewAnalyzer(key, Options{})
	for _, sz := range []struct {
		name string
		w, h int
	}{{"224x168", 224, 168}, {"12MP", 4000, 3000}} {
		img := image.NewRGBA(image.Rect(0, 0, sz.w, sz.h))
		for y := range sz.h {
			for x := range sz.w {
				u, v := float64(x)/float64(sz.w), float64(y)/float64(sz.h)
				c := 128 + 60*math.Sin(9*u+4*v) + 40*math.Cos(13*v-5*u) + float64((x*7+y*13)%9)
				img.SetRGBA(x, y, color.RGBA{uint8(c), uint8(c * 0.8), uint8(255 - c), 255})
			}
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
			b.Fatal(err)
		}
		data := buf.Bytes()
		for _, mode := range []struct {
			name string
			m    Mode
		}{{"query", Query}, {"reference", Reference}} {
			b.Run(sz.name+"/"+mode.name, func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					err := a.Analyze(context.Background(), "photo.jpg", data, mode.m, func(f Features) error {
						if len(f.Images) != 1 {
							b.Fatalf("%d images", len(f.Images))
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
