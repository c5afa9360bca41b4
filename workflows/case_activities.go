package workflows

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net/mail"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/crawlers/tgmonitor"
	"github.com/leakwatch/leakwatch/crawlers/tgmonitor/tme"
	"github.com/leakwatch/leakwatch/internal/notices"
	"github.com/leakwatch/leakwatch/internal/recipients"
	"github.com/leakwatch/leakwatch/internal/tick"
	"github.com/leakwatch/leakwatch/storage"
)

// CaseActivities draft, approve and send a case's takedown notices.
// Exported methods are registered as activities, so helpers stay unexported.
type CaseActivities struct {
	Store     *storage.Store
	Templates *notices.Templates
	Mailer    *notices.Mailer
	// Notices names each host's takedown address and the removal deadline.
	Notices config.NoticesConfig
	// TelegramAbuse are the addresses notices about Telegram channels go to.
	TelegramAbuse []string
	// Telegram, if set, files an in-app report of a channel's messages
	// once its notice is sent (telegram.report_in_app).
	Telegram *tgmonitor.Monitor
	// Injunction is cited by every notice; its OrderPDF is attached.
	Injunction config.InjunctionConfig
	// From is the notices' sender address.
	From string
	// Recipients looks up security.txt and RDAP abuse contacts for hosts
	// without a configured recipient; nil looks nothing up.
	Recipients RecipientFinder
	// Checker re-fetches listed items to verify removal; nil: cases
	// cannot verify removal (re-checks fail and are retried).
	Checker RemovalChecker
	Logger  *slog.Logger // nil discards
	// Metrics, if set, counts notice sends by outcome.
	Metrics NoticeObserver
}

// RecipientFinder finds a host's takedown contact and its upstreams
// (internal/recipients).
type RecipientFinder interface {
	Recipient(ctx context.Context, target string) (recipients.Contact, error)
	Upstream(ctx context.Context, target string) ([]recipients.Contact, error)
}

// RemovalChecker re-fetches a case's listed items and says, for each,
// whether it is gone, no longer the breach's content, or still there.
// Results carry ItemID, Result, Detail and the evidence capture, if any.
type RemovalChecker interface {
	Check(ctx context.Context, c storage.Case, items []storage.CaseItem) ([]storage.RemovalCheck, error)
}

func (a *CaseActivities) log() *slog.Logger { return orDiscard(a.Logger) }

// LoadCase reads a case from the database: its items, its notices, when it
// was last re-checked, and the policy it runs under.
func (a *CaseActivities) LoadCase(ctx context.Context, caseID uint64) (CaseSnapshot, error) {
	ctx = logCtx(ctx, "case_id", caseID)
	c, err := a.Store.CaseByID(ctx, caseID)
	if err != nil {
		return CaseSnapshot{}, err
	}
	items, err := a.Store.CaseItems(ctx, caseID)
	if err != nil {
		return CaseSnapshot{}, err
	}
	ns, err := a.Store.NoticesForCase(ctx, caseID)
	if err != nil {
		return CaseSnapshot{}, err
	}
	last, err := a.Store.LastRemovalCheck(ctx, caseID)
	if err != nil {
		return CaseSnapshot{}, err
	}
	snap := CaseSnapshot{State: c.State, LastCheck: last, Acked: c.AckedAt != nil, Policy: a.policy()}
	for _, it := range items {
		snap.Items = append(snap.Items, ItemView{ID: it.ID, State: it.State, Listed: it.NoticeID != 0, Reappeared: it.Reappeared,
			Earlier: storage.SplitIDs(it.Earlier)})
	}
	// NoticesForCase is newest revision first; the workflow reads oldest first.
	for i := len(ns) - 1; i >= 0; i-- {
		n := ns[i]
		v := NoticeView{ID: n.ID, Revision: n.Revision, Reference: n.Reference, Kind: n.Kind, State: n.State,
			DraftedBy: n.DraftedBy, Items: storage.SplitIDs(n.ItemIDs), Cites: storage.SplitIDs(n.Cites), LastError: n.LastError}
		if n.SentAt != nil {
			v.SentAt = *n.SentAt
		}
		snap.Revision = max(snap.Revision, n.Revision)
		snap.Notices = append(snap.Notices, v)
	}
	return snap, nil
}

func (a *CaseActivities) policy() CasePolicy {
	n := a.Notices
	return CasePolicy{
		AutoConfirm: n.Triage == config.TriageAuto, TwoPersonRule: n.TwoPersonRule, DraftDelay: n.DraftDelay,
		FollowUpAfter: n.FollowUpAfter, EscalateAfter: n.EscalateAfter, VerifySchedule: n.VerifySchedule,
		VerifyEvery: n.VerifyEvery, VerifyFor: n.VerifyFor, Injunction: a.Injunction.FileNumber,
	}
}

// CaseStateUpdate mirrors a case's state into the database for the UI.
type CaseStateUpdate struct {
	CaseID    uint64
	State     storage.CaseState
	Recipient string // first version only
	Detail    string // why the case waits, if it does
}

