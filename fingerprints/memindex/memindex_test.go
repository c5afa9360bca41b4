package memindex

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/fingerprints/pdq"
)

func hex64(c string) string { return strings.Repeat(c, 64) }

func keys(rs []match.Ref) []uint64 {
	var out []uint64
	for _, r := range rs {
		out = append(out, r.Key)
	}
	slices.Sort(out)
	return out
}

func TestIndexLookups(t *testing.T) {
	ctx := context.Background()
	b := NewBuilder()
	b.AddRef(match.Ref{Key: 10, ID: "ref_a", Name: "a.pdf", Prints: 2}, Digests{SHA256: hex64("a"), Text: hex64("1")})
	b.AddRef(match.Ref{Key: 20, ID: "ref_b", Name: "copy/a.pdf"}, Digests{SHA256: hex64("a"), Text: hex64("2")})
	b.AddRef(match.Ref{Key: 30, ID: "ref_c"}, Digests{SHA256: hex64("c"), MD5: strings.Repeat("d", 32), SHA1: strings.Repeat("e", 40)})
	for _, ref := range []uint64{10, 20, 30} {
		b.AddPrint(99, ref) // in every reference: boilerplate
	}
	b.AddPrint(-7, 10)
	b.AddPrint(5, 999) // no such reference: skipped
	b.AddField("nhi", hex64("f"), 10, 1)
	b.AddField("email", hex64("f")[:60]+"0000", 20, 4) // same first 64 bits: same field key
	b.AddField("nhi", "zz", 10, 2)                     // malformed: skipped
	var h pdq.Hash
	h[0] = 1
	b.AddImage(match.IndexedImage{Ref: 30, Variant: 9, Hash: h, Quality: 70})
	b.AddPatient(10, "p2")
	b.AddPatient(10, "p1")
	b.AddPatient(10, "p1") // duplicate row
	b.AddPatient(20, "p1")
	if b.Skipped() != 2 {
		t.Errorf("Skipped() = %d, want 2 (unknown reference, malformed field)", b.Skipped())
	}
	x := b.Build()

	for _, c := range []struct {
		col, val string
		want     []uint64
	}{
		{"sha256", hex64("a"), []uint64{10, 20}},
		{"sha256", hex64("A"), []uint64{10, 20}}, // hex is case-insensitive
		{"sha256", hex64("b"), nil},
		{"sha256", "not hex", nil},
		{"text_digest", hex64("2"), []uint64{20}},
		{"md5", strings.Repeat("d", 32), []uint64{30}},
		{"sha1", strings.Repeat("e", 40), []uint64{30}},
		{"md5", hex64("d"), nil}, // wrong length for the column
	} {
		rs, err := x.ByDigest(ctx, c.col, c.val)
		if err != nil || !slices.Equal(keys(rs), c.want) {
			t.Errorf("ByDigest(%s, %.8s…) = %v, %v; want %v", c.col, c.val, keys(rs), err, c.want)
		}
	}
	if _, err := x.ByDigest(ctx, "name", "x"); err == nil {
		t.Error("unknown digest column accepted")
	}

	ps, _ := x.PrintPostings(ctx, []int64{99, -7, 5}, 1)
	var got []string
	for _, p := range ps {
		got = append(got, string(rune('0'+p.Ref/10))+":"+map[int64]string{99: "b", -7: "u"}[p.Hash])
	}
	// Boilerplate 99 comes back capped at max+1 = 2 postings; 5 was never stored.
	if want := []string{"1:b", "2:b", "1:u"}; !slices.Equal(got, want) {
		t.Errorf("PrintPostings = %v, want %v", got, want)
	}

	fs, _ := x.FieldPostings(ctx, []string{hex64("f"), "short", hex64("0")}, 5)
	if len(fs) != 2 || fs[0].Ref != 10 || fs[0].Field != "nhi" || fs[0].Row != 1 || fs[1].Ref != 20 || fs[1].Field != "email" || fs[1].Row != 4 || fs[0].Hash != hex64("f") {
		t.Errorf("FieldPostings = %+v", fs)
	}

	pats, _ := x.Patients(ctx, []uint64{10, 20, 30, 999})
	if !slices.Equal(pats[10], []string{"p1", "p2"}) || !slices.Equal(pats[20], []string{"p1"}) || len(pats) != 2 {
		t.Errorf("Patients = %v", pats)
	}
	rs, _ := x.Refs(ctx, []uint64{30, 999, 10})
	if len(rs) != 2 || rs[0].ID != "ref_c" || rs[1].Name != "a.pdf" || rs[1].Prints != 2 {
		t.Errorf("Refs = %+v", rs)
	}
	ims, _ := x.NearImages(ctx, h, 0)
	if len(ims) != 1 || ims[0].Variant != 9 || ims[0].Hash != h || ims[0].Distance != 0 || ims[0].Ref != 30 {
		t.Errorf("NearImages = %+v", ims)
	}
	if n, _ := x.Count(ctx); n != 3 {
		t.Errorf("Count = %d", n)
	}
	if st := x.Stats(); st != (Stats{References: 3, Prints: 4, Fields: 2, Images: 1, Patients: 3}) {
		t.Errorf("Stats = %+v", st)
	}
}

func TestEmptyIndex(t *testing.T) {
	x := NewBuilder().Build()
	ctx := context.Background()
	if rs, err := x.ByDigest(ctx, "sha256", hex64("a")); err != nil || rs != nil {
		t.Errorf("ByDigest on empty index = %v, %v", rs, err)
	}
	if ps, _ := x.PrintPostings(ctx, []int64{1}, 3); len(ps) != 0 {
		t.Errorf("PrintPostings on empty index = %v", ps)
	}
	if p, _ := x.Patients(ctx, []uint64{1}); len(p) != 0 {
		t.Errorf("Patients on empty index = %v", p)
	}
}
