package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/leakwatch/leakwatch/internal/notices"
	"github.com/leakwatch/leakwatch/storage"
	"github.com/leakwatch/leakwatch/workflows"
)

// CaseActions is everything besides approval that people do to a running
// case, and its live status: workflow updates and a query, never writes of
// case state. *workflows.Cases implements it; a CaseService given in
// Options that also implements it enables these actions (otherwise they
// answer 503 and the case page shows what the database holds).
type CaseActions interface {
	Triage(ctx context.Context, caseID uint64, user storage.User, itemIDs []uint64, confirm bool, reason string) error
	Revise(ctx context.Context, caseID uint64, user storage.User, in workflows.ReviseInput) (int, error)
	RequestChanges(ctx context.Context, caseID uint64, user storage.User, revision int, comment string) error
	Acknowledge(ctx context.Context, caseID uint64, user storage.User, note string) error
	SetRecipient(ctx context.Context, caseID uint64, user storage.User, addresses, recipientType string) error
	ResolveSend(ctx context.Context, caseID uint64, user storage.User, delivered bool) error
	Close(ctx context.Context, caseID uint64, user storage.User, reason string) error
	Recheck(ctx context.Context, caseID uint64, user storage.User) error
	Status(ctx context.Context, caseID uint64) (workflows.CaseStatus, error)
}

var (
	_ CaseService = (*workflows.Cases)(nil)
	_ CaseActions = (*workflows.Cases)(nil)
)

// caseActions is the case service's CaseActions, nil if it has none.
func (s *Server) caseActions() CaseActions {
	a, _ := s.cases.(CaseActions)
	return a
}

// caseAction is one thing a person asks a case to do, as runCaseAction
// carries it out.
type caseAction struct {
	audit  string // audit action prefix: <audit>.request, .denied, .rejected, .failed and <audit> itself
	legal  bool   // needs the legal or admin role
	denied string // the 403 message
	detail string // audit detail (the ip is added); never document content
	// validate returns a message when the request is malformed (400).
	validate func() string
	// unavailable, when set, is the 503 message: no service to call.
	unavailable string
	call        func(ctx context.Context) error
	// legacyErrors shows errors the service did not classify as refusals
	// (409 with their text) rather than as internal errors: the approve
	// endpoint's contract from before the service classified its errors.
	legacyErrors bool
}

// runCaseAction checks the role (auditing a denial), validates, checks the
// case exists, audits the request — refusing to go on if that fails, so no
// action happens without a record — calls the service and audits the
// outcome. It returns the HTTP status and, when not 200, a message.
func (s *Server) runCaseAction(ctx context.Context, r *http.Request, a *authed, caseID uint64, act caseAction) (int, string) {
	object := "case/" + strconv.FormatUint(caseID, 10)
	detail := strings.TrimSpace(act.detail + " ip=" + s.clientIP(r).String())
	if act.legal && !a.can(permApprove) {
		if err := s.store.Audit(ctx, a.user.Username, act.audit+".denied", object, detail+" role="+string(a.user.Role)); err != nil {
			s.log.ErrorContext(ctx, "audit denied case action", "action", act.audit, "err", err)
		}
		s.log.WarnContext(ctx, "case action denied by role", "action", act.audit, "user", a.user.Username, "role", a.user.Role, "case", caseID)
		return http.StatusForbidden, act.denied
	}
	if act.validate != nil {
		if msg := act.validate(); msg != "" {
			return http.StatusBadRequest, msg
		}
	}
	if _, err := s.store.CaseByID(ctx, caseID); errors.Is(err, storage.ErrNotFound) {
		return http.StatusNotFound, "case not found"
	} else if err != nil {
		s.log.ErrorContext(ctx, "case action: load case", "action", act.audit, "case", caseID, "err", err)
		return http.StatusInternalServerError, "internal error"
	}
	if act.unavailable != "" || act.call == nil {
		msg := act.unavailable
		if msg == "" {
			msg = "case actions are not available: no case service configured"
		}
		return http.StatusServiceUnavailable, msg
	}
	if err := s.store.Audit(ctx, a.user.Username, act.audit+".request", object, detail); err != nil {
		s.log.ErrorContext(ctx, "audit case action request", "action", act.audit, "err", err)
		return http.StatusInternalServerError, "internal error"
	}
	cctx, cancel := context.WithTimeout(ctx, approveTimeout)
	defer cancel()
	if err := act.call(cctx); err != nil {
		status, msg := s.caseServiceFailure(ctx, err, act.legacyErrors)
		outcome := ".rejected"
		if status != http.StatusConflict {
			outcome = ".failed"
		}
		s.log.WarnContext(ctx, "case action not done", "action", act.audit, "user", a.user.Username, "case", caseID, "status", status, "err", err)
		if aerr := s.store.Audit(ctx, a.user.Username, act.audit+outcome, object,
			detail+" error="+truncate(msg, maxAuditDetail)); aerr != nil {
			s.log.ErrorContext(ctx, "audit case action outcome", "action", act.audit, "err", aerr)
		}
		return status, msg
	}
	if err := s.store.Audit(ctx, a.user.Username, act.audit, object, detail); err != nil {
		// The action happened and its request is on record; say so in the log.
		s.log.ErrorContext(ctx, "audit case action", "action", act.audit, "case", caseID, "err", err)
	}
	return http.StatusOK, ""
}

