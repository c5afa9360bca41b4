package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/internal/auth"
	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/storage"
)

// exercise says how the matrix test calls one route so that an allowed
// caller's request works: the form or JSON body, which role the handler
// itself demands beyond the table's permission, and what "worked" means.
type exercise struct {
	form url.Values // UI POST fields (the CSRF token is added)
	json any        // API body; nil sends none
	// body builds the JSON body per call (unique names), instead of json.
	body func(n int64) any
	// who may call it: the access model, written out here on purpose
	// rather than derived from allowed(), so a change to the table or to
	// allowed() that widens access fails this test. Case actions are
	// permRead in the table and check the role themselves (so a refusal is
	// audited); who covers them too.
	who who
	// want are the statuses that mean the request worked; the default is
	// 200 for GET, 303 (not to /login) for UI forms, 200/201/204 for API.
	want []int
	// location, for a 303, is the prefix its Location must have.
	location string
	// fresh makes a new object per call, for routes that consume it
	// (DELETE): the id put in the path.
	fresh func(m *matrix) uint64
	// endsSession: the route logs out, so the session is gone afterwards.
	endsSession bool
	// query is appended to the path (a parameter the route requires).
	query string
	// action fills the pattern's {action}.
	action string
	// caller is whose session calls the route; the default is the role's
	// standing matrix user.
	caller caller
	// contentType is the media type of a success when it is neither a page
	// (HTML) nor API JSON: images, downloads.
	contentType string
}

// caller picks the user of a role that calls a route.
type caller int

const (
	// standing is the matrix's user of the role (legal and admin enrolled
	// in MFA, the analyst not).
	standing caller = iota
	// enrolling is a new user of the role without MFA who has begun to set
	// it up: the session holds the pending secret ({code} is its code). It
	// is who calls the enrolment routes; legal and admin users in this
	// state may call nothing else.
	enrolling
	// enrolled is a new user of the role with MFA ({code} is its code), for
	// routes that need MFA on or spoil the account (log out everywhere).
	enrolled
)

// who is the set of roles that may call a route.
type who int

const (
	everyone  who = iota // analyst, legal, admin
	legalOnly            // legal and admin
	adminOnly
)

func (w who) allows(r storage.Role) bool {
	switch w {
	case everyone:
		return r.Valid()
	case legalOnly:
		return r == storage.RoleLegal || r == storage.RoleAdmin
	}
	return r == storage.RoleAdmin
}

