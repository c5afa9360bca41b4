package storage

import (
	"context"
	"fmt"
	"time"
)

// AuditFilter narrows the audit log; zero fields match everything.
type AuditFilter struct {
	Actor  string
	Action string
	Since  time.Time // inclusive
	Until  time.Time // exclusive
}

// AuditEventsPage returns one page of audit events, newest first.
func (s *Store) AuditEventsPage(ctx context.Context, f AuditFilter, p Page) ([]AuditEvent, uint64, error) {
	q := s.ctx(ctx).Model(&AuditEvent{})
	if f.Actor != "" {
		q = q.Where("actor = ?", f.Actor)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	// Stored times are UTC; SQLite compares them as text.
	if !f.Since.IsZero() {
		q = q.Where("at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q = q.Where("at < ?", f.Until.UTC())
	}
	var rows []AuditEvent
	if err := p.apply(q, "id").Find(&rows).Error; err != nil {
		return nil, 0, fmt.Errorf("audit events: %w", err)
	}
	rows, next := trimPage(p, rows, func(e AuditEvent) uint64 { return e.ID })
	return rows, next, nil
}
