package workflows

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/internal/temporalproc"
	"github.com/leakwatch/leakwatch/internal/temporalproc/temporaltest"
	"github.com/leakwatch/leakwatch/storage"
)

// The recorder produces the histories replay_test.go replays: it runs the
// workflows on a real leakwatch-temporal with stand-in activities, drives
// them the way the dispatcher and the CLI do, and writes each history as
// JSON to testdata/. Re-record after a deliberate, compatible change of a
// workflow (and keep the old files if running workflows still have them):
//
//	LEAKWATCH_TEMPORAL_BINARY=bin/leakwatch-temporal go test ./workflows -run TestRecordHistories -record

var record = flag.Bool("record", false, "re-record testdata/*.json histories against a real leakwatch-temporal (TestRecordHistories)")

const (
	recordTaskQueue = "leakwatch-record"
	// Identities of the recording client and worker, written into every
	// history in place of the default pid@hostname.
	recordClientIdentity = "recorder@leakwatch.example"
	recordWorkerIdentity = "worker@leakwatch.example"
)

// Files the recorder writes and the replay test reads.
const (
	historyCaseFollowUp   = "takedown_case_followup.json" // version 0
	historyCaseLifecycle  = "takedown_case_lifecycle.json"
	historyCaseSendRefuse = "takedown_case_send_refused.json"
	historyCrawlSourceV0  = "crawl_source.json" // before versionScanSplit
	historyCrawlSource    = "crawl_source_split.json"
)

func TestRecordHistories(t *testing.T) {
	if !*record {
		t.Skip("records testdata histories against a real server; run with -record")
	}
	srv := temporaltest.Start(t)
	c := dialRecorder(t, srv)
	// Sticky task queues are named after the host; without them no host
	// name reaches the histories. (Process-wide, and before worker.New.)
	worker.SetStickyWorkflowCacheSize(0)
	acts := &standInActivities{refuse: map[uint64]bool{201: true}}
	w := worker.New(c, recordTaskQueue, worker.Options{Identity: recordWorkerIdentity})
	RegisterWorkflows(w)
	acts.register(w)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	// The queues of heavy work (see queues.go), served by stand-ins too.
	for _, q := range config.WorkerQueues {
		qw := worker.New(c, QueueName(recordTaskQueue, q), worker.Options{Identity: recordWorkerIdentity, DisableWorkflowWorker: true})
		acts.register(qw)
		if err := qw.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(qw.Stop)
	}
	r := &recorder{t: t, c: c}

	// takedown_case_followup.json and takedown_case_send_refused.json were
	// recorded from the first version of TakedownCase (before
	// versionLifecycle) and are kept, not re-recorded: they prove that
	// cases started before the upgrade still replay. So is
	// crawl_source.json, of CrawlSource before versionScanSplit.
	t.Run("case lifecycle", func(t *testing.T) {
		r := r.with(t)
		recordLifecycle(t, r, c)
	})
	t.Run("crawl source", func(t *testing.T) {
		r := r.with(t)
		ctx := r.ctx()
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: "crawl-1", TaskQueue: recordTaskQueue, WorkflowRunTimeout: 12 * time.Hour,
		}, CrawlSourceName, CrawlInput{SourceID: 1})
		if err != nil {
			t.Fatal(err)
		}
		var res CrawlResult
		if err := run.Get(ctx, &res); err != nil {
			t.Fatalf("CrawlSource: %v", err)
		}
		if want := (CrawlResult{RunID: 42, Pages: 12, Files: 3, Failed: 1, Hits: 2 + 1, Dispatched: 2}); res != want {
			t.Errorf("result %+v, want %+v", res, want)
		}
		r.save("crawl-1", historyCrawlSource)
	})
}