// matrixExercises has an entry for every route in authedRoutes (their
// /api/v1 twins use their /api entry). A route added to the table without
// one fails TestRoleEndpointMatrix.
func matrixExercises() map[string]exercise {
	legalForm := func(kv ...string) exercise {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return exercise{form: v, who: legalOnly}
	}
	form := func(kv ...string) exercise {
		e := legalForm(kv...)
		e.who = everyone
		return e
	}
	return map[string]exercise{
		"POST /logout":                     {form: url.Values{}, location: "/login", endsSession: true},
		"GET /{$}":                         {},
		"GET /cases":                       {},
		"GET /cases/{id}":                  {},
		"POST /cases/{id}/approve":         legalForm("revision", "1"),
		"POST /cases/{id}/triage":          form("item", "{item}", "decision", "confirm"),
		"POST /cases/{id}/revise":          legalForm("revision", "1", "subject", "Edited subject", "text", "Edited text"),
		"POST /cases/{id}/request-changes": legalForm("revision", "1", "comment", "cite the order's paragraph 3"),
		"POST /cases/{id}/acknowledge":     legalForm("note", "host replied: removed"),
		"POST /cases/{id}/recipient":       legalForm("addresses", "abuse@host.example"),
		"POST /cases/{id}/resolve-send":    legalForm("delivered", "yes"),
		"POST /cases/{id}/close":           legalForm("reason", "duplicate case"),
		"POST /cases/{id}/recheck":         form(),
		"GET /hits":                        {},
		"GET /sources":                     {},
		"POST /sources":                    {form: url.Values{"name": {"{unique}"}, "url": {"https://leaks.example/ui/"}, "every": {"6h"}}, location: "/sources"},
		"GET /audit":                       {who: adminOnly},
		"GET /audit/export":                {who: adminOnly, query: "format=csv", contentType: "text/csv"},
		"GET /mailbox":                     {},
		"GET /account":                     {},
		"GET /account/mfa":                 {},
		"GET /account/mfa/qr.png":          {caller: enrolling, contentType: "image/png"},
		// Enrolment rotates the account's sessions: the old one ends.
		"POST /account/mfa":                {form: url.Values{"code": {"{code}"}}, caller: enrolling, want: []int{http.StatusOK}, endsSession: true},
		"POST /account/mfa/recovery-codes": {form: url.Values{"code": {"{code}"}}, caller: enrolled, want: []int{http.StatusOK}},
		"POST /account/logout-all":         {form: url.Values{}, caller: enrolled, location: "/login", endsSession: true},
		"GET /triage":                      {},
		"POST /triage":                     {form: url.Values{"act": {"confirm"}, "item": {"{item}"}}, location: "/triage?"},
		"GET /captures/{id}/thumb":         {contentType: "image/png"},
		"GET /captures/{id}/reveal":        {},
		"POST /captures/{id}/reveal":       {form: url.Values{}, want: []int{http.StatusOK}},
		"GET /sources/{id}/edit":           {},
		"POST /sources/{id}/edit": {form: url.Values{"url": {"https://leaks.example/edited/"}, "every": {"12h"}, "watch_terms": {"Z9990001"}},
			location: "/sources?done=edited"},
		"POST /sources/{id}/pause":  {form: url.Values{}, location: "/sources?done=paused"},
		"POST /sources/{id}/resume": {form: url.Values{}, location: "/sources?done=resumed"},
		"POST /sources/{id}/run":    {form: url.Values{}, location: "/sources?done=run"},
		"POST /sources/{id}/remove": {form: url.Values{"confirm": {"{source-name}"}}, fresh: (*matrix).newSource, who: adminOnly,
			location: "/sources?done=removed"},
		"GET /admin/users":                {who: adminOnly},
		"POST /admin/users":               {form: url.Values{"username": {"{unique}"}, "role": {"analyst"}}, who: adminOnly, want: []int{http.StatusOK}},
		"GET /admin/users/{id}":           {who: adminOnly},
		"POST /admin/users/{id}/{action}": {form: url.Values{}, action: "disable", who: adminOnly, want: []int{http.StatusOK}},
		"GET /admin/tokens":               {who: adminOnly},
		"POST /admin/tokens": {form: url.Values{"user": {"matrix-analyst"}, "name": {"{unique}"}, "expires": {"30d"}}, who: adminOnly,
			want: []int{http.StatusOK}},
		"POST /admin/tokens/{id}/revoke":       {form: url.Values{}, fresh: (*matrix).newToken, who: adminOnly, want: []int{http.StatusOK}},
		"POST /api/logout":                     {endsSession: true},
		"GET /api/me":                          {},
		"GET /api/cases":                       {},
		"GET /api/cases/{id}":                  {},
		"POST /api/cases/{id}/approve":         {json: map[string]any{"revision": 1}, who: legalOnly},
		"POST /api/cases/{id}/triage":          {json: map[string]any{"item_ids": []string{"{item}"}, "decision": "confirm"}},
		"POST /api/cases/{id}/revise":          {json: map[string]any{"revision": 1, "subject": "Edited", "text": "Edited text"}, who: legalOnly},
		"POST /api/cases/{id}/request-changes": {json: map[string]any{"revision": 1, "comment": "more detail"}, who: legalOnly},
		"POST /api/cases/{id}/acknowledge":     {json: map[string]any{"note": "host replied"}, who: legalOnly},
		"POST /api/cases/{id}/recipient":       {json: map[string]any{"addresses": "abuse@host.example"}, who: legalOnly},
		"POST /api/cases/{id}/resolve-send":    {json: map[string]any{"delivered": true}, who: legalOnly},
		"POST /api/cases/{id}/close":           {json: map[string]any{"reason": "duplicate"}, who: legalOnly},
		"POST /api/cases/{id}/recheck":         {json: map[string]any{}},
		"GET /api/hits":                        {},
		"GET /api/captures":                    {},
		"GET /api/sources":                     {},
		"POST /api/sources": {body: func(n int64) any {
			return map[string]any{"name": fmt.Sprintf("matrix-%d", n), "kind": "forum", "url": "https://leaks.example/api/", "every": "6h"}
		}},
		"GET /api/sources/{id}":                {},
		"PATCH /api/sources/{id}":              {json: map[string]any{"every": "12h"}},
		"POST /api/sources/{id}/pause":         {},
		"POST /api/sources/{id}/resume":        {},
		"DELETE /api/sources/{id}":             {fresh: (*matrix).newSource, who: adminOnly},
		"GET /api/status":                      {},
		"GET /api/metrics/cases":               {},
		"POST /api/sources/{id}/run":           {want: []int{http.StatusAccepted}},
		"GET /api/audit":                       {who: adminOnly},
		"GET /api/audit/export":                {who: adminOnly, query: "format=json"},
		"GET /api/audit/verify":                {who: adminOnly},
		"GET /api/mailbox":                     {},
		"GET /api/account":                     {},
		"GET /api/account/mfa":                 {},
		"GET /api/account/mfa/qr.png":          {caller: enrolling, contentType: "image/png"},
		"POST /api/account/mfa":                {json: map[string]any{"code": "{code}"}, caller: enrolling, endsSession: true},
		"POST /api/account/mfa/recovery-codes": {json: map[string]any{"code": "{code}"}, caller: enrolled},
		"POST /api/account/logout-all":         {caller: enrolled, endsSession: true},
		"GET /api/users":                       {who: adminOnly},
		"POST /api/users": {body: func(n int64) any {
			return map[string]any{"username": fmt.Sprintf("matrix-api-%d", n), "role": "analyst"}
		}, who: adminOnly},
		"POST /api/users/{id}/{action}": {json: map[string]any{"role": "legal"}, action: "role", who: adminOnly},
		"GET /api/tokens":               {who: adminOnly},
		"POST /api/tokens": {body: func(n int64) any {
			return map[string]any{"user": "matrix-analyst", "name": fmt.Sprintf("matrix-token-%d", n), "expires": "30d"}
		}, who: adminOnly},
		"DELETE /api/tokens/{id}":   {fresh: (*matrix).newToken, who: adminOnly},
		"POST /cases/{id}/hold":     {form: url.Values{"reason": {"matrix matter"}}, who: legalOnly, location: "/cases/"},
		"POST /holds/{id}/lift":     {form: url.Values{"reason": {"matrix done"}}, fresh: (*matrix).newHold, who: legalOnly, location: "/sources"},
		"GET /api/holds":            {who: legalOnly},
		"POST /api/holds":           {json: map[string]any{"scope": "source", "object_id": "{source}", "reason": "matrix matter"}, who: legalOnly},
		"POST /api/holds/{id}/lift": {json: map[string]any{"reason": "matrix done"}, fresh: (*matrix).newHold, who: legalOnly},
	}
}

