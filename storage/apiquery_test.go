package storage_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// walkPages reads every page of a list with the given limit and returns the
// ids in order, failing if a page is larger than the limit.
func walkPages(t *testing.T, limit int, list func(p storage.Page) ([]uint64, uint64, error)) []uint64 {
	t.Helper()
	var all []uint64
	p := storage.Page{Limit: limit}
	for range 1000 {
		ids, next, err := list(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) > limit {
			t.Fatalf("page of %d rows, limit %d", len(ids), limit)
		}
		all = append(all, ids...)
		if next == 0 {
			return all
		}
		if len(ids) == 0 || next != ids[len(ids)-1] {
			t.Fatalf("next cursor %d, page %v", next, ids)
		}
		p.Before = next
	}
	t.Fatal("paging does not end")
	return nil
}

// wantDescending checks ids are strictly newest first and the set wanted.
func wantIDs(t *testing.T, got []uint64, want map[uint64]bool) {
	t.Helper()
	for i := 1; i < len(got); i++ {
		if got[i] >= got[i-1] {
			t.Fatalf("ids not newest first: %v", got)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("got %d ids %v, want %d", len(got), got, len(want))
	}
	for _, id := range got {
		if !want[id] {
			t.Fatalf("unexpected id %d in %v", id, got)
		}
	}
}

// apiQuerySeed is two sources with captures and hits in two cases.
type apiQuerySeed struct {
	src       [2]storage.Source
	runs      [2]storage.CrawlRun
	captures  []storage.Capture
	hits      []storage.Hit
	cases     [2]storage.Case
	confirmed uint64 // item id
}

func seedAPIQuery(t *testing.T, s *storage.Store) apiQuerySeed {
	t.Helper()
	ctx := t.Context()
	var sd apiQuerySeed
	for i := range sd.src {
		sd.src[i] = storage.Source{Name: fmt.Sprintf("src-%d", i), Kind: storage.SourceForum,
			URL: fmt.Sprintf("http://host%d.example/", i), Enabled: true}
		if err := s.CreateSource(ctx, &sd.src[i]); err != nil {
			t.Fatal(err)
		}
		run, err := s.StartRun(ctx, sd.src[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		sd.runs[i] = run
		c, err := s.EnsureCase(ctx, fmt.Sprintf("host%d.example", i), fmt.Sprintf("case-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		sd.cases[i] = c
	}
	if err := s.SetCaseState(ctx, sd.cases[1].ID, storage.CaseDrafted, ""); err != nil {
		t.Fatal(err)
	}
	item := storage.CaseItem{CaseID: sd.cases[0].ID, URL: "http://host0.example/f0", State: storage.ItemConfirmed,
		CapturedAt: time.Now().UTC()}
	if err := s.DB().Create(&item).Error; err != nil {
		t.Fatal(err)
	}
	sd.confirmed = item.ID
	ref := storage.Reference{Name: "batch/Z0000001.pdf", Size: 1, SHA256: strings.Repeat("ef", 32)}
	if _, err := s.AddReference(ctx, &ref); err != nil {
		t.Fatal(err)
	}
	for i := range 7 {
		k := i % 2
		c := storage.Capture{RunID: sd.runs[k].ID, SourceID: sd.src[k].ID, Kind: storage.CaptureFile,
			URL: fmt.Sprintf("http://host%d.example/f%d", k, i), Host: fmt.Sprintf("host%d.example", k),
			FetchedAt: time.Now().UTC(), Status: 200, SHA256: strings.Repeat("0", 63) + fmt.Sprint(i)}
		if _, err := s.SaveCapture(ctx, &c); err != nil {
			t.Fatal(err)
		}
		sd.captures = append(sd.captures, c)
		method := "sha256"
		if i%3 == 0 {
			method = "keyword"
		}
		h := storage.Hit{CaptureID: c.ID, ReferenceID: ref.ID, Method: method, Score: 1, Target: c.Host}
		if k == 0 && i < 4 {
			h.ItemID = item.ID
		}
		if _, err := s.AddHit(ctx, &h); err != nil {
			t.Fatal(err)
		}
		sd.hits = append(sd.hits, h)
	}
	return sd
}

func TestListHitsPagesAndFilters(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		sd := seedAPIQuery(t, s)
		ctx := t.Context()
		for _, tc := range []struct {
			name string
			f    storage.HitFilter
			want func(h storage.Hit) bool
		}{
			{"all", storage.HitFilter{}, func(storage.Hit) bool { return true }},
			{"method", storage.HitFilter{Method: "keyword"}, func(h storage.Hit) bool { return h.Method == "keyword" }},
			{"source", storage.HitFilter{SourceID: sd.src[1].ID}, func(h storage.Hit) bool { return h.Target == "host1.example" }},
			{"target", storage.HitFilter{Target: "host0.example"}, func(h storage.Hit) bool { return h.Target == "host0.example" }},
			{"case", storage.HitFilter{CaseID: sd.cases[0].ID}, func(h storage.Hit) bool { return h.ItemID != 0 }},
			{"confirmed", storage.HitFilter{State: string(storage.ItemConfirmed)}, func(h storage.Hit) bool { return h.ItemID != 0 }},
			{"pending", storage.HitFilter{State: storage.HitStatePending}, func(h storage.Hit) bool { return h.ItemID == 0 }},
			{"dismissed", storage.HitFilter{State: string(storage.ItemDismissed)}, func(storage.Hit) bool { return false }},
			{"combined", storage.HitFilter{Target: "host0.example", Method: "sha256", State: "confirmed"},
				func(h storage.Hit) bool { return h.ItemID != 0 && h.Method == "sha256" }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				want := map[uint64]bool{}
				for _, h := range sd.hits {
					if tc.want(h) {
						want[h.ID] = true
					}
				}
				got := walkPages(t, 2, func(p storage.Page) ([]uint64, uint64, error) {
					rows, next, err := s.ListHits(ctx, tc.f, p)
					var ids []uint64
					for _, r := range rows {
						ids = append(ids, r.ID)
						wantState := storage.HitStatePending
						if r.ItemID != 0 {
							wantState = string(storage.ItemConfirmed)
							if r.CaseID != sd.cases[0].ID {
								t.Errorf("hit %d case %d, want %d", r.ID, r.CaseID, sd.cases[0].ID)
							}
						}
						if r.State != wantState || r.SourceID == 0 || r.URL == "" || r.RefOpaqueID == "" {
							t.Errorf("hit row %+v", r)
						}
					}
					return ids, next, err
				})
				wantIDs(t, got, want)
			})
		}
	})
}

func TestListCasesCapturesSourcesPages(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		sd := seedAPIQuery(t, s)
		ctx := t.Context()
		// A target with LIKE's wildcards must match only itself.
		odd, err := s.EnsureCase(ctx, "a_b%.example", "case-odd")
		if err != nil {
			t.Fatal(err)
		}
		cases := func(f storage.CaseFilter, limit int) []uint64 {
			return walkPages(t, limit, func(p storage.Page) ([]uint64, uint64, error) {
				rows, next, err := s.ListCasesPage(ctx, f, p)
				var ids []uint64
				for _, c := range rows {
					ids = append(ids, c.ID)
				}
				return ids, next, err
			})
		}
		wantIDs(t, cases(storage.CaseFilter{}, 1), map[uint64]bool{sd.cases[0].ID: true, sd.cases[1].ID: true, odd.ID: true})
		wantIDs(t, cases(storage.CaseFilter{State: storage.CaseDrafted}, 5), map[uint64]bool{sd.cases[1].ID: true})
		wantIDs(t, cases(storage.CaseFilter{Target: "host0.example"}, 5), map[uint64]bool{sd.cases[0].ID: true})
		wantIDs(t, cases(storage.CaseFilter{Search: "HOST"}, 5), map[uint64]bool{sd.cases[0].ID: true, sd.cases[1].ID: true})
		wantIDs(t, cases(storage.CaseFilter{Search: "_B%"}, 5), map[uint64]bool{odd.ID: true})
		wantIDs(t, cases(storage.CaseFilter{Search: "t_"}, 5), map[uint64]bool{})

		captures := func(f storage.CaptureFilter) []uint64 {
			return walkPages(t, 3, func(p storage.Page) ([]uint64, uint64, error) {
				rows, next, err := s.ListCapturesPage(ctx, f, p)
				var ids []uint64
				for _, c := range rows {
					ids = append(ids, c.ID)
				}
				return ids, next, err
			})
		}
		all, bySource, byRun := map[uint64]bool{}, map[uint64]bool{}, map[uint64]bool{}
		for _, c := range sd.captures {
			all[c.ID] = true
			if c.SourceID == sd.src[1].ID {
				bySource[c.ID] = true
			}
			if c.RunID == sd.runs[0].ID {
				byRun[c.ID] = true
			}
		}
		wantIDs(t, captures(storage.CaptureFilter{}), all)
		wantIDs(t, captures(storage.CaptureFilter{SourceID: sd.src[1].ID}), bySource)
		wantIDs(t, captures(storage.CaptureFilter{RunID: sd.runs[0].ID}), byRun)
		wantIDs(t, captures(storage.CaptureFilter{RunID: sd.runs[0].ID, SourceID: sd.src[1].ID}), map[uint64]bool{})

		tg := storage.Source{Name: "tg", Kind: storage.SourceTelegram, URL: "https://t.me/x", Enabled: true}
		if err := s.CreateSource(ctx, &tg); err != nil {
			t.Fatal(err)
		}
		sources := func(f storage.SourceFilter) []uint64 {
			return walkPages(t, 1, func(p storage.Page) ([]uint64, uint64, error) {
				rows, next, err := s.ListSourcesPage(ctx, f, p)
				var ids []uint64
				for _, c := range rows {
					ids = append(ids, c.ID)
				}
				return ids, next, err
			})
		}
		wantIDs(t, sources(storage.SourceFilter{}), map[uint64]bool{sd.src[0].ID: true, sd.src[1].ID: true, tg.ID: true})
		wantIDs(t, sources(storage.SourceFilter{Kind: storage.SourceTelegram}), map[uint64]bool{tg.ID: true})
	})
}

