package web

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/leakwatch/leakwatch/storage"
)

func TestAPILoginSuccess(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("alice", storage.RoleAnalyst, false)
	c := f.client("192.0.2.10")

	rec := c.apiLogin("alice", testPassword, "")
	wantStatus(t, rec, http.StatusOK)
	var res loginResponse
	decode(t, rec, &res)
	if res.Username != "alice" || res.Role != storage.RoleAnalyst || len(res.CSRFToken) != 43 {
		t.Fatalf("unexpected login response %+v", res)
	}
	ck := c.cookies["leakwatch_session"]
	if ck == nil {
		t.Fatalf("no session cookie; cookies %v", c.cookies)
	}
	if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.Path != "/" {
		t.Fatalf("session cookie attributes wrong: %+v", ck)
	}
	if ck.MaxAge != 3600 {
		t.Fatalf("cookie MaxAge %d, want 3600 (SessionTTL)", ck.MaxAge)
	}

	// Only the hash of the token is stored.
	var n int64
	if err := f.store.DB().Model(&storage.Session{}).Where("token_hash = ?", ck.Value).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatal("raw session token found in the database")
	}
	sess, err := f.store.SessionByTokenHash(context.Background(), hashOf(ck.Value), f.clock.now())
	if err != nil {
		t.Fatalf("session by hash: %v", err)
	}
	if sess.CSRFToken != res.CSRFToken || !sess.ExpiresAt.After(f.clock.now().Add(59*time.Minute)) {
		t.Fatalf("stored session %+v does not match", sess)
	}

	rec = c.getJSON("/api/me")
	wantStatus(t, rec, http.StatusOK)
	var me loginResponse
	decode(t, rec, &me)
	if me.Username != "alice" || me.CSRFToken != res.CSRFToken {
		t.Fatalf("me = %+v", me)
	}
	ev := f.findAudit("login.success")
	if ev.Actor != "alice" || !strings.Contains(ev.Detail, "ip=192.0.2.10") {
		t.Fatalf("login audit %+v", ev)
	}

	// The session expires after SessionTTL.
	f.clock.advance(time.Hour + time.Second)
	wantStatus(t, c.getJSON("/api/me"), http.StatusUnauthorized)
}

func TestAPILoginFailuresAreGeneric(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("alice", storage.RoleAnalyst, false)
	disabled, _ := f.addUser("dora", storage.RoleAnalyst, false)
	if err := f.store.DB().Model(&storage.User{}).Where("id = ?", disabled.ID).Update("disabled", true).Error; err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, user, pw, reason string
	}{
		{"wrong password", "alice", "wrong password here", "reason=bad-password"},
		{"unknown user", "mallory", testPassword, "reason=unknown-user"},
		{"disabled", "dora", testPassword, "reason=disabled"},
		{"empty", "", "", "reason=unknown-user"},
	}
	var bodies []string
	for i, tc := range cases {
		c := f.client(fmt.Sprintf("192.0.2.%d", 20+i))
		rec := c.apiLogin(tc.user, tc.pw, "")
		wantErrorJSON(t, rec, http.StatusUnauthorized, genericLoginError)
		if len(c.cookies) != 0 {
			t.Errorf("%s: cookies set on failed login: %v", tc.name, c.cookies)
		}
		bodies = append(bodies, rec.Body.String())
		ev := f.findAudit("login.failure")
		if !strings.Contains(ev.Detail, tc.reason) {
			t.Errorf("%s: audit detail %q lacks %q", tc.name, ev.Detail, tc.reason)
		}
	}
	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Fatalf("failure bodies differ: %q vs %q", b, bodies[0])
		}
	}
	for _, e := range f.auditActions() {
		if strings.Contains(e.Detail, testPassword) || strings.Contains(e.Detail, "wrong password here") ||
			strings.Contains(e.Actor+e.Object+e.Detail, "mallory") {
			t.Fatalf("audit event leaks a password or unknown username: %+v", e)
		}
	}
	// Unknown-user and failed logins count alike (the failure count of alice
	// and of the unknown name went up by one).
	for _, name := range []string{"alice", "mallory"} {
		rows, err := f.store.AccountThrottles(context.Background(), storage.ThrottleAccount(name))
		if err != nil || len(rows) != 2 || rows[0].Failures != 1 || rows[1].Failures != 1 {
			t.Fatalf("%s throttles = %+v, %v; want one failure per network and for the account", name, rows, err)
		}
	}
	// Non-JSON login bodies are refused (a cross-site form cannot send JSON).
	c := f.client("192.0.2.99")
	rec := c.do(http.MethodPost, "/api/login", strings.NewReader("username=alice&password=x"),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	wantErrorJSON(t, rec, http.StatusUnsupportedMediaType, "application/json")
}

