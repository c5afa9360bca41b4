// Package ocr reads the text of scanned and photographed documents with the
// Tesseract command-line program, so a printed-and-scanned letter or lab
// result reaches the text fingerprint layers like its born-digital original.
//
// The CLI is run as a separate process rather than linked through cgo
// (gosseract): leakwatch stays a pure-Go build, a crash, hang or runaway
// allocation in Tesseract on a hostile image cannot take the scanner down,
// and exec.CommandContext bounds every page by a time budget. The cost is a
// PNG encode and a process start per page, small beside the recognition.
package ocr

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os/exec"
	"strings"
	"time"
)

// Settings understood by Resolve, the same spellings as the pdftotext one.
const (
	Auto = "auto" // tesseract from $PATH when installed, else none
	Off  = "off"  // never run OCR
)

// DefaultPageTimeout bounds recognition of one page when Engine.PageTimeout
// is zero: a clean 150–300 dpi page takes one to a few seconds.
const DefaultPageTimeout = 20 * time.Second

// maxOutput caps what one page may return: a page holds a few thousand
// characters, so more is noise or a hostile image.
const maxOutput = 1 << 20

// Resolve turns a setting into the path of the tesseract program: Auto looks
// it up on $PATH and gives "" when it is not installed; Off and "" give "";
// anything else names the program and must be executable.
func Resolve(setting string) (string, error) {
	switch setting {
	case "", Off:
		return "", nil
	case Auto:
		path, err := exec.LookPath("tesseract")
		if err != nil {
			return "", nil // optional: images are then matched by image only
		}
		return path, nil
	}
	path, err := exec.LookPath(setting)
	if err != nil {
		return "", fmt.Errorf("tesseract: %w", err)
	}
	return path, nil
}

// Engine runs Tesseract. Its fields are only read, so one Engine may serve
// concurrent calls.
type Engine struct {
	Path        string        // the tesseract program (Resolve)
	Lang        string        // Tesseract language; default "eng"
	PageTimeout time.Duration // per page; default DefaultPageTimeout
}

// ErrNotDocument: the image does not look like a page of text, so it was not
// read (photos of people should not pay the OCR cost).
var ErrNotDocument = errors.New("image does not look like a document")

// Recognize returns the text of img when it looks like a document page
// (LooksLikeDocument), else ErrNotDocument. The page is bounded by
// PageTimeout within ctx. The returned text is content: callers hash it and
// never log it.
func (e *Engine) Recognize(ctx context.Context, img image.Image) (string, error) {
	if !LooksLikeDocument(img) {
		return "", ErrNotDocument
	}
	return e.read(ctx, img)
}

// read runs tesseract on img through stdin and stdout (no temporary files to
// clean up or to leave content behind).
func (e *Engine) read(ctx context.Context, img image.Image) (string, error) {
	if e.Path == "" {
		return "", errors.New("ocr: no tesseract program configured")
	}
	timeout := e.PageTimeout
	if timeout <= 0 {
		timeout = DefaultPageTimeout
	}
	lang := e.Lang
	if lang == "" {
		lang = "eng"
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var in bytes.Buffer
	// Fast compression: the bytes only cross a pipe.
	if err := (&png.Encoder{CompressionLevel: png.BestSpeed}).Encode(&in, img); err != nil {
		return "", fmt.Errorf("ocr: encode page: %w", err)
	}
	// --psm 3: automatic page segmentation, what scans and phone photos of
	// letters need. One thread: the machine's cores belong to the workers.
	cmd := exec.CommandContext(ctx, e.Path, "-", "-", "-l", lang, "--psm", "3")
	cmd.Env = []string{"OMP_THREAD_LIMIT=1"}
	cmd.Stdin = &in
	out := &capped{max: maxOutput}
	cmd.Stdout = out
	cmd.Stderr = &capped{max: 0} // Tesseract's chatter; may name content: dropped
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if cerr := ctx.Err(); cerr != nil {
		return "", fmt.Errorf("ocr: page not read within %s: %w", timeout, cerr)
	}
	if err != nil {
		return "", fmt.Errorf("ocr: tesseract: %w", err)
	}
	return strings.ReplaceAll(out.buf.String(), "\f", "\n"), nil
}

// capped keeps the first max bytes written and discards the rest without
// failing the writer (a failing pipe would stall the child).
type capped struct {
	buf bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
