package synth

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"
	"math/rand/v2"
	"strings"

	xdraw "golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// Pictures are re-posted framed, cut, stamped and screenshotted. The
// functions here make those copies of any image (a generated photo, a
// design, a real photograph) for the evaluation's image classes; each
// returns the new image and a short variant label for diagnosing misses.

// Design draws a smooth, low-texture design: a linear gradient between two
// random colours at a random angle with one to three soft blobs, no noise
// (a banner, a slide background, a flat illustration). PDQ rates such
// images below its quality threshold.
func Design(rng *rand.Rand) *image.RGBA {
	w := 320 + rng.IntN(640)
	h := w * (50 + rng.IntN(50)) / 100
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	col := func() [3]float64 { return [3]float64{255 * rng.Float64(), 255 * rng.Float64(), 255 * rng.Float64()} }
	c0, c1 := col(), col()
	ang := 2 * math.Pi * rng.Float64()
	ca, sa := math.Cos(ang), math.Sin(ang)
	type blob struct {
		x, y, r, a float64
		c          [3]float64
	}
	blobs := make([]blob, 1+rng.IntN(3))
	for i := range blobs {
		blobs[i] = blob{float64(w) * rng.Float64(), float64(h) * rng.Float64(), float64(w) * (0.15 + 0.3*rng.Float64()), 0.4 + 0.5*rng.Float64(), col()}
	}
	for y := range h {
		for x := range w {
			u := (float64(x)/float64(w)-0.5)*ca + (float64(y)/float64(h)-0.5)*sa + 0.5
			u = min(max(u, 0), 1)
			var c [3]float64
			for i := range c {
				c[i] = c0[i]*(1-u) + c1[i]*u
			}
			for _, b := range blobs {
				d := math.Hypot(float64(x)-b.x, float64(y)-b.y) / b.r
				a := b.a * math.Exp(-d*d)
				for i := range c {
					c[i] = c[i]*(1-a) + b.c[i]*a
				}
			}
			o := img.PixOffset(x, y)
			img.Pix[o], img.Pix[o+1], img.Pix[o+2], img.Pix[o+3] = clamp8(c[0]), clamp8(c[1]), clamp8(c[2]), 0xff
		}
	}
	return img
}

// OneSidedCrop cuts 5–10 % of the image's width or height from one side.
func OneSidedCrop(rng *rand.Rand, img image.Image) (image.Image, string) {
	b := img.Bounds()
	share := 0.05 + 0.05*rng.Float64()
	r := b
	side := []string{"left", "top", "right", "bottom"}[rng.IntN(4)]
	switch side {
	case "left":
		r.Min.X += int(share * float64(b.Dx()))
	case "top":
		r.Min.Y += int(share * float64(b.Dy()))
	case "right":
		r.Max.X -= int(share * float64(b.Dx()))
	case "bottom":
		r.Max.Y -= int(share * float64(b.Dy()))
	}
	return copyRect(img, r), fmt.Sprintf("%s-%.0f%%", side, share*100)
}

// CentreCrop cuts 5–10 % of each dimension, half from each side.
func CentreCrop(rng *rand.Rand, img image.Image) (image.Image, string) {
	b := img.Bounds()
	share := 0.05 + 0.05*rng.Float64()
	mx, my := int(share/2*float64(b.Dx())), int(share/2*float64(b.Dy()))
	return copyRect(img, image.Rect(b.Min.X+mx, b.Min.Y+my, b.Max.X-mx, b.Max.Y-my)), fmt.Sprintf("%.0f%%", share*100)
}

func copyRect(img image.Image, r image.Rectangle) *image.RGBA {
	dst := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	draw.Draw(dst, dst.Bounds(), img, r.Min, draw.Src)
	return dst
}

// Watermark stamps a channel handle or a word across the image in white
// or black at 40–60 % opacity, its height 5–9 % of the image's, in a
// corner or the middle, as leak channels mark what they post.
func Watermark(rng *rand.Rand, img image.Image) (image.Image, string, error) {
	b := img.Bounds()
	out := copyRect(img, b)
	marks := []string{"@leak_archive", "t.me/dumpzone", "SAMPLE", "leaked by xx", "FULL DB FOR SALE"}
	text := marks[rng.IntN(len(marks))]
	size := float64(b.Dy()) * (0.05 + 0.04*rng.Float64())
	face, err := goRegular(size, 72)
	if err != nil {
		return nil, "", err
	}
	defer face.Close()
	alpha := uint8(255 * (0.4 + 0.2*rng.Float64()))
	ink := color.NRGBA{255, 255, 255, alpha}
	if rng.IntN(2) == 0 {
		ink = color.NRGBA{0, 0, 0, alpha}
	}
	d := font.Drawer{Dst: out, Src: image.NewUniform(ink), Face: face}
	for d.MeasureString(text).Ceil() > out.Bounds().Dx()*9/10 && len(text) > 4 {
		text = text[:len(text)-1]
	}
	tw := d.MeasureString(text).Ceil()
	W, H := out.Bounds().Dx(), out.Bounds().Dy()
	pad := int(size / 2)
	where := []string{"bottom-right", "bottom-left", "top-left", "middle"}[rng.IntN(4)]
	var x, y int
	switch where {
	case "bottom-right":
		x, y = W-tw-pad, H-pad
	case "bottom-left":
		x, y = pad, H-pad
	case "top-left":
		x, y = pad, pad+int(size)
	default:
		x, y = (W-tw)/2, (H+int(size))/2
	}
	d.Dot = fixed.P(max(x, 0), y)
	d.DrawString(text)
	return out, where, nil
}

