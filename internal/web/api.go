package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/leakwatch/leakwatch/storage"
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
	ID        uint64            `json:"id"`
	Target    string            `json:"target"`
	State     storage.CaseState `json:"state"`
	Recipient string            `json:"recipient"`
	OpenedAt  time.Time         `json:"opened_at"`
	UpdatedAt time.Time         `json:"updated_at"`
	ClosedAt  *time.Time        `json:"closed_at,omitempty"`
}

func toCaseJSON(c storage.Case) caseJSON {
	return caseJSON{ID: c.ID, Target: c.Target, State: c.State, Recipient: c.Recipient,
		OpenedAt: c.OpenedAt, UpdatedAt: c.UpdatedAt, ClosedAt: c.ClosedAt}
}

// noticeJSON is one revision of a case's notice. The body is the notice we
// send: it lists URLs, capture times and hashes, never document content.
type noticeJSON struct {
	ID         uint64              `json:"id"`
	Revision   int                 `json:"revision"`
	State      storage.NoticeState `json:"state"`
	Recipient  string              `json:"recipient"`
	Subject    string              `json:"subject"`
	BodyText   string              `json:"body_text"`
	DraftedAt  time.Time           `json:"drafted_at"`
	ApprovedBy string              `json:"approved_by"`
	ApprovedAt *time.Time          `json:"approved_at"`
	SentAt     *time.Time          `json:"sent_at"`
	Attempts   int                 `json:"attempts"`
	LastError  string              `json:"last_error"`
}

func toNoticeJSON(n storage.Notice) noticeJSON {
	return noticeJSON{ID: n.ID, Revision: n.Revision, State: n.State, Recipient: n.Recipient,
		Subject: n.Subject, BodyText: n.BodyText, DraftedAt: n.DraftedAt, ApprovedBy: n.ApprovedBy,
		ApprovedAt: n.ApprovedAt, SentAt: n.SentAt, Attempts: n.Attempts, LastError: n.LastError}
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
	RefName       string    `json:"ref_name"`
}

func toHitJSON(h storage.HitDetail) hitJSON {
	return hitJSON{ID: h.ID, Target: h.Target, URL: h.URL, FetchedAt: h.FetchedAt, CaptureID: h.CaptureID,
		CaptureSHA256: h.CaptureSHA256, Method: h.Method, Score: h.Score, Why: h.Why,
		RefOpaqueID: h.RefOpaqueID, RefName: h.RefName}
}

func toHitsJSON(hs []storage.HitDetail) []hitJSON {
	out := make([]hitJSON, 0, len(hs))
	for _, h := range hs {
		out = append(out, toHitJSON(h))
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

// limitParam reads ?limit=, defaulting to def and capped at maxLimit.
func limitParam(r *http.Request, def, maxLimit int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, errors.New("limit must be a positive integer")
	}
	return min(n, maxLimit), nil
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

func (s *Server) handleAPICases(w http.ResponseWriter, r *http.Request, _ *authed) {
	cases, err := s.store.ListCases(r.Context())
	if err != nil {
		s.internalError(w, r, "list cases", err)
		return
	}
	out := make([]caseJSON, 0, len(cases))
	for _, c := range cases {
		out = append(out, toCaseJSON(c))
	}
	writeJSON(w, http.StatusOK, out)
}

// caseDetailJSON is a case with its notices (newest revision first) and hits.
type caseDetailJSON struct {
	caseJSON
	Notices []noticeJSON `json:"notices"`
	Hits    []hitJSON    `json:"hits"`
}

func (s *Server) handleAPICase(w http.ResponseWriter, r *http.Request, _ *authed) {
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
	out := caseDetailJSON{caseJSON: toCaseJSON(cv.Case), Notices: make([]noticeJSON, 0, len(cv.Notices)),
		Hits: toHitsJSON(cv.Hits)}
	for _, n := range cv.Notices {
		out.Notices = append(out.Notices, toNoticeJSON(n))
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
	if err := decodeJSON(r, &req); err != nil {
		writeDecodeError(w, err)
		return
	}
	status, msg := s.approve(r.Context(), r, a, id, req.Revision)
	if status != http.StatusOK {
		writeError(w, status, msg)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
}

func (s *Server) handleAPIHits(w http.ResponseWriter, r *http.Request, _ *authed) {
	limit, err := limitParam(r, 100, 1000)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	hits, err := s.store.RecentHits(r.Context(), limit)
	if err != nil {
		s.internalError(w, r, "recent hits", err)
		return
	}
	writeJSON(w, http.StatusOK, toHitsJSON(hits))
}

func (s *Server) handleAPICaptures(w http.ResponseWriter, r *http.Request, _ *authed) {
	limit, err := limitParam(r, 100, 1000)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	caps, err := s.store.ListCaptures(r.Context(), limit)
	if err != nil {
		s.internalError(w, r, "list captures", err)
		return
	}
	out := make([]captureJSON, 0, len(caps))
	for _, c := range caps {
		out = append(out, captureJSON{ID: c.ID, RunID: c.RunID, SourceID: c.SourceID, Kind: c.Kind, URL: c.URL,
			FinalURL: c.FinalURL, Host: c.Host, FetchedAt: c.FetchedAt, Status: c.Status, ContentType: c.ContentType,
			SniffedType: c.SniffedType, SHA256: c.SHA256, Size: c.Size, Truncated: c.Truncated, Error: c.Error,
			Refs: c.Refs, Patients: c.Patients})
	}
	writeJSON(w, http.StatusOK, out)
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

// auditJSON is the audit log page: the newest events and whether the whole
// hash chain verifies.
type auditJSON struct {
	Verified       bool             `json:"verified"`
	VerifiedEvents int              `json:"verified_events"`
	VerifyError    string           `json:"verify_error,omitempty"`
	Events         []auditEventJSON `json:"events"`
}

func (s *Server) handleAPIAudit(w http.ResponseWriter, r *http.Request, _ *authed) {
	limit, err := limitParam(r, 200, 5000)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	av, err := s.loadAudit(r.Context(), limit)
	if err != nil {
		s.internalError(w, r, "audit events", err)
		return
	}
	out := auditJSON{Verified: av.Verified, VerifiedEvents: av.VerifiedEvents, VerifyError: av.VerifyError,
		Events: make([]auditEventJSON, 0, len(av.Events))}
	for _, e := range av.Events {
		out.Events = append(out.Events, auditEventJSON(e))
	}
	writeJSON(w, http.StatusOK, out)
}
