package fingerprints

import "testing"

func TestTrivialRule(t *testing.T) {
	for _, c := range []struct {
		name string
		c    Content
		want TrivialReason
	}{
		{"0 bytes", Content{Size: 0, Opaque: true}, TrivialEmpty},
		{"digest of nothing, size unknown", Content{Size: -1, SHA256: EmptySHA256, Opaque: true}, TrivialEmpty},
		{"MD5 of nothing from a hash list", Content{Size: -1, MD5: EmptyMD5, Opaque: true}, TrivialEmpty},
		{"hash list entry without a size", Content{Size: -1, SHA256: "ab", Opaque: true}, ""},
		{"10 opaque bytes", Content{Size: 10, Opaque: true}, TrivialSmall},
		{"63 opaque bytes", Content{Size: MinEvidenceBytes - 1, Opaque: true}, TrivialSmall},
		{"64 opaque bytes", Content{Size: MinEvidenceBytes, Opaque: true}, ""},
		{"text under the minimum", Content{Size: 5000}, TrivialNoContent},
		{"text", Content{Size: 50, Text: true}, ""},
		{"a short record", Content{Size: 40, Records: 1}, ""},
		{"only blank images", Content{Size: 90000, TrivialImages: 2}, TrivialBlank},
		{"a picture beside blank ones", Content{Size: 90000, Images: 1, TrivialImages: 2}, ""},
		{"opaque and small, but text", Content{Size: 50, Opaque: true, Text: true}, ""},
	} {
		if got := Trivial(c.c); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	if ImageCounts(16, 16, 90, 90) || ImageCounts(640, 480, 0, BlankContrast-1) || !ImageCounts(MinImageSide, MinImageSide, BlankQuality, 0) || !ImageCounts(640, 480, 0, BlankContrast) {
		t.Error("ImageCounts: icons and blank images must not count, a 32-pixel image with an edge must, and so must a smooth gradient")
	}
}
