package memindex

import (
	"context"
	"slices"

	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/fingerprints/pdq"
)

// Image search uses multi-index hashing (Norouzi, Punjani, Fleet 2012):
// the 256-bit hash is cut into 16 chunks of 16 bits, each with its own
// table. Two hashes within d bits differ by at most d/16 bits in at least
// one chunk (pigeonhole), so probing every chunk's table with the query's
// chunk and its variants within d/16 bits finds every candidate. For PDQ's
// threshold of 31 that is 17 probes per chunk, 272 in all, instead of a
// distance computation per stored hash: latency stops growing with the
// index (1.9 million hashes for a 428,000-document breach).
const (
	chunks    = 16
	chunkBits = 16
)

// imageIndex holds the image hashes and, per chunk, their positions grouped
// by chunk value (offsets into ent, as in a CSR matrix).
type imageIndex struct {
	ims []match.IndexedImage
	off [chunks][]int32 // 1<<chunkBits + 1 offsets
	ent [chunks][]int32
}

func chunkOf(h *pdq.Hash, c int) uint16 { return uint16(h[2*c])<<8 | uint16(h[2*c+1]) }

func buildImageIndex(ims []match.IndexedImage) imageIndex {
	x := imageIndex{ims: ims}
	for c := range chunks {
		off := make([]int32, 1<<chunkBits+1)
		for i := range ims {
			off[int(chunkOf(&ims[i].Hash, c))+1]++
		}
		for v := 1; v < len(off); v++ {
			off[v] += off[v-1]
		}
		ent := make([]int32, len(ims))
		next := slices.Clone(off[:1<<chunkBits])
		for i := range ims {
			v := chunkOf(&ims[i].Hash, c)
			ent[next[v]] = int32(i)
			next[v]++
		}
		x.off[c], x.ent[c] = off, ent
	}
	return x
}

// near returns the stored hashes within maxDist of h.
func (x *imageIndex) near(h pdq.Hash, maxDist int) []match.NearImage {
	if len(x.ims) == 0 || maxDist < 0 {
		return nil
	}
	r := maxDist / chunks // bits a matching chunk may differ by
	if r > 2 {
		return x.scan(h, maxDist) // probing would cost more than scanning
	}
	var cand []int32
	for c := range chunks {
		q := chunkOf(&h, c)
		probe := func(v uint16) { cand = append(cand, x.ent[c][x.off[c][v]:x.off[c][int(v)+1]]...) }
		probe(q)
		for i := range chunkBits {
			if r >= 1 {
				probe(q ^ 1<<i)
			}
			for j := i + 1; r >= 2 && j < chunkBits; j++ {
				probe(q ^ 1<<i ^ 1<<j)
			}
		}
	}
	slices.Sort(cand)
	cand = slices.Compact(cand)
	var out []match.NearImage
	for _, i := range cand {
		if d := pdq.Distance(h, x.ims[i].Hash); d <= maxDist {
			out = append(out, match.NearImage{IndexedImage: x.ims[i], Distance: d})
		}
	}
	return out
}

// scan compares h with every stored hash.
func (x *imageIndex) scan(h pdq.Hash, maxDist int) []match.NearImage {
	var out []match.NearImage
	for _, im := range x.ims {
		if d := pdq.Distance(h, im.Hash); d <= maxDist {
			out = append(out, match.NearImage{IndexedImage: im, Distance: d})
		}
	}
	return out
}

// NearImages implements match.Index.
func (x *Index) NearImages(_ context.Context, h pdq.Hash, maxDist int) ([]match.NearImage, error) {
	return x.images.near(h, maxDist), nil
}

// Low-texture signatures are few (flat designs, not photographs) but must
// not be scanned one by one either: they are bucketed on three cells,
// quantised to flatQuant levels. A match differs by at most
// pdq.FlatMaxCellDiff < flatQuant in every cell, so its bucket is the
// query's or a neighbour in each of the three: 27 probes.
const flatQuant = 16

type flatIndex struct {
	ims     []match.IndexedImage
	buckets map[[3]uint8][]int32
}

func flatKey(f *pdq.Flat) [3]uint8 {
	return [3]uint8{f[0] / flatQuant, f[1] / flatQuant, f[2] / flatQuant}
}

func buildFlatIndex(ims []match.IndexedImage) flatIndex {
	x := flatIndex{ims: ims, buckets: map[[3]uint8][]int32{}}
	for i := range ims {
		f := pdq.Flat(ims[i].Hash)
		k := flatKey(&f)
		x.buckets[k] = append(x.buckets[k], int32(i))
	}
	return x
}

func (x *flatIndex) near(f pdq.Flat) []match.IndexedImage {
	if len(x.ims) == 0 {
		return nil
	}
	const n = 256 / flatQuant // buckets per cell; keyed values wrap round
	k := flatKey(&f)
	var out []match.IndexedImage
	for _, d0 := range []int{-1, 0, 1} {
		for _, d1 := range []int{-1, 0, 1} {
			for _, d2 := range []int{-1, 0, 1} {
				b := [3]uint8{uint8((int(k[0]) + d0 + n) % n), uint8((int(k[1]) + d1 + n) % n), uint8((int(k[2]) + d2 + n) % n)}
				for _, i := range x.buckets[b] {
					if pdq.FlatMatch(f, pdq.Flat(x.ims[i].Hash)) {
						out = append(out, x.ims[i])
					}
				}
			}
		}
	}
	return out
}

// NearFlats implements match.Index.
func (x *Index) NearFlats(_ context.Context, f pdq.Flat) ([]match.IndexedImage, error) {
	return x.flats.near(f), nil
}
