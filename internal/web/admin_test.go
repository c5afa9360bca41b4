package web

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// The admin screens and endpoints refuse analysts and lawyers with 403.
func TestAdminScreensAreAdminOnly(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("ana", storage.RoleAnalyst, false)
	f.addUser("lee", storage.RoleLegal, false)
	target, _ := f.addUser("bob", storage.RoleAnalyst, false)
	for _, name := range []string{"ana", "lee"} {
		c := f.client("192.0.2.120")
		c.mustLogin(name)
		for _, p := range []string{"/admin/users", fmt.Sprintf("/admin/users/%d", target.ID), "/audit", "/audit/export?format=csv",
			"/api/users", "/api/audit", "/api/audit/verify", "/api/audit/export?format=json"} {
			if rec := c.getJSON(p); rec.Code != http.StatusForbidden {
				t.Errorf("%s GET %s: %d, want 403", name, p, rec.Code)
			}
		}
		for _, p := range []string{"/api/users", fmt.Sprintf("/api/users/%d/unlock", target.ID), fmt.Sprintf("/api/users/%d/disable", target.ID)} {
			if rec := c.postJSON(p, map[string]string{"username": "x", "role": "admin"}); rec.Code != http.StatusForbidden {
				t.Errorf("%s POST %s: %d, want 403", name, p, rec.Code)
			}
		}
		form := url.Values{"csrf_token": {c.csrf}, "username": {"x"}, "role": {"admin"}}
		if rec := c.postForm("/admin/users", form); rec.Code != http.StatusForbidden {
			t.Errorf("%s POST /admin/users: %d, want 403", name, rec.Code)
		}
		if rec := c.postForm(fmt.Sprintf("/admin/users/%d/disable", target.ID), form); rec.Code != http.StatusForbidden {
			t.Errorf("%s POST disable: %d, want 403", name, rec.Code)
		}
	}
	if _, err := f.store.UserByUsername(context.Background(), "x"); err == nil {
		t.Fatal("a refused request created a user")
	}
	if u, _ := f.store.UserByID(context.Background(), target.ID); u.Disabled {
		t.Fatal("a refused request disabled a user")
	}
}

var tempPasswordRe = regexp.MustCompile(`<code class="secret">([A-Za-z0-9]{20})</code>`)

