package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/storage"
)

// caseState is the workflow's memory. Slices (not maps) keep replay deterministic.
type caseState struct {
	in        CaseInput
	state     storage.CaseState
	noticeID  uint64
	drafted   []uint64 // hits listed in the current draft
	approval  *ApproveInput
	lastError string
}

func (s *caseState) addHits(ids []uint64) {
	for _, id := range ids {
		// A hit seen before is a re-delivered signal (the dispatcher crashed
		// after signalling and before recording it).
		if !slices.Contains(s.in.Seen, id) {
			s.in.Seen = append(s.in.Seen, id)
		}
	}
}

func (s *caseState) unlisted() []uint64 {
	var out []uint64
	for _, id := range s.in.Seen {
		if !slices.Contains(s.in.Listed, id) {
			out = append(out, id)
		}
	}
	return out
}

func (s *caseState) validateApproval(req ApproveInput) error {
	if !req.Role.CanApproveNotices() {
		return fmt.Errorf("approving notices needs the legal or admin role; %s has %q", req.Approver, req.Role)
	}
	if req.Approver == "" {
		return errors.New("approver is required")
	}
	if !s.state.AwaitsApproval() {
		return fmt.Errorf("case is %s; there is no draft waiting for approval", s.state)
	}
	if s.approval != nil {
		return fmt.Errorf("revision %d is already approved by %s", s.approval.Revision, s.approval.Approver)
	}
	if req.Revision != s.in.Revision {
		return fmt.Errorf("revision %d is not the current draft (revision %d); review the current draft", req.Revision, s.in.Revision)
	}
	return nil
}

// takedownCaseV0 is the case workflow as it was before the lifecycle
// (version 1): draft → approve → send, and a follow-up draft for hits after
// that. It stays, unchanged, for cases started before the upgrade, whose
// histories replay only against this code; at continue-as-new they move on
// to the current version.
func takedownCaseV0(ctx workflow.Context, in CaseInput) error {
	log := workflow.GetLogger(ctx)
	s := &caseState{in: in, state: storage.CaseDetected}
	var a *CaseActivities // method values name the activities; never called directly

	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute,
			NonRetryableErrorTypes: []string{errTypePermanent},
		},
	})

	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (CaseStatus, error) {
		return CaseStatus{CaseID: s.in.CaseID, Target: s.in.Target, State: s.state, Revision: s.in.Revision,
			NoticeID: s.noticeID, Seen: len(s.in.Seen), Unlisted: len(s.unlisted()), LastError: s.lastError}, nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateApprove,
		func(ctx workflow.Context, req ApproveInput) error {
			s.approval = &req
			return nil
		},
		workflow.UpdateHandlerOptions{Validator: s.validateApproval},
	); err != nil {
		return err
	}
	hits := workflow.GetSignalChannel(ctx, SignalHit)
	workflow.Go(ctx, func(ctx workflow.Context) {
		// Wait for a signal and then take it, rather than block in Receive:
		// a blocked receiver is handed the value at once, where
		// continueAsNew's drain cannot see it, and a case continuing as new
		// in the task that delivered a hit would drop that hit.
		for {
			if err := workflow.Await(ctx, func() bool { return hits.Len() > 0 }); err != nil {
				return
			}
			var h HitSignal
			for hits.ReceiveAsync(&h) {
				s.addHits(h.HitIDs)
			}
		}
	})

	if !s.in.Resumed {
		// A case restarted after its workflow ended must not reuse revisions.
		var snap CaseSnapshot
		if err := workflow.ExecuteActivity(actx, a.LoadCase, s.in.CaseID).Get(ctx, &snap); err != nil {
			return err
		}
		s.in.Revision = max(s.in.Revision, snap.Revision)
		s.in.Resumed = true
	}

	setState := func(state storage.CaseState, recipient string) error {
		s.state = state
		if err := workflow.UpsertTypedSearchAttributes(ctx, SearchCaseState.ValueSet(string(state)), SearchCaseTarget.ValueSet(s.in.Target)); err != nil {
			return err
		}
		return workflow.ExecuteActivity(actx, a.SetCaseState, CaseStateUpdate{CaseID: s.in.CaseID, State: state, Recipient: recipient}).Get(ctx, nil)
	}
	if len(s.in.Listed) > 0 {
		s.state = storage.CaseSent
	}

	for {
		// Wait for something to notify the host about.
		if err := workflow.Await(ctx, func() bool {
			return len(s.unlisted()) > 0 || (workflow.GetInfo(ctx).GetContinueAsNewSuggested() && s.state != storage.CaseDrafted)
		}); err != nil {
			return err
		}
		if len(s.unlisted()) == 0 {
			return continueAsNew(ctx, hits, s)
		}

		// Draft a notice listing every hit not yet notified.
		s.drafted = s.unlisted()
		s.in.Revision++
		var d DraftResult
		err := workflow.ExecuteActivity(actx, a.DraftNotice, DraftRequest{
			CaseID: s.in.CaseID, Target: s.in.Target, Revision: s.in.Revision, HitIDs: s.drafted,
		}).Get(ctx, &d)
		if err != nil {
			return err
		}
		s.noticeID = d.NoticeID
		if err := setState(storage.CaseDrafted, d.Recipient); err != nil {
			return err
		}

		// Wait for approval; new hits before it arrive mean a fresh draft that lists them too.
		if err := workflow.Await(ctx, func() bool {
			return s.approval != nil || len(s.unlisted()) > len(s.drafted)
		}); err != nil {
			return err
		}
		if s.approval == nil {
			log.Info("new hits before approval; redrafting", "case", s.in.CaseID)
			continue
		}
		if err := workflow.ExecuteActivity(actx, a.ApproveNotice, ApproveNoticeRequest{
			NoticeID: s.noticeID, Approver: s.approval.Approver,
		}).Get(ctx, nil); err != nil {
			return err
		}
		if err := setState(storage.CaseApproved, ""); err != nil {
			return err
		}

		// Sending retries transient failures for as long as it takes; a
		// permanent refusal waits for a person to approve again.
		sctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 2 * time.Minute,
			RetryPolicy: &temporal.RetryPolicy{
				InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Minute,
				NonRetryableErrorTypes: []string{errTypePermanent},
			},
		})
		for {
			err := workflow.ExecuteActivity(onQueue(sctx, config.QueueNotify), a.SendNotice, s.noticeID).Get(ctx, nil)
			if err == nil {
				break
			}
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != errTypePermanent {
				return err
			}
			log.Warn("notice refused permanently; waiting for a new approval", "case", s.in.CaseID, "notice", s.noticeID)
			s.lastError, s.approval = appErr.Error(), nil
			if err := setState(storage.CaseSendFailed, ""); err != nil {
				return err
			}
			if err := workflow.Await(ctx, func() bool { return s.approval != nil }); err != nil {
				return err
			}
		}
		s.in.Listed = append(s.in.Listed, s.drafted...)
		s.drafted, s.approval, s.lastError = nil, nil, ""
		if err := setState(storage.CaseSent, ""); err != nil {
			return err
		}
	}
}

// continueAsNew hands the case's memory to a fresh run, after taking in any
// signal already delivered so none is lost.
func continueAsNew(ctx workflow.Context, hits workflow.ReceiveChannel, s *caseState) error {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	for {
		var h HitSignal
		if !hits.ReceiveAsync(&h) {
			break
		}
		s.addHits(h.HitIDs)
	}
	return workflow.NewContinueAsNewError(ctx, TakedownCaseName, s.in)
}
