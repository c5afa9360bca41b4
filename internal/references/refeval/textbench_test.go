package refeval

import (
	"context"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/leakwatch/leakwatch/internal/testkit/synth"
)

// TestBenchRefsText runs `bench refs --text-kb` end to end at a tiny
// size: the build succeeds, the index has prints in segments, every forum
// post quoting 300 characters of a reference finds it, no fresh letter
// matches anything, and the latencies were measured. Posts that quote
// nothing must then find nothing, so the recall check can fail.
func TestBenchRefsText(t *testing.T) {
	if testing.Short() {
		t.Skip("generates and indexes 300 letters")
	}
	ctx := context.Background()
	opts := RefsOptions{Docs: 300, Samples: 30, TextKB: 2, Seed: 3}
	b, err := BenchRefs(ctx, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", b)
	if b.Index.References != 300 || b.Index.Prints <= 0 || b.Index.Segments < 1 || b.SegmentBytes <= 0 || b.IndexBytes <= 0 {
		t.Errorf("index: %+v, segment files %d bytes, database %d bytes; want 300 references, prints in >= 1 segment",
			b.Index, b.SegmentBytes, b.IndexBytes)
	}
	if mean := float64(b.TextBytes) / 300; mean < 1700 || mean > 2300 {
		t.Errorf("letters average %.0f bytes, want about 2000", mean)
	}
	if b.Quotes != checks || b.QuotesFound != checks || b.QuotesWrong != 0 {
		t.Errorf("%d of %d forum posts found their reference by winnowing (%d by another method, %d matched another); want all, none wrong: %v",
			b.QuotesFound, b.Quotes, b.QuotesOther, b.QuotesWrong, b.WrongExamples)
	}
	if b.Fresh != checks || b.FreshMatched != 0 {
		t.Errorf("%d of %d fresh letters matched: %v", b.FreshMatched, b.Fresh, b.WrongExamples)
	}
	if b.Samples != 30 || b.MatchedSample != 30 || b.ColdMatched != 30 {
		t.Errorf("%d warm and %d cold of %d samples found their own reference, want all", b.MatchedSample, b.ColdMatched, b.Samples)
	}
	if b.MatchP50 <= 0 || b.ScanP50 < b.MatchP50 || b.ColdMatchP50 <= 0 || b.BuildTime <= 0 || b.LoadTime <= 0 {
		t.Errorf("latencies not measured: %+v", b)
	}
	if b.PeakRSS <= 0 || b.LoadAnon <= 0 || b.BuildUser+b.BuildSys <= 0 {
		t.Errorf("memory or CPU not measured: peak %d, anon %d, CPU %s + %s", b.PeakRSS, b.LoadAnon, b.BuildUser, b.BuildSys)
	}
	if b.WarmResident <= 0 || b.ColdResident >= b.WarmResident/10 {
		t.Errorf("eviction: %d bytes of segments cached after the warm pass, %d after eviction", b.WarmResident, b.ColdResident)
	}

	// The same without the quote: the posts are chatter alone.
	opts.quoteChars = -1
	opts.Samples = 1
	nq, err := BenchRefs(ctx, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if nq.QuotesFound != 0 || nq.QuotesOther != 0 || nq.QuotesWrong != 0 {
		t.Errorf("posts quoting nothing: %d found, %d by another method, %d wrong; want none", nq.QuotesFound, nq.QuotesOther, nq.QuotesWrong)
	}
}

var nhiRe = regexp.MustCompile(`NHI:? ([A-Z0-9]{7})`)

// TestLetters checks the generator: letters are unique, carry test-range
// NHIs, differ in their body text (not only in names), reach their sizes
// and come out the same for the same seed.
func TestLetters(t *testing.T) {
	g := newLetterGen()
	seen := map[string]bool{}
	sentences := map[string]int{}
	total, n := 0, 500
	for i := range n {
		text := string(g.letter(9, uint64(i), 4700))
		if seen[text] {
			t.Fatalf("letter %d repeats an earlier one", i)
		}
		seen[text] = true
		total += len(text)
		m := nhiRe.FindStringSubmatch(text)
		if m == nil || m[1][0] != 'Z' || !synth.ValidNHI(m[1]) {
			t.Fatalf("letter %d: NHI %v, want a valid one in the Z test range:\n%s", i, m, text)
		}
		if !strings.Contains(text, "SYNTHETIC TEST DATA") {
			t.Fatalf("letter %d is not marked synthetic", i)
		}
		for _, s := range strings.Split(text, ". ") {
			if len(s) > 40 {
				sentences[s]++
			}
		}
	}
	if mean := float64(total) / float64(n); mean < 4300 || mean > 5100 {
		t.Errorf("letters average %.0f bytes, want about 4700", mean)
	}
	repeated := 0
	for _, c := range sentences {
		if c > 1 {
			repeated++
		}
	}
	if repeated > len(sentences)/100 {
		t.Errorf("%d of %d long sentences occur in more than one letter: the text is not unique", repeated, len(sentences))
	}
	if a, b := string(newLetterGen().letter(9, 7, 4700)), string(g.letter(9, 7, 4700)); a != b {
		t.Error("the same seed and index made different letters")
	}
	if f := textVocabulary().forms(); f < 2500 {
		t.Errorf("vocabulary of %d word forms, want a few thousand", f)
	}
}

// TestPassage checks the quoted passage: at most n bytes, whole words,
// from the middle, and in the text.
func TestPassage(t *testing.T) {
	text := string(newLetterGen().letter(1, 1, 4700))
	p := passage(text, 300)
	if len(p) > 300 || len(p) < 270 || !strings.Contains(text, p) {
		t.Fatalf("passage of %d bytes: %q", len(p), p)
	}
	i := strings.Index(text, p)
	if i == 0 || !isSpaceByte(text[i-1]) || (i+len(p) < len(text) && !isSpaceByte(text[i+len(p)])) {
		t.Errorf("passage %q is not cut at word boundaries", p)
	}
	if mid := len(text) / 2; i > mid || i+len(p) < mid {
		t.Errorf("passage at %d-%d is not from the middle of %d bytes", i, i+len(p), len(text))
	}
	post := string(forumPost(rand.New(rand.NewPCG(1, 1)), p))
	if !strings.Contains(post, p) {
		t.Fatal("the post does not quote the passage")
	}
	if chatter := len(post) - len(p); chatter < 200 || chatter > 480 {
		t.Errorf("%d bytes of chatter around the quote, want about 200-400", chatter)
	}
}

func BenchmarkLetters(b *testing.B) {
	g := newLetterGen()
	n := 0
	for i := 0; b.Loop(); i++ {
		n += len(g.letter(1, uint64(i), 4700))
	}
	b.SetBytes(int64(n / max(1, b.N)))
}
