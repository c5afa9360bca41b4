package storage

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// Page asks for one page of a list that runs newest first (by id): at most
// Limit rows with an id below Before (0: start at the newest).
type Page struct {
	Limit  int
	Before uint64
}

// apply adds the keyset condition on column and fetches one row more than
// asked for, so nextAfter can tell whether another page follows.
func (p Page) apply(q *gorm.DB, column string) *gorm.DB {
	if p.Before > 0 {
		q = q.Where(column+" < ?", p.Before)
	}
	return q.Order(column + " DESC").Limit(p.Limit + 1)
}

// trimPage cuts rows to the page and returns the cursor of the next page:
// the last row's id, or 0 when this is the last page.
func trimPage[T any](p Page, rows []T, id func(T) uint64) ([]T, uint64) {
	if len(rows) <= p.Limit {
		return rows, 0
	}
	rows = rows[:p.Limit]
	return rows, id(rows[len(rows)-1])
}

// HitStatePending is the state of a hit whose case has not taken it in yet:
// it belongs to no item.
const HitStatePending = "pending"

// HitFilter narrows a hit list; zero fields match everything.
type HitFilter struct {
	// State is an ItemState of the hit's item, or HitStatePending.
	State    string
	Method   string
	SourceID uint64
	Target   string
	CaseID   uint64
}

// HitRow is a hit with its evidence, source, and its item's case and state.
type HitRow struct {
	HitDetail
	SourceID uint64
	CaseID   uint64 // 0: not in a case yet
	State    string // the item's ItemState, or HitStatePending
}

// ListHits returns one page of hits, newest first.
func (s *Store) ListHits(ctx context.Context, f HitFilter, p Page) ([]HitRow, uint64, error) {
	q := s.hitDetails().WithContext(ctx).
		Select(`hits.*, captures.url AS url, captures.fetched_at AS fetched_at,
			captures.sha256 AS capture_sha256, captures.size AS capture_size,
			COALESCE("references".opaque_id, '') AS ref_opaque_id, COALESCE("references".name, '') AS ref_name,
			captures.source_id AS source_id, COALESCE(case_items.case_id, 0) AS case_id,
			COALESCE(case_items.state, ?) AS state`, HitStatePending).
		Joins(`LEFT JOIN case_items ON case_items.id = hits.item_id`)
	switch f.State {
	case "":
	case HitStatePending:
		q = q.Where("case_items.id IS NULL")
	default:
		q = q.Where("case_items.state = ?", f.State)
	}
	if f.Method != "" {
		q = q.Where("hits.method = ?", f.Method)
	}
	if f.SourceID != 0 {
		q = q.Where("captures.source_id = ?", f.SourceID)
	}
	if f.Target != "" {
		q = q.Where("hits.target = ?", f.Target)
	}
	if f.CaseID != 0 {
		q = q.Where("case_items.case_id = ?", f.CaseID)
	}
	var rows []HitRow
	if err := p.apply(q, "hits.id").Scan(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("list hits: %w", err)
	}
	rows, next := trimPage(p, rows, func(h HitRow) uint64 { return h.ID })
	return rows, next, nil
}

// CaseFilter narrows a case list; zero fields match everything.
type CaseFilter struct {
	State  CaseState
	Target string // exact
	// Search matches targets containing it, case-insensitively.
	Search string
}

// ListCasesPage returns one page of cases, newest opened first.
func (s *Store) ListCasesPage(ctx context.Context, f CaseFilter, p Page) ([]Case, uint64, error) {
	q := s.ctx(ctx).Model(&Case{})
	if f.State != "" {
		q = q.Where("state = ?", f.State)
	}
	if f.Target != "" {
		q = q.Where("target = ?", f.Target)
	}
	if f.Search != "" {
		q = q.Where(`LOWER(target) LIKE ? ESCAPE '\'`, "%"+likeEscape(strings.ToLower(f.Search))+"%")
	}
	var rows []Case
	if err := p.apply(q, "id").Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("list cases: %w", err)
	}
	rows, next := trimPage(p, rows, func(c Case) uint64 { return c.ID })
	return rows, next, nil
}

// likeEscape makes s match literally inside a LIKE pattern (ESCAPE '\').
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// CaptureFilter narrows a capture list; zero fields match everything.
type CaptureFilter struct {
	SourceID uint64
	RunID    uint64
}

// ListCapturesPage returns one page of captures, newest first.
func (s *Store) ListCapturesPage(ctx context.Context, f CaptureFilter, p Page) ([]Capture, uint64, error) {
	q := s.ctx(ctx).Model(&Capture{})
	if f.SourceID != 0 {
		q = q.Where("source_id = ?", f.SourceID)
	}
	if f.RunID != 0 {
		q = q.Where("run_id = ?", f.RunID)
	}
	var rows []Capture
	if err := p.apply(q, "id").Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("list captures: %w", err)
	}
	rows, next := trimPage(p, rows, func(c Capture) uint64 { return c.ID })
	return rows, next, nil
}

// SourceFilter narrows a source list; zero fields match everything.
type SourceFilter struct {
	Kind SourceKind
}

// ListSourcesPage returns one page of sources, newest first.
func (s *Store) ListSourcesPage(ctx context.Context, f SourceFilter, p Page) ([]Source, uint64, error) {
	q := s.ctx(ctx).Model(&Source{})
	if f.Kind != "" {
		q = q.Where("kind = ?", f.Kind)
	}
	var rows []Source
	if err := p.apply(q, "id").Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("list sources: %w", err)
	}
	rows, next := trimPage(p, rows, func(s Source) uint64 { return s.ID })
	return rows, next, nil
}
