package web

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/leakwatch/leakwatch/storage"
)

// Every API row of the table is served under /api/v1 by the same handler,
// and the old /api paths keep working.
func TestAPIV1MirrorsEveryAPIRoute(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Mailbox = stubMailbox{} })
	all := f.srv.allRoutes()
	for _, rt := range f.srv.authedRoutes() {
		if rt.surf != surfaceAPI {
			continue
		}
		if !strings.HasPrefix(rt.pattern, "/api/") || strings.HasPrefix(rt.pattern, apiV1+"/") {
			t.Errorf("API route %s %s is not under /api/ (or is already versioned)", rt.method, rt.pattern)
		}
		i := slices.IndexFunc(all, func(v route) bool { return v.method == rt.method && v.pattern == v1Pattern(rt.pattern) })
		if i < 0 {
			t.Errorf("%s %s has no /api/v1 twin", rt.method, rt.pattern)
			continue
		}
		if v := all[i]; v.perm != rt.perm || v.surf != surfaceAPI {
			t.Errorf("%s %s: twin has permission %v surface %v", rt.method, v.pattern, v.perm, v.surf)
		}
	}

	f.addUser("ana", storage.RoleAnalyst, false)
	c := f.client("192.0.2.120")
	rec := c.postJSON("/api/v1/login", map[string]string{"username": "ana", "password": testPassword})
	wantStatus(t, rec, http.StatusOK)
	var res loginResponse
	decode(t, rec, &res)
	c.csrf = res.CSRFToken
	for _, p := range []string{"/api/v1/me", "/api/me", "/api/v1/status", "/api/v1/mailbox"} {
		wantStatus(t, c.getJSON(p), http.StatusOK)
	}
	// Unknown paths under /api/v1 are JSON 404s, signed in or not.
	for _, cl := range []*client{c, f.client("192.0.2.121")} {
		for _, p := range []string{"/api/v1/nope", "/api/v1/", "/api/v2/me", "/api/v1/cases/1/nope"} {
			wantErrorJSON(t, cl.getJSON(p), http.StatusNotFound, "not found")
		}
	}
	wantErrorJSON(t, f.client("192.0.2.122").getJSON("/api/v1/me"), http.StatusUnauthorized, "authentication")
	// A method a path does not take is a JSON 405 naming the ones it does.
	rec = c.do(http.MethodPut, "/api/v1/sources/1", strings.NewReader("{}"), map[string]string{"Content-Type": "application/json"})
	wantErrorJSON(t, rec, http.StatusMethodNotAllowed, "GET, PATCH, DELETE")
	if got := rec.Header().Get("Allow"); got != "GET, PATCH, DELETE" {
		t.Errorf("Allow: %q", got)
	}
	wantErrorJSON(t, c.do(http.MethodDelete, "/api/cases", nil, nil), http.StatusMethodNotAllowed, "takes GET")
	wantStatus(t, c.postJSON("/api/v1/logout", nil), http.StatusOK)
	wantStatus(t, c.getJSON("/api/v1/me"), http.StatusUnauthorized)
}

type stubMailbox struct{}

func (stubMailbox) Messages() []MailMessage { return nil }