// matrix is the fixture of the matrix test: a case with items and a draft,
// a source, one user per role, and sessions made straight in the store
// (logging in through argon2id for each of the hundreds of requests would
// only test login, which web_test.go does).
type matrix struct {
	t      *testing.T
	f      *fixture
	fa     *fakeActions
	fs     *fakeSources
	lc     lifecycleCase
	source uint64
	// image is a capture whose evidence is a PNG, for the thumbnail.
	image uint64
	users map[storage.Role]storage.User
	seq   atomic.Int64
	// freshName is the name of the source newSource made last.
	freshName string
}

func newMatrix(t *testing.T) *matrix { return newMatrixWith(t, nil) }

// newMatrixWith is newMatrix with mod applied to the server's options.
func newMatrixWith(t *testing.T, mod func(*Options)) *matrix {
	fa := &fakeActions{fakeCases: &fakeCases{}}
	fs := &fakeSources{}
	evidenceDir := t.TempDir()
	f := newFixture(t, func(o *Options) {
		o.Cases = fa
		o.Sources = fs
		o.EvidenceDir = evidenceDir
		o.Mailbox = staticMailbox{{From: "leakwatch@claimant.example", To: []string{"abuse@host.example"}, Subject: "Notice", Body: "text"}}
		if mod != nil {
			mod(o)
		}
	})
	m := &matrix{t: t, f: f, fa: fa, fs: fs, users: map[storage.Role]storage.User{}}
	for _, role := range storage.Roles() {
		u, _ := f.addUser("matrix-"+string(role), role, false)
		m.users[role] = u
	}
	m.lc = seedLifecycle(t, f, "leaks.example")
	m.source = m.newSource()
	m.image = m.newImageCapture(evidenceDir)
	return m
}

