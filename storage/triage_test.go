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

// Exposure by day counts each item once, on the day it was first
// captured, with its first capture's files and patients; dismissed items
// and days outside the range are left out, empty days kept.
func TestExposureByDay(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		src, run := forumRun(t, s)
		ref := storage.Reference{OpaqueID: "r0", SHA256: fmt.Sprintf("%064x", 1)}
		must(t, s.DB().Create(&ref).Error)
		cs, err := s.EnsureCase(ctx, "leaks.example", "case-leaks")
		must(t, err)
		now := time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
		add := func(url string, at time.Time, files, patients int) uint64 {
			c := storage.Capture{RunID: run.ID, SourceID: src.ID, Kind: storage.CaptureFile, URL: url, Host: "leaks.example", FetchedAt: at, SHA256: "ab"}
			_, err := s.SaveCapture(ctx, &c)
			must(t, err)
			must(t, s.SetCaptureExposure(ctx, c.ID, files, patients))
			h := storage.Hit{CaptureID: c.ID, ReferenceID: ref.ID, Method: "sha256", Target: "leaks.example"}
			_, err = s.AddHit(ctx, &h)
			must(t, err)
			res, err := s.TakeHits(ctx, cs.ID, []uint64{h.ID}, false)
			must(t, err)
			return res.New[0]
		}
		add("http://leaks.example/a", now.Add(-2*24*time.Hour), 2, 30)
		add("http://leaks.example/b", now.Add(-2*24*time.Hour+time.Hour), 1, 5)
		add("http://leaks.example/c", now, 3, 100)
		gone := add("http://leaks.example/d", now, 9, 900)
		add("http://leaks.example/old", now.Add(-40*24*time.Hour), 7, 7)
		must(t, s.TriageItems(ctx, cs.ID, []uint64{gone}, storage.ItemDismissed, "not ours", "ana"))

		days, err := s.ExposureByDay(ctx, now.Add(-3*24*time.Hour), now)
		must(t, err)
		if len(days) != 4 {
			t.Fatalf("%d days; want 4", len(days))
		}
		want := []storage.DayExposure{{Items: 0}, {Items: 2, Files: 3, Patients: 35}, {}, {Items: 1, Files: 3, Patients: 100}}
		for i, d := range days {
			if d.Items != want[i].Items || d.Files != want[i].Files || d.Patients != want[i].Patients {
				t.Errorf("day %d (%s): %+v; want %+v", i, d.Day.Format(time.DateOnly), d, want[i])
			}
		}
		if !days[3].Day.Equal(time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("last day %v", days[3].Day)
		}
	})
}