func TestLoginThrottledPerIP(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.LoginAttemptsPerMinute = 3 })
	f.addUser("alice", storage.RoleAnalyst, false)
	f.addUser("bob", storage.RoleAnalyst, false)
	c := f.client("203.0.113.7")
	for range 3 {
		// Spread over users so account lockout (3) is not reached for one user.
		wantStatus(t, c.apiLogin("nobody", "whatever password", ""), http.StatusUnauthorized)
	}
	rec := c.apiLogin("alice", testPassword, "")
	wantErrorJSON(t, rec, http.StatusTooManyRequests, "too many")
	ra, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	if err != nil || ra < 1 || ra > 60 {
		t.Fatalf("Retry-After %q, want 1..60 seconds", rec.Header().Get("Retry-After"))
	}
	// Throttled attempts do not touch the account.
	if rows, _ := f.store.AccountThrottles(context.Background(), storage.ThrottleAccount("alice")); len(rows) != 0 {
		t.Fatalf("throttled attempt counted against alice: %+v", rows)
	}
	// Another IP is not affected.
	wantStatus(t, f.client("203.0.113.8").apiLogin("bob", testPassword, ""), http.StatusOK)

	// IPv6 clients share a budget per /64.
	v6a, v6b := f.client("2001:db8:1:2::1"), f.client("2001:db8:1:2::ffff")
	for range 3 {
		wantStatus(t, v6a.apiLogin("nobody", "whatever password", ""), http.StatusUnauthorized)
	}
	wantStatus(t, v6b.apiLogin("bob", testPassword, ""), http.StatusTooManyRequests)

	// The window slides: a minute later the IP may try again.
	f.clock.advance(61 * time.Second)
	wantStatus(t, c.apiLogin("alice", testPassword, ""), http.StatusOK)

	// The UI form is throttled by the same budget.
	f.clock.advance(61 * time.Second)
	ui := f.client("203.0.113.9")
	for range 3 {
		wantStatus(t, uiLogin(t, ui, "alice", "bad password!!", ""), http.StatusUnauthorized)
	}
	rec = uiLogin(t, ui, "alice", testPassword, "")
	wantStatus(t, rec, http.StatusTooManyRequests)
	if rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "Too many login attempts") {
		t.Fatalf("UI throttle response lacks Retry-After or message: %v %s", rec.Header(), rec.Body)
	}
}

func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func TestTOTPRequiredWhenEnrolled(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxLoginFailures = 10 })
	_, secret := f.addUser("lena", storage.RoleLegal, true)
	c := f.client("192.0.2.30")

	wantErrorJSON(t, c.apiLogin("lena", testPassword, ""), http.StatusUnauthorized, genericLoginError)
	if ev := f.findAudit("login.failure"); !strings.Contains(ev.Detail, "reason=missing-totp") {
		t.Fatalf("audit %+v", ev)
	}
	good := totpCode(t, secret, f.clock.now())
	bad := "000000"
	if bad == good {
		bad = "111111"
	}
	wantErrorJSON(t, c.apiLogin("lena", testPassword, bad), http.StatusUnauthorized, genericLoginError)
	if ev := f.findAudit("login.failure"); !strings.Contains(ev.Detail, "reason=bad-totp") {
		t.Fatalf("audit %+v", ev)
	}
	// A right code with a wrong password fails too.
	wantStatus(t, c.apiLogin("lena", "wrong password 123", good), http.StatusUnauthorized)

	rec := c.apiLogin("lena", testPassword, good)
	wantStatus(t, rec, http.StatusOK)
	var res loginResponse
	decode(t, rec, &res)
	if !res.TOTPEnrolled {
		t.Fatal("totp_enrolled false for an enrolled user")
	}
	// The same code cannot be replayed.
	c2 := f.client("192.0.2.31")
	wantStatus(t, c2.apiLogin("lena", testPassword, good), http.StatusUnauthorized)
	if ev := f.findAudit("login.failure"); !strings.Contains(ev.Detail, "reason=totp-replay") {
		t.Fatalf("audit %+v", ev)
	}
	// The next period's code works.
	f.clock.advance(30 * time.Second)
	wantStatus(t, c2.apiLogin("lena", testPassword, totpCode(t, secret, f.clock.now())), http.StatusOK)
}

