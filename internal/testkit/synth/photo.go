package synth

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"

	"golang.org/x/image/draw"
)

var skinTones = [][3]float64{
	{233, 196, 170}, {214, 168, 133}, {188, 138, 100}, {150, 102, 70}, {110, 74, 52},
}

// photo draws a fake clinical photograph: a shaded skin-toned field with an
// irregular dark "lesion" and a ruler strip, plus sensor-like noise. The
// structure gives perceptual hashes (PDQ) real gradients to work with;
// nothing is derived from a real image. A width > 0 enlarges it to that
// width (see Options.PhotoWidth).
func photo(rng *rand.Rand, ext string, width int) ([]byte, error) {
	w := 160 + 32*rng.IntN(3)
	h := w * 3 / 4
	img := image.NewRGBA(image.Rect(0, 0, w, h))

	base := skinTones[rng.IntN(len(skinTones))]
	lesion := [3]float64{base[0] * 0.35, base[1] * 0.28, base[2] * 0.25}
	cx := float64(w) * (0.3 + 0.4*rng.Float64())
	cy := float64(h) * (0.25 + 0.35*rng.Float64())
	rx := float64(w) * (0.08 + 0.12*rng.Float64())
	ry := rx * (0.6 + 0.6*rng.Float64())
	// Three harmonics with random phases make the border irregular.
	var amp, phase [3]float64
	for k := range amp {
		amp[k] = 0.05 + 0.12*rng.Float64()
		phase[k] = 2 * math.Pi * rng.Float64()
	}
	lightX, lightY := rng.Float64()*float64(w), rng.Float64()*float64(h)
	diag := math.Hypot(float64(w), float64(h))
	rulerTop := h - h/8

	for y := range h {
		for x := range w {
			var c [3]float64
			if y >= rulerTop {
				c = [3]float64{245, 245, 240}
				if x%8 == 0 && y < rulerTop+4+(x%40/32)*4 {
					c = [3]float64{20, 20, 20}
				}
			} else {
				// Soft lighting falloff from a random point.
				shade := 1.05 - 0.35*math.Hypot(float64(x)-lightX, float64(y)-lightY)/diag
				c = [3]float64{base[0] * shade, base[1] * shade, base[2] * shade}
				dx, dy := (float64(x)-cx)/rx, (float64(y)-cy)/ry
				// The border never reaches past 1+Σamp < 1.6: skip the
				// trigonometry for pixels clearly outside it.
				if r2 := dx*dx + dy*dy; r2 < 1.6*1.6 {
					theta := math.Atan2(dy, dx)
					edge := 1.0
					for k := range amp {
						edge += amp[k] * math.Sin(float64(k+2)*theta+phase[k])
					}
					if d := math.Sqrt(r2) / edge; d < 1 {
						t := 0.6 + 0.4*d // darker at the centre
						for i := range c {
							c[i] = lesion[i]*(1-t) + c[i]*t*0.55
						}
					}
				}
			}
			n := float64(rng.IntN(13) - 6)
			o := img.PixOffset(x, y)
			img.Pix[o+0] = clamp8(c[0] + n)
			img.Pix[o+1] = clamp8(c[1] + n)
			img.Pix[o+2] = clamp8(c[2] + n)
			img.Pix[o+3] = 0xff
		}
	}

	if width > 0 {
		img = enlarge(rng, img, width)
	}
	var buf bytes.Buffer
	var err error
	switch ext {
	case ".png":
		// Default deflate effort on noisy pixels dominated generation time.
		enc := png.Encoder{CompressionLevel: png.BestSpeed}
		err = enc.Encode(&buf, img)
	case ".jpg", ".jpeg":
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85})
	default:
		return nil, fmt.Errorf("unsupported photo extension %q", ext)
	}
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", ext, err)
	}
	return buf.Bytes(), nil
}

func clamp8(v float64) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	default:
		return uint8(v)
	}
}

// enlarge scales img to width (keeping 4:3) and adds fresh pixel noise, so
// the result has a camera's file size and fine grain rather than smooth
// interpolated areas.
func enlarge(rng *rand.Rand, img *image.RGBA, width int) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, width, width*3/4))
	draw.ApproxBiLinear.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)
	for i := 0; i < len(dst.Pix); i += 4 {
		n := rng.IntN(9) - 4
		for c := range 3 {
			dst.Pix[i+c] = clamp8(float64(int(dst.Pix[i+c]) + n))
		}
	}
	return dst
}