// Bodies are strict: unknown fields and trailing data are 400s that say
// what was wrong.
func TestAPIRejectsUnknownFields(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("root", storage.RoleAdmin, false)
	c := f.client("192.0.2.123")
	for _, tc := range []struct{ path, body, want string }{
		{"/api/v1/login", `{"username":"root","password":"x","admin":true}`, `unknown field "admin"`},
		{"/api/login", `{"username":"root","password":"x","Totp2":"1"}`, `unknown field "Totp2"`},
		{"/api/v1/login", `{"username":"root","password":"x"} {"username":"root"}`, "more than one JSON value"},
		{"/api/v1/login", `{"username":"root","password":"x"}garbage`, "more than one JSON value"},
		{"/api/v1/login", `{"username":1}`, "username"},
	} {
		rec := c.do(http.MethodPost, tc.path, strings.NewReader(tc.body), map[string]string{"Content-Type": "application/json"})
		wantErrorJSON(t, rec, http.StatusBadRequest, tc.want)
	}
	if n := f.countAudit("login.success") + f.countAudit("login.failure"); n != 0 {
		t.Fatalf("%d logins attempted from refused bodies", n)
	}
	c.mustLogin("root")
	cs := f.seedCase("strict.example")
	for _, tc := range []struct{ path, body, want string }{
		{"/api/v1/sources", `{"name":"a","url":"https://a.example/","colour":"red"}`, `unknown field "colour"`},
		{"/api/v1/cases/" + itoa(cs.ID) + "/approve", `{"revision":2,"force":true}`, `unknown field "force"`},
		{"/api/v1/cases/" + itoa(cs.ID) + "/triage", `{"item_ids":[1],"decision":"confirm","why":"x"}`, `unknown field "why"`},
		{"/api/v1/tokens", `{"user":"root","name":"x","scope":"all"}`, `unknown field "scope"`},
	} {
		wantErrorJSON(t, c.send(http.MethodPost, tc.path, tc.body), http.StatusBadRequest, tc.want)
	}
	if calls := f.cases.recorded(); len(calls) != 0 {
		t.Fatalf("approve ran on a refused body: %+v", calls)
	}
}

// Unknown filters, filter values and paging parameters are 400s listing
// what is allowed, never silently ignored.
func TestAPIListParametersAreChecked(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("root", storage.RoleAdmin, false)
	c := f.client("192.0.2.124")
	c.mustLogin("root")
	for _, base := range []string{"/api/v1", "/api"} {
		for _, tc := range []struct{ path, want string }{
			{"/hits?state=bogus", "unknown state \"bogus\"; one of: pending, new, confirmed, dismissed, removed"},
			{"/hits?method=md5", "one of: sha256, text-sha256"},
			{"/hits?source=abc", "source must be a positive integer"},
			{"/hits?case=0", "case must be a positive integer"},
			{"/hits?sort=id", "unknown query parameter \"sort\"; allowed: limit, cursor, state, method, source, target, case"},
			{"/hits?state=new&state=confirmed", "more than once"},
			{"/hits?limit=0", "limit must be an integer from 1 to 500"},
			{"/hits?limit=501", "limit must be an integer from 1 to 500"},
			{"/hits?limit=ten", "limit must be"},
			{"/hits?cursor=bogus", "cursor"},
			{"/hits?cursor=" + encodeCursor(1)[:4], "cursor"},
			{"/cases?state=bogus", "unknown state \"bogus\"; one of: detected, triaged"},
			{"/cases?owner=me", "unknown query parameter \"owner\""},
			{"/captures?run=-1", "run must be a positive integer"},
			{"/captures?state=new", "unknown query parameter \"state\""},
			{"/sources?kind=ftp", "unknown kind \"ftp\"; one of: forum"},
			{"/audit?since=yesterday", "since must be an RFC 3339 time"},
			{"/audit?until=2026-13-01T00:00:00Z", "until must be an RFC 3339 time"},
			{"/audit?user=root", "unknown query parameter \"user\"; allowed: limit, cursor, actor, action, object, since, until"},
			{"/tokens?limit=5", "this endpoint takes none"},
			{"/users?role=admin", "this endpoint takes none"},
			{"/audit/verify?full=1", "this endpoint takes none"},
			{"/audit/export?format=csv&since=2026-01-01", "unknown query parameter \"since\""},
			{"/account?x=1", "this endpoint takes none"},
			{"/account/mfa?x=1", "this endpoint takes none"},
			{"/cases/1?bodies=yes", "bodies must be 0 or 1"},
			{"/cases/1?body=1", "unknown query parameter \"body\"; allowed: bodies"},
		} {
			wantErrorJSON(t, c.getJSON(base+tc.path), http.StatusBadRequest, tc.want)
		}
	}
}

