package synth

import (
	"bytes"
	"image/png"
	"math/rand/v2"
	"testing"

	"github.com/leakwatch/leakwatch/fingerprints/pdq"
)

func TestZZExp3(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 60
	var dr, mr, dc, mc, un int
	var prev pdq.Hash
	for i := 0; i < n; i++ {
		data, _ := photo(rng, ".png")
		img, _ := png.Decode(bytes.NewReader(data))
		p, _ := pdq.Prepare(img)
		h0, _ := p.Hash()
		hc, _ := p.Crop(0.025)
		pr, _ := pdq.Prepare(resizeHalf(img))
		r, _ := pr.Hash()
		pc, _ := pdq.Prepare(cropEdges(img))
		c, _ := pc.Hash()
		dr += pdq.Distance(h0, r)
		mr = max(mr, pdq.Distance(h0, r))
		dc += pdq.Distance(hc, c)
		mc = max(mc, pdq.Distance(hc, c))
		if i > 0 {
			un += pdq.Distance(h0, prev)
		}
		prev = h0
	}
	t.Logf("resize avg=%d max=%d crop-variant avg=%d max=%d unrelated=%d", dr/n, mr, dc/n, mc, un/(n-1))
	for _, f := range []float64{0.0025, 0.005, 0.01} {
		rng := rand.New(rand.NewPCG(1, 2))
		sum, mx := 0, 0
		for i := 0; i < n; i++ {
			data, _ := photo(rng, ".png")
			img, _ := png.Decode(bytes.NewReader(data))
			p, _ := pdq.Prepare(img)
			a, _ := p.Crop(0.05)
			b, _ := p.Crop(0.05 + f)
			sum += pdq.Distance(a, b)
			mx = max(mx, pdq.Distance(a, b))
		}
		t.Logf("delta %.4f avg=%d max=%d", f, sum/n, mx)
	}
}
