package segment

import (
	"flag"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"
)

// benchSegment writes n postings of random hashes, one to three
// references each among 1M references (an import's shape), and returns the
// hashes.
func benchSegment(b *testing.B, path string, n int) []uint64 {
	r := rand.New(rand.NewPCG(1, 2))
	w, err := Create(path, Options{KeyID: testKey})
	if err != nil {
		b.Fatal(err)
	}
	var hashes []uint64
	for added := 0; added < n; {
		h := r.Uint64()
		hashes = append(hashes, h)
		for range min(1+r.IntN(3), n-added) {
			if err := w.Add(h, uint64(r.Uint32N(1_000_000))); err != nil {
				b.Fatal(err)
			}
			added++
		}
	}
	if _, err := w.Close(); err != nil {
		b.Fatal(err)
	}
	r.Shuffle(len(hashes), func(i, j int) { hashes[i], hashes[j] = hashes[j], hashes[i] })
	return hashes
}

// benchPostings sizes BenchmarkLookup's segment; the breach's letters make
// about 230M (-postings 230000000: a 2.8 GB file, minutes to write).
var benchPostings = flag.Int("postings", 10_000_000, "postings in BenchmarkLookup's segment")

// BenchmarkLookup looks up hashes in a segment of -postings postings
// (default 10M, ~120 MB; in the page cache, as a busy matcher's segments
// are).
func BenchmarkLookup(b *testing.B) {
	n := *benchPostings
	path := filepath.Join(b.TempDir(), "bench.seg")
	hashes := benchSegment(b, path, n)
	s, err := Open(path, testKey)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.Logf("%d postings, %d bytes, %d bucket bits", s.Postings(), s.Info().Bytes, s.hdr.bits)
	refs := 0
	count := func(uint64) { refs++ }
	b.Run("hit", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if s.Lookup(hashes[i%len(hashes)], 64, count) == 0 {
				b.Fatal("hash not found")
			}
			i++
		}
	})
	// A letter's worth of prints looked up one after another, and with a
	// Prefetch pass first (as the matcher does).
	const batch = 550
	b.Run("letter", func(b *testing.B) {
		i := 0
		for b.Loop() {
			for range batch {
				s.Lookup(hashes[i%len(hashes)], 64, count)
				i++
			}
		}
	})
	b.Run("letter-prefetched", func(b *testing.B) {
		i := 0
		qs := make([]uint64, batch)
		for b.Loop() {
			for k := range qs {
				qs[k] = hashes[(i+k)%len(hashes)]
			}
			s.Prefetch(qs)
			for _, h := range qs {
				s.Lookup(h, 64, count)
			}
			i += batch
		}
	})
	// The first letters a process matches after mapping the segment and
	// populating it, as a worker does at start: each iteration maps it
	// afresh (new page tables) and times only the letters.
	b.Run("letters-after-open", func(b *testing.B) {
		const letters = 50
		i := 0
		qs := make([]uint64, batch)
		var took time.Duration
		for b.Loop() {
			b.StopTimer()
			fresh, err := Open(path, testKey)
			if err != nil {
				b.Fatal(err)
			}
			if err := fresh.Populate(); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			t0 := time.Now()
			for range letters {
				for k := range qs {
					qs[k] = hashes[(i+k)%len(hashes)]
				}
				fresh.Prefetch(qs)
				for _, h := range qs {
					fresh.Lookup(h, 64, count)
				}
				i += batch
			}
			took += time.Since(t0)
			b.StopTimer()
			fresh.Close()
			b.StartTimer()
		}
		b.ReportMetric(float64(took.Nanoseconds())/float64(b.N*letters), "ns/letter")
	})
	b.Run("miss", func(b *testing.B) {
		r := rand.New(rand.NewPCG(7, 7))
		for b.Loop() {
			s.Lookup(r.Uint64(), 64, count)
		}
	})
	b.Run("open", func(b *testing.B) {
		for b.Loop() {
			s, err := Open(path, testKey)
			if err != nil {
				b.Fatal(err)
			}
			s.Close()
		}
	})
	b.Run("verify", func(b *testing.B) {
		for b.Loop() {
			if err := s.Verify(); err != nil {
				b.Fatal(err)
			}
		}
		b.SetBytes(s.Info().Bytes)
	})
}

// BenchmarkWrite writes 4M random postings, in one in-memory run and
// spilled to eight run files.
func BenchmarkWrite(b *testing.B) {
	const n = 4 << 20
	r := rand.New(rand.NewPCG(3, 4))
	ps := make([]posting, n)
	for i := range ps {
		ps[i] = posting{r.Uint64(), r.Uint32N(1_000_000)}
	}
	for _, bc := range []struct {
		name string
		run  int
	}{{"memory", 0}, {"spilled", n / 8}} {
		b.Run(bc.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "bench.seg")
			for b.Loop() {
				write(b, path, ps, Options{KeyID: testKey, RunPostings: bc.run})
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "postings/s")
		})
	}
	b.Run("merge", func(b *testing.B) {
		dir := b.TempDir()
		var srcs []*Segment
		for i := range 4 {
			path := filepath.Join(dir, "src"+string(rune('a'+i))+".seg")
			write(b, path, ps[i*n/4:(i+1)*n/4], Options{KeyID: testKey})
			s, err := Open(path, testKey)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			srcs = append(srcs, s)
		}
		path := filepath.Join(dir, "merged.seg")
		for b.Loop() {
			if _, err := Merge(path, srcs, func(ref uint64) bool { return ref%10 != 0 }, Options{KeyID: testKey}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "postings/s")
	})
}
