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

// versionLifecycle marks cases that run the whole lifecycle (triage,
// drafts that change only with their items, follow-up, escalation,
// verification, reopening). Histories without the marker are the first
// version's and replay through takedownCaseV0.
const versionLifecycle = "case-lifecycle"

// TakedownCase drives one host's (or channel's) takedown from the first
// hit to verified removal, and reopens when the content comes back. The
// application database holds the case's items and notices; the workflow
// decides what happens next and when, so a case restarted from the
// database (after the Temporal store was lost) carries on where it was.
func TakedownCase(ctx workflow.Context, in CaseInput) error {
	if workflow.GetVersion(ctx, versionLifecycle, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return takedownCaseV0(ctx, in)
	}
	return runCase(ctx, in)
}

// CasePolicy is the case's configuration, read once per run by an
// activity (config lives outside the workflow).
type CasePolicy struct {
	AutoConfirm    bool
	TwoPersonRule  bool
	DraftDelay     time.Duration
	FollowUpAfter  time.Duration
	EscalateAfter  time.Duration
	VerifySchedule []time.Duration
	VerifyEvery    time.Duration
	VerifyFor      time.Duration
	Injunction     string // file number, for the search attribute
}

// ItemView is what the workflow knows of an item.
type ItemView struct {
	ID         uint64
	State      storage.ItemState
	Listed     bool // in a sent notice
	Reappeared int
	// Earlier are other cases' sent notices that listed the same content
	// (a mirror); its first notice here cites them.
	Earlier []uint64
}

// NoticeView is what the workflow knows of a notice revision.
type NoticeView struct {
	ID        uint64
	Revision  int
	Reference string
	Kind      storage.NoticeKind
	State     storage.NoticeState
	DraftedBy string
	SentAt    time.Time
	Items     []uint64
	Cites     []uint64
	LastError string
}

// CaseSnapshot is what a case workflow learns from the database.
type CaseSnapshot struct {
	Revision  int // highest notice revision (first version: all it read)
	State     storage.CaseState
	Items     []ItemView
	Notices   []NoticeView // oldest first
	LastCheck time.Time
	Acked     bool
	Policy    CasePolicy
}

// caseRun is one run's memory of a lifecycle case. The snapshot is the
// database's view, refreshed after every change; the rest is what only
// the workflow knows.
type caseRun struct {
	in        CaseInput
	snap      CaseSnapshot
	state     storage.CaseState
	stale     bool     // a handler changed the database: reload before deciding
	hits      []uint64 // received, not yet taken into items
	itemsAt   time.Time
	recheck   bool
	closeReq  *CloseInput
	lastError string
	// escalationSkipped: the round (its notice id) whose escalation found
	// no upstream contact, so it is not tried again every wake-up.
	escalationSkipped uint64
	nextTimer         time.Time
	nextWhat          string
	// uncertain is a notice whose last send said "may have been
	// delivered": it is not sent again until a person resolves it.
	uncertain uint64
	// checkedAt is when this run last re-checked, by the workflow's clock
	// (the database's time is the activity's, which a replay or a test's
	// skipped clock does not share).
	checkedAt time.Time
}

func (r *caseRun) draft() *NoticeView {
	for i := len(r.snap.Notices) - 1; i >= 0; i-- {
		switch n := &r.snap.Notices[i]; n.State {
		case storage.NoticeDraft, storage.NoticeChangesRequested:
			return n
		}
	}
	return nil
}

// outgoing is an approved notice not yet sent (or being sent, or refused,
// or uncertain): the one the case is busy with.
func (r *caseRun) outgoing() *NoticeView {
	for i := range r.snap.Notices {
		switch n := &r.snap.Notices[i]; n.State {
		case storage.NoticeApproved, storage.NoticeSending, storage.NoticeRefused, storage.NoticeUncertain:
			return n
		}
	}
	return nil
}

