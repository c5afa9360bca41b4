package pdq

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestHashStringParse(t *testing.T) {
	var h Hash
	h.setBit(0)
	h.setBit(255)
	// The reference prints bit 255 first and bit 0 last.
	want := "8000" + strings.Repeat("0", 56) + "0001"
	if got := h.String(); got != want {
		t.Fatalf("String() = %s, want %s", got, want)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100 {
		var h Hash
		for i := range h {
			h[i] = byte(r.Uint32())
		}
		s := h.String()
		if len(s) != 64 {
			t.Fatalf("String() has %d chars", len(s))
		}
		got, err := Parse(s)
		if err != nil || got != h {
			t.Fatalf("Parse(%s) = %v, %v; want %v", s, got, err, h)
		}
		if got, err := Parse(strings.ToUpper(s)); err != nil || got != h {
			t.Fatalf("Parse(upper %s) = %v, %v", s, got, err)
		}
		if Distance(h, h) != 0 {
			t.Fatal("Distance(h, h) != 0")
		}
	}
	for _, bad := range []string{"", "00", strings.Repeat("0", 63), strings.Repeat("0", 65), strings.Repeat("g", 64), " " + strings.Repeat("0", 63)} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func TestDistance(t *testing.T) {
	var a, b Hash
	if Distance(a, b) != 0 {
		t.Fatal("zero hashes differ")
	}
	for i := range b {
		b[i] = 0xff
	}
	if d := Distance(a, b); d != 256 {
		t.Fatalf("Distance(0, ~0) = %d", d)
	}
	for k := 0; k < 256; k++ {
		var c Hash
		c.setBit(k)
		if !c.bit(k) || Distance(a, c) != 1 {
			t.Fatalf("bit %d: set/get/distance broken", k)
		}
	}
}

func TestDeterministic(t *testing.T) {
	img := synth(7, 300, 200)
	h1, q1 := mustCompute(t, img)
	h2, q2 := mustCompute(t, img)
	if h1 != h2 || q1 != q2 {
		t.Fatalf("two runs differ: %v/%d vs %v/%d", h1, q1, h2, q2)
	}
	if h1 == (Hash{}) {
		t.Fatal("zero hash for a textured image")
	}
	// Concurrent use shares no state.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			h, q, err := Compute(img)
			if err != nil || h != h1 || q != q1 {
				t.Errorf("concurrent Compute = %v, %d, %v", h, q, err)
			}
		})
	}
	wg.Wait()
}

func TestErrors(t *testing.T) {
	if _, _, err := Compute(nil); err == nil {
		t.Error("Compute(nil) succeeded")
	}
	if _, _, err := Dihedral(nil); err == nil {
		t.Error("Dihedral(nil) succeeded")
	}
	for _, r := range []image.Rectangle{image.Rect(0, 0, 4, 100), image.Rect(0, 0, 100, 4), image.Rect(0, 0, 0, 0), image.Rect(10, 10, 12, 30)} {
		_, q, err := Compute(image.NewGray(r))
		if !errors.Is(err, ErrTooSmall) || q != 0 {
			t.Errorf("%v: err = %v, quality %d; want ErrTooSmall", r, err, q)
		}
		if _, _, err := Dihedral(image.NewGray(r)); !errors.Is(err, ErrTooSmall) {
			t.Errorf("Dihedral %v: err = %v; want ErrTooSmall", r, err)
		}
	}
	if _, _, err := Compute(synth(1, minDim, minDim)); err != nil {
		t.Errorf("5x5: %v", err)
	}
}

