package extract

import (
	"bytes"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"

	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// Decoders are called directly by sniffed type rather than through
// image.Decode, so this package registers nothing in image's global format
// table and never decodes a format it did not sniff.

func imageConfig(t Type, data []byte) (image.Config, error) {
	r := bytes.NewReader(data)
	switch t {
	case TypeJPEG:
		return jpeg.DecodeConfig(r)
	case TypePNG:
		return png.DecodeConfig(r)
	case TypeGIF:
		return gif.DecodeConfig(r)
	case TypeWEBP:
		return webp.DecodeConfig(r)
	case TypeTIFF:
		return tiff.DecodeConfig(r)
	case TypeBMP:
		return bmp.DecodeConfig(r)
	}
	return image.Config{}, fmt.Errorf("%s is not an image type: %w", t, ErrCorrupt)
}

func imageDecode(t Type, data []byte) (image.Image, error) {
	r := bytes.NewReader(data)
	switch t {
	case TypeJPEG:
		return jpeg.Decode(r)
	case TypePNG:
		return png.Decode(r)
	case TypeGIF:
		return gif.Decode(r) // first frame only
	case TypeWEBP:
		return webp.Decode(r)
	case TypeTIFF:
		return tiff.Decode(r)
	case TypeBMP:
		return bmp.Decode(r)
	}
	return nil, fmt.Errorf("%s is not an image type: %w", t, ErrCorrupt)
}

// pixelBudget is the total of decoded pixels one Result may hold.
func (d *doc) pixelBudget() int64 { return 2 * d.lim.MaxImagePixels }

// addImage sniffs, size-checks and decodes one image. The header's
// dimensions are checked against MaxImagePixels before the decoder allocates
// the pixel buffer, which is what stops decompression bombs. An error means
// this image was not kept; callers embedding images treat it as a warning.
func (d *doc) addImage(data []byte) error {
	if d.imagesFull {
		return nil
	}
	if len(d.images) >= d.lim.MaxImages {
		d.imagesFull = true
		d.warnf("images truncated at MaxImages (%d)", d.lim.MaxImages)
		return nil
	}
	t := Sniff(data[:min(len(data), sniffLen)])
	if !t.IsImage() {
		return fmt.Errorf("image: unrecognised format (%s): %w", t, ErrCorrupt)
	}
	cfg, err := imageConfig(t, data)
	if err != nil {
		return fmt.Errorf("%s header: %w", t, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return fmt.Errorf("%s header: %dx%d: %w", t, cfg.Width, cfg.Height, ErrCorrupt)
	}
	// Check each side first so the product cannot overflow.
	w, h := int64(cfg.Width), int64(cfg.Height)
	if w > d.lim.MaxImagePixels || h > d.lim.MaxImagePixels || w*h > d.lim.MaxImagePixels {
		return fmt.Errorf("%s %dx%d over MaxImagePixels %d: %w", t, cfg.Width, cfg.Height, d.lim.MaxImagePixels, ErrTooLarge)
	}
	px := w * h
	if d.pixels+px > d.pixelBudget() {
		d.imagesFull = true
		d.warnf("images truncated at pixel budget (%d)", d.pixelBudget())
		return nil
	}
	if err := d.err(); err != nil {
		return err
	}
	img, err := imageDecode(t, data)
	if err != nil {
		return fmt.Errorf("%s decode: %w", t, err)
	}
	// A decoder may size its buffer from a different header field than
	// DecodeConfig reports (TIFF directories, GIF frames); count what we got.
	b := img.Bounds()
	d.pixels += max(px, int64(b.Dx())*int64(b.Dy()))
	d.images = append(d.images, img)
	return nil
}

// addEmbeddedImage is addImage for an image inside a document: failures are
// warnings, not errors, because the document's text still counts.
func (d *doc) addEmbeddedImage(where string, data []byte) {
	if err := d.addImage(data); err != nil {
		d.warnf("%s: image skipped: %v", where, err)
	}
}
