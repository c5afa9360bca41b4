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
	p      *plane
	x0, y0 int // where a trimmed image's plane starts in its original's
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
	dct64To16Rows(&small, &dct)
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
	return pr.CropSides(margin, margin, margin, margin)
}

// CropSides is Crop with its own share cut from each edge (left, top,
// right, bottom; each clamped to [0, 0.45]).
func (pr *Prepared) CropSides(left, top, right, bottom float64) (Hash, int) {
	c := func(m float64) float64 { return min(max(m, 0), 0.45) }
	w, h := float64(pr.p.w), float64(pr.p.h)
	var small [64 * 64]float32
	pr.p.area64(w*c(left), h*c(top), w*(1-c(right)), h*(1-c(bottom)), &small)
	var dct [256]float32
	dct64To16Rows(&small, &dct)
	return dctToHash(&dct), qualityMetric(&small)
}

// area64 writes the 64x64 area average of the plane's region
// [x0,x1)x[y0,y1) into out: rows first, then columns, each output sample
// weighting source pixels by how much of them its cell covers.
func (p *plane) area64(x0, y0, x1, y1 float64, out *[64 * 64]float32) {
	var cols, rows spans
	cols.set(x0, x1, p.w)
	rows.set(y0, y1, p.h)
	// Horizontal pass over the rows the vertical pass will read.
	lo, hi := rows.first[0], rows.first[63]+int32(rows.n[63])
	tmp := make([]float32, int(hi-lo)*64)
	for y := lo; y < hi; y++ {
		src := p.pix[int(y)*p.w : int(y+1)*p.w]
		dst := tmp[int(y-lo)*64 : int(y-lo+1)*64]
		for j := range dst {
			var s float32
			f := int(cols.first[j])
			for k, wt := range cols.w[j][:cols.n[j]] {
				s += wt * src[f+k]
			}
			dst[j] = s
		}
	}
	for i := range 64 {
		dst := out[i*64 : (i+1)*64]
		clear(dst)
		f := int(rows.first[i] - lo)
		for k, wt := range rows.w[i][:rows.n[i]] {
			src := tmp[(f+k)*64 : (f+k+1)*64]
			for j := range dst {
				dst[j] += wt * src[j]
			}
		}
	}
}

// maxTaps bounds the source pixels one of 64 cells can touch: the plane's
// sides are at most maxSide (512) px, so a cell spans at most 8 px plus
// two partial ones.
const maxTaps = maxSide/64 + 2

// spans is, per output sample, its first source pixel, how many it
// covers and their weights, which sum to 1.
type spans struct {
	first [64]int32
	n     [64]uint8
	w     [64][maxTaps]float32
}

// set divides [lo, hi) of an n-pixel axis into 64 equal cells.
func (sp *spans) set(lo, hi float64, n int) {
	step := (hi - lo) / 64
	for j := range 64 {
		a, b := lo+float64(j)*step, lo+float64(j+1)*step
		first := min(int(math.Floor(a)), n-1)
		last := min(max(int(math.Ceil(b))-1, first), n-1, first+maxTaps-1)
		var sum float64
		var ws [maxTaps]float64
		for k := range last - first + 1 {
			px0, px1 := float64(first+k), float64(first+k+1)
			ov := max(0, min(b, px1)-max(a, px0))
			ws[k] = ov
			sum += ov
		}
		if sum == 0 { // a cell narrower than rounding: take its pixel
			ws[0], sum = 1, 1
		}
		sp.first[j], sp.n[j] = int32(first), uint8(last-first+1)
		for k := range ws {
			sp.w[j][k] = float32(ws[k] / sum)
		}
	}
}
