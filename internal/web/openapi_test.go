package web

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/leakwatch/leakwatch/storage"
)

var updateOpenAPI = flag.Bool("update-openapi", false, "rewrite internal/web/openapi.json from the operations and types")

func TestOpenAPIDocumentIsCurrent(t *testing.T) {
	b, err := json.MarshalIndent(openAPIDocument(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	if *updateOpenAPI {
		if err := os.WriteFile("openapi.json", b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(b, openAPIDoc) {
		t.Fatal("openapi.json is stale: run go test ./internal/web -run TestOpenAPIDocumentIsCurrent -update-openapi")
	}
}

func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openAPIDoc)
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3 document: %v", err)
	}
	return doc
}

// Every /api/v1 route is documented, and every documented operation is a
// route.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	f := newFixture(t, func(o *Options) { o.Mailbox = stubMailbox{} })
	routes := []string{"POST /api/v1/login", "GET /api/v1/openapi.json"}
	for _, rt := range f.srv.allRoutes() {
		if strings.HasPrefix(rt.pattern, apiV1+"/") {
			routes = append(routes, rt.method+" "+rt.pattern)
		}
	}
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	for _, r := range routes {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routes, d) {
			t.Errorf("openapi.json documents %s, which is no route", d)
		}
	}
	if len(routes) < 30 {
		t.Fatalf("only %d routes found", len(routes))
	}
}

// apiChecker sends real requests to a real server and validates each
// request and response against the document.
type apiChecker struct {
	t      *testing.T
	f      *fixture
	base   string
	router routers.Router
	hc     *http.Client
	csrf   string
	token  string
	seen   map[string]bool // operations whose success answer was validated
}

func (c *apiChecker) call(method, path string, body any, want int) []byte {
	c.t.Helper()
	var rd io.Reader
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.t.Fatalf("%s %s: not in the document: %v", method, path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}}
	if body != nil {
		// ValidateRequest reads the body; give it its own copy.
		req.Body = io.NopCloser(bytes.NewReader(raw))
	}
	// The requests meant to be refused must be refused by the document too.
	if err := openapi3filter.ValidateRequest(c.t.Context(), in); (err != nil) != (want == http.StatusBadRequest) {
		c.t.Errorf("%s %s: request validation against the document: %v (want an error: %v)", method, path, err,
			want == http.StatusBadRequest)
	}
	if body != nil {
		req.Body = io.NopCloser(bytes.NewReader(raw))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if resp.StatusCode != want {
		c.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, resp.StatusCode, want, out)
	}
	rv := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(out)), Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	if err := openapi3filter.ValidateResponse(c.t.Context(), rv); err != nil {
		c.t.Errorf("%s %s (%d): answer does not match the document: %v\n%s", method, path, resp.StatusCode, err, out)
	}
	if resp.StatusCode < 300 {
		c.seen[route.Method+" "+route.Path] = true
	}
	return out
}

// newAPIChecker serves f's handler on loopback and checks calls to it.
func newAPIChecker(t *testing.T, f *fixture, router routers.Router) *apiChecker {
	t.Helper()
	srv := httptest.NewServer(f.srv.Handler())
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &apiChecker{t: t, f: f, base: srv.URL, router: router, hc: &http.Client{Jar: jar}, seen: map[string]bool{}}
}

// login signs c in as user (with a TOTP code when enrolled) and keeps the
// CSRF token.
func (c *apiChecker) login(user string) {
	c.t.Helper()
	var login loginResponse
	body := map[string]string{"username": user, "password": testPassword, "totp": c.f.loginCode(user)}
	if err := json.Unmarshal(c.call("POST", "/api/v1/login", body, 200), &login); err != nil {
		c.t.Fatal(err)
	}
	c.csrf = login.CSRFToken
}