// pending are confirmed items in no sent notice and not in the draft.
func (r *caseRun) pending() []uint64 {
	var inDraft []uint64
	if d := r.draft(); d != nil {
		inDraft = d.Items
	}
	if o := r.outgoing(); o != nil {
		inDraft = append(slices.Clone(inDraft), o.Items...)
	}
	var out []uint64
	for _, it := range r.snap.Items {
		if it.State == storage.ItemConfirmed && !it.Listed && !slices.Contains(inDraft, it.ID) {
			out = append(out, it.ID)
		}
	}
	return out
}

func (r *caseRun) untriaged() int {
	n := 0
	for _, it := range r.snap.Items {
		if it.State == storage.ItemNew {
			n++
		}
	}
	return n
}

// stillUp are listed items not found removed.
func (r *caseRun) stillUp() []uint64 {
	var out []uint64
	for _, it := range r.snap.Items {
		if it.Listed && it.State == storage.ItemConfirmed {
			out = append(out, it.ID)
		}
	}
	return out
}

func (r *caseRun) listed() bool {
	return slices.ContainsFunc(r.snap.Items, func(it ItemView) bool { return it.Listed })
}

// round is the latest sent notice that first listed items (a first notice
// or a reappearance notice): follow-up, escalation and re-checks count
// from it.
func (r *caseRun) round() *NoticeView {
	for i := len(r.snap.Notices) - 1; i >= 0; i-- {
		n := &r.snap.Notices[i]
		if n.State == storage.NoticeSent && (n.Kind == storage.NoticeFirst || n.Kind == storage.NoticeReappearance) {
			return n
		}
	}
	return nil
}

func (r *caseRun) sent() []uint64 {
	var out []uint64
	for _, n := range r.snap.Notices {
		if n.State == storage.NoticeSent {
			out = append(out, n.ID)
		}
	}
	return out
}

// noticedElsewhere returns the other cases' notices that listed the
// content of items, in id order.
func (r *caseRun) noticedElsewhere(items []uint64) []uint64 {
	var out []uint64
	for _, it := range r.snap.Items {
		if slices.Contains(items, it.ID) {
			out = append(out, it.Earlier...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// hasCiting reports whether a notice of kind (not superseded) cites round.
func (r *caseRun) hasCiting(kind storage.NoticeKind, round uint64) bool {
	return slices.ContainsFunc(r.snap.Notices, func(n NoticeView) bool {
		return n.Kind == kind && n.State != storage.NoticeSuperseded && slices.Contains(n.Cites, round)
	})
}

// revision is the case's highest notice revision (LoadCase, which every
// snapshot comes from, computes it).
func (r *caseRun) revision() int { return r.snap.Revision }

// NextCheck is when listed items are next re-checked: each offset of the
// schedule after sentAt, then every `every`, until `window` has passed; zero
// when the window is over.
func NextCheck(sentAt, lastCheck time.Time, schedule []time.Duration, every, window time.Duration) time.Time {
	for _, off := range schedule {
		if t := sentAt.Add(off); t.After(lastCheck) {
			return t
		}
	}
	if every <= 0 || len(schedule) == 0 {
		return time.Time{}
	}
	t := sentAt.Add(schedule[len(schedule)-1])
	for !t.After(lastCheck) {
		t = t.Add(every)
	}
	if t.After(sentAt.Add(window)) {
		return time.Time{}
	}
	return t
}

// caseActivityOptions: database and lookup activities retry for as long
// as it takes; a permanent error is one retrying cannot fix.
var caseActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute,
		NonRetryableErrorTypes: []string{errTypePermanent, errTypeNoRecipient},
	},
}

// sendActivityOptions bound one SMTP attempt (the mailer's own total
// deadline is below this) and retry transient failures for as long as it
// takes.
var sendActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 2 * time.Minute,
	// A worker that dies mid-send is noticed in seconds, not minutes; the
	// retry then finds the DATA mark and does not send twice.
	HeartbeatTimeout: 20 * time.Second,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Minute,
		NonRetryableErrorTypes: []string{errTypePermanent},
	},
}