func TestQuality(t *testing.T) {
	for _, c := range []color.NRGBA{{0, 0, 0, 255}, {255, 255, 255, 255}, {200, 30, 90, 255}} {
		img := image.NewNRGBA(image.Rect(0, 0, 640, 480))
		for i := 0; i < len(img.Pix); i += 4 {
			img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
		}
		_, q := mustCompute(t, img)
		if q >= MinQuality {
			t.Errorf("flat %v: quality %d, want < %d", c, q, MinQuality)
		}
	}
	// A faint, smooth gradient is nearly featureless too.
	g := image.NewGray(image.Rect(0, 0, 256, 256))
	for i := range g.Pix {
		g.Pix[i] = uint8(100 + i%256/32)
	}
	if _, q := mustCompute(t, g); q >= MinQuality {
		t.Errorf("faint gradient: quality %d, want < %d", q, MinQuality)
	}
	var qs []int
	for s := range uint64(24) {
		_, q := mustCompute(t, synth(s, 320, 240))
		qs = append(qs, q)
	}
	slices.Sort(qs)
	low := slices.IndexFunc(qs, func(q int) bool { return q >= MinQuality })
	t.Logf("synthetic images: quality %v (%d of %d below %d)", qs, low, len(qs), MinQuality)
	if qs[len(qs)/2] < MinQuality {
		t.Errorf("median quality of textured images is %d, want >= %d", qs[len(qs)/2], MinQuality)
	}
}

// genericImage hides the concrete type so the At fallback is used.
type genericImage struct{ image.Image }

// TestImageTypes checks that each fast path reads pixels like the generic
// path, including for sub-images whose bounds do not start at 0.
func TestImageTypes(t *testing.T) {
	src := synth(3, 257, 181)
	b := src.Bounds()
	rgba := image.NewRGBA(b)
	ycc := image.NewYCbCr(b, image.YCbCrSubsampleRatio444)
	ycc420 := image.NewYCbCr(b, image.YCbCrSubsampleRatio420)
	nycca := image.NewNYCbCrA(b, image.YCbCrSubsampleRatio422)
	gray := image.NewGray(b)
	gray16 := image.NewGray16(b)
	cmyk := image.NewCMYK(b)
	rgba64 := image.NewRGBA64(b)
	nrgba64 := image.NewNRGBA64(b)
	pal := image.NewPaletted(b, cubePalette())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := src.NRGBAAt(x, y)
			rgba.Set(x, y, c)
			rgba64.Set(x, y, c)
			nrgba64.Set(x, y, c)
			gray.Set(x, y, c)
			gray16.Set(x, y, c)
			cmyk.Set(x, y, c)
			pal.Set(x, y, c)
			yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
			ycc.Y[ycc.YOffset(x, y)], ycc.Cb[ycc.COffset(x, y)], ycc.Cr[ycc.COffset(x, y)] = yy, cb, cr
			ycc420.Y[ycc420.YOffset(x, y)], ycc420.Cb[ycc420.COffset(x, y)], ycc420.Cr[ycc420.COffset(x, y)] = yy, cb, cr
			nycca.Y[nycca.YOffset(x, y)], nycca.Cb[nycca.COffset(x, y)], nycca.Cr[nycca.COffset(x, y)] = yy, cb, cr
			nycca.A[nycca.AOffset(x, y)] = 255
		}
	}
	sub := image.Rect(13, 7, 250, 170)
	type subImager interface {
		image.Image
		SubImage(image.Rectangle) image.Image
	}
	cases := []struct {
		name string
		img  subImager
		ref  image.Image // what it should hash like
		max  int
	}{
		{"RGBA", rgba, src, 0},
		{"RGBA64", rgba64, src, 2},
		{"NRGBA64", nrgba64, rgba64, 0},
		{"YCbCr444", ycc, src, 4},
		{"YCbCr420", ycc420, ycc, 0},
		{"NYCbCrA", nycca, ycc, 0},
		{"CMYK", cmyk, src, 8},
		{"Paletted", pal, genericImage{pal}, 0},
		{"Gray", gray, genericImage{gray}, 0},
		{"Gray16", gray16, gray, 0},
	}
	for _, c := range cases {
		for _, full := range []bool{true, false} {
			img, ref := image.Image(c.img), c.ref
			if !full {
				img = c.img.SubImage(sub)
				if g, ok := ref.(genericImage); ok {
					ref = genericImage{g.Image.(subImager).SubImage(sub)}
				} else {
					ref = ref.(subImager).SubImage(sub)
				}
			}
			h, _ := mustCompute(t, img)
			want, _ := mustCompute(t, ref)
			gen, _ := mustCompute(t, genericImage{img})
			t.Logf("%-9s full=%-5v distance %d to the reference image, %d to the generic path", c.name, full, Distance(h, want), Distance(h, gen))
			if d := Distance(h, want); d > c.max {
				t.Errorf("%s (full %v): distance %d to the reference image, want <= %d", c.name, full, d, c.max)
			}
			if d := Distance(h, gen); d > max(c.max, 2) {
				t.Errorf("%s (full %v): distance %d between fast and generic paths", c.name, full, d)
			}
		}
	}
	// Alpha is ignored: straight colour is hashed, premultiplied or not.
	trans := image.NewNRGBA(b)
	copy(trans.Pix, src.Pix)
	for i := 3; i < len(trans.Pix); i += 4 {
		trans.Pix[i] = 200
	}
	pre, pre64 := image.NewRGBA(b), image.NewRGBA64(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			pre.Set(x, y, trans.At(x, y))
			pre64.Set(x, y, trans.At(x, y))
		}
	}
	h0, _ := mustCompute(t, src)
	h1, _ := mustCompute(t, trans)
	h2, _ := mustCompute(t, pre)
	h3, _ := mustCompute(t, pre64)
	if h0 != h1 || Distance(h0, h2) > 8 || Distance(h0, h3) > 2 {
		t.Errorf("alpha changed the hash: opaque %v, NRGBA %v, RGBA %v, RGBA64 %v", h0, h1, h2, h3)
	}
}