// SetCaseState records a case's state, and audits the change.
func (a *CaseActivities) SetCaseState(ctx context.Context, u CaseStateUpdate) error {
	ctx = logCtx(ctx, "case_id", u.CaseID)
	c, err := a.Store.CaseByID(ctx, u.CaseID)
	if err != nil {
		return err
	}
	if err := a.Store.SetCaseState(ctx, u.CaseID, u.State, u.Recipient); err != nil {
		return err
	}
	fields := map[string]any{"detail": u.Detail}
	if u.State == storage.CaseVerifiedRemoved && c.State != u.State {
		fields["verified_at"] = time.Now().UTC()
	}
	if err := a.Store.UpdateCase(ctx, u.CaseID, fields); err != nil {
		return err
	}
	if c.State == u.State && c.Detail == u.Detail {
		return nil // a retry, or a replayed decision
	}
	detail := fmt.Sprintf("%s -> %s", c.State, u.State)
	if u.Detail != "" {
		detail += ": " + u.Detail
	}
	return a.Store.Audit(ctx, systemActor, "case."+string(u.State), fmt.Sprintf("case:%d", u.CaseID), detail)
}

// TakeHitsRequest hands a case the hits a crawl delivered.
type TakeHitsRequest struct {
	CaseID uint64
	HitIDs []uint64
}

// TakeHitsResult says what the hits changed, and the case as it is now.
type TakeHitsResult struct {
	New        []uint64
	Reappeared []uint64
	Snapshot   CaseSnapshot
}

// TakeHits groups hits into items (one per URL). New items, or removed
// items back again, reopen a case that was verified removed or closed.
func (a *CaseActivities) TakeHits(ctx context.Context, req TakeHitsRequest) (TakeHitsResult, error) {
	ctx = logCtx(ctx, "case_id", req.CaseID)
	c, err := a.Store.CaseByID(ctx, req.CaseID)
	if err != nil {
		return TakeHitsResult{}, err
	}
	before, err := a.Store.CaseItems(ctx, req.CaseID)
	if err != nil {
		return TakeHitsResult{}, err
	}
	res, err := a.Store.TakeHitsWith(ctx, req.CaseID, req.HitIDs, triagePolicy(a.Notices.Triage))
	if err != nil {
		return TakeHitsResult{}, err
	}
	obj := fmt.Sprintf("case:%d", req.CaseID)
	if len(res.New) > 0 {
		// The first items are the case's detection.
		action := "case.items"
		if len(before) == 0 {
			action = "case.detected"
		}
		if err := a.Store.Audit(ctx, systemActor, action, obj, fmt.Sprintf("%d new items from %d hits on %s", len(res.New), len(req.HitIDs), c.Target)); err != nil {
			return TakeHitsResult{}, err
		}
	}
	if len(res.Reappeared) > 0 || (len(res.New) > 0 && (c.State == storage.CaseVerifiedRemoved || c.State == storage.CaseClosed)) {
		if err := a.Store.UpdateCase(ctx, req.CaseID, map[string]any{"reopened": c.Reopened + 1}); err != nil {
			return TakeHitsResult{}, err
		}
		if err := a.Store.Audit(ctx, systemActor, "case.reopened", obj,
			fmt.Sprintf("content back: %d items reappeared, %d new, case was %s", len(res.Reappeared), len(res.New), c.State)); err != nil {
			return TakeHitsResult{}, err
		}
		a.log().InfoContext(ctx, "case reopened: content reappeared", "case", req.CaseID, "reappeared", len(res.Reappeared), "new", len(res.New))
	}
	if len(res.Mirrored) > 0 {
		if err := a.auditMirrors(ctx, c, res.Mirrored); err != nil {
			return TakeHitsResult{}, err
		}
	}
	snap, err := a.LoadCase(ctx, req.CaseID)
	return TakeHitsResult{New: res.New, Reappeared: res.Reappeared, Snapshot: snap}, err
}

// auditMirrors records, on this case and on each case whose sent notice
// listed the same content, that the content is published again here.
func (a *CaseActivities) auditMirrors(ctx context.Context, c storage.Case, itemIDs []uint64) error {
	items, err := a.Store.CaseItemsByIDs(ctx, itemIDs)
	if err != nil {
		return err
	}
	byNotice := map[uint64]int{}
	var ids []uint64
	for _, it := range items {
		for _, n := range storage.SplitIDs(it.Earlier) {
			if byNotice[n] == 0 {
				ids = append(ids, n)
			}
			byNotice[n]++
		}
	}
	refs, err := a.Store.NoticeRefs(ctx, ids)
	if err != nil {
		return err
	}
	for _, n := range refs {
		if err := a.Store.Audit(ctx, systemActor, "case.mirror", fmt.Sprintf("case:%d", c.ID),
			fmt.Sprintf("%d items publish content already noticed to %s in %s (case %d)", byNotice[n.ID], n.Target, n.Reference, n.CaseID)); err != nil {
			return err
		}
		if err := a.Store.Audit(ctx, systemActor, "case.reappeared-elsewhere", fmt.Sprintf("case:%d", n.CaseID),
			fmt.Sprintf("content of %s is published again on %s (case %d, %d items)", n.Reference, c.Target, c.ID, byNotice[n.ID])); err != nil {
			return err
		}
		a.log().InfoContext(ctx, "content noticed elsewhere is back", "case", c.ID, "earlier_case", n.CaseID, "reference", n.Reference, "items", byNotice[n.ID])
	}
	return nil
}

