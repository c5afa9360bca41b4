package pdq

import (
	"image"
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
func (pr *Prepared) Trim() (*Prepared, bool) { return pr.trim(trimTol, trimShift, 1) }

// TrimFrames is Trim repeated for frames inside frames (a screenshot's
// title bar, toolbar and page margins); see Trims.
func (pr *Prepared) TrimFrames() (*Prepared, bool) { return pr.trim(trimTol, trimShift, trimRounds) }

// Trims returns the distinct trims of the image worth querying (Trim's,
// one that lets the frame's value drift by up to trimTol, one that takes
// only lines within trimTightTol of it, and Trim's repeated for frames
// inside frames), none if it has no border: each edge case (ringing, a
// photo's light edge, a screenshot's title bar, toolbar and page margins)
// defeats one of them.
func (pr *Prepared) Trims() []*Prepared {
	var out []*Prepared
	for _, c := range []struct {
		tol, shift float32
		rounds     int
	}{{trimTol, trimShift, 1}, {trimTol, trimTol, 1}, {trimTightTol, trimTightTol, 1}, {trimTol, trimShift, trimRounds}} {
		t, ok := pr.trim(c.tol, c.shift, c.rounds)
		if ok && !slices.ContainsFunc(out, func(o *Prepared) bool { return o.p.w == t.p.w && o.p.h == t.p.h && o.x0 == t.x0 && o.y0 == t.y0 }) {
			out = append(out, t)
		}
	}
	return out
}

// trimRounds bounds how many frames inside frames a repeated trim cuts: a
// screenshot has a title bar, a toolbar and page margins, each its own
// colour, and one trim of an edge stops at the first change of colour. It
// is a query-only alternative: a photo's own flat strip (a ruler) inside a
// frame is cut too, so the single trim is always tried as well.
const trimRounds = 8

// trimInnerTol is the tolerance of the frames inside the outermost one.
const trimInnerTol = 3

func (pr *Prepared) trim(tol, shift float32, rounds int) (*Prepared, bool) {
	cur := pr
	for round := range rounds {
		if round > 0 {
			// An inner frame must be flat to within a few levels: a
			// photo's own smooth edge (sky, a wall) is not, and the outer
			// frame's tolerance would eat into it.
			tol, shift = min(tol, trimInnerTol), min(shift, trimInnerTol)
		}
		minCut := trimMinCut
		if round > 0 {
			// The line where two frame colours were averaged together
			// (the plane is reduced from the original) is a frame of
			// its own, one line deep.
			minCut = 0
		}
		t, ok := cur.trimOnce(tol, shift, minCut)
		if !ok || float64(t.p.w) < trimMinKeep*float64(pr.p.w) || float64(t.p.h) < trimMinKeep*float64(pr.p.h) {
			break
		}
		t.x0, t.y0 = t.x0+cur.x0, t.y0+cur.y0
		cur = t
	}
	return cur, cur != pr
}

func (pr *Prepared) trimOnce(tol, shift float32, minCut float64) (*Prepared, bool) {
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
	top := trimEdge(p.h, tol, shift, minCut, row, func(k int) int { return k })
	bottom := trimEdge(p.h, tol, shift, minCut, row, func(k int) int { return p.h - 1 - k })
	left := trimEdge(p.w, tol, shift, minCut, col, func(k int) int { return k })
	right := trimEdge(p.w, tol, shift, minCut, col, func(k int) int { return p.w - 1 - k })
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
func trimEdge(n int, tol, shift float32, minCut float64, line func(int) []float32, at func(int) int) int {
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
			// A caption's last line can end one line short of another
			// flat frame (a title bar above a toolbar): a line of a
			// colour of its own, uniform, is a frame's edge, not the
			// picture's, so the band ends where it starts.
			if gap && run > 0 && share(l, median(l), tol) >= trimUniform {
				lastUniform = k - 1
			}
			break
		}
		run, gap = 0, true
	}
	cut := lastUniform + 1
	if float64(cut) < minCut*float64(n) {
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

// Despeckled returns the image with thin strokes removed: a median of
// 2*r+1 pixels along rows, then along columns. A watermark's or caption's
// letters are strokes a few pixels wide and move PDQ's bits where they
// cross the picture; the picture's own shapes are wider and stay.
func (pr *Prepared) Despeckled(r int) *Prepared {
	p := pr.p
	tmp := &plane{w: p.w, h: p.h, pix: make([]float32, len(p.pix))}
	out := &plane{w: p.w, h: p.h, pix: make([]float32, len(p.pix))}
	win := make([]float32, 2*r+1)
	line := make([]float32, max(p.w, p.h))
	// median1D writes the running median of src (n values) to dst; each
	// window is sorted by insertion, which for a few values beats a
	// general sort.
	median1D := func(src []float32, dst func(i int, v float32)) {
		n := len(src)
		for i := range n {
			lo, hi := max(i-r, 0), min(i+r, n-1)
			w := win[:hi-lo+1]
			for k := range w {
				v := src[lo+k]
				j := k
				for ; j > 0 && w[j-1] > v; j-- {
					w[j] = w[j-1]
				}
				w[j] = v
			}
			dst(i, w[len(w)/2])
		}
	}
	for y := range p.h {
		row := p.pix[y*p.w : (y+1)*p.w]
		median1D(row, func(x int, v float32) { tmp.pix[y*p.w+x] = v })
	}
	for x := range p.w {
		col := line[:p.h]
		for y := range col {
			col[y] = tmp.pix[y*p.w+x]
		}
		median1D(col, func(y int, v float32) { out.pix[y*p.w+x] = v })
	}
	return &Prepared{p: out, x0: pr.x0, y0: pr.y0}
}

// Bounds is where the image lies in the luma plane of the image it was
// trimmed from (its own plane if it was not).
func (pr *Prepared) Bounds() image.Rectangle {
	return image.Rect(pr.x0, pr.y0, pr.x0+pr.p.w, pr.y0+pr.p.h)
}
