package references

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/leakwatch/leakwatch/internal/testkit/synth"
)

// prose is n bytes of made-up clinical prose, unique to its seed.
func prose(seed uint64, n int) string {
	words := strings.Fields("review swelling tablet clinic dose week morning knee pain walk bloods stable mild plan " +
		"follow ankle chest cough sleep appetite weight fluid diet reduce increase continue stop advise")
	rng := rand.New(rand.NewPCG(seed, 7))
	var b strings.Builder
	for b.Len() < n {
		fmt.Fprintf(&b, "%s %d %s ", words[rng.IntN(len(words))], rng.IntN(1000), words[rng.IntN(len(words))])
	}
	return b.String()
}

// TestSharedPassageMatchesEveryHolder indexes a letter and a later one
// about the same patient that quotes 300 characters of it, and a passage
// four letters quote: a post pasting the first passage matches both
// letters, counting their patient once; the second (held by more than a
// few) matches none.
func TestSharedPassageMatchesEveryHolder(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	ps := synth.NewPatients(rand.New(rand.NewPCG(9, 9)), 6)
	dir := filepath.Join(f.refs, "quoting")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	letter := func(name string, p synth.Patient, body string) {
		t.Helper()
		text := fmt.Sprintf("Re: %s, NHI %s\n\nSYNTHETIC TEST DATA\n\n%s\n", p.FullName(), p.NHI, body)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	earlier := prose(1, 1500)
	quoted := earlier[600:900]
	letter("earlier.txt", ps[0], earlier)
	letter("later.txt", ps[0], prose(2, 700)+"\nAs the earlier letter said: "+quoted+"\n"+prose(3, 700))
	common := prose(4, 300)
	for i := range 4 {
		letter(fmt.Sprintf("many-%d.txt", i), ps[1+i], prose(uint64(10+i), 800)+"\n"+common+"\n"+prose(uint64(20+i), 800))
	}
	_, sc := f.indexed(t)

	scan := func(post string) (ItemResult, Totals) {
		t.Helper()
		var out []ItemResult
		var tot Totals
		if err := sc.Scan(ctx, "post.txt", []byte(post), func(r ItemResult) error { out = append(out, r); tot.Add(r); return nil }); err != nil {
			t.Fatal(err)
		}
		return out[0], tot
	}
	r, tot := scan("anyone seen this one?\n> " + quoted + "\nthanks")
	got := map[string]bool{}
	for _, m := range r.Matches {
		got[m.RefName] = true
		if m.Method != "winnow" || !strings.Contains(m.Why, "also held by 1 other references") {
			t.Errorf("match %s by %s: %q", m.RefName, m.Method, m.Why)
		}
	}
	if !got["quoting/earlier.txt"] || !got["quoting/later.txt"] || len(got) != 2 {
		t.Errorf("matched %v, want both letters holding the passage", got)
	}
	if r.Patients != 1 || tot.Patients() != 1 {
		t.Errorf("passage exposes %d patients (capture %d), want 1", r.Patients, tot.Patients())
	}

	if r, _ := scan("anyone seen this one?\n> " + common + "\nthanks"); len(r.Matches) != 0 {
		t.Errorf("a passage four references hold matched %+v", r.Matches)
	}
}