// TriageRequest is an analyst's decision about items.
type TriageRequest struct {
	CaseID uint64
	TriageInput
}

// Triage records confirmations and dismissals (with their reasons).
func (a *CaseActivities) Triage(ctx context.Context, req TriageRequest) (CaseSnapshot, error) {
	ctx = logCtx(ctx, "case_id", req.CaseID)
	state := storage.ItemDismissed
	if req.Confirm {
		state = storage.ItemConfirmed
	}
	if err := a.Store.TriageItems(ctx, req.CaseID, req.ItemIDs, state, req.Reason, req.User); err != nil {
		if errors.Is(err, storage.ErrBadTriage) {
			return CaseSnapshot{}, temporal.NewNonRetryableApplicationError(err.Error(), errTypePermanent, err)
		}
		return CaseSnapshot{}, err
	}
	detail := fmt.Sprintf("items %v %s", req.ItemIDs, state)
	if req.Reason != "" {
		detail += ": " + req.Reason
	}
	if err := a.Store.Audit(ctx, req.User, "case.triage", fmt.Sprintf("case:%d", req.CaseID), detail); err != nil {
		return CaseSnapshot{}, err
	}
	return a.LoadCase(ctx, req.CaseID)
}

// DraftRequest asks for one notice revision.
type DraftRequest struct {
	CaseID   uint64
	Target   string
	Revision int
	HitIDs   []uint64 // first version: the hits to list

	Kind      storage.NoticeKind
	ItemIDs   []uint64
	Cites     []uint64 // sent notices it cites
	Reference string   // a revision of an existing letter keeps its reference
	DraftedBy string
	// Subject and Text are a lawyer's edit; empty renders the template.
	Subject, Text string
	Comment       string
}

// DraftResult names the stored draft.
type DraftResult struct {
	NoticeID  uint64
	Recipient string
	Snapshot  CaseSnapshot
}

// errTypeNoRecipient: no address to send the case's notices to; the case
// waits for a person.
const errTypeNoRecipient = "NoRecipient"

// DraftNotice renders a notice revision from the template (or stores a
// lawyer's edit of it) and stores it. Retrying it returns the stored draft
// unchanged.
func (a *CaseActivities) DraftNotice(ctx context.Context, req DraftRequest) (DraftResult, error) {
	ctx = logCtx(ctx, "case_id", req.CaseID)
	if len(req.ItemIDs) == 0 && len(req.HitIDs) > 0 {
		return a.draftV0(ctx, req)
	}
	if req.Kind == "" {
		req.Kind = storage.NoticeFirst
	}
	c, err := a.Store.CaseByID(ctx, req.CaseID)
	if err != nil {
		return DraftResult{}, err
	}
	to, rtype, err := a.recipientFor(ctx, c, req.Kind)
	if err != nil {
		return DraftResult{}, err
	}
	items, err := a.Store.CaseItemsByIDs(ctx, req.ItemIDs)
	if err != nil {
		return DraftResult{}, err
	}
	cited, err := a.noticesByID(ctx, req.CaseID, req.Cites)
	if err != nil {
		return DraftResult{}, err
	}
	ref := req.Reference
	if ref == "" {
		if ref, err = a.Store.NextReference(ctx, req.CaseID); err != nil {
			return DraftResult{}, err
		}
	}
	number, err := a.Store.CountSent(ctx, to, req.Kind)
	if err != nil {
		return DraftResult{}, err
	}
	now := time.Now().UTC()
	d := notices.Data{
		Injunction: a.Injunction, Kind: notices.NoticeKind(req.Kind), RecipientType: notices.RecipientType(rtype),
		Number: number + 1, Reference: ref, Target: req.Target, Recipient: to, DraftedAt: now,
		Deadline: now.Add(a.Notices.RemovalDeadline), OrderAttached: a.Injunction.OrderPDF != "",
	}
	for _, it := range items {
		ni := notices.Item{URL: it.URL, CapturedAt: it.CapturedAt, SHA256: it.SHA256, Size: it.Size}
		if id, ok := tme.MessageID(it.URL); ok {
			ni.Note = fmt.Sprintf("message %d in %s", id, req.Target)
		}
		d.Items = append(d.Items, ni)
	}
	for _, n := range cited {
		cit := notices.Citation{Reference: n.Reference, MessageID: n.MessageID}
		if n.SentAt != nil {
			cit.SentAt = *n.SentAt
		}
		if n.CaseID != req.CaseID {
			// Another host's notice: named, not threaded (this
			// recipient never had that message).
			other, err := a.Store.CaseByID(ctx, n.CaseID)
			if err != nil {
				return DraftResult{}, err
			}
			cit.Target, cit.MessageID = other.Target, ""
		}
		d.Cites = append(d.Cites, cit)
	}
	r, err := a.Templates.Render(d)
	if err != nil {
		return DraftResult{}, temporal.NewNonRetryableApplicationError(err.Error(), errTypePermanent, err)
	}
	pdf := r.PDF
	if req.Text != "" || req.Subject != "" {
		// A lawyer's edit is the notice: the e-mail's HTML part and the
		// PDF are made from the edited text.
		if req.Subject != "" {
			r.Subject = req.Subject
		}
		if req.Text != "" {
			r.Text = req.Text
			r.HTML = "<!DOCTYPE html><html><body><pre style=\"white-space:pre-wrap\">" + html.EscapeString(req.Text) + "</pre></body></html>"
			if pdf, err = notices.TextPDF(r.Subject, ref, req.Text, now); err != nil {
				return DraftResult{}, temporal.NewNonRetryableApplicationError(err.Error(), errTypePermanent, err)
			}
		}
	}
	by := req.DraftedBy
	if by == "" {
		by = systemActor
	}
	n := storage.Notice{
		CaseID: req.CaseID, Revision: req.Revision, Recipient: to, Subject: r.Subject,
		BodyText: r.Text, BodyHTML: r.HTML, DraftedBy: by, DraftedAt: now,
		MessageID: fmt.Sprintf("<notice-%d-%d-%d@leakwatch>", req.CaseID, req.Revision, now.UnixNano()),
		Kind:      req.Kind, Reference: ref, Number: number + 1, RecipientType: rtype,
		Cites: storage.JoinIDs(req.Cites), ItemIDs: storage.JoinIDs(req.ItemIDs), Comment: req.Comment, PDF: pdf,
	}
	created, err := a.Store.CreateNoticeDraft(ctx, &n)
	if err != nil {
		return DraftResult{}, err
	}
	if created {
		a.log().InfoContext(ctx, "notice drafted", "case", req.CaseID, "reference", ref, "kind", req.Kind, "revision", req.Revision, "items", len(items))
		detail := fmt.Sprintf("case %d %s %s revision %d, %d items, to %s", req.CaseID, req.Kind, ref, req.Revision, len(items), to)
		if req.Comment != "" {
			detail += ": " + req.Comment
		}
		if err := a.Store.Audit(ctx, by, "notice.drafted", fmt.Sprintf("notice:%d", n.ID), detail); err != nil {
			return DraftResult{}, err
		}
	}
	snap, err := a.LoadCase(ctx, req.CaseID)
	return DraftResult{NoticeID: n.ID, Recipient: n.Recipient, Snapshot: snap}, err
}

