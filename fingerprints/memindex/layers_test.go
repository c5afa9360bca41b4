package memindex

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/fingerprints/pdq"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
)

// The layout buckets must find exactly what comparing every stored
// signature finds, including values that wrap round 255 → 0 (keyed
// signatures are offset modulo 256).
func TestNearFlatsAgreesWithScan(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	var ims []match.IndexedImage
	var seeds []pdq.Flat
	for i := range 2000 {
		var f pdq.Flat
		for j := range f {
			f[j] = byte(r.IntN(256))
		}
		if i%20 == 0 {
			f[0], f[1], f[2] = 254, 1, 128 // on a bucket edge and the wrap
			seeds = append(seeds, f)
		}
		ims = append(ims, match.IndexedImage{Ref: uint64(i), Variant: match.FlatVariant, Hash: pdq.Hash(f)})
	}
	// Near copies of every seed, up to a little past the tolerance.
	for i, s := range seeds {
		c := s
		spread := 2 // within the tolerance
		if i%2 == 1 {
			spread = pdq.FlatMaxCellDiff + 2 // mostly past it
		}
		for j := range c {
			c[j] += byte(r.IntN(2*spread+1) - spread)
		}
		ims = append(ims, match.IndexedImage{Ref: uint64(10000 + i), Variant: match.FlatVariant, Hash: pdq.Hash(c)})
	}
	x := buildFlatIndex(ims)
	found := 0
	for _, s := range seeds {
		var want []uint64
		for _, im := range ims {
			if pdq.FlatMatch(s, pdq.Flat(im.Hash)) {
				want = append(want, im.Ref)
			}
		}
		var got []uint64
		for _, im := range x.near(s) {
			got = append(got, im.Ref)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("buckets found %v, a scan %v", got, want)
		}
		found += len(got)
	}
	if found <= len(seeds) {
		t.Errorf("found %d signatures for %d seeds: the planted near copies were never in range, the test shows nothing", found, len(seeds))
	}
}

// textured draws a picture PDQ rates well: overlapping waves and speckle.
func textured(r *rand.Rand, w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	var fx, fy, ph [4]float64
	for k := range fx {
		fx[k], fy[k], ph[k] = 0.005+0.05*r.Float64(), 0.005+0.05*r.Float64(), 2*math.Pi*r.Float64()
	}
	for y := range h {
		for x := range w {
			v := 128.0
			for k := range fx {
				v += 28 * math.Sin(fx[k]*float64(x)+fy[k]*float64(y)+ph[k])
			}
			v += float64(r.IntN(15) - 7)
			c := uint8(min(max(v, 0), 255))
			img.SetRGBA(x, y, color.RGBA{c, uint8(min(int(c)+30, 255)), 255 - c, 255})
		}
	}
	return img
}

// encode is the picture as posted: JPEG at jpegQuality, or PNG for 0.
func encode(t *testing.T, img image.Image, jpegQuality int) []byte {
	t.Helper()
	ext := ".jpg"
	if jpegQuality == 0 {
		ext = ".png"
	}
	data, err := synth.EncodeImage(img, ext, jpegQuality)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestImageLayers runs re-posted pictures through the analyzer, a built
// index and the matcher: cut on one side, shown in a screenshot,
// watermarked, and low-texture designs re-compressed at quality 55 each
// match their own reference, by the layer meant for them, and pictures
// that are not in the index match nothing.
func TestImageLayers(t *testing.T) {
	ctx := context.Background()
	key, err := fingerprints.NewKey(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	a := match.NewAnalyzer(key, match.Options{})
	r := rand.New(rand.NewPCG(11, 13))
	b := NewBuilder()
	var photos, designs []image.Image
	for i := range 12 {
		var img image.Image
		if i%2 == 0 {
			img = textured(r, 480+r.IntN(200), 360)
			photos = append(photos, img)
		} else {
			img = synth.Design(r)
			designs = append(designs, img)
		}
		ref := uint64(i + 1)
		b.AddRef(match.Ref{Key: ref, ID: fmt.Sprint(ref), Name: fmt.Sprintf("ref-%d", ref)}, Digests{})
		err := a.Analyze(ctx, "ref.png", encode(t, img, 0), match.Reference, func(f match.Features) error {
			for _, im := range f.Images {
				for j, h := range im.Hashes {
					b.AddImage(match.IndexedImage{Ref: ref, Variant: im.Variants[j], Hash: h, Quality: im.Quality})
				}
				if im.Flat != nil {
					b.AddImage(match.IndexedImage{Ref: ref, Variant: match.FlatVariant, Hash: pdq.Hash(*im.Flat), Quality: im.Quality})
				}
			}
			if f.Trivial != "" {
				t.Errorf("reference %d is trivial (%s)", ref, f.Trivial)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	x := b.Build()
	m := match.NewMatcher(x, match.Options{})
	scan := func(data []byte) match.Result {
		t.Helper()
		var res match.Result
		err := a.Analyze(ctx, "post.jpg", data, match.Query, func(f match.Features) error {
			var err error
			res, err = m.Match(ctx, f)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	expect := func(name string, res match.Result, ref int, method, why string) {
		t.Helper()
		if len(res.Matches) != 1 || res.Matches[0].RefName != fmt.Sprintf("ref-%d", ref) || res.Matches[0].Method != method || !strings.Contains(res.Matches[0].Why, why) {
			t.Errorf("%s: matches %+v, want ref-%d alone by %s (%q)", name, res.Matches, ref, method, why)
		}
	}
	for i, img := range photos {
		ref := 2*i + 1
		cut, v := synth.OneSidedCrop(r, img)
		expect("one-sided crop "+v, scan(encode(t, cut, 85)), ref, match.MethodPDQ, "taken as cropped")
		shot, v, err := synth.Screenshot(r, img)
		if err != nil {
			t.Fatal(err)
		}
		expect("screenshot at "+v, scan(encode(t, shot, 0)), ref, match.MethodPDQ, "trimmed")
		wm, v, err := synth.Watermark(r, img)
		if err != nil {
			t.Fatal(err)
		}
		expect("watermark "+v, scan(encode(t, wm, 85)), ref, match.MethodPDQ, "PDQ distance")
	}
	for i, img := range designs {
		ref := 2*i + 2
		expect("design at quality 55", scan(encode(t, img, 55)), ref, match.MethodImageLayout, "low-texture layout")
		small := synth.ScaleTo(img, img.Bounds().Dx()*3/4)
		expect("design at 75 % and quality 55", scan(encode(t, small, 55)), ref, match.MethodImageLayout, "low-texture layout")
	}
	for i := range 12 {
		var img image.Image = synth.Design(r)
		if i%2 == 0 {
			img = textured(r, 500, 360)
		}
		if res := scan(encode(t, img, 70)); len(res.Matches) != 0 {
			t.Errorf("a picture not in the index matched: %+v", res.Matches)
		}
	}
}
