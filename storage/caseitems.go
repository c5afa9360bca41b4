package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// TakeHitsResult is what taking a batch of hits into a case changed.
type TakeHitsResult struct {
	New        []uint64 // items created by this batch
	Reappeared []uint64 // removed items matched again (the content came back)
	// Mirrored are items whose content other cases' sent notices already
	// listed (CaseItem.Earlier grew): a mirror on another host or channel.
	Mirrored []uint64
}

// TriagePolicy says which new items TakeHitsWith confirms without an
// analyst.
type TriagePolicy int

const (
	// ConfirmNone leaves every new item to an analyst (notices.triage:
	// required).
	ConfirmNone TriagePolicy = iota
	// ConfirmExact confirms exact copies, the same bytes or the same
	// normalised text as a reference, and leaves partial and similar
	// matches (excerpts, re-encoded photos, record dumps) to an analyst
	// (notices.triage: exact).
	ConfirmExact
	// ConfirmAll confirms every new item (notices.triage: auto).
	ConfirmAll
)

// exactMethod: the matcher layers that find the very document, not a part
// or a likeness of it (fingerprints/match's sha256 and text-sha256).
func exactMethod(m string) bool { return m == "sha256" || m == "text-sha256" }

// TakeHits is TakeHitsWith, confirming every new item if autoConfirm and
// none otherwise.
func (s *Store) TakeHits(ctx context.Context, caseID uint64, hitIDs []uint64, autoConfirm bool) (TakeHitsResult, error) {
	p := ConfirmNone
	if autoConfirm {
		p = ConfirmAll
	}
	return s.TakeHitsWith(ctx, caseID, hitIDs, p)
}

// TakeHitsWith groups hits into the case's items, one per URL, creating
// items for new URLs and pointing every hit at its item. An item found
// removed that matches again has reappeared: it is confirmed again (it was
// the breach before) and counted. policy says which new items are confirmed
// without an analyst. Taking the same hits twice changes nothing.
func (s *Store) TakeHitsWith(ctx context.Context, caseID uint64, hitIDs []uint64, policy TriagePolicy) (TakeHitsResult, error) {
	var out TakeHitsResult
	if len(hitIDs) == 0 {
		return out, nil
	}
	hits, err := s.HitDetailsByIDs(ctx, hitIDs)
	if err != nil {
		return out, err
	}
	now := time.Now().UTC()
	// A URL is an exact copy if any of its hits in this batch is.
	exact := map[string]bool{}
	for _, h := range hits {
		exact[h.URL] = exact[h.URL] || exactMethod(h.Method)
	}
	err = s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		earlierByRef := map[uint64][]uint64{} // per batch: hits share references
		earlier := map[uint64][]uint64{}      // item -> its Earlier, as updated
		for _, h := range hits {
			var it CaseItem
			res := tx.Where("case_id = ? AND url = ?", caseID, h.URL).Limit(1).Find(&it)
			if res.Error != nil {
				return res.Error
			}
			switch {
			case res.RowsAffected == 0:
				it = CaseItem{CaseID: caseID, URL: h.URL, FirstCaptureID: h.CaptureID, LastCaptureID: h.CaptureID,
					SHA256: h.CaptureSHA256, Size: h.CaptureSize, CapturedAt: h.FetchedAt.UTC(), State: ItemNew, CreatedAt: now}
				if policy == ConfirmAll || policy == ConfirmExact && exact[h.URL] {
					it.State, it.TriagedBy, it.TriagedAt = ItemConfirmed, "auto", &now
				}
				if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&it).Error; err != nil {
					return err
				}
				if it.ID == 0 { // lost a race with another taker
					if err := tx.Where("case_id = ? AND url = ?", caseID, h.URL).First(&it).Error; err != nil {
						return err
					}
				} else {
					out.New = append(out.New, it.ID)
				}
			case h.CaptureID > it.LastCaptureID:
				upd := map[string]any{"last_capture_id": h.CaptureID, "sha256": h.CaptureSHA256, "size": h.CaptureSize}
				// A hit from a capture made after the item was found
				// removed: the content is back.
				if it.State == ItemRemoved && it.RemovedAt != nil && h.FetchedAt.After(*it.RemovedAt) {
					upd["state"], upd["removed_at"], upd["reappeared"] = ItemConfirmed, nil, it.Reappeared+1
					if !slices.Contains(out.Reappeared, it.ID) {
						out.Reappeared = append(out.Reappeared, it.ID)
					}
				}
				if err := tx.Model(&CaseItem{}).Where("id = ?", it.ID).Updates(upd).Error; err != nil {
					return err
				}
			}
			if err := tx.Model(&Hit{}).Where("id = ?", h.ID).Update("item_id", it.ID).Error; err != nil {
				return err
			}
			if h.ReferenceID == 0 { // keyword hits match no reference
				continue
			}
			if it.NoticeID != 0 {
				// A listed item matched by one more reference: that notice
				// listed this content too.
				if err := tx.Clauses(clause.OnConflict{DoNothing: true}).
					Create(&NoticedRef{ReferenceID: h.ReferenceID, NoticeID: it.NoticeID, CaseID: caseID}).Error; err != nil {
					return err
				}
			}
			ns, ok := earlierByRef[h.ReferenceID]
			if !ok {
				if ns, err = noticedElsewhere(tx, caseID, h.ReferenceID); err != nil {
					return err
				}
				earlierByRef[h.ReferenceID] = ns
			}
			cur, seen := earlier[it.ID]
			if !seen {
				cur = SplitIDs(it.Earlier)
			}
			grew := false
			for _, n := range ns {
				if !slices.Contains(cur, n) {
					cur, grew = append(cur, n), true
				}
			}
			earlier[it.ID] = cur
			if grew && !slices.Contains(out.Mirrored, it.ID) {
				out.Mirrored = append(out.Mirrored, it.ID)
			}
		}
		for _, id := range out.Mirrored {
			ids := earlier[id]
			slices.Sort(ids)
			if err := tx.Model(&CaseItem{}).Where("id = ?", id).Update("earlier", JoinIDs(ids)).Error; err != nil {
				return err
			}
		}
		return appendItemsEvent(tx, caseID, out, len(hits))
	})
	if err != nil {
		return TakeHitsResult{}, fmt.Errorf("take %d hits into case %d: %w", len(hitIDs), caseID, err)
	}
	return out, nil
}

