package storage

import (
	"context"
	"fmt"
)

// AuditEventsFor returns the newest limit audit events about object
// ("case/12"), oldest first.
func (s *Store) AuditEventsFor(ctx context.Context, object string, limit int) ([]AuditEvent, error) {
	var out []AuditEvent
	if err := s.ctx(ctx).Where("object = ?", object).Order("id DESC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("audit events of %s: %w", object, err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}
