package pdq

import (
	"image"
	"testing"
)

func mustPrepare(t *testing.T, img image.Image) *Prepared {
	t.Helper()
	p, err := Prepare(img)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Small photos are where the reference path aliases: the same picture at
// half size must still match, and different pictures must not.
func TestPreparedResizeSmall(t *testing.T) {
	var prev Hash
	low := 0
	for seed := uint64(1); seed <= 30; seed++ {
		img := synth(seed, 160+int(seed%3)*32, 120+int(seed%3)*24)
		h, q := mustPrepare(t, img).Hash()
		if q < MinQuality { // flat images are dropped by the matcher too
			low++
			continue
		}
		half := resize(img, img.Bounds().Dx()/2, img.Bounds().Dy()/2)
		if d := Distance(h, first(mustPrepare(t, half).Hash())); d > MatchThreshold {
			t.Errorf("seed %d: half-size copy is %d bits away (threshold %d)", seed, d, MatchThreshold)
		}
		if j := reencodeJPEG(t, half, 60); Distance(h, first(mustPrepare(t, j).Hash())) > MatchThreshold {
			t.Errorf("seed %d: half-size JPEG q60 copy is %d bits away", seed, Distance(h, first(mustPrepare(t, j).Hash())))
		}
		if seed > 1 {
			if d := Distance(h, prev); d <= MatchThreshold {
				t.Errorf("seed %d: unrelated image only %d bits away", seed, d)
			}
		}
		prev = h
	}
	if low > 3 {
		t.Errorf("%d of 30 images below quality %d", low, MinQuality)
	}
}

// Crop(m) of a reference must land near the hash of the image actually
// cropped by m, and Crop(0) is the whole image.
func TestPreparedCrop(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		img := synth(seed, 640, 480)
		p := mustPrepare(t, img)
		whole, _ := p.Hash()
		if c0, _ := p.Crop(0); c0 != whole {
			t.Fatalf("seed %d: Crop(0) differs from Hash", seed)
		}
		for _, m := range []float64{0.01, 0.025, 0.05} {
			want, _ := p.Crop(m)
			got, _ := mustPrepare(t, cropFrac(img, m)).Hash()
			if d := Distance(want, got); d > 16 {
				t.Errorf("seed %d margin %.3f: cropped copy is %d bits from the crop variant", seed, m, d)
			}
		}
	}
}

// The resampling filter is mirror-symmetric, so each dihedral entry is the
// hash of the transformed pixels (up to float rounding at the median).
func TestPreparedDihedral(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		img := synth(seed, 300, 200)
		hs, _ := mustPrepare(t, img).Dihedral()
		if whole, _ := mustPrepare(t, img).Hash(); hs[Original] != whole {
			t.Fatalf("seed %d: Dihedral()[Original] differs from Hash", seed)
		}
		for k := range hs {
			got, _ := mustPrepare(t, transform(img, k)).Hash()
			if d := Distance(hs[k], got); d > 4 {
				t.Errorf("seed %d transform %d: %d bits from the transformed image's hash", seed, k, d)
			}
		}
	}
}

func TestPrepareErrors(t *testing.T) {
	if _, err := Prepare(nil); err == nil {
		t.Error("nil image accepted")
	}
	if _, err := Prepare(image.NewGray(image.Rect(0, 0, 3, 3))); err == nil {
		t.Error("3x3 image accepted")
	}
}

func first(h Hash, _ int) Hash { return h }

// FuzzPrepare drives the resampling path with arbitrary sizes (down to the
// 5 px minimum, up to ones the plane reduces), pixels and crop margins: no
// panic, and the same input always gives the same hashes.
func FuzzPrepare(f *testing.F) {
	f.Add(uint16(5), uint16(5), uint8(10), []byte{1, 2, 3})
	f.Add(uint16(640), uint16(7), uint8(255), []byte("stripes"))
	f.Add(uint16(9), uint16(700), uint8(0), []byte{0xff})
	f.Fuzz(func(t *testing.T, w, h uint16, margin uint8, pix []byte) {
		W, H := int(w%800), int(h%800)
		img := image.NewGray(image.Rect(0, 0, W, H))
		for i := range img.Pix {
			if len(pix) > 0 {
				img.Pix[i] = pix[i%len(pix)] + byte(i/len(pix))
			}
		}
		p, err := Prepare(img)
		if W < minDim || H < minDim {
			if err == nil {
				t.Fatalf("%dx%d accepted", W, H)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		m := float64(margin) / 256 // beyond 0.45 is clamped
		a, qa := p.Crop(m)
		b, qb := p.Crop(m)
		if a != b || qa != qb || qa < 0 || qa > 100 {
			t.Fatalf("Crop(%.3f) gave %v/%d then %v/%d", m, a, qa, b, qb)
		}
		hs, _ := p.Dihedral()
		if h0, _ := p.Hash(); hs[Original] != h0 {
			t.Fatal("Dihedral()[Original] differs from Hash")
		}
	})
}
