package pdq

import (
	"fmt"
	"image"
	"image/color"
)

// Sides up to maxSide are hashed at full size, exactly as the reference
// does. A longer side is first reduced by an integer box average to between
// 257 and reducedSide px, so the filter never sees more than 384x384: the
// Python reference thumbnails to 512 px and the C++ tool to 512x512, as the
// 64x64 image gains nothing from more. reducedSide is below 512 because on
// (256, 384] the reference's Jarosz window is 3 px, an odd width and so
// centred, while at 512 it is 4 px and shifts the image by a pixel per pass;
// measured against the full-size Java reference, 384 differed by 3.6 bits on
// average (max 10) and 512 by 6.3 (max 16).
const (
	maxSide     = 512
	reducedSide = 384
)

// Rec.601 luma weights, as float32 like the reference's constants.
const (
	lumaR float32 = 0.299
	lumaG float32 = 0.587
	lumaB float32 = 0.114
)

// plane is a row-major float32 luminance image.
type plane struct {
	w, h int
	pix  []float32
}

// luma8 is the reference's luminance of one 8-bit RGB pixel. The explicit
// float32 conversions keep the compiler from fusing multiply-adds, so the
// result is bit-identical to the reference's float arithmetic.
func luma8(r, g, b uint8) float32 {
	return float32(float32(lumaR*float32(r))+float32(lumaG*float32(g))) + float32(lumaB*float32(b))
}

// luma16 is the luminance of a 16-bit-per-channel straight colour on the
// reference's 0..255 scale.
func luma16(r, g, b uint16) float32 {
	const s = 1.0 / 257
	return float32(float32(lumaR*float32(r))+float32(lumaG*float32(g))+float32(lumaB*float32(b))) * s
}

// lumaPlane converts img to luminance, reducing each axis longer than maxSide
// by an integer box average to at most reducedSide.
// Working memory is one source row plus the plane, whatever the image size.
func lumaPlane(img image.Image) (*plane, error) {
	b := img.Bounds()
	W, H := b.Dx(), b.Dy()
	if W < minDim || H < minDim {
		return nil, fmt.Errorf("%w: %dx%d, need at least %dx%d", ErrTooSmall, W, H, minDim, minDim)
	}
	// Reduce each axis on its own: PDQ squashes to 64x64 regardless of the
	// aspect ratio, so a very wide image keeps its rows.
	fx, fy := reduction(W), reduction(H)
	p := &plane{w: ceilDiv(W, fx), h: ceilDiv(H, fy)}
	p.pix = make([]float32, p.w*p.h)
	row := rowReader(img)

	if fx == 1 && fy == 1 {
		// Small enough: exactly the reference's luminance image.
		for y := 0; y < H; y++ {
			row(b.Min.Y+y, p.pix[y*p.w:(y+1)*p.w])
		}
		return p, nil
	}

	src := make([]float32, W)
	acc := make([]float64, p.w)
	for oy := 0; oy < p.h; oy++ {
		y0, y1 := oy*fy, min(H, (oy+1)*fy)
		clear(acc)
		for y := y0; y < y1; y++ {
			row(b.Min.Y+y, src)
			for ox := range acc {
				var s float32
				for _, v := range src[ox*fx : min(W, (ox+1)*fx)] {
					s += v
				}
				acc[ox] += float64(s)
			}
		}
		out := p.pix[oy*p.w : (oy+1)*p.w]
		for ox := range out {
			// The last block along an axis may be partial: average what it has.
			n := (y1 - y0) * (min(W, (ox+1)*fx) - ox*fx)
			out[ox] = float32(acc[ox] / float64(n))
		}
	}
	return p, nil
}

