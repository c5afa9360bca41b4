// Package pdq computes PDQ perceptual image hashes, so that a photo from a
// breach is recognised after it has been re-compressed, resized or lightly
// cropped, and keys them (Keyer) so that a stolen index reveals nothing.
//
// The algorithm follows Meta's PDQ reference implementation in the
// ThreatExchange repository (github.com/facebook/ThreatExchange, directory
// pdq/: cpp/hashing/pdqhashing.cpp, cpp/downscaling/downscaling.cpp,
// cpp/hashing/torben.cpp and java/.../PDQHasher.java) and the PDQ hashing
// paper (pdqhash-2017-10-09). This is an independent Go implementation; the
// reference is
//
//	Copyright (c) Meta Platforms, Inc. and affiliates.
//	BSD License, "For ThreatExchange software": redistribution and use in
//	source and binary forms, with or without modification, are permitted
//	provided that the copyright notice, the conditions and the disclaimer
//	are retained; the name Facebook may not be used to endorse derived
//	products. THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY.
//
// The median is Torben Mogensen's algorithm (public domain), as in the
// reference.
//
// Pipeline (one path, used by Compute and Dihedral, for indexing and
// querying alike): luminance (Rec.601: 0.299 R + 0.587 G + 0.114 B), a
// two-pass Jarosz box filter (a tent filter) and centre decimation to 64x64,
// the quality metric on that 64x64 image, a 2D DCT keeping frequencies
// 1..16 in each direction, and one bit per coefficient: above the median.
//
// Deviations from the reference, each because of cost or of Go's decoders:
//   - A side longer than 512 px is first reduced by an integer box (area)
//     average to 257..384 px, in the same pass that computes luminance.
//     The reference's C++ tool squashes such images to 512x512 with
//     nearest-neighbour sampling, its Python tool thumbnails them to 512 px
//     and its Java tool filters the full image. A box average costs one read
//     of each pixel and memory O(width + 384²) instead of two float copies of
//     the whole image, and does not alias like nearest-neighbour; 384 rather
//     than 512 because there the reference's box window is odd (3 px) and so
//     centred (see luma.go). Against the full-size Java reference on the
//     same decoded pixels this differs by 0..10 bits (mean 3.5) over 49
//     images x 8 dihedral hashes. Sides up to 512 px take exactly the
//     reference path: given the same luminance, hashes and quality are
//     bit-identical to the C++ and Java references.
//   - The luminance of a YCbCr image (what image/jpeg and x/image/webp decode
//     to) is its Y plane. JPEG's YCbCr uses the same Rec.601 weights, so this
//     is the reference's luminance without its detour through RGB rounded
//     to 8 bits (and clamped), and skips the chroma planes entirely.
//   - Alpha is ignored: the straight (un-premultiplied) colour is hashed,
//     which is what the Java and Python references do (they drop alpha).
//   - 16-bit channels are scaled to 0..255 as floats instead of truncated.
//   - Images smaller than 5 px along an axis are an error (ErrTooSmall)
//     where the reference returns an all-zero hash with quality 0.
package pdq

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"math/bits"
)

// MatchThreshold is the largest Hamming distance at which two hashes are taken
// to show the same image (the reference's recommendation).
const MatchThreshold = 31

// MinQuality is the lowest quality worth indexing or querying; flat or
// featureless images score below it and match too much.
const MinQuality = 50

// minDim is the reference's smallest hashable side.
const minDim = 5

// ErrTooSmall reports an image narrower or shorter than the reference hashes.
var ErrTooSmall = errors.New("pdq: image too small to hash")

// Hash is a 256-bit PDQ hash. Its bytes are in the order of the reference's
// hex form, so String gives the same text as the reference tools.
type Hash [32]byte

