package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/leakwatch/leakwatch/storage"
	"github.com/leakwatch/leakwatch/workflows"
)

// writeJSON encodes v with status. Encoding happens before the header is
// written, so an encoding failure is a clean 500.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"internal error"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// writeError writes {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// caseJSON is a case in lists.
type caseJSON struct {
	ID          uint64            `json:"id"`
	Target      string            `json:"target"`
	State       storage.CaseState `json:"state"`
	Meaning     string            `json:"state_meaning"`
	Recipient   string            `json:"recipient"`
	Detail      string            `json:"detail"` // why the case waits
	OpenedAt    time.Time         `json:"opened_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	ClosedAt    *time.Time        `json:"closed_at,omitempty"`
	AckedAt     *time.Time        `json:"acked_at,omitempty"`
	AckNote     string            `json:"ack_note,omitempty"`
	VerifiedAt  *time.Time        `json:"verified_at,omitempty"`
	EscalatedAt *time.Time        `json:"escalated_at,omitempty"`
	Reopened    int               `json:"reopened"`
}

func toCaseJSON(c storage.Case) caseJSON {
	return caseJSON{ID: c.ID, Target: c.Target, State: c.State, Meaning: stateMeaning(c.State), Recipient: c.Recipient,
		Detail: c.Detail, OpenedAt: c.OpenedAt, UpdatedAt: c.UpdatedAt, ClosedAt: c.ClosedAt, AckedAt: c.AckedAt,
		AckNote: c.AckNote, VerifiedAt: c.VerifiedAt, EscalatedAt: c.EscalatedAt, Reopened: c.Reopened}
}

// noticeJSON is one revision of a case's notice. The body is the notice we
// send: it lists URLs, capture times and hashes, never document content;
// it is "" unless asked for (?bodies=1).
type noticeJSON struct {
	ID            uint64              `json:"id"`
	Revision      int                 `json:"revision"`
	State         storage.NoticeState `json:"state"`
	Kind          storage.NoticeKind  `json:"kind"`
	Reference     string              `json:"reference"`
	Number        int                 `json:"number"`
	Recipient     string              `json:"recipient"`
	RecipientType string              `json:"recipient_type"`
	Subject       string              `json:"subject"`
	BodyText      string              `json:"body_text"`
	ItemIDs       []uint64            `json:"item_ids"`
	Cites         []uint64            `json:"cites"`
	Comment       string              `json:"comment"`
	DraftedBy     string              `json:"drafted_by"`
	DraftedAt     time.Time           `json:"drafted_at"`
	ApprovedBy    string              `json:"approved_by"`
	ApprovedAt    *time.Time          `json:"approved_at"`
	SentAt        *time.Time          `json:"sent_at"`
	RelayResponse string              `json:"relay_response"`
	BodySHA256    string              `json:"body_sha256"`
	Attempts      int                 `json:"attempts"`
	LastError     string              `json:"last_error"`
}

func toNoticeJSON(n storage.Notice, body bool) noticeJSON {
	out := noticeJSON{ID: n.ID, Revision: n.Revision, State: n.State, Kind: n.Kind, Reference: n.Reference, Number: n.Number,
		Recipient: n.Recipient, RecipientType: n.RecipientType, Subject: n.Subject,
		ItemIDs: nonNilIDs(storage.SplitIDs(n.ItemIDs)), Cites: nonNilIDs(storage.SplitIDs(n.Cites)), Comment: n.Comment,
		DraftedBy: n.DraftedBy, DraftedAt: n.DraftedAt, ApprovedBy: n.ApprovedBy, ApprovedAt: n.ApprovedAt, SentAt: n.SentAt,
		RelayResponse: n.RelayResponse, BodySHA256: n.BodySHA256, Attempts: n.Attempts, LastError: n.LastError}
	if body {
		out.BodyText = n.BodyText
	}
	return out
}

func nonNilIDs(v []uint64) []uint64 {
	if v == nil {
		return []uint64{}
	}
	return v
}

// hitJSON is a hit with its evidence metadata.
type hitJSON struct {
	ID            uint64    `json:"id"`
	Target        string    `json:"target"`
	URL           string    `json:"url"`
	FetchedAt     time.Time `json:"fetched_at"`
	CaptureID     uint64    `json:"capture_id"`
	CaptureSHA256 string    `json:"capture_sha256"`
	Method        string    `json:"method"`
	Score         float64   `json:"score"`
	Why           string    `json:"why"`
	RefOpaqueID   string    `json:"ref_opaque_id"`
	// RefName only for roles that may see names (permRefNames): a
	// reference's file name can carry a patient identifier.
	RefName string `json:"ref_name,omitempty"`
	// In hit lists only: where the hit came from and what became of it.
	SourceID *uint64 `json:"source_id,omitempty"`
	CaseID   *uint64 `json:"case_id,omitempty"` // 0: no case has taken it in yet
	ItemID   *uint64 `json:"item_id,omitempty"`
	State    string  `json:"state,omitempty"` // its item's state, or "pending"
}

func toHitJSON(h storage.HitDetail, names bool) hitJSON {
	out := hitJSON{ID: h.ID, Target: h.Target, URL: h.URL, FetchedAt: h.FetchedAt, CaptureID: h.CaptureID,
		CaptureSHA256: h.CaptureSHA256, Method: h.Method, Score: h.Score, Why: h.Why, RefOpaqueID: h.RefOpaqueID}
	if names {
		out.RefName = h.RefName
	}
	return out
}

func toHitsJSON(hs []storage.HitDetail, names bool) []hitJSON {
	out := make([]hitJSON, 0, len(hs))
	for _, h := range hs {
		out = append(out, toHitJSON(h, names))
	}
	return out
}

// captureJSON is the evidence record of one fetch.
type captureJSON struct {
	ID          uint64              `json:"id"`
	RunID       uint64              `json:"run_id"`
	SourceID    uint64              `json:"source_id"`
	Kind        storage.CaptureKind `json:"kind"`
	URL         string              `json:"url"`
	FinalURL    string              `json:"final_url"`
	Host        string              `json:"host"`
	FetchedAt   time.Time           `json:"fetched_at"`
	Status      int                 `json:"status"`
	ContentType string              `json:"content_type"`
	SniffedType string              `json:"sniffed_type"`
	SHA256      string              `json:"sha256"`
	Size        int64               `json:"size"`
	Truncated   bool                `json:"truncated"`
	Error       string              `json:"error"`
	Refs        int64               `json:"refs"`     // reference files the payload exposes
	Patients    int64               `json:"patients"` // patients they concern
}

// sourceJSON is a monitored source. Its settings are flat, with the keys of
// a `sources:` entry in the config file. Login names where the password is
// read from when a crawl starts (an environment variable or a file); no
// password is ever stored, accepted or shown. Credentials in URLs (the
// proxy's, say) are redacted.
type sourceJSON struct {
	ID           uint64                   `json:"id"`
	Name         string                   `json:"name"`
	Kind         storage.SourceKind       `json:"kind"`
	URL          string                   `json:"url"`
	Every        string                   `json:"every"`
	EverySecs    int64                    `json:"every_secs"`
	Enabled      bool                     `json:"enabled"`
	Selectors    selectorsJSON            `json:"selectors"`
	Allow        []string                 `json:"allow"`
	Deny         []string                 `json:"deny"`
	MaxFileBytes int64                    `json:"max_file_bytes"`
	Proxy        string                   `json:"proxy"`
	Workers      int                      `json:"workers"`
	Rate         float64                  `json:"rate"`
	FileTypes    []string                 `json:"file_types"`
	WatchTerms   []string                 `json:"watch_terms"`
	Login        *loginJSON               `json:"login"` // null: no login
	CookiesFile  string                   `json:"cookies_file"`
	Telegram     *storage.TelegramOptions `json:"telegram,omitempty"`
	CreatedAt    time.Time                `json:"created_at"`
	UpdatedAt    time.Time                `json:"updated_at"`
}

// selectorsJSON are a source's CSS selectors; "" takes the kind's default.
type selectorsJSON struct {
	Content string `json:"content"`
	Links   string `json:"links"`
	Next    string `json:"next"`
	Files   string `json:"files"`
}

// loginJSON is how a source logs in. PasswordEnv and PasswordFile are
// references (exactly one is set), never the password.
type loginJSON struct {
	URL          string `json:"url"`
	User         string `json:"user"`
	UserField    string `json:"user_field"`
	PassField    string `json:"pass_field"`
	PasswordEnv  string `json:"password_env"`
	PasswordFile string `json:"password_file"`
}

func toSourceJSON(s storage.Source) sourceJSON {
	o := s.Options
	out := sourceJSON{ID: s.ID, Name: s.Name, Kind: s.Kind, URL: redactURL(s.URL), Every: s.Every().String(),
		EverySecs: s.EverySecs, Enabled: s.Enabled, Selectors: selectorsJSON(o.Selectors),
		Allow: nonNil(o.Allow), Deny: nonNil(o.Deny), MaxFileBytes: o.MaxFileBytes, Proxy: redactURL(o.Proxy),
		Workers: o.Workers, Rate: o.Rate, FileTypes: nonNil(o.FileTypes), WatchTerms: nonNil(o.WatchTerms),
		CookiesFile: o.CookiesFile, Telegram: o.Telegram, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
	if l := o.Login; l != nil {
		out.Login = &loginJSON{URL: redactURL(l.URL), User: l.User, UserField: l.UserField, PassField: l.PassField,
			PasswordEnv: l.PasswordEnv, PasswordFile: l.PasswordFile}
	}
	return out
}

// nonNil makes an absent list encode as [] rather than null.
func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// auditEventJSON is one audit log entry.
type auditEventJSON struct {
	ID       uint64    `json:"id"`
	At       time.Time `json:"at"`
	Actor    string    `json:"actor"`
	Action   string    `json:"action"`
	Object   string    `json:"object"`
	Detail   string    `json:"detail"`
	PrevHash string    `json:"prev_hash"`
	Hash     string    `json:"hash"`
}

// mailJSON is a message in the mailbox (the demo's SMTP sink).
type mailJSON struct {
	From     string    `json:"from"`
	To       []string  `json:"to"`
	Subject  string    `json:"subject"`
	Received time.Time `json:"received"`
	Body     string    `json:"body"`
}

// caseIDParam parses the {id} path value.
func caseIDParam(r *http.Request) (uint64, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

func (s *Server) internalError(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.log.ErrorContext(r.Context(), what, "err", err)
	writeError(w, http.StatusInternalServerError, "internal error")
}

// itemJSON is one infringing item (a URL or message) with every
// reference (by opaque id) and method that matched it.
type itemJSON struct {
	ID          uint64            `json:"id"`
	URL         string            `json:"url"`
	State       storage.ItemState `json:"state"`
	Reason      string            `json:"reason"`
	TriagedBy   string            `json:"triaged_by"`
	TriagedAt   *time.Time        `json:"triaged_at"`
	CapturedAt  time.Time         `json:"captured_at"`
	SHA256      string            `json:"sha256"`
	Size        int64             `json:"size"`
	NoticeID    uint64            `json:"notice_id"` // the sent notice that first listed it; 0: none
	ListedAt    *time.Time        `json:"listed_at"`
	RemovedAt   *time.Time        `json:"removed_at"`
	CheckedAt   *time.Time        `json:"checked_at"`
	CheckResult string            `json:"check_result"`
	Checks      int               `json:"checks"`
	Reappeared  int               `json:"reappeared"`
	// Elsewhere: other cases' sent notices about the same content.
	Elsewhere []elsewhereJSON `json:"noticed_elsewhere"`
	InDraft   bool            `json:"in_draft"`
	Pending   bool            `json:"pending"`
	Matches   []matchJSON     `json:"matches"`
}

// elsewhereJSON is another case's sent notice that listed the same content.
type elsewhereJSON struct {
	CaseID    uint64     `json:"case_id"`
	Target    string     `json:"target"`
	Reference string     `json:"reference"`
	SentAt    *time.Time `json:"sent_at"`
}

// matchJSON is one reference and method that matched an item.
type matchJSON struct {
	RefOpaqueID string  `json:"ref_opaque_id"` // "" for keyword hits
	Method      string  `json:"method"`
	Score       float64 `json:"score"`
	Why         string  `json:"why"`
	Hits        int     `json:"hits"`
}

func toItemJSON(r itemRow) itemJSON {
	out := itemJSON{ID: r.ID, URL: r.URL, State: r.State, Reason: r.Reason, TriagedBy: r.TriagedBy, TriagedAt: r.TriagedAt,
		CapturedAt: r.CapturedAt, SHA256: r.SHA256, Size: r.Size, NoticeID: r.NoticeID, ListedAt: r.ListedAt,
		RemovedAt: r.RemovedAt, CheckedAt: r.CheckedAt, CheckResult: r.CheckResult, Checks: r.CaseItem.Checks,
		Reappeared: r.Reappeared, InDraft: r.InDraft, Pending: r.Pending, Matches: make([]matchJSON, 0, len(r.Matches))}
	out.Elsewhere = make([]elsewhereJSON, 0, len(r.Elsewhere))
	for _, e := range r.Elsewhere {
		out.Elsewhere = append(out.Elsewhere, elsewhereJSON(e))
	}
	for _, m := range r.Matches {
		out.Matches = append(out.Matches, matchJSON{RefOpaqueID: m.Ref, Method: m.Method, Score: m.Score, Why: m.Why, Hits: m.Hits})
	}
	return out
}

// checkJSON is one removal re-check.
type checkJSON struct {
	ID        uint64              `json:"id"`
	ItemID    uint64              `json:"item_id"`
	URL       string              `json:"url"`
	CheckedAt time.Time           `json:"checked_at"`
	Result    storage.CheckResult `json:"result"`
	Detail    string              `json:"detail"`
	CaptureID uint64              `json:"capture_id"`
}

// statusJSON is the case workflow's live status.
type statusJSON struct {
	State     storage.CaseState `json:"state"`
	Revision  int               `json:"revision"`
	NoticeID  uint64            `json:"notice_id"`
	Seen      int               `json:"seen"`
	Unlisted  int               `json:"unlisted"`
	LastError string            `json:"last_error"`
	Pending   []uint64          `json:"pending"`
	NextTimer *time.Time        `json:"next_timer"` // null: the case acts only when someone does
	NextWhat  string            `json:"next_what"`
}

// caseDetailJSON is a case with its items, notices (newest revision
// first), re-checks (newest first), live status and every hit on its
// target.
type caseDetailJSON struct {
	caseJSON
	Items      []itemJSON   `json:"items"`
	Pending    []uint64     `json:"pending"`
	Notices    []noticeJSON `json:"notices"`
	References []string     `json:"references"` // of sent notices
	Checks     []checkJSON  `json:"checks"`
	Status     *statusJSON  `json:"status"` // null when the workflow did not answer
	StatusNote string       `json:"status_note,omitempty"`
	Hits       []hitJSON    `json:"hits"`
}

func (s *Server) handleAPICase(w http.ResponseWriter, r *http.Request, a *authed) {
	if !checkQuery(w, r, "bodies") {
		return
	}
	bv := r.URL.Query().Get("bodies")
	if bv != "" && bv != "0" && bv != "1" {
		writeError(w, http.StatusBadRequest, "bodies must be 0 or 1")
		return
	}
	id, ok := caseIDParam(r)
	if !ok {
		writeError(w, http.StatusNotFound, "case not found")
		return
	}
	cv, err := s.loadCase(r.Context(), id)
	if errors.Is(err, storage.ErrNotFound) {
		writeError(w, http.StatusNotFound, "case not found")
		return
	}
	if err != nil {
		s.internalError(w, r, "load case", err)
		return
	}
	bodies := bv == "1"
	out := caseDetailJSON{caseJSON: toCaseJSON(cv.Case), Items: make([]itemJSON, 0, len(cv.Items)), Pending: []uint64{},
		Notices: make([]noticeJSON, 0, len(cv.Notices)), References: nonNil(cv.References),
		Checks: make([]checkJSON, 0, len(cv.Checks)), StatusNote: cv.StatusNote, Hits: toHitsJSON(cv.Hits, a.can(permRefNames))}
	for _, it := range cv.Items {
		out.Items = append(out.Items, toItemJSON(it))
	}
	for _, it := range cv.Pending {
		out.Pending = append(out.Pending, it.ID)
	}
	for _, n := range cv.Notices {
		out.Notices = append(out.Notices, toNoticeJSON(n, bodies))
	}
	for _, c := range cv.Checks {
		out.Checks = append(out.Checks, checkJSON{ID: c.ID, ItemID: c.ItemID, URL: c.URL, CheckedAt: c.CheckedAt,
			Result: c.Result, Detail: c.Detail, CaptureID: c.CaptureID})
	}
	if st := cv.Status; st != nil {
		out.Status = &statusJSON{State: st.State, Revision: st.Revision, NoticeID: st.NoticeID, Seen: st.Seen,
			Unlisted: st.Unlisted, LastError: st.LastError, Pending: nonNilIDs(st.Pending), NextWhat: st.NextWhat}
		if !st.NextTimer.IsZero() {
			out.Status.NextTimer = &st.NextTimer
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// approveRequest is the body of POST /api/cases/{id}/approve.
type approveRequest struct {
	Revision int `json:"revision"`
}

func (s *Server) handleAPIApprove(w http.ResponseWriter, r *http.Request, a *authed) {
	id, ok := caseIDParam(r)
	if !ok {
		writeError(w, http.StatusNotFound, "case not found")
		return
	}
	var req approveRequest
	if err := decodeStrictJSON(r, &req); err != nil {
		writeCaseDecodeError(w, err)
		return
	}
	status, msg := s.approve(r.Context(), r, a, id, req.Revision)
	if status != http.StatusOK {
		writeError(w, status, msg)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// writeCaseDecodeError explains why a case action's body was refused.
func writeCaseDecodeError(w http.ResponseWriter, err error) {
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, errNotJSON), errors.As(err, &mbe):
		writeDecodeError(w, err)
	default:
		writeError(w, http.StatusBadRequest, "invalid JSON body: "+strings.TrimPrefix(err.Error(), "json: "))
	}
}

// caseAPIAction decodes a case action's body strictly into req (nil: no
// body), runs the action built from it and answers {"ok": true}, plus
// what extra adds once it is done, or the error.
func caseAPIAction[T any](s *Server, w http.ResponseWriter, r *http.Request, a *authed, req *T,
	build func(caseID uint64) caseAction, extra func() map[string]any) {
	id, ok := caseIDParam(r)
	if !ok {
		writeError(w, http.StatusNotFound, "case not found")
		return
	}
	if req != nil {
		if err := decodeStrictJSON(r, req); err != nil {
			writeCaseDecodeError(w, err)
			return
		}
	}
	status, msg := s.runCaseAction(r.Context(), r, a, id, build(id))
	if status != http.StatusOK {
		writeError(w, status, msg)
		return
	}
	out := map[string]any{"ok": true}
	if extra != nil {
		maps.Copy(out, extra())
	}
	writeJSON(w, http.StatusOK, out)
}

// triageRequest is the body of POST /api/cases/{id}/triage.
type triageRequest struct {
	ItemIDs  []uint64 `json:"item_ids"`
	Decision string   `json:"decision"` // "confirm" or "dismiss"
	Reason   string   `json:"reason"`   // required to dismiss
}

func (s *Server) handleAPITriage(w http.ResponseWriter, r *http.Request, a *authed) {
	var req triageRequest
	caseAPIAction(s, w, r, a, &req, func(id uint64) caseAction {
		return s.triageAction(a, id, req.ItemIDs, req.Decision, req.Reason)
	}, nil)
}

// reviseRequest is the body of POST /api/cases/{id}/revise.
type reviseRequest struct {
	Revision    int    `json:"revision"` // the current draft
	Subject     string `json:"subject"`
	Text        string `json:"text"` // "": re-drafted from the template
	PullPending bool   `json:"pull_pending"`
	Comment     string `json:"comment"`
}

func (s *Server) handleAPIRevise(w http.ResponseWriter, r *http.Request, a *authed) {
	var req reviseRequest
	var rev int
	caseAPIAction(s, w, r, a, &req, func(id uint64) caseAction {
		in := workflows.ReviseInput{Revision: req.Revision, Subject: strings.TrimSpace(req.Subject),
			Text: strings.ReplaceAll(req.Text, "\r\n", "\n"), PullPending: req.PullPending, Comment: strings.TrimSpace(req.Comment)}
		return s.reviseAction(a, id, in, &rev)
	}, func() map[string]any { return map[string]any{"revision": rev} })
}

// revisionCommentRequest is the body of POST /api/cases/{id}/request-changes.
type revisionCommentRequest struct {
	Revision int    `json:"revision"`
	Comment  string `json:"comment"`
}

func (s *Server) handleAPIRequestChanges(w http.ResponseWriter, r *http.Request, a *authed) {
	var req revisionCommentRequest
	caseAPIAction(s, w, r, a, &req, func(id uint64) caseAction {
		return s.requestChangesAction(a, id, req.Revision, req.Comment)
	}, nil)
}

// acknowledgeRequest is the body of POST /api/cases/{id}/acknowledge.
type acknowledgeRequest struct {
	Note string `json:"note"`
}

func (s *Server) handleAPIAcknowledge(w http.ResponseWriter, r *http.Request, a *authed) {
	var req acknowledgeRequest
	caseAPIAction(s, w, r, a, &req, func(id uint64) caseAction {
		return s.acknowledgeAction(a, id, req.Note)
	}, nil)
}

// recipientRequest is the body of POST /api/cases/{id}/recipient.
type recipientRequest struct {
	Addresses string `json:"addresses"` // comma-separated
	Type      string `json:"type"`      // recipient type; "": hosting
}

func (s *Server) handleAPIRecipient(w http.ResponseWriter, r *http.Request, a *authed) {
	var req recipientRequest
	caseAPIAction(s, w, r, a, &req, func(id uint64) caseAction {
		return s.recipientAction(a, id, req.Addresses, req.Type)
	}, nil)
}

// resolveSendRequest is the body of POST /api/cases/{id}/resolve-send.
type resolveSendRequest struct {
	Delivered *bool `json:"delivered"` // required
}

func (s *Server) handleAPIResolveSend(w http.ResponseWriter, r *http.Request, a *authed) {
	var req resolveSendRequest
	caseAPIAction(s, w, r, a, &req, func(id uint64) caseAction {
		return s.resolveSendAction(a, id, req.Delivered)
	}, nil)
}

// closeRequest is the body of POST /api/cases/{id}/close.
type closeRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) handleAPIClose(w http.ResponseWriter, r *http.Request, a *authed) {
	var req closeRequest
	caseAPIAction(s, w, r, a, &req, func(id uint64) caseAction {
		return s.closeAction(a, id, req.Reason)
	}, nil)
}

// handleAPIRecheck takes no body, or {}.
func (s *Server) handleAPIRecheck(w http.ResponseWriter, r *http.Request, a *authed) {
	var req *struct{}
	if r.ContentLength != 0 {
		req = &struct{}{}
	}
	caseAPIAction(s, w, r, a, req, func(id uint64) caseAction {
		return s.recheckAction(a, id)
	}, nil)
}

func (s *Server) handleAPIStatus(w http.ResponseWriter, r *http.Request, _ *authed) {
	c, err := s.store.Count(r.Context())
	if err != nil {
		s.internalError(w, r, "count", err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Server) handleAPIMailbox(w http.ResponseWriter, r *http.Request, _ *authed) {
	msgs := s.mailbox.Messages()
	out := make([]mailJSON, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, mailJSON(m))
	}
	writeJSON(w, http.StatusOK, out)
}
