package extract

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/leakwatch/leakwatch/fingerprints/ocr"
)

// ocrShare is the part of the time left for a document that OCR may use, so
// a long scanned PDF ends with the pages read so far (and its images) rather
// than a timeout that loses the whole document.
const ocrShare = 0.8

// ocrImages appends the text of every kept image that looks like a page.
// Failures are warnings: the images still match by image.
func ocrImages(d *doc, reader OCR) {
	ctx := d.ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.Now().Add(time.Duration(ocrShare*float64(time.Until(dl)))))
		defer cancel()
	}
	for i, img := range d.images {
		if d.full() || d.err() != nil {
			return
		}
		if ctx.Err() != nil {
			d.warnf("ocr: time budget spent after %d of %d images", i, len(d.images))
			return
		}
		s, err := reader.Recognize(ctx, img)
		switch {
		case errors.Is(err, ocr.ErrNotDocument):
			continue
		case err != nil:
			d.warnf("ocr: image %d: %v", i+1, err)
			continue
		}
		if strings.TrimSpace(s) == "" {
			continue
		}
		d.newline()
		d.write(s)
	}
}
