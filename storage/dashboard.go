package storage

import (
	"context"
	"fmt"
	"time"
)

// DayExposure is what the items first found on one day (UTC) exposed:
// the reference files their first captures matched and the patients
// those concern. Dismissed items are left out (not the breach's).
type DayExposure struct {
	Day      time.Time // midnight UTC
	Items    int64
	Files    int64
	Patients int64
}

// ExposureByDay returns one entry per day from since's day to until's,
// oldest first, days without finds included. Re-crawls of the same URL
// count once: an item is counted on the day it was first captured.
func (s *Store) ExposureByDay(ctx context.Context, since, until time.Time) ([]DayExposure, error) {
	start := since.UTC().Truncate(24 * time.Hour)
	end := until.UTC().Truncate(24 * time.Hour)
	var rows []struct {
		CapturedAt time.Time
		Refs       int64
		Patients   int64
	}
	err := s.ctx(ctx).Table("case_items").
		Select("case_items.captured_at AS captured_at, COALESCE(captures.refs, 0) AS refs, COALESCE(captures.patients, 0) AS patients").
		Joins("LEFT JOIN captures ON captures.id = case_items.first_capture_id").
		Where("case_items.captured_at >= ? AND case_items.state <> ?", start, ItemDismissed).
		Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("exposure by day: %w", err)
	}
	var out []DayExposure
	index := map[time.Time]int{}
	for d := start; !d.After(end); d = d.Add(24 * time.Hour) {
		index[d] = len(out)
		out = append(out, DayExposure{Day: d})
	}
	for _, r := range rows {
		i, ok := index[r.CapturedAt.UTC().Truncate(24*time.Hour)]
		if !ok {
			continue
		}
		out[i].Items++
		out[i].Files += r.Refs
		out[i].Patients += r.Patients
	}
	return out, nil
}
