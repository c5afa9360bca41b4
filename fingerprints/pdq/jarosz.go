package pdq

// jaroszPasses is the reference's number of X,Y box-filter pass pairs: per
// Jarosz ('Fast Image Convolutions', SIGGRAPH 2001) two box passes along each
// axis make a tent filter.
const jaroszPasses = 2

// jaroszWindow is the box width for reducing n samples to out: half of one
// output cell (rounded up), since two passes together span the whole cell.
func jaroszWindow(n, out int) int {
	return (n + 2*out - 1) / (2 * out)
}

// downsample64 blurs the plane in place with the reference's Jarosz filter
// and samples the 64x64 cell centres into out (row-major).
func (p *plane) downsample64(out *[64 * 64]float32) {
	if p.w != 64 || p.h != 64 {
		tmp := make([]float32, len(p.pix))
		wr, wc := jaroszWindow(p.w, 64), jaroszWindow(p.h, 64)
		for range jaroszPasses {
			boxRows(p.pix, tmp, p.w, p.h, wr)
			boxCols(tmp, p.pix, p.w, p.h, wc)
		}
	}
	// Sample at cell centres, not corners, truncating like the reference.
	for oi := 0; oi < 64; oi++ {
		i := int((float64(oi) + 0.5) * float64(p.h) / 64)
		for oj := 0; oj < 64; oj++ {
			j := int((float64(oj) + 0.5) * float64(p.w) / 64)
			out[oi*64+oj] = p.pix[i*p.w+j]
		}
	}
}

// boxRows box-filters each row of in (w x h) into out with window win.
func boxRows(in, out []float32, w, h, win int) {
	for y := 0; y < h; y++ {
		box1D(in[y*w:(y+1)*w], out[y*w:(y+1)*w], win)
	}
}

// box1D is the reference's 1-D box filter: the window is centred on each
// output (for an even window the extra sample is on the right) and shrinks
// at the ends, where it averages only the samples that exist. The running
// sum is updated in the same order as the reference so results match it
// bit for bit.
func box1D(in, out []float32, win int) {
	n := len(in)
	half := (win + 2) / 2 // samples at and left of centre: 7 -> 4, 8 -> 5
	var sum float32
	cnt := 0
	ri, li, oi := 0, 0, 0
	// Prime with the samples before the first output's right edge.
	for ; ri < half-1 && ri < n; ri++ {
		sum += in[ri]
		cnt++
	}
	// Window growing: add on the right, nothing leaves on the left yet.
	for k := 0; k < win-half+1 && ri < n; k++ {
		sum += in[ri]
		cnt++
		out[oi] = sum / float32(cnt)
		ri++
		oi++
	}
	// Full window: slide.
	for ; ri < n; ri++ {
		sum += in[ri]
		sum -= in[li]
		out[oi] = sum / float32(cnt)
		li++
		oi++
	}
	// Window shrinking at the right end.
	for ; oi < n; oi++ {
		sum -= in[li]
		cnt--
		out[oi] = sum / float32(cnt)
		li++
	}
}

// boxCols box-filters each column of in (w x h) into out with window win.
// It walks rows with one running sum per column rather than striding down
// each column, which is cache-friendly and performs, per column, exactly the
// additions box1D would.
func boxCols(in, out []float32, w, h, win int) {
	half := (win + 2) / 2
	sum := make([]float32, w)
	row := func(y int) []float32 { return in[y*w : (y+1)*w] }
	cnt := 0
	ri, li, oi := 0, 0, 0
	for ; ri < half-1 && ri < h; ri++ {
		addRow(sum, row(ri))
		cnt++
	}
	for k := 0; k < win-half+1 && ri < h; k++ {
		addRow(sum, row(ri))
		cnt++
		divRow(out[oi*w:(oi+1)*w], sum, cnt)
		ri++
		oi++
	}
	for ; ri < h; ri++ {
		addRow(sum, row(ri))
		subRow(sum, row(li))
		divRow(out[oi*w:(oi+1)*w], sum, cnt)
		li++
		oi++
	}
	for ; oi < h; oi++ {
		subRow(sum, row(li))
		cnt--
		divRow(out[oi*w:(oi+1)*w], sum, cnt)
		li++
	}
}

func addRow(sum, r []float32) {
	r = r[:len(sum)]
	for i := range sum {
		sum[i] += r[i]
	}
}

func subRow(sum, r []float32) {
	r = r[:len(sum)]
	for i := range sum {
		sum[i] -= r[i]
	}
}

func divRow(out, sum []float32, cnt int) {
	c := float32(cnt)
	out = out[:len(sum)]
	for i := range sum {
		out[i] = sum[i] / c
	}
}
