package web

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/internal/capture"
	"github.com/leakwatch/leakwatch/storage"
)

// apiV1 is the canonical prefix of the JSON API. Every /api/… route is
// also served there by the same handler; /api/… stays as an alias whose
// lists keep their old shape (a bare array of the first page).
const apiV1 = "/api/v1"

// allRoutes is authedRoutes plus the /api/v1 twin of every API row.
func (s *Server) allRoutes() []route {
	rs := s.authedRoutes()
	for _, rt := range rs {
		if rt.surf == surfaceAPI {
			v1 := rt
			v1.pattern = v1Pattern(rt.pattern)
			rs = append(rs, v1)
		}
	}
	return rs
}

// handleAPIMethodsNotAllowed answers, in JSON, a request for an API path
// with a method the path does not take (net/http's own 405 is plain text).
func handleAPIMethodsNotAllowed(mux *http.ServeMux, rs []route) {
	methods := map[string][]string{}
	var order []string
	for _, rt := range rs {
		if rt.surf != surfaceAPI {
			continue
		}
		if _, ok := methods[rt.pattern]; !ok {
			order = append(order, rt.pattern)
		}
		methods[rt.pattern] = append(methods[rt.pattern], rt.method)
	}
	for _, p := range order {
		allow := strings.Join(methods[p], ", ")
		mux.HandleFunc(p, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, "method not allowed; this path takes "+allow)
		})
	}
}

// v1Pattern maps /api/x to /api/v1/x.
func v1Pattern(p string) string { return apiV1 + strings.TrimPrefix(p, "/api") }

// isV1 reports whether the request came in under /api/v1.
func isV1(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, apiV1+"/") }

// Paging: every list is newest first by id, in pages of at most maxLimit.
const (
	defaultLimit = 50
	maxLimit     = 500
)

// listJSON is a page of a /api/v1 list; NextCursor is "" on the last page.
type listJSON[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor"`
}

// cursorPrefix versions the cursor's format; clients treat it as opaque.
const cursorPrefix = "k1:"

func encodeCursor(id uint64) string {
	if id == 0 {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatUint(id, 10)))
}

func decodeCursor(v string) (uint64, error) {
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err == nil {
		if rest, ok := strings.CutPrefix(string(b), cursorPrefix); ok {
			if id, err := strconv.ParseUint(rest, 10, 64); err == nil && id > 0 {
				return id, nil
			}
		}
	}
	return 0, errors.New("cursor: not a cursor this API gave out; start again without one")
}

// queryError is a bad query parameter; its text goes to the client.
type queryError struct{ msg string }

func (e *queryError) Error() string { return e.msg }

func badQuery(format string, args ...any) error { return &queryError{fmt.Sprintf(format, args...)} }

// listQuery reads and checks a list's query string: only limit, cursor and
// the named filters are allowed, each at most once.
type listQuery struct {
	q    url.Values
	page storage.Page
}

func parseListQuery(r *http.Request, filters ...string) (*listQuery, error) {
	q := r.URL.Query()
	known := append([]string{"limit", "cursor"}, filters...)
	for k, vs := range q {
		if !slices.Contains(known, k) {
			return nil, badQuery("unknown query parameter %q; allowed: %s", k, strings.Join(known, ", "))
		}
		if len(vs) > 1 {
			return nil, badQuery("query parameter %q given more than once", k)
		}
	}
	lq := &listQuery{q: q, page: storage.Page{Limit: defaultLimit}}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return nil, badQuery("limit must be an integer from 1 to %d", maxLimit)
		}
		lq.page.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		id, err := decodeCursor(v)
		if err != nil {
			return nil, &queryError{err.Error()}
		}
		lq.page.Before = id
	}
	return lq, nil
}

// oneOf reads filter name, which must be "" or one of allowed.
func (lq *listQuery) oneOf(name string, allowed []string) (string, error) {
	v := lq.q.Get(name)
	if v == "" || slices.Contains(allowed, v) {
		return v, nil
	}
	return "", badQuery("unknown %s %q; one of: %s", name, v, strings.Join(allowed, ", "))
}

// id reads filter name as a positive id (0: absent).
func (lq *listQuery) id(name string) (uint64, error) {
	v := lq.q.Get(name)
	if v == "" {
		return 0, nil
	}
	id, err := strconv.ParseUint(v, 10, 64)
	if err != nil || id == 0 {
		return 0, badQuery("%s must be a positive integer id", name)
	}
	return id, nil
}