// newImageCapture records a PNG fetched from the matrix source as WARC
// evidence in dir, so its thumbnail decodes.
func (m *matrix) newImageCapture(dir string) uint64 {
	m.t.Helper()
	ctx := context.Background()
	run, err := m.f.store.StartRun(ctx, m.source)
	if err != nil {
		m.t.Fatal(err)
	}
	w, err := evidence.NewWriter(dir, evidence.WriterOptions{RunID: "matrix-run"})
	if err != nil {
		m.t.Fatal(err)
	}
	rec, err := w.WriteExchange(ctx, evidence.Exchange{TargetURI: "https://leaks.example/board/photo.png", StatusCode: 200,
		ResponseHeader: http.Header{"Content-Type": {"image/png"}}, Payload: bytes.NewReader(pngBytes(m.t, 32, 24))})
	if err != nil {
		m.t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		m.t.Fatal(err)
	}
	ev, err := json.Marshal(rec)
	if err != nil {
		m.t.Fatal(err)
	}
	c := storage.Capture{RunID: run.ID, SourceID: m.source, Kind: storage.CaptureFile, URL: "https://leaks.example/board/photo.png",
		Host: "leaks.example", FetchedAt: m.f.clock.now(), Status: 200, SniffedType: "image/png", Evidence: string(ev)}
	if _, err := m.f.store.SaveCapture(ctx, &c); err != nil {
		m.t.Fatal(err)
	}
	return c.ID
}

// newToken issues an API token acting as the matrix analyst, for routes
// that revoke one.
func (m *matrix) newToken() uint64 {
	m.t.Helper()
	_, info, err := IssueAPIToken(context.Background(), m.f.store, "matrix", m.users[storage.RoleAnalyst].Username,
		fmt.Sprintf("matrix-token-%d", m.seq.Add(1)), 0, m.f.clock.now())
	if err != nil {
		m.t.Fatal(err)
	}
	return info.ID
}

// newHold sets a legal hold on the matrix's source, for routes that lift
// one.
func (m *matrix) newHold() uint64 {
	m.t.Helper()
	h := storage.LegalHold{Scope: storage.HoldSource, ObjectID: m.source, Reason: "matrix matter", SetBy: "matrix"}
	if err := m.f.store.AddHold(context.Background(), &h); err != nil {
		m.t.Fatal(err)
	}
	return h.ID
}

func (m *matrix) newSource() uint64 {
	m.t.Helper()
	src := storage.Source{Name: fmt.Sprintf("matrix-src-%d", m.seq.Add(1)), Kind: storage.SourceForum,
		URL: "https://leaks.example/board/", Enabled: true}
	if err := m.f.store.CreateSource(context.Background(), &src); err != nil {
		m.t.Fatal(err)
	}
	m.freshName = src.Name
	return src.ID
}

// session is a signed-in user's cookie and CSRF token, and the TOTP
// secret whose code fills {code} ("" none).
type session struct {
	cookie *http.Cookie
	csrf   string
	secret string
}

// session signs in the role's standing user.
func (m *matrix) session(role storage.Role) session { return m.sessionAs(role, standing) }