// Paging with a small limit walks every item of every list exactly once,
// newest first, and the last page has no cursor.
func TestAPIPagingWalksEveryItemOnce(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("root", storage.RoleAdmin, false)
	c := f.client("192.0.2.125")
	c.mustLogin("root")
	for i := range 7 {
		f.seedCase(fmt.Sprintf("host%d.example", i))
	}
	ctx := context.Background()
	counts, err := f.store.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := f.store.ListSources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	audit := len(f.auditActions())
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/api/v1/hits", int(counts.Hits)},
		{"/api/v1/cases", int(counts.Cases)},
		{"/api/v1/captures", int(counts.Captures)},
		{"/api/v1/sources", len(srcs)},
		{"/api/v1/audit", audit},
		{"/api/v1/hits?target=host3.example", 1},
		{"/api/v1/hits?state=pending&method=sha256", int(counts.Hits)},
		{"/api/v1/hits?state=confirmed", 0},
		{"/api/v1/cases?state=drafted", 7},
		{"/api/v1/cases?target=host3.example", 1},
		{"/api/v1/captures?source=" + itoa(srcs[0].ID), 1},
		{"/api/v1/audit?actor=root&action=login.success", 1},
	} {
		t.Run(tc.path, func(t *testing.T) {
			if tc.want == 0 && !strings.Contains(tc.path, "confirmed") {
				t.Fatal("nothing seeded to page through")
			}
			sep := "?"
			if strings.Contains(tc.path, "?") {
				sep = "&"
			}
			seen := map[uint64]bool{}
			var last uint64
			cursor, pages := "", 0
			for {
				pages++
				if pages > 50 {
					t.Fatal("paging does not end")
				}
				p := tc.path + sep + "limit=2"
				if cursor != "" {
					p += "&cursor=" + cursor
				}
				rec := c.getJSON(p)
				wantStatus(t, rec, http.StatusOK)
				var page listJSON[struct {
					ID uint64 `json:"id"`
				}]
				decode(t, rec, &page)
				if len(page.Items) > 2 {
					t.Fatalf("page of %d items with limit=2", len(page.Items))
				}
				for _, it := range page.Items {
					if seen[it.ID] {
						t.Fatalf("item %d on two pages", it.ID)
					}
					if last != 0 && it.ID >= last {
						t.Fatalf("item %d after %d: not newest first", it.ID, last)
					}
					seen[it.ID], last = true, it.ID
				}
				if page.NextCursor == "" {
					break
				}
				cursor = page.NextCursor
			}
			if len(seen) != tc.want {
				t.Fatalf("walked %d items, want %d", len(seen), tc.want)
			}
		})
	}
}

// The /api alias keeps its old shapes: bare arrays (audit: its object),
// the next page's cursor in a header.
func TestAPIAliasKeepsOldShapes(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("root", storage.RoleAdmin, false)
	c := f.client("192.0.2.126")
	c.mustLogin("root")
	c.mustLogin("root") // a second audit event, for a second page
	for i := range 3 {
		f.seedCase(fmt.Sprintf("alias%d.example", i))
	}
	rec := c.getJSON("/api/hits?limit=2")
	wantStatus(t, rec, http.StatusOK)
	var hits []hitJSON
	decode(t, rec, &hits)
	next := rec.Header().Get("Next-Cursor")
	if len(hits) != 2 || next == "" || hits[0].State != storage.HitStatePending || hits[0].SourceID == nil {
		t.Fatalf("alias hits %+v, next %q", hits, next)
	}
	decode(t, c.getJSON("/api/hits?limit=2&cursor="+next), &hits)
	if len(hits) != 1 {
		t.Fatalf("second page %+v", hits)
	}
	var aj auditJSON
	decode(t, c.getJSON("/api/audit"), &aj)
	if !aj.Verified || len(aj.Events) == 0 {
		t.Fatalf("alias audit %+v", aj)
	}
	var v1 auditListJSON
	decode(t, c.getJSON("/api/v1/audit?limit=1"), &v1)
	if v1.Chain == nil || !v1.Chain.Verified || len(v1.Items) != 1 || v1.NextCursor == "" {
		t.Fatalf("v1 audit %+v", v1)
	}
	var v1next auditListJSON
	decode(t, c.getJSON("/api/v1/audit?limit=1&cursor="+v1.NextCursor), &v1next)
	if v1next.Chain != nil || len(v1next.Items) != 1 || v1next.Items[0].ID >= v1.Items[0].ID {
		t.Fatalf("second page %+v; later audit pages verify the chain again", v1next)
	}
}
