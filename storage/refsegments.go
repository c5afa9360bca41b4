package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Segment states.
const (
	SegmentWriting = "writing" // an import is writing it; not to be read
	SegmentReady   = "ready"   // complete, fsynced and renamed into place
	SegmentMerged  = "merged"  // compacted into a newer segment; its file may be removed
)

// RefSegment is one immutable file of winnowing prints (package
// internal/references/segment) in the index directory beside the database.
type RefSegment struct {
	ID        uint64 `gorm:"primaryKey"`
	Name      string `gorm:"not null"` // file name in IndexDir
	State     string `gorm:"not null"`
	Postings  int64  `gorm:"not null"`
	Refs      int64  `gorm:"not null"`
	Bytes     int64  `gorm:"not null"`
	Checksum  string `gorm:"not null"`
	CreatedAt time.Time
	ReadyAt   *time.Time
}

// IndexDir is where the index's segment files live: beside the database,
// in the data directory (with PostgreSQL, too: every host that matches
// keeps its own copy there).
func (s *Store) IndexDir() string { return s.indexDir }

// StartSegment records a segment an import is about to write and names
// it. References saved with its id count as indexed only once it is
// ready.
func (s *Store) StartSegment(ctx context.Context) (RefSegment, error) {
	seg := RefSegment{State: SegmentWriting, CreatedAt: time.Now().UTC()}
	err := s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&seg).Error; err != nil {
			return err
		}
		seg.Name = fmt.Sprintf("prints-%06d.seg", seg.ID)
		return tx.Model(&seg).Update("name", seg.Name).Error
	})
	if err != nil {
		return RefSegment{}, fmt.Errorf("start print segment: %w", err)
	}
	return seg, nil
}

// FinishSegment records that a segment's file is complete and makes it
// part of the index.
func (s *Store) FinishSegment(ctx context.Context, seg RefSegment) error {
	err := s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		if err := markReady(tx, seg); err != nil {
			return err
		}
		return bumpIndexGeneration(tx)
	})
	if err != nil {
		return fmt.Errorf("finish print segment %s: %w", seg.Name, err)
	}
	return nil
}

// markReady records a segment an import was writing as complete, with
// what its file holds.
func markReady(tx *gorm.DB, seg RefSegment) error {
	res := tx.Model(&RefSegment{}).Where("id = ? AND state = ?", seg.ID, SegmentWriting).Updates(map[string]any{
		"state": SegmentReady, "postings": seg.Postings, "refs": seg.Refs, "bytes": seg.Bytes,
		"checksum": seg.Checksum, "ready_at": time.Now().UTC()})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("segment %d is not being written", seg.ID)
	}
	return nil
}

// ReadySegments lists the segments that make up the index, oldest first.
func (s *Store) ReadySegments(ctx context.Context) ([]RefSegment, error) {
	var out []RefSegment
	if err := s.ctx(ctx).Where("state = ?", SegmentReady).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("print segments: %w", err)
	}
	return out, nil
}

// MergeSegments replaces segments merged into one new, ready segment: the
// references they held now name it, and the old ones are marked merged
// (their files can go once no process maps them).
func (s *Store) MergeSegments(ctx context.Context, merged RefSegment, old []uint64) error {
	err := s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		if err := markReady(tx, merged); err != nil {
			return err
		}
		if err := tx.Model(&Reference{}).Where("segment IN ?", old).Update("segment", merged.ID).Error; err != nil {
			return err
		}
		if err := tx.Model(&RefSegment{}).Where("id IN ?", old).Update("state", SegmentMerged).Error; err != nil {
			return err
		}
		return bumpIndexGeneration(tx)
	})
	if err != nil {
		return fmt.Errorf("merge print segments: %w", err)
	}
	return nil
}

// SegmentsIn returns the segments in state.
func (s *Store) SegmentsIn(ctx context.Context, state string) ([]RefSegment, error) {
	var out []RefSegment
	if err := s.ctx(ctx).Where("state = ?", state).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("print segments %s: %w", state, err)
	}
	return out, nil
}

// ErrLegacyPrints means the index keeps its prints in the database, as
// leakwatch did before segments: they must be moved once.
var ErrLegacyPrints = errors.New("the reference index keeps its fingerprints in the database (built by an older leakwatch); run `leakwatch refs migrate` once to move them into segment files")

// HasLegacyPrints reports whether prints are still in the ref_prints table.
func (s *Store) HasLegacyPrints(ctx context.Context) (bool, error) {
	var n int64
	if err := s.ctx(ctx).Raw(`SELECT COUNT(*) FROM (SELECT 1 FROM ref_prints LIMIT 1) AS t`).Scan(&n).Error; err != nil {
		return false, fmt.Errorf("look for prints in the database: %w", err)
	}
	return n > 0, nil
}

// WalkLegacyPrints streams the ref_prints table.
func (s *Store) WalkLegacyPrints(ctx context.Context, fn func(hash int64, ref uint64) error) error {
	rows, err := s.ctx(ctx).Raw(`SELECT hash, ref_id FROM ref_prints`).Rows()
	if err != nil {
		return fmt.Errorf("walk prints: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h int64
		var ref uint64
		if err := rows.Scan(&h, &ref); err != nil {
			return fmt.Errorf("walk prints: %w", err)
		}
		if err := fn(h, ref); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("walk prints: %w", err)
	}
	return nil
}

// AdoptLegacyPrints makes seg, written from the ref_prints table, the home
// of those prints, and empties the table — one transaction, so a crash
// leaves either the old form or the new.
func (s *Store) AdoptLegacyPrints(ctx context.Context, seg RefSegment) error {
	err := s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec(`UPDATE "references" SET segment = ? WHERE segment = 0 AND id IN (SELECT DISTINCT ref_id FROM ref_prints)`, seg.ID).Error; err != nil {
			return err
		}
		if err := tx.Exec(`DELETE FROM ref_prints`).Error; err != nil {
			return err
		}
		if err := markReady(tx, seg); err != nil {
			return err
		}
		return bumpIndexGeneration(tx)
	})
	if err != nil {
		return fmt.Errorf("adopt prints into segment %s: %w", seg.Name, err)
	}
	return nil
}

// LiveReferenceIDs returns the ids of the references that match: not
// retired by a newer import of their file.
func (s *Store) LiveReferenceIDs(ctx context.Context) (map[uint64]bool, error) {
	rows, err := s.ctx(ctx).Raw(`SELECT id FROM "references" WHERE NOT retired`).Rows()
	if err != nil {
		return nil, fmt.Errorf("live references: %w", err)
	}
	defer rows.Close()
	out := map[uint64]bool{}
	for rows.Next() {
		var id uint64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("live references: %w", err)
		}
		out[id] = true
	}
	return out, rows.Err()
}