func TestCSRF(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("alice", storage.RoleAnalyst, false)
	c := f.client("192.0.2.40")
	c.mustLogin("alice")
	body := map[string]any{"name": "forum-a", "url": "https://leaks.example/forum/", "every": "6h"}

	token := c.csrf
	c.csrf = ""
	wantErrorJSON(t, c.postJSON("/api/sources", body), http.StatusForbidden, "CSRF")
	c.csrf = token + "x"
	wantErrorJSON(t, c.postJSON("/api/sources", body), http.StatusForbidden, "CSRF")
	c.csrf = token
	// Right token, but a cross-site browser request: refused by the origin check.
	rec := c.do(http.MethodPost, "/api/sources", strings.NewReader(`{"name":"x","url":"https://x.example/"}`),
		map[string]string{"Content-Type": "application/json", "X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"})
	wantErrorJSON(t, rec, http.StatusForbidden, "cross-origin")
	rec = c.do(http.MethodPost, "/api/sources", strings.NewReader(`{"name":"x","url":"https://x.example/"}`),
		map[string]string{"Content-Type": "application/json", "X-CSRF-Token": token, "Origin": "https://evil.example"})
	wantErrorJSON(t, rec, http.StatusForbidden, "cross-origin")
	srcs, err := f.store.ListSources(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(srcs) != 0 {
		t.Fatalf("a refused request created sources: %+v", srcs)
	}

	rec = c.postJSON("/api/sources", body)
	wantStatus(t, rec, http.StatusCreated)
	var src sourceJSON
	decode(t, rec, &src)
	if src.Name != "forum-a" || src.Kind != "web" || src.EverySecs != 6*3600 || src.Every != "6h0m0s" || !src.Enabled {
		t.Fatalf("created source %+v", src)
	}
	// Same-origin browser requests with the token pass.
	rec = c.do(http.MethodPost, "/api/sources", strings.NewReader(`{"name":"forum-b","url":"http://b.example/","every":3600}`),
		map[string]string{"Content-Type": "application/json", "X-CSRF-Token": token, "Sec-Fetch-Site": "same-origin",
			"Origin": "http://leakwatch.test"})
	wantStatus(t, rec, http.StatusCreated)

	// UI forms carry the token in the csrf_token field.
	wantStatus(t, c.postForm("/sources", url.Values{"name": {"forum-c"}, "url": {"https://c.example/"}, "every": {"30m"}}),
		http.StatusForbidden)
	rec = c.postForm("/sources", url.Values{"name": {"forum-c"}, "url": {"https://c.example/"}, "every": {"30m"}, "csrf_token": {token}})
	wantStatus(t, rec, http.StatusSeeOther)
	if loc := rec.Header().Get("Location"); loc != "/sources?added=1" {
		t.Fatalf("redirect to %q", loc)
	}
	if n := f.countAudit("source.add"); n != 3 {
		t.Fatalf("%d source.add audit events, want 3", n)
	}
	// Logout needs the token too.
	c.csrf = ""
	wantStatus(t, c.postJSON("/api/logout", nil), http.StatusForbidden)
	wantStatus(t, c.getJSON("/api/me"), http.StatusOK)
}

func TestSourcesValidation(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("alice", storage.RoleAnalyst, false)
	c := f.client("192.0.2.41")
	c.mustLogin("alice")
	bad := []struct {
		body map[string]any
		msg  string
	}{
		{map[string]any{"name": "", "url": "https://a.example/"}, "name"},
		{map[string]any{"name": "a", "url": "ftp://a.example/"}, "http"},
		{map[string]any{"name": "a", "url": "/relative"}, "http"},
		{map[string]any{"name": "a", "url": "https://user:pw@a.example/"}, "password"},
		{map[string]any{"name": "a", "url": "https://a.example/", "every": "5s"}, "interval"},
		{map[string]any{"name": "a", "url": "https://a.example/", "every": "soon"}, "duration"},
		{map[string]any{"name": "a", "url": "https://a.example/", "every": true}, "every"},
	}
	for _, b := range bad {
		wantErrorJSON(t, c.postJSON("/api/sources", b.body), http.StatusBadRequest, b.msg)
	}
	wantStatus(t, c.postJSON("/api/sources", map[string]any{"name": "a", "url": "https://a.example/"}), http.StatusCreated)
	wantErrorJSON(t, c.postJSON("/api/sources", map[string]any{"name": "a", "url": "https://b.example/"}), http.StatusConflict, "already exists")

	rec := c.getJSON("/api/sources")
	wantStatus(t, rec, http.StatusOK)
	var srcs []sourceJSON
	decode(t, rec, &srcs)
	if len(srcs) != 1 || srcs[0].Name != "a" || srcs[0].EverySecs != 0 {
		t.Fatalf("sources %+v", srcs)
	}
	// The UI shows a validation error in the page, keeping the input.
	rec = c.postForm("/sources", url.Values{"name": {"b"}, "url": {"javascript:alert(1)"}, "csrf_token": {c.csrf}})
	wantStatus(t, rec, http.StatusBadRequest)
	if !strings.Contains(rec.Body.String(), "absolute http") || !strings.Contains(rec.Body.String(), `value="b"`) {
		t.Fatalf("form error page: %s", rec.Body)
	}
}

func TestApproveRequiresLegal(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("alice", storage.RoleAnalyst, false)
	f.addUser("lee", storage.RoleLegal, false)
	f.addUser("root", storage.RoleAdmin, false)
	cs := f.seedCase("leaks.example")
	path := fmt.Sprintf("/api/cases/%d/approve", cs.ID)

	analyst := f.client("192.0.2.50")
	analyst.mustLogin("alice")
	wantErrorJSON(t, analyst.postJSON(path, map[string]int{"revision": 2}), http.StatusForbidden, "legal")
	if calls := f.cases.recorded(); len(calls) != 0 {
		t.Fatalf("CaseService called for an analyst: %+v", calls)
	}
	if ev := f.findAudit("notice.approve.denied"); ev.Actor != "alice" || ev.Object != fmt.Sprintf("case/%d", cs.ID) {
		t.Fatalf("denied audit %+v", ev)
	}

	legal := f.client("192.0.2.51")
	legal.mustLogin("lee")
	wantStatus(t, legal.postJSON(path, map[string]int{"revision": 2}), http.StatusOK)
	calls := f.cases.recorded()
	if len(calls) != 1 || calls[0] != (approveCall{cs.ID, 2, "lee"}) {
		t.Fatalf("CaseService calls %+v", calls)
	}
	if ev := f.findAudit("notice.approve"); ev.Actor != "lee" || !strings.Contains(ev.Detail, "revision=2") {
		t.Fatalf("approve audit %+v", ev)
	}
	if f.countAudit("notice.approve.request") != 1 {
		t.Fatal("approval request not audited")
	}

	// CaseService refusals become 409 with their text.
	f.cases.err = errors.New("revision 1 is superseded by revision 2")
	wantErrorJSON(t, legal.postJSON(path, map[string]int{"revision": 1}), http.StatusConflict, "superseded by revision 2")
	if ev := f.findAudit("notice.approve.rejected"); !strings.Contains(ev.Detail, "superseded") {
		t.Fatalf("rejected audit %+v", ev)
	}
	f.cases.err = nil

	wantErrorJSON(t, legal.postJSON(path, map[string]int{"revision": 0}), http.StatusBadRequest, "revision")
	wantErrorJSON(t, legal.postJSON("/api/cases/9999/approve", map[string]int{"revision": 1}), http.StatusNotFound, "not found")

	// Admins may approve too, through the UI form.
	admin := f.client("192.0.2.52")
	admin.mustLogin("root")
	form := url.Values{"revision": {"2"}, "csrf_token": {admin.csrf}}
	rec := admin.postForm(fmt.Sprintf("/cases/%d/approve", cs.ID), form)
	wantStatus(t, rec, http.StatusSeeOther)
	if loc := rec.Header().Get("Location"); loc != fmt.Sprintf("/cases/%d?approved=2", cs.ID) {
		t.Fatalf("redirect %q", loc)
	}
	if calls := f.cases.recorded(); len(calls) != 3 || calls[2].user != "root" {
		t.Fatalf("calls %+v", calls)
	}
	// The analyst's UI form is refused as well.
	rec = analyst.postForm(fmt.Sprintf("/cases/%d/approve", cs.ID), url.Values{"revision": {"2"}, "csrf_token": {analyst.csrf}})
	wantStatus(t, rec, http.StatusForbidden)
	if len(f.cases.recorded()) != 3 {
		t.Fatal("CaseService called for an analyst via the UI")
	}

	// Only legal/admin see the approve form.
	if body := legal.getJSON(fmt.Sprintf("/cases/%d", cs.ID)).Body.String(); !strings.Contains(body, "Approve revision 2") ||
		!strings.Contains(body, `name="revision" value="2"`) {
		t.Fatalf("legal case page lacks the approve form: %s", body)
	}
	if body := analyst.getJSON(fmt.Sprintf("/cases/%d", cs.ID)).Body.String(); strings.Contains(body, "Approve revision") ||
		!strings.Contains(body, "awaits approval") {
		t.Fatalf("analyst case page shows the approve form: %s", body)
	}
}

func TestApproveWithoutCaseService(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Cases = nil })
	f.addUser("lee", storage.RoleLegal, false)
	cs := f.seedCase("leaks.example")
	c := f.client("192.0.2.53")
	c.mustLogin("lee")
	wantErrorJSON(t, c.postJSON(fmt.Sprintf("/api/cases/%d/approve", cs.ID), map[string]int{"revision": 2}),
		http.StatusServiceUnavailable, "not available")
}

