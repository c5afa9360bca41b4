package match

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/leakwatch/leakwatch/fingerprints/text"
)

// patientIndex is a fakeIndex that also knows each reference's patients.
type patientIndex struct {
	*fakeIndex
	pats map[uint64][]string
}

func (x *patientIndex) Patients(_ context.Context, keys []uint64) (map[uint64][]string, error) {
	out := map[uint64][]string{}
	for _, k := range keys {
		out[k] = x.pats[k]
	}
	return out, nil
}

// span returns n prints numbered from first.
func span(first uint64, n int) []uint64 {
	var out []uint64
	for i := range n {
		out = append(out, first+uint64(i))
	}
	return out
}

// TestWinnowSharedPassage: a passage two or three references hold verbatim
// (a later letter quoting an earlier one) matches every holder, names how
// many others hold it, and counts its patients once; text held by more
// than a few references does not match, and neither does a passage mostly
// made of template text whose combination happens to be rare.
func TestWinnowSharedPassage(t *testing.T) {
	// K 32, prints 20 characters apart: 10 shared prints span 212.
	opts := Options{Text: text.Params{K: 32, T: 51}, Thresholds: Thresholds{WinnowMinRun: 150, WinnowMinUnique: 2, BoilerplateRefs: 40, WinnowMaxHolders: 3}}
	x := &patientIndex{fakeIndex: &fakeIndex{posts: map[int64][]uint64{}}, pats: map[uint64][]string{}}
	passage := span(1000, 10) // in A, B (and C for triple)
	triple := span(2000, 10)  // in A, B, C
	many := span(3000, 10)    // in A, B, C, D: more than a few
	template := span(4000, 8) // in every reference (not boilerplate: 12 < 40)
	x.add("A", slices.Concat(passage, triple, many, template, []uint64{4100, 4101})...)
	x.add("B", slices.Concat(passage, triple, many, template, []uint64{4100, 4101})...)
	x.add("C", slices.Concat(triple, many, template)...)
	x.add("D", slices.Concat(many, template)...)
	for range 8 {
		x.add("filler", template...)
	}
	x.pats[1], x.pats[2], x.pats[3], x.pats[4] = []string{"p1"}, []string{"p1", "p2"}, []string{"p3"}, []string{"p4"}
	ctx := context.Background()

	cases := []struct {
		name     string
		f        Features
		want     []string
		inWhy    string
		patients int
	}{
		{"two holders", query(20, passage...), []string{"A", "B"}, "shared run of 212 characters, also held by 1 other references", 1},
		{"three holders", query(20, triple...), []string{"A", "B", "C"}, "also held by 2 other references", 3},
		{"four holders", query(20, many...), nil, "", 0},
		// Template prints (held by all twelve) with two rare joins held by
		// A and B: the combination is rare, the text is not.
		{"template with rare joins", query(20, slices.Concat(template[:4], []uint64{4100}, template[4:], []uint64{4101})...), nil, "", 0},
		// Too short a passage is nothing, whoever holds it.
		{"short", query(20, passage[:5]...), nil, "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := NewMatcher(x, opts).Match(ctx, c.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, mt := range res.Matches {
				if mt.Method != MethodWinnow {
					t.Errorf("method %s, want winnow", mt.Method)
				}
				got = append(got, mt.RefName)
				if !strings.Contains(mt.Why, c.inWhy) {
					t.Errorf("why %q lacks %q", mt.Why, c.inWhy)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Errorf("matched %v, want %v", got, c.want)
			}
			if res.Patients != c.patients {
				t.Errorf("patients %d (%v), want %d", res.Patients, res.PatientIDs, c.patients)
			}
		})
	}

	// Off (WinnowMaxHolders 1) a shared passage is never reported: the old rule.
	off := opts
	off.Thresholds.WinnowMaxHolders = 1
	res, err := NewMatcher(x, off).Match(ctx, query(20, passage...))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Matches) != 0 {
		t.Errorf("with WinnowMaxHolders 1 matched %v", res.Matches)
	}
}