// noticesByID returns the notices a notice of caseID cites, oldest first:
// the case's own, and sent notices of other cases (content noticed
// elsewhere before it was published here).
func (a *CaseActivities) noticesByID(ctx context.Context, caseID uint64, ids []uint64) ([]storage.Notice, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	all, err := a.Store.NoticesForCase(ctx, caseID)
	if err != nil {
		return nil, err
	}
	var out []storage.Notice
	for i := len(all) - 1; i >= 0; i-- {
		if slices.Contains(ids, all[i].ID) {
			out = append(out, all[i])
		}
	}
	for _, id := range ids {
		if slices.ContainsFunc(out, func(n storage.Notice) bool { return n.ID == id }) {
			continue
		}
		n, err := a.Store.NoticeByID(ctx, id)
		if err != nil {
			return nil, err
		}
		if n.State != storage.NoticeSent {
			return nil, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("notice %d of case %d cited by case %d was never sent", id, n.CaseID, caseID), errTypePermanent, nil)
		}
		out = append(out, n)
	}
	slices.SortStableFunc(out, func(x, y storage.Notice) int { return cmp.Compare(x.ID, y.ID) })
	return out, nil
}

// recipientFor finds where a case's notice of kind goes, and what kind of
// recipient that is. Escalations go upstream; everything else to the host:
// the configured address, the one a person gave the case (or an earlier
// lookup found), Telegram's abuse desks, the host's security.txt or RDAP
// abuse contact, and last the configured default. Nothing found is an
// errTypeNoRecipient error: the case waits for a person.
func (a *CaseActivities) recipientFor(ctx context.Context, c storage.Case, kind storage.NoticeKind) (to, rtype string, err error) {
	host := c.Target
	rtype = a.Notices.RecipientTypes[host]
	if strings.HasPrefix(host, "t.me/") {
		rtype = "telegram"
	}
	if rtype == "" {
		rtype = "hosting"
	}
	noRecipient := func(msg string) error {
		return temporal.NewNonRetryableApplicationError(msg, errTypeNoRecipient, nil)
	}
	if kind == storage.NoticeEscalation {
		if r := a.Notices.Escalation[host]; r != "" {
			return r, "hosting", nil
		}
		if a.Recipients != nil && !strings.HasPrefix(host, "t.me/") {
			ups, err := a.Recipients.Upstream(ctx, host)
			if err != nil {
				return "", "", fmt.Errorf("find upstream of %s: %w", host, err)
			}
			var addrs []string
			for _, u := range ups {
				addrs = append(addrs, u.Addresses...)
			}
			if len(addrs) > 0 {
				slices.Sort(addrs)
				return strings.Join(slices.Compact(addrs), ", "), "hosting", nil
			}
		}
		return "", "", noRecipient(fmt.Sprintf("no upstream contact for %s: set notices.escalation[%q]", host, host))
	}
	if r := a.Notices.Recipients[host]; r != "" {
		return r, rtype, nil
	}
	if c.Recipient != "" {
		return c.Recipient, rtype, nil
	}
	if strings.HasPrefix(host, "t.me/") && len(a.TelegramAbuse) > 0 {
		return strings.Join(a.TelegramAbuse, ", "), rtype, nil
	}
	tried := "notices.recipients"
	if a.Recipients != nil && !strings.HasPrefix(host, "t.me/") {
		ct, err := a.Recipients.Recipient(ctx, host)
		switch {
		case err == nil && len(ct.Addresses) > 0:
			to = strings.Join(ct.Addresses, ", ")
			// Remembered on the case: later notices go to the same place.
			if err := a.Store.UpdateCase(ctx, c.ID, map[string]any{"recipient": to}); err != nil {
				return "", "", err
			}
			if err := a.Store.Audit(ctx, systemActor, "case.recipient", fmt.Sprintf("case:%d", c.ID), fmt.Sprintf("%s from %s (%s)", to, ct.Source, ct.Detail)); err != nil {
				return "", "", err
			}
			return to, rtype, nil
		case err != nil && !errors.Is(err, recipients.ErrNoRecipient):
			return "", "", fmt.Errorf("find recipient for %s: %w", host, err)
		case err != nil:
			tried = err.Error()
		}
	}
	if r := a.Notices.DefaultRecipient; r != "" {
		return r, rtype, nil
	}
	return "", "", noRecipient(fmt.Sprintf("no takedown recipient for %s (%s): give one on the case, or set notices.recipients[%q]", host, tried, host))
}

