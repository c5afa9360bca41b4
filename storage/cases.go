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
	err := s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&c)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		return appendEvent(tx, EventCaseState, c.ID, CaseStateEvent{CaseID: c.ID, Target: target, To: CaseDetected})
	})
	if err != nil {
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
	err := s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		var c Case
		// Locked, so two concurrent changes announce from-states that chain.
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Select("id", "target", "state").First(&c, id).Error; err != nil {
			return notFound(err, fmt.Sprintf("case %d", id))
		}
		if err := tx.Model(&Case{}).Where("id = ?", id).Updates(upd).Error; err != nil {
			return err
		}
		if c.State == state { // a retried activity: nothing changed
			return nil
		}
		return appendEvent(tx, EventCaseState, id, CaseStateEvent{CaseID: id, Target: c.Target, From: c.State, To: state})
	})
	if err != nil {
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
			Where("case_id = ? AND state IN ?", n.CaseID, []NoticeState{NoticeDraft, NoticeChangesRequested, NoticeApproved}).
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
	res := s.ctx(ctx).Model(&Notice{}).Where("id = ? AND state IN ?", id, []NoticeState{NoticeDraft, NoticeRefused}).
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

// ErrUncertain means an earlier attempt began DATA and never heard the
// relay's final reply: the notice may have been delivered, so it must not
// be sent again until a person resolves it.
var ErrUncertain = errors.New("notice may have been delivered")

// BeginSend claims a notice for sending and counts the attempt. It returns
// ErrAlreadySent if a previous attempt completed, and ErrUncertain if one
// got as far as DATA (its process died or the relay went silent), which
// makes the send activity idempotent across retries and worker crashes.
func (s *Store) BeginSend(ctx context.Context, id uint64) (Notice, error) {
	var n Notice
	err := s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.First(&n, id).Error; err != nil {
			return notFound(err, fmt.Sprintf("notice %d", id))
		}
		switch n.State {
		case NoticeSent:
			return ErrAlreadySent
		case NoticeUncertain:
			return ErrUncertain
		case NoticeSending:
			if n.DataStartedAt != nil {
				// The attempt that began DATA died before recording its
				// outcome: record what is known (below, as returning an
				// error rolls this transaction back).
				return ErrUncertain
			}
		case NoticeApproved:
		default:
			return fmt.Errorf("notice %d is %s, not approved", id, n.State)
		}
		n.State = NoticeSending
		n.Attempts++
		return tx.Model(&Notice{}).Where("id = ?", id).
			Updates(map[string]any{"state": NoticeSending, "attempts": n.Attempts}).Error
	})
	if errors.Is(err, ErrUncertain) && n.State == NoticeSending {
		if uerr := s.MarkUncertain(ctx, id, "an attempt began DATA and did not record its outcome (its process died)"); uerr != nil {
			return n, errors.Join(err, uerr)
		}
		n.State = NoticeUncertain
	}
	if err != nil {
		return n, fmt.Errorf("begin send: %w", err)
	}
	return n, nil
}