// dialRecorder dials srv with a fixed identity, so no host name ends up in
// the recorded histories.
func dialRecorder(t *testing.T, srv *temporalproc.Server) client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{
		HostPort: srv.Address(), Namespace: srv.Namespace(), Identity: recordClientIdentity,
		Logger: sdklog.NewStructuredLogger(temporaltest.Logger(t)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// standInActivities are deterministic stand-ins for the real activities,
// registered under the names the workflows call them by. A history records
// only their results, so the recorder needs no database or mail relay.
type standInActivities struct {
	mu      sync.Mutex
	refuse  map[uint64]bool // notices the relay refuses once
	refused map[uint64]bool
}

func (a *standInActivities) register(w worker.ActivityRegistry) {
	reg := func(name string, fn any) { w.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name}) }
	reg("LoadCase", func(context.Context, uint64) (CaseSnapshot, error) { return CaseSnapshot{}, nil })
	reg("SetCaseState", func(context.Context, CaseStateUpdate) error { return nil })
	reg("DraftNotice", func(_ context.Context, r DraftRequest) (DraftResult, error) {
		return DraftResult{NoticeID: r.CaseID*100 + uint64(r.Revision), Recipient: "abuse@" + r.Target}, nil
	})
	reg("ApproveNotice", func(context.Context, ApproveNoticeRequest) error { return nil })
	reg("SendNotice", func(_ context.Context, noticeID uint64) error {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.refuse[noticeID] && !a.refused[noticeID] {
			if a.refused == nil {
				a.refused = map[uint64]bool{}
			}
			a.refused[noticeID] = true
			return temporal.NewNonRetryableApplicationError("550 5.1.1 abuse mailbox unavailable", errTypePermanent, nil)
		}
		return nil
	})
	reg("StartCrawlRun", func(context.Context, uint64) (uint64, error) { return 42, nil })
	reg("CrawlRun", func(ctx context.Context, req CrawlRunRequest) (CrawlResult, error) {
		activity.RecordHeartbeat(ctx, "https://leaks.example/files/")
		return CrawlResult{RunID: req.RunID, Pages: 12, Files: 3, Failed: 1, Hits: 2}, nil
	})
	reg("ScanRun", func(ctx context.Context, req ScanRunRequest) (ScanResult, error) {
		activity.RecordHeartbeat(ctx, req.RunID)
		return ScanResult{Items: 3, Hits: 1}, nil
	})
	reg("DispatchHits", func(context.Context) (int, error) { return 2, nil })
}

// recorder drives workflows through the client, as the dispatcher and CLI do.
type recorder struct {
	t *testing.T
	c client.Client
}

func (r *recorder) with(t *testing.T) *recorder { return &recorder{t: t, c: r.c} }

func (r *recorder) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	r.t.Cleanup(cancel)
	return ctx
}

// signalWithStart delivers hits as Dispatcher.DispatchHits does.
func (r *recorder) signalWithStart(target string, caseID uint64, hits ...uint64) {
	r.t.Helper()
	id := CaseWorkflowID(target)
	_, err := r.c.SignalWithStartWorkflow(r.ctx(), id, SignalHit, HitSignal{HitIDs: hits}, client.StartWorkflowOptions{
		ID:                    id,
		TaskQueue:             recordTaskQueue,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			SearchCaseState.ValueSet(string(storage.CaseDetected)), SearchCaseTarget.ValueSet(target)),
	}, TakedownCaseName, CaseInput{CaseID: caseID, Target: target})
	if err != nil {
		r.t.Fatalf("signal-with-start %s: %v", id, err)
	}
}

func (r *recorder) signal(id string, hits ...uint64) {
	r.t.Helper()
	if err := r.c.SignalWorkflow(r.ctx(), id, "", SignalHit, HitSignal{HitIDs: hits}); err != nil {
		r.t.Fatalf("signal %s: %v", id, err)
	}
}

// approve sends the approval update as Cases.Approve does.
func (r *recorder) approve(id string, req ApproveInput) {
	r.t.Helper()
	ctx := r.ctx()
	h, err := r.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: UpdateApprove, Args: []any{req},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	if err != nil {
		r.t.Fatalf("approve %s revision %d as %s: %v", id, req.Revision, req.Approver, err)
	}
}

