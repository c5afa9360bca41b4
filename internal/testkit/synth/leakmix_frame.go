package synth

import "math/rand/v2"

// borderItem posts a photo framed as forums and galleries do (Border),
// re-encoded as JPEG.
func (m *mixer) borderItem(rng *rand.Rand, _ int, src Doc) (LeakItem, error) {
	img, err := m.photo(src)
	if err != nil {
		return LeakItem{}, err
	}
	data, err := encodeImage(Border(rng, img), ".jpg", 85)
	return LeakItem{Name: postedName(rng, ".jpg"), Data: data, Variant: "jpeg-q85"}, err
}

// captionBandItem posts a photo as a meme or screenshot does
// (CaptionBand), re-encoded as JPEG.
func (m *mixer) captionBandItem(rng *rand.Rand, _ int, src Doc) (LeakItem, error) {
	img, err := m.photo(src)
	if err != nil {
		return LeakItem{}, err
	}
	out, err := CaptionBand(rng, img)
	if err != nil {
		return LeakItem{}, err
	}
	data, err := encodeImage(out, ".jpg", 85)
	return LeakItem{Name: postedName(rng, ".jpg"), Data: data, Variant: "jpeg-q85"}, err
}
