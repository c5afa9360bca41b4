package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Webhook event kinds.
const (
	// EventItemNew: a batch of hits created new items in a case (or
	// removed ones reappeared).
	EventItemNew = "item.new"
	// EventCaseState: a case was opened or changed state.
	EventCaseState = "case.state"
)

// EventKinds lists every kind, for configuration checks.
var EventKinds = []string{EventItemNew, EventCaseState}

// WebhookEvent is one row of the outbox webhooks deliver from. Payload is
// JSON holding ids, states and counts only: never document content,
// reference names or personal data.
type WebhookEvent struct {
	ID        uint64 `gorm:"primaryKey"`
	Kind      string `gorm:"not null"`
	CaseID    uint64 `gorm:"not null;default:0"`
	Payload   string `gorm:"not null"`
	CreatedAt time.Time
}

// ItemsEvent is the payload of an item.new event.
type ItemsEvent struct {
	CaseID     uint64   `json:"case_id"`
	Target     string   `json:"target"`
	NewItems   []uint64 `json:"new_items"`
	Reappeared []uint64 `json:"reappeared_items"`
	Hits       int      `json:"hits"` // hits in the batch
}

// CaseStateEvent is the payload of a case.state event. From is empty when
// the case was just opened.
type CaseStateEvent struct {
	CaseID uint64    `json:"case_id"`
	Target string    `json:"target"`
	From   CaseState `json:"from"`
	To     CaseState `json:"to"`
}

// appendEvent adds an event to the outbox inside tx, the transaction that
// makes the change it announces.
func appendEvent(tx *gorm.DB, kind string, caseID uint64, payload any) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("encode %s event: %w", kind, err)
	}
	if tx.Dialector.Name() == DialectPostgres {
		// Ids must become visible in order: readers follow a cursor, and an
		// id committed after a higher one would be skipped. Held to commit,
		// the lock makes appenders take ids and commit one at a time
		// (SQLite's single writer does that already).
		if err := tx.Exec(`SELECT pg_advisory_xact_lock(7106520)`).Error; err != nil {
			return fmt.Errorf("append %s event: lock: %w", kind, err)
		}
	}
	ev := WebhookEvent{Kind: kind, CaseID: caseID, Payload: string(b), CreatedAt: time.Now().UTC()}
	if err := tx.Create(&ev).Error; err != nil {
		return fmt.Errorf("append %s event: %w", kind, err)
	}
	return nil
}

// WebhookEventsAfter returns up to limit events with ids above after, oldest
// first.
func (s *Store) WebhookEventsAfter(ctx context.Context, after uint64, limit int) ([]WebhookEvent, error) {
	var out []WebhookEvent
	if err := s.ctx(ctx).Where("id > ?", after).Order("id").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("webhook events after %d: %w", after, err)
	}
	return out, nil
}

// LastWebhookEventID is the newest event's id, 0 when there is none.
func (s *Store) LastWebhookEventID(ctx context.Context) (uint64, error) {
	var id uint64
	if err := s.ctx(ctx).Model(&WebhookEvent{}).Select("COALESCE(MAX(id), 0)").Scan(&id).Error; err != nil {
		return 0, fmt.Errorf("last webhook event: %w", err)
	}
	return id, nil
}

// WebhookCursor is how far one endpoint got and when to try it again.
type WebhookCursor struct {
	Endpoint      string `gorm:"primaryKey"`
	LastEventID   uint64 `gorm:"not null;default:0"`
	Attempts      int    `gorm:"not null;default:0"` // failed attempts at the next event
	NextAttemptAt *time.Time
	LastError     string `gorm:"not null;default:''"`
	UpdatedAt     time.Time
}

// WebhookCursor returns endpoint's cursor, creating it at start (the
// newest event when the endpoint was first seen, so a new endpoint does not
// receive the whole history).
func (s *Store) WebhookCursor(ctx context.Context, endpoint string, start uint64) (WebhookCursor, error) {
	c := WebhookCursor{Endpoint: endpoint, LastEventID: start, UpdatedAt: time.Now().UTC()}
	err := s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&c).Error; err != nil {
			return err
		}
		return tx.Where("endpoint = ?", endpoint).First(&c).Error
	})
	if err != nil {
		return WebhookCursor{}, fmt.Errorf("webhook cursor of %s: %w", endpoint, err)
	}
	return c, nil
}

