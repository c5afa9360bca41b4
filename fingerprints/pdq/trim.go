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
	// trimShift is how far a frame line's median may be from the frame's
	// value: a white band next to a light part of the photo (a ruler, a
	// wall) is within trimTol of it but not of the same value, while JPEG
	// noise leaves a flat line's median where it was.
	trimShift = 4
	// trimTightTol is the tolerance of a third, tight trim.
	trimTightTol = 6
	// trimUniform is the share of a line that must be the frame's value
	// for the line to be frame (the rest: noise, ringing at the corners).
	trimUniform = 0.97
	// trimBand is the share a line inside a caption band must still be:
	// a line of large caption text can darken up to half of it and more.
	trimBand = 0.3
	// trimMinKeep is the least share of either side kept: a mostly white
	// document page must not be cropped to a speck.
	trimMinKeep = 0.5
	// trimMinCut is the least share of a side worth trimming: a line or
	// two is within PDQ's tolerance already.
	trimMinCut = 0.01
)

// Trim returns the image with uniform borders and caption bands cut from
// each edge, and whether anything was cut. When nothing was, it returns pr.
func (pr *Prepared) Trim() (*Prepared, bool) { return pr.trim(trimTol, trimShift) }

// Trims returns the distinct trims of the image worth querying (Trim's,
// one that lets the frame's value drift by up to trimTol, and one that
// takes only lines within trimTightTol of it), none if it has no border:
// each edge case (ringing, a photo's light edge) defeats one of them.
func (pr *Prepared) Trims() []*Prepared {
	var out []*Prepared
	for _, c := range [][2]float32{{trimTol, trimShift}, {trimTol, trimTol}, {trimTightTol, trimTightTol}} {
		t, ok := pr.trim(c[0], c[1])
		if ok && !slices.ContainsFunc(out, func(o *Prepared) bool { return o.p.w == t.p.w && o.p.h == t.p.h && o.x0 == t.x0 && o.y0 == t.y0 }) {
			out = append(out, t)
		}
	}
	return out
}

func (pr *Prepared) trim(tol, shift float32) (*Prepared, bool) {
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
	top := trimEdge(p.h, tol, shift, row, func(k int) int { return k })
	bottom := trimEdge(p.h, tol, shift, row, func(k int) int { return p.h - 1 - k })
	left := trimEdge(p.w, tol, shift, col, func(k int) int { return k })
	right := trimEdge(p.w, tol, shift, col, func(k int) int { return p.w - 1 - k })
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
	return &Prepared{p: q, x0: left, y0: top}, true
}

// trimEdge returns how many lines, counted from one edge (line(at(k)) is
// the k-th from it), are frame: lines of one value, and lines mostly of
// that value between them (caption text), up to the last uniform line.
func trimEdge(n int, tol, shift float32, line func(int) []float32, at func(int) int) int {
	first := line(at(0))
	ref := median(first)
	if share(first, ref, tol) < trimUniform {
		return 0
	}
	// Past a line of caption text the frame resumes only with a run of
	// uniform lines: a single light line is as likely the photo's own (a
	// ruler, a white wall) as the frame's.
	const minRun = 2
	lastUniform, run, gap := 0, 0, false
	for k := 1; k < n/2; k++ {
		l := line(at(k))
		s := share(l, ref, tol)
		if s >= trimUniform && abs(median(l)-ref) <= shift {
			run++
			if !gap || run >= minRun {
				lastUniform = k
			}
			continue
		}
		if s < trimBand {
			break
		}
		run, gap = 0, true
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

// share is the fraction of v within tol of ref.
func share(v []float32, ref, tol float32) float64 {
	n := 0
	for _, x := range v {
		if x-ref <= tol && ref-x <= tol {
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

func abs(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}