// checkActivityOptions: re-checks fetch through the crawler, slowly on Tor.
var checkActivityOptions = workflow.ActivityOptions{
	StartToCloseTimeout: 30 * time.Minute,
	HeartbeatTimeout:    2 * time.Minute,
	RetryPolicy: &temporal.RetryPolicy{
		InitialInterval: 30 * time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Minute,
		MaximumAttempts: 5,
	},
}

func runCase(ctx workflow.Context, in CaseInput) error {
	log := workflow.GetLogger(ctx)
	r := &caseRun{in: in, hits: slices.Clone(in.Seen), state: storage.CaseDetected}
	var a *CaseActivities
	actx := workflow.WithActivityOptions(ctx, caseActivityOptions)

	// load refreshes the snapshot; every decision starts from the database.
	load := func() error {
		var snap CaseSnapshot
		if err := workflow.ExecuteActivity(actx, a.LoadCase, r.in.CaseID).Get(ctx, &snap); err != nil {
			return err
		}
		r.snap, r.stale = snap, false
		return nil
	}
	if err := load(); err != nil {
		return err
	}
	r.state = r.snap.State

	setState := func(state storage.CaseState, detail string) error {
		if state == r.state && detail == "" {
			return nil
		}
		r.state = state
		if err := workflow.UpsertTypedSearchAttributes(ctx, SearchCaseState.ValueSet(string(state)),
			SearchCaseTarget.ValueSet(r.in.Target), SearchCaseInjunction.ValueSet(r.snap.Policy.Injunction)); err != nil {
			return err
		}
		return workflow.ExecuteActivity(actx, a.SetCaseState, CaseStateUpdate{CaseID: r.in.CaseID, State: state, Detail: detail}).Get(ctx, nil)
	}

	if err := r.handlers(ctx, actx); err != nil {
		return err
	}
	hits := workflow.GetSignalChannel(ctx, SignalHit)
	workflow.Go(ctx, func(ctx workflow.Context) {
		// Await then take, rather than block in Receive, so a signal is
		// never handed to a goroutine that continue-as-new cannot drain.
		for {
			if err := workflow.Await(ctx, func() bool { return hits.Len() > 0 }); err != nil {
				return
			}
			var h HitSignal
			for hits.ReceiveAsync(&h) {
				r.hits = append(r.hits, h.HitIDs...)
			}
		}
	})

	for {
		if r.stale {
			if err := load(); err != nil {
				return err
			}
		}
		if len(r.hits) > 0 {
			batch := r.hits
			r.hits = nil
			var res TakeHitsResult
			if err := workflow.ExecuteActivity(actx, a.TakeHits, TakeHitsRequest{CaseID: r.in.CaseID, HitIDs: batch}).Get(ctx, &res); err != nil {
				return err
			}
			r.snap = res.Snapshot
			if len(res.New) > 0 || len(res.Reappeared) > 0 {
				r.itemsAt = workflow.Now(ctx)
			}
			continue
		}
		if r.closeReq != nil {
			if err := workflow.ExecuteActivity(actx, a.CloseCase, CloseCaseRequest{CaseID: r.in.CaseID, CloseInput: *r.closeReq}).Get(ctx, nil); err != nil {
				return err
			}
			r.state = storage.CaseClosed
			return workflow.UpsertTypedSearchAttributes(ctx, SearchCaseState.ValueSet(string(storage.CaseClosed)))
		}
		now := workflow.Now(ctx)
		r.nextTimer, r.nextWhat = time.Time{}, ""

		// 1. A notice approved and not yet out: send it (or wait for a
		// person when it was refused or may have been delivered).
		if o := r.outgoing(); o != nil {
			switch o.State {
			case storage.NoticeRefused:
				r.lastError = o.LastError
				if err := setState(storage.CaseSendFailed, ""); err != nil {
					return err
				}
			case storage.NoticeUncertain:
				r.lastError = o.LastError
				r.uncertain = 0
				if err := setState(storage.CaseSendUncertain, ""); err != nil {
					return err
				}
			default:
				if o.ID == r.uncertain {
					// The send said "may have been delivered" and the
					// database does not show it yet: never send again on
					// that account; wait for a person (or a reload).
					if err := setState(storage.CaseSendUncertain, ""); err != nil {
						return err
					}
					break
				}
				if err := setState(storage.CaseApproved, ""); err != nil {
					return err
				}
				var res SendResult
				err := workflow.ExecuteActivity(onQueue(workflow.WithActivityOptions(ctx, sendActivityOptions), config.QueueNotify), a.SendNotice, o.ID).Get(ctx, &res)
				var appErr *temporal.ApplicationError
				if err != nil && !(errors.As(err, &appErr) && appErr.Type() == errTypePermanent) {
					return err
				}
				if err != nil {
					log.Warn("notice refused permanently; waiting for a new approval", "case", r.in.CaseID, "notice", o.ID)
				}
				if res.Outcome == "uncertain" {
					r.uncertain = o.ID
				}
				r.stale = true
				continue
			}
			if err := r.wait(ctx, time.Time{}); err != nil {
				return err
			}
			continue
		}

		// 2. A draft waits for a lawyer (pending items wait beside it).
		if r.draft() != nil {
			if err := setState(storage.CaseDrafted, ""); err != nil {
				return err
			}
			if err := r.wait(ctx, time.Time{}); err != nil {
				return err
			}
			continue
		}

		// 3. Confirmed items no notice lists: draft one, once a crawl's
		// batches have settled.
		if p := r.pending(); len(p) > 0 {
			if !r.listed() && r.state != storage.CaseNeedsRecipient {
				if err := setState(storage.CaseTriaged, ""); err != nil {
					return err
				}
			}
			if due := r.itemsAt.Add(r.snap.Policy.DraftDelay); now.Before(due) {
				r.nextTimer, r.nextWhat = due, "draft"
				if err := r.wait(ctx, due); err != nil {
					return err
				}
				continue
			}
			kind, cites := storage.NoticeFirst, r.sent()
			if len(cites) > 0 && (len(r.stillUp()) == 0 || slices.ContainsFunc(r.snap.Items, func(it ItemView) bool {
				return slices.Contains(p, it.ID) && it.Reappeared > 0
			})) {
				kind = storage.NoticeReappearance
			}
			// Content another host or channel was already told about is
			// back, here: say so, citing those notices. (Histories from
			// before Earlier existed never carry it, so they replay alike.)
			if elsewhere := r.noticedElsewhere(p); len(elsewhere) > 0 {
				kind = storage.NoticeReappearance
				for _, id := range elsewhere {
					if !slices.Contains(cites, id) {
						cites = append(cites, id)
					}
				}
			}
			ok, err := r.draftNotice(ctx, actx, DraftRequest{Kind: kind, ItemIDs: p, Cites: cites})
			if err != nil {
				return err
			}
			if !ok {
				if err := setState(storage.CaseNeedsRecipient, r.lastError); err != nil {
					return err
				}
				if err := r.wait(ctx, time.Time{}); err != nil {
					return err
				}
			}
			continue
		}

		// 4. Listed items: re-check on schedule, follow up, escalate;
		// verified removal once every one is gone.
		if rd := r.round(); rd != nil && r.listed() {
			r.lastError = ""
			up := r.stillUp()
			last := r.snap.LastCheck
			if r.checkedAt.After(last) {
				last = r.checkedAt
			}
			next := NextCheck(rd.SentAt, last, r.snap.Policy.VerifySchedule, r.snap.Policy.VerifyEvery, r.snap.Policy.VerifyFor)
			if r.recheck || (!next.IsZero() && !now.Before(next)) {
				r.recheck = false
				var snap CaseSnapshot
				if err := workflow.ExecuteActivity(onQueue(workflow.WithActivityOptions(ctx, checkActivityOptions), config.QueueScan), a.CheckRemoval, r.in.CaseID).Get(ctx, &snap); err != nil {
					// The checks failed (the site is down for us): that
					// proves nothing either way; try again at the next one.
					log.Warn("removal re-check failed", "case", r.in.CaseID, "err", err)
				} else {
					r.snap = snap
				}
				r.checkedAt = now
				continue
			}
			if len(up) > 0 {
				followAt, escalateAt := rd.SentAt.Add(r.snap.Policy.FollowUpAfter), rd.SentAt.Add(r.snap.Policy.EscalateAfter)
				switch {
				case !r.hasCiting(storage.NoticeFollowUp, rd.ID) && !now.Before(followAt):
					if _, err := r.draftNotice(ctx, actx, DraftRequest{Kind: storage.NoticeFollowUp, ItemIDs: up, Cites: []uint64{rd.ID}}); err != nil {
						return err
					}
					continue
				case !r.hasCiting(storage.NoticeEscalation, rd.ID) && r.escalationSkipped != rd.ID && !now.Before(escalateAt):
					ok, err := r.draftNotice(ctx, actx, DraftRequest{Kind: storage.NoticeEscalation, ItemIDs: up, Cites: r.sent()})
					if err != nil {
						return err
					}
					if !ok {
						// No upstream contact: say so on the case rather than retry each wake-up.
						r.escalationSkipped = rd.ID
						if err := setState(r.state, "escalation due but no upstream contact: "+r.lastError); err != nil {
							return err
						}
					}
					continue
				}
				state := storage.CaseSent
				switch {
				case r.hasCiting(storage.NoticeEscalation, rd.ID):
					state = storage.CaseEscalated
				case r.snap.Acked:
					state = storage.CaseAcknowledged
				}
				if err := setState(state, ""); err != nil {
					return err
				}
				r.setTimer(next, "re-check")
				if !r.hasCiting(storage.NoticeFollowUp, rd.ID) {
					r.setTimer(followAt, "follow-up")
				} else if !r.hasCiting(storage.NoticeEscalation, rd.ID) && r.escalationSkipped != rd.ID {
					r.setTimer(escalateAt, "escalation")
				}
			} else {
				if err := setState(storage.CaseVerifiedRemoved, ""); err != nil {
					return err
				}
				// Keep re-checking (a re-post at the same URL) until the
				// window ends, then close; crawls keep watching mirrors,
				// and a hit restarts the case.
				if next.IsZero() {
					if err := workflow.ExecuteActivity(actx, a.CloseCase, CloseCaseRequest{CaseID: r.in.CaseID,
						CloseInput: CloseInput{Actor: Actor{User: systemActor}, Reason: "verified removed; watch period over"}}).Get(ctx, nil); err != nil {
						return err
					}
					return workflow.UpsertTypedSearchAttributes(ctx, SearchCaseState.ValueSet(string(storage.CaseClosed)))
				}
				r.setTimer(next, "re-check")
			}
			if err := r.idle(ctx); err != nil {
				return err
			}
			continue
		}

		// 5. Nothing to notify yet: items wait for triage (or all were dismissed).
		state := storage.CaseDetected
		if r.untriaged() == 0 && len(r.snap.Items) > 0 {
			state = storage.CaseTriaged
		}
		if err := setState(state, ""); err != nil {
			return err
		}
		if err := r.idle(ctx); err != nil {
			return err
		}
	}
}

