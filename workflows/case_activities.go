package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/crawlers/tgmonitor"
	"github.com/leakwatch/leakwatch/crawlers/tgmonitor/tme"
	"github.com/leakwatch/leakwatch/internal/notices"
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
	From   string
	Logger *slog.Logger // nil discards
}

func (a *CaseActivities) log() *slog.Logger { return orDiscard(a.Logger) }

// CaseSnapshot is what a (re)started case workflow learns from the database.
type CaseSnapshot struct {
	Revision int
}

// LoadCase reads the last notice revision of a case.
func (a *CaseActivities) LoadCase(ctx context.Context, caseID uint64) (CaseSnapshot, error) {
	ns, err := a.Store.NoticesForCase(ctx, caseID)
	if err != nil {
		return CaseSnapshot{}, err
	}
	var snap CaseSnapshot
	if len(ns) > 0 {
		snap.Revision = ns[0].Revision
	}
	return snap, nil
}

// CaseStateUpdate mirrors a case's state into the database for the UI.
type CaseStateUpdate struct {
	CaseID    uint64
	State     storage.CaseState
	Recipient string
}

// SetCaseState records a case's state.
func (a *CaseActivities) SetCaseState(ctx context.Context, u CaseStateUpdate) error {
	return a.Store.SetCaseState(ctx, u.CaseID, u.State, u.Recipient)
}

// DraftRequest asks for one notice revision.
type DraftRequest struct {
	CaseID   uint64
	Target   string
	Revision int
	HitIDs   []uint64
}

// DraftResult names the stored draft.
type DraftResult struct {
	NoticeID  uint64
	Recipient string
}

// recipient returns the takedown address for a host or channel.
func (a *CaseActivities) recipient(target string) (string, error) {
	if r := a.Notices.Recipients[target]; r != "" {
		return r, nil
	}
	// A Telegram channel's notice goes to Telegram's abuse desks
	// (telegram.abuse_addresses: abuse@ and dmca@ by default).
	if strings.HasPrefix(target, "t.me/") && len(a.TelegramAbuse) > 0 {
		return strings.Join(a.TelegramAbuse, ", "), nil
	}
	if r := a.Notices.DefaultRecipient; r != "" {
		return r, nil
	}
	return "", fmt.Errorf("no takedown recipient for %s: set notices.recipients[%q] or notices.default_recipient", target, target)
}

// DraftNotice renders a notice revision from the template and stores it.
// Retrying it returns the stored draft unchanged.
func (a *CaseActivities) DraftNotice(ctx context.Context, req DraftRequest) (DraftResult, error) {
	recipient, err := a.recipient(req.Target)
	if err != nil {
		// Retried (with backoff) rather than failing the case: once the
		// operator adds the address and restarts the worker, drafting resumes.
		a.log().ErrorContext(ctx, "cannot draft notice", "case", req.CaseID, "err", err)
		return DraftResult{}, err
	}
	hits, err := a.Store.HitDetailsByIDs(ctx, req.HitIDs)
	if err != nil {
		return DraftResult{}, err
	}
	// One schedule line per captured URL: several references matching one file
	// are still one item for the host to remove.
	var items []notices.Item
	seen := map[uint64]bool{}
	for _, h := range hits {
		if seen[h.CaptureID] {
			continue
		}
		seen[h.CaptureID] = true
		items = append(items, notices.Item{URL: h.URL, CapturedAt: h.FetchedAt, SHA256: h.CaptureSHA256, Size: h.CaptureSize})
	}
	now := time.Now().UTC()
	r, err := a.Templates.Render(notices.Data{
		Injunction: a.Injunction, CaseID: req.CaseID, Revision: req.Revision, Target: req.Target,
		Recipient: recipient, DraftedAt: now, Deadline: now.Add(a.Notices.RemovalDeadline), Items: items,
	})
	if err != nil {
		return DraftResult{}, temporal.NewNonRetryableApplicationError(err.Error(), errTypePermanent, err)
	}
	ids := make([]string, len(req.HitIDs))
	for i, id := range req.HitIDs {
		ids[i] = strconv.FormatUint(id, 10)
	}
	n := storage.Notice{
		CaseID: req.CaseID, Revision: req.Revision, Recipient: recipient, Subject: r.Subject,
		BodyText: r.Text, BodyHTML: r.HTML, HitIDs: strings.Join(ids, ","), DraftedBy: systemActor,
		DraftedAt: now, MessageID: fmt.Sprintf("<notice-%d-%d-%d@leakwatch>", req.CaseID, req.Revision, now.UnixNano()),
	}
	created, err := a.Store.CreateNoticeDraft(ctx, &n)
	if err != nil {
		return DraftResult{}, err
	}
	if created {
		a.log().InfoContext(ctx, "notice drafted", "case", req.CaseID, "revision", req.Revision, "items", len(items))
		if err := a.Store.Audit(ctx, systemActor, "notice.drafted", fmt.Sprintf("notice:%d", n.ID),
			fmt.Sprintf("case %d revision %d, %d items", req.CaseID, req.Revision, len(items))); err != nil {
			return DraftResult{}, err
		}
	}
	return DraftResult{NoticeID: n.ID, Recipient: n.Recipient}, nil
}

