package pdq

import (
	"image"
	"image/color"
	"image/draw"
	"testing"
)

// frame pastes img onto a canvas of colour bg with the given margins in
// pixels (left, top, right, bottom).
func frame(img image.Image, bg color.Color, l, t, r, b int) *image.NRGBA {
	s := img.Bounds().Size()
	out := image.NewNRGBA(image.Rect(0, 0, s.X+l+r, s.Y+t+b))
	draw.Draw(out, out.Bounds(), image.NewUniform(bg), image.Point{}, draw.Src)
	draw.Draw(out, image.Rect(l, t, l+s.X, t+s.Y), img, img.Bounds().Min, draw.Src)
	return out
}

// captionLine darkens a text-like stripe (short dark runs) across the
// middle of rows [y0, y1) of img, leaving most of each row the band's.
func captionLine(img *image.NRGBA, y0, y1 int) {
	w := img.Bounds().Dx()
	for y := y0; y < y1; y++ {
		for x := w / 5; x < 4*w/5; x++ {
			if (x/3)%3 == 0 {
				img.SetNRGBA(x, y, color.NRGBA{0, 0, 0, 255})
			}
		}
	}
}

func TestTrimBorder(t *testing.T) {
	src := synth(7, 400, 300)
	want := first(mustPrepare(t, src).Hash())
	for _, tc := range []struct {
		name       string
		bg         color.Color
		l, t, r, b int
	}{
		{"white even", color.White, 40, 30, 40, 30},
		{"black uneven", color.Black, 20, 45, 60, 15},
		{"teal", color.NRGBA{20, 140, 150, 255}, 50, 40, 50, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			framed := reencodeJPEG(t, frame(src, tc.bg, tc.l, tc.t, tc.r, tc.b), 75)
			pr := mustPrepare(t, framed)
			whole := first(pr.Hash())
			tr, ok := pr.Trim()
			if !ok {
				t.Fatal("border not trimmed")
			}
			got := first(tr.Hash())
			if d := Distance(got, want); d > 16 {
				t.Errorf("trimmed hash %d bits from the original, want ≤ 16 (untrimmed: %d)", d, Distance(whole, want))
			}
			if d := Distance(whole, want); d <= MatchThreshold {
				t.Logf("untrimmed already matches (%d bits): the test shows little", d)
			}
		})
	}
}

func TestTrimCaptionBand(t *testing.T) {
	src := synth(11, 400, 300)
	want := first(mustPrepare(t, src).Hash())
	band := 40
	img := frame(src, color.White, 0, band, 0, band)
	captionLine(img, 12, 28)
	captionLine(img, band+300+10, band+300+26)
	pr := mustPrepare(t, reencodeJPEG(t, img, 80))
	tr, ok := pr.Trim()
	if !ok {
		t.Fatal("caption bands not trimmed")
	}
	if d := Distance(first(tr.Hash()), want); d > 16 {
		t.Errorf("trimmed hash %d bits from the original, want ≤ 16", d)
	}
}

