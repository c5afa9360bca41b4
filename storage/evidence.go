package storage

import (
	"context"
	"fmt"
)

// CapturesForCase returns the captures behind a case's hits: every capture
// that has a hit about the case's target, once, ordered by crawl run and
// then capture id (capture order within a run, as its seal uses).
func (s *Store) CapturesForCase(ctx context.Context, caseID uint64) ([]Capture, error) {
	c, err := s.CaseByID(ctx, caseID)
	if err != nil {
		return nil, err
	}
	hit := s.ctx(ctx).Model(&Hit{}).Select("capture_id").Where("target = ?", c.Target)
	out := []Capture{}
	if err := s.ctx(ctx).Where("id IN (?)", hit).Order("run_id, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("captures of case %d: %w", caseID, err)
	}
	return out, nil
}
