package match

import (
	"bytes"
	"context"
	"image/color"
	"math"
	"strings"
	"testing"

	"github.com/leakwatch/leakwatch/fingerprints"
)

// TestLowQualityReported: an image too flat for PDQ and with too little
// contrast for its layout (a pale field with one faint block) is reported
// as looked at but not matchable, not silently skipped, and is not a hit.
func TestLowQualityReported(t *testing.T) {
	key, err := fingerprints.NewKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	design := paint(640, 480, func(x, y int) color.RGBA {
		d := math.Hypot(float64(x-320), float64(y-240)) / 400
		v := uint8(200 - 10*d)
		if x > 400 && x < 520 && y > 100 && y < 220 {
			v -= 12
		}
		return color.RGBA{v, v + 10, 230, 255}
	})
	var f Features
	err = NewAnalyzer(key, Options{}).Analyze(context.Background(), "design.jpg", encodeImage(t, design, 55), Query, func(got Features) error {
		f = got
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Images) != 1 || f.Images[0].Quality <= 0 || f.Images[0].Quality >= defaultMinQuality() || f.Images[0].FlatContrast >= fingerprints.BlankContrast {
		t.Fatalf("want one image of low but non-zero quality and low contrast, got %+v", f.Images)
	}
	res, err := NewMatcher(&fakeIndex{posts: map[int64][]uint64{}}, Options{}).Match(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Matches) != 0 {
		t.Errorf("a low-quality image matched: %+v", res.Matches)
	}
	if len(res.Unmatchable) != 1 || !strings.Contains(res.Unmatchable[0], "not matchable (low quality") {
		t.Errorf("unmatchable = %q, want one low-quality note", res.Unmatchable)
	}
}

// defaultMinQuality is the default PDQ quality cut-off the matcher applies.
func defaultMinQuality() int {
	var o Options
	o.defaults()
	return o.Thresholds.PDQMinQuality
}