// waitStatus polls the status query until the case is in state at revision,
// and then until the workflow is idle (no activity or workflow task
// pending), so every recording stops at the same point of the history.
func (r *recorder) waitStatus(id string, state storage.CaseState, revision int) CaseStatus {
	r.t.Helper()
	ctx := r.ctx()
	var st CaseStatus
	for {
		v, err := r.c.QueryWorkflow(ctx, id, "", QueryStatus)
		if err == nil {
			err = v.Get(&st)
		}
		if err == nil && st.State == state && st.Revision == revision && r.idle(ctx, id) {
			return st
		}
		select {
		case <-ctx.Done():
			r.t.Fatalf("%s never reached %s revision %d; last status %+v (err %v)", id, state, revision, st, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (r *recorder) idle(ctx context.Context, id string) bool {
	d, err := r.c.DescribeWorkflowExecution(ctx, id, "")
	return err == nil && len(d.PendingActivities) == 0 && d.PendingWorkflowTask == nil
}

func (r *recorder) cancel(id string) {
	r.t.Helper()
	ctx := r.ctx()
	if err := r.c.CancelWorkflow(ctx, id, ""); err != nil {
		r.t.Fatalf("cancel %s: %v", id, err)
	}
	var canceled *temporal.CanceledError
	if err := r.c.GetWorkflow(ctx, id, "").Get(ctx, nil); !errors.As(err, &canceled) {
		r.t.Fatalf("%s ended with %v, want canceled", id, err)
	}
}

// save writes the workflow's history to testdata/name in the JSON form
// ReplayWorkflowHistoryFromJSONFile reads (protojson of history.v1.History,
// as `temporal workflow show --output json` prints it), indented for diffs.
func (r *recorder) save(id, name string) {
	r.t.Helper()
	ctx := r.ctx()
	var hist historypb.History
	it := r.c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			r.t.Fatalf("history of %s: %v", id, err)
		}
		hist.Events = append(hist.Events, ev)
	}
	b, err := marshalHistory(&hist)
	if err != nil {
		r.t.Fatal(err)
	}
	if host, err := os.Hostname(); err == nil && host != "" &&
		(bytes.Contains(b, []byte(`"`+host+`:`)) || bytes.Contains(b, []byte(`@`+host))) {
		r.t.Fatalf("the history of %s names this host (%s); not writing it", id, host)
	}
	path := filepath.Join("testdata", name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.t.Logf("wrote %s: %d events\n%s", path, len(hist.Events), describeHistory(&hist))
}

// marshalHistory renders a history as indented protojson. protojson's own
// whitespace is deliberately unstable, so the result is re-indented.
func marshalHistory(h *historypb.History) ([]byte, error) {
	raw, err := temporalproto.CustomJSONMarshalOptions{}.Marshal(h)
	if err != nil {
		return nil, fmt.Errorf("marshal history: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return nil, fmt.Errorf("indent history: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// recordLifecycle runs one case of the current version with the real
// activities (SQLite store, SMTP sink, scripted site) and short timers:
// draft, approval, send, a re-check that finds it still up, the follow-up,
// its approval, a re-check that finds it gone, verified removal.
func recordLifecycle(t *testing.T, r *recorder, c client.Client) {
	const queue = "leakwatch-record-lifecycle"
	e := newLifecycleEnv(t, func(n *config.NoticesConfig) {
		n.DraftDelay, n.FollowUpAfter, n.EscalateAfter = 0, 3*time.Second, time.Hour
		n.VerifySchedule, n.VerifyEvery, n.VerifyFor = []time.Duration{time.Second, 6 * time.Second}, time.Hour, 2*time.Hour
	})
	e.acts.Logger = nil
	w := worker.New(c, queue, worker.Options{Identity: recordWorkerIdentity})
	RegisterWorkflows(w)
	w.RegisterActivity(e.acts)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	a := "http://leaks.example/files/a.pdf"
	e.site.set(a, true)
	id := CaseWorkflowID(e.target)
	_, err := c.SignalWithStartWorkflow(r.ctx(), id, SignalHit, HitSignal{HitIDs: e.hit(a, 0, 1)}, client.StartWorkflowOptions{
		ID: id, TaskQueue: queue, WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			SearchCaseState.ValueSet(string(storage.CaseDetected)), SearchCaseTarget.ValueSet(e.target)),
	}, TakedownCaseName, CaseInput{CaseID: e.caseID, Target: e.target})
	if err != nil {
		t.Fatal(err)
	}
	r.waitStatus(id, storage.CaseDrafted, 1)
	r.approve(id, ApproveInput{Revision: 1, Approver: "lee", Role: storage.RoleLegal})
	r.waitStatus(id, storage.CaseDrafted, 2) // the follow-up
	e.site.set(a, false)
	r.approve(id, ApproveInput{Revision: 2, Approver: "kim", Role: storage.RoleAdmin})
	r.waitStatus(id, storage.CaseVerifiedRemoved, 2)
	r.cancel(id)
	r.save(id, historyCaseLifecycle)
	if n := len(e.sink.Messages()); n != 2 {
		t.Errorf("%d messages; want the notice and its follow-up", n)
	}
}
