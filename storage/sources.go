package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ErrDuplicate is returned when a unique name is already taken.
var ErrDuplicate = errors.New("already exists")

// CreateSource adds a monitored source.
func (s *Store) CreateSource(ctx context.Context, src *Source) error {
	if err := s.ctx(ctx).Create(src).Error; err != nil {
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return fmt.Errorf("source %q: %w", src.Name, ErrDuplicate)
		}
		return fmt.Errorf("create source %q: %w", src.Name, err)
	}
	return nil
}

// UpsertSource creates the source or updates its kind, URL, interval and
// options by name; used to seed sources from the config file on every start
// (the file wins over edits made since).
func (s *Store) UpsertSource(ctx context.Context, src *Source) error {
	err := s.ctx(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "name"}},
		DoUpdates: clause.AssignmentColumns([]string{"kind", "url", "every_secs", "options", "updated_at"}),
	}).Create(src).Error
	if err != nil {
		return fmt.Errorf("upsert source %q: %w", src.Name, err)
	}
	return s.ctx(ctx).Where("name = ?", src.Name).First(src).Error
}

// UpdateSource saves a source's settings (kind, URL, interval, enabled,
// options), found by id.
func (s *Store) UpdateSource(ctx context.Context, src *Source) error {
	res := s.ctx(ctx).Model(&Source{}).Where("id = ?", src.ID).Select("kind", "url", "every_secs", "enabled", "options", "updated_at").
		Updates(src)
	if res.Error != nil {
		return fmt.Errorf("update source %q: %w", src.Name, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("source %q: %w", src.Name, ErrNotFound)
	}
	return nil
}

// DeleteSource removes a source. Its runs, captures and hits stay: they are
// evidence.
func (s *Store) DeleteSource(ctx context.Context, id uint64) error {
	res := s.ctx(ctx).Delete(&Source{}, id)
	if res.Error != nil {
		return fmt.Errorf("delete source %d: %w", id, res.Error)
	}
	if res.RowsAffected == 0 {
		return fmt.Errorf("source %d: %w", id, ErrNotFound)
	}
	return nil
}

// ListSources returns all sources by name.
func (s *Store) ListSources(ctx context.Context) ([]Source, error) {
	var out []Source
	if err := s.ctx(ctx).Order("name").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	return out, nil
}

// SourceByName finds a source by its name.
func (s *Store) SourceByName(ctx context.Context, name string) (Source, error) {
	var src Source
	err := s.ctx(ctx).Where("name = ?", name).First(&src).Error
	if err != nil {
		return Source{}, notFound(err, fmt.Sprintf("source %q", name))
	}
	return src, nil
}

// SourceByID finds a source by id.
func (s *Store) SourceByID(ctx context.Context, id uint64) (Source, error) {
	var src Source
	if err := s.ctx(ctx).First(&src, id).Error; err != nil {
		return Source{}, notFound(err, fmt.Sprintf("source %d", id))
	}
	return src, nil
}

// StartRun records the start of a crawl.
func (s *Store) StartRun(ctx context.Context, sourceID uint64) (CrawlRun, error) {
	run := CrawlRun{SourceID: sourceID, StartedAt: time.Now().UTC(), Status: RunRunning}
	if err := s.ctx(ctx).Create(&run).Error; err != nil {
		return CrawlRun{}, fmt.Errorf("start crawl run: %w", err)
	}
	return run, nil
}

// FinishRun records the outcome of a crawl.
func (s *Store) FinishRun(ctx context.Context, run *CrawlRun) error {
	now := time.Now().UTC()
	run.FinishedAt = &now
	if err := s.ctx(ctx).Save(run).Error; err != nil {
		return fmt.Errorf("finish crawl run %d: %w", run.ID, err)
	}
	return nil
}

// TouchRun records that a run's crawler is alive, and marks the run running
// again if it had been given up as interrupted (a retry resumed it).
func (s *Store) TouchRun(ctx context.Context, id uint64) error {
	now := time.Now().UTC()
	err := s.ctx(ctx).Model(&CrawlRun{}).Where("id = ? AND status IN ?", id, []RunStatus{RunRunning, RunInterrupted}).
		Updates(map[string]any{"heartbeat_at": now, "status": RunRunning, "finished_at": nil}).Error
	if err != nil {
		return fmt.Errorf("touch crawl run %d: %w", id, err)
	}
	return nil
}

// InterruptStaleRuns marks as interrupted every running run whose crawler
// has not reported for longer than after: its process died, and without
// this the run would show as running for ever.
func (s *Store) InterruptStaleRuns(ctx context.Context, after time.Duration) (int64, error) {
	now := time.Now().UTC()
	cutoff := now.Add(-after)
	res := s.ctx(ctx).Model(&CrawlRun{}).
		Where("status = ? AND COALESCE(heartbeat_at, started_at) < ?", RunRunning, cutoff).
		Updates(map[string]any{"status": RunInterrupted, "finished_at": now,
			"error": fmt.Sprintf("the crawler stopped reporting for more than %s (its process died or was killed)", after)})
	if res.Error != nil {
		return 0, fmt.Errorf("interrupt stale crawl runs: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// CapturesOfRun lists a run's captures in the order they were recorded.
func (s *Store) CapturesOfRun(ctx context.Context, runID uint64) ([]Capture, error) {
	var out []Capture
	if err := s.ctx(ctx).Where("run_id = ?", runID).Order("id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("captures of run %d: %w", runID, err)
	}
	return out, nil
}

// SealRun records a run's Merkle root and timestamp token.
func (s *Store) SealRun(ctx context.Context, runID uint64, root, tsaURL, token string, stampedAt *time.Time) error {
	err := s.ctx(ctx).Model(&CrawlRun{}).Where("id = ?", runID).
		Updates(map[string]any{"merkle_root": root, "tsa_url": tsaURL, "tsa_token": token, "stamped_at": stampedAt}).Error
	if err != nil {
		return fmt.Errorf("seal crawl run %d: %w", runID, err)
	}
	return nil
}

// URLState returns what is known of a source's file URL; ok is false when
// nothing is.
func (s *Store) URLState(ctx context.Context, sourceID uint64, url string) (st URLState, ok bool, err error) {
	res := s.ctx(ctx).Where("source_id = ? AND url = ?", sourceID, url).Limit(1).Find(&st)
	if res.Error != nil {
		return URLState{}, false, fmt.Errorf("url state of %s: %w", url, res.Error)
	}
	return st, res.RowsAffected == 1, nil
}

// SaveURLState records what a crawl learnt of a URL.
func (s *Store) SaveURLState(ctx context.Context, st *URLState) error {
	err := s.ctx(ctx).Clauses(clause.OnConflict{
		Columns: []clause.Column{{Name: "source_id"}, {Name: "url"}},
		DoUpdates: clause.AssignmentColumns([]string{"kind", "sha256", "size", "etag", "last_modified", "index_generation",
			"capture_id", "fetched_at", "content_sha256", "changed", "links", "refs"}),
	}).Create(st).Error
	if err != nil {
		return fmt.Errorf("save url state of %s: %w", st.URL, err)
	}
	return nil
}

// TouchURLState records that a URL was checked at at and found unchanged,
// still exposing refs references.
func (s *Store) TouchURLState(ctx context.Context, sourceID uint64, url string, at time.Time, refs int) error {
	err := s.ctx(ctx).Model(&URLState{}).Where("source_id = ? AND url = ?", sourceID, url).
		Updates(map[string]any{"fetched_at": at, "changed": false, "refs": refs}).Error
	if err != nil {
		return fmt.Errorf("touch url state of %s: %w", url, err)
	}
	return nil
}

// HostFetches counts the captures of host's URLs fetched since since, by
// every source: what a per-host budget has spent.
func (s *Store) HostFetches(ctx context.Context, host string, since time.Time) (int, error) {
	var n int64
	if err := s.ctx(ctx).Model(&Capture{}).Where("host = ? AND fetched_at >= ?", host, since).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("fetches of host %s: %w", host, err)
	}
	return int(n), nil
}

// RecentRuns returns a source's last n finished runs, newest first.
func (s *Store) RecentRuns(ctx context.Context, sourceID uint64, n int) ([]CrawlRun, error) {
	var out []CrawlRun
	err := s.ctx(ctx).Where("source_id = ? AND finished_at IS NOT NULL AND status <> ?", sourceID, RunRunning).
		Order("id DESC").Limit(n).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("recent runs of source %d: %w", sourceID, err)
	}
	return out, nil
}

// FrontierURL is one URL of a run's frontier.
type FrontierURL struct {
	URL     string
	Depth   int
	Fetched bool
}

// QueueFrontier records URLs a run queued; ones it queued before are kept
// as they are.
func (s *Store) QueueFrontier(ctx context.Context, runID uint64, urls []FrontierURL) error {
	if len(urls) == 0 {
		return nil
	}
	rows := make([]map[string]any, len(urls))
	for i, u := range urls {
		rows[i] = map[string]any{"run_id": runID, "url": u.URL, "depth": u.Depth, "fetched": false}
	}
	err := s.ctx(ctx).Table("crawl_frontier").Clauses(clause.OnConflict{DoNothing: true}).CreateInBatches(rows, 500).Error
	if err != nil {
		return fmt.Errorf("queue %d URLs for run %d: %w", len(urls), runID, err)
	}
	return nil
}

// FrontierFetched records that a run's fetch of url was recorded.
func (s *Store) FrontierFetched(ctx context.Context, runID uint64, url string) error {
	err := s.ctx(ctx).Table("crawl_frontier").Where("run_id = ? AND url = ?", runID, url).Update("fetched", true).Error
	if err != nil {
		return fmt.Errorf("mark %s fetched in run %d: %w", url, runID, err)
	}
	return nil
}

// Frontier returns a run's frontier, shallowest first.
func (s *Store) Frontier(ctx context.Context, runID uint64) ([]FrontierURL, error) {
	var out []FrontierURL
	err := s.ctx(ctx).Table("crawl_frontier").Select("url, depth, fetched").Where("run_id = ?", runID).
		Order("depth, url").Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("frontier of run %d: %w", runID, err)
	}
	return out, nil
}

// RunByID finds a crawl run.
func (s *Store) RunByID(ctx context.Context, id uint64) (CrawlRun, error) {
	var run CrawlRun
	if err := s.ctx(ctx).First(&run, id).Error; err != nil {
		return CrawlRun{}, notFound(err, fmt.Sprintf("crawl run %d", id))
	}
	return run, nil
}

// SaveCapture records a fetch. A capture of the same URL in the same run (a
// retried activity) is not recorded twice: the existing row is returned in c.
func (s *Store) SaveCapture(ctx context.Context, c *Capture) (created bool, err error) {
	res := s.ctx(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(c)
	if res.Error != nil {
		return false, fmt.Errorf("save capture: %w", res.Error)
	}
	if res.RowsAffected == 1 {
		return true, nil
	}
	if err := s.ctx(ctx).Where("run_id = ? AND url = ?", c.RunID, c.URL).First(c).Error; err != nil {
		return false, fmt.Errorf("load existing capture: %w", err)
	}
	return false, nil
}

// HasCapture reports whether a run already captured url as kind, so a
// resumed crawl does not fetch (or match) it twice.
func (s *Store) HasCapture(ctx context.Context, runID uint64, url string, kind CaptureKind) (bool, error) {
	var n int64
	err := s.ctx(ctx).Model(&Capture{}).Where("run_id = ? AND url = ? AND kind = ?", runID, url, kind).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("check capture of %s in run %d: %w", url, runID, err)
	}
	return n > 0, nil
}

// SetCaptureExposure records how many reference files and patients a capture exposes.
func (s *Store) SetCaptureExposure(ctx context.Context, id uint64, refs, patients int) error {
	err := s.ctx(ctx).Model(&Capture{}).Where("id = ?", id).
		Updates(map[string]any{"refs": refs, "patients": patients}).Error
	if err != nil {
		return fmt.Errorf("record exposure of capture %d: %w", id, err)
	}
	return nil
}

// CaptureByID finds a capture.
func (s *Store) CaptureByID(ctx context.Context, id uint64) (Capture, error) {
	var c Capture
	if err := s.ctx(ctx).First(&c, id).Error; err != nil {
		return Capture{}, notFound(err, fmt.Sprintf("capture %d", id))
	}
	return c, nil
}

// ListCaptures returns the most recent captures, newest first.
func (s *Store) ListCaptures(ctx context.Context, limit int) ([]Capture, error) {
	var out []Capture
	if err := s.ctx(ctx).Order("id DESC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list captures: %w", err)
	}
	return out, nil
}
