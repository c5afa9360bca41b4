package pdq

import (
	"bytes"
	"image"
	"image/jpeg"
	"math"
	"math/rand/v2"
	"testing"

	"golang.org/x/image/draw"
)

// synth draws a photo-like test image: a gradient background, a dozen
// random ellipses and rectangles, some with soft edges, and mild pixel noise.
// The same seed gives the same image.
func synth(seed uint64, w, h int) *image.NRGBA {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	rc := func() [3]float64 { return [3]float64{r.Float64() * 255, r.Float64() * 255, r.Float64() * 255} }

	type shape struct {
		ellipse         bool
		cx, cy, rx, ry  float64
		cos, sin, soft  float64
		col             [3]float64
		alpha           float64
		stripes, period float64
	}
	c0, c1 := rc(), rc()
	ang := r.Float64() * 2 * math.Pi
	gx, gy := math.Cos(ang), math.Sin(ang)
	shapes := make([]shape, 8+r.IntN(8))
	for i := range shapes {
		t := r.Float64() * math.Pi
		shapes[i] = shape{
			ellipse: r.IntN(2) == 0,
			cx:      r.Float64(), cy: r.Float64(),
			rx: 0.05 + 0.3*r.Float64(), ry: 0.05 + 0.3*r.Float64(),
			cos: math.Cos(t), sin: math.Sin(t),
			soft:  0.002 + 0.05*r.Float64(),
			col:   rc(),
			alpha: 0.6 + 0.4*r.Float64(),
		}
		if r.IntN(4) == 0 {
			shapes[i].stripes = 1
			shapes[i].period = 0.02 + 0.08*r.Float64()
		}
	}
	for y := 0; y < h; y++ {
		v := (float64(y) + 0.5) / float64(h)
		for x := 0; x < w; x++ {
			u := (float64(x) + 0.5) / float64(w)
			g := 0.5 + 0.5*((u-0.5)*gx+(v-0.5)*gy)*1.4
			g = min(1, max(0, g))
			var px [3]float64
			for c := range px {
				px[c] = c0[c]*(1-g) + c1[c]*g
			}
			for _, s := range shapes {
				dx, dy := u-s.cx, v-s.cy
				a, b := (dx*s.cos+dy*s.sin)/s.rx, (-dx*s.sin+dy*s.cos)/s.ry
				var d float64 // signed distance-ish, < 0 inside
				if s.ellipse {
					d = (math.Sqrt(a*a+b*b) - 1) * min(s.rx, s.ry)
				} else {
					d = (max(math.Abs(a), math.Abs(b)) - 1) * min(s.rx, s.ry)
				}
				cover := min(1, max(0, 0.5-d/s.soft)) * s.alpha
				if cover == 0 {
					continue
				}
				k := 1.0
				if s.stripes > 0 && math.Mod(a*s.rx/s.period+10, 2) < 1 {
					k = 0.6
				}
				for c := range px {
					px[c] = px[c]*(1-cover) + s.col[c]*k*cover
				}
			}
			o := img.PixOffset(x, y)
			for c := range px {
				img.Pix[o+c] = uint8(min(255, max(0, px[c]+r.NormFloat64()*4)))
			}
			img.Pix[o+3] = 0xff
		}
	}
	return img
}

func mustCompute(t testing.TB, img image.Image) (Hash, int) {
	t.Helper()
	h, q, err := Compute(img)
	if err != nil {
		t.Fatalf("Compute: %v", err)
	}
	return h, q
}

func reencodeJPEG(t testing.TB, img image.Image, quality int) image.Image {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		t.Fatalf("jpeg encode: %v", err)
	}
	out, err := jpeg.Decode(&buf)
	if err != nil {
		t.Fatalf("jpeg decode: %v", err)
	}
	return out
}

func resize(img image.Image, w, h int) *image.NRGBA {
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	draw.CatmullRom.Scale(out, out.Bounds(), img, img.Bounds(), draw.Src, nil)
	return out
}

// upscale enlarges a synthetic image to camera size for test set-up: detail
// then is soft at the pixel level, as in a photo, and it is quicker than
// drawing a large image.
func upscale(img image.Image, w, h int) *image.NRGBA {
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	draw.ApproxBiLinear.Scale(out, out.Bounds(), img, img.Bounds(), draw.Src, nil)
	return out
}

// cropFrac cuts frac of the width and height off each edge.
func cropFrac(img *image.NRGBA, frac float64) image.Image {
	b := img.Bounds()
	dx, dy := int(frac*float64(b.Dx())+0.5), int(frac*float64(b.Dy())+0.5)
	return img.SubImage(image.Rect(b.Min.X+dx, b.Min.Y+dy, b.Max.X-dx, b.Max.Y-dy))
}

func brighten(img *image.NRGBA, delta int) *image.NRGBA {
	out := image.NewNRGBA(img.Bounds())
	for i, v := range img.Pix {
		if i%4 == 3 {
			out.Pix[i] = v
			continue
		}
		out.Pix[i] = uint8(min(255, max(0, int(v)+delta)))
	}
	return out
}

// transform applies dihedral transform k (see Original..FlipMinus1) to the
// pixels of img.
func transform(img *image.NRGBA, k int) *image.NRGBA {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	ow, oh := w, h
	if k == Rotate90 || k == Rotate270 || k == FlipPlus1 || k == FlipMinus1 {
		ow, oh = h, w
	}
	out := image.NewNRGBA(image.Rect(0, 0, ow, oh))
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			var sx, sy int // source pixel of output (x, y)
			switch k {
			case Original:
				sx, sy = x, y
			case Rotate90: // counter-clockwise: output top-left is input top-right
				sx, sy = w-1-y, x
			case Rotate180:
				sx, sy = w-1-x, h-1-y
			case Rotate270: // clockwise: output top-left is input bottom-left
				sx, sy = y, h-1-x
			case FlipX:
				sx, sy = x, h-1-y
			case FlipY:
				sx, sy = w-1-x, y
			case FlipPlus1:
				sx, sy = y, x
			case FlipMinus1:
				sx, sy = w-1-y, h-1-x
			}
			copy(out.Pix[out.PixOffset(x, y):][:4], img.Pix[img.PixOffset(b.Min.X+sx, b.Min.Y+sy):][:4])
		}
	}
	return out
}
