package memindex

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/fingerprints/pdq"
)

// flip returns h with n distinct random bits inverted.
func flip(r *rand.Rand, h pdq.Hash, n int) pdq.Hash {
	for _, b := range r.Perm(256)[:n] {
		h[b/8] ^= 1 << (b % 8)
	}
	return h
}

func randomHash(r *rand.Rand) pdq.Hash {
	var h pdq.Hash
	for i := range h {
		h[i] = byte(r.IntN(256))
	}
	return h
}

// The multi-index probe must find exactly what a full scan finds, at the
// threshold and around it, including planted near neighbours.
func TestNearImagesAgreesWithScan(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 9))
	var ims []match.IndexedImage
	var seeds []pdq.Hash
	for i := range 3000 {
		h := randomHash(r)
		if i%10 == 0 {
			seeds = append(seeds, h)
		}
		ims = append(ims, match.IndexedImage{Ref: uint64(i), Hash: h, Quality: 90})
	}
	// Near copies of the seeds at every distance up to 40.
	for i, s := range seeds {
		ims = append(ims, match.IndexedImage{Ref: uint64(10000 + i), Hash: flip(r, s, i%41), Quality: 90})
	}
	x := buildImageIndex(ims)
	key := func(ns []match.NearImage) []uint64 {
		var out []uint64
		for _, n := range ns {
			out = append(out, n.Ref<<8|uint64(n.Distance))
		}
		slices.Sort(out)
		return out
	}
	found := 0
	for _, maxDist := range []int{0, 15, 31, 47, 60} {
		for i, s := range seeds {
			q := flip(r, s, i%7)
			got, want := key(x.near(q, maxDist)), key(x.scan(q, maxDist))
			if !slices.Equal(got, want) {
				t.Fatalf("maxDist %d seed %d: probe found %v, scan %v", maxDist, i, got, want)
			}
			found += len(got)
		}
	}
	if found < len(seeds) {
		t.Fatalf("only %d neighbours found in all: the planted copies should be", found)
	}
	if got := x.near(seeds[0], -1); got != nil {
		t.Errorf("negative distance found %v", got)
	}
	empty := buildImageIndex(nil)
	if got := empty.near(seeds[0], 31); got != nil {
		t.Errorf("empty index found %v", got)
	}
}

func BenchmarkNearImages(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	ims := make([]match.IndexedImage, 1_000_000)
	for i := range ims {
		ims[i] = match.IndexedImage{Ref: uint64(i), Hash: randomHash(r), Quality: 90}
	}
	x := buildImageIndex(ims)
	q := flip(r, ims[123].Hash, 20)
	b.Run("probe", func(b *testing.B) {
		for b.Loop() {
			if len(x.near(q, 31)) == 0 {
				b.Fatal("planted neighbour not found")
			}
		}
	})
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			x.scan(q, 31)
		}
	})
}