// draftV0 drafts for a case still on the first workflow version, which
// lists hits rather than items.
func (a *CaseActivities) draftV0(ctx context.Context, req DraftRequest) (DraftResult, error) {
	if _, err := a.Store.TakeHits(ctx, req.CaseID, req.HitIDs, true); err != nil {
		return DraftResult{}, err
	}
	hits, err := a.Store.HitDetailsByIDs(ctx, req.HitIDs)
	if err != nil {
		return DraftResult{}, err
	}
	var ids []uint64
	for _, h := range hits {
		if !slices.Contains(ids, h.ItemID) {
			ids = append(ids, h.ItemID)
		}
	}
	ref, err := a.Store.NextReference(ctx, req.CaseID)
	if err != nil {
		return DraftResult{}, err
	}
	return a.DraftNotice(ctx, DraftRequest{CaseID: req.CaseID, Target: req.Target, Revision: req.Revision,
		Kind: storage.NoticeFirst, ItemIDs: ids, Reference: ref})
}

// ApproveNoticeRequest records an approval accepted by the workflow.
type ApproveNoticeRequest struct {
	NoticeID uint64
	Approver string
}

// ApproveNotice records the approval in the database and the audit log.
func (a *CaseActivities) ApproveNotice(ctx context.Context, req ApproveNoticeRequest) error {
	ctx = logCtx(ctx, "notice_id", req.NoticeID)
	n, err := a.Store.NoticeByID(ctx, req.NoticeID)
	if err != nil {
		return err
	}
	if n.State != storage.NoticeDraft && n.State != storage.NoticeRefused && n.ApprovedBy == req.Approver {
		return nil // a retry after the first attempt committed
	}
	if err := a.Store.ApproveNotice(ctx, req.NoticeID, req.Approver); err != nil {
		return err
	}
	return a.Store.Audit(ctx, req.Approver, "notice.approved", fmt.Sprintf("notice:%d", req.NoticeID),
		fmt.Sprintf("case %d %s revision %d", n.CaseID, n.Reference, n.Revision))
}

// RequestChangesRequest sends a draft back.
type RequestChangesRequest struct {
	NoticeID uint64
	RequestChangesInput
}

// RequestChanges records a lawyer's change request on a draft.
func (a *CaseActivities) RequestChanges(ctx context.Context, req RequestChangesRequest) error {
	ctx = logCtx(ctx, "notice_id", req.NoticeID)
	if err := a.Store.RequestChanges(ctx, req.NoticeID, req.Comment); err != nil {
		return err
	}
	return a.Store.Audit(ctx, req.User, "notice.changes_requested", fmt.Sprintf("notice:%d", req.NoticeID), req.Comment)
}

// SendResult says how a send ended (errors aside).
type SendResult struct {
	Outcome string // "sent", "already-sent", "uncertain"
}

// SendNotice sends an approved notice by SMTP exactly once. The database
// claim makes retries after a completed send no-ops; the moment DATA
// begins is recorded first, so an attempt that dies (or hears nothing)
// after it leaves the notice "uncertain" — never re-sent until a person
// decides — and the Message-ID fixed at draft time lets a receiver drop a
// duplicate if that person re-sends.
func (a *CaseActivities) SendNotice(ctx context.Context, noticeID uint64) (SendResult, error) {
	ctx = logCtx(ctx, "notice_id", noticeID)
	res, err := a.sendNotice(ctx, noticeID)
	if a.Metrics != nil {
		a.Metrics.ObserveNoticeSend(sendOutcome(res, err))
	}
	return res, err
}

