package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// bearer sends a request with only an API token: no cookie, no CSRF token.
func (f *fixture) bearer(tok, method, path, body string) *httptest.ResponseRecorder {
	f.t.Helper()
	c := f.client("192.0.2.200")
	hdr := map[string]string{"Authorization": "Bearer " + tok}
	var rd *strings.Reader
	if body != "" {
		hdr["Content-Type"] = "application/json"
		rd = strings.NewReader(body)
	} else {
		rd = strings.NewReader("")
	}
	return c.do(method, path, rd, hdr)
}

// createToken has admin client c create a token through the API.
func createToken(t *testing.T, c *client, user, name, expires string) createdTokenJSON {
	t.Helper()
	rec := c.postJSON("/api/v1/tokens", map[string]string{"user": user, "name": name, "expires": expires})
	wantStatus(t, rec, http.StatusCreated)
	var out createdTokenJSON
	decode(t, rec, &out)
	if !regexp.MustCompile(`^lw_[A-Za-z0-9_-]{43}$`).MatchString(out.Token) || out.User != user || out.Name != name {
		t.Fatalf("created token %+v", out)
	}
	return out
}

func TestAPITokenAuth(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("root", storage.RoleAdmin, false)
	ana, _ := f.addUser("ana", storage.RoleAnalyst, false)
	admin := f.client("192.0.2.90")
	admin.mustLogin("root")

	tok := createToken(t, admin, "ana", "ci export", "")
	if ev := f.findAudit("api_token.create"); ev.Actor != "root" || !strings.Contains(ev.Detail, "user=ana") ||
		strings.Contains(ev.Detail, tok.Token) {
		t.Fatalf("create audit %+v", ev)
	}

	// It reads as ana, and writes without any CSRF token.
	rec := f.bearer(tok.Token, http.MethodGet, "/api/v1/me", "")
	wantStatus(t, rec, http.StatusOK)
	var me loginResponse
	decode(t, rec, &me)
	if me.Username != "ana" || me.Role != storage.RoleAnalyst {
		t.Fatalf("me via token = %+v", me)
	}
	wantStatus(t, f.bearer(tok.Token, http.MethodPost, "/api/v1/sources", `{"name":"forum-t","url":"https://t.example/"}`),
		http.StatusCreated)
	if ev := f.findAudit("source.add"); ev.Actor != "ana" {
		t.Errorf("source added via token audited as %q", ev.Actor)
	}
	// A token has no session to log out of.
	wantErrorJSON(t, f.bearer(tok.Token, http.MethodPost, "/api/v1/logout", ""), http.StatusBadRequest, "revokes")
	wantStatus(t, f.bearer(tok.Token, http.MethodGet, "/api/v1/me", ""), http.StatusOK)
	// The old /api paths take tokens too.
	wantStatus(t, f.bearer(tok.Token, http.MethodGet, "/api/hits", ""), http.StatusOK)

	// Never more than the owner's role.
	for _, p := range []struct{ method, path, body string }{
		{http.MethodGet, "/api/v1/audit", ""},
		{http.MethodGet, "/api/v1/tokens", ""},
		{http.MethodPost, "/api/v1/tokens", `{"user":"root","name":"escalate"}`},
		{http.MethodDelete, "/api/v1/sources/1", ""},
	} {
		wantErrorJSON(t, f.bearer(tok.Token, p.method, p.path, p.body), http.StatusForbidden, "role")
	}
	// Tokens are for the API: a page asked with one is a page asked by nobody.
	if rec := f.bearer(tok.Token, http.MethodGet, "/hits", ""); rec.Code != http.StatusSeeOther ||
		!strings.HasPrefix(rec.Header().Get("Location"), "/login") {
		t.Fatalf("page with a bearer token: %d %s", rec.Code, rec.Header().Get("Location"))
	}

	// Garbage, a different scheme, and a token for an API with a session
	// cookie: all refused, the header wins over the cookie.
	for _, h := range []string{"Bearer lw_nope", "Bearer " + strings.TrimPrefix(tok.Token, "lw_"), "Basic " + tok.Token, "Bearer"} {
		c := f.client("192.0.2.201")
		wantErrorJSON(t, c.do(http.MethodGet, "/api/v1/me", nil, map[string]string{"Authorization": h}),
			http.StatusUnauthorized, "authentication")
	}
	wantErrorJSON(t, admin.do(http.MethodGet, "/api/v1/me", nil, map[string]string{"Authorization": "Bearer lw_nope"}),
		http.StatusUnauthorized, "authentication")
	// A proxy's Basic auth is not ours: the session cookie still counts.
	wantStatus(t, admin.do(http.MethodGet, "/api/v1/me", nil, map[string]string{"Authorization": "Basic cm9vdDp4"}), http.StatusOK)

	// Last use is recorded.
	info, err := f.store.APITokenByID(context.Background(), tok.ID)
	if err != nil || info.LastUsedAt == nil {
		t.Fatalf("last use not recorded: %+v %v", info, err)
	}

	// A disabled owner's tokens stop working, and work again once enabled.
	setDisabled := func(v bool) {
		t.Helper()
		if err := f.store.DB().Model(&storage.User{}).Where("id = ?", ana.ID).Update("disabled", v).Error; err != nil {
			t.Fatal(err)
		}
	}
	setDisabled(true)
	wantStatus(t, f.bearer(tok.Token, http.MethodGet, "/api/v1/me", ""), http.StatusUnauthorized)
	setDisabled(false)
	wantStatus(t, f.bearer(tok.Token, http.MethodGet, "/api/v1/me", ""), http.StatusOK)

	// Revoked: 401 for good.
	rec = admin.send(http.MethodDelete, "/api/v1/tokens/"+itoa(tok.ID), "")
	wantStatus(t, rec, http.StatusOK)
	var revoked apiTokenJSON
	decode(t, rec, &revoked)
	if revoked.RevokedAt == nil {
		t.Fatalf("revoke answer %+v", revoked)
	}
	wantStatus(t, f.bearer(tok.Token, http.MethodGet, "/api/v1/me", ""), http.StatusUnauthorized)
	wantErrorJSON(t, admin.send(http.MethodDelete, "/api/v1/tokens/"+itoa(tok.ID), ""), http.StatusConflict, "already")
	wantStatus(t, admin.send(http.MethodDelete, "/api/v1/tokens/9999", ""), http.StatusNotFound)
	if ev := f.findAudit("api_token.revoke"); ev.Actor != "root" || ev.Object != "api_token/"+itoa(tok.ID) {
		t.Fatalf("revoke audit %+v", ev)
	}

	// Expired: works until its time, then 401.
	short := createToken(t, admin, "ana", "short", "1d")
	f.clock.advance(23 * time.Hour)
	wantStatus(t, f.bearer(short.Token, http.MethodGet, "/api/v1/me", ""), http.StatusOK)
	f.clock.advance(2 * time.Hour)
	wantStatus(t, f.bearer(short.Token, http.MethodGet, "/api/v1/me", ""), http.StatusUnauthorized)

	// The list shows both, never the token itself (the admin's session
	// expired meanwhile).
	admin.mustLogin("root")
	rec = admin.getJSON("/api/v1/tokens")
	wantStatus(t, rec, http.StatusOK)
	if strings.Contains(rec.Body.String(), tok.Token) || strings.Contains(rec.Body.String(), short.Token) {
		t.Fatal("token list shows a token")
	}
	var list listJSON[apiTokenJSON]
	decode(t, rec, &list)
	if len(list.Items) != 2 || list.Items[0].ID != short.ID || list.Items[1].RevokedAt == nil {
		t.Fatalf("token list %+v", list)
	}

	// Bad requests.
	wantErrorJSON(t, admin.postJSON("/api/v1/tokens", map[string]string{"user": "nobody", "name": "x"}),
		http.StatusBadRequest, "user")
	wantErrorJSON(t, admin.postJSON("/api/v1/tokens", map[string]string{"user": "ana", "name": " "}),
		http.StatusBadRequest, "name")
	wantErrorJSON(t, admin.postJSON("/api/v1/tokens", map[string]string{"user": "ana", "name": "x", "expires": "soon"}),
		http.StatusBadRequest, "expiry")
	wantErrorJSON(t, admin.postJSON("/api/v1/tokens", map[string]string{"user": "ana", "name": "x", "role": "admin"}),
		http.StatusBadRequest, `unknown field "role"`)
}

