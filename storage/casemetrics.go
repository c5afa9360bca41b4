package storage

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Stage is a step of a takedown that an infringing item reaches, timed from
// the item's first capture.
type Stage string

// Stages of a takedown, in order. What each one's time is, per case item
// (one infringing URL or message), all measured from the item's
// captured_at (its first capture):
//
//   - hit: the earliest created_at of the item's hits (how long matching
//     took to notice it).
//   - draft: drafted_at of the earliest notice revision whose item_ids
//     list it, whatever became of that revision (superseded, sent, …).
//   - approval: approved_at of the sent notice that first listed it
//     (case_items.notice_id).
//   - send: case_items.listed_at, when that notice was sent (the notice's
//     sent_at if listed_at is missing).
//   - removal: case_items.removed_at, when a re-check first found it gone
//     or no longer matching (verified removal). An item that came back
//     has no removal time until it is found removed again.
const (
	StageHit      Stage = "hit"
	StageDraft    Stage = "draft"
	StageApproval Stage = "approval"
	StageSend     Stage = "send"
	StageRemoval  Stage = "removal"
)

// Stages lists the stages in order.
func Stages() []Stage { return []Stage{StageHit, StageDraft, StageApproval, StageSend, StageRemoval} }

// StageStats summarises how long items took to reach one stage.
type StageStats struct {
	Count  int           // items that reached the stage
	Median time.Duration // 0 when Count is 0
	P90    time.Duration // 0 when Count is 0
}

// TargetMetrics are the takedown metrics of one target (a case's host or
// channel), or of all of them.
type TargetMetrics struct {
	Target string // "" for the overall metrics
	// Stages holds every stage of Stages(), reached by any item or not.
	Stages map[Stage]StageStats
	// ExposureHours sums, over confirmed and removed items, the hours
	// from first capture to removal (to now while not removed).
	ExposureHours float64
	Items         int // items in any state, dismissed ones included
	Removed       int // items in state removed
	ItemsByState  map[ItemState]int
	// NoticesByState counts notice revisions (superseded ones too).
	NoticesByState map[NoticeState]int
	CasesByState   map[CaseState]int
}

// CaseMetrics are the takedown metrics of every target and of all of them.
type CaseMetrics struct {
	At      time.Time       // the "now" exposure was measured to
	Overall TargetMetrics   // every case together (Target "")
	Targets []TargetMetrics // one per case, by target
}