// time reads filter name as an RFC 3339 time (zero: absent).
func (lq *listQuery) time(name string) (time.Time, error) {
	v := lq.q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, badQuery("%s must be an RFC 3339 time such as 2026-01-31T00:00:00Z", name)
	}
	return t, nil
}

// checkQuery refuses any query parameter on an endpoint that takes none.
func checkQuery(w http.ResponseWriter, r *http.Request, allowed ...string) bool {
	for k := range r.URL.Query() {
		if !slices.Contains(allowed, k) {
			msg := fmt.Sprintf("unknown query parameter %q; this endpoint takes none", k)
			if len(allowed) > 0 {
				msg = fmt.Sprintf("unknown query parameter %q; allowed: %s", k, strings.Join(allowed, ", "))
			}
			writeError(w, http.StatusBadRequest, msg)
			return false
		}
	}
	return true
}

// writeList answers a list: under /api/v1 the envelope, under the /api
// alias the bare array it always was, with the next page's cursor in a
// Next-Cursor header.
func writeList[T any](w http.ResponseWriter, r *http.Request, items []T, next uint64) {
	if !isV1(r) {
		if c := encodeCursor(next); c != "" {
			w.Header().Set("Next-Cursor", c)
		}
		writeJSON(w, http.StatusOK, items)
		return
	}
	writeJSON(w, http.StatusOK, listJSON[T]{Items: items, NextCursor: encodeCursor(next)})
}

// writeQueryError answers a bad query with 400, anything else with 500.
func (s *Server) writeQueryError(w http.ResponseWriter, r *http.Request, err error) {
	var qe *queryError
	if errors.As(err, &qe) {
		writeError(w, http.StatusBadRequest, qe.msg)
		return
	}
	s.internalError(w, r, "list", err)
}

// mapList converts rows for the answer, never nil.
func mapList[T, U any](rows []T, conv func(T) U) []U {
	out := make([]U, 0, len(rows))
	for _, r := range rows {
		out = append(out, conv(r))
	}
	return out
}

func caseStateNames() []string {
	return mapList(storage.CaseStates(), func(s storage.CaseState) string { return string(s) })
}

// hitStates are the ?state= values of hits: their item's state, or pending
// while no case has taken the hit in.
func hitStates() []string {
	return []string{storage.HitStatePending, string(storage.ItemNew), string(storage.ItemConfirmed),
		string(storage.ItemDismissed), string(storage.ItemRemoved)}
}

// hitMethods are the ?method= values: every way a hit can match.
func hitMethods() []string {
	return []string{match.MethodSHA256, match.MethodTextSHA256, match.MethodWinnow, match.MethodTLSH,
		match.MethodPDQ, match.MethodImageLayout, match.MethodEDM, capture.MethodKeyword}
}

func sourceKindNames() []string {
	return mapList(append(storage.SourceKinds(), storage.SourceWeb), func(k storage.SourceKind) string { return string(k) })
}

func (s *Server) handleAPICases(w http.ResponseWriter, r *http.Request, _ *authed) {
	lq, err := parseListQuery(r, "state", "target", "q")
	if err != nil {
		s.writeQueryError(w, r, err)
		return
	}
	state, err := lq.oneOf("state", caseStateNames())
	if err != nil {
		s.writeQueryError(w, r, err)
		return
	}
	f := storage.CaseFilter{State: storage.CaseState(state), Target: lq.q.Get("target"), Search: strings.TrimSpace(lq.q.Get("q"))}
	rows, next, err := s.store.ListCasesPage(r.Context(), f, lq.page)
	if err != nil {
		s.writeQueryError(w, r, err)
		return
	}
	writeList(w, r, mapList(rows, toCaseJSON), next)
}

func (s *Server) handleAPIHits(w http.ResponseWriter, r *http.Request, a *authed) {
	lq, err := parseListQuery(r, "state", "method", "source", "target", "case")
	if err != nil {
		s.writeQueryError(w, r, err)
		return
	}
	var f storage.HitFilter
	f.State, err = lq.oneOf("state", hitStates())
	if err == nil {
		f.Method, err = lq.oneOf("method", hitMethods())
	}
	if err == nil {
		f.SourceID, err = lq.id("source")
	}
	if err == nil {
		f.CaseID, err = lq.id("case")
	}
	if err != nil {
		s.writeQueryError(w, r, err)
		return
	}
	f.Target = lq.q.Get("target")
	rows, next, err := s.store.ListHits(r.Context(), f, lq.page)
	if err != nil {
		s.writeQueryError(w, r, err)
		return
	}
	names := a.can(permRefNames)
	writeList(w, r, mapList(rows, func(h storage.HitRow) hitJSON {
		out := toHitJSON(h.HitDetail, names)
		out.SourceID, out.CaseID, out.ItemID, out.State = &h.SourceID, &h.CaseID, &h.ItemID, h.State
		return out
	}), next)
}

