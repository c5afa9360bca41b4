package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// HoldScope is what a legal hold covers.
type HoldScope string

// Hold scopes: a case's evidence (every run one of its captures is in), a
// source's (every run of it), or one crawl run's.
const (
	HoldCase   HoldScope = "case"
	HoldSource HoldScope = "source"
	HoldRun    HoldScope = "run"
)

// Valid reports a known scope.
func (s HoldScope) Valid() bool { return s == HoldCase || s == HoldSource || s == HoldRun }

// LegalHold keeps evidence from retention's deletion until it is lifted.
// Holds are never deleted: a lifted one records who lifted it and why.
type LegalHold struct {
	ID         uint64    `gorm:"primaryKey"`
	Scope      HoldScope `gorm:"not null"`
	ObjectID   uint64    `gorm:"not null"`
	Reason     string    `gorm:"not null"`
	SetBy      string    `gorm:"not null"`
	SetAt      time.Time
	LiftedBy   string `gorm:"not null;default:''"`
	LiftedAt   *time.Time
	LiftReason string `gorm:"not null;default:''"`
}

// Active reports a hold not lifted.
func (h LegalHold) Active() bool { return h.LiftedAt == nil }

// Object names what the hold covers, as the audit log does ("case:3").
func (h LegalHold) Object() string { return fmt.Sprintf("%s:%d", h.Scope, h.ObjectID) }

// States of an EvidenceRemoval.
const (
	RemovalMarked  = "removing" // decided and recorded; the files may still be there
	RemovalRemoved = "removed"  // the files are gone
)

// EvidenceRemoval records that retention removed a run's scraped content
// (its WARC files). The run's captures, digests, hits and seal stay.
type EvidenceRemoval struct {
	RunID     uint64     `gorm:"primaryKey;autoIncrement:false"`
	State     string     `gorm:"not null"`
	Policy    string     `gorm:"not null"`            // the policy that removed it, as configured then
	Reason    string     `gorm:"not null;default:''"` // why it was no longer kept (no case, case closed on …)
	MarkedAt  time.Time  // when the removal was decided
	RemovedAt *time.Time // when the files were gone
	Files     int64      `gorm:"not null;default:0"`  // files removed
	Bytes     int64      `gorm:"not null;default:0"`  // their size on disk
	Sums      string     `gorm:"not null;default:''"` // "sha256  name" lines of those files
}

// Done reports whether the files are gone.
func (r EvidenceRemoval) Done() bool { return r.State == RemovalRemoved }

// AddHold records a legal hold; h.ID is set.
func (s *Store) AddHold(ctx context.Context, h *LegalHold) error {
	if !h.Scope.Valid() || h.ObjectID == 0 || strings.TrimSpace(h.Reason) == "" || h.SetBy == "" {
		return fmt.Errorf("add legal hold: scope, object, reason and who sets it are required")
	}
	if h.SetAt.IsZero() {
		h.SetAt = time.Now().UTC()
	}
	h.LiftedAt, h.LiftedBy, h.LiftReason = nil, "", ""
	if err := s.ctx(ctx).Create(h).Error; err != nil {
		return fmt.Errorf("add legal hold on %s: %w", h.Object(), err)
	}
	return nil
}

// ErrHoldLifted is returned when lifting a hold already lifted.
var ErrHoldLifted = errors.New("legal hold already lifted")

// LiftHold lifts an active hold and returns it as lifted.
func (s *Store) LiftHold(ctx context.Context, id uint64, by, reason string, at time.Time) (LegalHold, error) {
	var h LegalHold
	err := s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).First(&h, id).Error; err != nil {
			return notFound(err, fmt.Sprintf("legal hold %d", id))
		}
		if !h.Active() {
			return fmt.Errorf("legal hold %d: %w on %s by %s", id, ErrHoldLifted, h.LiftedAt.UTC().Format(time.RFC3339), h.LiftedBy)
		}
		at = at.UTC()
		h.LiftedAt, h.LiftedBy, h.LiftReason = &at, by, reason
		return tx.Model(&LegalHold{}).Where("id = ?", id).
			Updates(map[string]any{"lifted_at": at, "lifted_by": by, "lift_reason": reason}).Error
	})
	if err != nil {
		return LegalHold{}, fmt.Errorf("lift legal hold: %w", err)
	}
	return h, nil
}

// LegalHolds lists holds, newest first; only the active ones unless all.
func (s *Store) LegalHolds(ctx context.Context, all bool) ([]LegalHold, error) {
	q := s.ctx(ctx).Order("id DESC")
	if !all {
		q = q.Where("lifted_at IS NULL")
	}
	out := []LegalHold{}
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list legal holds: %w", err)
	}
	return out, nil
}