// caseServiceFailure maps a case service error to a status and a message a
// person can act on: the workflow's refusal (409, its reason), an
// unreachable Temporal (503), a vanished case (404); anything else is
// logged and shown as an internal error.
func (s *Server) caseServiceFailure(ctx context.Context, err error, legacy bool) (int, string) {
	switch {
	case errors.Is(err, workflows.ErrRejected):
		return http.StatusConflict, rejectionMessage(err)
	case errors.Is(err, storage.ErrNotFound):
		return http.StatusNotFound, "case not found"
	case temporalUnavailable(err):
		return http.StatusServiceUnavailable, "the case workflows (Temporal) did not answer; the action may not have been applied — reload the case and try again"
	case legacy:
		return http.StatusConflict, err.Error()
	}
	s.log.ErrorContext(ctx, "case service", "err", err)
	return http.StatusInternalServerError, "internal error"
}

// rejectionMessage is the workflow's reason for refusing, without the
// wrapping ("close case 3: rejected by the case: ...") and without the
// Temporal error decoration ("(type: ..., retryable: ...)").
func rejectionMessage(err error) string {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) && ae.Message() != "" {
		return ae.Message()
	}
	msg := err.Error()
	i := strings.LastIndex(msg, workflows.ErrRejected.Error())
	if i < 0 {
		return msg
	}
	if after := strings.TrimPrefix(msg[i+len(workflows.ErrRejected.Error()):], ": "); after != "" {
		return after
	}
	if before := strings.TrimSuffix(msg[:i], ": "); before != "" {
		return before
	}
	return "the case refused"
}

