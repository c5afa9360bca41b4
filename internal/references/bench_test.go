package references

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
	"github.com/leakwatch/leakwatch/storage"
)

// BenchmarkMatch times the matcher alone (features computed beforehand)
// against an in-memory index of 2,000 synthetic references, on their own
// files (every layer fires) and on a labelled leak mix (mostly partial
// and failed matches). `leakwatch bench refs` measures the same at any
// scale.
func BenchmarkMatch(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	refs := filepath.Join(dir, "refs")
	opts := synth.Options{Seed: 5, Patients: 200, Docs: 2000}
	docs, err := synth.Generate(refs, opts)
	if err != nil {
		b.Fatal(err)
	}
	items, _, err := synth.LeakMix(refs, opts, docs, synth.MixOptions{Seed: 6, PerClass: 10})
	if err != nil {
		b.Fatal(err)
	}
	store, err := storage.Open(ctx, "", filepath.Join(dir, "db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	key := benchKey(b)
	if _, err := Import(ctx, store, refs, Options{Key: key}); err != nil {
		b.Fatal(err)
	}
	segs := OpenSegments(store, key)
	defer segs.Close()
	idx, _, err := LoadIndex(ctx, store, segs)
	if err != nil {
		b.Fatal(err)
	}
	an := match.NewAnalyzer(key, match.Options{})
	m := match.NewMatcher(idx, match.Options{})
	features := func(name string, data []byte) []match.Features {
		var out []match.Features
		if err := an.Analyze(ctx, name, data, match.Query, func(f match.Features) error { out = append(out, f); return nil }); err != nil {
			b.Fatal(err)
		}
		return out
	}
	var own, mix []match.Features
	for _, d := range docs[:200] {
		data, err := os.ReadFile(filepath.Join(refs, filepath.FromSlash(d.RelPath)))
		if err != nil {
			b.Fatal(err)
		}
		own = append(own, features(d.RelPath, data)...)
	}
	for _, it := range items {
		mix = append(mix, features(it.Name, it.Data)...)
	}
	for _, c := range []struct {
		name string
		fs   []match.Features
	}{{"references", own}, {"leakmix", mix}} {
		b.Run(c.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if _, err := m.Match(ctx, c.fs[i%len(c.fs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func benchKey(b *testing.B) *fingerprints.Key {
	k, err := fingerprints.NewKey([]byte("benchmark key, not a secret: 32+ bytes long"))
	if err != nil {
		b.Fatal(err)
	}
	return k
}
