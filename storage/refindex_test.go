package storage_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/leakwatch/leakwatch/storage"
)

// WalkIndex must hand over every row SaveReferences stored, and each change
// must advance the generation that in-memory snapshots reload on.
func TestWalkIndexAndGeneration(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		gen := func() int64 {
			t.Helper()
			g, err := s.IndexGeneration(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return g
		}
		if g := gen(); g != 0 {
			t.Fatalf("empty index at generation %d", g)
		}
		hash := strings.Repeat("ab", 32)
		seg, err := s.StartSegment(ctx)
		if err != nil || seg.ID == 0 || seg.Name == "" {
			t.Fatalf("start segment: %+v, %v", seg, err)
		}
		batch := []storage.NewReference{
			{Ref: storage.Reference{Name: "a.zip", SHA256: sha("a"), PathMAC: "mac-a"}, ParentIndex: -1},
			{Ref: storage.Reference{Name: "a.zip!/n.txt", SHA256: sha("n"), TextDigest: sha("text"), TLSH: "T1AB", Segment: seg.ID}, ParentIndex: 0,
				FP: storage.RefFingerprints{
					Prints:   []int64{-5, 7, 1 << 62},
					Images:   []storage.RefImage{{Image: 0, Variant: 9, Hash: hash, Quality: 80}},
					Fields:   []storage.RefField{{Field: "nhi", Hash: "f1", RowNo: 3}, {Field: "email", Hash: "f2", RowNo: 3}},
					Patients: []string{"p1", "p2"},
				}},
		}
		// Prints live in segment files: a reference with prints and no
		// segment to hold them is refused.
		noSeg := slices.Clone(batch)
		noSeg[1].Ref.Segment = 0
		if err := s.SaveReferences(ctx, noSeg); err == nil || !strings.Contains(err.Error(), "no segment") {
			t.Fatalf("saving prints without a segment: %v", err)
		}
		if err := s.SaveReferences(ctx, batch); err != nil {
			t.Fatal(err)
		}
		if g := gen(); g != 1 {
			t.Fatalf("generation %d after one save, want 1", g)
		}
		var refs []storage.Reference
		var fields, images, patients []string
		err = s.WalkIndex(ctx, storage.IndexVisitor{
			Reference: func(r storage.Reference) { refs = append(refs, r) },
			Field: func(f, h string, ref uint64, row int64) {
				fields = append(fields, f+"="+h+"@"+itoa(row))
			},
			Image: func(im storage.RefImage) {
				images = append(images, im.Hash[:4]+"/"+itoa(int64(im.Variant))+"/"+itoa(int64(im.Quality)))
			},
			Patient: func(ref uint64, p string) { patients = append(patients, p) },
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(refs) != 2 || refs[1].Name != "a.zip!/n.txt" || refs[1].TextDigest != sha("text") || refs[1].TLSH != "T1AB" ||
			refs[1].Prints != 3 || refs[1].Segment != seg.ID || refs[1].OpaqueID == "" || refs[0].ID >= refs[1].ID {
			t.Fatalf("references %+v", refs)
		}
		slices.Sort(fields)
		slices.Sort(patients)
		if !slices.Equal(fields, []string{"email=f2@3", "nhi=f1@3"}) ||
			!slices.Equal(images, []string{"abab/9/80"}) || !slices.Equal(patients, []string{"p1", "p2"}) {
			t.Fatalf("rows: fields %v images %v patients %v", fields, images, patients)
		}
		// The segment is written (by the caller) and becomes part of the
		// index: another generation.
		if rs, err := s.ReadySegments(ctx); err != nil || len(rs) != 0 {
			t.Fatalf("ready segments before finishing: %v, %v", rs, err)
		}
		seg.Postings, seg.Refs, seg.Bytes, seg.Checksum = 3, 1, 100, "c0ffee"
		if err := s.FinishSegment(ctx, seg); err != nil {
			t.Fatal(err)
		}
		if err := s.FinishSegment(ctx, seg); err == nil {
			t.Error("a segment finished twice")
		}
		if rs, err := s.ReadySegments(ctx); err != nil || len(rs) != 1 || rs[0].Postings != 3 || rs[0].Checksum != "c0ffee" {
			t.Fatalf("ready segments: %+v, %v", rs, err)
		}
		if st, err := s.IndexStats(ctx); err != nil || st.Prints != 3 || st.Segments != 1 || st.SegmentBytes != 100 {
			t.Fatalf("index stats %+v, %v", st, err)
		}
		if g := gen(); g != 2 {
			t.Fatalf("generation %d after the segment, want 2", g)
		}

		// Re-saving the same path replaces it and is another generation.
		batch[0].Ref.ID, batch[1].Ref.ID = 0, 0
		batch[0].Ref.OpaqueID, batch[1].Ref.OpaqueID = "", ""
		if err := s.SaveReferences(ctx, batch[:1]); err != nil {
			t.Fatal(err)
		}
		if g := gen(); g != 3 {
			t.Fatalf("generation %d after a second save, want 3", g)
		}
		n := 0
		if err := s.WalkIndex(ctx, storage.IndexVisitor{Reference: func(storage.Reference) { n++ }}); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("%d references after replacing the archive, want 1", n)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
