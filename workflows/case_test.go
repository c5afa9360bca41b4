package workflows

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/leakwatch/leakwatch/storage"
)

// The case workflow's logic under the SDK's test environment (timers skipped,
// activities stubbed); the real activities and server are covered end to end
// in package e2e.

type caseEnv struct {
	*testsuite.TestWorkflowEnvironment
	drafts []DraftRequest
	sends  int
	states []storage.CaseState
}

func newCaseEnv(t *testing.T, sendErrs ...error) *caseEnv {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	e := &caseEnv{TestWorkflowEnvironment: s.NewTestWorkflowEnvironment()}
	var a *CaseActivities
	e.RegisterWorkflowWithOptions(TakedownCase, workflow.RegisterOptions{Name: TakedownCaseName})
	e.OnActivity(a.LoadCase, mock.Anything, mock.Anything).Return(CaseSnapshot{}, nil)
	e.OnActivity(a.SetCaseState, mock.Anything, mock.Anything).Return(func(_ context.Context, u CaseStateUpdate) error {
		e.states = append(e.states, u.State)
		return nil
	})
	e.OnActivity(a.DraftNotice, mock.Anything, mock.Anything).Return(func(_ context.Context, r DraftRequest) (DraftResult, error) {
		e.drafts = append(e.drafts, r)
		return DraftResult{NoticeID: uint64(100 + r.Revision), Recipient: "abuse@host.example"}, nil
	})
	e.OnActivity(a.ApproveNotice, mock.Anything, mock.Anything).Return(nil)
	e.OnActivity(a.SendNotice, mock.Anything, mock.Anything).Return(func(context.Context, uint64) error {
		e.sends++
		if len(sendErrs) > 0 {
			err := sendErrs[0]
			sendErrs = sendErrs[1:]
			return err
		}
		return nil
	})
	return e
}

func (e *caseEnv) signalHits(after time.Duration, ids ...uint64) {
	e.RegisterDelayedCallback(func() { e.SignalWorkflow(SignalHit, HitSignal{HitIDs: ids}) }, after)
}

// approve sends the approval update and reports the validator's verdict.
func (e *caseEnv) approve(after time.Duration, req ApproveInput, verdict *error) {
	e.RegisterDelayedCallback(func() {
		e.UpdateWorkflow(UpdateApprove, "", &testsuite.TestUpdateCallback{
			OnReject:   func(err error) { *verdict = err },
			OnAccept:   func() { *verdict = nil },
			OnComplete: func(any, error) {},
		}, req)
	}, after)
}