// An admin creates a user with a temporary password, changes their role,
// resets their password and MFA, disables and enables them, and ends their
// sessions; each step audited, the user's sessions ended where it matters.
func TestAdminUserLifecycle(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("root", storage.RoleAdmin, false)
	admin := f.client("192.0.2.130")
	admin.mustLogin("root")
	rec := admin.getJSON("/admin/users")
	wantStatus(t, rec, http.StatusOK)
	csrf := extractCSRF(t, rec.Body.String())

	rec = admin.postForm("/admin/users", url.Values{"csrf_token": {csrf}, "username": {"newbie"}, "role": {"legal"}})
	wantStatus(t, rec, http.StatusOK)
	m := tempPasswordRe.FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("no temporary password shown:\n%s", rec.Body)
	}
	pw := m[1]
	if ev := f.findAudit("user.created"); ev.Actor != "root" || ev.Object != "user/newbie" || strings.Contains(ev.Detail, pw) {
		t.Fatalf("create audit %+v", ev)
	}
	// A duplicate name is refused with a message.
	rec = admin.postForm("/admin/users", url.Values{"csrf_token": {csrf}, "username": {"newbie"}, "role": {"analyst"}})
	wantStatus(t, rec, http.StatusUnprocessableEntity)
	if !strings.Contains(rec.Body.String(), "already a user called newbie") {
		t.Fatalf("duplicate message missing:\n%s", rec.Body)
	}
	u, err := f.store.UserByUsername(context.Background(), "newbie")
	if err != nil || u.Role != storage.RoleLegal {
		t.Fatalf("created %+v, %v", u, err)
	}

	// The new lawyer logs in with the temporary password (MFA enrolment
	// pending); a role change ends that session.
	nb := f.client("192.0.2.131")
	rec = nb.apiLogin("newbie", pw, "")
	wantStatus(t, rec, http.StatusOK)
	var lr loginResponse
	decode(t, rec, &lr)
	if !lr.MFAEnrolmentRequired {
		t.Fatal("a new lawyer's login does not say MFA enrolment is required")
	}
	rec = admin.postForm(fmt.Sprintf("/admin/users/%d/role", u.ID), url.Values{"csrf_token": {csrf}, "role": {"analyst"}})
	wantStatus(t, rec, http.StatusOK)
	wantStatus(t, nb.getJSON("/api/me"), http.StatusUnauthorized)
	if ev := f.findAudit("user.role_changed"); !strings.Contains(ev.Detail, "from=legal to=analyst") || !strings.Contains(ev.Detail, "sessions-ended=1") {
		t.Fatalf("role audit %+v", ev)
	}

	// Reset password: a new temporary password, the old one stops working.
	wantStatus(t, nb.apiLogin("newbie", pw, ""), http.StatusOK)
	rec = admin.postForm(fmt.Sprintf("/admin/users/%d/reset-password", u.ID), url.Values{"csrf_token": {csrf}})
	wantStatus(t, rec, http.StatusOK)
	m = tempPasswordRe.FindStringSubmatch(rec.Body.String())
	if m == nil || m[1] == pw {
		t.Fatalf("no new temporary password:\n%s", rec.Body)
	}
	wantStatus(t, nb.getJSON("/api/me"), http.StatusUnauthorized)
	wantStatus(t, f.client("192.0.2.132").apiLogin("newbie", pw, ""), http.StatusUnauthorized)
	pw = m[1]
	wantStatus(t, nb.apiLogin("newbie", pw, ""), http.StatusOK)

	// Disable: the session ends and login fails with the generic error.
	wantStatus(t, admin.postJSON(fmt.Sprintf("/api/users/%d/disable", u.ID), nil), http.StatusOK)
	wantStatus(t, nb.getJSON("/api/me"), http.StatusUnauthorized)
	wantErrorJSON(t, nb.apiLogin("newbie", pw, ""), http.StatusUnauthorized, genericLoginError)
	wantStatus(t, admin.postJSON(fmt.Sprintf("/api/users/%d/enable", u.ID), nil), http.StatusOK)
	wantStatus(t, nb.apiLogin("newbie", pw, ""), http.StatusOK)

	// Reset MFA (the API): secret and recovery codes gone, sessions ended.
	if err := f.store.EnrolTOTP(context.Background(), u.ID, "JBSWY3DPEHPK3PXP", 1, []string{"h"}); err != nil {
		t.Fatal(err)
	}
	rec = admin.postJSON(fmt.Sprintf("/api/users/%d/reset-mfa", u.ID), nil)
	wantStatus(t, rec, http.StatusOK)
	var res userActionResult
	decode(t, rec, &res)
	if res.User.MFAEnrolled || res.SessionsEnded != 1 {
		t.Fatalf("reset-mfa answer %+v", res)
	}
	wantStatus(t, nb.getJSON("/api/me"), http.StatusUnauthorized)
	f.findAudit("user.mfa_reset")

	// Log out everywhere, for someone else.
	wantStatus(t, nb.apiLogin("newbie", pw, ""), http.StatusOK)
	wantStatus(t, admin.postForm(fmt.Sprintf("/admin/users/%d/logout-all", u.ID), url.Values{"csrf_token": {csrf}}), http.StatusOK)
	wantStatus(t, nb.getJSON("/api/me"), http.StatusUnauthorized)
	if ev := f.findAudit("sessions.ended"); ev.Actor != "root" || ev.Object != "user/newbie" {
		t.Fatalf("logout-all audit %+v", ev)
	}

	// Without CSRF token nothing happens.
	wantStatus(t, admin.postForm(fmt.Sprintf("/admin/users/%d/disable", u.ID), url.Values{}), http.StatusForbidden)
	// Admins cannot lock themselves out by a slip.
	root, _ := f.store.UserByUsername(context.Background(), "root")
	wantErrorJSON(t, admin.postJSON(fmt.Sprintf("/api/users/%d/disable", root.ID), nil), http.StatusUnprocessableEntity, "yourself")
	wantErrorJSON(t, admin.postJSON("/api/users/99999/disable", nil), http.StatusNotFound, "not found")
	wantErrorJSON(t, admin.postJSON(fmt.Sprintf("/api/users/%d/promote", u.ID), nil), http.StatusUnprocessableEntity, "unknown action")

	// The API creates users too, with a chosen password checked by policy.
	wantErrorJSON(t, admin.postJSON("/api/users", newUserRequest{Username: "x", Role: "analyst", Password: "short"}),
		http.StatusUnprocessableEntity, "too short")
	rec = admin.postJSON("/api/users", newUserRequest{Username: "api-made", Role: "analyst", Password: testPassword})
	wantStatus(t, rec, http.StatusCreated)
	decode(t, rec, &res)
	if res.User.Username != "api-made" || res.TemporaryPassword != "" {
		t.Fatalf("create answer %+v", res)
	}
	var rows []userRow
	rec = admin.getJSON("/api/users")
	wantStatus(t, rec, http.StatusOK)
	decode(t, rec, &rows)
	if len(rows) != 3 {
		t.Fatalf("users %+v", rows)
	}
	page := admin.getJSON("/admin/users").Body.String()
	for _, want := range []string{"newbie", "api-made", "Add a user"} {
		if !strings.Contains(page, want) {
			t.Errorf("users page lacks %q", want)
		}
	}
}