// noticedElsewhere returns the sent notices of cases other than caseID that
// listed an item matching reference ref.
func noticedElsewhere(tx *gorm.DB, caseID, ref uint64) ([]uint64, error) {
	var ids []uint64
	err := tx.Model(&NoticedRef{}).Where("reference_id = ? AND case_id <> ?", ref, caseID).
		Order("notice_id").Pluck("notice_id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("notices elsewhere for reference %d: %w", ref, err)
	}
	return ids, nil
}

// NoticeRef names a notice for citing it elsewhere: its reference, when it
// was sent, and the case and target it was about.
type NoticeRef struct {
	ID        uint64
	CaseID    uint64
	Reference string
	SentAt    *time.Time
	Target    string
}

// NoticeRefs returns the given notices (an item's Earlier, say) in id
// order, without their bodies.
func (s *Store) NoticeRefs(ctx context.Context, ids []uint64) ([]NoticeRef, error) {
	var out []NoticeRef
	if len(ids) == 0 {
		return out, nil
	}
	err := s.ctx(ctx).Table("notices").
		Select("notices.id, notices.case_id, notices.reference, notices.sent_at, cases.target").
		Joins("JOIN cases ON cases.id = notices.case_id").
		Where("notices.id IN ?", ids).Order("notices.id").Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("notices %v: %w", ids, err)
	}
	return out, nil
}

// CaseItems returns a case's items, oldest first.
func (s *Store) CaseItems(ctx context.Context, caseID uint64) ([]CaseItem, error) {
	var out []CaseItem
	if err := s.ctx(ctx).Where("case_id = ?", caseID).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("items of case %d: %w", caseID, err)
	}
	return out, nil
}

// CaseItemsByIDs returns the given items, in id order.
func (s *Store) CaseItemsByIDs(ctx context.Context, ids []uint64) ([]CaseItem, error) {
	var out []CaseItem
	if len(ids) == 0 {
		return out, nil
	}
	if err := s.ctx(ctx).Where("id IN ?", ids).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("case items by id: %w", err)
	}
	return out, nil
}

// ItemHits returns the hits of a case's items, by item: every reference and
// layer that matched each URL.
func (s *Store) ItemHits(ctx context.Context, caseID uint64) (map[uint64][]HitDetail, error) {
	var hits []HitDetail
	err := s.hitDetails().WithContext(ctx).
		Where("hits.item_id IN (?)", s.db.Model(&CaseItem{}).Select("id").Where("case_id = ?", caseID)).
		Order("hits.id").Scan(&hits).Error
	if err != nil {
		return nil, fmt.Errorf("hits of case %d: %w", caseID, err)
	}
	out := map[uint64][]HitDetail{}
	for _, h := range hits {
		out[h.ItemID] = append(out[h.ItemID], h)
	}
	return out, nil
}

// ErrBadTriage is a triage request that cannot apply (unknown item, no reason).
var ErrBadTriage = errors.New("bad triage request")

// TriageItems confirms or dismisses items of a case. A dismissal needs a
// reason; items already listed in a sent notice cannot be dismissed (the
// notice cannot be unsent).
func (s *Store) TriageItems(ctx context.Context, caseID uint64, ids []uint64, state ItemState, reason, by string) error {
	if state != ItemConfirmed && state != ItemDismissed {
		return fmt.Errorf("%w: state must be confirmed or dismissed, not %q", ErrBadTriage, state)
	}
	if state == ItemDismissed && strings.TrimSpace(reason) == "" {
		return fmt.Errorf("%w: dismissing needs a reason", ErrBadTriage)
	}
	if len(ids) == 0 {
		return fmt.Errorf("%w: no items", ErrBadTriage)
	}
	now := time.Now().UTC()
	return s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		var items []CaseItem
		if err := tx.Where("case_id = ? AND id IN ?", caseID, ids).Find(&items).Error; err != nil {
			return err
		}
		if len(items) != len(slices.Compact(slices.Sorted(slices.Values(ids)))) {
			return fmt.Errorf("%w: some items are not in case %d", ErrBadTriage, caseID)
		}
		for _, it := range items {
			if state == ItemDismissed && it.NoticeID != 0 {
				return fmt.Errorf("%w: item %d was listed in a sent notice and cannot be dismissed", ErrBadTriage, it.ID)
			}
		}
		return tx.Model(&CaseItem{}).Where("case_id = ? AND id IN ?", caseID, ids).
			Updates(map[string]any{"state": state, "reason": strings.TrimSpace(reason), "triaged_by": by, "triaged_at": now}).Error
	})
}