// sessionAs signs in the user of role that c names, making it first if
// it is a new one.
func (m *matrix) sessionAs(role storage.Role, c caller) session {
	m.t.Helper()
	ctx := context.Background()
	u := m.users[role]
	secret := m.f.secrets[u.Username]
	if c != standing {
		u = storage.User{Username: fmt.Sprintf("matrix-%s-%d", role, m.seq.Add(1)), Role: role, PasswordHash: u.PasswordHash}
		secret = ""
		if c == enrolled {
			var err error
			if secret, _, err = auth.NewTOTP("leakwatch", u.Username); err != nil {
				m.t.Fatal(err)
			}
			u.TOTPSecret = secret
		}
		if err := m.f.store.CreateUser(ctx, &u); err != nil {
			m.t.Fatal(err)
		}
	}
	tok, hash, err := auth.NewToken()
	if err != nil {
		m.t.Fatal(err)
	}
	csrf, _, err := auth.NewToken()
	if err != nil {
		m.t.Fatal(err)
	}
	now := m.f.clock.now()
	sess := storage.Session{TokenHash: hash, UserID: u.ID, CSRFToken: csrf, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := m.f.store.CreateSession(ctx, &sess); err != nil {
		m.t.Fatal(err)
	}
	if c == enrolling {
		if secret, _, err = auth.NewTOTP("leakwatch", u.Username); err != nil {
			m.t.Fatal(err)
		}
		if err := m.f.store.SetPendingTOTP(ctx, sess.ID, secret); err != nil {
			m.t.Fatal(err)
		}
	}
	return session{cookie: &http.Cookie{Name: m.f.srv.sessionCookie, Value: tok}, csrf: csrf, secret: secret}
}

// code is secret's TOTP code now ("" without a secret).
func (m *matrix) code(secret string) string {
	m.t.Helper()
	if secret == "" {
		return ""
	}
	return totpCode(m.t, secret, m.f.clock.now())
}

// path fills the route pattern's {id} with an existing id chosen by the
// path segment before it (cases, sources, items, notices, users…), or
// ex.fresh's, and {action} with ex.action, and appends ex.query; ok is
// false for a wildcard the test does not know.
func (m *matrix) path(rt route, ex exercise) (string, bool) {
	p := strings.TrimSuffix(rt.pattern, "{$}")
	if ex.action != "" {
		p = strings.Replace(p, "{action}", ex.action, 1)
	}
	if before, _, ok := strings.Cut(p, "/{id}"); ok {
		var id uint64
		if ex.fresh != nil {
			id = ex.fresh(m)
		} else if id, ok = m.idFor(before[strings.LastIndex(before, "/")+1:]); !ok {
			return "", false
		}
		p = strings.Replace(p, "{id}", strconv.FormatUint(id, 10), 1)
	}
	if strings.Contains(p, "{") {
		return "", false
	}
	if ex.query != "" {
		p += "?" + ex.query
	}
	return p, true
}

// idFor is an existing object of a kind named by a path segment. Users
// are made afresh, so an action on one (disable, reset) spoils no other
// call's session.
func (m *matrix) idFor(kind string) (uint64, bool) {
	switch kind {
	case "cases":
		return m.lc.cs.ID, true
	case "sources":
		return m.source, true
	case "items":
		return m.lc.multi.ID, true
	case "notices":
		return m.lc.draft.ID, true
	case "users":
		return m.newUser(), true
	case "captures":
		return m.image, true
	}
	return 0, false
}

// newUser makes an analyst for routes that act on a user.
func (m *matrix) newUser() uint64 {
	m.t.Helper()
	u := storage.User{Username: fmt.Sprintf("matrix-user-%d", m.seq.Add(1)), Role: storage.RoleAnalyst,
		PasswordHash: m.users[storage.RoleAnalyst].PasswordHash}
	if err := m.f.store.CreateUser(context.Background(), &u); err != nil {
		m.t.Fatal(err)
	}
	return u.ID
}

// fill replaces the placeholders of a body: {item} an item of the case,
// {unique} a name no other call uses, {source-name} the name of the
// source newSource made last, {code} the TOTP code of the session's secret.
func (m *matrix) fill(s string, sess *session) string {
	s = strings.ReplaceAll(s, "{item}", strconv.FormatUint(m.lc.multi.ID, 10))
	s = strings.ReplaceAll(s, "{source-name}", m.freshName)
	if strings.Contains(s, "{code}") {
		secret := ""
		if sess != nil {
			secret = sess.secret
		}
		s = strings.ReplaceAll(s, "{code}", m.code(secret))
	}
	return strings.ReplaceAll(s, "{unique}", fmt.Sprintf("matrix-ui-%d", m.seq.Add(1)))
}

// mustPath is path, failing the test for an unknown wildcard. Call it
// before counting side effects: a fresh object is made here.
func (m *matrix) mustPath(rt route, ex exercise) string {
	m.t.Helper()
	p, ok := m.path(rt, ex)
	if !ok {
		m.t.Fatalf("%s %s: no id for the path", rt.method, rt.pattern)
	}
	return p
}

// call sends the route's request to path as sess (nil: signed out). csrf
// is the token to send ("" none); hdr adds headers.
func (m *matrix) call(rt route, ex exercise, path string, sess *session, csrf string, hdr map[string]string) *httptest.ResponseRecorder {
	m.t.Helper()
	var body io.Reader
	req := httptest.NewRequest(rt.method, "http://leakwatch.test"+path, nil)
	switch {
	case rt.surf == surfaceUI && !isSafeMethod(rt.method):
		v := url.Values{}
		for k, vs := range ex.form {
			for _, x := range vs {
				v.Add(k, m.fill(x, sess))
			}
		}
		if csrf != "" {
			v.Set("csrf_token", csrf)
		}
		body = strings.NewReader(v.Encode())
		req = httptest.NewRequest(rt.method, "http://leakwatch.test"+path, body)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	case rt.surf == surfaceAPI && (ex.json != nil || ex.body != nil):
		v := ex.json
		if ex.body != nil {
			v = ex.body(m.seq.Add(1))
		}
		b, err := json.Marshal(v)
		if err != nil {
			m.t.Fatal(err)
		}
		// The item placeholder is a JSON string where a number belongs.
		js := strings.ReplaceAll(string(b), `"{item}"`, strconv.FormatUint(m.lc.multi.ID, 10))
		js = m.fill(strings.ReplaceAll(js, `"{source}"`, strconv.FormatUint(m.source, 10)), sess)
		req = httptest.NewRequest(rt.method, "http://leakwatch.test"+path, strings.NewReader(js))
		req.Header.Set("Content-Type", "application/json")
	}
	if rt.surf == surfaceAPI && csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	req.RemoteAddr = "192.0.2.10:40000"
	if sess != nil {
		req.AddCookie(sess.cookie)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	m.f.srv.Handler().ServeHTTP(rec, req)
	return rec
}

// sideEffects counts what a refused request must not change.
func (m *matrix) sideEffects() string {
	m.t.Helper()
	db := m.f.store.DB()
	count := func(model any, where ...any) int64 {
		var n int64
		q := db.Model(model)
		if len(where) > 0 {
			q = q.Where(where[0], where[1:]...)
		}
		if err := q.Count(&n).Error; err != nil {
			m.t.Fatal(err)
		}
		return n
	}
	m.fs.mu.Lock()
	runs, syncs := len(m.fs.runs), m.fs.syncs
	m.fs.mu.Unlock()
	return fmt.Sprintf("audit=%d actions=%d approvals=%d sources=%d enabled=%d runs=%d syncs=%d users=%d disabled=%d "+
		"roles=%d mfa=%d tokens=%d revoked=%d", len(m.f.auditActions()), len(m.fa.recordedCalls()), len(m.fa.recorded()),
		count(&storage.Source{}), count(&storage.Source{}, "enabled = ?", true), runs, syncs, count(&storage.User{}),
		count(&storage.User{}, "disabled = ?", true), count(&storage.User{}, "role <> ?", storage.RoleAnalyst),
		count(&storage.User{}, "totp_secret <> ''"), count(&storage.APIToken{}), count(&storage.APIToken{}, "revoked_at IS NOT NULL"))
}

// TestRoleEndpointMatrix walks the route table: every route × {signed out,
// analyst, legal, admin}. Signed out: the UI redirects to /login and the
// API answers 401. A role the route's permission (allowed) or its handler
// refuses: 403. Otherwise the request works. Every unsafe route also
// refuses a missing or wrong CSRF token and a cross-site request, with no
// effect.
func TestRoleEndpointMatrix(t *testing.T) {
	m := newMatrix(t)
	exercises := matrixExercises()
	routes := m.f.srv.allRoutes()
	seen := map[string]bool{}
	for _, rt := range routes {
		// A /api/v1 twin is called like its /api route.
		key := rt.method + " " + strings.Replace(rt.pattern, apiV1+"/", "/api/", 1)
		seen[key] = true
		ex, ok := exercises[key]
		if !ok {
			t.Errorf("route %s has no entry in matrixExercises (internal/web/matrix_test.go): add how to call it so the role matrix covers it", key)
			continue
		}
		if _, ok := m.path(rt, exercise{action: ex.action}); !ok && ex.fresh == nil {
			t.Errorf("route %s: matrix.path does not know its wildcard; teach it which existing id to use", key)
			continue
		}
		t.Run(rt.method+" "+rt.pattern, func(t *testing.T) {
			defer func(parent *testing.T) { m.t = parent }(m.t)
			m.t = t
			m.signedOut(rt, ex)
			for _, role := range storage.Roles() {
				m.asRole(rt, ex, role)
			}
			if !isSafeMethod(rt.method) {
				m.csrfRefused(rt, ex)
			}
		})
	}
	for key := range exercises {
		if !seen[key] {
			t.Errorf("matrixExercises has %s, which is not in the route table: remove it", key)
		}
	}
}

func (m *matrix) signedOut(rt route, ex exercise) {
	t := m.t
	path := m.mustPath(rt, ex)
	before := m.sideEffects()
	rec := m.call(rt, ex, path, nil, "", nil)
	if rt.surf == surfaceAPI {
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("signed out: status %d, want 401; body %s", rec.Code, rec.Body)
		}
	} else if loc := rec.Header().Get("Location"); rec.Code != http.StatusSeeOther || !strings.HasPrefix(loc, "/login") {
		t.Errorf("signed out: status %d to %q, want 303 to /login", rec.Code, loc)
	}
	if after := m.sideEffects(); after != before {
		t.Errorf("signed-out request changed things: %s -> %s", before, after)
	}
}

func (m *matrix) asRole(rt route, ex exercise, role storage.Role) {
	t := m.t
	sess := m.sessionAs(role, ex.caller)
	path := m.mustPath(rt, ex)
	before := m.sideEffects()
	rec := m.call(rt, ex, path, &sess, sess.csrf, nil)
	if ex.who.allows(role) && !allowed(role, rt.perm) {
		t.Errorf("%s: matrixExercises lets %s call it, but the route table's permission does not", rt.pattern, role)
	}
	if !ex.who.allows(role) {
		if rec.Code != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403; body %.300s", role, rec.Code, rec.Body)
		}
		// Refusals change nothing but the audit log (a handler's own
		// role check audits the denial).
		if after := m.sideEffects(); !sameButAudit(before, after) {
			t.Errorf("%s: refused request changed things: %s -> %s", role, before, after)
		}
		return
	}
	want := ex.want
	if want == nil {
		switch {
		case rt.method == http.MethodGet:
			want = []int{http.StatusOK}
		case rt.surf == surfaceUI:
			want = []int{http.StatusSeeOther}
		default:
			want = []int{http.StatusOK, http.StatusCreated, http.StatusNoContent}
		}
	}
	if !slices.Contains(want, rec.Code) {
		t.Errorf("%s: status %d, want one of %v; body %.500s", role, rec.Code, want, rec.Body)
		return
	}
	if rec.Code == http.StatusSeeOther {
		loc := rec.Header().Get("Location")
		if ex.location != "" && !strings.HasPrefix(loc, ex.location) {
			t.Errorf("%s: redirected to %q, want %s…", role, loc, ex.location)
		}
		if ex.location == "" && strings.HasPrefix(loc, "/login") {
			t.Errorf("%s: redirected to %q: the session was not accepted", role, loc)
		}
	}
	ct := rec.Header().Get("Content-Type")
	switch {
	case ex.contentType != "":
		if !strings.HasPrefix(ct, ex.contentType) {
			t.Errorf("%s: answered %q, not %s", role, ct, ex.contentType)
		}
	case rt.surf == surfaceAPI && rec.Code != http.StatusNoContent && !strings.HasPrefix(ct, "application/json"):
		t.Errorf("%s: API answered %q, not JSON", role, ct)
	case rt.surf == surfaceUI && rec.Code == http.StatusOK && !strings.HasPrefix(ct, "text/html"):
		t.Errorf("%s: page answered %q, not HTML", role, ct)
	}
	me := m.me(&sess)
	if ex.endsSession != (me.Code == http.StatusUnauthorized) {
		t.Errorf("%s: afterwards /api/me answers %d (route ends the session: %v)", role, me.Code, ex.endsSession)
	}
}

