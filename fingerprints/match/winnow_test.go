package match

import (
	"bytes"
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/fingerprints/pdq"
	"github.com/leakwatch/leakwatch/fingerprints/text"
)

// fakeIndex serves print postings from memory; other lookups are empty.
type fakeIndex struct {
	refs  []Ref              // Key = position + 1
	posts map[int64][]uint64 // hash → references holding it
}

func (x *fakeIndex) add(name string, prints ...uint64) {
	key := uint64(len(x.refs) + 1)
	x.refs = append(x.refs, Ref{Key: key, ID: name, Name: name, Prints: len(prints)})
	for _, p := range prints {
		x.posts[int64(p)] = append(x.posts[int64(p)], key)
	}
}

func (x *fakeIndex) ByDigest(context.Context, string, string) ([]Ref, error) { return nil, nil }
func (x *fakeIndex) Refs(_ context.Context, keys []uint64) ([]Ref, error) {
	var out []Ref
	for _, k := range keys {
		out = append(out, x.refs[k-1])
	}
	return out, nil
}
func (x *fakeIndex) PrintPostings(_ context.Context, hashes []int64, max int) ([]Posting, error) {
	var out []Posting
	for _, h := range hashes {
		for i, r := range x.posts[h] {
			if i > max {
				break
			}
			out = append(out, Posting{Hash: h, Ref: r})
		}
	}
	return out, nil
}
func (x *fakeIndex) FieldPostings(context.Context, []string, int) ([]FieldPosting, error) {
	return nil, nil
}
func (x *fakeIndex) NearImages(context.Context, pdq.Hash, int) ([]NearImage, error) { return nil, nil }
func (x *fakeIndex) NearFlats(context.Context, pdq.Flat) ([]IndexedImage, error)    { return nil, nil }
func (x *fakeIndex) Patients(context.Context, []uint64) (map[uint64][]string, error) {
	return nil, nil
}
func (x *fakeIndex) Count(context.Context) (int64, error) { return int64(len(x.refs)), nil }

// query lays prints out every step characters from 0.
func query(step int, hashes ...uint64) Features {
	f := Features{}
	for i, h := range hashes {
		f.Prints = append(f.Prints, text.Print{Hash: h, Pos: int32(i * step)})
	}
	return f
}