// MarkItemsListed records the sent notice that first listed each item.
func (s *Store) MarkItemsListed(ctx context.Context, ids []uint64, noticeID uint64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Model(&CaseItem{}).Where("id IN ? AND notice_id = 0", ids).
			Updates(map[string]any{"notice_id": noticeID, "listed_at": at.UTC()}).Error; err != nil {
			return err
		}
		// What the notice listed, by reference (see NoticedRef).
		return tx.Exec(`INSERT INTO noticed_refs (reference_id, notice_id, case_id)
			SELECT DISTINCT hits.reference_id, CAST(? AS BIGINT), case_items.case_id
			FROM hits JOIN case_items ON case_items.id = hits.item_id
			WHERE hits.item_id IN ? AND hits.reference_id <> 0 AND case_items.notice_id = ?
			ON CONFLICT DO NOTHING`, noticeID, ids, noticeID).Error
	})
	if err != nil {
		return fmt.Errorf("mark items listed by notice %d: %w", noticeID, err)
	}
	return nil
}

// RecordRemovalCheck stores a re-check of an item and what it means for the
// item: removed (gone, or no longer matching) or, if it was removed and is
// present again, back.
func (s *Store) RecordRemovalCheck(ctx context.Context, c *RemovalCheck) error {
	if c.CheckedAt.IsZero() {
		c.CheckedAt = time.Now().UTC()
	}
	return s.ctx(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(c).Error; err != nil {
			return fmt.Errorf("record removal check of item %d: %w", c.ItemID, err)
		}
		var it CaseItem
		if err := tx.First(&it, c.ItemID).Error; err != nil {
			return notFound(err, fmt.Sprintf("case item %d", c.ItemID))
		}
		upd := map[string]any{"checked_at": c.CheckedAt, "check_result": c.Result, "checks": it.Checks + 1}
		switch {
		case c.Result.Removed() && it.State != ItemRemoved && it.State != ItemDismissed:
			upd["state"], upd["removed_at"] = ItemRemoved, c.CheckedAt
		case c.Result == CheckPresent && it.State == ItemRemoved:
			upd["state"], upd["removed_at"], upd["reappeared"] = ItemConfirmed, nil, it.Reappeared+1
		}
		return tx.Model(&CaseItem{}).Where("id = ?", it.ID).Updates(upd).Error
	})
}

// RemovalChecks returns a case's re-checks, newest first.
func (s *Store) RemovalChecks(ctx context.Context, caseID uint64) ([]RemovalCheck, error) {
	var out []RemovalCheck
	if err := s.ctx(ctx).Where("case_id = ?", caseID).Order("checked_at DESC, id DESC").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("removal checks of case %d: %w", caseID, err)
	}
	return out, nil
}

// LastRemovalCheck is when the case's items were last re-checked (zero if never).
func (s *Store) LastRemovalCheck(ctx context.Context, caseID uint64) (time.Time, error) {
	var rc RemovalCheck
	res := s.ctx(ctx).Where("case_id = ?", caseID).Order("checked_at DESC").Limit(1).Find(&rc)
	if res.Error != nil {
		return time.Time{}, fmt.Errorf("last removal check of case %d: %w", caseID, res.Error)
	}
	return rc.CheckedAt, nil
}

// UpdateCase sets fields of a case the lifecycle records (acked_at,
// ack_note, verified_at, escalated_at, reopened, detail).
func (s *Store) UpdateCase(ctx context.Context, id uint64, fields map[string]any) error {
	for k := range fields {
		switch k {
		case "acked_at", "ack_note", "verified_at", "escalated_at", "reopened", "detail", "recipient":
		default:
			return fmt.Errorf("update case %d: field %q is not the lifecycle's to set", id, k)
		}
	}
	fields["updated_at"] = time.Now().UTC()
	if err := s.ctx(ctx).Model(&Case{}).Where("id = ?", id).Updates(fields).Error; err != nil {
		return fmt.Errorf("update case %d: %w", id, err)
	}
	return nil
}

// JoinIDs and SplitIDs store id lists in one column.
func JoinIDs(ids []uint64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatUint(id, 10)
	}
	return strings.Join(s, ",")
}

// SplitIDs parses a JoinIDs list; malformed entries are skipped.
func SplitIDs(s string) []uint64 {
	var out []uint64
	for _, f := range strings.Split(s, ",") {
		if id, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64); err == nil {
			out = append(out, id)
		}
	}
	return out
}
