package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// caseView is a case with everything its page and API answer show.
type caseView struct {
	Case    storage.Case
	Notices []storage.Notice // newest revision first
	Hits    []storage.HitDetail
	// Draft is the notice awaiting approval, if any.
	Draft *storage.Notice
}

func (s *Server) loadCase(ctx context.Context, id uint64) (caseView, error) {
	c, err := s.store.CaseByID(ctx, id)
	if err != nil {
		return caseView{}, fmt.Errorf("load case %d: %w", id, err)
	}
	notices, err := s.store.NoticesForCase(ctx, id)
	if err != nil {
		return caseView{}, fmt.Errorf("load case %d: %w", id, err)
	}
	hits, err := s.store.HitsForTarget(ctx, c.Target)
	if err != nil {
		return caseView{}, fmt.Errorf("load case %d: %w", id, err)
	}
	cv := caseView{Case: c, Notices: notices, Hits: hits}
	for i := range notices {
		if notices[i].State == storage.NoticeDraft {
			cv.Draft = &notices[i]
			break
		}
	}
	return cv, nil
}

// approveTimeout bounds a CaseService call, well inside the server's write
// timeout, so a stuck workflow yields an error the user can read.
const approveTimeout = 45 * time.Second

// maxAuditDetail bounds the error text copied into the audit log.
const maxAuditDetail = 300

// approve checks the user may approve, then asks the CaseService to approve
// the revision. It returns the HTTP status and, when not 200, a message.
//
// The request is audited before the CaseService is called and the call is
// refused if that fails: an approval sends a legal notice, so there must never
// be one without an audit record. The outcome is audited afterwards.
func (s *Server) approve(ctx context.Context, r *http.Request, a *authed, caseID uint64, revision int) (int, string) {
	object := "case/" + strconv.FormatUint(caseID, 10)
	detail := "revision=" + strconv.Itoa(revision) + " ip=" + s.clientIP(r).String()
	if !a.can(permApprove) {
		if err := s.store.Audit(ctx, a.user.Username, "notice.approve.denied", object, detail+" role="+string(a.user.Role)); err != nil {
			s.log.ErrorContext(ctx, "audit denied approval", "err", err)
		}
		s.log.WarnContext(ctx, "approval denied by role", "user", a.user.Username, "role", a.user.Role, "case", caseID)
		return http.StatusForbidden, "only legal or admin users may approve notices"
	}
	if revision < 1 {
		return http.StatusBadRequest, "revision must be a positive integer"
	}
	if _, err := s.store.CaseByID(ctx, caseID); errors.Is(err, storage.ErrNotFound) {
		return http.StatusNotFound, "case not found"
	} else if err != nil {
		s.log.ErrorContext(ctx, "approve: load case", "case", caseID, "err", err)
		return http.StatusInternalServerError, "internal error"
	}
	if s.cases == nil {
		return http.StatusServiceUnavailable, "approvals are not available: no case service configured"
	}
	if err := s.store.Audit(ctx, a.user.Username, "notice.approve.request", object, detail); err != nil {
		s.log.ErrorContext(ctx, "audit approval request", "err", err)
		return http.StatusInternalServerError, "internal error"
	}
	actx, cancel := context.WithTimeout(ctx, approveTimeout)
	defer cancel()
	if err := s.cases.Approve(actx, caseID, revision, a.user); err != nil {
		s.log.WarnContext(ctx, "approval rejected", "user", a.user.Username, "case", caseID, "revision", revision, "err", err)
		msg := err.Error()
		if aerr := s.store.Audit(ctx, a.user.Username, "notice.approve.rejected", object,
			detail+" error="+truncate(msg, maxAuditDetail)); aerr != nil {
			s.log.ErrorContext(ctx, "audit rejected approval", "err", aerr)
		}
		return http.StatusConflict, msg
	}
	if err := s.store.Audit(ctx, a.user.Username, "notice.approve", object, detail); err != nil {
		// The approval happened and its request is on record; say so in the log.
		s.log.ErrorContext(ctx, "audit approval", "case", caseID, "revision", revision, "err", err)
	}
	s.log.InfoContext(ctx, "notice approved", "user", a.user.Username, "case", caseID, "revision", revision)
	return http.StatusOK, ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// parseEvery reads a crawl interval: a Go duration ("6h") or whole seconds.
func parseEvery(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "0" {
		return 0, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > int64(maxEvery/time.Second) {
			return 0, errors.New("interval out of range")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errors.New(`interval must be a duration like "30m" or "6h", or seconds`)
	}
	return d.Truncate(time.Second), nil
}

// parseEveryJSON accepts "every" as a JSON string or number (seconds).
func parseEveryJSON(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var str string
	if err := json.Unmarshal(raw, &str); err == nil {
		return parseEvery(str)
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return parseEvery(n.String())
	}
	return 0, errors.New(`every must be a duration string like "6h" or a number of seconds`)
}

// auditView is the audit log with the chain's verification result.
type auditView struct {
	Verified       bool
	VerifiedEvents int
	VerifyError    string
	Events         []storage.AuditEvent
}

func (s *Server) loadAudit(ctx context.Context, limit int) (auditView, error) {
	var av auditView
	n, verr := s.store.VerifyAudit(ctx)
	av.VerifiedEvents = n
	av.Verified = verr == nil
	if verr != nil {
		av.VerifyError = verr.Error()
		s.log.ErrorContext(ctx, "audit chain does not verify", "err", verr)
	}
	events, err := s.store.AuditEvents(ctx, limit)
	if err != nil {
		return auditView{}, fmt.Errorf("load audit log: %w", err)
	}
	av.Events = events
	return av, nil
}
