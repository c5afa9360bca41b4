package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/leakwatch/leakwatch/storage"
)

// Cases is how the UI, API and CLI act on running cases: through workflow
// updates and queries, never by writing case state themselves.
type Cases struct {
	Client client.Client
	Store  *storage.Store
}

// ErrRejected wraps a refusal by the case (wrong revision, role, state).
var ErrRejected = errors.New("rejected by the case")

// Approve approves a notice revision of a case as user; revision 0 means the
// current draft.
func (c *Cases) Approve(ctx context.Context, caseID uint64, revision int, user storage.User) error {
	cs, err := c.Store.CaseByID(ctx, caseID)
	if err != nil {
		return err
	}
	if revision == 0 {
		ns, err := c.Store.NoticesForCase(ctx, caseID)
		if err != nil {
			return err
		}
		if len(ns) == 0 {
			return fmt.Errorf("case %d has no notice draft yet: %w", caseID, ErrRejected)
		}
		revision = ns[0].Revision
	}
	h, err := c.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   cs.WorkflowID,
		UpdateName:   UpdateApprove,
		Args:         []any{ApproveInput{Revision: revision, Approver: user.Username, Role: user.Role}},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return fmt.Errorf("case %d is not running: %w", caseID, ErrRejected)
		}
		if ctx.Err() == nil && !isUnavailable(err) {
			return fmt.Errorf("approve case %d revision %d: %w: %w", caseID, revision, ErrRejected, err)
		}
		return fmt.Errorf("approve case %d revision %d: %w", caseID, revision, err)
	}
	return nil
}

// update runs a case update as user and waits for its result; a
// validator's refusal comes back wrapped in ErrRejected.
func (c *Cases) update(ctx context.Context, caseID uint64, name string, arg, result any) error {
	cs, err := c.Store.CaseByID(ctx, caseID)
	if err != nil {
		return err
	}
	h, err := c.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: cs.WorkflowID, UpdateName: name, Args: []any{arg},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, result)
	}
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return fmt.Errorf("case %d is not running (it is %s): %w", caseID, cs.State, ErrRejected)
		}
		if ctx.Err() == nil && !isUnavailable(err) {
			return fmt.Errorf("%s case %d: %w: %w", name, caseID, ErrRejected, err)
		}
		return fmt.Errorf("%s case %d: %w", name, caseID, err)
	}
	return nil
}

func actor(u storage.User) Actor { return Actor{User: u.Username, Role: u.Role} }

// Triage confirms (reason optional) or dismisses (reason required) items.
func (c *Cases) Triage(ctx context.Context, caseID uint64, user storage.User, itemIDs []uint64, confirm bool, reason string) error {
	return c.update(ctx, caseID, UpdateTriage, TriageInput{Actor: actor(user), ItemIDs: itemIDs, Confirm: confirm, Reason: reason}, nil)
}

// Revise makes a new revision of the current draft: an edited subject and
// text (empty: unchanged template text), pending items pulled in, or both.
// It returns the new revision.
func (c *Cases) Revise(ctx context.Context, caseID uint64, user storage.User, in ReviseInput) (int, error) {
	in.Actor = actor(user)
	var rev int
	err := c.update(ctx, caseID, UpdateRevise, in, &rev)
	return rev, err
}

// RequestChanges sends a draft revision back with a comment.
func (c *Cases) RequestChanges(ctx context.Context, caseID uint64, user storage.User, revision int, comment string) error {
	return c.update(ctx, caseID, UpdateRequestChanges, RequestChangesInput{Actor: actor(user), Revision: revision, Comment: comment}, nil)
}

// Acknowledge records the host's reply.
func (c *Cases) Acknowledge(ctx context.Context, caseID uint64, user storage.User, note string) error {
	return c.update(ctx, caseID, UpdateAcknowledge, AcknowledgeInput{Actor: actor(user), Note: note}, nil)
}

// SetRecipient gives the case the address its notices go to.
func (c *Cases) SetRecipient(ctx context.Context, caseID uint64, user storage.User, addresses, recipientType string) error {
	return c.update(ctx, caseID, UpdateSetRecipient, SetRecipientInput{Actor: actor(user), Addresses: addresses, RecipientType: recipientType}, nil)
}

// ResolveSend settles a notice that may have been delivered.
func (c *Cases) ResolveSend(ctx context.Context, caseID uint64, user storage.User, delivered bool) error {
	return c.update(ctx, caseID, UpdateResolveSend, ResolveSendInput{Actor: actor(user), Delivered: delivered}, nil)
}