func (a *CaseActivities) sendNotice(ctx context.Context, noticeID uint64) (SendResult, error) {
	n, err := a.Store.BeginSend(ctx, noticeID)
	switch {
	case errors.Is(err, storage.ErrAlreadySent):
		// An attempt that died between recording the send and the items
		// it listed would leave them looking unsent (and drafted again).
		sent, lerr := a.Store.NoticeByID(ctx, noticeID)
		if lerr != nil {
			return SendResult{}, lerr
		}
		at := time.Now()
		if sent.SentAt != nil {
			at = *sent.SentAt
		}
		if lerr := a.Store.MarkItemsListed(ctx, storage.SplitIDs(sent.ItemIDs), noticeID, at); lerr != nil {
			return SendResult{}, lerr
		}
		return SendResult{Outcome: "already-sent"}, nil
	case errors.Is(err, storage.ErrUncertain):
		if aerr := a.Store.Audit(ctx, systemActor, "notice.uncertain", fmt.Sprintf("notice:%d", noticeID),
			"an earlier attempt began DATA and did not finish: it may have been delivered; not sent again"); aerr != nil {
			return SendResult{}, aerr
		}
		return SendResult{Outcome: "uncertain"}, nil
	case err != nil:
		return SendResult{}, err
	}
	ctx = logCtx(ctx, "case_id", n.CaseID)
	msg := notices.Message{
		From: a.From, To: n.Recipient, Subject: n.Subject, Text: n.BodyText, HTML: n.BodyHTML,
		MessageID: n.MessageID, Date: time.Now().UTC(), OrderPDF: a.Injunction.OrderPDF,
		ReplyTo: a.Injunction.Contact.Email,
	}
	if len(n.PDF) > 0 {
		msg.Attachments = append(msg.Attachments, notices.PDFAttachment(n.Reference, n.PDF))
	}
	cited, err := a.noticesByID(ctx, n.CaseID, storage.SplitIDs(n.Cites))
	if err != nil {
		return SendResult{}, err
	}
	// Threaded with the notices it cites, at the recipient (not with
	// other hosts' notices, which it never received).
	for _, c := range cited {
		if c.CaseID == n.CaseID {
			msg.References = append(msg.References, c.MessageID)
		}
	}
	if len(msg.References) > 0 {
		msg.InReplyTo = msg.References[len(msg.References)-1]
	}
	stopBeat := tick.Every(ctx, 5*time.Second, func(ctx context.Context) { heartbeat(ctx) })
	rcpt, err := a.Mailer.Send(ctx, msg, notices.SendOptions{
		BeforeData: func(ctx context.Context) error { return a.Store.MarkDataStarted(ctx, noticeID, time.Now()) },
	})
	stopBeat()
	if err != nil {
		obj := fmt.Sprintf("notice:%d", noticeID)
		var unc *notices.UncertainError
		var perm *notices.PermanentError
		switch {
		case errors.As(err, &unc):
			a.log().ErrorContext(ctx, "notice may have been delivered; waiting for a person", "notice", noticeID, "err", err)
			if merr := a.Store.MarkUncertain(ctx, noticeID, err.Error()); merr != nil {
				return SendResult{}, errors.Join(err, merr)
			}
			if aerr := a.Store.Audit(ctx, systemActor, "notice.uncertain", obj, err.Error()); aerr != nil {
				return SendResult{}, aerr
			}
			return SendResult{Outcome: "uncertain"}, nil
		case errors.As(err, &perm):
			a.log().WarnContext(ctx, "notice refused", "notice", noticeID, "err", err)
			if merr := a.Store.MarkRefused(ctx, noticeID, err.Error()); merr != nil {
				return SendResult{}, errors.Join(err, merr)
			}
			if aerr := a.Store.Audit(ctx, systemActor, "notice.refused", obj, err.Error()); aerr != nil {
				return SendResult{}, aerr
			}
			return SendResult{}, temporal.NewNonRetryableApplicationError(err.Error(), errTypePermanent, err)
		}
		a.log().WarnContext(ctx, "notice send failed; retrying", "notice", noticeID, "attempt", n.Attempts, "err", err)
		if merr := a.Store.MarkSendFailed(ctx, noticeID, err.Error()); merr != nil {
			return SendResult{}, errors.Join(err, merr)
		}
		return SendResult{}, err
	}
	now := time.Now()
	sum := sha256.Sum256([]byte(n.Subject + "\n\n" + n.BodyText))
	if err := a.Store.MarkSent(ctx, noticeID, now, rcpt.Response, hex.EncodeToString(sum[:])); err != nil {
		return SendResult{}, err
	}
	if err := a.Store.MarkItemsListed(ctx, storage.SplitIDs(n.ItemIDs), noticeID, now); err != nil {
		return SendResult{}, err
	}
	a.log().InfoContext(ctx, "notice sent", "notice", noticeID, "case", n.CaseID, "reference", n.Reference, "revision", n.Revision)
	if err := a.Store.Audit(ctx, systemActor, "notice.sent", fmt.Sprintf("notice:%d", noticeID),
		fmt.Sprintf("case %d %s %s revision %d to %s; relay: %s", n.CaseID, n.Kind, n.Reference, n.Revision, n.Recipient, rcpt.Response)); err != nil {
		return SendResult{}, err
	}
	a.reportTelegram(ctx, n)
	return SendResult{Outcome: "sent"}, nil
}

