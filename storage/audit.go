package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"
)

// genesisHash is the PrevHash of the first audit event.
const genesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// Audit appends an event to the hash-chained audit log. Detail must not hold
// document content or personal data.
func (s *Store) Audit(ctx context.Context, actor, action, object, detail string) error {
	err := s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		if s.dialect == DialectPostgres {
			// Serialise appends so two writers never chain onto the same parent.
			if err := tx.Exec(`SELECT pg_advisory_xact_lock(7106518)`).Error; err != nil {
				return err
			}
		}
		var last AuditEvent
		res := tx.Order("id DESC").Limit(1).Find(&last)
		if res.Error != nil {
			return res.Error
		}
		prev := genesisHash
		if res.RowsAffected == 1 {
			prev = last.Hash
		}
		ev := AuditEvent{At: time.Now().UTC().Truncate(time.Microsecond), Actor: actor, Action: action,
			Object: object, Detail: detail, PrevHash: prev}
		ev.Hash = ev.chainHash()
		return tx.Create(&ev).Error
	})
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// chainHash covers every field and the previous hash, so editing or removing
// any event breaks the chain from that point on.
func (e AuditEvent) chainHash() string {
	h := sha256.New()
	for _, f := range []string{e.PrevHash, strconv.FormatInt(e.At.UnixMicro(), 10), e.Actor, e.Action, e.Object, e.Detail} {
		fmt.Fprintf(h, "%d:%s|", len(f), f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// AuditEvents returns the newest events first.
func (s *Store) AuditEvents(ctx context.Context, limit int) ([]AuditEvent, error) {
	var out []AuditEvent
	if err := s.ctx(ctx).Order("id DESC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("audit events: %w", err)
	}
	return out, nil
}

// VerifyAudit walks the whole chain and reports the first broken link.
func (s *Store) VerifyAudit(ctx context.Context) (events int, err error) {
	prev := genesisHash
	var batch []AuditEvent
	res := s.ctx(ctx).Order("id").FindInBatches(&batch, 500, func(tx *gorm.DB, _ int) error {
		for _, e := range batch {
			if e.PrevHash != prev || e.chainHash() != e.Hash {
				return fmt.Errorf("audit event %d does not chain (edited, removed or reordered)", e.ID)
			}
			prev = e.Hash
			events++
		}
		return nil
	})
	if res.Error != nil {
		return events, fmt.Errorf("verify audit log: %w", res.Error)
	}
	return events, nil
}

// AuditFilter selects audit events; zero fields match everything.
type AuditFilter struct {
	Actor        string    // exact
	ActionPrefix string    // e.g. "login." or "user."
	Object       string    // exact, e.g. "user/lena" or "case/12"
	From, To     time.Time // At >= From, At < To
	BeforeID     uint64    // paging: only events older than this id
	Limit        int       // at most this many; 0 means 100
}

// where adds f's conditions (all but paging) to q.
func (f AuditFilter) where(q *gorm.DB) *gorm.DB {
	if f.Actor != "" {
		q = q.Where("actor = ?", f.Actor)
	}
	if f.ActionPrefix != "" {
		// Prefix compare, not LIKE: an action can hold no wildcard to escape.
		q = q.Where("substr(action, 1, ?) = ?", len(f.ActionPrefix), f.ActionPrefix)
	}
	if f.Object != "" {
		q = q.Where("object = ?", f.Object)
	}
	// Stored times are UTC; SQLite compares them as text.
	if !f.From.IsZero() {
		q = q.Where("at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("at < ?", f.To.UTC())
	}
	return q
}

// QueryAudit returns the events matching f, newest first.
func (s *Store) QueryAudit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	q := f.where(s.ctx(ctx).Model(&AuditEvent{}))
	if f.BeforeID > 0 {
		q = q.Where("id < ?", f.BeforeID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []AuditEvent
	if err := q.Order("id DESC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("query audit log: %w", err)
	}
	return out, nil
}