// reduction is the box width for a side of n px.
func reduction(n int) int {
	if n <= maxSide {
		return 1
	}
	return ceilDiv(n, reducedSide)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// rowReader returns a function that writes the luminance of row y (absolute
// coordinate) of img into dst, one value per column of img.Bounds(). The
// common decoder outputs are read straight from their pixel buffers; other
// types go through At, which is slow but correct.
func rowReader(img image.Image) func(y int, dst []float32) {
	b := img.Bounds()
	switch m := img.(type) {
	case *image.YCbCr:
		return func(y int, dst []float32) {
			i := m.YOffset(b.Min.X, y)
			for x, v := range m.Y[i : i+len(dst)] {
				dst[x] = float32(v)
			}
		}
	case *image.NYCbCrA:
		return func(y int, dst []float32) {
			i := m.YOffset(b.Min.X, y)
			for x, v := range m.Y[i : i+len(dst)] {
				dst[x] = float32(v)
			}
		}
	case *image.Gray:
		return func(y int, dst []float32) {
			i := m.PixOffset(b.Min.X, y)
			for x, v := range m.Pix[i : i+len(dst)] {
				dst[x] = float32(v)
			}
		}
	case *image.Gray16:
		return func(y int, dst []float32) {
			p := m.Pix[m.PixOffset(b.Min.X, y):]
			for x := range dst {
				dst[x] = float32(uint16(p[2*x])<<8|uint16(p[2*x+1])) / 257
			}
		}
	case *image.NRGBA:
		return func(y int, dst []float32) {
			p := m.Pix[m.PixOffset(b.Min.X, y):]
			for x := range dst {
				dst[x] = luma8(p[4*x], p[4*x+1], p[4*x+2])
			}
		}
	case *image.RGBA:
		return func(y int, dst []float32) {
			p := m.Pix[m.PixOffset(b.Min.X, y):]
			for x := range dst {
				r, g, bl, a := p[4*x], p[4*x+1], p[4*x+2], p[4*x+3]
				if a != 0xff {
					r, g, bl = unpremul8(r, a), unpremul8(g, a), unpremul8(bl, a)
				}
				dst[x] = luma8(r, g, bl)
			}
		}
	case *image.NRGBA64:
		return func(y int, dst []float32) {
			p := m.Pix[m.PixOffset(b.Min.X, y):]
			for x := range dst {
				q := p[8*x : 8*x+6]
				dst[x] = luma16(uint16(q[0])<<8|uint16(q[1]), uint16(q[2])<<8|uint16(q[3]), uint16(q[4])<<8|uint16(q[5]))
			}
		}
	case *image.RGBA64:
		return func(y int, dst []float32) {
			p := m.Pix[m.PixOffset(b.Min.X, y):]
			for x := range dst {
				q := p[8*x : 8*x+8]
				c := color.RGBA64{
					R: uint16(q[0])<<8 | uint16(q[1]), G: uint16(q[2])<<8 | uint16(q[3]),
					B: uint16(q[4])<<8 | uint16(q[5]), A: uint16(q[6])<<8 | uint16(q[7]),
				}
				if c.A != 0xffff {
					dst[x] = lumaOf(c) // un-premultiply; rare enough to take the slow way
					continue
				}
				dst[x] = luma16(c.R, c.G, c.B)
			}
		}
	case *image.Paletted:
		// One luminance per palette entry, looked up per pixel.
		var lut [256]float32
		for i, c := range m.Palette {
			if i >= len(lut) {
				break
			}
			lut[i] = lumaOf(c)
		}
		return func(y int, dst []float32) {
			i := m.PixOffset(b.Min.X, y)
			for x, v := range m.Pix[i : i+len(dst)] {
				dst[x] = lut[v]
			}
		}
	case *image.CMYK:
		return func(y int, dst []float32) {
			p := m.Pix[m.PixOffset(b.Min.X, y):]
			for x := range dst {
				r, g, bl := color.CMYKToRGB(p[4*x], p[4*x+1], p[4*x+2], p[4*x+3])
				dst[x] = luma8(r, g, bl)
			}
		}
	default:
		return func(y int, dst []float32) {
			for x := range dst {
				dst[x] = lumaOf(img.At(b.Min.X+x, y))
			}
		}
	}
}

// unpremul8 undoes alpha premultiplication of one 8-bit channel, rounding to
// nearest as color.NRGBAModel does at 16 bits.
func unpremul8(c, a uint8) uint8 {
	if a == 0 {
		return 0
	}
	return uint8((uint32(c)*0xff + uint32(a)/2) / uint32(a))
}

// lumaOf is the luminance of any colour's straight (un-premultiplied) RGB.
func lumaOf(c color.Color) float32 {
	switch c := c.(type) {
	case color.NRGBA:
		return luma8(c.R, c.G, c.B)
	case color.Gray:
		return float32(c.Y)
	}
	n := color.NRGBA64Model.Convert(c).(color.NRGBA64)
	return luma16(n.R, n.G, n.B)
}