// sameButAudit compares sideEffects strings ignoring the audit count.
func sameButAudit(a, b string) bool {
	cut := func(s string) string { _, rest, _ := strings.Cut(s, " "); return rest }
	return cut(a) == cut(b)
}

// csrfRefused sends an admin's request without the token, with a wrong
// one, and with the right one from another site: each is 403 and changes
// nothing, and the session survives.
func (m *matrix) csrfRefused(rt route, ex exercise) {
	t := m.t
	sess := m.session(storage.RoleAdmin)
	wrong, _, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		csrf string
		hdr  map[string]string
	}{
		{"no CSRF token", "", nil},
		{"wrong CSRF token", wrong, nil},
		{"cross-site", sess.csrf, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"foreign origin", sess.csrf, map[string]string{"Origin": "https://evil.example"}},
	} {
		path := m.mustPath(rt, ex)
		before := m.sideEffects()
		rec := m.call(rt, ex, path, &sess, tc.csrf, tc.hdr)
		if rec.Code != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403; body %.300s", tc.name, rec.Code, rec.Body)
		}
		if after := m.sideEffects(); after != before {
			t.Errorf("%s: refused request changed things: %s -> %s", tc.name, before, after)
		}
	}
	if me := m.me(&sess); me.Code != http.StatusOK {
		t.Errorf("after refused requests the session is gone: /api/me %d", me.Code)
	}
}

