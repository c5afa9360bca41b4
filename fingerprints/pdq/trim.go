package pdq

import (
	"slices"
)

// Reposts are often framed: a uniform border of any colour, or a caption
// band (a white strip with a line of text above and below the photo, as
// screenshots and memes add). Such a frame moves every PDQ bit, so the
// image is hashed again with it cut off. The test is on luminance, which
// is what PDQ hashes: a frame uniform in colour is uniform in luma.
const (
	// trimTol is how far (in 0..255 luma) a pixel may be from the frame's
	// value and still belong to it: JPEG noise around a flat colour is a
	// few levels, ringing next to the photo's edge more.
	trimTol = 24
	// trimUniform is the share of a line that must be the frame's value
	// for the line to be frame (the rest: noise, ringing at the corners).
	trimUniform = 0.97
	// trimBand is the share a line inside a caption band must still be:
	// a line of caption text darkens a minority of its pixels.
	trimBand = 0.55
	// trimMinKeep is the least share of either side kept: a mostly white
	// document page must not be cropped to a speck.
	trimMinKeep = 0.5
	// trimMinCut is the least share of a side worth trimming: a line or
	// two is within PDQ's tolerance already.
	trimMinCut = 0.01
)

// Trim returns the image with uniform borders and caption bands cut from
// each edge, and whether anything was cut. When nothing was, it returns pr.
func (pr *Prepared) Trim() (*Prepared, bool) {
	p := pr.p
	if p.w < 8 || p.h < 8 {
		return pr, false
	}
	row := func(i int) []float32 { return p.pix[i*p.w : (i+1)*p.w] }
	col := func(j int) []float32 {
		c := make([]float32, p.h)
		for i := range c {
			c[i] = p.pix[i*p.w+j]
		}
		return c
	}
	top := trimEdge(p.h, row, func(k int) int { return k })
	bottom := trimEdge(p.h, row, func(k int) int { return p.h - 1 - k })
	left := trimEdge(p.w, col, func(k int) int { return k })
	right := trimEdge(p.w, col, func(k int) int { return p.w - 1 - k })
	top, bottom = keepShare(top, bottom, p.h)
	left, right = keepShare(left, right, p.w)
	if top+bottom+left+right == 0 {
		return pr, false
	}
	w, h := p.w-left-right, p.h-top-bottom
	q := &plane{w: w, h: h, pix: make([]float32, w*h)}
	for i := range h {
		copy(q.pix[i*w:(i+1)*w], p.pix[(top+i)*p.w+left:(top+i)*p.w+left+w])
	}
	return &Prepared{p: q}, true
}

// trimEdge returns how many lines, counted from one edge (line(at(k)) is
// the k-th from it), are frame: lines of one value, and lines mostly of
// that value between them (caption text), up to the last uniform line.
func trimEdge(n int, line func(int) []float32, at func(int) int) int {
	first := line(at(0))
	ref := median(first)
	if share(first, ref) < trimUniform {
		return 0
	}
	lastUniform := 0
	for k := 1; k < n/2; k++ {
		s := share(line(at(k)), ref)
		if s >= trimUniform {
			lastUniform = k
			continue
		}
		if s < trimBand {
			break
		}
	}
	cut := lastUniform + 1
	if float64(cut) < trimMinCut*float64(n) {
		return 0
	}
	return cut
}

// keepShare shrinks the cuts a and b of an n-line side, in proportion, so
// that at least trimMinKeep of it remains.
func keepShare(a, b, n int) (int, int) {
	maxCut := n - int(float64(n)*trimMinKeep+0.5)
	if a+b <= maxCut {
		return a, b
	}
	if maxCut <= 0 {
		return 0, 0
	}
	na := a * maxCut / (a + b)
	return na, maxCut - na
}

// share is the fraction of v within trimTol of ref.
func share(v []float32, ref float32) float64 {
	n := 0
	for _, x := range v {
		if x-ref <= trimTol && ref-x <= trimTol {
			n++
		}
	}
	return float64(n) / float64(len(v))
}

func median(v []float32) float32 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