func (r *caseRun) setTimer(t time.Time, what string) {
	if !t.IsZero() && (r.nextTimer.IsZero() || t.Before(r.nextTimer)) {
		r.nextTimer, r.nextWhat = t, what
	}
}

// idle waits for the next event or timer, and hands the case to a new run
// when the history has grown long (only here, with nothing in flight).
func (r *caseRun) idle(ctx workflow.Context) error {
	if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
		return r.continueAsNew(ctx)
	}
	return r.wait(ctx, r.nextTimer)
}

// wait blocks until something happens (a hit, a handler's change, a
// recheck or close request) or until `until` (zero: no timer).
func (r *caseRun) wait(ctx workflow.Context, until time.Time) error {
	cond := func() bool { return len(r.hits) > 0 || r.stale || r.recheck || r.closeReq != nil }
	if until.IsZero() {
		return workflow.Await(ctx, cond)
	}
	d := until.Sub(workflow.Now(ctx))
	if d <= 0 {
		return nil
	}
	_, err := workflow.AwaitWithTimeout(ctx, d, cond)
	return err
}

func (r *caseRun) continueAsNew(ctx workflow.Context) error {
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	hits := workflow.GetSignalChannel(ctx, SignalHit)
	for {
		var h HitSignal
		if !hits.ReceiveAsync(&h) {
			break
		}
		r.hits = append(r.hits, h.HitIDs...)
	}
	// The database holds the case; only hits not yet taken travel.
	return workflow.NewContinueAsNewError(ctx, TakedownCaseName, CaseInput{CaseID: r.in.CaseID, Target: r.in.Target, Seen: r.hits, Resumed: true})
}

