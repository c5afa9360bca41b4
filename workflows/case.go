// Package workflows holds leakwatch's Temporal workflows and activities:
// scheduled crawls and one TakedownCase per host or channel, which drafts a
// notice citing the injunction, waits for a lawyer's approval, sends it and
// keeps watching for the content to reappear. Workflow code is deterministic;
// all I/O happens in activities.
package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/leakwatch/leakwatch/storage"
)

// Names other processes use to reach a case.
const (
	TakedownCaseName = "TakedownCase"
	SignalHit        = "hit"
	UpdateApprove    = "approve"
	QueryStatus      = "status"

	UpdateTriage         = "triage"          // an analyst confirms or dismisses items
	UpdateRevise         = "revise"          // a lawyer edits the draft or pulls pending items in
	UpdateRequestChanges = "request-changes" // a lawyer sends the draft back with a comment
	UpdateAcknowledge    = "acknowledge"     // the host's reply is recorded
	UpdateSetRecipient   = "set-recipient"   // a person gives the takedown address
	UpdateResolveSend    = "resolve-send"    // a person settles a "may have been delivered" send
	UpdateClose          = "close"           // a lawyer closes the case
	UpdateRecheck        = "recheck"         // re-check the listed items now
)

// Search attributes registered on the namespace by leakwatch-temporal.
var (
	SearchCaseState  = temporal.NewSearchAttributeKeyKeyword("CaseState")
	SearchCaseTarget = temporal.NewSearchAttributeKeyKeyword("CaseTarget")
	// SearchCaseInjunction is the file number of the orders the case enforces.
	SearchCaseInjunction = temporal.NewSearchAttributeKeyKeyword("CaseInjunction")
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
	// Pending are confirmed items that arrived after the current draft:
	// shown beside it, pulled in only when a lawyer chooses.
	Pending []uint64
	// NextTimer is when the case next acts on its own (re-check,
	// follow-up, escalation, close), zero if never.
	NextTimer time.Time
	NextWhat  string
}

// Actor is who asks a case to do something, and with what role.
type Actor struct {
	User string
	Role storage.Role
}

// TriageInput confirms or dismisses items (a dismissal needs a reason).
type TriageInput struct {
	Actor
	ItemIDs []uint64
	Confirm bool
	Reason  string
}

// ReviseInput makes a new revision of the current draft: the lawyer's
// edited subject and text, and/or the pending items pulled in.
type ReviseInput struct {
	Actor
	Revision    int // the draft being revised
	Subject     string
	Text        string // empty: re-render from the template
	PullPending bool
	Comment     string
}

// RequestChangesInput sends a draft back with a comment.
type RequestChangesInput struct {
	Actor
	Revision int
	Comment  string
}

// AcknowledgeInput records the host's reply.
type AcknowledgeInput struct {
	Actor
	Note string
}

// SetRecipientInput gives the address notices of the case go to.
type SetRecipientInput struct {
	Actor
	Addresses     string
	RecipientType string
}

// ResolveSendInput settles a notice that may have been delivered.
type ResolveSendInput struct {
	Actor
	Delivered bool
}

// CloseInput closes a case.
type CloseInput struct {
	Actor
	Reason string
}