// cubePalette is a 6x6x6 colour cube, enough for a test.
func cubePalette() color.Palette {
	var p color.Palette
	for r := 0; r < 6; r++ {
		for g := 0; g < 6; g++ {
			for b := 0; b < 6; b++ {
				p = append(p, color.NRGBA{uint8(r * 51), uint8(g * 51), uint8(b * 51), 255})
			}
		}
	}
	return p
}

// distances hashes a transformed copy of each image and returns the sorted
// distances to the original's hash.
func distances(t *testing.T, imgs []*image.NRGBA, f func(*image.NRGBA) image.Image) []int {
	t.Helper()
	var ds []int
	for _, img := range imgs {
		h0, _ := mustCompute(t, img)
		h1, _ := mustCompute(t, f(img))
		ds = append(ds, Distance(h0, h1))
	}
	slices.Sort(ds)
	return ds
}

func summary(ds []int) string {
	within := 0
	for _, d := range ds {
		if d <= MatchThreshold {
			within++
		}
	}
	return fmt.Sprintf("min %d median %d max %d, %d/%d within %d: %v", ds[0], ds[len(ds)/2], ds[len(ds)-1], within, len(ds), MatchThreshold, ds)
}

func TestRobustness(t *testing.T) {
	n := 24
	if testing.Short() {
		n = 8
	}
	var small, large []*image.NRGBA
	for s := range uint64(n) {
		img := synth(s, 400, 300)
		small = append(small, img)
		if s%3 == 0 {
			large = append(large, upscale(img, 1600, 1200))
		}
	}
	type check struct {
		name string
		imgs []*image.NRGBA
		f    func(*image.NRGBA) image.Image
		max  int // every distance must be at most this
	}
	half := func(m *image.NRGBA) image.Image { return resize(m, m.Bounds().Dx()/2, m.Bounds().Dy()/2) }
	checks := []check{
		{"jpeg q60 400x300", small, func(m *image.NRGBA) image.Image { return reencodeJPEG(t, m, 60) }, MatchThreshold},
		{"jpeg q60 1600x1200", large, func(m *image.NRGBA) image.Image { return reencodeJPEG(t, m, 60) }, MatchThreshold},
		{"resize 50% 400x300", small, half, MatchThreshold},
		{"resize 50% 1600x1200", large, half, MatchThreshold},
		{"resize 25% + jpeg q75", large, func(m *image.NRGBA) image.Image { return reencodeJPEG(t, resize(m, 400, 300), 75) }, MatchThreshold},
		{"brightness +12", small, func(m *image.NRGBA) image.Image { return brighten(m, 12) }, 8},
		{"brightness -12", small, func(m *image.NRGBA) image.Image { return brighten(m, -12) }, 8},
	}
	for _, c := range checks {
		ds := distances(t, c.imgs, c.f)
		t.Logf("%-22s %s", c.name, summary(ds))
		if ds[len(ds)-1] > c.max {
			t.Errorf("%s: max distance %d, want <= %d", c.name, ds[len(ds)-1], c.max)
		}
	}
	// PDQ is known not to survive crops well: cutting 5% off an edge moves
	// every feature by 3 of the 64 cells, half a period of the highest
	// frequencies hashed. Crops are reported, and only checked to stay
	// closer than unrelated images (about 128 apart).
	for _, frac := range []float64{0.01, 0.025, 0.05} {
		for _, set := range []struct {
			name string
			imgs []*image.NRGBA
		}{{"400x300", small}, {"1600x1200", large}} {
			ds := distances(t, set.imgs, func(m *image.NRGBA) image.Image { return cropFrac(m, frac) })
			t.Logf("crop %.1f%% each edge %-9s %s", frac*100, set.name, summary(ds))
			med := ds[len(ds)/2]
			if frac == 0.01 && med > MatchThreshold {
				t.Errorf("crop 1%% %s: median distance %d, want <= %d", set.name, med, MatchThreshold)
			}
			if med > 100 {
				t.Errorf("crop %.1f%% %s: median distance %d, want well below unrelated images", frac*100, set.name, med)
			}
		}
	}
}