// Dihedral order: the index in Dihedral's result of each transform of the
// original image. Each entry is (close to) the hash the image would have
// after that transform of its pixels.
const (
	Original   = iota // as is
	Rotate90          // rotated 90° counter-clockwise
	Rotate180         // rotated 180°
	Rotate270         // rotated 270° counter-clockwise (90° clockwise)
	FlipX             // mirrored top to bottom (about the horizontal axis)
	FlipY             // mirrored left to right (about the vertical axis)
	FlipPlus1         // transposed (mirrored about the main diagonal)
	FlipMinus1        // mirrored about the anti-diagonal
)

// Compute returns the PDQ hash of img and its quality (0..100). Hashes with
// quality below MinQuality should be dropped.
func Compute(img image.Image) (h Hash, quality int, err error) {
	dct, quality, err := prepare(img)
	if err != nil {
		return Hash{}, 0, err
	}
	return dctToHash(&dct), quality, nil
}

// Dihedral returns the hashes of the 8 rotations and flips of img, in the
// order Original, Rotate90, ..., FlipMinus1, and the quality. Like the
// reference it transforms the DCT coefficients of one hash computation
// instead of re-hashing rotated images, so entry Original equals Compute's
// hash and the others are close to (not always equal to) the hash of the
// transformed pixels: equal where the reference's filter is mirror-symmetric
// (odd box window and side not a multiple of 128, as for sides over 512 px
// once reduced, bar a reduced side of exactly 384), else off by up to a
// pixel of sampling, which on sharp-edged 256x256 test images costs up to
// 50 bits (the reference's README warns of this).
func Dihedral(img image.Image) (hashes [8]Hash, quality int, err error) {
	dct, quality, err := prepare(img)
	if err != nil {
		return hashes, 0, err
	}
	var t [256]float32
	for k := range hashes {
		dihedralDCT(k, &dct, &t)
		hashes[k] = dctToHash(&t)
	}
	return hashes, quality, nil
}

// prepare is the one decode-side path shared by Compute and Dihedral: luma,
// reduction, Jarosz filter, 64x64 decimation, quality and the 16x16 DCT.
// The DCT comes back row-major: coefficient (i, j) at i*16+j.
func prepare(img image.Image) (dct [256]float32, quality int, err error) {
	if img == nil {
		return dct, 0, errors.New("pdq: nil image")
	}
	plane, err := lumaPlane(img)
	if err != nil {
		return dct, 0, err
	}
	var small [64 * 64]float32
	plane.downsample64(&small)
	quality = qualityMetric(&small)
	dct64To16(&small, &dct)
	return dct, quality, nil
}

// dctToHash sets bit i*16+j where coefficient (i, j) exceeds the median.
func dctToHash(dct *[256]float32) Hash {
	m := torbenMedian(dct[:])
	var h Hash
	for k, v := range dct {
		if v > m {
			h.setBit(k)
		}
	}
	return h
}

// bitPos maps the reference's bit number k to a byte and mask of Hash. The
// reference keeps 16 words of 16 bits, bit k in word k/16, and prints the
// words from 15 down to 0, each as 4 hex digits.
func bitPos(k int) (byteIdx int, mask byte) {
	w, b := k>>4, k&15
	byteIdx = (15 - w) * 2
	if b < 8 {
		byteIdx++
	}
	return byteIdx, 1 << (b & 7)
}

func (h *Hash) setBit(k int) {
	i, m := bitPos(k)
	h[i] |= m
}

func (h *Hash) bit(k int) bool {
	i, m := bitPos(k)
	return h[i]&m != 0
}

// Distance is the Hamming distance between two hashes (0..256).
func Distance(a, b Hash) int {
	n := 0
	for i := 0; i < len(a); i += 8 {
		n += bits.OnesCount64(binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:]))
	}
	return n
}

// String is the 64 lower-case hex digits of the hash, as the reference
// prints it.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Parse reads the 64 hex digits written by String (either case).
func Parse(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*len(h) {
		return h, fmt.Errorf("pdq: hash %q: want %d hex digits, got %d", truncate(s), 2*len(h), len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return Hash{}, fmt.Errorf("pdq: hash %q: %w", truncate(s), err)
	}
	return h, nil
}

// truncate keeps error messages short when given garbage.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
