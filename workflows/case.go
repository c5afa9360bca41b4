// Package workflows holds leakwatch's Temporal workflows and activities:
// scheduled crawls and one TakedownCase per host or channel, which drafts a
// notice citing the injunction, waits for a lawyer's approval, sends it and
// keeps watching for the content to reappear. Workflow code is deterministic;
// all I/O happens in activities.
package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/leakwatch/leakwatch/storage"
)

// Names other processes use to reach a case.
const (
	TakedownCaseName = "TakedownCase"
	SignalHit        = "hit"
	UpdateApprove    = "approve"
	QueryStatus      = "status"
)

// Search attributes registered on the namespace by leakwatch-temporal.
var (
	SearchCaseState  = temporal.NewSearchAttributeKeyKeyword("CaseState")
	SearchCaseTarget = temporal.NewSearchAttributeKeyKeyword("CaseTarget")
)

// CaseWorkflowID is the workflow id of the case about target, so every new
// hit for the same host reaches the same case (signal-with-start).
func CaseWorkflowID(target string) string { return "takedown-case:" + target }

// CaseInput starts a case, or continues one after continue-as-new.
type CaseInput struct {
	CaseID uint64
	Target string
	// Carried across continue-as-new.
	Seen     []uint64 // every hit the case has received
	Listed   []uint64 // hits already in a sent notice
	Revision int      // last drafted notice revision
	Resumed  bool     // state was loaded from the database already
}

// HitSignal tells a case about new hits (one crawl's worth, usually).
type HitSignal struct {
	HitIDs []uint64
}

// ApproveInput is a lawyer's approval of one notice revision.
type ApproveInput struct {
	Revision int
	Approver string
	Role     storage.Role
}

// CaseStatus answers QueryStatus.
type CaseStatus struct {
	CaseID    uint64
	Target    string
	State     storage.CaseState
	Revision  int
	NoticeID  uint64
	Seen      int
	Unlisted  int
	LastError string
}

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

// TakedownCase drives one host's (or channel's) takedown: draft → approve →
// send → watch; a hit arriving after a notice went out reopens the case with
// a follow-up notice.
func TakedownCase(ctx workflow.Context, in CaseInput) error {
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
			err := workflow.ExecuteActivity(sctx, a.SendNotice, s.noticeID).Get(ctx, nil)
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
	return workflow.NewContinueAsNewError(ctx, TakedownCase, s.in)
}