func TestDiscrimination(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 60
	}
	hashes := make([]Hash, n)
	lowQ := 0
	for i := range hashes {
		var q int
		hashes[i], q = mustCompute(t, synth(uint64(1000+i), 160, 120))
		if q < MinQuality {
			lowQ++
		}
	}
	pairs, close, minD, sum := 0, 0, 256, 0
	for i := range hashes {
		for j := i + 1; j < len(hashes); j++ {
			d := Distance(hashes[i], hashes[j])
			pairs++
			sum += d
			minD = min(minD, d)
			if d <= MatchThreshold {
				close++
			}
		}
	}
	frac := float64(close) / float64(pairs)
	t.Logf("%d images (%d below quality %d), %d pairs: min distance %d, mean %.1f, %d pairs (%.4f%%) within %d",
		n, lowQ, MinQuality, pairs, minD, float64(sum)/float64(pairs), close, 100*frac, MatchThreshold)
	if frac >= 0.01 {
		t.Errorf("false-positive fraction %.4f, want < 1%%", frac)
	}
}

// TestDihedral compares each Dihedral entry with the hash of the pixels
// transformed the same way. The reference's filter and sampling are exactly
// mirror-symmetric only where its box window is odd and the side is not a
// multiple of 128; elsewhere the mirrored image is sampled up to a cell
// away and the entries are only close. That is the reference's behaviour
// (its README warns of it); sides over 512 px are reduced to a symmetric
// size.
func TestDihedral(t *testing.T) {
	names := [8]string{"original", "rotate90", "rotate180", "rotate270", "flipX", "flipY", "flipPlus1", "flipMinus1"}
	cases := []struct {
		name   string
		w, h   int
		max    int
		large  bool // upscaled from a quarter-size image
		nSeeds uint64
	}{
		{"symmetric windows 300x380", 300, 380, 8, false, 6},
		{"reduced 1200x900", 1200, 900, 8, true, 4},
		{"even window 320x240", 320, 240, MatchThreshold, false, 6},
		{"even windows 256x256", 256, 256, 64, false, 6},
	}
	for _, c := range cases {
		var all [8][]int
		for s := range c.nSeeds {
			var img *image.NRGBA
			if c.large {
				img = upscale(synth(100+s, c.w/4, c.h/4), c.w, c.h)
			} else {
				img = synth(100+s, c.w, c.h)
			}
			hs, q, err := Dihedral(img)
			if err != nil {
				t.Fatal(err)
			}
			h0, q0 := mustCompute(t, img)
			if hs[Original] != h0 || q != q0 {
				t.Fatalf("%s seed %d: Dihedral original %v/%d != Compute %v/%d", c.name, s, hs[Original], q, h0, q0)
			}
			for k := range hs {
				hk, _ := mustCompute(t, transform(img, k))
				d := Distance(hk, hs[k])
				all[k] = append(all[k], d)
				if d > c.max {
					t.Errorf("%s seed %d %s: distance %d between the hash of the transformed pixels and Dihedral's entry, want <= %d", c.name, s, names[k], d, c.max)
				}
				if k != Original && Distance(hs[k], h0) <= MatchThreshold {
					t.Errorf("%s seed %d %s: Dihedral entry matches the original (distance %d); the test image is too symmetric", c.name, s, names[k], Distance(hs[k], h0))
				}
			}
		}
		var maxes [8]int
		for k := range all {
			maxes[k] = slices.Max(all[k])
		}
		t.Logf("%-26s max distance per entry %v", c.name, maxes)
	}
}