// Screenshot shows the image at 55–90 % of its size in a browser-like
// window: a dark title bar with the page's address, a light toolbar, and
// page margins of the page's own colour around the picture.
func Screenshot(rng *rand.Rand, img image.Image) (image.Image, string, error) {
	b := img.Bounds()
	scale := 0.55 + 0.35*rng.Float64()
	sw, sh := max(int(float64(b.Dx())*scale), 16), max(int(float64(b.Dy())*scale), 16)
	scaled := image.NewRGBA(image.Rect(0, 0, sw, sh))
	xdraw.CatmullRom.Scale(scaled, scaled.Bounds(), img, b, draw.Src, nil)

	title := max(sh/14, 14)
	toolbar := max(sh/18, 10)
	ml, mr := int(float64(sw)*(0.04+0.2*rng.Float64())), int(float64(sw)*(0.04+0.2*rng.Float64()))
	mt, mb := int(float64(sh)*(0.03+0.08*rng.Float64())), int(float64(sh)*(0.03+0.15*rng.Float64()))
	W, H := sw+ml+mr, title+toolbar+mt+sh+mb
	out := image.NewRGBA(image.Rect(0, 0, W, H))
	page := color.RGBA{250, 250, 250, 255}
	if rng.IntN(3) == 0 {
		page = color.RGBA{32, 33, 36, 255} // a dark theme
	}
	draw.Draw(out, out.Bounds(), image.NewUniform(page), image.Point{}, draw.Src)
	draw.Draw(out, image.Rect(0, 0, W, title), image.NewUniform(color.RGBA{53, 54, 58, 255}), image.Point{}, draw.Src)
	draw.Draw(out, image.Rect(0, title, W, title+toolbar), image.NewUniform(color.RGBA{222, 225, 230, 255}), image.Point{}, draw.Src)
	draw.Draw(out, image.Rect(ml, title+toolbar+mt, ml+sw, title+toolbar+mt+sh), scaled, image.Point{}, draw.Src)

	face, err := goRegular(float64(title)*0.6, 72)
	if err != nil {
		return nil, "", err
	}
	defer face.Close()
	d := font.Drawer{Dst: out, Src: image.NewUniform(color.RGBA{230, 230, 230, 255}), Face: face, Dot: fixed.P(title/2, title*3/4)}
	addr := "http://" + strings.Repeat("x", 4+rng.IntN(8)) + ".onion/samples/" + fmt.Sprint(1+rng.IntN(999))
	// A tab clips its title: the text takes at most 60 % of the bar.
	for d.MeasureString(addr).Ceil() > W*6/10 && len(addr) > 1 {
		addr = addr[:len(addr)-1]
	}
	d.DrawString(addr)
	return out, fmt.Sprintf("%.0f%%", scale*100), nil
}

// Border puts the image in a uniform border of a random colour, 5–15 % of
// its side on each edge (each edge its own width).
func Border(rng *rand.Rand, img image.Image) image.Image {
	b := img.Bounds()
	share := func(n int) int { return int(float64(n) * (0.05 + 0.10*rng.Float64())) }
	l, t, r, bo := share(b.Dx()), share(b.Dy()), share(b.Dx()), share(b.Dy())
	bg := color.RGBA{uint8(rng.IntN(256)), uint8(rng.IntN(256)), uint8(rng.IntN(256)), 255}
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()+l+r, b.Dy()+t+bo))
	draw.Draw(out, out.Bounds(), image.NewUniform(bg), image.Point{}, draw.Src)
	draw.Draw(out, image.Rect(l, t, l+b.Dx(), t+b.Dy()), img, b.Min, draw.Src)
	return out
}

// CaptionBand adds a white band above and below (8–15 % of the height
// each) with a line of black caption text in each, as memes do.
func CaptionBand(rng *rand.Rand, img image.Image) (image.Image, error) {
	b := img.Bounds()
	band := func() int { return int(float64(b.Dy()) * (0.08 + 0.07*rng.Float64())) }
	top, bottom := band(), band()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()+top+bottom))
	draw.Draw(out, out.Bounds(), image.White, image.Point{}, draw.Src)
	draw.Draw(out, image.Rect(0, top, b.Dx(), top+b.Dy()), img, b.Min, draw.Src)
	captions := []string{"look what was in the dump", "full set in the link below", "more where this came from",
		"clinic photos, 2024", "no comment", "seen this one before?"}
	for _, y0 := range []int{0, top + b.Dy()} {
		h := top
		if y0 > 0 {
			h = bottom
		}
		// The text fills about half the band's height, as captions do.
		face, err := goRegular(float64(h)*0.5, 72)
		if err != nil {
			return nil, err
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
			return nil, err
		}
	}
	return out, nil
}

// ScaleTo resizes img so its longer side is at most max px (CatmullRom);
// smaller images are returned as they are.
func ScaleTo(img image.Image, max int) image.Image {
	b := img.Bounds()
	long := b.Dx()
	if b.Dy() > long {
		long = b.Dy()
	}
	if long <= max {
		return img
	}
	w, h := b.Dx()*max/long, b.Dy()*max/long
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	xdraw.CatmullRom.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
	return dst
}

// EncodeImage encodes img as PNG (ext ".png") or JPEG at quality (".jpg").
func EncodeImage(img image.Image, ext string, quality int) ([]byte, error) {
	return encodeImage(img, ext, quality)
}

// goRegular is a Go Regular face of size points at dpi; the caller closes
// it.
func goRegular(size, dpi float64) (font.Face, error) {
	f, err := opentype.Parse(goregular.TTF)
	if err != nil {
		return nil, err
	}
	return opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: dpi, Hinting: font.HintingFull})
}