func TestCaseAPIAndPage(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("alice", storage.RoleAnalyst, false)
	cs := f.seedCase("leaks.example")
	c := f.client("192.0.2.60")
	c.mustLogin("alice")

	rec := c.getJSON("/api/cases")
	wantStatus(t, rec, http.StatusOK)
	var list []map[string]any
	decode(t, rec, &list)
	if len(list) != 1 || list[0]["target"] != "leaks.example" || list[0]["state"] != string(storage.CaseDrafted) ||
		list[0]["recipient"] != "abuse@leaks.example" || list[0]["opened_at"] == nil || list[0]["updated_at"] == nil {
		t.Fatalf("case list %+v", list)
	}

	rec = c.getJSON(fmt.Sprintf("/api/cases/%d", cs.ID))
	wantStatus(t, rec, http.StatusOK)
	var detail struct {
		ID      uint64           `json:"id"`
		Target  string           `json:"target"`
		Notices []map[string]any `json:"notices"`
		Hits    []map[string]any `json:"hits"`
	}
	decode(t, rec, &detail)
	if detail.ID != cs.ID || detail.Target != "leaks.example" || len(detail.Notices) != 2 || len(detail.Hits) != 1 {
		t.Fatalf("case detail %+v", detail)
	}
	n := detail.Notices[0]
	for _, k := range []string{"id", "revision", "state", "recipient", "subject", "body_text", "drafted_at",
		"approved_by", "approved_at", "sent_at", "attempts", "last_error"} {
		if _, ok := n[k]; !ok {
			t.Errorf("notice lacks %q: %v", k, n)
		}
	}
	if n["revision"] != 2.0 || n["state"] != string(storage.NoticeDraft) || detail.Notices[1]["state"] != string(storage.NoticeSuperseded) {
		t.Fatalf("notices %+v", detail.Notices)
	}
	h := detail.Hits[0]
	if h["url"] != "http://leaks.example/dump/part1.zip" || h["capture_sha256"] != strings.Repeat("ab", 32) ||
		h["method"] != "sha256" || h["score"] != 1.0 || h["why"] != "identical bytes" ||
		!strings.HasPrefix(h["ref_opaque_id"].(string), "ref_") || h["fetched_at"] != "2026-01-02T03:04:05Z" {
		t.Fatalf("hit %+v", h)
	}
	// An analyst works with opaque ids: a reference's name can carry a
	// patient identifier. Legal sees it.
	if _, ok := h["ref_name"]; ok {
		t.Fatal("an analyst's hit carries ref_name")
	}
	if raw := c.getJSON("/api/hits").Body.String(); strings.Contains(raw, `"ref_name"`) {
		t.Fatal("/api/hits gives an analyst ref_name")
	}
	f.addUser("lee", storage.RoleLegal, false)
	legal := f.client("192.0.2.61")
	legal.mustLogin("lee")
	var legalDetail struct {
		Hits []map[string]any `json:"hits"`
	}
	decode(t, legal.getJSON(fmt.Sprintf("/api/cases/%d", cs.ID)), &legalDetail)
	if len(legalDetail.Hits) != 1 || legalDetail.Hits[0]["ref_name"] == nil || legalDetail.Hits[0]["ref_name"] == "" {
		t.Fatalf("legal's hit lacks ref_name: %+v", legalDetail.Hits)
	}
	if raw := legal.getJSON("/api/hits").Body.String(); !strings.Contains(raw, `"ref_name"`) {
		t.Fatal("/api/hits gives legal no ref_name")
	}
	wantErrorJSON(t, c.getJSON("/api/cases/424242"), http.StatusNotFound, "not found")
	wantErrorJSON(t, c.getJSON("/api/cases/abc"), http.StatusNotFound, "not found")

	// The page escapes everything and shows the notice in a <pre>.
	rec = c.getJSON(fmt.Sprintf("/cases/%d", cs.ID))
	wantStatus(t, rec, http.StatusOK)
	body := rec.Body.String()
	if strings.Contains(body, "<script>") || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Fatal("notice text not escaped")
	}
	if !regexp.MustCompile(`<pre class="notice-text">High Court orders`).MatchString(body) {
		t.Fatal("notice text not in a <pre>")
	}
	for _, want := range []string{strings.Repeat("ab", 32), "identical bytes", "ref_", "2026-01-02 03:04:05 UTC", "sha256"} {
		if !strings.Contains(body, want) {
			t.Errorf("case page lacks %q", want)
		}
	}
	// The UI shows references by opaque id only, never their file names.
	if strings.Contains(body, "doc-0042.pdf") {
		t.Fatal("case page shows a reference file name")
	}

	// Lists.
	for _, p := range []string{"/api/hits?limit=5", "/api/captures", "/api/status"} {
		wantStatus(t, c.getJSON(p), http.StatusOK)
	}
	var st storage.Counts
	decode(t, c.getJSON("/api/status"), &st)
	if st.Hits != 1 || st.Cases != 1 || st.Captures != 1 || st.Refs != 1 {
		t.Fatalf("status %+v", st)
	}
	var caps []captureJSON
	decode(t, c.getJSON("/api/captures?limit=1"), &caps)
	if len(caps) != 1 || caps[0].SHA256 != strings.Repeat("ab", 32) {
		t.Fatalf("captures %+v", caps)
	}
	wantErrorJSON(t, c.getJSON("/api/hits?limit=-1"), http.StatusBadRequest, "limit")
	for _, p := range []string{"/cases", "/hits", "/sources"} { // the dashboard shows counts and links, not hits
		rec := c.getJSON(p)
		wantStatus(t, rec, http.StatusOK)
		if !strings.Contains(rec.Body.String(), "leaks.example") {
			t.Errorf("%s does not show the seeded data", p)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("alice", storage.RoleAnalyst, false)
	c := f.client("192.0.2.70")
	c.mustLogin("alice")
	anon := f.client("192.0.2.71")
	wantCSP := "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
	checks := []struct {
		c    *client
		path string
	}{
		{anon, "/login"}, {anon, "/healthz"}, {anon, "/api/me"}, {anon, "/nope"}, {anon, "/static/style.css"},
		{c, "/"}, {c, "/cases"}, {c, "/hits"}, {c, "/sources"}, {c, "/api/me"}, {c, "/nope"}, {c, "/api/nope"},
	}
	for _, ch := range checks {
		rec := ch.c.getJSON(ch.path)
		h := rec.Header()
		if h.Get("Content-Security-Policy") != wantCSP {
			t.Errorf("%s: CSP %q", ch.path, h.Get("Content-Security-Policy"))
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" ||
			h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: missing security headers: %v", ch.path, h)
		}
		if ch.path != "/static/style.css" && h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", ch.path, h.Get("Cache-Control"))
		}
		if h.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS on plain http", ch.path)
		}
		if strings.HasPrefix(h.Get("Content-Type"), "text/html") {
			// The CSP forbids inline code; make sure we do not rely on it.
			b := strings.ToLower(rec.Body.String())
			if strings.Contains(b, "<script") || strings.Contains(b, " style=") || strings.Contains(b, "<style") ||
				strings.Contains(b, " onclick=") {
				t.Errorf("%s: inline script or style in page", ch.path)
			}
		}
	}
	if rec := anon.getJSON("/healthz"); rec.Body.String() != "ok" {
		t.Fatalf("healthz body %q", rec.Body)
	}
	if rec := anon.getJSON("/static/style.css"); rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/css") {
		t.Fatalf("stylesheet: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if rec := c.getJSON("/nope"); rec.Code != http.StatusNotFound {
		t.Fatalf("unknown page status %d", rec.Code)
	}
	wantErrorJSON(t, c.getJSON("/api/nope"), http.StatusNotFound, "not found")
}