// TestReductionVsFullSize measures the box pre-reduction against hashing
// the full-size image with the reference pipeline (our filter core matches
// the reference bit for bit when it is given the full image).
func TestReductionVsFullSize(t *testing.T) {
	var ds []int
	for s := range uint64(8) {
		sizes := [][2]int{{2000, 1500}, {1333, 1001}, {4000, 300}, {600, 800}}
		sz := sizes[s%4]
		img := upscale(synth(200+s, sz[0]/3, sz[1]/3), sz[0], sz[1])
		got, q := mustCompute(t, img)
		full := fullSizePlane(img)
		var small [64 * 64]float32
		full.downsample64(&small)
		var dct [256]float32
		dct64To16(&small, &dct)
		want := dctToHash(&dct)
		d := Distance(got, want)
		ds = append(ds, d)
		if fq := qualityMetric(&small); q != fq && (q < MinQuality) != (fq < MinQuality) {
			t.Errorf("%v: quality %d reduced vs %d full size", sz, q, fq)
		}
		if d > 16 {
			t.Errorf("%v: reduced hash is %d bits from the full-size hash, want <= 16", sz, d)
		}
	}
	slices.Sort(ds)
	t.Logf("reduced vs full-size reference path: %v", ds)
}

func fullSizePlane(img image.Image) *plane {
	b := img.Bounds()
	p := &plane{w: b.Dx(), h: b.Dy(), pix: make([]float32, b.Dx()*b.Dy())}
	row := rowReader(img)
	for y := 0; y < p.h; y++ {
		row(b.Min.Y+y, p.pix[y*p.w:(y+1)*p.w])
	}
	return p
}

func TestTorbenMedian(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for n := 1; n < 300; n += 7 {
		m := make([]float32, n)
		for i := range m {
			m[i] = float32(r.IntN(50)) - 25 // with ties
		}
		s := slices.Clone(m)
		slices.Sort(s)
		want := s[(n-1)/2] // lower median
		if got := torbenMedian(m); got != want {
			t.Fatalf("n=%d: median %v, want %v", n, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("d8f8f0cce0f4a84f0e370a22028f67f0b36e2ed596623e1d33e6b39c4e9c9b22")
	f.Add(strings.Repeat("F", 64))
	f.Add(strings.Repeat("0", 63) + "x")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := Parse(s)
		if err != nil {
			if h != (Hash{}) {
				t.Fatalf("Parse(%q) failed but returned %v", s, h)
			}
			return
		}
		if got := h.String(); got != strings.ToLower(s) {
			t.Fatalf("Parse(%q).String() = %q", s, got)
		}
		if h2, err := Parse(h.String()); err != nil || h2 != h {
			t.Fatalf("round trip of %q: %v, %v", s, h2, err)
		}
	})
}