// temporalUnavailable reports whether err means Temporal could not be
// reached or did not answer in time.
func temporalUnavailable(err error) bool {
	var u *serviceerror.Unavailable
	var d *serviceerror.DeadlineExceeded
	return errors.As(err, &u) || errors.As(err, &d) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// ---- the actions, shared by the UI forms and the API ----

func (s *Server) triageAction(a *authed, caseID uint64, ids []uint64, decision, reason string) caseAction {
	reason = strings.TrimSpace(reason)
	act := caseAction{
		audit:  "case.triage",
		detail: fmt.Sprintf("decision=%s items=%s reason=%q", decision, storage.JoinIDs(ids), truncate(reason, 200)),
		validate: func() string {
			switch {
			case decision != "confirm" && decision != "dismiss":
				return `decision must be "confirm" or "dismiss"`
			case len(ids) == 0:
				return "select at least one item"
			case decision == "dismiss" && reason == "":
				return "dismissing needs a reason"
			}
			return ""
		},
	}
	if svc := s.caseActions(); svc != nil {
		act.call = func(ctx context.Context) error {
			return svc.Triage(ctx, caseID, a.user, ids, decision == "confirm", reason)
		}
	}
	return act
}

func (s *Server) reviseAction(a *authed, caseID uint64, in workflows.ReviseInput, newRev *int) caseAction {
	act := caseAction{
		audit: "case.revise", legal: true, denied: "only legal or admin users may revise notices",
		detail: fmt.Sprintf("revision=%d subject_changed=%t text_bytes=%d pull_pending=%t", in.Revision, in.Subject != "", len(in.Text), in.PullPending),
		validate: func() string {
			switch {
			case in.Revision < 1:
				return "revision must be a positive integer"
			case !in.PullPending && in.Subject == "" && in.Text == "":
				return "nothing to revise: give an edited subject or text, or pull the pending items in"
			}
			return ""
		},
	}
	if svc := s.caseActions(); svc != nil {
		act.call = func(ctx context.Context) error {
			rev, err := svc.Revise(ctx, caseID, a.user, in)
			*newRev = rev
			return err
		}
	}
	return act
}

func (s *Server) requestChangesAction(a *authed, caseID uint64, revision int, comment string) caseAction {
	comment = strings.TrimSpace(comment)
	act := caseAction{
		audit: "case.request-changes", legal: true, denied: "only legal or admin users may request changes to notices",
		detail: fmt.Sprintf("revision=%d comment=%q", revision, truncate(comment, 200)),
		validate: func() string {
			switch {
			case revision < 1:
				return "revision must be a positive integer"
			case comment == "":
				return "say what should change (a comment is required)"
			}
			return ""
		},
	}
	if svc := s.caseActions(); svc != nil {
		act.call = func(ctx context.Context) error { return svc.RequestChanges(ctx, caseID, a.user, revision, comment) }
	}
	return act
}

func (s *Server) acknowledgeAction(a *authed, caseID uint64, note string) caseAction {
	note = strings.TrimSpace(note)
	act := caseAction{
		audit: "case.acknowledge", legal: true, denied: "only legal or admin users may record the host's reply",
		detail: fmt.Sprintf("note=%q", truncate(note, 200)),
		validate: func() string {
			if note == "" {
				return "record what the host replied (a note is required)"
			}
			return ""
		},
	}
	if svc := s.caseActions(); svc != nil {
		act.call = func(ctx context.Context) error { return svc.Acknowledge(ctx, caseID, a.user, note) }
	}
	return act
}

func (s *Server) recipientAction(a *authed, caseID uint64, addresses, rtype string) caseAction {
	addresses, rtype = strings.TrimSpace(addresses), strings.TrimSpace(rtype)
	act := caseAction{
		audit: "case.recipient", legal: true, denied: "only legal or admin users may set a case's recipient",
		detail: fmt.Sprintf("addresses=%q type=%q", truncate(addresses, 200), rtype),
		validate: func() string {
			switch {
			case addresses == "":
				return "give at least one address"
			case rtype != "" && !notices.RecipientType(rtype).Valid():
				return fmt.Sprintf("unknown recipient type %q", rtype)
			}
			return ""
		},
	}
	if svc := s.caseActions(); svc != nil {
		act.call = func(ctx context.Context) error { return svc.SetRecipient(ctx, caseID, a.user, addresses, rtype) }
	}
	return act
}

func (s *Server) resolveSendAction(a *authed, caseID uint64, delivered *bool) caseAction {
	d := "unset"
	if delivered != nil {
		d = strconv.FormatBool(*delivered)
	}
	act := caseAction{
		audit: "case.resolve-send", legal: true, denied: "only legal or admin users may resolve a send",
		detail: "delivered=" + d,
		validate: func() string {
			if delivered == nil {
				return "say whether the notice was delivered (delivered: true or false)"
			}
			return ""
		},
	}
	if svc := s.caseActions(); svc != nil && delivered != nil {
		act.call = func(ctx context.Context) error { return svc.ResolveSend(ctx, caseID, a.user, *delivered) }
	}
	return act
}

func (s *Server) closeAction(a *authed, caseID uint64, reason string) caseAction {
	reason = strings.TrimSpace(reason)
	act := caseAction{
		audit: "case.close", legal: true, denied: "only legal or admin users may close cases",
		detail: fmt.Sprintf("reason=%q", truncate(reason, 200)),
		validate: func() string {
			if reason == "" {
				return "give a reason for closing"
			}
			return ""
		},
	}
	if svc := s.caseActions(); svc != nil {
		act.call = func(ctx context.Context) error { return svc.Close(ctx, caseID, a.user, reason) }
	}
	return act
}

func (s *Server) recheckAction(a *authed, caseID uint64) caseAction {
	act := caseAction{audit: "case.recheck"}
	if svc := s.caseActions(); svc != nil {
		act.call = func(ctx context.Context) error { return svc.Recheck(ctx, caseID, a.user) }
	}
	return act
}

// ---- UI forms ----

// caseDone are the flash messages after a form's action succeeded (the
// browser is redirected to the case page with ?done=NAME).
var caseDone = map[string]string{
	"triage":          "Triage recorded.",
	"revise":          "New revision drafted. Review it before approving.",
	"request-changes": "Changes requested; the draft waits for a revision.",
	"acknowledge":     "The host's reply was recorded.",
	"recipient":       "Recipient set. The case drafts its notice to this address.",
	"resolve-send":    "Send resolved.",
	"close":           "The case is closing.",
	"recheck":         "Re-check requested; results appear below as they come in.",
	"hold":            "Legal hold placed: retention removes none of this case's evidence until it is lifted.",
	"lift":            "Legal hold lifted: the retention policy applies to this case's evidence again.",
}

// handleCaseView is the case page, with the flash of a completed action.
func (s *Server) handleCaseView(w http.ResponseWriter, r *http.Request, a *authed) {
	s.showCase(w, r, a, http.StatusOK, caseDone[r.URL.Query().Get("done")], "")
}

// caseForm runs a form's action and answers like the approve form: a
// redirect to the case page when done, the page with the reason when not.
func (s *Server) caseForm(w http.ResponseWriter, r *http.Request, a *authed, name string, act func(caseID uint64) caseAction) {
	id, ok := caseIDParam(r)
	if !ok {
		s.uiError(w, r, a, http.StatusNotFound, "Case not found.")
		return
	}
	status, msg := s.runCaseAction(r.Context(), r, a, id, act(id))
	switch status {
	case http.StatusOK:
		http.Redirect(w, r, "/cases/"+strconv.FormatUint(id, 10)+"?done="+name, http.StatusSeeOther)
	case http.StatusNotFound:
		s.uiError(w, r, a, status, "This case no longer exists.")
	default:
		s.showCase(w, r, a, status, "", "Not done: "+plainMessage(status, msg)+". The page below shows the case as it is now.")
	}
}

// formIDs parses the repeated form field name as item ids; ok is false if
// any is not one.
func formIDs(r *http.Request, name string) ([]uint64, bool) {
	var out []uint64
	for _, v := range r.PostForm[name] {
		id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil || id == 0 {
			return nil, false
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, true
}

// formText reads a textarea, with the browser's CRLF line ends made LF.
func formText(r *http.Request, name string) string {
	return strings.ReplaceAll(r.PostFormValue(name), "\r\n", "\n")
}

func (s *Server) handleTriageForm(w http.ResponseWriter, r *http.Request, a *authed) {
	s.caseForm(w, r, a, "triage", func(id uint64) caseAction {
		ids, ok := formIDs(r, "item")
		act := s.triageAction(a, id, ids, r.PostFormValue("decision"), r.PostFormValue("reason"))
		if !ok {
			act.validate = func() string { return "item ids must be positive integers" }
		}
		return act
	})
}

// handleApproveConfirmForm is the approve form of the case page: it
// carries needs_read, and then a lawyer must have ticked "I have read
// revision N" (the browser insists too). A post without needs_read is the
// plain approval (revision only) it always was.
func (s *Server) handleApproveConfirmForm(w http.ResponseWriter, r *http.Request, a *authed) {
	if r.PostFormValue("needs_read") != "" && a.can(permApprove) {
		rev := strings.TrimSpace(r.PostFormValue("revision"))
		if r.PostFormValue("read") != rev {
			s.showCase(w, r, a, http.StatusBadRequest, "", "Not approved: tick “I have read revision "+rev+"” after reading it.")
			return
		}
	}
	s.handleApproveForm(w, r, a)
}

func (s *Server) handleReviseForm(w http.ResponseWriter, r *http.Request, a *authed) {
	rev, _ := strconv.Atoi(r.PostFormValue("revision"))
	in := workflows.ReviseInput{Revision: rev, Comment: strings.TrimSpace(r.PostFormValue("comment"))}
	if r.PostFormValue("pull") != "" {
		in.PullPending = true
	} else {
		in.Subject, in.Text = strings.TrimSpace(r.PostFormValue("subject")), formText(r, "text")
	}
	var newRev int
	s.caseForm(w, r, a, "revise", func(id uint64) caseAction {
		act := s.reviseAction(a, id, in, &newRev)
		if in.PullPending {
			return act
		}
		// The edit form sends the whole subject and text back; only a
		// change makes a new revision.
		valid := act.validate
		act.validate = func() string {
			if msg := valid(); msg != "" {
				return msg
			}
			n, err := s.noticeRevision(r.Context(), id, rev)
			if err == nil && in.Subject == strings.TrimSpace(n.Subject) && in.Text == strings.ReplaceAll(n.BodyText, "\r\n", "\n") {
				return "nothing was changed in revision " + strconv.Itoa(rev)
			}
			return ""
		}
		return act
	})
}

// noticeRevision finds revision rev of a case's notice.
func (s *Server) noticeRevision(ctx context.Context, caseID uint64, rev int) (storage.Notice, error) {
	ns, err := s.store.NoticesForCase(ctx, caseID)
	if err != nil {
		return storage.Notice{}, err
	}
	for _, n := range ns {
		if n.Revision == rev {
			return n, nil
		}
	}
	return storage.Notice{}, fmt.Errorf("revision %d of case %d: %w", rev, caseID, storage.ErrNotFound)
}

func (s *Server) handleRequestChangesForm(w http.ResponseWriter, r *http.Request, a *authed) {
	s.caseForm(w, r, a, "request-changes", func(id uint64) caseAction {
		rev, _ := strconv.Atoi(r.PostFormValue("revision"))
		return s.requestChangesAction(a, id, rev, formText(r, "comment"))
	})
}

func (s *Server) handleAcknowledgeForm(w http.ResponseWriter, r *http.Request, a *authed) {
	s.caseForm(w, r, a, "acknowledge", func(id uint64) caseAction { return s.acknowledgeAction(a, id, formText(r, "note")) })
}

func (s *Server) handleRecipientForm(w http.ResponseWriter, r *http.Request, a *authed) {
	s.caseForm(w, r, a, "recipient", func(id uint64) caseAction {
		return s.recipientAction(a, id, r.PostFormValue("addresses"), r.PostFormValue("type"))
	})
}

func (s *Server) handleResolveSendForm(w http.ResponseWriter, r *http.Request, a *authed) {
	s.caseForm(w, r, a, "resolve-send", func(id uint64) caseAction {
		var delivered *bool
		switch r.PostFormValue("delivered") {
		case "yes":
			delivered = new(true)
		case "no":
			delivered = new(false)
		}
		return s.resolveSendAction(a, id, delivered)
	})
}

func (s *Server) handleCloseForm(w http.ResponseWriter, r *http.Request, a *authed) {
	s.caseForm(w, r, a, "close", func(id uint64) caseAction { return s.closeAction(a, id, formText(r, "reason")) })
}

func (s *Server) handleRecheckForm(w http.ResponseWriter, r *http.Request, a *authed) {
	s.caseForm(w, r, a, "recheck", func(id uint64) caseAction { return s.recheckAction(a, id) })
}

// ---- the cases list ----

// casesListData is the cases page: the filtered cases and how many cases
// are in each state.
type casesListData struct {
	Cases  []caseListRow
	Counts []stateCount
	Total  int
	State  string // the filter; "" = all
	Q      string // target search
}

type caseListRow struct {
	storage.Case
	Meaning string
}

type stateCount struct {
	State   storage.CaseState
	Meaning string
	N       int
}

// filterCases returns the cases in state (all if "") whose target contains
// q (case-insensitively), and the count of every state over all cases.
func filterCases(all []storage.Case, state storage.CaseState, q string) ([]storage.Case, []stateCount) {
	q = strings.ToLower(strings.TrimSpace(q))
	var out []storage.Case
	counts := make([]stateCount, 0, len(storage.CaseStates()))
	for _, st := range storage.CaseStates() {
		counts = append(counts, stateCount{State: st, Meaning: stateMeaning(st)})
	}
	for _, c := range all {
		if i := slices.IndexFunc(counts, func(sc stateCount) bool { return sc.State == c.State }); i >= 0 {
			counts[i].N++
		}
		if (state == "" || c.State == state) && (q == "" || strings.Contains(strings.ToLower(c.Target), q)) {
			out = append(out, c)
		}
	}
	return out, counts
}

// parseCaseState reads a ?state= filter: "" or a known state.
func parseCaseState(v string) (storage.CaseState, bool) {
	st := storage.CaseState(strings.TrimSpace(v))
	return st, st == "" || slices.Contains(storage.CaseStates(), st)
}

func (s *Server) handleCasesList(w http.ResponseWriter, r *http.Request, a *authed) {
	state, ok := parseCaseState(r.URL.Query().Get("state"))
	if !ok {
		s.uiError(w, r, a, http.StatusBadRequest, "Unknown case state.")
		return
	}
	all, err := s.store.ListCases(r.Context())
	if err != nil {
		s.pageError(w, r, a, "list cases", err)
		return
	}
	q := r.URL.Query().Get("q")
	cases, counts := filterCases(all, state, q)
	if r.URL.Query().Get("open") != "" { // the dashboard's "open in all"
		cases = slices.DeleteFunc(cases, func(c storage.Case) bool { return !c.State.Open() })
	}
	d := casesListData{Counts: counts, Total: len(all), State: string(state), Q: q}
	for _, c := range cases {
		d.Cases = append(d.Cases, caseListRow{Case: c, Meaning: stateMeaning(c.State)})
	}
	s.render(w, r, http.StatusOK, "cases", s.pageFor(a, "cases", "Cases", d))
}
