package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// SpoolItem is a capture waiting to be matched: a crawl worker that does
// not hold the reference index records the capture and leaves its content
// here for a scan worker (see capture.Pipeline). Meta and Body are sealed
// by the capture package with a key derived from the fingerprint key; the
// database never holds them in the clear. The row is deleted in the same
// transaction as the hits its matching records.
type SpoolItem struct {
	ID        uint64      `gorm:"primaryKey"`
	RunID     uint64      `gorm:"not null"`
	SourceID  uint64      `gorm:"not null"`
	CaptureID uint64      `gorm:"not null;uniqueIndex"`
	Kind      CaptureKind `gorm:"not null"`
	URL       string      `gorm:"not null"`
	Meta      []byte      // sealed: what matching needs besides the body
	Body      []byte      // sealed content; nil: matched by digest (or metadata) only
	CreatedAt time.Time
}

// TableName keeps the table's name short and explicit.
func (SpoolItem) TableName() string { return "scan_spool" }

// SpoolCapture queues a capture for matching. A capture already queued (a
// retried crawl recording it again) is not queued twice.
func (s *Store) SpoolCapture(ctx context.Context, it *SpoolItem) (created bool, err error) {
	res := s.ctx(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "capture_id"}}, DoNothing: true}).Create(it)
	if res.Error != nil {
		return false, fmt.Errorf("spool capture %d: %w", it.CaptureID, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// SpooledIDs returns, oldest first, the ids of the captures queued for
// matching by runs of a source up to runID: a run's own, and any an
// earlier run left (its scan never ran, as for a crawl started before an
// upgrade split fetching from matching).
func (s *Store) SpooledIDs(ctx context.Context, sourceID, runID uint64) ([]uint64, error) {
	var ids []uint64
	err := s.ctx(ctx).Model(&SpoolItem{}).Where("source_id = ? AND run_id <= ?", sourceID, runID).
		Order("id").Pluck("id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("spooled captures of source %d: %w", sourceID, err)
	}
	return ids, nil
}

// SpooledItem loads one queued capture; ErrNotFound when another scanner
// took it meanwhile.
func (s *Store) SpooledItem(ctx context.Context, id uint64) (SpoolItem, error) {
	var it SpoolItem
	if err := s.ctx(ctx).First(&it, id).Error; err != nil {
		return SpoolItem{}, notFound(err, fmt.Sprintf("spooled capture %d", id))
	}
	return it, nil
}

// CountSpooled counts the captures of a run still waiting to be matched.
func (s *Store) CountSpooled(ctx context.Context, runID uint64) (int64, error) {
	var n int64
	if err := s.ctx(ctx).Model(&SpoolItem{}).Where("run_id = ?", runID).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count spooled captures of run %d: %w", runID, err)
	}
	return n, nil
}

// ErrTaken means a spooled capture was matched by another scanner first.
var ErrTaken = errors.New("spooled capture already taken")

// TakeSpooled deletes a queued capture inside a transaction (see InTx);
// ErrTaken when it is gone already, so the caller rolls back whatever it
// would have recorded twice.
func (s *Store) TakeSpooled(ctx context.Context, id uint64) error {
	res := s.ctx(ctx).Delete(&SpoolItem{}, id)
	if res.Error != nil {
		return fmt.Errorf("take spooled capture %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrTaken
	}
	return nil
}

// AddRunHits adds hits found after a run's crawl (by its scan) to its count.
func (s *Store) AddRunHits(ctx context.Context, runID uint64, n int) error {
	if n == 0 {
		return nil
	}
	err := s.ctx(ctx).Model(&CrawlRun{}).Where("id = ?", runID).
		Update("hits", gorm.Expr("COALESCE(hits, 0) + ?", n)).Error
	if err != nil {
		return fmt.Errorf("count hits of run %d: %w", runID, err)
	}
	return nil
}

// InTx runs fn with a Store whose every statement is part of one
// transaction, committed when fn returns nil. fn must use only that Store:
// on SQLite a statement through the outer one would wait for the
// transaction's write lock.
func (s *Store) InTx(ctx context.Context, fn func(tx *Store) error) error {
	return s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		return fn(&Store{db: tx, dialect: s.dialect, indexDir: s.indexDir})
	})
}

// SpoolBacklog is how many captures wait to be matched and since when (the
// zero time when none): what crawl workers fetched and scan workers have not
// matched yet, for metrics and health checks.
func (s *Store) SpoolBacklog(ctx context.Context) (rows int64, oldest time.Time, err error) {
	if err := s.ctx(ctx).Model(&SpoolItem{}).Count(&rows).Error; err != nil {
		return 0, time.Time{}, fmt.Errorf("scan spool backlog: %w", err)
	}
	// Ids grow with time: the first row is the oldest (MIN(created_at)
	// would come back as text from SQLite).
	var first SpoolItem
	res := s.ctx(ctx).Select("id", "created_at").Order("id").Limit(1).Find(&first)
	if res.Error != nil {
		return 0, time.Time{}, fmt.Errorf("scan spool backlog: %w", res.Error)
	}
	return rows, first.CreatedAt, nil
}

// PurgeSpool deletes (dry: counts) captures queued for matching before
// before: content the retention policy no longer keeps, left by a source
// removed or never crawled again (a source's next scan takes its leftovers).
func (s *Store) PurgeSpool(ctx context.Context, before time.Time, dry bool) (int64, error) {
	q := s.ctx(ctx).Where("created_at < ?", before.UTC())
	if dry {
		var n int64
		if err := q.Model(&SpoolItem{}).Count(&n).Error; err != nil {
			return 0, fmt.Errorf("count spooled captures before %s: %w", before.Format(time.RFC3339), err)
		}
		return n, nil
	}
	res := q.Delete(&SpoolItem{})
	if res.Error != nil {
		return 0, fmt.Errorf("purge spooled captures before %s: %w", before.Format(time.RFC3339), res.Error)
	}
	return res.RowsAffected, nil
}
