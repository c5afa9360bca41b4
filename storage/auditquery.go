package storage

import (
	"context"
	"fmt"
)

// AuditEventsPage returns one page of the audit events matching f (its
// BeforeID and Limit aside: p pages), newest first, and the cursor of the
// next page (0: none).
func (s *Store) AuditEventsPage(ctx context.Context, f AuditFilter, p Page) ([]AuditEvent, uint64, error) {
	var rows []AuditEvent
	if err := p.apply(f.where(s.ctx(ctx).Model(&AuditEvent{})), "id").Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("audit events: %w", err)
	}
	rows, next := trimPage(p, rows, func(e AuditEvent) uint64 { return e.ID })
	return rows, next, nil
}