func TestAuditEventsPageFilters(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		before := time.Now().UTC().Add(-time.Second)
		for i := range 5 {
			actor := "lena"
			if i%2 == 1 {
				actor = "omar"
			}
			if err := s.Audit(ctx, actor, fmt.Sprintf("act.%d", i%3), "obj", ""); err != nil {
				t.Fatal(err)
			}
		}
		evs, err := s.AuditEvents(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		pick := func(keep func(e storage.AuditEvent) bool) map[uint64]bool {
			out := map[uint64]bool{}
			for _, e := range evs {
				if keep(e) {
					out[e.ID] = true
				}
			}
			return out
		}
		list := func(f storage.AuditFilter) []uint64 {
			return walkPages(t, 2, func(p storage.Page) ([]uint64, uint64, error) {
				rows, next, err := s.AuditEventsPage(ctx, f, p)
				var ids []uint64
				for _, e := range rows {
					ids = append(ids, e.ID)
				}
				return ids, next, err
			})
		}
		wantIDs(t, list(storage.AuditFilter{}), pick(func(storage.AuditEvent) bool { return true }))
		wantIDs(t, list(storage.AuditFilter{Actor: "omar"}), pick(func(e storage.AuditEvent) bool { return e.Actor == "omar" }))
		wantIDs(t, list(storage.AuditFilter{ActionPrefix: "act.0", Actor: "lena"}),
			pick(func(e storage.AuditEvent) bool { return e.Action == "act.0" && e.Actor == "lena" }))
		wantIDs(t, list(storage.AuditFilter{From: before}), pick(func(storage.AuditEvent) bool { return true }))
		wantIDs(t, list(storage.AuditFilter{To: before}), map[uint64]bool{})
		wantIDs(t, list(storage.AuditFilter{From: before.Add(time.Hour)}), map[uint64]bool{})
		wantIDs(t, list(storage.AuditFilter{From: before, To: before.Add(time.Hour)}), pick(func(storage.AuditEvent) bool { return true }))
	})
}