// The audit log filters by actor, action prefix, object and date, pages,
// exports CSV (formula cells defused) and JSON, and checks the chain.
func TestAuditFiltersExportAndVerify(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("root", storage.RoleAdmin, false)
	f.addUser("ana", storage.RoleAnalyst, false)
	ctx := context.Background()
	for i := range 5 {
		if err := f.store.Audit(ctx, "ana", "source.add", fmt.Sprintf("source/%d", i), "=HYPERLINK(\"x\")"); err != nil {
			t.Fatal(err)
		}
	}
	admin := f.client("192.0.2.140")
	admin.mustLogin("root")

	// The API pages with a cursor; action filters by prefix.
	var out auditListJSON
	rec := admin.getJSON("/api/v1/audit?actor=ana&action=source.&limit=2")
	wantStatus(t, rec, http.StatusOK)
	decode(t, rec, &out)
	if len(out.Items) != 2 || out.Items[0].Object != "source/4" || out.NextCursor == "" || out.Chain == nil || !out.Chain.Verified {
		t.Fatalf("first page %+v", out)
	}
	rec = admin.getJSON("/api/v1/audit?actor=ana&action=source.&limit=10&cursor=" + out.NextCursor)
	out = auditListJSON{}
	decode(t, rec, &out)
	if len(out.Items) != 3 || out.Items[0].Object != "source/2" || out.NextCursor != "" {
		t.Fatalf("second page %+v", out)
	}
	out = auditListJSON{}
	decode(t, admin.getJSON("/api/v1/audit?object=source/3"), &out)
	if len(out.Items) != 1 {
		t.Fatalf("object filter %+v", out)
	}
	today := f.clock.now().UTC().Truncate(24 * time.Hour)
	for q, want := range map[string]int{
		"since=2000-01-01T00:00:00Z&until=2000-12-31T00:00:00Z":                                                    0,
		"actor=ana&since=" + today.Format(time.RFC3339) + "&until=" + today.Add(24*time.Hour).Format(time.RFC3339): 5,
	} {
		out = auditListJSON{}
		decode(t, admin.getJSON("/api/v1/audit?"+q), &out)
		if len(out.Items) != want {
			t.Errorf("%s: %d events, want %d", q, len(out.Items), want)
		}
	}
	wantErrorJSON(t, admin.getJSON("/api/v1/audit?since=yesterday"), http.StatusBadRequest, "since")

	rec = admin.getJSON("/audit/export?format=csv&actor=ana")
	wantStatus(t, rec, http.StatusOK)
	if cd := rec.Header().Get("Content-Disposition"); !strings.Contains(cd, "attachment") {
		t.Fatalf("Content-Disposition %q", cd)
	}
	rows, err := csv.NewReader(strings.NewReader(rec.Body.String())).ReadAll()
	if err != nil || len(rows) != 6 || rows[0][2] != "actor" || rows[1][5] != "'=HYPERLINK(\"x\")" {
		t.Fatalf("CSV %v, %v", rows, err)
	}
	var js []auditEventJSON
	rec = admin.getJSON("/api/audit/export?format=json&object=source/1")
	decode(t, rec, &js)
	if len(js) != 1 || js[0].Object != "source/1" {
		t.Fatalf("JSON export %+v", js)
	}
	if ev := f.findAudit("audit.exported"); ev.Actor != "root" || !strings.Contains(ev.Detail, "format=json") {
		t.Fatalf("export audit %+v", ev)
	}

	page := admin.getJSON("/audit?actor=ana").Body.String()
	if strings.Contains(page, "Hash chain verified") || !strings.Contains(page, "source/4") || strings.Contains(page, "login.success") {
		t.Fatalf("filtered page wrong:\n%s", page)
	}
	if !strings.Contains(page, `href="/audit/export?actor=ana&amp;format=csv"`) {
		t.Fatalf("export link does not carry the filter:\n%s", page)
	}
	if page := admin.getJSON("/audit?verify=1").Body.String(); !strings.Contains(page, "Hash chain verified") {
		t.Fatalf("verify button result missing:\n%s", page)
	}
	var v auditVerifyJSON
	decode(t, admin.getJSON("/api/audit/verify"), &v)
	if !v.Verified || v.VerifiedEvents < 7 {
		t.Fatalf("verify %+v", v)
	}
}