// The case actions, run against the fake case service, answer as documented.
func TestOpenAPICaseActionsMatchSchemas(t *testing.T) {
	router, err := legacy.NewRouter(loadOpenAPI(t))
	if err != nil {
		t.Fatal(err)
	}
	f, _ := newActionsFixture(t)
	lc := seedLifecycle(t, f, "actions.example")
	c := newAPIChecker(t, f, router)
	c.login("lee")
	base := fmt.Sprintf("/api/v1/cases/%d/", lc.cs.ID)
	c.call("GET", base[:len(base)-1], nil, 200)
	for _, tc := range []struct {
		path string
		body any
	}{
		{"revise", map[string]any{"revision": 1, "pull_pending": true, "subject": "Edited"}},
		{"request-changes", map[string]any{"revision": 1, "comment": "cite the order's date"}},
		{"acknowledge", map[string]any{"note": "host says removed"}},
		{"recipient", map[string]any{"addresses": "abuse@host.example", "type": "hosting"}},
		{"resolve-send", map[string]any{"delivered": true}},
		{"triage", map[string]any{"item_ids": []uint64{lc.pd.ID}, "decision": "dismiss", "reason": "duplicate"}},
		{"recheck", nil},
		{"close", map[string]any{"reason": "duplicate of case 7"}},
	} {
		c.call("POST", base+tc.path, tc.body, 200)
	}
	c.call("POST", base+"triage", map[string]any{"item_ids": []uint64{lc.pd.ID}, "decision": "maybe"}, 400)
	c.call("POST", "/api/v1/cases/9999/close", map[string]any{"reason": "x"}, 404)
	if len(c.seen) < 9 {
		t.Fatalf("only %d operations answered successfully: %v", len(c.seen), c.seen)
	}
}

