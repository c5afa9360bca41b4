package pdq

import (
	"fmt"
	"image"
	"math"
)

// The reference path (Compute, Dihedral) blurs with a Jarosz tent half a
// 64x64 cell wide and then samples single pixels. On images under about
// 256 px the tent is one pixel wide, so the 64x64 image is a point sample of
// the pixels, sensor noise included, and the same photo at half size hashes
// 30–60 bits away. Prepared instead averages each output cell over exactly
// the source area it covers (a box filter with fractional edge weights),
// which is what a resize does, so sizes no longer matter: a photo and its
// half-size copy hash 0–4 bits apart. Its hashes differ from the reference's,
// which is fine for leakwatch's own keyed index but not for exchanging
// hashes with other PDQ users; use Compute for those.

// Prepared is an image's luminance, ready to be hashed whole or cropped.
type Prepared struct {
	p *plane
}

// Prepare converts img to luminance once, for Dihedral and Crop.
func Prepare(img image.Image) (*Prepared, error) {
	if img == nil {
		return nil, fmt.Errorf("pdq: nil image")
	}
	p, err := lumaPlane(img)
	if err != nil {
		return nil, err
	}
	return &Prepared{p: p}, nil
}

// Hash is the resampled hash of the whole image and its quality.
func (pr *Prepared) Hash() (Hash, int) { return pr.Crop(0) }

// Dihedral is the resampled hashes of the 8 rotations and flips, in the
// order of the package's Dihedral, and the quality.
func (pr *Prepared) Dihedral() (hashes [8]Hash, quality int) {
	var small [64 * 64]float32
	pr.p.area64(0, 0, float64(pr.p.w), float64(pr.p.h), &small)
	quality = qualityMetric(&small)
	var dct, t [256]float32
	dct64To16(&small, &dct)
	for k := range hashes {
		dihedralDCT(k, &dct, &t)
		hashes[k] = dctToHash(&t)
	}
	return hashes, quality
}

// Crop is the resampled hash of the image with margin (a share of each
// dimension, 0 ≤ margin < 0.5) cut from every edge, and its quality.
// A PDQ hash drifts about 13 bits per 0.5 % of centre crop, so an index
// that stores a few crops of each reference recognises cropped reposts.
func (pr *Prepared) Crop(margin float64) (Hash, int) {
	margin = min(max(margin, 0), 0.45)
	w, h := float64(pr.p.w), float64(pr.p.h)
	var small [64 * 64]float32
	pr.p.area64(w*margin, h*margin, w*(1-margin), h*(1-margin), &small)
	var dct [256]float32
	dct64To16(&small, &dct)
	return dctToHash(&dct), qualityMetric(&small)
}

// area64 writes the 64x64 area average of the plane's region
// [x0,x1)x[y0,y1) into out: rows first, then columns, each output sample
// weighting source pixels by how much of them its cell covers.
func (p *plane) area64(x0, y0, x1, y1 float64, out *[64 * 64]float32) {
	cols := areaWeights(x0, x1, p.w)
	rows := areaWeights(y0, y1, p.h)
	// Horizontal pass: p.h rows of 64.
	tmp := make([]float32, p.h*64)
	for y := 0; y < p.h; y++ {
		src := p.pix[y*p.w : (y+1)*p.w]
		dst := tmp[y*64 : (y+1)*64]
		for j, c := range cols {
			var s float32
			for k, wt := range c.w {
				s += wt * src[c.first+k]
			}
			dst[j] = s
		}
	}
	for i, r := range rows {
		dst := out[i*64 : (i+1)*64]
		clear(dst)
		for k, wt := range r.w {
			src := tmp[(r.first+k)*64 : (r.first+k+1)*64]
			for j := range dst {
				dst[j] += wt * src[j]
			}
		}
	}
}

// span is one output sample's source pixels first, first+1, ... and their
// weights, which sum to 1.
type span struct {
	first int
	w     []float32
}

// areaWeights divides [lo, hi) of an n-pixel axis into 64 equal cells.
func areaWeights(lo, hi float64, n int) [64]span {
	var out [64]span
	step := (hi - lo) / 64
	for j := range out {
		a, b := lo+float64(j)*step, lo+float64(j+1)*step
		first := min(int(math.Floor(a)), n-1)
		last := min(max(int(math.Ceil(b))-1, first), n-1)
		ws := make([]float32, last-first+1)
		var sum float64
		for k := range ws {
			px0, px1 := float64(first+k), float64(first+k+1)
			ov := min(b, px1) - max(a, px0)
			if ov < 0 {
				ov = 0
			}
			ws[k] = float32(ov)
			sum += ov
		}
		if sum == 0 { // a cell narrower than rounding: take its pixel
			ws[0], sum = 1, 1
		}
		for k := range ws {
			ws[k] = float32(float64(ws[k]) / sum)
		}
		out[j] = span{first: first, w: ws}
	}
	return out
}
