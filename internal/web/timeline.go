package web

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// timelineAudit bounds the audit events a case's timeline shows.
const timelineAudit = 500

// timelineEvent is one thing that happened in a case, in plain words.
type timelineEvent struct {
	At    time.Time
	Kind  string // for the stylesheet: found, triage, notice, send, check, reply, case, audit
	What  string
	Who   string
	Href  string // where to look, if anywhere
	order int    // ties keep the order the events were gathered in
}

// caseTimeline gathers every event of a case from the tables that hold
// them, oldest first.
func (s *Server) caseTimeline(ctx context.Context, cv caseView) ([]timelineEvent, error) {
	var ev []timelineEvent
	add := func(at *time.Time, kind, what, who, href string) {
		if at == nil || at.IsZero() {
			return
		}
		ev = append(ev, timelineEvent{At: *at, Kind: kind, What: what, Who: who, Href: href, order: len(ev)})
	}
	c := cv.Case
	add(&c.OpenedAt, "case", "Case opened for "+c.Target, "", "")
	for _, it := range cv.Items {
		id := "item " + strconv.FormatUint(it.ID, 10)
		add(&it.CapturedAt, "found", fmt.Sprintf("Found %s (%s) — %d match(es)", it.URL, id, len(it.Matches)), "", "#items")
		switch it.State {
		case storage.ItemDismissed:
			add(it.TriagedAt, "triage", "Dismissed "+id+": "+it.Reason, it.TriagedBy, "#items")
		case storage.ItemConfirmed, storage.ItemRemoved:
			add(it.TriagedAt, "triage", "Confirmed "+id, it.TriagedBy, "#items")
		}
		add(it.ListedAt, "send", "Listed "+id+" in a sent notice", "", "#items")
		add(it.RemovedAt, "check", "Found "+id+" removed", "", "#checks")
	}
	for _, n := range cv.Notices {
		rev := "revision " + strconv.Itoa(n.Revision)
		if n.Reference != "" {
			rev = n.Reference + " " + rev
		}
		add(&n.DraftedAt, "notice", "Drafted "+string(n.Kind)+" "+rev+" to "+n.Recipient, n.DraftedBy, "#draft")
		add(n.ApprovedAt, "notice", "Approved "+rev, n.ApprovedBy, "#draft")
		if n.State == storage.NoticeSent {
			add(n.SentAt, "send", "Sent "+rev+" to "+n.Recipient, "", "#sent")
		}
	}
	for _, rc := range cv.Checks {
		add(&rc.CheckedAt, "check", "Re-checked "+rc.URL+": "+string(rc.Result), "", "#checks")
	}
	add(c.AckedAt, "reply", "The host's reply was recorded: "+c.AckNote, "", "")
	add(c.EscalatedAt, "case", "Escalated to the upstream provider", "", "")
	add(c.VerifiedAt, "check", "Every listed item verified removed", "", "#checks")
	add(c.ClosedAt, "case", "Case closed", "", "")

	audit, err := s.store.AuditEventsFor(ctx, "case/"+strconv.FormatUint(c.ID, 10), timelineAudit)
	if err != nil {
		return nil, err
	}
	for _, e := range audit {
		// A request is followed by its outcome; the outcome says enough.
		if strings.HasSuffix(e.Action, ".request") {
			continue
		}
		add(&e.At, "audit", auditWords(e.Action), e.Actor, "")
	}
	slices.SortStableFunc(ev, func(a, b timelineEvent) int {
		if d := a.At.Compare(b.At); d != 0 {
			return d
		}
		return a.order - b.order
	})
	return ev, nil
}

// auditWords says an audited case action in plain words.
func auditWords(action string) string {
	base, outcome := action, ""
	for _, o := range []string{".denied", ".rejected", ".failed"} {
		if strings.HasSuffix(action, o) {
			base, outcome = strings.TrimSuffix(action, o), o[1:]
		}
	}
	words := map[string]string{
		"case.triage": "triage", "notice.approve": "approval", "case.revise": "edit of the draft",
		"case.request-changes": "request for changes", "case.acknowledge": "recording of a reply",
		"case.recipient": "recipient change", "case.resolve-send": "resolution of an uncertain send",
		"case.close": "closing", "case.recheck": "re-check request",
	}
	w, ok := words[base]
	if !ok {
		return action
	}
	switch outcome {
	case "":
		return "Done: " + w
	case "denied":
		return "Refused (role): " + w
	case "rejected":
		return "Refused by the case: " + w
	case "failed":
		return "Failed: " + w
	}
	return action
}
