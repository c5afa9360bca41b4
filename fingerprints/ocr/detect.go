package ocr

import (
	"image"
	"slices"
)

// Thresholds of LooksLikeDocument. A printed page, scanned or photographed,
// is mostly paper (one light, grey level) with a little dark ink and few
// tones in between; a photograph of a person or a wound spreads over many
// mid tones and colours. The cut-offs leave room for phone-photo shading and
// JPEG noise.
const (
	minSide       = 400   // px: below this a page's text is too small to read
	maxAspect     = 4.0   // longer side over shorter: a receipt, not a banner
	minPaperLuma  = 150   // the paper level (85th percentile) must be light
	minPaper      = 0.55  // share of samples within 45 levels of the paper level
	minInk        = 0.002 // share of samples 90+ levels darker than the paper
	maxInk        = 0.35
	maxMid        = 0.25 // share neither paper nor ink (shading, anti-aliasing)
	maxColourful  = 0.15 // share of samples with a strong colour cast
	colourSpread  = 60   // max-min of R,G,B (8-bit) that counts as colourful
	targetSamples = 160_000
)

// LooksLikeDocument is a cheap test, on a sample of about 160 000 pixels,
// of whether img is a page of text worth OCR: large enough to read, page-like
// in shape, mostly light paper with some dark ink and little in between or
// in colour. It errs on reading too little rather than too much: a false
// "no" leaves the image to the image layer, as before OCR.
func LooksLikeDocument(img image.Image) bool {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if min(w, h) < minSide {
		return false
	}
	if float64(max(w, h)) > maxAspect*float64(min(w, h)) {
		return false
	}
	step := 1
	for (w/step)*(h/step) > targetSamples {
		step++
	}
	lumas := make([]uint8, 0, (w/step+1)*(h/step+1))
	colourful := 0
	for y := b.Min.Y; y < b.Max.Y; y += step {
		for x := b.Min.X; x < b.Max.X; x += step {
			r, g, bl, _ := img.At(x, y).RGBA()
			r8, g8, b8 := int(r>>8), int(g>>8), int(bl>>8)
			if max(r8, g8, b8)-min(r8, g8, b8) > colourSpread {
				colourful++
			}
			// BT.601 luma, integer.
			lumas = append(lumas, uint8((299*r8+587*g8+114*b8)/1000))
		}
	}
	n := len(lumas)
	if n == 0 || float64(colourful) > maxColourful*float64(n) {
		return false
	}
	sorted := slices.Clone(lumas)
	slices.Sort(sorted)
	paper := int(sorted[n*85/100])
	if paper < minPaperLuma {
		return false
	}
	var light, ink int
	for _, l := range lumas {
		switch d := paper - int(l); {
		case d <= 45:
			light++
		case d >= 90:
			ink++
		}
	}
	mid := n - light - ink
	fn := float64(n)
	return float64(light) >= minPaper*fn &&
		float64(ink) >= minInk*fn && float64(ink) <= maxInk*fn &&
		float64(mid) <= maxMid*fn
}
