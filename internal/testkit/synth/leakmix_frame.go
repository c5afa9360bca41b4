package synth

import (
	"image"
	"image/color"
	"image/draw"
	"math/rand/v2"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// borderItem posts a photo framed as forums and galleries do: a uniform
// border of a random colour, 5–15 % of the photo's side on each edge
// (each edge its own width), re-encoded as JPEG.
func (m *mixer) borderItem(rng *rand.Rand, _ int, src Doc) (LeakItem, error) {
	img, err := m.photo(src)
	if err != nil {
		return LeakItem{}, err
	}
	b := img.Bounds()
	share := func(n int) int { return int(float64(n) * (0.05 + 0.10*rng.Float64())) }
	l, t, r, bo := share(b.Dx()), share(b.Dy()), share(b.Dx()), share(b.Dy())
	bg := color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()+l+r, b.Dy()+t+bo))
	draw.Draw(out, out.Bounds(), image.NewUniform(bg), image.Point{}, draw.Src)
	draw.Draw(out, image.Rect(l, t, l+b.Dx(), t+b.Dy()), img, b.Min, draw.Src)
	data, err := encodeImage(out, ".jpg", 85)
	return LeakItem{Name: postedName(rng, ".jpg"), Data: data, Variant: "jpeg-q85"}, err
}

// captionBandItem posts a photo as a meme or screenshot does: a white band
// above and below (8–15 % of the height each) with a line of black caption
// text in each, re-encoded as JPEG.
func (m *mixer) captionBandItem(rng *rand.Rand, _ int, src Doc) (LeakItem, error) {
	img, err := m.photo(src)
	if err != nil {
		return LeakItem{}, err
	}
	b := img.Bounds()
	band := func() int { return int(float64(b.Dy()) * (0.08 + 0.07*rng.Float64())) }
	top, bottom := band(), band()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()+top+bottom))
	draw.Draw(out, out.Bounds(), image.White, image.Point{}, draw.Src)
	draw.Draw(out, image.Rect(0, top, b.Dx(), top+b.Dy()), img, b.Min, draw.Src)
	f, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return LeakItem{}, err
	}
	captions := []string{"look what was in the dump", "full set in the link below", "more where this came from",
		"clinic photos, 2024", "no comment", "seen this one before?"}
	for _, y0 := range []int{0, top + b.Dy()} {
		h := top
		if y0 > 0 {
			h = bottom
		}
		// The text fills about half the band's height, as captions do.
		face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: float64(h) * 0.5, DPI: 72, Hinting: font.HintingFull})
		if err != nil {
			return LeakItem{}, err
		}
		text := captions[rng.IntN(len(captions))]
		d := font.Drawer{Dst: out, Src: image.Black, Face: face}
		// Shorten a caption too wide for the photo.
		for d.MeasureString(text).Ceil() > b.Dx()*9/10 && strings.Contains(text, " ") {
			text = text[:strings.LastIndex(text, " ")]
		}
		x := (b.Dx() - d.MeasureString(text).Ceil()) / 2
		d.Dot = fixed.P(max(x, 0), y0+h*3/4)
		d.DrawString(text)
		if err := face.Close(); err != nil {
			return LeakItem{}, err
		}
	}
	data, err := encodeImage(out, ".jpg", 85)
	return LeakItem{Name: postedName(rng, ".jpg"), Data: data, Variant: "jpeg-q85"}, err
}