// An admin token may create tokens; an analyst's session may not.
func TestAPITokensAdminOnly(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("root", storage.RoleAdmin, false)
	f.addUser("ana", storage.RoleAnalyst, false)
	f.addUser("lee", storage.RoleLegal, false)
	admin := f.client("192.0.2.91")
	admin.mustLogin("root")
	adminTok := createToken(t, admin, "root", "automation", "")
	rec := f.bearer(adminTok.Token, http.MethodPost, "/api/v1/tokens", `{"user":"ana","name":"via token"}`)
	wantStatus(t, rec, http.StatusCreated)
	for _, user := range []string{"ana", "lee"} {
		c := f.client("192.0.2.92")
		c.mustLogin(user)
		wantStatus(t, c.getJSON("/api/v1/tokens"), http.StatusForbidden)
		wantStatus(t, c.postJSON("/api/v1/tokens", map[string]string{"user": user, "name": "mine"}), http.StatusForbidden)
		wantStatus(t, c.getJSON("/admin/tokens"), http.StatusForbidden)
	}
}

func TestAdminTokensPage(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("root", storage.RoleAdmin, false)
	f.addUser("ana", storage.RoleAnalyst, false)
	admin := f.client("192.0.2.93")
	admin.mustLogin("root")

	rec := admin.getJSON("/admin/tokens")
	wantStatus(t, rec, http.StatusOK)
	if body := rec.Body.String(); !strings.Contains(body, "Create a token") || !strings.Contains(body, `value="ana"`) {
		t.Fatalf("tokens page:\n%s", body)
	}
	form := url.Values{"csrf_token": {admin.csrf}, "user": {"ana"}, "name": {"<b>SIEM</b>"}, "expires": {"90d"}}
	rec = admin.postForm("/admin/tokens", form)
	wantStatus(t, rec, http.StatusOK)
	body := rec.Body.String()
	tok := regexp.MustCompile(`lw_[A-Za-z0-9_-]{43}`).FindString(body)
	if tok == "" || !strings.Contains(body, "shown only this once") || strings.Contains(body, "<b>SIEM</b>") {
		t.Fatalf("created page:\n%s", body)
	}
	wantStatus(t, f.bearer(tok, http.MethodGet, "/api/v1/me", ""), http.StatusOK)
	// Shown once: the page afterwards lists it without the token.
	if body := admin.getJSON("/admin/tokens").Body.String(); strings.Contains(body, tok) || !strings.Contains(body, "&lt;b&gt;SIEM&lt;/b&gt;") {
		t.Fatalf("token page after creation:\n%s", body)
	}

	// Without the CSRF token nothing is created.
	delete(form, "csrf_token")
	wantStatus(t, admin.postForm("/admin/tokens", form), http.StatusForbidden)
	form.Set("csrf_token", admin.csrf)
	form.Set("user", "nobody")
	if rec := admin.postForm("/admin/tokens", form); rec.Code != http.StatusBadRequest ||
		!strings.Contains(rec.Body.String(), "enabled user") {
		t.Fatalf("token for unknown user: %d %s", rec.Code, rec.Body)
	}

	ts, err := f.store.ListAPITokens(context.Background())
	if err != nil || len(ts) != 1 {
		t.Fatalf("tokens %+v %v", ts, err)
	}
	rec = admin.postForm("/admin/tokens/"+itoa(ts[0].ID)+"/revoke", url.Values{"csrf_token": {admin.csrf}})
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), "Token revoked") {
		t.Fatalf("revoke page:\n%s", rec.Body)
	}
	wantStatus(t, f.bearer(tok, http.MethodGet, "/api/v1/me", ""), http.StatusUnauthorized)
	if n := f.countAudit("api_token.revoke"); n != 1 {
		t.Fatalf("%d revoke audits", n)
	}
}

func itoa(id uint64) string { b, _ := json.Marshal(id); return string(b) }