func TestHTTPSCookiesAndHSTS(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.BaseURL = "https://leakwatch.example" })
	f.addUser("alice", storage.RoleAnalyst, false)
	c := f.client("192.0.2.72")
	rec := c.apiLogin("alice", testPassword, "")
	wantStatus(t, rec, http.StatusOK)
	ck := c.cookies["__Host-leakwatch_session"]
	if ck == nil || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Domain != "" {
		t.Fatalf("https session cookie %+v (all: %v)", ck, c.cookies)
	}
	if !strings.HasPrefix(rec.Header().Get("Strict-Transport-Security"), "max-age=") {
		t.Fatal("no HSTS over https")
	}
	if _, err := New(Options{Store: f.store, BaseURL: "leakwatch.example"}); err == nil {
		t.Fatal("relative BaseURL accepted")
	}
	if _, err := New(Options{}); err == nil {
		t.Fatal("missing Store accepted")
	}
}

func TestUnauthenticated(t *testing.T) {
	f := newFixture(t, nil)
	anon := f.client("192.0.2.80")
	for _, p := range []string{"/api/me", "/api/cases", "/api/cases/1", "/api/hits", "/api/captures", "/api/sources",
		"/api/status", "/api/audit"} {
		wantErrorJSON(t, anon.getJSON(p), http.StatusUnauthorized, "authentication required")
	}
	wantErrorJSON(t, anon.postJSON("/api/cases/1/approve", map[string]int{"revision": 1}), http.StatusUnauthorized, "authentication")
	wantErrorJSON(t, anon.postJSON("/api/sources", map[string]string{"name": "x"}), http.StatusUnauthorized, "authentication")

	rec := anon.getJSON("/")
	wantStatus(t, rec, http.StatusSeeOther)
	if loc := rec.Header().Get("Location"); loc != "/login" {
		t.Fatalf("redirect %q", loc)
	}
	rec = anon.getJSON("/cases/1")
	wantStatus(t, rec, http.StatusSeeOther)
	if loc := rec.Header().Get("Location"); loc != "/login?next=%2Fcases%2F1" {
		t.Fatalf("redirect %q", loc)
	}
	// A forged cookie is no session.
	anon.cookies["leakwatch_session"] = &http.Cookie{Name: "leakwatch_session", Value: "forged"}
	wantStatus(t, anon.getJSON("/api/me"), http.StatusUnauthorized)
	if len(f.cases.recorded()) != 0 {
		t.Fatal("CaseService called without authentication")
	}
}