// MarkDataStarted records, durably and before the DATA command, that this
// attempt is about to transmit the message.
func (s *Store) MarkDataStarted(ctx context.Context, id uint64, at time.Time) error {
	res := s.ctx(ctx).Model(&Notice{}).Where("id = ? AND state = ?", id, NoticeSending).Update("data_started_at", at.UTC())
	if res.Error != nil {
		return fmt.Errorf("mark notice %d transmitting: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("mark notice %d transmitting: it is no longer being sent", id)
	}
	return nil
}

// MarkUncertain records that the notice may have been delivered.
func (s *Store) MarkUncertain(ctx context.Context, id uint64, reason string) error {
	err := s.ctx(ctx).Model(&Notice{}).Where("id = ? AND state = ?", id, NoticeSending).
		Updates(map[string]any{"state": NoticeUncertain, "last_error": reason}).Error
	if err != nil {
		return fmt.Errorf("mark notice %d uncertain: %w", id, err)
	}
	return nil
}

// ResolveUncertain settles an uncertain notice on a person's word: delivered
// (the recipient confirmed, or the relay's log shows it) makes it sent;
// not delivered makes it approved again, to be re-sent with the same
// Message-ID.
func (s *Store) ResolveUncertain(ctx context.Context, id uint64, delivered bool, at time.Time) error {
	upd := map[string]any{"state": NoticeApproved, "data_started_at": nil}
	if delivered {
		upd = map[string]any{"state": NoticeSent, "sent_at": at.UTC(), "relay_response": "confirmed delivered by a person"}
	}
	res := s.ctx(ctx).Model(&Notice{}).Where("id = ? AND state = ?", id, NoticeUncertain).Updates(upd)
	if res.Error != nil {
		return fmt.Errorf("resolve notice %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("resolve notice %d: it is not uncertain", id)
	}
	return nil
}

// RequestChanges sends a draft back to drafting with a lawyer's comment.
func (s *Store) RequestChanges(ctx context.Context, id uint64, comment string) error {
	res := s.ctx(ctx).Model(&Notice{}).Where("id = ? AND state = ?", id, NoticeDraft).
		Updates(map[string]any{"state": NoticeChangesRequested, "comment": comment})
	if res.Error != nil {
		return fmt.Errorf("request changes to notice %d: %w", id, res.Error)
	}
	return nil
}

// NextReference returns the reference number for a new letter of a case.
func (s *Store) NextReference(ctx context.Context, caseID uint64) (string, error) {
	var n int64
	if err := s.ctx(ctx).Model(&Notice{}).Where("case_id = ?", caseID).Distinct("reference").Count(&n).Error; err != nil {
		return "", fmt.Errorf("next reference of case %d: %w", caseID, err)
	}
	return fmt.Sprintf("LW-%d-%d", caseID, n+1), nil
}

// CountSent counts notices of a kind already sent to a recipient, across
// all cases: the next one is number CountSent+1.
func (s *Store) CountSent(ctx context.Context, recipient string, kind NoticeKind) (int, error) {
	var n int64
	err := s.ctx(ctx).Model(&Notice{}).Where("recipient = ? AND kind = ? AND state = ?", recipient, kind, NoticeSent).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count notices sent to %s: %w", recipient, err)
	}
	return int(n), nil
}

// MarkSent records a successful send: when, what the relay answered, and
// the SHA-256 of the message as sent (the frozen text).
func (s *Store) MarkSent(ctx context.Context, id uint64, at time.Time, response, bodySHA256 string) error {
	err := s.ctx(ctx).Model(&Notice{}).Where("id = ?", id).
		Updates(map[string]any{"state": NoticeSent, "sent_at": at.UTC(), "last_error": "",
			"relay_response": response, "body_sha256": bodySHA256}).Error
	if err != nil {
		return fmt.Errorf("mark notice %d sent: %w", id, err)
	}
	return nil
}

// MarkRefused records a permanent refusal: the notice waits for a new approval.
func (s *Store) MarkRefused(ctx context.Context, id uint64, reason string) error {
	err := s.ctx(ctx).Model(&Notice{}).Where("id = ? AND state = ?", id, NoticeSending).
		Updates(map[string]any{"state": NoticeRefused, "last_error": reason, "data_started_at": nil}).Error
	if err != nil {
		return fmt.Errorf("mark notice %d refused: %w", id, err)
	}
	return nil
}

// MarkSendFailed records why an attempt failed when the relay's answer
// says the message was not delivered (a 4xx, or a failure before the end
// of DATA); the notice stays claimable, and its DATA mark is cleared so
// the retry is not mistaken for one that may have been delivered.
func (s *Store) MarkSendFailed(ctx context.Context, id uint64, reason string) error {
	err := s.ctx(ctx).Model(&Notice{}).Where("id = ? AND state <> ?", id, NoticeSent).
		Updates(map[string]any{"last_error": reason, "data_started_at": nil}).Error
	if err != nil {
		return fmt.Errorf("mark notice %d failed: %w", id, err)
	}
	return nil
}