// HoldsOn lists the active holds on one object, oldest first.
func (s *Store) HoldsOn(ctx context.Context, scope HoldScope, id uint64) ([]LegalHold, error) {
	out := []LegalHold{}
	err := s.ctx(ctx).Where("scope = ? AND object_id = ? AND lifted_at IS NULL", scope, id).Order("id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("legal holds on %s:%d: %w", scope, id, err)
	}
	return out, nil
}

// RetentionRun is what retention needs of a crawl run.
type RetentionRun struct {
	ID         uint64
	SourceID   uint64
	Status     RunStatus
	StartedAt  time.Time
	FinishedAt *time.Time
	MerkleRoot string
}

// RunsWithContent lists the runs whose content retention has not removed
// (no removal recorded, or one marked and not finished), oldest first.
func (s *Store) RunsWithContent(ctx context.Context) ([]RetentionRun, error) {
	done := s.ctx(ctx).Model(&EvidenceRemoval{}).Select("run_id").Where("state = ?", RemovalRemoved)
	out := []RetentionRun{}
	err := s.ctx(ctx).Model(&CrawlRun{}).Select("id", "source_id", "status", "started_at", "finished_at", "merkle_root").
		Where("id NOT IN (?)", done).Order("id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("runs with content: %w", err)
	}
	return out, nil
}

// RunCases returns the cases a run's content is evidence of — those of its
// captures' hits (by target) and re-checks — and the targets of hits that
// no case holds yet (still to be dispatched: a case is coming).
func (s *Store) RunCases(ctx context.Context, runID uint64) (cases []Case, pending []string, err error) {
	caps := s.ctx(ctx).Model(&Capture{}).Select("id").Where("run_id = ?", runID)
	var targets []string
	if err := s.ctx(ctx).Model(&Hit{}).Distinct("target").Where("capture_id IN (?)", caps).Pluck("target", &targets).Error; err != nil {
		return nil, nil, fmt.Errorf("targets of run %d: %w", runID, err)
	}
	checked := s.ctx(ctx).Model(&RemovalCheck{}).Select("case_id").Where("capture_id IN (?)", caps)
	q := s.ctx(ctx).Where("id IN (?)", checked)
	if len(targets) > 0 {
		q = s.ctx(ctx).Where("id IN (?) OR target IN ?", checked, targets)
	}
	if err := q.Order("id").Find(&cases).Error; err != nil {
		return nil, nil, fmt.Errorf("cases of run %d: %w", runID, err)
	}
	have := map[string]bool{}
	for _, c := range cases {
		have[c.Target] = true
	}
	for _, t := range targets {
		if !have[t] {
			pending = append(pending, t)
		}
	}
	return cases, pending, nil
}

// MarkEvidenceRemoval records the decision to remove a run's content,
// before any file goes. A run already marked keeps its first mark (ok
// false): another gc got there first.
func (s *Store) MarkEvidenceRemoval(ctx context.Context, r *EvidenceRemoval) (ok bool, err error) {
	r.State, r.RemovedAt = RemovalMarked, nil
	if r.MarkedAt.IsZero() {
		r.MarkedAt = time.Now().UTC()
	}
	res := s.ctx(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(r)
	if res.Error != nil {
		return false, fmt.Errorf("mark content of run %d for removal: %w", r.RunID, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// FinishEvidenceRemoval records that a marked run's files are gone.
func (s *Store) FinishEvidenceRemoval(ctx context.Context, runID uint64, at time.Time) error {
	err := s.ctx(ctx).Model(&EvidenceRemoval{}).Where("run_id = ?", runID).
		Updates(map[string]any{"state": RemovalRemoved, "removed_at": at.UTC()}).Error
	if err != nil {
		return fmt.Errorf("finish removal of run %d's content: %w", runID, err)
	}
	return nil
}

// EvidenceRemovalOf returns the removal recorded for a run, if any.
func (s *Store) EvidenceRemovalOf(ctx context.Context, runID uint64) (EvidenceRemoval, bool, error) {
	var r EvidenceRemoval
	res := s.ctx(ctx).Where("run_id = ?", runID).Limit(1).Find(&r)
	if res.Error != nil {
		return EvidenceRemoval{}, false, fmt.Errorf("removal of run %d's content: %w", runID, res.Error)
	}
	return r, res.RowsAffected == 1, nil
}

// EvidenceRemovals lists the recorded removals in a state ("" for all),
// by run.
func (s *Store) EvidenceRemovals(ctx context.Context, state string) ([]EvidenceRemoval, error) {
	q := s.ctx(ctx).Order("run_id")
	if state != "" {
		q = q.Where("state = ?", state)
	}
	out := []EvidenceRemoval{}
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("evidence removals: %w", err)
	}
	return out, nil
}