// Close closes the case.
func (c *Cases) Close(ctx context.Context, caseID uint64, user storage.User, reason string) error {
	return c.update(ctx, caseID, UpdateClose, CloseInput{Actor: actor(user), Reason: reason}, nil)
}

// Recheck re-checks the case's listed items now.
func (c *Cases) Recheck(ctx context.Context, caseID uint64, user storage.User) error {
	return c.update(ctx, caseID, UpdateRecheck, actor(user), nil)
}

// Reconcile restarts the workflow of every open case that has none
// running (its Temporal store was lost, or it ended in a crash): the case
// resumes from what the database recorded — items, drafts, an approved
// notice still to send. It returns how many it restarted.
func (c *Cases) Reconcile(ctx context.Context, taskQueue string, injunction string) (int, error) {
	cases, err := c.Store.ListCases(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, cs := range cases {
		if !cs.State.Open() {
			continue
		}
		desc, err := c.Client.DescribeWorkflowExecution(ctx, cs.WorkflowID, "")
		var nf *serviceerror.NotFound
		switch {
		case errors.As(err, &nf):
		case err != nil:
			return n, fmt.Errorf("describe case %d workflow: %w", cs.ID, err)
		case desc.WorkflowExecutionInfo.GetStatus() == enums.WORKFLOW_EXECUTION_STATUS_RUNNING:
			continue
		}
		_, err = c.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: cs.WorkflowID, TaskQueue: taskQueue,
			WorkflowIDReusePolicy:    enums.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
			WorkflowIDConflictPolicy: enums.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
			TypedSearchAttributes: temporal.NewSearchAttributes(SearchCaseState.ValueSet(string(cs.State)),
				SearchCaseTarget.ValueSet(cs.Target), SearchCaseInjunction.ValueSet(injunction)),
		}, TakedownCaseName, CaseInput{CaseID: cs.ID, Target: cs.Target})
		if err != nil {
			return n, fmt.Errorf("restart case %d: %w", cs.ID, err)
		}
		if err := c.Store.Audit(ctx, systemActor, "case.restarted", fmt.Sprintf("case:%d", cs.ID),
			fmt.Sprintf("no running workflow for the %s case: restarted from the database", cs.State)); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func isUnavailable(err error) bool {
	var u *serviceerror.Unavailable
	var d *serviceerror.DeadlineExceeded
	return errors.As(err, &u) || errors.As(err, &d)
}

// Status queries a case's live state.
func (c *Cases) Status(ctx context.Context, caseID uint64) (CaseStatus, error) {
	cs, err := c.Store.CaseByID(ctx, caseID)
	if err != nil {
		return CaseStatus{}, err
	}
	v, err := c.Client.QueryWorkflow(ctx, cs.WorkflowID, "", QueryStatus)
	if err != nil {
		return CaseStatus{}, fmt.Errorf("query case %d: %w", caseID, err)
	}
	var st CaseStatus
	if err := v.Get(&st); err != nil {
		return CaseStatus{}, fmt.Errorf("decode case %d status: %w", caseID, err)
	}
	return st, nil
}

// Activities are the activity implementations a worker hosts; nil ones are
// not registered
// (see NewWorkers for which queue serves which).
type Activities struct {
	Crawl    *CrawlActivities // StartCrawlRun everywhere; CrawlRun when it has a Pipeline
	Dispatch *Dispatcher
	Cases    *CaseActivities // CheckRemoval when it has a Checker
	Telegram *TelegramActivities
	Scan     *ScanActivities
}

// RegisterWorkflows registers the workflows under their stable names (also
// used by replay tests, which must register exactly what workers do).
func RegisterWorkflows(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(TakedownCase, workflow.RegisterOptions{Name: TakedownCaseName})
	r.RegisterWorkflowWithOptions(CrawlSource, workflow.RegisterOptions{Name: CrawlSourceName})
	r.RegisterWorkflowWithOptions(TelegramMonitor, workflow.RegisterOptions{Name: TelegramMonitorName})
}

// ScheduleID is the Temporal schedule of a source's crawls.
func ScheduleID(sourceID uint64) string { return fmt.Sprintf("crawl-source-%d", sourceID) }

// SyncSchedules makes one schedule per source with an interval, updating an
// existing schedule's interval, pausing the schedules of paused sources
// (and unpausing them on resume), and removing schedules of manual-only
// sources. Overlapping runs are skipped: a slow crawl is never stacked.
func SyncSchedules(ctx context.Context, c client.Client, store *storage.Store, taskQueue string, log *slog.Logger) error {
	sources, err := store.ListSources(ctx)
	if err != nil {
		return err
	}
	sc := c.ScheduleClient()
	if err := dropRemovedSchedules(ctx, sc, sources); err != nil {
		return err
	}
	for _, src := range sources {
		id := ScheduleID(src.ID)
		h := sc.GetHandle(ctx, id)
		desc, derr := h.Describe(ctx)
		var nf *serviceerror.NotFound
		switch {
		case derr != nil && !errors.As(derr, &nf):
			return fmt.Errorf("describe schedule %s: %w", id, derr)
		case derr != nil && src.Every() > 0:
			_, err := sc.Create(ctx, client.ScheduleOptions{
				ID:      id,
				Spec:    client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: src.Every()}}},
				Overlap: enums.SCHEDULE_OVERLAP_POLICY_SKIP,
				Action: &client.ScheduleWorkflowAction{
					ID: fmt.Sprintf("crawl-%d", src.ID), Workflow: CrawlSourceName, TaskQueue: taskQueue,
					Args: []any{CrawlInput{SourceID: src.ID}}, WorkflowRunTimeout: 12 * time.Hour,
				},
				// A paused source's schedule is made paused: it shows in
				// Temporal as the source's, waiting for resume.
				Paused: !src.Enabled, Note: pauseNote(src),
				// A new source is crawled at once, a paused one not.
				TriggerImmediately: src.Enabled,
			})
			if err != nil {
				return fmt.Errorf("create schedule %s: %w", id, err)
			}
			log.InfoContext(ctx, "crawl scheduled", "source", src.Name, "every", src.Every(), "paused", !src.Enabled)
		case derr != nil:
			// Manual only, and no schedule: nothing to do.
		case src.Every() <= 0:
			if err := h.Delete(ctx); err != nil {
				return fmt.Errorf("delete schedule %s: %w", id, err)
			}
		case !sameInterval(desc, src.Every()):
			// One update sets both the interval and the pause: separate
			// requests to the schedule could be applied out of step.
			err := h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
				sch := in.Description.Schedule
				sch.Spec = &client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: src.Every()}}}
				if sch.State == nil {
					sch.State = &client.ScheduleState{}
				}
				if sch.State.Paused != !src.Enabled {
					sch.State.Paused, sch.State.Note = !src.Enabled, pauseNote(src)
				}
				return &client.ScheduleUpdate{Schedule: &sch}, nil
			}})
			if err != nil {
				return fmt.Errorf("update schedule %s: %w", id, err)
			}
		default:
			paused := desc.Schedule.State != nil && desc.Schedule.State.Paused
			switch {
			case paused && src.Enabled:
				if err := h.Unpause(ctx, client.ScheduleUnpauseOptions{Note: "source resumed in leakwatch"}); err != nil {
					return fmt.Errorf("unpause schedule %s: %w", id, err)
				}
				log.InfoContext(ctx, "crawl schedule resumed", "source", src.Name)
			case !paused && !src.Enabled:
				if err := h.Pause(ctx, client.SchedulePauseOptions{Note: pauseNote(src)}); err != nil {
					return fmt.Errorf("pause schedule %s: %w", id, err)
				}
				log.InfoContext(ctx, "crawl schedule paused", "source", src.Name)
			}
		}
	}
	return nil
}

