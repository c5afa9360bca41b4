package pdq

import "math"

// dctMatrix is rows 1..16 of the 64-point DCT-II basis (row 0, the DC term,
// is skipped: it carries only the mean brightness), scaled by sqrt(2/64),
// as float32 like the reference. Coefficient (i, k) is at i*64+k. Built once
// and never written after.
var dctMatrix = func() (d [16 * 64]float32) {
	// The scale is rounded to float32 but the product is taken in float64,
	// as the reference's float-times-double expression is.
	scale := float64(float32(math.Sqrt(2.0 / 64)))
	for i := 0; i < 16; i++ {
		for k := 0; k < 64; k++ {
			d[i*64+k] = float32(scale * math.Cos(math.Pi/2/64*float64(i+1)*float64(2*k+1)))
		}
	}
	return d
}()

// dct64To16 computes out = D A Dᵀ for the 64x64 image A: the 16x16 lowest
// non-DC frequencies. Only the needed 16 rows are computed; the reference
// found this faster than a fast full transform. Sums run in the reference's
// order with explicit float32 rounding so no multiply-add is fused.
func dct64To16(a *[64 * 64]float32, out *[256]float32) {
	var t [16 * 64]float32 // t = D A
	for i := 0; i < 16; i++ {
		d := dctMatrix[i*64 : i*64+64]
		for j := 0; j < 64; j++ {
			var s float32
			for k, dk := range d {
				s += float32(dk * a[k*64+j])
			}
			t[i*64+j] = s
		}
	}
	dctTimesDT(&t, out)
}

// dctTimesDT finishes both transforms: out = t Dᵀ, in the reference's
// summation order and float32 rounding.
func dctTimesDT(t *[16 * 64]float32, out *[256]float32) {
	for i := 0; i < 16; i++ {
		ti := t[i*64 : i*64+64]
		for j := 0; j < 16; j++ {
			d := dctMatrix[j*64 : j*64+64]
			var s float32
			for k, tk := range ti {
				s += float32(tk * d[k])
			}
			out[i*16+j] = s
		}
	}
}

// dct64To16Rows is dct64To16 with the first product taken row by row, so
// every inner loop reads memory in order (about twice as fast). Its sums
// run in another order, so results differ from the reference's in the
// last bits; Prepared, which is not bit-compatible anyway, uses it. The
// second product is shared.
func dct64To16Rows(a *[64 * 64]float32, out *[256]float32) {
	var t [16 * 64]float32 // t = D A
	for i := 0; i < 16; i++ {
		ti := t[i*64 : i*64+64]
		for k, dk := range dctMatrix[i*64 : i*64+64] {
			row := a[k*64 : k*64+64]
			for j := range ti {
				ti[j] += dk * row[j]
			}
		}
	}
	dctTimesDT(&t, out)
}

// qualityMetric is the reference's heuristic: the sum of quantised absolute
// differences between neighbouring pixels of the 64x64 image, scaled so
// that a typical photo reaches 100. The constants are the reference's, tuned
// by its authors.
func qualityMetric(a *[64 * 64]float32) int {
	sum := 0
	grad := func(u, v float32) int {
		d := int((u - v) * 100 / 255) // truncates toward zero, as in C
		if d < 0 {
			return -d
		}
		return d
	}
	for i := 0; i < 63; i++ {
		for j := 0; j < 64; j++ {
			sum += grad(a[i*64+j], a[(i+1)*64+j])
		}
	}
	for i := 0; i < 64; i++ {
		for j := 0; j < 63; j++ {
			sum += grad(a[i*64+j], a[i*64+j+1])
		}
	}
	return min(sum/90, 100)
}

// dihedralDCT writes to out the DCT of transform k (Original..FlipMinus1)
// of the image whose DCT is in. A mirror along an axis negates the odd
// basis functions along it (here the even indices, since index i is
// frequency i+1), and a transpose swaps the axes, so all 8 transforms are
// sign changes and transposes of one DCT.
func dihedralDCT(k int, in, out *[256]float32) {
	for i := 0; i < 16; i++ {
		for j := 0; j < 16; j++ {
			v := in[i*16+j]
			iOdd, jOdd := i&1 == 1, j&1 == 1
			switch k {
			case Original:
				out[i*16+j] = v
			case Rotate90: // transpose, then mirror top to bottom
				out[j*16+i] = negUnless(jOdd, v)
			case Rotate180:
				out[i*16+j] = negUnless(iOdd == jOdd, v)
			case Rotate270: // transpose, then mirror left to right
				out[j*16+i] = negUnless(iOdd, v)
			case FlipX:
				out[i*16+j] = negUnless(iOdd, v)
			case FlipY:
				out[i*16+j] = negUnless(jOdd, v)
			case FlipPlus1:
				out[j*16+i] = v
			case FlipMinus1:
				out[j*16+i] = negUnless(iOdd == jOdd, v)
			}
		}
	}
}

func negUnless(keep bool, v float32) float32 {
	if keep {
		return v
	}
	return -v
}

// torbenMedian is Torben Mogensen's median (public domain; the reference
// uses N. Devillard's implementation): bisect on value between the minimum
// and maximum, counting elements below and above the guess, without
// reordering or copying the input. For an even count it returns the lower
// median, like the reference.
func torbenMedian(m []float32) float32 {
	n := len(m)
	lo, hi := m[0], m[0]
	for _, v := range m[1:] {
		lo, hi = min(lo, v), max(hi, v)
	}
	half := (n + 1) / 2
	var guess, maxBelow, minAbove float32
	var less, greater, equal int
	for {
		guess = (lo + hi) / 2
		less, greater, equal = 0, 0, 0
		maxBelow, minAbove = lo, hi
		for _, v := range m {
			switch {
			case v < guess:
				less++
				if v > maxBelow {
					maxBelow = v
				}
			case v > guess:
				greater++
				if v < minAbove {
					minAbove = v
				}
			default:
				equal++
			}
		}
		if less <= half && greater <= half {
			break
		}
		if less > greater {
			hi = maxBelow
		} else {
			lo = minAbove
		}
	}
	switch {
	case less >= half:
		return maxBelow
	case less+equal >= half:
		return guess
	default:
		return minAbove
	}
}
