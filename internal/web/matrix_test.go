package web

import (
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
}

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

// matrixExercises has an entry for every route in authedRoutes. A route
// added to the table without one fails TestRoleEndpointMatrix.
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
		"POST /logout":                         {form: url.Values{}, location: "/login", endsSession: true},
		"GET /{$}":                             {},
		"GET /cases":                           {},
		"GET /cases/{id}":                      {},
		"POST /cases/{id}/approve":             legalForm("revision", "1"),
		"POST /cases/{id}/triage":              form("item", "{item}", "decision", "confirm"),
		"POST /cases/{id}/revise":              legalForm("revision", "1", "subject", "Edited subject", "text", "Edited text"),
		"POST /cases/{id}/request-changes":     legalForm("revision", "1", "comment", "cite the order's paragraph 3"),
		"POST /cases/{id}/acknowledge":         legalForm("note", "host replied: removed"),
		"POST /cases/{id}/recipient":           legalForm("addresses", "abuse@host.example"),
		"POST /cases/{id}/resolve-send":        legalForm("delivered", "yes"),
		"POST /cases/{id}/close":               legalForm("reason", "duplicate case"),
		"POST /cases/{id}/recheck":             form(),
		"GET /hits":                            {},
		"GET /sources":                         {},
		"POST /sources":                        {form: url.Values{"name": {"{unique}"}, "url": {"https://leaks.example/ui/"}, "every": {"6h"}}, location: "/sources"},
		"GET /audit":                           {who: adminOnly},
		"GET /mailbox":                         {},
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
		"GET /api/sources/{id}":         {},
		"PATCH /api/sources/{id}":       {json: map[string]any{"every": "12h"}},
		"POST /api/sources/{id}/pause":  {},
		"POST /api/sources/{id}/resume": {},
		"DELETE /api/sources/{id}":      {fresh: (*matrix).newSource, who: adminOnly},
		"GET /api/status":               {},
		"GET /api/metrics/cases":        {},
		"GET /api/audit":                {who: adminOnly},
		"GET /api/mailbox":              {},
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
	lc     lifecycleCase
	source uint64
	users  map[storage.Role]storage.User
	seq    atomic.Int64
}

func newMatrix(t *testing.T) *matrix { return newMatrixWith(t, nil) }

// newMatrixWith is newMatrix with mod applied to the server's options.
func newMatrixWith(t *testing.T, mod func(*Options)) *matrix {
	fa := &fakeActions{fakeCases: &fakeCases{}}
	f := newFixture(t, func(o *Options) {
		o.Cases = fa
		o.Mailbox = staticMailbox{{From: "leakwatch@claimant.example", To: []string{"abuse@host.example"}, Subject: "Notice", Body: "text"}}
		if mod != nil {
			mod(o)
		}
	})
	m := &matrix{t: t, f: f, fa: fa, users: map[storage.Role]storage.User{}}
	for _, role := range storage.Roles() {
		u, _ := f.addUser("matrix-"+string(role), role, false)
		m.users[role] = u
	}
	m.lc = seedLifecycle(t, f, "leaks.example")
	m.source = m.newSource()
	return m
}

func (m *matrix) newSource() uint64 {
	m.t.Helper()
	src := storage.Source{Name: fmt.Sprintf("matrix-src-%d", m.seq.Add(1)), Kind: storage.SourceForum,
		URL: "https://leaks.example/board/", Enabled: true}
	if err := m.f.store.CreateSource(context.Background(), &src); err != nil {
		m.t.Fatal(err)
	}
	return src.ID
}

// session is a signed-in user's cookie and CSRF token.
type session struct {
	cookie *http.Cookie
	csrf   string
}

func (m *matrix) session(role storage.Role) session {
	m.t.Helper()
	tok, hash, err := auth.NewToken()
	if err != nil {
		m.t.Fatal(err)
	}
	csrf, _, err := auth.NewToken()
	if err != nil {
		m.t.Fatal(err)
	}
	now := m.f.clock.now()
	sess := storage.Session{TokenHash: hash, UserID: m.users[role].ID, CSRFToken: csrf, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := m.f.store.CreateSession(context.Background(), &sess); err != nil {
		m.t.Fatal(err)
	}
	return session{cookie: &http.Cookie{Name: m.f.srv.sessionCookie, Value: tok}, csrf: csrf}
}

// path fills the route pattern's {id} with an existing id chosen by the
// path segment before it (cases, sources, items, notices, users…), or
// ex.fresh's; ok is false for a wildcard the test does not know.
func (m *matrix) path(rt route, ex exercise) (string, bool) {
	p := strings.TrimSuffix(rt.pattern, "{$}")
	if !strings.Contains(p, "{") {
		return p, true
	}
	before, _, ok := strings.Cut(p, "/{id}")
	if !ok {
		return "", false
	}
	var id uint64
	if ex.fresh != nil {
		id = ex.fresh(m)
	} else if id, ok = m.idFor(before[strings.LastIndex(before, "/")+1:]); !ok {
		return "", false
	}
	p = strings.Replace(p, "{id}", strconv.FormatUint(id, 10), 1)
	return p, !strings.Contains(p, "{")
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
		caps, err := m.f.store.ListCaptures(context.Background(), 1)
		if err != nil || len(caps) == 0 {
			m.t.Fatalf("no capture for the path: %v", err)
		}
		return caps[0].ID, true
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
// {unique} a name no other call uses.
func (m *matrix) fill(s string) string {
	s = strings.ReplaceAll(s, "{item}", strconv.FormatUint(m.lc.multi.ID, 10))
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
				v.Add(k, m.fill(x))
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
	var sources int64
	if err := m.f.store.DB().Model(&storage.Source{}).Count(&sources).Error; err != nil {
		m.t.Fatal(err)
	}
	return fmt.Sprintf("audit=%d actions=%d approvals=%d sources=%d", len(m.f.auditActions()),
		len(m.fa.recordedCalls()), len(m.fa.recorded()), sources)
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
	routes := m.f.srv.authedRoutes()
	seen := map[string]bool{}
	for _, rt := range routes {
		key := rt.method + " " + rt.pattern
		seen[key] = true
		ex, ok := exercises[key]
		if !ok {
			t.Errorf("route %s has no entry in matrixExercises (internal/web/matrix_test.go): add how to call it so the role matrix covers it", key)
			continue
		}
		if _, ok := m.path(rt, exercise{}); !ok && ex.fresh == nil {
			t.Errorf("route %s: matrix.path does not know its wildcard; teach it which existing id to use", key)
			continue
		}
		t.Run(key, func(t *testing.T) {
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
	sess := m.session(role)
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
	if ct := rec.Header().Get("Content-Type"); rt.surf == surfaceAPI && rec.Code != http.StatusNoContent && !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: API answered %q, not JSON", role, ct)
	}
	if rt.surf == surfaceUI && rec.Code == http.StatusOK && !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Errorf("%s: page answered %q, not HTML", role, rec.Header().Get("Content-Type"))
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
