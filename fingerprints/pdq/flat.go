package pdq

import (
	"encoding/hex"
	"fmt"

	"github.com/leakwatch/leakwatch/fingerprints"
)

// PDQ hashes the signs of mid-frequency DCT terms, which on a smooth,
// low-texture design (a gradient, soft shapes, a logo on a flat field) are
// tiny and flip with JPEG noise: its quality falls below MinQuality and its
// hash means nothing. What does survive re-compression and resizing is the
// layout of light and dark: the mean luma of coarse cells, which JPEG keeps
// (its DC terms) and a resize averages but does not move. Flat is that
// layout, the fallback signal for images PDQ cannot rate.

// FlatCols and FlatRows are the grid a Flat averages the image over, in
// shares of its width and height (so a resized copy has the same cells).
const (
	FlatCols = 8
	FlatRows = 4
)

// Flat is the mean luma (0..255) of each cell of a FlatCols x FlatRows grid
// over the image, row by row.
type Flat [FlatCols * FlatRows]byte

// FlatMinContrast is the least spread between the darkest and lightest cell
// of a Flat that can be matched: below it an image is nearly one colour
// and its layout is shared by every other such image.
const FlatMinContrast = fingerprints.BlankContrast

// FlatMaxCellDiff and FlatMaxMeanDiff bound how far a copy's cells may be
// from the reference's: re-compression (JPEG quality 55) and resizing moved
// a cell's mean by at most 2 levels on real and generated designs, while
// the nearest other design was 12 or more levels away in some cell.
const (
	FlatMaxCellDiff = 6
	FlatMaxMeanDiff = 2
)

// Flat returns the image's low-texture signature and its contrast (the
// spread between its darkest and lightest cell).
func (pr *Prepared) Flat() (Flat, int) {
	var small [64 * 64]float32
	pr.p.area64(0, 0, float64(pr.p.w), float64(pr.p.h), &small)
	const cw, ch = 64 / FlatCols, 64 / FlatRows
	var f Flat
	lo, hi := 255, 0
	for r := range FlatRows {
		for c := range FlatCols {
			var s float32
			for i := r * ch; i < (r+1)*ch; i++ {
				for j := c * cw; j < (c+1)*cw; j++ {
					s += small[i*64+j]
				}
			}
			v := int(s/(cw*ch) + 0.5)
			v = min(max(v, 0), 255)
			f[r*FlatCols+c] = byte(v)
			lo, hi = min(lo, v), max(hi, v)
		}
	}
	return f, hi - lo
}

// FlatDistance is the largest and the mean difference between the cells of
// a and b. Differences are taken modulo 256 (the shorter way round), which
// is what keyed signatures (Keyer.KeyFlat) preserve; for plain signatures
// it equals the absolute difference whenever that is under 128.
func FlatDistance(a, b Flat) (maxDiff int, meanDiff float64) {
	sum := 0
	for i := range a {
		d := int(a[i] - b[i]) // uint8 wrap-around: 0..255
		d = min(d, 256-d)
		maxDiff = max(maxDiff, d)
		sum += d
	}
	return maxDiff, float64(sum) / float64(len(a))
}

// FlatMatch reports whether b is within the Flat tolerances of a.
func FlatMatch(a, b Flat) bool {
	mx, mean := FlatDistance(a, b)
	return mx <= FlatMaxCellDiff && mean <= FlatMaxMeanDiff
}

// String is the lower-case hex form, as stored.
func (f Flat) String() string { return hex.EncodeToString(f[:]) }

// ParseFlat parses String's form.
func ParseFlat(s string) (Flat, error) {
	var f Flat
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(f) {
		return f, fmt.Errorf("pdq: bad low-texture signature %q", truncate(s))
	}
	copy(f[:], b)
	return f, nil
}
