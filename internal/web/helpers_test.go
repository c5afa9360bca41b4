package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/leakwatch/leakwatch/internal/auth"
	"github.com/leakwatch/leakwatch/storage"
)

const testPassword = "correct horse battery staple"

// fakeCases records approvals instead of updating a Temporal workflow.
type fakeCases struct {
	mu    sync.Mutex
	calls []approveCall
	err   error
}

type approveCall struct {
	caseID   uint64
	revision int
	user     string
}

func (f *fakeCases) Approve(_ context.Context, caseID uint64, revision int, user storage.User) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, approveCall{caseID, revision, user.Username})
	return f.err
}

func (f *fakeCases) recorded() []approveCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]approveCall(nil), f.calls...)
}

// clock is a settable time source for the server.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	t     *testing.T
	store *storage.Store
	srv   *Server
	cases *fakeCases
	clock *clock
	// secrets are the TOTP secrets of enrolled users, by name.
	secrets map[string]string
	opts    Options
}

// restart replaces the server with a new one on the same database, as a
// restart or a second web process would.
func (f *fixture) restart() {
	f.t.Helper()
	srv, err := New(f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	f.srv = srv
}

func newFixture(t *testing.T, mod func(*Options)) *fixture {
	t.Helper()
	ctx := context.Background()
	store, err := storage.Open(ctx, "", t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f := &fixture{t: t, store: store, cases: &fakeCases{}, clock: &clock{t: time.Now().UTC()}, secrets: map[string]string{}}
	opts := Options{
		Store:            store,
		BaseURL:          "http://leakwatch.test",
		SessionTTL:       time.Hour,
		MaxLoginFailures: 3,
		LockoutDuration:  10 * time.Minute,
		Cases:            f.cases,
		Now:              f.clock.now,
	}
	if mod != nil {
		mod(&opts)
	}
	f.opts = opts
	f.srv, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// addUser creates a user with testPassword; with totp, and always for legal
// and admin users (for whom MFA is mandatory), it enrols a secret and returns
// it.
func (f *fixture) addUser(name string, role storage.Role, totp bool) (storage.User, string) {
	f.t.Helper()
	return f.createUser(name, role, totp || role == storage.RoleLegal || role == storage.RoleAdmin)
}

// addUserNoMFA creates a user with testPassword and no MFA, whatever the role.
func (f *fixture) addUserNoMFA(name string, role storage.Role) storage.User {
	f.t.Helper()
	u, _ := f.createUser(name, role, false)
	return u
}

func (f *fixture) createUser(name string, role storage.Role, totp bool) (storage.User, string) {
	f.t.Helper()
	h, err := auth.HashPassword(testPassword)
	if err != nil {
		f.t.Fatal(err)
	}
	u := storage.User{Username: name, PasswordHash: h, Role: role}
	secret := ""
	if totp {
		if secret, _, err = auth.NewTOTP("leakwatch", name); err != nil {
			f.t.Fatal(err)
		}
		u.TOTPSecret = secret
	}
	if err := f.store.CreateUser(context.Background(), &u); err != nil {
		f.t.Fatal(err)
	}
	if secret != "" {
		f.secrets[name] = secret
	}
	return u, secret
}

// loginCode is a TOTP code that logs user in now ("" without MFA). Tests
// log the same user in many times within one 30 s step, so it forgets the
// replay guard's last step first; replay tests use apiLogin directly.
func (f *fixture) loginCode(user string) string {
	f.t.Helper()
	secret := f.secrets[user]
	if secret == "" {
		return ""
	}
	if err := f.store.DB().Model(&storage.User{}).Where("username = ?", user).
		UpdateColumn("totp_last_step", 0).Error; err != nil {
		f.t.Fatal(err)
	}
	code, err := totp.GenerateCodeCustom(secret, f.clock.now(),
		totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		f.t.Fatal(err)
	}
	return code
}

func (f *fixture) auditActions() []storage.AuditEvent {
	f.t.Helper()
	evs, err := f.store.AuditEvents(context.Background(), 1000)
	if err != nil {
		f.t.Fatal(err)
	}
	return evs
}

// findAudit returns the newest event with action, failing if there is none.
func (f *fixture) findAudit(action string) storage.AuditEvent {
	f.t.Helper()
	for _, e := range f.auditActions() {
		if e.Action == action {
			return e
		}
	}
	f.t.Fatalf("no audit event %q", action)
	return storage.AuditEvent{}
}

func (f *fixture) countAudit(action string) int {
	n := 0
	for _, e := range f.auditActions() {
		if e.Action == action {
			n++
		}
	}
	return n
}

// client is a browser or API client with its own cookies and IP.
type client struct {
	f       *fixture
	ip      string
	cookies map[string]*http.Cookie
	csrf    string
}

func (f *fixture) client(ip string) *client {
	return &client{f: f, ip: ip, cookies: map[string]*http.Cookie{}}
}

func (c *client) do(method, path string, body io.Reader, hdr map[string]string) *httptest.ResponseRecorder {
	c.f.t.Helper()
	req := httptest.NewRequest(method, "http://leakwatch.test"+path, body)
	req.RemoteAddr = c.ip + ":40000"
	if strings.Contains(c.ip, ":") {
		req.RemoteAddr = "[" + c.ip + "]:40000"
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	for _, ck := range c.cookies {
		req.AddCookie(ck)
	}
	rec := httptest.NewRecorder()
	c.f.srv.Handler().ServeHTTP(rec, req)
	for _, ck := range rec.Result().Cookies() {
		if ck.MaxAge < 0 {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck
		}
	}
	return rec
}

func (c *client) getJSON(path string) *httptest.ResponseRecorder {
	return c.do(http.MethodGet, path, nil, nil)
}

// postJSON sends v as JSON with the client's CSRF token.
func (c *client) postJSON(path string, v any) *httptest.ResponseRecorder {
	c.f.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.f.t.Fatal(err)
	}
	hdr := map[string]string{"Content-Type": "application/json"}
	if c.csrf != "" {
		hdr["X-CSRF-Token"] = c.csrf
	}
	return c.do(http.MethodPost, path, strings.NewReader(string(b)), hdr)
}

func (c *client) postForm(path string, form url.Values) *httptest.ResponseRecorder {
	return c.do(http.MethodPost, path, strings.NewReader(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
}

// apiLogin logs in through the API and keeps the CSRF token on success.
func (c *client) apiLogin(user, password, code string) *httptest.ResponseRecorder {
	c.f.t.Helper()
	rec := c.postJSON("/api/login", map[string]string{"username": user, "password": password, "totp": code})
	if rec.Code == http.StatusOK {
		var res loginResponse
		decode(c.f.t, rec, &res)
		c.csrf = res.CSRFToken
	}
	return rec
}

func (c *client) mustLogin(user string) {
	c.f.t.Helper()
	if rec := c.apiLogin(user, testPassword, c.f.loginCode(user)); rec.Code != http.StatusOK {
		c.f.t.Fatalf("login %s: %d %s", user, rec.Code, rec.Body)
	}
}

func decode(t *testing.T, rec *httptest.ResponseRecorder, v any) {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("content type %q, want JSON; body %s", ct, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("decode %s: %v", rec.Body, err)
	}
}

func wantStatus(t *testing.T, rec *httptest.ResponseRecorder, want int) {
	t.Helper()
	if rec.Code != want {
		t.Fatalf("status %d, want %d; body: %s", rec.Code, want, rec.Body)
	}
}

func wantErrorJSON(t *testing.T, rec *httptest.ResponseRecorder, status int, contains string) {
	t.Helper()
	wantStatus(t, rec, status)
	var body map[string]string
	decode(t, rec, &body)
	if !strings.Contains(body["error"], contains) {
		t.Fatalf("error %q does not contain %q", body["error"], contains)
	}
}

// seedCase creates a case with one hit and a draft notice at revision 2 (rev 1 superseded).
func (f *fixture) seedCase(target string) storage.Case {
	f.t.Helper()
	ctx := context.Background()
	must := func(err error) {
		f.t.Helper()
		if err != nil {
			f.t.Fatal(err)
		}
	}
	src := storage.Source{Name: "forum-" + target, Kind: "web", URL: "http://" + target + "/", Enabled: true}
	must(f.store.CreateSource(ctx, &src))
	run, err := f.store.StartRun(ctx, src.ID)
	must(err)
	capt := storage.Capture{RunID: run.ID, SourceID: src.ID, Kind: storage.CaptureFile, URL: "http://" + target + "/dump/part1.zip",
		Host: target, FetchedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Status: 200,
		SHA256: strings.Repeat("ab", 32), Size: 1234}
	_, err = f.store.SaveCapture(ctx, &capt)
	must(err)
	ref := storage.Reference{Name: "batch-7/doc-0042.pdf", Size: 999, SHA256: strings.Repeat("cd", 32)}
	_, err = f.store.AddReference(ctx, &ref)
	must(err)
	hit := storage.Hit{CaptureID: capt.ID, ReferenceID: ref.ID, Method: "sha256", Score: 1, Why: "identical bytes", Target: target}
	_, err = f.store.AddHit(ctx, &hit)
	must(err)
	c, err := f.store.EnsureCase(ctx, target, "case-"+target)
	must(err)
	for rev := 1; rev <= 2; rev++ {
		n := storage.Notice{CaseID: c.ID, Revision: rev, Recipient: "abuse@" + target, Subject: "Takedown notice rev " + string(rune('0'+rev)),
			BodyText: "High Court orders CIV-2026-404-1 <script>alert(1)</script>\nURL: " + capt.URL,
			BodyHTML: "<p>x</p>", DraftedBy: "workflow", MessageID: "<" + target + "-" + string(rune('0'+rev)) + "@leakwatch>"}
		_, err := f.store.CreateNoticeDraft(ctx, &n)
		must(err)
	}
	must(f.store.SetCaseState(ctx, c.ID, storage.CaseDrafted, "abuse@"+target))
	c, err = f.store.CaseByID(ctx, c.ID)
	must(err)
	return c
}

func hashOf(token string) string { return auth.HashToken(token) }