// CaseMetrics measures how takedowns go, per target and overall: for each
// Stage, the median and 90th percentile of the time items took from their
// first capture to reach it; exposure-hours; items, notices and cases by
// state. Stage times and exposure leave out dismissed items (not the
// breach's); new (untriaged) items count towards the hit stage but not
// exposure. Exposure runs from the first capture: an item that was removed
// and came back counts the time it was down too. Times before the capture
// (clock skew between crawler and database) count as zero. Percentiles
// interpolate linearly between the closest ranks (as numpy's default and
// spreadsheets' PERCENTILE.INC do): the median of an even count is the mean
// of the middle two.
//
// It reads cases, items, hits and notices in a few plain queries and
// computes in Go (the same on SQLite and PostgreSQL); the queries are not
// one snapshot, so a scrape racing a write may be off by that write.
func (s *Store) CaseMetrics(ctx context.Context, now time.Time) (CaseMetrics, error) {
	now = now.UTC()
	out := CaseMetrics{At: now}

	var cases []Case
	if err := s.ctx(ctx).Select("id", "target", "state").Order("id").Find(&cases).Error; err != nil {
		return out, fmt.Errorf("case metrics: cases: %w", err)
	}
	var items []CaseItem
	if err := s.ctx(ctx).Select("id", "case_id", "state", "captured_at", "notice_id", "listed_at", "removed_at").
		Order("id").Find(&items).Error; err != nil {
		return out, fmt.Errorf("case metrics: items: %w", err)
	}
	var hits []struct {
		ItemID    uint64
		CreatedAt time.Time
	}
	if err := s.ctx(ctx).Model(&Hit{}).Select("item_id", "created_at").Where("item_id <> 0").Scan(&hits).Error; err != nil {
		return out, fmt.Errorf("case metrics: hits: %w", err)
	}
	var notices []Notice
	if err := s.ctx(ctx).Select("id", "case_id", "state", "drafted_at", "approved_at", "sent_at", "item_ids").
		Order("id").Find(&notices).Error; err != nil {
		return out, fmt.Errorf("case metrics: notices: %w", err)
	}

	firstHit := map[uint64]time.Time{}
	for _, h := range hits {
		if t, ok := firstHit[h.ItemID]; !ok || h.CreatedAt.Before(t) {
			firstHit[h.ItemID] = h.CreatedAt
		}
	}
	firstDraft := map[uint64]time.Time{}
	noticeByID := make(map[uint64]*Notice, len(notices))
	for i := range notices {
		n := &notices[i]
		noticeByID[n.ID] = n
		if n.DraftedAt.IsZero() {
			continue
		}
		for _, id := range SplitIDs(n.ItemIDs) {
			if t, ok := firstDraft[id]; !ok || n.DraftedAt.Before(t) {
				firstDraft[id] = n.DraftedAt
			}
		}
	}

	// acc gathers one target's (or all targets') numbers before the
	// percentiles are taken.
	type acc struct {
		m     TargetMetrics
		times map[Stage][]time.Duration
	}
	newAcc := func(target string) *acc {
		return &acc{m: TargetMetrics{Target: target, ItemsByState: map[ItemState]int{},
			NoticesByState: map[NoticeState]int{}, CasesByState: map[CaseState]int{}},
			times: map[Stage][]time.Duration{}}
	}
	all := newAcc("")
	byCase := map[uint64]*acc{}
	var order []*acc
	for _, c := range cases {
		a := newAcc(c.Target)
		byCase[c.ID] = a
		order = append(order, a)
		for _, x := range []*acc{a, all} {
			x.m.CasesByState[c.State]++
		}
	}
	for _, n := range notices {
		if a := byCase[n.CaseID]; a != nil {
			for _, x := range []*acc{a, all} {
				x.m.NoticesByState[n.State]++
			}
		}
	}
	for _, it := range items {
		a := byCase[it.CaseID]
		if a == nil {
			continue // its case was written after the cases were read
		}
		targets := []*acc{a, all}
		for _, x := range targets {
			x.m.Items++
			x.m.ItemsByState[it.State]++
			if it.State == ItemRemoved {
				x.m.Removed++
			}
		}
		if it.State == ItemDismissed || it.CapturedAt.IsZero() {
			continue
		}
		since := func(t time.Time) time.Duration { return max(t.Sub(it.CapturedAt), 0) }
		reached := map[Stage]time.Time{}
		if t, ok := firstHit[it.ID]; ok {
			reached[StageHit] = t
		}
		if t, ok := firstDraft[it.ID]; ok {
			reached[StageDraft] = t
		}
		sent := noticeByID[it.NoticeID]
		if it.NoticeID != 0 && sent != nil && sent.ApprovedAt != nil {
			reached[StageApproval] = *sent.ApprovedAt
		}
		switch {
		case it.ListedAt != nil:
			reached[StageSend] = *it.ListedAt
		case it.NoticeID != 0 && sent != nil && sent.SentAt != nil:
			reached[StageSend] = *sent.SentAt
		}
		if it.State == ItemRemoved && it.RemovedAt != nil {
			reached[StageRemoval] = *it.RemovedAt
		}
		for st, t := range reached {
			for _, x := range targets {
				x.times[st] = append(x.times[st], since(t))
			}
		}
		if it.State == ItemConfirmed || it.State == ItemRemoved {
			end := now
			if it.State == ItemRemoved && it.RemovedAt != nil {
				end = *it.RemovedAt
			}
			h := since(end).Hours()
			for _, x := range targets {
				x.m.ExposureHours += h
			}
		}
	}

	finish := func(a *acc) TargetMetrics {
		a.m.Stages = make(map[Stage]StageStats, len(Stages()))
		for _, st := range Stages() {
			ds := a.times[st]
			slices.Sort(ds)
			a.m.Stages[st] = StageStats{Count: len(ds), Median: Percentile(ds, 0.5), P90: Percentile(ds, 0.9)}
		}
		return a.m
	}
	out.Overall = finish(all)
	slices.SortStableFunc(order, func(a, b *acc) int { return strings.Compare(a.m.Target, b.m.Target) })
	for _, a := range order {
		out.Targets = append(out.Targets, finish(a))
	}
	return out, nil
}

// Percentile returns the p-quantile (0 ≤ p ≤ 1) of sorted durations,
// interpolating linearly between the closest ranks; 0 for none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	h := min(max(p, 0), 1) * float64(n-1)
	lo := int(math.Floor(h))
	if lo >= n-1 {
		return sorted[n-1]
	}
	frac := h - float64(lo)
	return sorted[lo] + time.Duration(math.Round(frac*float64(sorted[lo+1]-sorted[lo])))
}
