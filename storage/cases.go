package storage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// EnsureCase returns the case for target, creating it in state detected.
func (s *Store) EnsureCase(ctx context.Context, target, workflowID string) (Case, error) {
	now := time.Now().UTC()
	c := Case{Target: target, WorkflowID: workflowID, State: CaseDetected, OpenedAt: now, UpdatedAt: now}
	if err := s.ctx(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&c).Error; err != nil {
		return Case{}, fmt.Errorf("ensure case for %s: %w", target, err)
	}
	if err := s.ctx(ctx).Where("target = ?", target).First(&c).Error; err != nil {
		return Case{}, fmt.Errorf("load case for %s: %w", target, err)
	}
	return c, nil
}

// CaseByID finds a case.
func (s *Store) CaseByID(ctx context.Context, id uint64) (Case, error) {
	var c Case
	if err := s.ctx(ctx).First(&c, id).Error; err != nil {
		return Case{}, notFound(err, fmt.Sprintf("case %d", id))
	}
	return c, nil
}

// CaseByRef finds a case by id ("12"), target host ("leaks.example") or workflow id.
func (s *Store) CaseByRef(ctx context.Context, ref string) (Case, error) {
	if id, err := strconv.ParseUint(strings.TrimPrefix(ref, "#"), 10, 64); err == nil {
		return s.CaseByID(ctx, id)
	}
	var c Case
	err := s.ctx(ctx).Where("target = ? OR workflow_id = ?", ref, ref).First(&c).Error
	if err != nil {
		return Case{}, notFound(err, fmt.Sprintf("case %q", ref))
	}
	return c, nil
}

// ListCases returns cases, most recently updated first.
func (s *Store) ListCases(ctx context.Context) ([]Case, error) {
	var out []Case
	if err := s.ctx(ctx).Order("updated_at DESC, id DESC").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list cases: %w", err)
	}
	return out, nil
}

// SetCaseState records the workflow's current state of a case.
func (s *Store) SetCaseState(ctx context.Context, id uint64, state CaseState, recipient string) error {
	upd := map[string]any{"state": state, "updated_at": time.Now().UTC()}
	if recipient != "" {
		upd["recipient"] = recipient
	}
	if state == CaseClosed {
		upd["closed_at"] = time.Now().UTC()
	} else {
		upd["closed_at"] = nil
	}
	if err := s.ctx(ctx).Model(&Case{}).Where("id = ?", id).Updates(upd).Error; err != nil {
		return fmt.Errorf("set case %d state: %w", id, err)
	}
	return nil
}

// CreateNoticeDraft stores a new revision of a case's notice and supersedes
// older unsent drafts. Drafting the same revision twice (a retried activity)
// returns the existing row.
func (s *Store) CreateNoticeDraft(ctx context.Context, n *Notice) (created bool, err error) {
	err = s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		var existing Notice
		res := tx.Where("case_id = ? AND revision = ?", n.CaseID, n.Revision).Limit(1).Find(&existing)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 1 {
			*n = existing
			return nil
		}
		if err := tx.Model(&Notice{}).
			Where("case_id = ? AND state IN ?", n.CaseID, []NoticeState{NoticeDraft, NoticeApproved}).
			Update("state", NoticeSuperseded).Error; err != nil {
			return err
		}
		n.State = NoticeDraft
		if n.DraftedAt.IsZero() {
			n.DraftedAt = time.Now().UTC()
		}
		if err := tx.Create(n).Error; err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("create notice draft for case %d: %w", n.CaseID, err)
	}
	return created, nil
}

// NoticeByID finds a notice.
func (s *Store) NoticeByID(ctx context.Context, id uint64) (Notice, error) {
	var n Notice
	if err := s.ctx(ctx).First(&n, id).Error; err != nil {
		return Notice{}, notFound(err, fmt.Sprintf("notice %d", id))
	}
	return n, nil
}

// NoticesForCase returns a case's notices, newest revision first.
func (s *Store) NoticesForCase(ctx context.Context, caseID uint64) ([]Notice, error) {
	var out []Notice
	if err := s.ctx(ctx).Where("case_id = ?", caseID).Order("revision DESC").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("notices for case %d: %w", caseID, err)
	}
	return out, nil
}

// ApproveNotice records who approved a draft. Approving an already approved or
// sent notice by the same person is a no-op, so a retried activity is safe.
func (s *Store) ApproveNotice(ctx context.Context, id uint64, by string) error {
	now := time.Now().UTC()
	res := s.ctx(ctx).Model(&Notice{}).Where("id = ? AND state = ?", id, NoticeDraft).
		Updates(map[string]any{"state": NoticeApproved, "approved_by": by, "approved_at": now})
	if res.Error != nil {
		return fmt.Errorf("approve notice %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		n, err := s.NoticeByID(ctx, id)
		if err != nil {
			return err
		}
		switch n.State {
		case NoticeApproved, NoticeSending, NoticeSent:
			if n.ApprovedBy == by {
				return nil
			}
		}
		// A superseded notice may carry an approver too, but it will never
		// be sent: approving it must not look like success.
		return fmt.Errorf("approve notice %d: notice is %s", id, n.State)
	}
	return nil
}

// ErrAlreadySent means the notice went out before; callers must not send again.
var ErrAlreadySent = errors.New("notice already sent")

// BeginSend claims a notice for sending and counts the attempt. It returns
// ErrAlreadySent if a previous attempt completed, which makes the send activity
// idempotent across retries and worker crashes.
func (s *Store) BeginSend(ctx context.Context, id uint64) (Notice, error) {
	var n Notice
	err := s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.First(&n, id).Error; err != nil {
			return notFound(err, fmt.Sprintf("notice %d", id))
		}
		switch n.State {
		case NoticeSent:
			return ErrAlreadySent
		case NoticeApproved, NoticeSending:
		default:
			return fmt.Errorf("notice %d is %s, not approved", id, n.State)
		}
		n.State = NoticeSending
		n.Attempts++
		return tx.Model(&Notice{}).Where("id = ?", id).
			Updates(map[string]any{"state": NoticeSending, "attempts": n.Attempts}).Error
	})
	if err != nil {
		return n, fmt.Errorf("begin send: %w", err)
	}
	return n, nil
}

// MarkSent records a successful send.
func (s *Store) MarkSent(ctx context.Context, id uint64, at time.Time) error {
	err := s.ctx(ctx).Model(&Notice{}).Where("id = ?", id).
		Updates(map[string]any{"state": NoticeSent, "sent_at": at.UTC(), "last_error": ""}).Error
	if err != nil {
		return fmt.Errorf("mark notice %d sent: %w", id, err)
	}
	return nil
}

// MarkSendFailed records why an attempt failed; the notice stays claimable.
func (s *Store) MarkSendFailed(ctx context.Context, id uint64, reason string) error {
	err := s.ctx(ctx).Model(&Notice{}).Where("id = ? AND state <> ?", id, NoticeSent).
		Update("last_error", reason).Error
	if err != nil {
		return fmt.Errorf("mark notice %d failed: %w", id, err)
	}
	return nil
}
