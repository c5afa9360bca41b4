package pdq

import (
	"fmt"
	"image"
	"testing"
)

// benchImage is a photo-like JPEG-decoded (YCbCr 4:2:0) image of w x h,
// upscaled from a smaller synthetic one to keep set-up quick.
func benchImage(b *testing.B, w, h int) image.Image {
	b.Helper()
	return reencodeJPEG(b, resize(synth(9, 800, 600), w, h), 90)
}

func BenchmarkCompute(b *testing.B) {
	for _, sz := range []struct {
		name string
		w, h int
	}{{"1MP", 1155, 866}, {"12MP", 4000, 3000}} {
		ycc := benchImage(b, sz.w, sz.h)
		nrgba := resize(ycc, sz.w, sz.h)
		for _, c := range []struct {
			kind string
			img  image.Image
		}{{"YCbCr", ycc}, {"NRGBA", nrgba}} {
			b.Run(fmt.Sprintf("%s/%s", sz.name, c.kind), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := Compute(c.img); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
	small := synth(9, 512, 384)
	b.Run("512x384/NRGBA", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := Compute(small); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDihedral(b *testing.B) {
	img := benchImage(b, 1155, 866)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Dihedral(img); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKey(b *testing.B) {
	k := NewKeyer(testKey(b, 1))
	h, _ := mustCompute(b, synth(1, 200, 150))
	for b.Loop() {
		h = k.Key(h)
	}
}

func BenchmarkDistance(b *testing.B) {
	h1, _ := mustCompute(b, synth(1, 200, 150))
	h2, _ := mustCompute(b, synth(2, 200, 150))
	n := 0
	for b.Loop() {
		n += Distance(h1, h2)
	}
	_ = n
}

// BenchmarkPrepared covers leakwatch's resampled path: a query (one hash)
// and a reference (8 rotations/flips plus 10 centre crops, as the matcher
// indexes them).
func BenchmarkPrepared(b *testing.B) {
	for _, sz := range []struct {
		name string
		w, h int
	}{{"224x168", 224, 168}, {"1MP", 1155, 866}, {"12MP", 4000, 3000}} {
		img := benchImage(b, sz.w, sz.h)
		b.Run(sz.name+"/query", func(b *testing.B) {
			for b.Loop() {
				p, err := Prepare(img)
				if err != nil {
					b.Fatal(err)
				}
				p.Hash()
			}
		})
		b.Run(sz.name+"/reference", func(b *testing.B) {
			for b.Loop() {
				p, err := Prepare(img)
				if err != nil {
					b.Fatal(err)
				}
				p.Dihedral()
				for m := 1; m <= 10; m++ {
					p.Crop(float64(m) * 0.005)
				}
			}
		})
	}
}