// ApproveNoticeRequest records an approval accepted by the workflow.
type ApproveNoticeRequest struct {
	NoticeID uint64
	Approver string
}

// ApproveNotice records the approval in the database and the audit log.
func (a *CaseActivities) ApproveNotice(ctx context.Context, req ApproveNoticeRequest) error {
	n, err := a.Store.NoticeByID(ctx, req.NoticeID)
	if err != nil {
		return err
	}
	if n.State != storage.NoticeDraft && n.ApprovedBy == req.Approver {
		return nil // a retry after the first attempt committed
	}
	if err := a.Store.ApproveNotice(ctx, req.NoticeID, req.Approver); err != nil {
		return err
	}
	return a.Store.Audit(ctx, req.Approver, "notice.approved", fmt.Sprintf("notice:%d", req.NoticeID),
		fmt.Sprintf("case %d revision %d", n.CaseID, n.Revision))
}

// SendNotice sends an approved notice by SMTP exactly once: the database
// claim makes retries after a completed send no-ops, and the Message-ID fixed
// at draft time lets a receiver drop the duplicate of a send whose completion
// was lost in a crash.
func (a *CaseActivities) SendNotice(ctx context.Context, noticeID uint64) error {
	n, err := a.Store.BeginSend(ctx, noticeID)
	if errors.Is(err, storage.ErrAlreadySent) {
		return nil
	}
	if err != nil {
		return err
	}
	msg := notices.Message{
		From: a.From, To: n.Recipient, Subject: n.Subject, Text: n.BodyText, HTML: n.BodyHTML,
		MessageID: n.MessageID, Date: time.Now().UTC(), Attachment: a.Injunction.OrderPDF,
	}
	if err := a.Mailer.Send(ctx, msg); err != nil {
		a.log().WarnContext(ctx, "notice send failed", "notice", noticeID, "attempt", n.Attempts, "err", err)
		if merr := a.Store.MarkSendFailed(ctx, noticeID, err.Error()); merr != nil {
			return errors.Join(err, merr)
		}
		var perm *notices.PermanentError
		if errors.As(err, &perm) {
			return temporal.NewNonRetryableApplicationError(err.Error(), errTypePermanent, err)
		}
		return err
	}
	if err := a.Store.MarkSent(ctx, noticeID, time.Now()); err != nil {
		return err
	}
	a.log().InfoContext(ctx, "notice sent", "notice", noticeID, "case", n.CaseID, "revision", n.Revision)
	if err := a.Store.Audit(ctx, systemActor, "notice.sent", fmt.Sprintf("notice:%d", noticeID),
		fmt.Sprintf("case %d revision %d to %s", n.CaseID, n.Revision, n.Recipient)); err != nil {
		return err
	}
	a.reportTelegram(ctx, n)
	return nil
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