func TestTrimKeepsHalf(t *testing.T) {
	// A white page with one small dark block: trimming must stop at half
	// of each side, not cut down to the block.
	page := image.NewNRGBA(image.Rect(0, 0, 400, 500))
	draw.Draw(page, page.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(page, image.Rect(190, 240, 210, 260), image.NewUniform(color.Black), image.Point{}, draw.Src)
	tr, ok := mustPrepare(t, page).Trim()
	if !ok {
		t.Fatal("margins not trimmed")
	}
	if tr.p.w < 200 || tr.p.h < 250 {
		t.Errorf("trimmed to %dx%d, want at least 200x250", tr.p.w, tr.p.h)
	}
}

func TestTrimNoBorder(t *testing.T) {
	pr := mustPrepare(t, synth(3, 300, 200))
	if tr, ok := pr.Trim(); ok || tr != pr {
		t.Errorf("a photo without a border was trimmed to %dx%d", tr.p.w, tr.p.h)
	}
}

// TestTrimStopsAtLightEdge: a photo whose own bottom edge is a light strip
// (a ruler next to a wound) under a white caption band: the band goes, the
// strip stays, so the trim is the photo as indexed.
func TestTrimStopsAtLightEdge(t *testing.T) {
	src := synth(5, 300, 200)
	draw.Draw(src, image.Rect(0, 170, 300, 200), image.NewUniform(color.Gray{238}), image.Point{}, draw.Src)
	for x := 0; x < 300; x += 10 {
		draw.Draw(src, image.Rect(x, 170, x+1, 180), image.NewUniform(color.Black), image.Point{}, draw.Src)
	}
	img := frame(src, color.White, 0, 24, 0, 24)
	captionLine(img, 6, 18)
	captionLine(img, 24+200+6, 24+200+18)
	tr, ok := mustPrepare(t, reencodeJPEG(t, img, 85)).Trim()
	if !ok {
		t.Fatal("caption bands not trimmed")
	}
	if tr.p.h != 200 || tr.p.w != 300 {
		t.Errorf("trimmed to %dx%d, want the 300x200 photo", tr.p.w, tr.p.h)
	}
	want := first(mustPrepare(t, src).Hash())
	if d := Distance(first(tr.Hash()), want); d > 16 {
		t.Errorf("trimmed hash %d bits from the original, want ≤ 16", d)
	}
}

// TestTrimFrames: a screenshot (a dark title bar with text, a light
// toolbar, page margins) comes off layer by layer down to the picture,
// while one Trim stops at the first layer.
func TestTrimFrames(t *testing.T) {
	src := synth(21, 360, 270)
	page := frame(src, color.NRGBA{250, 250, 250, 255}, 40, 20, 60, 50)
	shot := frame(page, color.NRGBA{222, 225, 230, 255}, 0, 16, 0, 0)
	shot = frame(shot, color.NRGBA{53, 54, 58, 255}, 0, 22, 0, 0)
	for y := 6; y < 18; y++ {
		for x := 10; x < 200; x++ {
			if (x/3)%2 == 0 {
				shot.SetNRGBA(x, y, color.NRGBA{230, 230, 230, 255})
			}
		}
	}
	pr := mustPrepare(t, shot)
	one, _ := pr.Trim()
	all, ok := pr.TrimFrames()
	if !ok {
		t.Fatal("no frame trimmed")
	}
	want := image.Rect(40, 22+16+20, 40+360, 22+16+20+270)
	if got := all.Bounds(); abs(float32(got.Min.X-want.Min.X))+abs(float32(got.Min.Y-want.Min.Y))+abs(float32(got.Max.X-want.Max.X))+abs(float32(got.Max.Y-want.Max.Y)) > 4 {
		t.Errorf("frames trimmed to %v, want the picture at %v", got, want)
	}
	if one.Bounds() == all.Bounds() {
		t.Errorf("one trim already reached %v: the layers show nothing", one.Bounds())
	}
	if d := Distance(first(all.Hash()), first(mustPrepare(t, src).Hash())); d > 16 {
		t.Errorf("trimmed screenshot hashes %d bits from the picture, want ≤ 16", d)
	}
	found := false
	for _, tr := range pr.Trims() {
		found = found || tr.Bounds() == all.Bounds()
	}
	if !found {
		t.Error("Trims leaves out the layered trim")
	}
}

// TestDespeckledRemovesStrokes: thin dark strokes (letters) across a
// picture move its hash; without them it is back near the original.
func TestDespeckledRemovesStrokes(t *testing.T) {
	src := synth(23, 400, 300)
	marked := image.NewNRGBA(src.Bounds())
	draw.Draw(marked, marked.Bounds(), src, image.Point{}, draw.Src)
	// Rows of "letters": 3 px strokes, 10 px apart, over the left part.
	for _, y0 := range []int{40, 90, 140, 190, 240} {
		for y := y0; y < y0+24; y++ {
			for x := 10; x < 240; x++ {
				if x%10 < 3 || (y-y0)%12 < 2 {
					marked.SetNRGBA(x, y, color.NRGBA{10, 10, 10, 255})
				}
			}
		}
	}
	want := first(mustPrepare(t, src).Hash())
	pr := mustPrepare(t, reencodeJPEG(t, marked, 85))
	plain := Distance(first(pr.Hash()), want)
	clean := Distance(first(pr.Despeckled(4).Hash()), want)
	if plain <= MatchThreshold {
		t.Fatalf("the strokes moved the hash only %d bits: the test shows nothing", plain)
	}
	if clean > MatchThreshold {
		t.Errorf("despeckled hash %d bits from the original (marked: %d), want ≤ %d", clean, plain, MatchThreshold)
	}
}