func pauseNote(src storage.Source) string {
	if src.Enabled {
		return ""
	}
	return "source paused in leakwatch"
}

// dropRemovedSchedules deletes the schedules of sources that no longer
// exist. (Listing is eventually consistent: a schedule already deleted may
// still be listed, and is skipped.)
func dropRemovedSchedules(ctx context.Context, sc client.ScheduleClient, sources []storage.Source) error {
	live := map[string]bool{}
	for _, src := range sources {
		live[ScheduleID(src.ID)] = true
	}
	it, err := sc.List(ctx, client.ScheduleListOptions{})
	if err != nil {
		return fmt.Errorf("list schedules: %w", err)
	}
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return fmt.Errorf("list schedules: %w", err)
		}
		if !strings.HasPrefix(e.ID, "crawl-source-") || live[e.ID] {
			continue
		}
		var nf *serviceerror.NotFound
		if err := sc.GetHandle(ctx, e.ID).Delete(ctx); err != nil && !errors.As(err, &nf) {
			return fmt.Errorf("delete schedule %s of a removed source: %w", e.ID, err)
		}
	}
	return nil
}

func sameInterval(d *client.ScheduleDescription, every time.Duration) bool {
	if d == nil || d.Schedule.Spec == nil || len(d.Schedule.Spec.Intervals) != 1 {
		return false
	}
	return d.Schedule.Spec.Intervals[0].Every == every
}