func toCaptureJSON(c storage.Capture) captureJSON {
	return captureJSON{ID: c.ID, RunID: c.RunID, SourceID: c.SourceID, Kind: c.Kind, URL: c.URL,
		FinalURL: c.FinalURL, Host: c.Host, FetchedAt: c.FetchedAt, Status: c.Status, ContentType: c.ContentType,
		SniffedType: c.SniffedType, SHA256: c.SHA256, Size: c.Size, Truncated: c.Truncated, Error: c.Error,
		Refs: c.Refs, Patients: c.Patients}
}

func (s *Server) handleAPICaptures(w http.ResponseWriter, r *http.Request, _ *authed) {
	lq, err := parseListQuery(r, "source", "run")
	if err != nil {
		s.writeQueryError(w, r, err)
		return
	}
	var f storage.CaptureFilter
	f.SourceID, err = lq.id("source")
	if err == nil {
		f.RunID, err = lq.id("run")
	}
	if err != nil {
		s.writeQueryError(w, r, err)
		return
	}
	rows, next, err := s.store.ListCapturesPage(r.Context(), f, lq.page)
	if err != nil {
		s.writeQueryError(w, r, err)
		return
	}
	writeList(w, r, mapList(rows, toCaptureJSON), next)
}

func (s *Server) handleAPISourcesList(w http.ResponseWriter, r *http.Request, _ *authed) {
	lq, err := parseListQuery(r, "kind")
	if err != nil {
		s.writeQueryError(w, r, err)
		return
	}
	kind, err := lq.oneOf("kind", sourceKindNames())
	if err != nil {
		s.writeQueryError(w, r, err)
		return
	}
	rows, next, err := s.store.ListSourcesPage(r.Context(), storage.SourceFilter{Kind: storage.SourceKind(kind)}, lq.page)
	if err != nil {
		s.writeQueryError(w, r, err)
		return
	}
	writeList(w, r, mapList(rows, toSourceJSON), next)
}

// auditChainJSON says whether the whole audit hash chain verifies.
type auditChainJSON struct {
	Verified       bool   `json:"verified"`
	VerifiedEvents int    `json:"verified_events"`
	VerifyError    string `json:"verify_error,omitempty"`
}

// auditListJSON is a page of the audit log; the first page (no cursor)
// also verifies the whole chain.
type auditListJSON struct {
	listJSON[auditEventJSON]
	Chain *auditChainJSON `json:"chain,omitempty"`
}

func (s *Server) handleAPIAudit(w http.ResponseWriter, r *http.Request, _ *authed) {
	lq, err := parseListQuery(r, "actor", "action", "object", "since", "until")
	if err != nil {
		s.writeQueryError(w, r, err)
		return
	}
	f := storage.AuditFilter{Actor: lq.q.Get("actor"), ActionPrefix: lq.q.Get("action"), Object: lq.q.Get("object")}
	f.From, err = lq.time("since")
	if err == nil {
		f.To, err = lq.time("until")
	}
	if err != nil {
		s.writeQueryError(w, r, err)
		return
	}
	rows, next, err := s.store.AuditEventsPage(r.Context(), f, lq.page)
	if err != nil {
		s.writeQueryError(w, r, err)
		return
	}
	items := mapList(rows, func(e storage.AuditEvent) auditEventJSON { return auditEventJSON(e) })
	var chain *auditChainJSON
	if lq.page.Before == 0 || !isV1(r) {
		n, verr := s.store.VerifyAudit(r.Context())
		chain = &auditChainJSON{Verified: verr == nil, VerifiedEvents: n}
		if verr != nil {
			chain.VerifyError = verr.Error()
			s.log.ErrorContext(r.Context(), "audit chain does not verify", "err", verr)
		}
	}
	if !isV1(r) {
		// The alias keeps its old shape: the chain's fields and "events".
		if c := encodeCursor(next); c != "" {
			w.Header().Set("Next-Cursor", c)
		}
		writeJSON(w, http.StatusOK, auditJSON{Verified: chain.Verified, VerifiedEvents: chain.VerifiedEvents,
			VerifyError: chain.VerifyError, Events: items})
		return
	}
	writeJSON(w, http.StatusOK, auditListJSON{listJSON: listJSON[auditEventJSON]{Items: items, NextCursor: encodeCursor(next)},
		Chain: chain})
}
