package storage

import (
	"context"
	"fmt"
	"time"
)

// HitBacklog is how many hits wait to be delivered to their case (see
// UndispatchedHits; keyword hits never are), and when the oldest was
// recorded (zero when none wait): the metrics' queue lag between matching
// and the case workflows.
func (s *Store) HitBacklog(ctx context.Context) (n int64, oldest time.Time, err error) {
	q := s.ctx(ctx).Model(&Hit{}).Where("dispatched_at IS NULL AND method <> ?", "keyword")
	if err := q.Count(&n).Error; err != nil {
		return 0, time.Time{}, fmt.Errorf("count undelivered hits: %w", err)
	}
	if n == 0 {
		return 0, time.Time{}, nil
	}
	var h Hit
	if err := s.ctx(ctx).Where("dispatched_at IS NULL AND method <> ?", "keyword").Order("id").
		Select("created_at").Take(&h).Error; err != nil {
		return 0, time.Time{}, fmt.Errorf("oldest undelivered hit: %w", err)
	}
	return n, h.CreatedAt, nil
}