func TestDisabledUserLosesSession(t *testing.T) {
	f := newFixture(t, nil)
	u, _ := f.addUser("alice", storage.RoleAnalyst, false)
	c := f.client("192.0.2.81")
	c.mustLogin("alice")
	if err := f.store.DB().Model(&storage.User{}).Where("id = ?", u.ID).Update("disabled", true).Error; err != nil {
		t.Fatal(err)
	}
	wantStatus(t, c.getJSON("/api/me"), http.StatusUnauthorized)
}

func TestUnknownRoleHasNoAccess(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("ghost", "viewer", false)
	c := f.client("192.0.2.82")
	c.mustLogin("ghost")
	wantStatus(t, c.getJSON("/api/cases"), http.StatusForbidden)
}

func TestLogout(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("alice", storage.RoleAnalyst, false)
	c := f.client("192.0.2.90")
	c.mustLogin("alice")
	token := c.cookies["leakwatch_session"].Value
	rec := c.postJSON("/api/logout", nil)
	wantStatus(t, rec, http.StatusOK)
	if _, ok := c.cookies["leakwatch_session"]; ok {
		t.Fatal("session cookie not cleared")
	}
	if _, err := f.store.SessionByTokenHash(context.Background(), hashOf(token), f.clock.now()); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("session still stored: %v", err)
	}
	// The old token is dead even if replayed.
	c.cookies["leakwatch_session"] = &http.Cookie{Name: "leakwatch_session", Value: token}
	wantStatus(t, c.getJSON("/api/me"), http.StatusUnauthorized)
	if ev := f.findAudit("logout"); ev.Actor != "alice" {
		t.Fatalf("logout audit %+v", ev)
	}

	// UI logout.
	ui := f.client("192.0.2.91")
	wantStatus(t, uiLogin(t, ui, "alice", testPassword, ""), http.StatusSeeOther)
	page := ui.getJSON("/").Body.String()
	csrf := extractCSRF(t, page)
	rec = ui.postForm("/logout", url.Values{"csrf_token": {csrf}})
	wantStatus(t, rec, http.StatusSeeOther)
	if rec.Header().Get("Location") != "/login" {
		t.Fatalf("logout redirect %q", rec.Header().Get("Location"))
	}
	wantStatus(t, ui.getJSON("/"), http.StatusSeeOther)
	if f.countAudit("logout") != 2 {
		t.Fatal("UI logout not audited")
	}
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

func extractCSRF(t *testing.T, body string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf_token field in %s", body)
	}
	return m[1]
}

// uiLogin fetches the login form and submits it like a browser.
func uiLogin(t *testing.T, c *client, user, pw, code string) *httptest.ResponseRecorder {
	t.Helper()
	rec := c.getJSON("/login")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /login: %d", rec.Code)
	}
	csrf := extractCSRF(t, rec.Body.String())
	return c.postForm("/login", url.Values{"username": {user}, "password": {pw}, "totp": {code}, "csrf_token": {csrf}})
}

