package ocr

import (
	"context"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
)

// tesseract returns the program's path, skipping the test when it is not
// installed unless LEAKWATCH_REQUIRE_OCR=1 (CI) makes that a failure.
func tesseract(t *testing.T) string {
	t.Helper()
	p, err := Resolve(Auto)
	if err != nil {
		t.Fatal(err)
	}
	if p == "" {
		if os.Getenv("LEAKWATCH_REQUIRE_OCR") == "1" {
			t.Fatal("tesseract is not installed and LEAKWATCH_REQUIRE_OCR=1 (apt-get install tesseract-ocr tesseract-ocr-eng)")
		}
		t.Skip("tesseract is not installed: OCR not tested (apt-get install tesseract-ocr tesseract-ocr-eng)")
	}
	return p
}

// page renders lines as a printed page at about 150 dpi (12 pt Go Regular).
func page(t *testing.T, lines []string) *image.RGBA {
	t.Helper()
	f, err := opentype.Parse(goregular.TTF)
	if err != nil {
		t.Fatal(err)
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: 12, DPI: 150, Hinting: font.HintingFull})
	if err != nil {
		t.Fatal(err)
	}
	defer face.Close()
	img := image.NewRGBA(image.Rect(0, 0, 1240, 1754)) // A4 at 150 dpi
	draw.Draw(img, img.Bounds(), image.NewUniform(color.RGBA{250, 250, 246, 255}), image.Point{}, draw.Src)
	d := font.Drawer{Dst: img, Src: image.NewUniform(color.RGBA{25, 25, 30, 255}), Face: face}
	for i, l := range lines {
		d.Dot = fixed.P(120, 160+i*40)
		d.DrawString(l)
	}
	return img
}

// photo is a noisy skin-toned field: what a clinical photograph looks like
// to the heuristic.
func photo(w, h int) *image.RGBA {
	rng := rand.New(rand.NewPCG(1, 2))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			s := 0.7 + 0.3*float64(x+y)/float64(w+h)
			n := uint8(rng.IntN(20))
			img.Set(x, y, color.RGBA{uint8(210*s) + n, uint8(160*s) + n, uint8(125*s) + n, 255})
		}
	}
	return img
}

var letter = []string{
	"Northbridge Health Laboratory Services",
	"Patient: Zara Quillfeather   NHI: ZQX4821",
	"Specimen received 14 March 2026, haemoglobin 131 g/L,",
	"ferritin 18 ug/L, below the reference interval.",
	"Please repeat the full blood count in six weeks.",
}

func TestLooksLikeDocument(t *testing.T) {
	if !LooksLikeDocument(page(t, letter)) {
		t.Error("a printed page was not taken for a document")
	}
	if LooksLikeDocument(photo(1200, 900)) {
		t.Error("a skin-toned photograph was taken for a document")
	}
	blank := image.NewGray(image.Rect(0, 0, 1000, 1400))
	draw.Draw(blank, blank.Bounds(), image.White, image.Point{}, draw.Src)
	if LooksLikeDocument(blank) {
		t.Error("a blank page (no ink) was taken for a document")
	}
	small := page(t, letter).SubImage(image.Rect(0, 0, 300, 300))
	if LooksLikeDocument(small) {
		t.Error("a 300 px image was taken for a readable page")
	}
}

func TestRecognize(t *testing.T) {
	e := &Engine{Path: tesseract(t)}
	got, err := e.Recognize(context.Background(), page(t, letter))
	if err != nil {
		t.Fatal(err)
	}
	norm := strings.ToLower(strings.Join(strings.Fields(got), " "))
	for _, want := range []string{"northbridge health laboratory", "ferritin 18", "repeat the full blood count in six weeks"} {
		if !strings.Contains(norm, want) {
			t.Errorf("OCR text lacks %q (got %d characters)", want, len(got))
		}
	}
	if _, err := e.Recognize(context.Background(), photo(1200, 900)); !errors.Is(err, ErrNotDocument) {
		t.Errorf("photo: err = %v, want ErrNotDocument", err)
	}
}

// A page that cannot be read within the budget is an error, not a hang: a
// program that never answers stands in for a stuck tesseract.
func TestRecognizePageTimeout(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep program")
	}
	// A script, since sleep itself would refuse tesseract's arguments.
	script := t.TempDir() + "/tesseract"
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexec "+sleep+" 30\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	e := &Engine{Path: script, PageTimeout: 50 * time.Millisecond}
	_, err = e.read(context.Background(), page(t, letter))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the page deadline", err)
	}
}

func TestResolve(t *testing.T) {
	for _, s := range []string{"", Off} {
		if p, err := Resolve(s); p != "" || err != nil {
			t.Errorf("Resolve(%q) = %q, %v; want none", s, p, err)
		}
	}
	if _, err := Resolve("/nonexistent/tesseract"); err == nil {
		t.Error("a missing explicit path resolved")
	}
}
