package extract

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"image"
	"io"
)

// pdfFlateImage decodes a FlateDecode image XObject whose dictionary is dict:
// 8-bit DeviceGray or DeviceRGB, or 1-bit DeviceGray (bilevel scans), with no
// /DecodeParms (a PNG predictor) and no /Decode or /Mask tricks. Anything
// else is skipped with a warning. The size comes from /Width and /Height,
// checked against the pixel limits before inflating, and inflation stops at
// the bytes those dimensions need, so a bomb cannot grow past them.
func pdfFlateImage(d *doc, where string, dict, stream []byte) {
	if d.imagesFull {
		return
	}
	if len(d.images) >= d.lim.MaxImages {
		d.imagesFull = true
		d.warnf("images truncated at MaxImages (%d)", d.lim.MaxImages)
		return
	}
	intKey := func(key string) (int64, bool) {
		i := bytes.Index(dict, []byte(key))
		if i < 0 {
			return 0, false
		}
		v := pdfParseValue(dict, i+len(key))
		return v.n, v.isInt && !v.ref
	}
	w, okW := intKey("/Width")
	h, okH := intKey("/Height")
	bpc, okB := intKey("/BitsPerComponent")
	cs := ""
	if i := bytes.Index(dict, []byte("/ColorSpace")); i >= 0 {
		if j := pdfSkipSpace(dict, i+len("/ColorSpace")); j < len(dict) && dict[j] == '/' {
			cs, _ = pdfReadName(dict, j+1)
		}
	}
	comps := map[string]int64{"DeviceGray": 1, "G": 1, "DeviceRGB": 3, "RGB": 3}[cs]
	switch {
	case !okW || !okH || !okB || w <= 0 || h <= 0:
		d.warnf("%s: skipped: no usable /Width, /Height or /BitsPerComponent", where)
		return
	case comps == 0 || !(bpc == 8 || bpc == 1 && comps == 1):
		d.warnf("%s: skipped: Flate image in an unsupported colour space or depth", where)
		return
	case bytes.Contains(dict, []byte("/DecodeParms")) || bytes.Contains(dict, []byte("/Decode ")) || bytes.Contains(dict, []byte("/Decode[")):
		d.warnf("%s: skipped: Flate image with a predictor or decode array", where)
		return
	}
	lim := d.lim.MaxImagePixels
	if w > lim || h > lim || w*h > lim {
		d.warnf("%s: skipped: %dx%d over MaxImagePixels %d", where, w, h, lim)
		return
	}
	if d.pixels+w*h > d.pixelBudget() {
		d.imagesFull = true
		d.warnf("images truncated at pixel budget (%d)", d.pixelBudget())
		return
	}
	rowBytes := (w*comps*bpc + 7) / 8
	raw := make([]byte, rowBytes*h)
	zr, err := zlib.NewReader(bytes.NewReader(stream))
	if err != nil {
		d.warnf("%s: skipped: %v", where, err)
		return
	}
	defer zr.Close()
	if _, err := io.ReadFull(zr, raw); err != nil {
		d.warnf("%s: skipped: %v", where, fmt.Errorf("inflate: %w", err))
		return
	}
	if err := d.err(); err != nil {
		return
	}
	r := image.Rect(0, 0, int(w), int(h))
	var img image.Image
	switch {
	case comps == 3:
		rgba := image.NewRGBA(r)
		for p, q := 0, 0; p+2 < len(raw); p, q = p+3, q+4 {
			rgba.Pix[q], rgba.Pix[q+1], rgba.Pix[q+2], rgba.Pix[q+3] = raw[p], raw[p+1], raw[p+2], 0xff
		}
		img = rgba
	case bpc == 8:
		img = &image.Gray{Pix: raw, Stride: int(w), Rect: r}
	default: // 1-bit grey: 0 is black
		g := image.NewGray(r)
		for y := range int(h) {
			row := raw[int64(y)*rowBytes:]
			for x := range int(w) {
				if row[x/8]&(0x80>>(x%8)) != 0 {
					g.Pix[y*g.Stride+x] = 0xff
				}
			}
		}
		img = g
	}
	d.pixels += w * h
	d.images = append(d.images, img)
}