// draftNotice drafts a new letter; false (and lastError) when it has no
// recipient.
func (r *caseRun) draftNotice(ctx, actx workflow.Context, req DraftRequest) (bool, error) {
	var a *CaseActivities
	req.CaseID, req.Target, req.Revision, req.DraftedBy = r.in.CaseID, r.in.Target, r.revision()+1, systemActor
	var d DraftResult
	err := workflow.ExecuteActivity(actx, a.DraftNotice, req).Get(ctx, &d)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == errTypeNoRecipient {
		r.lastError = appErr.Error()
		return false, nil
	}
	if err != nil {
		return false, err
	}
	r.lastError = ""
	r.snap = d.Snapshot
	return true, nil
}

// handlers registers the query and the updates people use.
func (r *caseRun) handlers(ctx, actx workflow.Context) error {
	var a *CaseActivities
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (CaseStatus, error) {
		st := CaseStatus{CaseID: r.in.CaseID, Target: r.in.Target, State: r.state, Revision: r.revision(),
			Seen: len(r.snap.Items), Unlisted: len(r.pending()), LastError: r.lastError, Pending: r.pending(),
			NextTimer: r.nextTimer, NextWhat: r.nextWhat}
		if d := r.draft(); d != nil {
			st.NoticeID = d.ID
		} else if o := r.outgoing(); o != nil {
			st.NoticeID = o.ID
		}
		return st, nil
	}); err != nil {
		return err
	}
	legal := func(who Actor) error {
		if who.User == "" {
			return errors.New("who is acting is required")
		}
		if !who.Role.CanApproveNotices() {
			return fmt.Errorf("this needs the legal or admin role; %s has %q", who.User, who.Role)
		}
		return nil
	}
	currentDraft := func(rev int) (*NoticeView, error) {
		d := r.draft()
		if d == nil {
			return nil, fmt.Errorf("case is %s; there is no draft", r.state)
		}
		if rev != d.Revision {
			return nil, fmt.Errorf("revision %d is not the current draft (revision %d); review the current draft", rev, d.Revision)
		}
		return d, nil
	}
	reg := func(name string, handler any, validator any) error {
		return workflow.SetUpdateHandlerWithOptions(ctx, name, handler, workflow.UpdateHandlerOptions{Validator: validator})
	}

	// Approve a draft (or re-approve a refused notice).
	if err := reg(UpdateApprove, func(ctx workflow.Context, req ApproveInput) error {
		id := r.approvable(req.Revision)
		if err := workflow.ExecuteActivity(actx, a.ApproveNotice, ApproveNoticeRequest{NoticeID: id, Approver: req.Approver}).Get(ctx, nil); err != nil {
			return err
		}
		r.stale = true
		return nil
	}, func(req ApproveInput) error {
		if err := legal(Actor{User: req.Approver, Role: req.Role}); err != nil {
			return fmt.Errorf("approving notices needs the legal or admin role; %s has %q", req.Approver, req.Role)
		}
		if o := r.outgoing(); o != nil && o.State == storage.NoticeRefused {
			if req.Revision != o.Revision {
				return fmt.Errorf("revision %d is not the refused notice (revision %d)", req.Revision, o.Revision)
			}
			return nil
		}
		if r.outgoing() != nil {
			return fmt.Errorf("case is %s; a notice is already approved", r.state)
		}
		d, err := currentDraft(req.Revision)
		if err != nil {
			return err
		}
		if d.State == storage.NoticeChangesRequested {
			return fmt.Errorf("changes were requested to revision %d; revise it before approving", d.Revision)
		}
		if r.snap.Policy.TwoPersonRule && d.DraftedBy == req.Approver {
			return fmt.Errorf("two-person rule: %s drafted revision %d and cannot also approve it", req.Approver, d.Revision)
		}
		return nil
	}); err != nil {
		return err
	}

	if err := reg(UpdateRevise, func(ctx workflow.Context, req ReviseInput) (int, error) {
		d := r.draft()
		items := slices.Clone(d.Items)
		if req.PullPending {
			items = append(items, r.pending()...)
		}
		rev := r.revision() + 1
		var res DraftResult
		err := workflow.ExecuteActivity(actx, a.DraftNotice, DraftRequest{
			CaseID: r.in.CaseID, Target: r.in.Target, Revision: rev, Kind: d.Kind, ItemIDs: items, Cites: d.Cites,
			Reference: d.Reference, DraftedBy: req.User, Subject: req.Subject, Text: req.Text, Comment: req.Comment,
		}).Get(ctx, &res)
		if err != nil {
			return 0, err
		}
		r.snap, r.stale = res.Snapshot, true
		return rev, nil
	}, func(req ReviseInput) error {
		if err := legal(req.Actor); err != nil {
			return err
		}
		if _, err := currentDraft(req.Revision); err != nil {
			return err
		}
		if !req.PullPending && req.Text == "" && req.Subject == "" {
			return errors.New("nothing to revise: give an edited subject or text, or pull the pending items in")
		}
		if req.PullPending && len(r.pending()) == 0 {
			return errors.New("there are no pending items to pull in")
		}
		return nil
	}); err != nil {
		return err
	}

	if err := reg(UpdateRequestChanges, func(ctx workflow.Context, req RequestChangesInput) error {
		d := r.draft()
		if err := workflow.ExecuteActivity(actx, a.RequestChanges, RequestChangesRequest{NoticeID: d.ID, RequestChangesInput: req}).Get(ctx, nil); err != nil {
			return err
		}
		r.stale = true
		return nil
	}, func(req RequestChangesInput) error {
		if err := legal(req.Actor); err != nil {
			return err
		}
		if _, err := currentDraft(req.Revision); err != nil {
			return err
		}
		if req.Comment == "" {
			return errors.New("say what should change (a comment is required)")
		}
		return nil
	}); err != nil {
		return err
	}

	if err := reg(UpdateTriage, func(ctx workflow.Context, req TriageInput) error {
		var snap CaseSnapshot
		if err := workflow.ExecuteActivity(actx, a.Triage, TriageRequest{CaseID: r.in.CaseID, TriageInput: req}).Get(ctx, &snap); err != nil {
			return err
		}
		r.snap, r.stale = snap, true
		if req.Confirm {
			r.itemsAt = workflow.Now(ctx)
		}
		return nil
	}, func(req TriageInput) error {
		if req.User == "" || !req.Role.Valid() {
			return errors.New("triage needs a signed-in analyst, lawyer or admin")
		}
		if len(req.ItemIDs) == 0 {
			return errors.New("no items given")
		}
		if !req.Confirm && req.Reason == "" {
			return errors.New("dismissing needs a reason")
		}
		for _, id := range req.ItemIDs {
			i := slices.IndexFunc(r.snap.Items, func(it ItemView) bool { return it.ID == id })
			if i < 0 {
				return fmt.Errorf("item %d is not in this case", id)
			}
			if !req.Confirm && r.snap.Items[i].Listed {
				return fmt.Errorf("item %d was listed in a sent notice and cannot be dismissed", id)
			}
		}
		return nil
	}); err != nil {
		return err
	}

	if err := reg(UpdateAcknowledge, func(ctx workflow.Context, req AcknowledgeInput) error {
		if err := workflow.ExecuteActivity(actx, a.Acknowledge, AcknowledgeRequest{CaseID: r.in.CaseID, AcknowledgeInput: req}).Get(ctx, nil); err != nil {
			return err
		}
		r.snap.Acked, r.stale = true, true
		return nil
	}, func(req AcknowledgeInput) error {
		if err := legal(req.Actor); err != nil {
			return err
		}
		if len(r.sent()) == 0 {
			return errors.New("no notice has been sent yet; there is nothing to acknowledge")
		}
		if req.Note == "" {
			return errors.New("record what the host replied (a note is required)")
		}
		return nil
	}); err != nil {
		return err
	}

	if err := reg(UpdateSetRecipient, func(ctx workflow.Context, req SetRecipientInput) error {
		if err := workflow.ExecuteActivity(actx, a.SetRecipient, SetRecipientRequest{CaseID: r.in.CaseID, SetRecipientInput: req}).Get(ctx, nil); err != nil {
			return err
		}
		r.stale = true
		return nil
	}, func(req SetRecipientInput) error {
		if err := legal(req.Actor); err != nil {
			return err
		}
		if req.Addresses == "" {
			return errors.New("give at least one address")
		}
		return nil
	}); err != nil {
		return err
	}

	if err := reg(UpdateResolveSend, func(ctx workflow.Context, req ResolveSendInput) error {
		o := r.outgoing()
		r.uncertain = 0
		if err := workflow.ExecuteActivity(actx, a.ResolveSend, ResolveSendRequest{NoticeID: o.ID, ResolveSendInput: req}).Get(ctx, nil); err != nil {
			return err
		}
		r.stale = true
		return nil
	}, func(req ResolveSendInput) error {
		if err := legal(req.Actor); err != nil {
			return err
		}
		if o := r.outgoing(); o == nil || o.State != storage.NoticeUncertain {
			return fmt.Errorf("case is %s; no notice is waiting to be resolved", r.state)
		}
		return nil
	}); err != nil {
		return err
	}

	if err := reg(UpdateClose, func(ctx workflow.Context, req CloseInput) error {
		r.closeReq = &req
		return nil
	}, func(req CloseInput) error {
		if err := legal(req.Actor); err != nil {
			return err
		}
		if req.Reason == "" {
			return errors.New("give a reason for closing")
		}
		if o := r.outgoing(); o != nil && (o.State == storage.NoticeSending || o.State == storage.NoticeApproved) {
			return errors.New("a notice is being sent; close the case after it went out")
		}
		return nil
	}); err != nil {
		return err
	}

	return reg(UpdateRecheck, func(ctx workflow.Context, who Actor) error {
		r.recheck = true
		return nil
	}, func(who Actor) error {
		if who.User == "" || !who.Role.Valid() {
			return errors.New("a re-check needs a signed-in user")
		}
		if !r.listed() {
			return errors.New("no notice has listed any item yet; there is nothing to re-check")
		}
		return nil
	})
}

// approvable is the notice an approval of revision applies to: a refused
// notice being re-approved, else the current draft.
func (r *caseRun) approvable(rev int) uint64 {
	if o := r.outgoing(); o != nil && o.State == storage.NoticeRefused && o.Revision == rev {
		return o.ID
	}
	if d := r.draft(); d != nil {
		return d.ID
	}
	return 0
}