// ResolveSendRequest settles an uncertain notice.
type ResolveSendRequest struct {
	NoticeID uint64
	ResolveSendInput
}

// ResolveSend records a person's word on a notice that may have been
// delivered: delivered makes it sent; not delivered re-queues it.
func (a *CaseActivities) ResolveSend(ctx context.Context, req ResolveSendRequest) error {
	ctx = logCtx(ctx, "notice_id", req.NoticeID)
	n, err := a.Store.NoticeByID(ctx, req.NoticeID)
	if err != nil {
		return err
	}
	if n.State != storage.NoticeUncertain {
		return nil // a retry after the first attempt committed
	}
	now := time.Now()
	if err := a.Store.ResolveUncertain(ctx, req.NoticeID, req.Delivered, now); err != nil {
		return err
	}
	if req.Delivered {
		if err := a.Store.MarkItemsListed(ctx, storage.SplitIDs(n.ItemIDs), n.ID, now); err != nil {
			return err
		}
	}
	what := "not delivered: send again"
	if req.Delivered {
		what = "delivered"
	}
	return a.Store.Audit(ctx, req.User, "notice.resolved", fmt.Sprintf("notice:%d", req.NoticeID), what)
}

// AcknowledgeRequest records a host's reply.
type AcknowledgeRequest struct {
	CaseID uint64
	AcknowledgeInput
}

// Acknowledge records the host's reply on the case.
func (a *CaseActivities) Acknowledge(ctx context.Context, req AcknowledgeRequest) error {
	ctx = logCtx(ctx, "case_id", req.CaseID)
	if err := a.Store.UpdateCase(ctx, req.CaseID, map[string]any{"acked_at": time.Now().UTC(), "ack_note": req.Note}); err != nil {
		return err
	}
	return a.Store.Audit(ctx, req.User, "case.acknowledged", fmt.Sprintf("case:%d", req.CaseID), req.Note)
}

// SetRecipientRequest gives a case its recipient.
type SetRecipientRequest struct {
	CaseID uint64
	SetRecipientInput
}

// SetRecipient records the address a person gave the case.
func (a *CaseActivities) SetRecipient(ctx context.Context, req SetRecipientRequest) error {
	ctx = logCtx(ctx, "case_id", req.CaseID)
	list, err := mail.ParseAddressList(req.Addresses)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("recipient %q: %v", req.Addresses, err), errTypePermanent, err)
	}
	addrs := make([]string, len(list))
	for i, ad := range list {
		addrs[i] = ad.String()
	}
	to := strings.Join(addrs, ", ")
	if err := a.Store.UpdateCase(ctx, req.CaseID, map[string]any{"recipient": to, "detail": ""}); err != nil {
		return err
	}
	return a.Store.Audit(ctx, req.User, "case.recipient", fmt.Sprintf("case:%d", req.CaseID), to)
}

// CloseCaseRequest closes a case.
type CloseCaseRequest struct {
	CaseID uint64
	CloseInput
}

// CloseCase records the case closed, by whom and why.
func (a *CaseActivities) CloseCase(ctx context.Context, req CloseCaseRequest) error {
	ctx = logCtx(ctx, "case_id", req.CaseID)
	c, err := a.Store.CaseByID(ctx, req.CaseID)
	if err != nil {
		return err
	}
	if c.State == storage.CaseClosed {
		return nil
	}
	if err := a.Store.SetCaseState(ctx, req.CaseID, storage.CaseClosed, ""); err != nil {
		return err
	}
	if err := a.Store.UpdateCase(ctx, req.CaseID, map[string]any{"detail": req.Reason}); err != nil {
		return err
	}
	return a.Store.Audit(ctx, req.User, "case.closed", fmt.Sprintf("case:%d", req.CaseID), fmt.Sprintf("%s -> closed: %s", c.State, req.Reason))
}