func TestUILogin(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("alice", storage.RoleAnalyst, false)
	_, secret := f.addUser("lena", storage.RoleLegal, true)

	// The form without its pre-session token is refused.
	c := f.client("192.0.2.100")
	rec := c.postForm("/login", url.Values{"username": {"alice"}, "password": {testPassword}})
	wantStatus(t, rec, http.StatusForbidden)
	if _, ok := c.cookies["leakwatch_session"]; ok {
		t.Fatal("session created without login CSRF token")
	}

	// Wrong password: generic error, username kept, password not echoed.
	rec = uiLogin(t, c, "alice", "wrong password!", "")
	wantStatus(t, rec, http.StatusUnauthorized)
	body := rec.Body.String()
	if !strings.Contains(body, "Invalid username, password or code.") || !strings.Contains(body, `value="alice"`) ||
		strings.Contains(body, "wrong password!") {
		t.Fatalf("failed login page: %s", body)
	}
	if !strings.Contains(body, `name="totp"`) {
		t.Fatal("login form has no TOTP field")
	}

	rec = uiLogin(t, c, "alice", testPassword, "")
	wantStatus(t, rec, http.StatusSeeOther)
	if rec.Header().Get("Location") != "/" {
		t.Fatalf("redirect %q", rec.Header().Get("Location"))
	}
	if _, ok := c.cookies["leakwatch_login"]; ok {
		t.Fatal("login CSRF cookie not cleared")
	}
	rec = c.getJSON("/")
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), "alice") || !strings.Contains(rec.Body.String(), "Waiting for you") {
		t.Fatal("dashboard not shown")
	}
	// Logged-in users visiting /login go home.
	wantStatus(t, c.getJSON("/login"), http.StatusSeeOther)

	// next is honoured for local paths only.
	c2 := f.client("192.0.2.101")
	lp := c2.getJSON("/login?next=%2Fcases").Body.String()
	rec = c2.postForm("/login", url.Values{"username": {"lena"}, "password": {testPassword},
		"totp": {totpCode(t, secret, f.clock.now())}, "csrf_token": {extractCSRF(t, lp)}, "next": {"/cases"}})
	wantStatus(t, rec, http.StatusSeeOther)
	if rec.Header().Get("Location") != "/cases" {
		t.Fatalf("next redirect %q", rec.Header().Get("Location"))
	}
	// Audit page is admin-only.
	wantStatus(t, c2.getJSON("/audit"), http.StatusForbidden)
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                   "/",
		"/cases/3":           "/cases/3",
		"//evil.example":     "/",
		"/\\evil.example":    "/",
		"https://evil.test/": "/",
		"cases":              "/",
		"/login":             "/",
		"/ok\r\nX: y":        "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAuditLogAndChain(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("root", storage.RoleAdmin, false)
	f.addUser("alice", storage.RoleAnalyst, false)
	f.addUser("lee", storage.RoleLegal, false)
	cs := f.seedCase("leaks.example")

	wantStatus(t, f.client("192.0.2.110").apiLogin("root", "bad password 1", ""), http.StatusUnauthorized)
	analyst := f.client("192.0.2.111")
	analyst.mustLogin("alice")
	wantStatus(t, analyst.postJSON("/api/sources", map[string]any{"name": "s", "url": "https://s.example/"}), http.StatusCreated)
	legal := f.client("192.0.2.112")
	legal.mustLogin("lee")
	wantStatus(t, legal.postJSON(fmt.Sprintf("/api/cases/%d/approve", cs.ID), map[string]int{"revision": 2}), http.StatusOK)
	wantStatus(t, legal.postJSON("/api/logout", nil), http.StatusOK)

	// Only admins read the audit log.
	wantStatus(t, analyst.getJSON("/api/audit"), http.StatusForbidden)
	wantStatus(t, analyst.getJSON("/audit"), http.StatusForbidden)

	admin := f.client("192.0.2.113")
	admin.mustLogin("root")
	rec := admin.getJSON("/api/audit")
	wantStatus(t, rec, http.StatusOK)
	var a auditJSON
	decode(t, rec, &a)
	if !a.Verified || a.VerifyError != "" || a.VerifiedEvents != len(a.Events) {
		t.Fatalf("audit chain: verified=%v events=%d/%d err=%q", a.Verified, a.VerifiedEvents, len(a.Events), a.VerifyError)
	}
	var actions []string
	for i := len(a.Events) - 1; i >= 0; i-- {
		actions = append(actions, a.Events[i].Actor+":"+a.Events[i].Action)
	}
	want := []string{"root:login.failure", "alice:login.success", "alice:source.add", "lee:login.success",
		"lee:notice.approve.request", "lee:notice.approve", "lee:logout", "root:login.success"}
	if strings.Join(actions, " ") != strings.Join(want, " ") {
		t.Fatalf("audit trail\n got %v\nwant %v", actions, want)
	}
	for i := 1; i < len(a.Events); i++ {
		if a.Events[i-1].PrevHash != a.Events[i].Hash {
			t.Fatalf("event %d does not chain to %d", a.Events[i-1].ID, a.Events[i].ID)
		}
	}
	for _, e := range a.Events {
		if strings.Contains(e.Detail, "bad password") || strings.Contains(e.Detail, testPassword) {
			t.Fatalf("password in audit: %+v", e)
		}
	}
	n, err := f.store.VerifyAudit(context.Background())
	if err != nil || n != len(want) {
		t.Fatalf("VerifyAudit = %d, %v", n, err)
	}
	page := admin.getJSON("/audit?verify=1")
	wantStatus(t, page, http.StatusOK)
	if !strings.Contains(page.Body.String(), "Hash chain verified") || !strings.Contains(page.Body.String(), "notice.approve") {
		t.Fatalf("audit page: %s", page.Body)
	}
}

func TestMailbox(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("alice", storage.RoleAnalyst, false)
	c := f.client("192.0.2.120")
	c.mustLogin("alice")
	wantErrorJSON(t, c.getJSON("/api/mailbox"), http.StatusNotFound, "not found")
	wantStatus(t, c.getJSON("/mailbox"), http.StatusNotFound)
	if strings.Contains(c.getJSON("/").Body.String(), `href="/mailbox"`) {
		t.Fatal("mailbox link shown without a mailbox")
	}

	received := time.Date(2026, 1, 3, 4, 5, 6, 0, time.UTC)
	f2 := newFixture(t, func(o *Options) {
		o.Mailbox = staticMailbox{{From: "takedowns@leakwatch.test", To: []string{"abuse@leaks.example"},
			Subject: "Takedown <b>notice</b>", Received: received, Body: "Remove http://leaks.example/x"}}
	})
	f2.addUser("alice", storage.RoleAnalyst, false)
	c2 := f2.client("192.0.2.121")
	c2.mustLogin("alice")
	rec := c2.getJSON("/api/mailbox")
	wantStatus(t, rec, http.StatusOK)
	var msgs []mailJSON
	decode(t, rec, &msgs)
	if len(msgs) != 1 || msgs[0].Subject != "Takedown <b>notice</b>" || !msgs[0].Received.Equal(received) ||
		msgs[0].To[0] != "abuse@leaks.example" {
		t.Fatalf("mailbox %+v", msgs)
	}
	rec = c2.getJSON("/mailbox")
	wantStatus(t, rec, http.StatusOK)
	if body := rec.Body.String(); !strings.Contains(body, "Takedown &lt;b&gt;notice&lt;/b&gt;") ||
		!strings.Contains(body, "Remove http://leaks.example/x") {
		t.Fatalf("mailbox page: %s", body)
	}
	// Unauthenticated clients cannot read it.
	wantStatus(t, f2.client("192.0.2.122").getJSON("/api/mailbox"), http.StatusUnauthorized)
}