// Real answers of a real server with data validate against the schemas.
func TestOpenAPIResponsesMatchSchemas(t *testing.T) {
	doc := loadOpenAPI(t)
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, func(o *Options) {
		o.Mailbox = fixedMailbox{}
		o.Sources = &fakeSources{}
	})
	f.addUser("root", storage.RoleAdmin, false)
	f.addUser("ana", storage.RoleAnalyst, false)
	cs := f.seedCase("schema.example")
	f.seedCase("other.example")
	ctx := context.Background()
	if err := f.store.Audit(ctx, "root", "test.seed", "case/1", "x"); err != nil {
		t.Fatal(err)
	}
	c := newAPIChecker(t, f, router)

	// The document itself, without logging in.
	if got := c.call("GET", "/api/v1/openapi.json", nil, 200); !bytes.Equal(got, openAPIDoc) {
		t.Fatal("served document differs from the embedded one")
	}
	c.call("GET", "/api/v1/me", nil, 401)
	c.call("POST", "/api/v1/login", map[string]string{"username": "root", "password": "wrong"}, 401)
	c.login("root")
	id := fmt.Sprint(cs.ID)

	c.call("GET", "/api/v1/me", nil, 200)
	c.call("GET", "/api/v1/cases", nil, 200)
	c.call("GET", "/api/v1/cases?state=drafted&limit=1", nil, 200)
	c.call("GET", "/api/v1/cases?state=bogus", nil, 400)
	c.call("GET", "/api/v1/cases/"+id+"?bodies=1", nil, 200)
	c.call("GET", "/api/v1/cases/999", nil, 404)
	if hits := string(c.call("GET", "/api/v1/hits", nil, 200)); !strings.Contains(hits, `"ref_name":"batch-7/doc-0042.pdf"`) {
		t.Errorf("admin's hits lack ref_name: %s", hits)
	}
	c.call("GET", "/api/v1/hits?state=pending&limit=1", nil, 200)
	c.call("GET", "/api/v1/captures?source=1", nil, 200)
	c.call("GET", "/api/v1/status", nil, 200)
	c.call("GET", "/api/v1/metrics/cases", nil, 200)
	c.call("GET", "/api/v1/audit", nil, 200)
	c.call("GET", "/api/v1/audit?actor=root&since=2020-01-01T00:00:00Z", nil, 200)
	c.call("GET", "/api/v1/mailbox", nil, 200)

	c.call("POST", "/api/v1/sources", map[string]any{"name": "forum-s", "url": "https://s.example/forum/", "every": "6h",
		"selectors": map[string]string{"content": ".post"}, "allow": []string{"/forum/"}, "watch_terms": []string{"Z1234567"}}, 201)
	c.call("POST", "/api/v1/sources", map[string]any{"name": "tg-s", "kind": "telegram", "url": "https://t.me/leaks_z",
		"telegram": map[string]any{"join": true, "backfill_count": 10}}, 201)
	c.call("POST", "/api/v1/sources", map[string]any{"name": "with-login", "url": "https://l.example/",
		"login": map[string]string{"url": "https://l.example/login", "user": "z", "password_env": "LW_TEST_PW"}}, 201)
	c.call("POST", "/api/v1/sources", map[string]any{"name": "x", "url": "https://x.example/", "colour": "red"}, 400)
	var srcs listJSON[sourceJSON]
	if err := json.Unmarshal(c.call("GET", "/api/v1/sources", nil, 200), &srcs); err != nil {
		t.Fatal(err)
	}
	sid := fmt.Sprint(srcs.Items[0].ID)
	c.call("GET", "/api/v1/sources?kind=telegram", nil, 200)
	c.call("GET", "/api/v1/sources/"+sid, nil, 200)
	c.call("PATCH", "/api/v1/sources/"+sid, map[string]any{"every": 3600, "login": nil, "deny": []string{"logout"}}, 200)
	c.call("POST", "/api/v1/sources/"+sid+"/pause", nil, 200)
	c.call("POST", "/api/v1/sources/"+sid+"/resume", nil, 200)
	c.call("POST", "/api/v1/sources/"+sid+"/run", nil, 202)
	c.call("DELETE", "/api/v1/sources/"+sid, nil, 200)
	c.call("GET", "/api/v1/sources/"+sid, nil, 404)

	// Case actions: the fixture's case service approves; the others answer
	// 503 without one (their shapes are the same ok/error answers).
	c.call("POST", "/api/v1/cases/"+id+"/approve", map[string]int{"revision": 2}, 200)
	c.call("POST", "/api/v1/cases/"+id+"/approve", map[string]any{"revision": 2, "force": true}, 400)

	var created createdTokenJSON
	if err := json.Unmarshal(c.call("POST", "/api/v1/tokens", map[string]string{"user": "ana", "name": "schema", "expires": "30d"}, 201), &created); err != nil {
		t.Fatal(err)
	}
	c.call("GET", "/api/v1/tokens", nil, 200)

	// Legal holds: set on the case, listed, lifted once.
	var hold holdJSON
	if err := json.Unmarshal(c.call("POST", "/api/v1/holds", map[string]any{"scope": "case", "object_id": 1, "reason": "claim CIV-1"}, 201), &hold); err != nil {
		t.Fatal(err)
	}
	c.call("POST", "/api/v1/holds", map[string]any{"scope": "case", "object_id": 999, "reason": "x"}, 422)
	c.call("POST", "/api/v1/holds", map[string]any{"scope": "tenant", "object_id": 1, "reason": "x"}, 400)
	if list := string(c.call("GET", "/api/v1/holds", nil, 200)); !strings.Contains(list, `"reason":"claim CIV-1"`) {
		t.Errorf("holds list lacks the hold: %s", list)
	}
	c.call("POST", "/api/v1/holds/"+fmt.Sprint(hold.ID)+"/lift", map[string]string{"reason": "settled"}, 200)
	c.call("POST", "/api/v1/holds/"+fmt.Sprint(hold.ID)+"/lift", map[string]string{"reason": "again"}, 409)
	if list := string(c.call("GET", "/api/v1/holds?all=true", nil, 200)); !strings.Contains(list, `"lift_reason":"settled"`) {
		t.Errorf("holds list (all) lacks the lifted hold: %s", list)
	}

	c.call("GET", "/api/v1/audit?object=case/1", nil, 200)
	c.call("GET", "/api/v1/audit/export?format=json&actor=root", nil, 200)
	if csv := string(c.call("GET", "/api/v1/audit/export?format=csv&object=case/1", nil, 200)); !strings.Contains(csv, "test.seed") {
		t.Errorf("CSV export lacks the seeded event: %s", csv)
	}
	c.call("GET", "/api/v1/audit/export?format=xml", nil, 400)
	c.call("GET", "/api/v1/audit/verify", nil, 200)
	c.call("GET", "/api/v1/account", nil, 200)
	c.call("GET", "/api/v1/account/mfa", nil, 200)
	c.call("GET", "/api/v1/users", nil, 200)
	var made userActionResult
	if err := json.Unmarshal(c.call("POST", "/api/v1/users", map[string]string{"username": "newbie", "role": "analyst",
		"password": testPassword}, 201), &made); err != nil {
		t.Fatal(err)
	}
	c.call("POST", "/api/v1/users", map[string]string{"username": "newbie", "role": "analyst"}, 422)
	newbie := fmt.Sprint(made.User.ID)
	c.call("POST", "/api/v1/users/"+newbie+"/unlock", nil, 200)

	// The newbie sets up two-step login through the API, in a client of
	// their own.
	u := *c
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	u.hc = &http.Client{Jar: jar}
	u.login("newbie")
	var setup mfaSetupJSON
	if err := json.Unmarshal(u.call("GET", "/api/v1/account/mfa", nil, 200), &setup); err != nil {
		t.Fatal(err)
	}
	if png := u.call("GET", "/api/v1/account/mfa/qr.png", nil, 200); !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Errorf("QR code is no PNG: %.20q", png)
	}
	u.call("POST", "/api/v1/account/mfa", map[string]string{"code": "000000x"}, 422)
	var enrolled mfaEnrolledJSON
	if err := json.Unmarshal(u.call("POST", "/api/v1/account/mfa", map[string]string{"code": totpCode(t, setup.Secret, f.clock.now())}, 200),
		&enrolled); err != nil {
		t.Fatal(err)
	}
	u.csrf = enrolled.CSRFToken
	u.call("GET", "/api/v1/account/mfa/qr.png", nil, 404)
	f.clock.advance(30 * time.Second) // the enrolment used this step's code
	u.call("POST", "/api/v1/account/mfa/recovery-codes", map[string]string{"code": totpCode(t, setup.Secret, f.clock.now())}, 200)
	u.call("POST", "/api/v1/account/logout-all", nil, 200)
	u.call("GET", "/api/v1/account", nil, 401)
	c.call("POST", "/api/v1/users/"+newbie+"/role", map[string]string{"role": "legal"}, 200)

	// As the analyst's token: no ref_name, no CSRF token, 403 on admin.
	admin := *c
	c.csrf, c.token, c.hc = "", created.Token, &http.Client{}
	c.call("GET", "/api/v1/me", nil, 200)
	if hits := string(c.call("GET", "/api/v1/hits?limit=5", nil, 200)); strings.Contains(hits, "ref_name") ||
		!strings.Contains(hits, "ref_opaque_id") {
		t.Errorf("analyst's hits show ref_name: %s", hits)
	}
	c.call("GET", "/api/v1/audit", nil, 403)
	c.call("DELETE", "/api/v1/tokens/"+fmt.Sprint(created.ID), nil, 403)
	*c = admin
	c.call("DELETE", "/api/v1/tokens/"+fmt.Sprint(created.ID), nil, 200)
	c.call("POST", "/api/v1/logout", nil, 200)

	// Every operation but the case actions (TestOpenAPICaseActionsMatchSchemas)
	// had its success answer checked.
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			op := method + " " + path
			if strings.HasPrefix(path, "/api/v1/cases/{id}/") && path != "/api/v1/cases/{id}/approve" {
				continue
			}
			if !c.seen[op] {
				t.Errorf("no successful answer of %s was checked", op)
			}
		}
	}
}

// fixedMailbox has one message, so the mailbox answer is not empty.
type fixedMailbox struct{}

func (fixedMailbox) Messages() []MailMessage {
	return []MailMessage{{From: "leakwatch@example.org", To: []string{"abuse@schema.example"}, Subject: "Takedown notice",
		Body: "URL: http://schema.example/dump/part1.zip"}}
}
