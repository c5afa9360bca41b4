package web

import (
	"context"
	"time"
)

// SourceService drives the crawl schedules of sources (implemented by the
// workflows package over Temporal schedules).
type SourceService interface {
	// NextRun is when the source's schedule next starts a crawl; ok is
	// false when it has none (manual only, paused, or not synced yet).
	NextRun(ctx context.Context, sourceID uint64) (next time.Time, ok bool, err error)
	// RunNow starts a crawl of the source at once.
	RunNow(ctx context.Context, sourceID uint64) error
	// Sync brings the schedules in step with the sources table after an
	// edit (a running server also does so every few seconds).
	Sync(ctx context.Context) error
}