// staticMailbox is a Mailbox holding fixed messages.
type staticMailbox []MailMessage

func (m staticMailbox) Messages() []MailMessage { return m }

func TestClientIPBehindTrustedProxy(t *testing.T) {
	s := &Server{trustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
	req := func(remote, xff string) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		return r
	}
	cases := []struct{ remote, xff, want string }{
		{"192.0.2.1:1", "203.0.113.9", "192.0.2.1"},                     // untrusted peer: header ignored
		{"10.0.0.2:1", "203.0.113.9", "203.0.113.9"},                    // proxy: client from header
		{"10.0.0.2:1", "6.6.6.6, 203.0.113.9, 10.0.0.3", "203.0.113.9"}, // spoofed left entry ignored
		{"10.0.0.2:1", "", "10.0.0.2"},
		{"10.0.0.2:1", "garbage", "10.0.0.2"},
		{"[2001:db8::1]:1", "", "2001:db8::1"},
	}
	for _, tc := range cases {
		if got := s.clientIP(req(tc.remote, tc.xff)).String(); got != tc.want {
			t.Errorf("clientIP(%s, %q) = %s, want %s", tc.remote, tc.xff, got, tc.want)
		}
	}
}

func TestAttemptLimiter(t *testing.T) {
	l := newAttemptLimiter(2, time.Minute)
	t0 := time.Unix(1_700_000_000, 0)
	if ok, _ := l.allow("a", t0); !ok {
		t.Fatal("first attempt refused")
	}
	if ok, _ := l.allow("a", t0.Add(10*time.Second)); !ok {
		t.Fatal("second attempt refused")
	}
	ok, retry := l.allow("a", t0.Add(20*time.Second))
	if ok || retry != 40*time.Second {
		t.Fatalf("third attempt: ok=%v retry=%v, want false 40s", ok, retry)
	}
	if ok, _ := l.allow("b", t0.Add(20*time.Second)); !ok {
		t.Fatal("other key refused")
	}
	if ok, _ := l.allow("a", t0.Add(61*time.Second)); !ok {
		t.Fatal("attempt after the oldest left the window refused")
	}
	l.allow("z", t0.Add(200*time.Second)) // triggers a sweep
	if _, ok := l.attempts["b"]; ok {
		t.Fatal("idle key not swept")
	}
}

func TestServeGracefulShutdown(t *testing.T) {
	f := newFixture(t, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.srv.Serve(ctx, ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve returned %v after shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after ctx ended")
	}
}

// TestUnknownUserCostsAHash guards the timing oracle: a login for a name that
// does not exist must run argon2id like one for a real user with a wrong
// password. Compared by ratio (min of several runs), not absolute time.
func TestUnknownUserCostsAHash(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxLoginFailures = 100; o.LoginAttemptsPerMinute = 100 })
	f.addUser("alice", storage.RoleAnalyst, false)
	c := f.client("192.0.2.130")
	minOf := func(user string) time.Duration {
		best := time.Hour
		for range 5 {
			start := time.Now()
			wantStatus(t, c.apiLogin(user, "wrong password 42", ""), http.StatusUnauthorized)
			best = min(best, time.Since(start))
		}
		return best
	}
	known, unknown := minOf("alice"), minOf("nobody-here")
	if unknown < known/2 {
		t.Fatalf("unknown user took %v, known user %v: the dummy hash did not run", unknown, known)
	}
}

// TestDashboardTelegramAlerts: a dead or flood-waiting Telegram account is
// an alert on the dashboard, naming the fix; a healthy one is not, and no
// phone number or session reaches the page.
func TestDashboardTelegramAlerts(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	for _, a := range []struct {
		name string
		st   storage.TelegramStatus
	}{{"mon-dead", storage.TelegramDead}, {"mon-ok", storage.TelegramOK}, {"mon-wait", storage.TelegramFloodWait}} {
		if err := f.store.EnsureTelegramAccount(ctx, a.name, "+447700900555"); err != nil {
			t.Fatal(err)
		}
		if err := f.store.SaveTelegramSession(ctx, a.name, []byte("sealed-session-bytes")); err != nil {
			t.Fatal(err)
		}
		until := time.Now().Add(time.Hour)
		if err := f.store.SetTelegramStatus(ctx, a.name, a.st, "SESSION_REVOKED", &until, 0); err != nil {
			t.Fatal(err)
		}
	}
	f.addUser("ana", storage.RoleAnalyst, false)
	c := f.client("192.0.2.60")
	wantStatus(t, uiLogin(t, c, "ana", testPassword, ""), http.StatusSeeOther)
	body := c.getJSON("/").Body.String()
	for _, want := range []string{"mon-dead", "session dead (SESSION_REVOKED)", "leakwatch telegram login --account mon-dead", "mon-wait", "asked it to wait"} {
		if !strings.Contains(body, want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	for _, leak := range []string{"mon-ok", "+447700900555", "0555", "sealed-session"} {
		if strings.Contains(body, leak) {
			t.Errorf("dashboard shows %q", leak)
		}
	}
}
