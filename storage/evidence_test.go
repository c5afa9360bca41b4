package storage_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/leakwatch/leakwatch/storage"
)

func TestCapturesForCase(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		src := mustSource(t, s, "evidence")
		run1 := mustRun(t, s, src.ID)
		run2 := mustRun(t, s, src.ID)
		// Ids interleave across runs: the later run's capture is older.
		c2 := mustCapture(t, s, run2, "https://leaks.example/b", sha("b"))
		a1 := mustCapture(t, s, run1, "https://leaks.example/a", sha("a"))
		mustCapture(t, s, run1, "https://leaks.example/index", sha("index")) // no hit
		a2 := mustCapture(t, s, run1, "https://leaks.example/a2", sha("a2"))
		other := mustCapture(t, s, run2, "https://other.example/x", sha("x"))
		r1 := mustReference(t, s, "one.csv", sha("one"))
		r2 := mustReference(t, s, "two.csv", sha("two"))
		for _, h := range []storage.Hit{
			// One capture matching two references, by two methods: listed once.
			{CaptureID: a1.ID, ReferenceID: r1.ID, Method: "sha256", Score: 1, Target: "leaks.example"},
			{CaptureID: a1.ID, ReferenceID: r2.ID, Method: "text", Score: 0.9, Target: "leaks.example"},
			{CaptureID: a1.ID, ReferenceID: r1.ID, Method: "text", Score: 0.8, Target: "leaks.example"},
			{CaptureID: c2.ID, ReferenceID: r1.ID, Method: "sha256", Score: 1, Target: "leaks.example"},
			{CaptureID: a2.ID, ReferenceID: r2.ID, Method: "field", Score: 0.7, Target: "leaks.example"},
			{CaptureID: other.ID, ReferenceID: r2.ID, Method: "sha256", Score: 1, Target: "other.example"},
		} {
			if _, err := s.AddHit(ctx, &h); err != nil {
				t.Fatal(err)
			}
		}
		leaks, err := s.EnsureCase(ctx, "leaks.example", "case-leaks.example")
		if err != nil {
			t.Fatal(err)
		}
		oth, err := s.EnsureCase(ctx, "other.example", "case-other.example")
		if err != nil {
			t.Fatal(err)
		}
		empty, err := s.EnsureCase(ctx, "quiet.example", "case-quiet.example")
		if err != nil {
			t.Fatal(err)
		}

		ids := func(cs []storage.Capture) []uint64 {
			var out []uint64
			for _, c := range cs {
				out = append(out, c.ID)
			}
			return out
		}
		for _, tc := range []struct {
			name string
			id   uint64
			want []uint64
		}{
			{"leaks", leaks.ID, []uint64{a1.ID, a2.ID, c2.ID}},
			{"other", oth.ID, []uint64{other.ID}},
			{"no hits", empty.ID, nil},
		} {
			got, err := s.CapturesForCase(ctx, tc.id)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if got == nil {
				t.Errorf("%s: nil slice, want empty", tc.name)
			}
			if !slices.Equal(ids(got), tc.want) {
				t.Errorf("%s: captures %v, want %v", tc.name, ids(got), tc.want)
			}
		}
		got, err := s.CapturesForCase(ctx, leaks.ID)
		if err != nil {
			t.Fatal(err)
		}
		if c := got[0]; c.URL != a1.URL || c.RunID != run1.ID || c.SHA256 != sha("a") || !sameInstant(c.FetchedAt, a1.FetchedAt) || c.Status != 200 {
			t.Errorf("capture read back as %+v, want %+v", c, a1)
		}
		if _, err := s.CapturesForCase(ctx, 999999); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("missing case: %v, want ErrNotFound", err)
		}
	})
}