func (e *caseEnv) status(t *testing.T) CaseStatus {
	t.Helper()
	v, err := e.QueryWorkflow(QueryStatus)
	if err != nil {
		t.Fatal(err)
	}
	var st CaseStatus
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestCaseDraftApproveSend(t *testing.T) {
	e := newCaseEnv(t)
	var analystVerdict, staleVerdict, okVerdict, againVerdict error = nil, nil, errors.New("not called"), nil
	e.signalHits(time.Second, 1, 2)
	e.signalHits(2*time.Second, 2) // re-delivered: ignored
	e.approve(time.Minute, ApproveInput{Revision: 1, Approver: "ana", Role: storage.RoleAnalyst}, &analystVerdict)
	e.approve(2*time.Minute, ApproveInput{Revision: 9, Approver: "lee", Role: storage.RoleLegal}, &staleVerdict)
	e.approve(3*time.Minute, ApproveInput{Revision: 1, Approver: "lee", Role: storage.RoleLegal}, &okVerdict)
	e.approve(4*time.Minute, ApproveInput{Revision: 1, Approver: "lee", Role: storage.RoleLegal}, &againVerdict)
	e.RegisterDelayedCallback(func() {
		st := e.status(t)
		if st.State != storage.CaseSent || st.Seen != 2 || st.Unlisted != 0 || st.Revision != 1 {
			t.Errorf("status after send = %+v", st)
		}
		e.CancelWorkflow()
	}, time.Hour)
	e.ExecuteWorkflow(TakedownCaseName, CaseInput{CaseID: 7, Target: "host.example"})

	if analystVerdict == nil {
		t.Error("an analyst's approval was accepted")
	}
	if staleVerdict == nil {
		t.Error("approval of a revision that is not the draft was accepted")
	}
	if okVerdict != nil {
		t.Errorf("lawyer's approval rejected: %v", okVerdict)
	}
	if againVerdict == nil {
		t.Error("a second approval after sending was accepted")
	}
	if len(e.drafts) != 1 || len(e.drafts[0].HitIDs) != 2 {
		t.Errorf("drafts = %+v; want one listing hits 1 and 2", e.drafts)
	}
	if e.sends != 1 {
		t.Errorf("sent %d times, want 1", e.sends)
	}
	want := []storage.CaseState{storage.CaseDrafted, storage.CaseApproved, storage.CaseSent}
	if !equal(e.states, want) {
		t.Errorf("states %v, want %v", e.states, want)
	}
}

// Hits arriving before approval produce a new revision that lists them too;
// the old revision can no longer be approved.
func TestCaseRedraftsOnNewHits(t *testing.T) {
	e := newCaseEnv(t)
	var oldVerdict, newVerdict error = nil, errors.New("not called")
	e.signalHits(time.Second, 1)
	e.signalHits(time.Minute, 2)
	e.approve(2*time.Minute, ApproveInput{Revision: 1, Approver: "lee", Role: storage.RoleLegal}, &oldVerdict)
	e.approve(3*time.Minute, ApproveInput{Revision: 2, Approver: "lee", Role: storage.RoleLegal}, &newVerdict)
	// Reappearance after the notice went out: a follow-up lists only the new hit.
	e.signalHits(time.Hour, 3)
	e.RegisterDelayedCallback(func() {
		if st := e.status(t); st.State != storage.CaseDrafted || st.Revision != 3 {
			t.Errorf("after reappearance status = %+v, want drafted revision 3", st)
		}
		e.CancelWorkflow()
	}, 2*time.Hour)
	e.ExecuteWorkflow(TakedownCaseName, CaseInput{CaseID: 7, Target: "host.example"})

	if oldVerdict == nil || newVerdict != nil {
		t.Errorf("verdicts old=%v new=%v; want old rejected, new accepted", oldVerdict, newVerdict)
	}
	if len(e.drafts) != 3 {
		t.Fatalf("drafts = %+v, want 3", e.drafts)
	}
	if got := e.drafts[1].HitIDs; !equal(got, []uint64{1, 2}) {
		t.Errorf("revision 2 lists %v, want [1 2]", got)
	}
	if got := e.drafts[2].HitIDs; !equal(got, []uint64{3}) {
		t.Errorf("follow-up lists %v, want [3]", got)
	}
}

// A permanent SMTP refusal parks the case until a lawyer approves again; the
// same notice then goes out.
func TestCasePermanentSendFailure(t *testing.T) {
	perm := temporal.NewNonRetryableApplicationError("550 mailbox unavailable", errTypePermanent, nil)
	e := newCaseEnv(t, perm)
	notCalled := errors.New("not called")
	first, second := notCalled, notCalled
	e.signalHits(time.Second, 1)
	e.approve(time.Minute, ApproveInput{Revision: 1, Approver: "lee", Role: storage.RoleLegal}, &first)
	e.RegisterDelayedCallback(func() {
		if st := e.status(t); st.State != storage.CaseSendFailed || st.LastError == "" {
			t.Errorf("after refusal status = %+v", st)
		}
	}, 30*time.Minute)
	e.approve(time.Hour, ApproveInput{Revision: 1, Approver: "kim", Role: storage.RoleAdmin}, &second)
	e.RegisterDelayedCallback(func() {
		if st := e.status(t); st.State != storage.CaseSent {
			t.Errorf("after re-approval status = %+v", st)
		}
		e.CancelWorkflow()
	}, 2*time.Hour)
	e.ExecuteWorkflow(TakedownCaseName, CaseInput{CaseID: 7, Target: "host.example"})
	if first != nil || second != nil {
		t.Errorf("approvals rejected: %v, %v", first, second)
	}
	if e.sends != 2 || len(e.drafts) != 1 {
		t.Errorf("sends=%d drafts=%d; want 2 sends of 1 draft", e.sends, len(e.drafts))
	}
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
