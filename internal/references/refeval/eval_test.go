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
	want := []string{"exact-renamed", "zip", "7z", "tar.gz", "rerendered-pdf", "excerpt-post", "jpeg-q60", "resize-50", "crop-5", "border", "caption-band", "csv-as-json", "csv-as-sql", "distractor", ClassQuoted, ClassQuotedFresh,
		ClassOneSided, ClassCentreCrop, ClassWatermark, ClassScreenshot, ClassLowTexture, ClassLowTextureDist}
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
	switch {
	case rep.RealPhotos > 0:
		for _, c := range realPhotoClasses {
			want = append(want, realPrefix+c)
		}
		want = append(want, ClassRealDistractor)
	case os.Getenv("LEAKWATCH_REQUIRE_PHOTOS") == "1":
		t.Fatalf("no real photographs and LEAKWATCH_REQUIRE_PHOTOS=1: %s", rep.Skipped[realPrefix+"*"])
	default:
		t.Logf("real-photograph classes left out: %s", rep.Skipped[realPrefix+"*"])
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

// TestEvalQuotedNeedsSharedRuns: with shared runs turned off
// (WinnowMaxHolders 1, the old rule that wanted stretches in one reference
// alone) the quoted-passage class finds nothing, so the class measures the
// rule; the fresh posts stay unmatched either way.
func TestEvalQuotedNeedsSharedRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("generates and indexes a synthetic breach")
	}
	for _, holders := range []int{1, 0} {
		opts := EvalOptions{Docs: 40, PerClass: 6, Seed: 2, Secret: bytes.Repeat([]byte{0x22}, 32)}
		opts.Match.Thresholds.WinnowMaxHolders = holders
		rep, err := Evaluate(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range rep.Classes {
			switch {
			case c.Transform == ClassQuoted && holders == 1 && c.Found != 0:
				t.Errorf("old rule found %d quoted passages, want 0", c.Found)
			case c.Transform == ClassQuoted && holders == 0 && c.Recall < 0.95:
				t.Errorf("quoted passages: recall %.2f, misses %v", c.Recall, c.Misses)
			case c.Transform == ClassQuotedFresh && c.Positives != 0:
				t.Errorf("fresh posts matched: %v", c.Misses)
			}
		}
	}
}
