package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/leakwatch/leakwatch/storage"
)

// Sources is what the UI does to sources' crawl schedules: read the next
// run, start a crawl now, and bring the schedules in step after an edit.
type Sources struct {
	Client    client.Client
	Store     *storage.Store
	TaskQueue string
	Logger    *slog.Logger
}

// NextRun is when the source's schedule next starts a crawl; ok is false
// when there is none (manual only, paused, or not synced yet).
func (s *Sources) NextRun(ctx context.Context, sourceID uint64) (time.Time, bool, error) {
	d, err := s.Client.ScheduleClient().GetHandle(ctx, ScheduleID(sourceID)).Describe(ctx)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("describe schedule of source %d: %w", sourceID, err)
	}
	if st := d.Schedule.State; st != nil && st.Paused {
		return time.Time{}, false, nil
	}
	if len(d.Info.NextActionTimes) == 0 {
		return time.Time{}, false, nil
	}
	return d.Info.NextActionTimes[0], true, nil
}

// RunNow starts a crawl of the source: through its schedule (a crawl
// already running is not stacked), or, for a manual-only source, as a
// workflow of its own (joining one already running).
func (s *Sources) RunNow(ctx context.Context, sourceID uint64) error {
	err := s.Client.ScheduleClient().GetHandle(ctx, ScheduleID(sourceID)).
		Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP})
	var nf *serviceerror.NotFound
	if err == nil || !errors.As(err, &nf) {
		if err != nil {
			return fmt.Errorf("trigger schedule of source %d: %w", sourceID, err)
		}
		return nil
	}
	_, err = s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: fmt.Sprintf("crawl-manual-%d", sourceID), TaskQueue: s.TaskQueue, WorkflowRunTimeout: 12 * time.Hour,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, CrawlSourceName, CrawlInput{SourceID: sourceID})
	if err != nil {
		return fmt.Errorf("start crawl of source %d: %w", sourceID, err)
	}
	return nil
}

// Sync brings every schedule in step with the sources table at once,
// rather than at the next housekeeping tick.
func (s *Sources) Sync(ctx context.Context) error {
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return SyncSchedules(ctx, s.Client, s.Store, s.TaskQueue, log)
}
