package workflows

import (
	"context"
	"flag"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/internal/temporalproc/temporaltest"
	"github.com/leakwatch/leakwatch/internal/testkit/smtpsink/badrelay"
	"github.com/leakwatch/leakwatch/storage"
)

// Histories of cases still open when a release was replaced: what a new
// worker picks up after an upgrade. Each stops mid-flight (the workflow
// waits for a person or a timer) and is kept unchanged afterwards, so a
// later change of TakedownCase that would break cases running under that
// release fails the replay test. They were recorded from release af3289f;
// a new release adds its own files rather than re-recording these:
//
//	LEAKWATCH_TEMPORAL_BINARY=bin/leakwatch-temporal go test ./workflows -run TestRecordReleaseHistories -record-release

var recordRelease = flag.Bool("record-release", false, "record the mid-flight histories of the current release into testdata/ (TestRecordReleaseHistories)")

const (
	// drafted, waiting for a lawyer's approval
	historyReleaseAwaiting = "takedown_case_af3289f_awaiting_approval.json"
	// sent, re-checked once (still up), waiting on the re-check and follow-up timers
	historyReleaseSent = "takedown_case_af3289f_sent_rechecked.json"
	// the relay refused the notice for good: waiting for a new approval
	historyReleaseRefused = "takedown_case_af3289f_send_failed.json"
)

func TestRecordReleaseHistories(t *testing.T) {
	if !*recordRelease {
		t.Skip("records the current release's mid-flight histories against a real server; run with -record-release")
	}
	srv := temporaltest.Start(t)
	c := dialRecorder(t, srv)
	worker.SetStickyWorkflowCacheSize(0) // as TestRecordHistories: no host name in the histories
	r := &recorder{t: t, c: c}
	// A production-like policy: drafts settle for a moment, the follow-up
	// and escalation are days away.
	tune := func(n *config.NoticesConfig) {
		n.DraftDelay, n.FollowUpAfter, n.EscalateAfter = time.Second, 72*time.Hour, 120*time.Hour
		n.VerifySchedule, n.VerifyEvery, n.VerifyFor = []time.Duration{time.Second, time.Hour}, 6*time.Hour, 30*24*time.Hour
	}
	const a, b = "http://leaks.example/files/a.pdf", "http://leaks.example/files/b.csv"

	t.Run("awaiting approval", func(t *testing.T) {
		r := r.with(t)
		e := newLifecycleEnv(t, tune)
		id := startReleaseCase(t, r, c, e, e.hit(a, 0, 1), e.hit(b, 2))
		r.waitStatus(id, storage.CaseDrafted, 1)
		r.save(id, historyReleaseAwaiting)
		r.cancel(id)
	})
	t.Run("sent and re-checked", func(t *testing.T) {
		r := r.with(t)
		e := newLifecycleEnv(t, tune)
		e.site.set(a, true)
		id := startReleaseCase(t, r, c, e, e.hit(a, 0, 1))
		r.waitStatus(id, storage.CaseDrafted, 1)
		r.approve(id, ApproveInput{Revision: 1, Approver: "lee", Role: storage.RoleLegal})
		// The first re-check (1 s after sending) finds it still up; then
		// the case waits an hour for the next.
		ctx := r.ctx()
		for {
			last, err := e.store.LastRemovalCheck(ctx, e.caseID)
			if err != nil {
				t.Fatal(err)
			}
			if !last.IsZero() {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatal("no removal check after sending")
			case <-time.After(50 * time.Millisecond):
			}
		}
		r.waitStatus(id, storage.CaseSent, 1)
		r.save(id, historyReleaseSent)
		r.cancel(id)
		if n := len(e.sink.Messages()); n != 1 {
			t.Errorf("%d messages; want the notice", n)
		}
	})
	t.Run("send failed", func(t *testing.T) {
		r := r.with(t)
		relay, err := badrelay.Start(context.Background(), badrelay.Options{Fault: badrelay.RejectRcpt})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { relay.Close() })
		e := newLifecycleEnvRelay(t, tune, relay.Addr())
		id := startReleaseCase(t, r, c, e, e.hit(a, 0))
		r.waitStatus(id, storage.CaseDrafted, 1)
		r.approve(id, ApproveInput{Revision: 1, Approver: "lee", Role: storage.RoleLegal})
		r.waitStatus(id, storage.CaseSendFailed, 1)
		r.save(id, historyReleaseRefused)
		r.cancel(id)
	})
}

// startReleaseCase runs a worker with e's real activities and delivers the
// first hits as the dispatcher does; it returns the case's workflow id.
func startReleaseCase(t *testing.T, r *recorder, c client.Client, e *lifecycleEnv, hits ...[]uint64) string {
	t.Helper()
	const queue = "leakwatch-record-release"
	e.acts.Logger = nil
	w := worker.New(c, queue, worker.Options{Identity: recordWorkerIdentity})
	RegisterWorkflows(w)
	w.RegisterActivity(e.acts)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	var ids []uint64
	for _, h := range hits {
		ids = append(ids, h...)
	}
	id := CaseWorkflowID(e.target)
	_, err := c.SignalWithStartWorkflow(r.ctx(), id, SignalHit, HitSignal{HitIDs: ids}, client.StartWorkflowOptions{
		ID: id, TaskQueue: queue, WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			SearchCaseState.ValueSet(string(storage.CaseDetected)), SearchCaseTarget.ValueSet(e.target)),
	}, TakedownCaseName, CaseInput{CaseID: e.caseID, Target: e.target})
	if err != nil {
		t.Fatal(err)
	}
	return id
}
