package fingerprints

// The trivial-content rule: what is too small or too common to be evidence.
//
// A reference that is an empty file shares its SHA-256 with every empty
// download on the internet; a one-line "404 Not Found" page, a blank PDF
// page or a 16-pixel favicon is shared with countless sites. Content like
// that proves nothing about the breach, so it is never indexed (refs add
// skips it and says why) and never matched (a trivial reference in an older
// index, and a trivial query, produce no hit). One rule decides both sides,
// here, from what the layers found in the item rather than from a list of
// known digests, which would always be incomplete.
//
// An item is evidence only if it carries at least one of:
//   - text the text layers fingerprint (normalised text of at least their
//     minimum, 40 characters by default: fewer match too much to mean
//     anything, and "404 Not Found" or "Page 1 of 1" stay under it);
//   - an image that is neither blank (PDQ quality 0: no edge at all,
//     whatever its colour, after JPEG noise, and a layout contrast under
//     BlankContrast: no smooth gradient either) nor icon-sized
//     (under MinImageSide pixels on a side: favicons, tracking pixels,
//     spacers);
//   - a record (two or more identifying fields, what EDM needs to match);
//   - or, for content whose format is not read into any of those (unknown
//     binary formats, archives and mail as containers, files too big to
//     analyse, unreadable files), at least MinEvidenceBytes bytes.
//
// An empty item (0 bytes, or the SHA-256/MD5/SHA-1 of nothing) is always
// trivial.

// MinEvidenceBytes is the size below which opaque bytes are no evidence. 64
// bytes is under the smallest real document of any format leakwatch meets
// (a minimal PDF is ~300 bytes, an empty zip 22, a 1×1 PNG 67) and a
// digest of so few bytes is shared by chance and by template; text that
// short is under the text minimum anyway.
const MinEvidenceBytes = 64

// MinImageSide is the smallest width and height of an image that counts:
// favicons (16–32 px), tracking pixels and spacers are the same on
// thousands of sites, and PDQ of an image upscaled from a few pixels is
// unstable.
const MinImageSide = 32

// BlankQuality is the PDQ quality below which an image is blank: PDQ
// quality sums the luma steps of at least 1 % between neighbouring cells of
// the area-averaged 64×64 image, so 0 means no edge anywhere — a uniform
// image of any colour, also under JPEG and sensor noise, which averaging
// removes. Anything with a visible shape scores more (a pale flat design
// with one soft-edged block, re-compressed at quality 55, scores 4), and is
// kept for the layers that handle low-texture images. The quality is stored
// in the index, so an older index's blank images are judged the same way.
const BlankQuality = 1

// Digests of zero bytes, for references known only by digest.
const (
	EmptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	EmptyMD5    = "d41d8cd98f00b204e9800998ecf8427e"
	EmptySHA1   = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
)

// TrivialReason says why content is no evidence; "" means it is evidence.
type TrivialReason string

// Reasons, as refs add reports them.
const (
	TrivialEmpty     TrivialReason = "empty"
	TrivialSmall     TrivialReason = "too small"           // opaque bytes under MinEvidenceBytes
	TrivialNoContent TrivialReason = "no content"          // readable, but text under the minimum, no image, no record
	TrivialBlank     TrivialReason = "blank or tiny image" // its only content is blank or icon-sized images
)

// Content is what an item was found to carry, as far as the rule needs.
type Content struct {
	// Size in bytes; negative if unknown (a reference imported from a hash
	// list without sizes).
	Size int64
	// SHA256 (or, for imported hash lists, MD5 or SHA1) in hex, if known.
	SHA256, MD5, SHA1 string
	// Opaque: the format was not read into text, images or records (unknown
	// or unparsed formats, containers whose members are items of their
	// own, files too big to analyse, files that failed to parse).
	Opaque bool
	// Text: normalised text at least as long as the text layers' minimum.
	Text bool
	// Images that count (neither blank nor icon-sized), and images that do
	// not (only to name the reason).
	Images, TrivialImages int
	// Records with at least two identifying fields.
	Records int
}

// Trivial applies the rule to c.
func Trivial(c Content) TrivialReason {
	if c.Size == 0 || c.SHA256 == EmptySHA256 || c.MD5 == EmptyMD5 || c.SHA1 == EmptySHA1 {
		return TrivialEmpty
	}
	if c.Text || c.Images > 0 || c.Records > 0 {
		return ""
	}
	if c.Opaque {
		if c.Size > 0 && c.Size < MinEvidenceBytes {
			return TrivialSmall
		}
		return ""
	}
	if c.TrivialImages > 0 {
		return TrivialBlank
	}
	return TrivialNoContent
}

// BlankContrast is the least spread, in luma levels, between the darkest
// and lightest cell of an image's coarse layout (pdq.Flat) that makes a
// smooth image without edges (a gradient, soft shapes) content: such an
// image has PDQ quality 0 but is a design, matched by its layout.
const BlankContrast = 24

// ImageCounts reports whether an image of width×height pixels, PDQ
// quality q and layout contrast c counts as content.
func ImageCounts(width, height, quality, contrast int) bool {
	return width >= MinImageSide && height >= MinImageSide && (quality >= BlankQuality || contrast >= BlankContrast)
}