// me asks /api/me as sess: 200 while the session lives.
func (m *matrix) me(sess *session) *httptest.ResponseRecorder {
	return m.call(route{method: "GET", pattern: "/api/me", surf: surfaceAPI}, exercise{}, "/api/me", sess, "", nil)
}

// The login endpoints, outside the route table, refuse cross-site posts
// (login CSRF: signing a victim's browser into the attacker's account)
// even with the right password, and the form refuses a post without its
// token; none of them opens a session.
func TestLoginRefusesCrossSite(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("alice", storage.RoleAnalyst, false)
	c := f.client("192.0.2.41")
	form := url.Values{"username": {"alice"}, "password": {testPassword}}.Encode()
	jsonBody := `{"username":"alice","password":"` + testPassword + `"}`
	for _, tc := range []struct {
		name, path, ct, body string
		hdr                  map[string]string
	}{
		{"form, cross-site", "/login", "application/x-www-form-urlencoded", form, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"form, foreign origin", "/login", "application/x-www-form-urlencoded", form, map[string]string{"Origin": "https://evil.example"}},
		{"form, no token", "/login", "application/x-www-form-urlencoded", form, nil},
		{"API, cross-site", "/api/login", "application/json", jsonBody, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"API, foreign origin", "/api/login", "application/json", jsonBody, map[string]string{"Origin": "https://evil.example"}},
	} {
		hdr := map[string]string{"Content-Type": tc.ct}
		maps.Copy(hdr, tc.hdr)
		rec := c.do(http.MethodPost, tc.path, strings.NewReader(tc.body), hdr)
		if rec.Code != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", tc.name, rec.Code)
		}
		if _, ok := c.cookies[f.srv.sessionCookie]; ok {
			t.Fatalf("%s: a session cookie was set", tc.name)
		}
	}
	var n int64
	if err := f.store.DB().Model(&storage.Session{}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d sessions opened by refused logins", n)
	}
}
