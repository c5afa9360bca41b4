package text

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// benchText is 1 MB of clinical-looking notes with te reo Māori words
// (macrons), dates, numbers and punctuation.
func benchText() string {
	return synthText(rand.New(rand.NewPCG(99, 100)), 1<<20)
}

func BenchmarkNormalize(b *testing.B) {
	for _, c := range []struct {
		name string
		s    string
	}{
		{"mixed", benchText()},
		{"ascii", strings.Map(func(r rune) rune {
			if r >= utf8.RuneSelf {
				return 'a'
			}
			return r
		}, benchText())},
		{"greek", strings.Repeat("Ο ασθενής παρουσιάστηκε με ήπιο πόνο στο ΣΤΗΘΟΣ, 12/03/2024. ", 1<<14)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.s)))
			for b.Loop() {
				Normalize(c.s)
			}
		})
	}
}

func BenchmarkWinnow(b *testing.B) {
	h := NewHasher(testKey(b, 1), Params{})
	s := Normalize(benchText())
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		h.Winnow(s)
	}
}

func BenchmarkTLSH(b *testing.B) {
	h := NewHasher(testKey(b, 1), Params{})
	s := Normalize(benchText())
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		if _, err := h.TLSH(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTextDigest(b *testing.B) {
	h := NewHasher(testKey(b, 1), Params{})
	s := Normalize(benchText())
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		h.TextDigest(s)
	}
}

// BenchmarkPipeline is what the analyser does per document: normalise, then
// digest, winnow and TLSH.
func BenchmarkPipeline(b *testing.B) {
	h := NewHasher(testKey(b, 1), Params{})
	s := benchText()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		n := Normalize(s)
		h.TextDigest(n)
		h.Winnow(n)
		if _, err := h.TLSH(n); err != nil {
			b.Fatal(err)
		}
	}
}
