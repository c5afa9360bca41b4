package storage_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// The triage queue is one row per item with all its hits, ordered by
// exposure (or newest), filtered, and paged by keyset without gaps or
// repeats.
func TestTriageQueue(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		src := storage.Source{Name: "forum", Kind: storage.SourceForum, URL: "http://leaks.example/", Enabled: true}
		must(t, s.CreateSource(ctx, &src))
		other := storage.Source{Name: "blog", Kind: storage.SourceLeakBlog, URL: "http://blog.example/", Enabled: true}
		must(t, s.CreateSource(ctx, &other))
		run, err := s.StartRun(ctx, src.ID)
		must(t, err)
		run2, err := s.StartRun(ctx, other.ID)
		must(t, err)
		var refs []storage.Reference
		for i := range 3 {
			r := storage.Reference{OpaqueID: fmt.Sprintf("r%d", i), SHA256: fmt.Sprintf("%064x", i+1)}
			must(t, s.DB().Create(&r).Error)
			refs = append(refs, r)
		}
		t0 := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
		// item takes a capture of url with the given exposure and hits into
		// the target's case.
		item := func(runID, srcID uint64, target, url string, patients int, methods ...string) uint64 {
			c := storage.Capture{RunID: runID, SourceID: srcID, Kind: storage.CaptureFile, URL: url, Host: target, FetchedAt: t0, SHA256: "ab"}
			_, err := s.SaveCapture(ctx, &c)
			must(t, err)
			must(t, s.SetCaptureExposure(ctx, c.ID, len(methods), patients))
			var ids []uint64
			for i, m := range methods {
				h := storage.Hit{CaptureID: c.ID, ReferenceID: refs[i].ID, Method: m, Why: "why " + m, Target: target}
				_, err := s.AddHit(ctx, &h)
				must(t, err)
				ids = append(ids, h.ID)
			}
			cs, err := s.EnsureCase(ctx, target, "case-"+target)
			must(t, err)
			res, err := s.TakeHits(ctx, cs.ID, ids, false)
			must(t, err)
			return res.New[0]
		}
		a := item(run.ID, src.ID, "leaks.example", "http://leaks.example/a.zip", 40, "sha256", "winnow", "pdq")
		b := item(run.ID, src.ID, "leaks.example", "http://leaks.example/b.pdf", 0, "tlsh")
		c := item(run2.ID, other.ID, "blog.example", "http://blog.example/c.csv", 40, "fields")
		d := item(run2.ID, other.ID, "blog.example", "http://blog.example/d.csv", 900, "fields")

		pg, err := s.TriageQueue(ctx, storage.TriageFilter{})
		must(t, err)
		if pg.Total != 4 || len(pg.Items) != 4 || pg.Next != "" {
			t.Fatalf("queue total %d, %d items, next %q; want 4, 4, none", pg.Total, len(pg.Items), pg.Next)
		}
		if got := ids(pg.Items); fmt.Sprint(got) != fmt.Sprint([]uint64{d, a, c, b}) {
			t.Errorf("exposure order %v; want %v (most patients, then more references, then newest)", got, []uint64{d, a, c, b})
		}
		if first := pg.Items[1]; len(first.Hits) != 3 || first.Patients != 40 || first.Refs != 3 || first.SourceName != "forum" || first.Target != "leaks.example" {
			t.Errorf("item a: %d hits, %d patients, %d refs, source %q, target %q", len(first.Hits), first.Patients, first.Refs, first.SourceName, first.Target)
		}

		newest, err := s.TriageQueue(ctx, storage.TriageFilter{Sort: storage.TriageNewest})
		must(t, err)
		if got := ids(newest.Items); fmt.Sprint(got) != fmt.Sprint([]uint64{d, c, b, a}) {
			t.Errorf("newest order %v", got)
		}

		for _, sort := range []storage.TriageSort{storage.TriageExposure, storage.TriageNewest} {
			var paged []uint64
			after := ""
			for range 10 {
				p, err := s.TriageQueue(ctx, storage.TriageFilter{Sort: sort, Limit: 1, After: after})
				must(t, err)
				paged = append(paged, ids(p.Items)...)
				if p.Total != 4 {
					t.Errorf("total on a page %d", p.Total)
				}
				if after = p.Next; after == "" {
					break
				}
			}
			want := ids(pg.Items)
			if sort == storage.TriageNewest {
				want = ids(newest.Items)
			}
			if fmt.Sprint(paged) != fmt.Sprint(want) {
				t.Errorf("%s pages %v; want %v", sort, paged, want)
			}
		}

		for _, tc := range []struct {
			name string
			f    storage.TriageFilter
			want []uint64
		}{
			{"method", storage.TriageFilter{Method: "winnow"}, []uint64{a}},
			{"source", storage.TriageFilter{SourceID: other.ID}, []uint64{d, c}},
			{"target", storage.TriageFilter{Target: "leaks.example"}, []uint64{a, b}},
		} {
			p, err := s.TriageQueue(ctx, tc.f)
			must(t, err)
			if fmt.Sprint(ids(p.Items)) != fmt.Sprint(tc.want) || p.Total != int64(len(tc.want)) {
				t.Errorf("filter %s: %v (total %d); want %v", tc.name, ids(p.Items), p.Total, tc.want)
			}
		}

		cs, err := s.CaseByRef(ctx, "leaks.example")
		must(t, err)
		must(t, s.TriageItems(ctx, cs.ID, []uint64{b}, storage.ItemDismissed, "brochure", "ana"))
		p, err := s.TriageQueue(ctx, storage.TriageFilter{})
		must(t, err)
		if p.Total != 3 {
			t.Errorf("after a dismissal %d await triage; want 3", p.Total)
		}
		p, err = s.TriageQueue(ctx, storage.TriageFilter{State: storage.ItemDismissed})
		must(t, err)
		if fmt.Sprint(ids(p.Items)) != fmt.Sprint([]uint64{b}) || p.Items[0].Reason != "brochure" {
			t.Errorf("dismissed filter: %+v", p.Items)
		}
		counts, err := s.ItemCounts(ctx)
		must(t, err)
		if counts[storage.ItemNew] != 3 || counts[storage.ItemDismissed] != 1 {
			t.Errorf("item counts %v", counts)
		}
		if _, err := s.TriageQueue(ctx, storage.TriageFilter{After: "1.x"}); !errors.Is(err, storage.ErrBadCursor) {
			t.Errorf("bad cursor: %v", err)
		}
	})
}

func ids(items []storage.TriageItem) []uint64 {
	out := make([]uint64, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}