func TestWinnowRuns(t *testing.T) {
	// K 32, prints 20 characters apart: n shared prints span 20(n-1)+32.
	opts := Options{Text: text.Params{K: 32, T: 51}, Thresholds: Thresholds{WinnowMinRun: 150, WinnowMinUnique: 2, BoilerplateRefs: 3}}
	idx := &fakeIndex{posts: map[int64][]uint64{}}
	// Template prints 100–105 are in A, B and C; 200 in A and B; 300, 301
	// only in A; 400 only in B. 900–906 are in every reference:
	// boilerplate (BoilerplateRefs 3, four references).
	boiler := []uint64{900, 901, 902, 903, 904, 905, 906}
	idx.add("A", append([]uint64{100, 101, 102, 103, 104, 105, 200, 300, 301}, boiler...)...)
	idx.add("B", append([]uint64{100, 101, 102, 103, 104, 105, 200, 400}, boiler...)...)
	idx.add("C", append([]uint64{100, 101, 102, 103, 104, 105}, boiler...)...)
	idx.add("D", boiler...)
	ctx := context.Background()

	cases := []struct {
		name  string
		f     Features
		want  []string
		inWhy string
	}{
		// 9 prints: span 192, two unique stretches (…300, then 301).
		{"excerpt", query(20, 100, 101, 102, 103, 300, 104, 105, 200, 301), []string{"A"}, "shared run of 192 characters, 2 stretches"},
		// The same run with a boilerplate print inside still matches: it is
		// passed over, not counted.
		{"boilerplate inside", query(20, 100, 101, 102, 103, 300, 900, 104, 105, 200, 301), []string{"A"}, "shared run of 212 characters"},
		// Boilerplate before and after the evidence lengthens the run
		// (from 0 to 140+32) without counting as a stretch.
		{"boilerplate around", query(20, 900, 901, 902, 903, 300, 101, 301, 904), []string{"A"}, "shared run of 172 characters, 2 stretches"},
		// However long the boilerplate, one unique stretch is not enough.
		{"boilerplate and one rare print", query(20, 900, 901, 902, 903, 904, 905, 906, 300), nil, ""},
		// Only one stretch unique to A: template plus one rare print.
		{"one unique stretch", query(20, 100, 101, 102, 103, 104, 105, 200, 300), nil, ""},
		// Two unique stretches but the run is broken by a print A lacks
		// (777, in no reference): each half is too short.
		{"broken run", query(20, 100, 101, 300, 102, 777, 103, 104, 301, 105), nil, ""},
		// Long enough and unique twice, but too short a span.
		{"short", query(20, 300, 100, 301), nil, ""},
		// Template shared by A, B, C only: never unique.
		{"template", query(20, 100, 101, 102, 103, 104, 105, 100, 101, 102), nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := NewMatcher(idx, opts)
			res, err := m.Match(ctx, c.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, mt := range res.Matches {
				if mt.Method != MethodWinnow {
					t.Errorf("method %s, want winnow", mt.Method)
				}
				got = append(got, mt.RefName)
				if c.inWhy != "" && !strings.Contains(mt.Why, c.inWhy) {
					t.Errorf("why %q lacks %q", mt.Why, c.inWhy)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("matched %v, want %v", got, c.want)
			}
		})
	}
}

func TestIntersect(t *testing.T) {
	got := intersect([]uint64{1, 3, 5, 7, 9}, []uint64{2, 3, 4, 7, 10})
	if !slices.Equal(got, []uint64{3, 7}) {
		t.Errorf("intersect = %v", got)
	}
}

// bestRunOracle is the straightforward form of bestRuns for one
// reference, kept as the test's oracle: it scans all prints for runs
// shared with ref and returns the longest that has at least want unique stretches, or else the
// one with the most. holders gives each non-boilerplate print's references
// (sorted); boiler says whether a print is boilerplate.
func bestRunOracle(prints []text.Print, ref uint64, holders map[int64][]uint64, boiler func(int64) bool, k, want int) run {
	var best, cur run
	first, last := -1, -1
	var common []uint64 // references holding every print of the open stretch
	better := func(a, b run) bool {
		if (a.unique >= want) != (b.unique >= want) {
			return a.unique >= want
		}
		return a.span > b.span || (a.span == b.span && a.unique > b.unique)
	}
	lead := -1 // first boilerplate print since the last break
	end := func() {
		if first >= 0 {
			cur.span = last + k - first
			if better(cur, best) {
				best = cur
			}
		}
		cur, first, last, common, lead = run{}, -1, -1, nil, -1
	}
	for _, p := range prints {
		h := int64(p.Hash)
		if boiler(h) {
			// Template text around or inside the run is presumed shared:
			// it lengthens the run but is no evidence of its own.
			if first >= 0 {
				last = int(p.Pos)
			} else if lead < 0 {
				lead = int(p.Pos)
			}
			continue
		}
		rs := holders[h]
		if _, ok := slices.BinarySearch(rs, ref); !ok {
			end() // absent from ref (or from every reference): the run breaks
			continue
		}
		if first < 0 {
			first = int(p.Pos)
			if lead >= 0 {
				first = lead
			}
		}
		last = int(p.Pos)
		if common == nil {
			common = slices.Clone(rs)
		} else {
			common = intersect(common, rs)
		}
		if len(common) == 1 { // only ref: a stretch closes
			cur.unique++
			common = nil
		}
	}
	end()
	return best
}

// bestRuns must agree with the one-reference-at-a-time oracle on random
// print sequences mixing shared, lacking and boilerplate prints.
func TestBestRunsAgreesWithOracle(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for trial := range 500 {
		nrefs := 2 + r.IntN(6)
		holders := map[int64][]uint64{}
		var prints []text.Print
		pos := 0
		for i := range 10 + r.IntN(60) {
			h := int64(r.IntN(40)) // repeats happen, as in real text
			if _, ok := holders[h]; !ok {
				switch r.IntN(5) {
				case 0:
					holders[h] = nil // boilerplate
				case 1:
					holders[h] = []uint64{} // in no reference
				default:
					var rs []uint64
					for ref := range nrefs {
						if r.IntN(3) == 0 {
							rs = append(rs, uint64(ref+1))
						}
					}
					holders[h] = rs
				}
			}
			pos += 1 + r.IntN(20)
			prints = append(prints, text.Print{Hash: uint64(h), Pos: int32(pos + i)})
		}
		boiler := func(h int64) bool { rs, ok := holders[h]; return ok && rs == nil }
		want := 1 + r.IntN(3)
		got := bestRuns(prints, holders, boiler, 32, want, 0, func(uint64) bool { return true })
		for ref := uint64(1); ref <= uint64(nrefs); ref++ {
			if o, g := bestRunOracle(prints, ref, holders, boiler, 32, want), got[ref]; g.span != o.span || g.unique != o.unique {
				t.Fatalf("trial %d ref %d: bestRuns %+v, oracle %+v", trial, ref, got[ref], o)
			}
		}
	}
}

// Near-duplicate text: TLSH below TLSHAuto is a match; from there up to
// TLSHReview the reference is listed for review only (no hit, no patients).
func TestTLSHReviewBand(t *testing.T) {
	key, err := fingerprints.NewKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	h := text.NewHasher(key, text.Params{})
	r := rand.New(rand.NewPCG(9, 9))
	words := strings.Fields("patient reviewed today with ongoing pain in the left knee after a fall at home " +
		"swelling reduced since last visit range of movement improving continue physiotherapy twice weekly " +
		"analgesia as required review bloods in two weeks discussed weight bearing and safety at home")
	var base []string
	for range 160 {
		base = append(base, words[r.IntN(len(words))])
	}
	edit := func(n int) string { // replace n words
		w := slices.Clone(base)
		for _, i := range r.Perm(len(w))[:n] {
			w[i] = words[r.IntN(len(words))] + "x"
		}
		return strings.Join(w, " ")
	}
	refTLSH, err := h.TLSH(strings.Join(base, " "))
	if err != nil {
		t.Fatal(err)
	}
	th := Thresholds{WinnowMinRun: 150, WinnowMinUnique: 2, TLSHAuto: 30, TLSHReview: 100}
	// Three prints only the reference holds, each followed by one no
	// reference holds: a TLSH candidate, but no run.
	f := query(20, 500, 777, 501, 778, 502, 779)
	idx := &fakeIndex{posts: map[int64][]uint64{}}
	idx.add("A", 500, 501, 502)
	idx.refs[0].TLSH = refTLSH
	seen := map[string]bool{}
	for n := 0; n < 150 && !(seen["match"] && seen["review"]); n += 2 {
		q, err := h.TLSH(edit(n))
		if err != nil {
			t.Fatal(err)
		}
		d, err := text.TLSHDistance(q, refTLSH)
		if err != nil {
			t.Fatal(err)
		}
		f.TLSH = q
		res, err := NewMatcher(idx, Options{Thresholds: th}).Match(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case d < th.TLSHAuto:
			seen["match"] = true
			if len(res.Matches) != 1 || res.Matches[0].Method != MethodTLSH || len(res.Review) != 0 {
				t.Errorf("distance %d: matches %+v review %+v, want one tlsh match", d, res.Matches, res.Review)
			}
		case d < th.TLSHReview:
			seen["review"] = true
			if len(res.Matches) != 0 || len(res.Review) != 1 || res.Review[0].RefName != "A" || !strings.Contains(res.Review[0].Why, "for review") || res.Refs != 0 {
				t.Errorf("distance %d: matches %+v review %+v, want A for review only", d, res.Matches, res.Review)
			}
		default:
			if len(res.Matches)+len(res.Review) != 0 {
				t.Errorf("distance %d: matches %+v review %+v, want nothing", d, res.Matches, res.Review)
			}
		}
	}
	if !seen["match"] || !seen["review"] {
		t.Fatalf("edits never produced both bands: %v", seen)
	}
}
