package refeval

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/fingerprints/ocr"
)

// TestEvalMeetsTargets runs the labelled evaluation on a small generated
// set and holds every class to the brief's targets: recall >= 0.95 at
// precision >= 0.99 (a distractor that matches anything is a false
// positive).
func TestEvalMeetsTargets(t *testing.T) {
	if testing.Short() {
		t.Skip("generates and indexes a synthetic breach")
	}
	// A fixed key and seed make the run repeatable; `leakwatch eval` uses a
	// fresh key each time (see README for the spread over keys and seeds).
	want := []string{"exact-renamed", "zip", "7z", "tar.gz", "rerendered-pdf", "excerpt-post", "jpeg-q60", "resize-50", "crop-5", "csv-as-json", "csv-as-sql", "distractor"}
	var opts match.Options
	tesseract, err := ocr.Resolve(ocr.Auto)
	switch {
	case err != nil:
		t.Fatal(err)
	case tesseract != "":
		opts.OCR = &ocr.Engine{Path: tesseract}
		want = append(want, "scanned")
	case os.Getenv("LEAKWATCH_REQUIRE_OCR") == "1":
		t.Fatal("tesseract is not installed and LEAKWATCH_REQUIRE_OCR=1: the scanned class cannot be evaluated")
	default:
		t.Log("tesseract is not installed: the scanned class is left out (apt-get install tesseract-ocr tesseract-ocr-eng)")
	}
	rep, err := Evaluate(context.Background(), EvalOptions{Docs: 150, PerClass: 10, Seed: 1, Secret: bytes.Repeat([]byte{0x11}, 32), Match: opts})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range rep.Classes {
		seen[c.Transform] = true
		t.Logf("%-15s items %2d recall %.2f precision %.2f %v", c.Transform, c.Items, c.Recall, c.Precision, c.Methods)
		if c.Recall < 0.95 || c.Precision < 0.99 {
			t.Errorf("%s: recall %.2f precision %.2f; want >= 0.95 at >= 0.99 (misses %v)", c.Transform, c.Recall, c.Precision, c.Misses)
		}
	}
	for _, want := range want {
		if !seen[want] {
			t.Errorf("class %s missing from the evaluation", want)
		}
	}
}