// AdvanceWebhookCursor records that endpoint has all events up to eventID
// and clears its retry state. It never moves a cursor back.
func (s *Store) AdvanceWebhookCursor(ctx context.Context, endpoint string, eventID uint64) error {
	err := s.ctx(ctx).Model(&WebhookCursor{}).Where("endpoint = ? AND last_event_id <= ?", endpoint, eventID).
		Updates(map[string]any{"last_event_id": eventID, "attempts": 0, "next_attempt_at": nil,
			"last_error": "", "updated_at": time.Now().UTC()}).Error
	if err != nil {
		return fmt.Errorf("advance webhook cursor of %s: %w", endpoint, err)
	}
	return nil
}

// WebhookFailed records a failed delivery attempt and when to retry.
func (s *Store) WebhookFailed(ctx context.Context, endpoint string, attempts int, next time.Time, reason string) error {
	err := s.ctx(ctx).Model(&WebhookCursor{}).Where("endpoint = ?", endpoint).
		Updates(map[string]any{"attempts": attempts, "next_attempt_at": next.UTC(), "last_error": reason,
			"updated_at": time.Now().UTC()}).Error
	if err != nil {
		return fmt.Errorf("record webhook failure of %s: %w", endpoint, err)
	}
	return nil
}

// webhookLease is the row naming the process that delivers webhooks.
type webhookLease struct {
	Name      string `gorm:"primaryKey"`
	Holder    string `gorm:"not null"`
	ExpiresAt time.Time
}

// AcquireWebhookLease takes or renews the delivery lease for holder until
// now+ttl, and reports whether holder has it. Another holder's lease is
// taken only once it has expired, so one process delivers at a time.
func (s *Store) AcquireWebhookLease(ctx context.Context, holder string, now time.Time, ttl time.Duration) (bool, error) {
	const name = "webhooks"
	until := now.Add(ttl).UTC()
	var got bool
	err := s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&webhookLease{}).Where("name = ? AND (holder = ? OR expires_at < ?)", name, holder, now.UTC()).
			Updates(map[string]any{"holder": holder, "expires_at": until})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 1 {
			got = true
			return nil
		}
		res = tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&webhookLease{Name: name, Holder: holder, ExpiresAt: until})
		if res.Error != nil {
			return res.Error
		}
		got = res.RowsAffected == 1
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("webhook lease: %w", err)
	}
	return got, nil
}

// ReleaseWebhookLease gives the lease up (at shutdown) so another process
// can take over without waiting for it to expire.
func (s *Store) ReleaseWebhookLease(ctx context.Context, holder string) error {
	err := s.ctx(ctx).Where("name = ? AND holder = ?", "webhooks", holder).Delete(&webhookLease{}).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("release webhook lease: %w", err)
	}
	return nil
}

// TableName keeps gorm's default plural for the lease rows.
func (webhookLease) TableName() string { return "webhook_leases" }

// appendItemsEvent announces a TakeHits batch that created or revived
// items; a batch that changed neither announces nothing.
func appendItemsEvent(tx *gorm.DB, caseID uint64, r TakeHitsResult, hits int) error {
	if len(r.New) == 0 && len(r.Reappeared) == 0 {
		return nil
	}
	var c Case
	if err := tx.Select("id", "target").First(&c, caseID).Error; err != nil {
		return notFound(err, fmt.Sprintf("case %d", caseID))
	}
	ev := ItemsEvent{CaseID: caseID, Target: c.Target, NewItems: r.New, Reappeared: r.Reappeared, Hits: hits}
	if ev.NewItems == nil {
		ev.NewItems = []uint64{}
	}
	if ev.Reappeared == nil {
		ev.Reappeared = []uint64{}
	}
	return appendEvent(tx, EventItemNew, caseID, ev)
}

// PruneWebhookEvents deletes events created before before: the outbox is a
// delivery queue, not an archive (the audit log and the case tables are
// the record).
func (s *Store) PruneWebhookEvents(ctx context.Context, before time.Time) (int64, error) {
	res := s.ctx(ctx).Where("created_at < ?", before.UTC()).Delete(&WebhookEvent{})
	if res.Error != nil {
		return 0, fmt.Errorf("prune webhook events: %w", res.Error)
	}
	return res.RowsAffected, nil
}
