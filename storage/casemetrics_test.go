package storage_test

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

func TestPercentileMetrics(t *testing.T) {
	t.Parallel()
	h := time.Hour
	for _, tc := range []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 0.5, 0},
		{[]time.Duration{7 * h}, 0.5, 7 * h},
		{[]time.Duration{7 * h}, 0.9, 7 * h},
		{[]time.Duration{h, 3 * h}, 0.5, 2 * h},
		{[]time.Duration{h, 2 * h, 4 * h}, 0.5, 2 * h},
		{[]time.Duration{h, 2 * h, 4 * h}, 0.9, 3*h + 36*time.Minute}, // 2h + 0.8·2h
		{[]time.Duration{0, 0, 10 * time.Minute, 30 * time.Minute, h, 2 * h}, 0.9, 90 * time.Minute},
		{[]time.Duration{h, 2 * h}, 1, 2 * h},
		{[]time.Duration{h, 2 * h}, 0, h},
	} {
		if got := storage.Percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", tc.in, tc.p, got, tc.want)
		}
	}
}

// TestCaseMetrics builds two targets' cases, items, hits and notices with
// known times and checks every stage's median and 90th percentile, the
// exposure and the counts, per target and overall.
func TestCaseMetrics(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		db := s.DB().WithContext(ctx)
		t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		at := func(d time.Duration) time.Time { return t0.Add(d) }
		ptr := func(d time.Duration) *time.Time { v := at(d); return &v }
		h, m := time.Hour, time.Minute
		now := at(100 * h)

		mkCase := func(target string, state storage.CaseState) storage.Case {
			t.Helper()
			c, err := s.EnsureCase(ctx, target, "case-"+target)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SetCaseState(ctx, c.ID, state, ""); err != nil {
				t.Fatal(err)
			}
			return c
		}
		mkItem := func(c storage.Case, name string, captured time.Duration, state storage.ItemState) *storage.CaseItem {
			t.Helper()
			it := &storage.CaseItem{CaseID: c.ID, URL: "https://" + c.Target + "/" + name, CapturedAt: at(captured), State: state}
			if err := db.Create(it).Error; err != nil {
				t.Fatal(err)
			}
			return it
		}
		captureID := uint64(0)
		mkHit := func(target string, itemID uint64, created time.Duration) {
			t.Helper()
			captureID++
			hit := storage.Hit{CaptureID: captureID, ReferenceID: 1, Method: "sha256", Target: target,
				CreatedAt: at(created), ItemID: itemID}
			if _, err := s.AddHit(ctx, &hit); err != nil {
				t.Fatal(err)
			}
		}
		mkNotice := func(c storage.Case, rev int, state storage.NoticeState, drafted time.Duration, approved, sent *time.Time, items ...uint64) storage.Notice {
			t.Helper()
			n := storage.Notice{CaseID: c.ID, Revision: rev, State: state, Recipient: "abuse@" + c.Target, Subject: "s",
				BodyText: "b", BodyHTML: "b", DraftedBy: "workflow", DraftedAt: at(drafted), ApprovedAt: approved, SentAt: sent,
				MessageID: fmt.Sprintf("<%s-%d@leakwatch>", c.Target, rev), ItemIDs: storage.JoinIDs(items)}
			if err := db.Create(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}
		update := func(it *storage.CaseItem, fields map[string]any) {
			t.Helper()
			if err := db.Model(&storage.CaseItem{}).Where("id = ?", it.ID).Updates(fields).Error; err != nil {
				t.Fatal(err)
			}
		}

		// a.example: a sent notice (revision 2, revision 1 superseded),
		// two items removed, one still up, one dismissed, one new, and a
		// follow-up draft.
		a := mkCase("a.example", storage.CaseAcknowledged)
		a1 := mkItem(a, "1", 0, storage.ItemRemoved)
		a2 := mkItem(a, "2", 1*h, storage.ItemRemoved)
		a3 := mkItem(a, "3", 2*h, storage.ItemConfirmed)
		a4 := mkItem(a, "4", 0, storage.ItemDismissed)
		a5 := mkItem(a, "5", 50*h, storage.ItemNew)
		mkHit(a.Target, a1.ID, 3*h) // a later hit of the same URL: the earliest counts
		mkHit(a.Target, a1.ID, 1*h)
		mkHit(a.Target, a2.ID, 90*m)
		mkHit(a.Target, a3.ID, 4*h)
		mkHit(a.Target, a4.ID, 30*m)
		mkHit(a.Target, a5.ID, 50*h+10*m)
		mkHit(a.Target, 0, 0) // not taken into an item
		mkNotice(a, 1, storage.NoticeSuperseded, 2*h, nil, nil, a1.ID, a2.ID)
		na2 := mkNotice(a, 2, storage.NoticeSent, 4*h, ptr(5*h), ptr(6*h), a1.ID, a2.ID, a3.ID)
		mkNotice(a, 3, storage.NoticeDraft, 30*h, nil, nil, a3.ID)
		update(a1, map[string]any{"notice_id": na2.ID, "listed_at": at(6 * h), "removed_at": at(10 * h)})
		update(a2, map[string]any{"notice_id": na2.ID, "listed_at": at(6 * h), "removed_at": at(21 * h)})
		update(a3, map[string]any{"notice_id": na2.ID, "listed_at": at(6 * h)})

		// b.example: one item sent (listed_at missing: the notice's sent_at
		// counts) and removed; one confirmed whose hit is dated before
		// its capture (counts as zero).
		b := mkCase("b.example", storage.CaseSent)
		b1 := mkItem(b, "1", 10*h, storage.ItemRemoved)
		b2 := mkItem(b, "2", 20*h, storage.ItemConfirmed)
		mkHit(b.Target, b1.ID, 10*h)
		mkHit(b.Target, b2.ID, 19*h)
		nb1 := mkNotice(b, 1, storage.NoticeSent, 12*h, ptr(13*h), ptr(14*h), b1.ID)
		update(b1, map[string]any{"notice_id": nb1.ID, "removed_at": at(40 * h)})

		// c.example: a case with nothing in it yet.
		mkCase("c.example", storage.CaseDetected)

		got, err := s.CaseMetrics(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if !got.At.Equal(now) {
			t.Errorf("At = %v, want %v", got.At, now)
		}
		if len(got.Targets) != 3 || got.Targets[0].Target != "a.example" || got.Targets[1].Target != "b.example" ||
			got.Targets[2].Target != "c.example" {
			t.Fatalf("targets = %+v, want a, b, c.example", got.Targets)
		}
		type stats = storage.StageStats
		check := func(name string, tm storage.TargetMetrics, stages map[storage.Stage]stats, exposure float64,
			items, removed int, byItem map[storage.ItemState]int, byNotice map[storage.NoticeState]int, byCase map[storage.CaseState]int) {
			t.Helper()
			for _, st := range storage.Stages() {
				if g, w := tm.Stages[st], stages[st]; g != w {
					t.Errorf("%s stage %s = {n=%d median=%v p90=%v}, want {n=%d median=%v p90=%v}",
						name, st, g.Count, g.Median, g.P90, w.Count, w.Median, w.P90)
				}
			}
			if len(tm.Stages) != len(storage.Stages()) {
				t.Errorf("%s has %d stages, want %d", name, len(tm.Stages), len(storage.Stages()))
			}
			if tm.ExposureHours != exposure {
				t.Errorf("%s exposure = %v hours, want %v", name, tm.ExposureHours, exposure)
			}
			if tm.Items != items || tm.Removed != removed {
				t.Errorf("%s items = %d removed = %d, want %d and %d", name, tm.Items, tm.Removed, items, removed)
			}
			if !maps.Equal(tm.ItemsByState, byItem) {
				t.Errorf("%s items by state = %v, want %v", name, tm.ItemsByState, byItem)
			}
			if !maps.Equal(tm.NoticesByState, byNotice) {
				t.Errorf("%s notices by state = %v, want %v", name, tm.NoticesByState, byNotice)
			}
			if !maps.Equal(tm.CasesByState, byCase) {
				t.Errorf("%s cases by state = %v, want %v", name, tm.CasesByState, byCase)
			}
		}

		check("a.example", got.Targets[0], map[storage.Stage]stats{
			// a1 1h, a2 30m, a3 2h, a5 10m (a4 dismissed)
			storage.StageHit: {Count: 4, Median: 45 * m, P90: 102 * m},
			// a1 2h, a2 1h (revision 1), a3 2h (revision 2)
			storage.StageDraft: {Count: 3, Median: 2 * h, P90: 2 * h},
			// revision 2 approved at 5h: a1 5h, a2 4h, a3 3h
			storage.StageApproval: {Count: 3, Median: 4 * h, P90: 4*h + 48*m},
			// listed at 6h: a1 6h, a2 5h, a3 4h
			storage.StageSend: {Count: 3, Median: 5 * h, P90: 5*h + 48*m},
			// a1 10h, a2 20h
			storage.StageRemoval: {Count: 2, Median: 15 * h, P90: 19 * h},
		}, 10+20+98, 5, 2,
			map[storage.ItemState]int{storage.ItemRemoved: 2, storage.ItemConfirmed: 1, storage.ItemDismissed: 1, storage.ItemNew: 1},
			map[storage.NoticeState]int{storage.NoticeSuperseded: 1, storage.NoticeSent: 1, storage.NoticeDraft: 1},
			map[storage.CaseState]int{storage.CaseAcknowledged: 1})

		check("b.example", got.Targets[1], map[storage.Stage]stats{
			storage.StageHit:      {Count: 2, Median: 0, P90: 0},
			storage.StageDraft:    {Count: 1, Median: 2 * h, P90: 2 * h},
			storage.StageApproval: {Count: 1, Median: 3 * h, P90: 3 * h},
			storage.StageSend:     {Count: 1, Median: 4 * h, P90: 4 * h},
			storage.StageRemoval:  {Count: 1, Median: 30 * h, P90: 30 * h},
		}, 30+80, 2, 1,
			map[storage.ItemState]int{storage.ItemRemoved: 1, storage.ItemConfirmed: 1},
			map[storage.NoticeState]int{storage.NoticeSent: 1},
			map[storage.CaseState]int{storage.CaseSent: 1})

		check("c.example", got.Targets[2], map[storage.Stage]stats{}, 0, 0, 0,
			map[storage.ItemState]int{}, map[storage.NoticeState]int{}, map[storage.CaseState]int{storage.CaseDetected: 1})

		check("overall", got.Overall, map[storage.Stage]stats{
			// 0, 0, 10m, 30m, 1h, 2h
			storage.StageHit: {Count: 6, Median: 20 * m, P90: 90 * m},
			// 1h, 2h, 2h, 2h
			storage.StageDraft: {Count: 4, Median: 2 * h, P90: 2 * h},
			// 3h, 3h, 4h, 5h
			storage.StageApproval: {Count: 4, Median: 3*h + 30*m, P90: 4*h + 42*m},
			// 4h, 4h, 5h, 6h
			storage.StageSend: {Count: 4, Median: 4*h + 30*m, P90: 5*h + 42*m},
			// 10h, 20h, 30h
			storage.StageRemoval: {Count: 3, Median: 20 * h, P90: 28 * h},
		}, 238, 7, 3,
			map[storage.ItemState]int{storage.ItemRemoved: 3, storage.ItemConfirmed: 2, storage.ItemDismissed: 1, storage.ItemNew: 1},
			map[storage.NoticeState]int{storage.NoticeSuperseded: 1, storage.NoticeSent: 2, storage.NoticeDraft: 1},
			map[storage.CaseState]int{storage.CaseAcknowledged: 1, storage.CaseSent: 1, storage.CaseDetected: 1})
		if got.Overall.Target != "" {
			t.Errorf("overall target = %q, want empty", got.Overall.Target)
		}

		// Exposure of items still up grows with now.
		later, err := s.CaseMetrics(ctx, now.Add(10*h))
		if err != nil {
			t.Fatal(err)
		}
		if later.Overall.ExposureHours != 238+2*10 {
			t.Errorf("exposure 10h later = %v, want %v", later.Overall.ExposureHours, 238+2*10)
		}
	})
}

func TestCaseMetricsEmpty(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		got, err := s.CaseMetrics(t.Context(), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Targets) != 0 || got.Overall.Items != 0 || len(got.Overall.Stages) != len(storage.Stages()) {
			t.Fatalf("empty store metrics = %+v", got)
		}
	})
}