// CheckRemoval re-checks every listed item of a case and records each
// result as evidence; an item gone or no longer matching is removed.
func (a *CaseActivities) CheckRemoval(ctx context.Context, caseID uint64) (CaseSnapshot, error) {
	ctx = logCtx(ctx, "case_id", caseID)
	if a.Checker == nil {
		return CaseSnapshot{}, temporal.NewNonRetryableApplicationError("no removal checker configured", errTypePermanent, nil)
	}
	c, err := a.Store.CaseByID(ctx, caseID)
	if err != nil {
		return CaseSnapshot{}, err
	}
	all, err := a.Store.CaseItems(ctx, caseID)
	if err != nil {
		return CaseSnapshot{}, err
	}
	var items []storage.CaseItem
	for _, it := range all {
		if it.NoticeID != 0 && it.State != storage.ItemDismissed {
			items = append(items, it)
		}
	}
	results, err := a.Checker.Check(ctx, c, items)
	if err != nil {
		return CaseSnapshot{}, err
	}
	removed, back := 0, 0
	for i := range results {
		rc := &results[i]
		rc.CaseID = caseID
		before := slices.IndexFunc(items, func(it storage.CaseItem) bool { return it.ID == rc.ItemID })
		if err := a.Store.RecordRemovalCheck(ctx, rc); err != nil {
			return CaseSnapshot{}, err
		}
		if before < 0 {
			continue
		}
		was := items[before].State
		switch {
		case rc.Result.Removed() && was == storage.ItemConfirmed:
			removed++
			if err := a.Store.Audit(ctx, systemActor, "item.removed", fmt.Sprintf("case:%d", caseID),
				fmt.Sprintf("item %d %s: %s", rc.ItemID, rc.Result, rc.Detail)); err != nil {
				return CaseSnapshot{}, err
			}
		case rc.Result == storage.CheckPresent && was == storage.ItemRemoved:
			back++
			if err := a.Store.Audit(ctx, systemActor, "item.reappeared", fmt.Sprintf("case:%d", caseID),
				fmt.Sprintf("item %d present again: %s", rc.ItemID, rc.Detail)); err != nil {
				return CaseSnapshot{}, err
			}
		}
	}
	if back > 0 {
		if err := a.Store.UpdateCase(ctx, caseID, map[string]any{"reopened": c.Reopened + 1}); err != nil {
			return CaseSnapshot{}, err
		}
	}
	a.log().InfoContext(ctx, "removal re-check", "case", caseID, "items", len(items), "removed", removed, "back", back)
	return a.LoadCase(ctx, caseID)
}

// reportTelegram reports, in-app, the messages a sent notice about a
// Telegram channel names. It is a second channel beside the e-mail, best
// effort: a failure is logged and audited, never a failed send (the notice
// went out), and a retry of the send after this point does not report again.
func (a *CaseActivities) reportTelegram(ctx context.Context, n storage.Notice) {
	if a.Telegram == nil {
		return
	}
	c, err := a.Store.CaseByID(ctx, n.CaseID)
	if err != nil || !strings.HasPrefix(c.Target, "t.me/") {
		return
	}
	hits, err := a.Store.HitsForTarget(ctx, c.Target)
	if err != nil {
		a.log().WarnContext(ctx, "telegram report: cannot read the case's hits", "case", c.ID, "err", err)
		return
	}
	bySource := map[uint64][]int{}
	for _, h := range hits {
		capt, err := a.Store.CaptureByID(ctx, h.CaptureID)
		if err != nil {
			continue
		}
		if id, ok := tme.MessageID(capt.URL); ok && !slices.Contains(bySource[capt.SourceID], id) {
			bySource[capt.SourceID] = append(bySource[capt.SourceID], id)
		}
	}
	in := a.Injunction
	comment := fmt.Sprintf("These messages publish data stolen from %s, in breach of orders of the %s (%s, %s) that forbid anyone to access or publish it. Our notice %s went to Telegram's abuse desk.",
		in.Claimant, in.Court, in.FileNumber, in.DateOfOrders, n.MessageID)
	for src, ids := range bySource {
		slices.Sort(ids)
		req := tgmonitor.ReportRequest{SourceID: src, Messages: ids,
			Prefer: []string{"personal", "private", "illegal", "copyright"}, Comment: comment}
		res, err := a.Telegram.Report(ctx, req)
		if err != nil && !tgmonitor.IsPermanent(err) {
			// One more try after a transient failure (a dropped connection).
			a.log().WarnContext(ctx, "telegram in-app report failed; trying once more", "case", c.ID, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(2 * time.Second):
				res, err = a.Telegram.Report(ctx, req)
			}
		}
		detail := fmt.Sprintf("case %d, %s, messages %v", c.ID, c.Target, ids)
		action := "telegram.reported"
		if err != nil {
			action, detail = "telegram.report_failed", detail+": "+err.Error()
			a.log().WarnContext(ctx, "telegram in-app report failed", "case", c.ID, "err", err)
		} else {
			detail += fmt.Sprintf(": reason %q, at %s", strings.Join(res.Steps, " / "), res.ReportedAt.Format(time.RFC3339))
		}
		if err := a.Store.Audit(ctx, systemActor, action, fmt.Sprintf("notice:%d", n.ID), detail); err != nil {
			a.log().WarnContext(ctx, "cannot audit the telegram report", "case", c.ID, "err", err)
		}
	}
}

// triagePolicy maps notices.triage to the items TakeHits confirms itself.
func triagePolicy(mode string) storage.TriagePolicy {
	switch mode {
	case config.TriageAuto:
		return storage.ConfirmAll
	case config.TriageExact:
		return storage.ConfirmExact
	}
	return storage.ConfirmNone
}
