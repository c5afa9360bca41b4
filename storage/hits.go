package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// AddHit records a match; the same capture/reference/method is recorded once.
func (s *Store) AddHit(ctx context.Context, h *Hit) (created bool, err error) {
	res := s.ctx(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(h)
	if res.Error != nil {
		return false, fmt.Errorf("add hit: %w", res.Error)
	}
	if res.RowsAffected == 1 {
		return true, nil
	}
	err = s.ctx(ctx).Where("capture_id = ? AND reference_id = ? AND method = ?", h.CaptureID, h.ReferenceID, h.Method).First(h).Error
	if err != nil {
		return false, fmt.Errorf("load existing hit: %w", err)
	}
	return false, nil
}

// HitDetail is a hit with the evidence a notice or the triage queue shows.
type HitDetail struct {
	Hit
	URL           string
	FetchedAt     time.Time
	CaptureSHA256 string
	CaptureSize   int64
	RefOpaqueID   string
	RefName       string
}

func (s *Store) hitDetails() *gorm.DB {
	return s.db.Table("hits").
		Select(`hits.*, captures.url AS url, captures.fetched_at AS fetched_at,
			captures.sha256 AS capture_sha256, captures.size AS capture_size,
			COALESCE("references".opaque_id, '') AS ref_opaque_id, COALESCE("references".name, '') AS ref_name`).
		Joins(`JOIN captures ON captures.id = hits.capture_id`).
		// Keyword hits have no reference.
		Joins(`LEFT JOIN "references" ON "references".id = hits.reference_id`)
}

// UndispatchedHits returns hits whose case workflow has not been signalled
// yet, except keyword hits, which never open a case on their own.
func (s *Store) UndispatchedHits(ctx context.Context, limit int) ([]HitDetail, error) {
	var out []HitDetail
	// Keyword hits are for analysts to triage: a post naming the breach is
	// no takedown by itself.
	err := s.hitDetails().WithContext(ctx).Where("hits.dispatched_at IS NULL AND hits.method <> ?", "keyword").
		Order("hits.id").Limit(limit).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("undispatched hits: %w", err)
	}
	return out, nil
}

// MarkDispatched records that the hits reached their case workflow.
func (s *Store) MarkDispatched(ctx context.Context, hitIDs []uint64) error {
	now := time.Now().UTC()
	err := s.ctx(ctx).Model(&Hit{}).Where("id IN ? AND dispatched_at IS NULL", hitIDs).
		Update("dispatched_at", now).Error
	if err != nil {
		return fmt.Errorf("mark %d hits dispatched: %w", len(hitIDs), err)
	}
	return nil
}

// HitDetailsByIDs returns the named hits in id order.
func (s *Store) HitDetailsByIDs(ctx context.Context, ids []uint64) ([]HitDetail, error) {
	var out []HitDetail
	if len(ids) == 0 {
		return out, nil
	}
	err := s.hitDetails().WithContext(ctx).Where("hits.id IN ?", ids).Order("hits.id").Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("hits by id: %w", err)
	}
	return out, nil
}

// HitsForTarget returns every hit about a host or channel, oldest first.
func (s *Store) HitsForTarget(ctx context.Context, target string) ([]HitDetail, error) {
	var out []HitDetail
	err := s.hitDetails().WithContext(ctx).Where("hits.target = ?", target).Order("hits.id").Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("hits for target: %w", err)
	}
	return out, nil
}

// RecentHits returns the newest hits for the triage queue.
func (s *Store) RecentHits(ctx context.Context, limit int) ([]HitDetail, error) {
	var out []HitDetail
	err := s.hitDetails().WithContext(ctx).Order("hits.id DESC").Limit(limit).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("recent hits: %w", err)
	}
	return out, nil
}

// Counts summarises the database for status lines and the demo.
type Counts struct {
	Refs        int64 `json:"refs"`
	Captures    int64 `json:"captures"`
	Hits        int64 `json:"hits"`
	Cases       int64 `json:"cases"`
	NoticesSent int64 `json:"notices_sent"`
}

// Count returns row counts.
func (s *Store) Count(ctx context.Context) (Counts, error) {
	var c Counts
	db := s.ctx(ctx)
	steps := []struct {
		model any
		where string
		dst   *int64
	}{
		{&Reference{}, "", &c.Refs},
		{&Capture{}, "", &c.Captures},
		{&Hit{}, "", &c.Hits},
		{&Case{}, "", &c.Cases},
		{&Notice{}, "sent_at IS NOT NULL", &c.NoticesSent},
	}
	for _, st := range steps {
		q := db.Model(st.model)
		if st.where != "" {
			q = q.Where(st.where)
		}
		if err := q.Count(st.dst).Error; err != nil {
			return Counts{}, fmt.Errorf("count: %w", err)
		}
	}
	return c, nil
}
