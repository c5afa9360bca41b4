package storage

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"gorm.io/gorm"
)

// TriageSort orders the triage queue.
type TriageSort string

const (
	// TriageNewest puts the items found last first.
	TriageNewest TriageSort = "newest"
	// TriageExposure puts the items exposing the most patients (then
	// reference files) first, newest first among equals.
	TriageExposure TriageSort = "exposure"
)

// TriageFilter selects items of the triage queue. Zero fields select all.
type TriageFilter struct {
	State    ItemState // "" = new (awaiting triage)
	SourceID uint64    // the source whose crawl captured the item last
	Method   string    // some hit of the item matched by this method
	Target   string    // the case's host or channel
	CaseID   uint64
	Sort     TriageSort // "" = TriageExposure
	// After is the cursor of the last item of the previous page
	// (TriageItem.Cursor); "" is the first page.
	After string
	Limit int // default 50, at most 500
}

// TriageItem is one item of the queue: a URL or message of a case, with
// the exposure its last capture carries and every hit that matched it.
type TriageItem struct {
	CaseItem
	Target      string
	CaseState   CaseState
	SourceID    uint64
	SourceName  string
	Refs        int64 // distinct reference files the last capture matched
	Patients    int64 // distinct patients those concern
	CaptureKind CaptureKind
	ContentType string      // sniffed, else declared
	Hits        []HitDetail `gorm:"-"`
}

// Cursor is the keyset position of the item for sort.
func (t TriageItem) Cursor(sort TriageSort) string {
	if sort == TriageNewest {
		return strconv.FormatUint(t.ID, 10)
	}
	return fmt.Sprintf("%d.%d.%d", t.Patients, t.Refs, t.ID)
}

// TriagePage is one page of the queue.
type TriagePage struct {
	Items []TriageItem
	Total int64  // items matching the filter, on every page
	Next  string // cursor of the next page; "" on the last
}

// triageBase is case items joined with their case and last capture, filtered.
func (s *Store) triageBase(ctx context.Context, f TriageFilter) *gorm.DB {
	state := f.State
	if state == "" {
		state = ItemNew
	}
	q := s.ctx(ctx).Table("case_items").
		Joins("JOIN cases ON cases.id = case_items.case_id").
		Joins("LEFT JOIN captures ON captures.id = case_items.last_capture_id").
		Where("case_items.state = ?", state)
	if f.SourceID != 0 {
		q = q.Where("captures.source_id = ?", f.SourceID)
	}
	if f.Method != "" {
		q = q.Where("EXISTS (SELECT 1 FROM hits WHERE hits.item_id = case_items.id AND hits.method = ?)", f.Method)
	}
	if f.Target != "" {
		q = q.Where("cases.target = ?", f.Target)
	}
	if f.CaseID != 0 {
		q = q.Where("case_items.case_id = ?", f.CaseID)
	}
	return q
}

// ErrBadCursor is a triage cursor that is not one this store made.
var ErrBadCursor = fmt.Errorf("bad page cursor")

// TriageQueue returns one page of case items awaiting triage (or in
// f.State), with their hits, and how many match in all. Paging is by
// keyset, so a page is stable while items are triaged away.
func (s *Store) TriageQueue(ctx context.Context, f TriageFilter) (TriagePage, error) {
	var out TriagePage
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 500)
	if f.Sort != TriageNewest {
		f.Sort = TriageExposure
	}
	if err := s.triageBase(ctx, f).Count(&out.Total).Error; err != nil {
		return out, fmt.Errorf("count triage queue: %w", err)
	}
	q := s.triageBase(ctx, f).Select(`case_items.*, cases.target AS target, cases.state AS case_state,
		COALESCE(captures.source_id, 0) AS source_id, COALESCE(sources.name, '') AS source_name,
		COALESCE(captures.refs, 0) AS refs, COALESCE(captures.patients, 0) AS patients,
		COALESCE(captures.kind, '') AS capture_kind,
		COALESCE(NULLIF(captures.sniffed_type, ''), captures.content_type, '') AS content_type`).
		Joins("LEFT JOIN sources ON sources.id = captures.source_id")
	if f.Sort == TriageNewest {
		q = q.Order("case_items.id DESC")
	} else {
		q = q.Order("COALESCE(captures.patients, 0) DESC, COALESCE(captures.refs, 0) DESC, case_items.id DESC")
	}
	if f.After != "" {
		var err error
		if q, err = afterCursor(q, f.Sort, f.After); err != nil {
			return out, err
		}
	}
	var rows []TriageItem
	if err := q.Limit(f.Limit + 1).Scan(&rows).Error; err != nil {
		return out, fmt.Errorf("triage queue: %w", err)
	}
	if len(rows) > f.Limit {
		rows = rows[:f.Limit]
		out.Next = rows[len(rows)-1].Cursor(f.Sort)
	}
	if len(rows) == 0 {
		return out, nil
	}
	ids := make([]uint64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	var hits []HitDetail
	if err := s.hitDetails().WithContext(ctx).Where("hits.item_id IN ?", ids).Order("hits.id").Scan(&hits).Error; err != nil {
		return out, fmt.Errorf("hits of triage items: %w", err)
	}
	byItem := map[uint64][]HitDetail{}
	for _, h := range hits {
		byItem[h.ItemID] = append(byItem[h.ItemID], h)
	}
	for i := range rows {
		rows[i].Hits = byItem[rows[i].ID]
	}
	out.Items = rows
	return out, nil
}

// afterCursor narrows q to the items after cursor c in sort order. The
// comparison is spelt out rather than a row-value comparison so both
// dialects plan it the same way.
func afterCursor(q *gorm.DB, sort TriageSort, c string) (*gorm.DB, error) {
	parts := strings.Split(c, ".")
	nums := make([]int64, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w: %q", ErrBadCursor, c)
		}
		nums[i] = n
	}
	if sort == TriageNewest {
		if len(nums) != 1 {
			return nil, fmt.Errorf("%w: %q", ErrBadCursor, c)
		}
		return q.Where("case_items.id < ?", nums[0]), nil
	}
	if len(nums) != 3 {
		return nil, fmt.Errorf("%w: %q", ErrBadCursor, c)
	}
	p, r, id := nums[0], nums[1], nums[2]
	const pe, re = "COALESCE(captures.patients, 0)", "COALESCE(captures.refs, 0)"
	return q.Where("("+pe+" < ?) OR ("+pe+" = ? AND "+re+" < ?) OR ("+pe+" = ? AND "+re+" = ? AND case_items.id < ?)",
		p, p, r, p, r, id), nil
}

// ItemCounts counts case items by state (every state present).
func (s *Store) ItemCounts(ctx context.Context) (map[ItemState]int64, error) {
	var rows []struct {
		State ItemState
		N     int64
	}
	if err := s.ctx(ctx).Model(&CaseItem{}).Select("state, COUNT(*) AS n").Group("state").Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("count items by state: %w", err)
	}
	out := map[ItemState]int64{ItemNew: 0, ItemConfirmed: 0, ItemDismissed: 0, ItemRemoved: 0}
	for _, r := range rows {
		out[r.State] = r.N
	}
	return out, nil
}

// HitMethods lists the match methods that occur in hits, sorted.
func (s *Store) HitMethods(ctx context.Context) ([]string, error) {
	var out []string
	if err := s.ctx(ctx).Model(&Hit{}).Distinct("method").Order("method").Pluck("method", &out).Error; err != nil {
		return nil, fmt.Errorf("hit methods: %w", err)
	}
	return out, nil
}
