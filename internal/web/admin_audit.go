package web

import (
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// auditPageSize is how many events the audit page shows at a time.
const auditPageSize = 100

// maxAuditExport bounds one export; narrow the filters for more.
const maxAuditExport = 50000

// auditFilterForm is the audit page's filter form, as typed.
type auditFilterForm struct {
	Actor, Action, Object, From, To string
}

// parseAuditFilter reads the filters of the audit page, export and API:
// actor, action (a prefix such as "login."), object, from and to (dates,
// YYYY-MM-DD in UTC, to inclusive, or RFC 3339 times), before (an event id,
// for paging).
func parseAuditFilter(q url.Values) (storage.AuditFilter, auditFilterForm, error) {
	form := auditFilterForm{Actor: strings.TrimSpace(q.Get("actor")), Action: strings.TrimSpace(q.Get("action")),
		Object: strings.TrimSpace(q.Get("object")), From: strings.TrimSpace(q.Get("from")), To: strings.TrimSpace(q.Get("to"))}
	f := storage.AuditFilter{Actor: form.Actor, ActionPrefix: form.Action, Object: form.Object}
	var err error
	if f.From, err = parseAuditTime(form.From, false); err != nil {
		return f, form, fmt.Errorf("from: %w", err)
	}
	if f.To, err = parseAuditTime(form.To, true); err != nil {
		return f, form, fmt.Errorf("to: %w", err)
	}
	if v := q.Get("before"); v != "" {
		if f.BeforeID, err = strconv.ParseUint(v, 10, 64); err != nil {
			return f, form, errors.New("before must be an event id")
		}
	}
	return f, form, nil
}

// parseAuditTime parses a date (whole day; end=true means the day after, so
// "to" includes its day) or an RFC 3339 time; "" is no bound.
func parseAuditTime(v string, end bool) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if d, err := time.Parse(time.DateOnly, v); err == nil {
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, errors.New("want a date like 2026-03-01 or an RFC 3339 time")
	}
	return t, nil
}

// auditPage is the audit log screen.
type auditPage struct {
	Filter   auditFilterForm
	Events   []storage.AuditEvent
	Verify   *auditVerifyJSON // set when the user asked to verify the chain
	OlderURL string           // next page, "" on the last
	// CSVURL and JSONURL export the filtered events.
	CSVURL, JSONURL string
}

// auditVerifyJSON is the hash chain check's result.
type auditVerifyJSON struct {
	Verified       bool   `json:"verified"`
	VerifiedEvents int    `json:"verified_events"`
	VerifyError    string `json:"verify_error,omitempty"`
}

func (s *Server) verifyAudit(r *http.Request, actor string) auditVerifyJSON {
	n, err := s.store.VerifyAudit(r.Context())
	v := auditVerifyJSON{Verified: err == nil, VerifiedEvents: n}
	if err != nil {
		v.VerifyError = err.Error()
		s.log.ErrorContext(r.Context(), "audit chain does not verify", "err", err)
	}
	s.audit(r.Context(), actor, "audit.verified", "", fmt.Sprintf("verified=%v events=%d", v.Verified, n))
	return v
}

// query is the filters (without paging) as a query string.
func (f auditFilterForm) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"actor": f.Actor, "action": f.Action, "object": f.Object, "from": f.From, "to": f.To} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

func exportURL(form auditFilterForm, format string) string {
	q := form.query()
	q.Set("format", format)
	return "/audit/export?" + q.Encode()
}

func (s *Server) handleAuditPage(w http.ResponseWriter, r *http.Request, a *authed) {
	f, form, err := parseAuditFilter(r.URL.Query())
	if err != nil {
		s.uiError(w, r, a, http.StatusBadRequest, "Filter "+err.Error()+".")
		return
	}
	f.Limit = auditPageSize + 1
	evs, err := s.store.QueryAudit(r.Context(), f)
	if err != nil {
		s.pageError(w, r, a, "audit log", err)
		return
	}
	d := auditPage{Filter: form, CSVURL: exportURL(form, "csv"), JSONURL: exportURL(form, "json")}
	if len(evs) > auditPageSize {
		evs = evs[:auditPageSize]
		q := form.query()
		q.Set("before", strconv.FormatUint(evs[len(evs)-1].ID, 10))
		d.OlderURL = "/audit?" + q.Encode()
	}
	d.Events = evs
	if r.URL.Query().Get("verify") != "" {
		v := s.verifyAudit(r, a.user.Username)
		d.Verify = &v
	}
	s.render(w, r, http.StatusOK, "audit", s.pageFor(a, "audit", "Audit log", d))
}

// handleAuditExport downloads the filtered events as CSV or JSON; the
// export itself is audited.
func (s *Server) handleAuditExport(w http.ResponseWriter, r *http.Request, a *authed) {
	if surfaceOf(r) == surfaceAPI && !checkQuery(w, r, "format", "actor", "action", "object", "from", "to", "before") {
		return
	}
	f, form, err := parseAuditFilter(r.URL.Query())
	if err != nil {
		s.fail(w, r, a, surfaceOf(r), http.StatusBadRequest, "filter "+err.Error())
		return
	}
	format := r.URL.Query().Get("format")
	if format != "csv" && format != "json" {
		s.fail(w, r, a, surfaceOf(r), http.StatusBadRequest, "format must be csv or json")
		return
	}
	f.Limit = maxAuditExport
	evs, err := s.store.QueryAudit(r.Context(), f)
	if err != nil {
		s.fail(w, r, a, surfaceOf(r), http.StatusInternalServerError, "internal error")
		s.log.ErrorContext(r.Context(), "audit export", "err", err)
		return
	}
	s.audit(r.Context(), a.user.Username, "audit.exported", "",
		fmt.Sprintf("format=%s events=%d filter=%s", format, len(evs), form.query().Encode()))
	name := "leakwatch-audit-" + s.now().UTC().Format("20060102-150405") + "." + format
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	if format == "json" {
		out := make([]auditEventJSON, 0, len(evs))
		for _, e := range evs {
			out = append(out, auditEventJSON(e))
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"id", "at", "actor", "action", "object", "detail", "prev_hash", "hash"})
	for _, e := range evs {
		_ = cw.Write([]string{strconv.FormatUint(e.ID, 10), e.At.UTC().Format(time.RFC3339Nano), csvSafe(e.Actor),
			csvSafe(e.Action), csvSafe(e.Object), csvSafe(e.Detail), e.PrevHash, e.Hash})
	}
	cw.Flush()
}

// csvSafe defuses cells a spreadsheet would run as a formula (CSV
// injection): actors and details can carry text from outside.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// auditJSON answers GET /api/audit: the chain check and one page of events.
type auditJSON struct {
	Verified       bool             `json:"verified"`
	VerifiedEvents int              `json:"verified_events"`
	VerifyError    string           `json:"verify_error,omitempty"`
	Events         []auditEventJSON `json:"events"`
	// NextBefore pages on: pass it as ?before= for older events (0: none).
	NextBefore uint64 `json:"next_before,omitempty"`
}

func (s *Server) handleAPIAuditVerify(w http.ResponseWriter, r *http.Request, a *authed) {
	if !checkQuery(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, s.verifyAudit(r, a.user.Username))
}
