package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/leakwatch/leakwatch/storage"
)

// send sends v (a string is sent as it is, anything else as JSON) with the
// client's CSRF token.
func (c *client) send(method, path string, v any) *httptest.ResponseRecorder {
	c.f.t.Helper()
	body, ok := v.(string)
	if !ok {
		b, err := json.Marshal(v)
		if err != nil {
			c.f.t.Fatal(err)
		}
		body = string(b)
	}
	hdr := map[string]string{"Content-Type": "application/json"}
	if c.csrf != "" {
		hdr["X-CSRF-Token"] = c.csrf
	}
	return c.do(method, path, strings.NewReader(body), hdr)
}

func sourcePath(id uint64, suffix string) string { return fmt.Sprintf("/api/sources/%d%s", id, suffix) }

// fullSource is a request with every setting.
func fullSource(name string) map[string]any {
	return map[string]any{
		"name": name, "kind": "forum", "url": "https://leaks.example/board/", "every": "6h",
		"selectors": map[string]string{"content": "div.post", "links": "a.thread", "next": "a.next", "files": "a.attach"},
		"allow":     []string{`^https://leaks\.example/`}, "deny": []string{"logout", `\?sort=`},
		"max_file_bytes": 1 << 20, "proxy": "socks5h://127.0.0.1:9050", "workers": 2, "rate": 0.5,
		"file_types": []string{"pdf", "zip"}, "watch_terms": []string{"Acme Health", "/acme-?portal/"},
		"login": map[string]string{"url": "https://leaks.example/login", "user": "watcher", "user_field": "u",
			"pass_field": "p", "password_env": "LEAKS_PASSWORD"},
		"cookies_file": "/etc/leakwatch/leaks.cookies",
	}
}

// fullOptions are fullSource's settings as stored.
var fullOptions = storage.SourceOptions{
	Selectors: storage.Selectors{Content: "div.post", Links: "a.thread", Next: "a.next", Files: "a.attach"},
	Allow:     []string{`^https://leaks\.example/`}, Deny: []string{"logout", `\?sort=`},
	MaxFileBytes: 1 << 20, Proxy: "socks5h://127.0.0.1:9050", Workers: 2, Rate: 0.5,
	FileTypes: []string{"pdf", "zip"}, WatchTerms: []string{"Acme Health", "/acme-?portal/"},
	Login: &storage.SourceLogin{URL: "https://leaks.example/login", User: "watcher", UserField: "u", PassField: "p",
		PasswordEnv: "LEAKS_PASSWORD"},
	CookiesFile: "/etc/leakwatch/leaks.cookies",
}

func (f *fixture) source(id uint64) storage.Source {
	f.t.Helper()
	src, err := f.store.SourceByID(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return src
}

func (f *fixture) sourceCount() int {
	f.t.Helper()
	srcs, err := f.store.ListSources(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	return len(srcs)
}

func createSource(t *testing.T, c *client, body any) sourceJSON {
	t.Helper()
	rec := c.send(http.MethodPost, "/api/sources", body)
	wantStatus(t, rec, http.StatusCreated)
	var src sourceJSON
	decode(t, rec, &src)
	if src.ID == 0 {
		t.Fatalf("created source has no id: %s", rec.Body)
	}
	return src
}

// wantAudit checks the newest event with action concerns the source and
// names it.
func (f *fixture) wantAudit(action, actor string, src sourceJSON) storage.AuditEvent {
	f.t.Helper()
	ev := f.findAudit(action)
	if ev.Actor != actor || ev.Object != fmt.Sprintf("source/%d", src.ID) || !strings.Contains(ev.Detail, fmt.Sprintf("name=%q", src.Name)) {
		f.t.Fatalf("%s audit event %+v, want actor %s, object source/%d and the name %q", action, ev, actor, src.ID, src.Name)
	}
	return ev
}

func TestSourcesAPIRoundTrip(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("root", storage.RoleAdmin, false)
	f.addUser("alice", storage.RoleAnalyst, false)
	admin := f.client("192.0.2.150")
	admin.mustLogin("root")

	rec := admin.send(http.MethodPost, "/api/sources", fullSource("forum-x"))
	wantStatus(t, rec, http.StatusCreated)
	var created sourceJSON
	decode(t, rec, &created)
	if loc := rec.Header().Get("Location"); loc != sourcePath(created.ID, "") {
		t.Fatalf("Location %q", loc)
	}
	want := sourceJSON{ID: created.ID, Name: "forum-x", Kind: storage.SourceForum, URL: "https://leaks.example/board/",
		Every: "6h0m0s", EverySecs: 6 * 3600, Enabled: true,
		Selectors: selectorsJSON{Content: "div.post", Links: "a.thread", Next: "a.next", Files: "a.attach"},
		Allow:     []string{`^https://leaks\.example/`}, Deny: []string{"logout", `\?sort=`}, MaxFileBytes: 1 << 20,
		Proxy: "socks5h://127.0.0.1:9050", Workers: 2, Rate: 0.5, FileTypes: []string{"pdf", "zip"},
		WatchTerms: []string{"Acme Health", "/acme-?portal/"},
		Login: &loginJSON{URL: "https://leaks.example/login", User: "watcher", UserField: "u", PassField: "p",
			PasswordEnv: "LEAKS_PASSWORD"},
		CookiesFile: "/etc/leakwatch/leaks.cookies", CreatedAt: created.CreatedAt, UpdatedAt: created.UpdatedAt}
	if !reflect.DeepEqual(created, want) {
		t.Fatalf("created\n got %+v\nwant %+v", created, want)
	}
	if stored := f.source(created.ID); !reflect.DeepEqual(stored.Options, fullOptions) || stored.Kind != storage.SourceForum ||
		!stored.Enabled || stored.EverySecs != 6*3600 {
		t.Fatalf("stored %+v", stored)
	}
	f.wantAudit("source.add", "root", created)

	// Everyone logged in reads it back, in the same shape, alone and in the list.
	analyst := f.client("192.0.2.151")
	analyst.mustLogin("alice")
	rec = analyst.getJSON(sourcePath(created.ID, ""))
	wantStatus(t, rec, http.StatusOK)
	var got sourceJSON
	decode(t, rec, &got)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("GET\n got %+v\nwant %+v", got, want)
	}
	var raw map[string]any
	decode(t, rec, &raw)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range raw {
			if !yield(k) {
				return
			}
		}
	})
	wantKeys := []string{"allow", "cookies_file", "created_at", "deny", "enabled", "every", "every_secs", "file_types", "id",
		"kind", "login", "max_file_bytes", "name", "proxy", "rate", "selectors", "updated_at", "url", "watch_terms", "workers"}
	if !slices.Equal(keys, wantKeys) {
		t.Fatalf("keys %v, want %v", keys, wantKeys)
	}
	if strings.Contains(rec.Body.String(), `"password"`) {
		t.Fatalf("a password key in %s", rec.Body)
	}
	rec = analyst.getJSON("/api/sources")
	wantStatus(t, rec, http.StatusOK)
	var list []sourceJSON
	decode(t, rec, &list)
	if len(list) != 1 || !reflect.DeepEqual(list[0], want) {
		t.Fatalf("list %+v", list)
	}
	// The sources page shows it too.
	if page := analyst.getJSON("/sources"); page.Code != http.StatusOK || !strings.Contains(page.Body.String(), "forum-x") {
		t.Fatalf("sources page: %d %s", page.Code, page.Body)
	}

	// Update, then delete.
	rec = admin.send(http.MethodPatch, sourcePath(created.ID, ""), map[string]any{"every": 3600})
	wantStatus(t, rec, http.StatusOK)
	decode(t, rec, &got)
	if got.EverySecs != 3600 || got.Every != "1h0m0s" || !reflect.DeepEqual(got.Allow, want.Allow) {
		t.Fatalf("patched %+v", got)
	}
	if f.source(created.ID).EverySecs != 3600 {
		t.Fatal("PATCH not stored")
	}
	wantStatus(t, admin.send(http.MethodDelete, sourcePath(created.ID, ""), ""), http.StatusOK)
	wantErrorJSON(t, analyst.getJSON(sourcePath(created.ID, "")), http.StatusNotFound, "not found")
	rec = analyst.getJSON("/api/sources")
	decode(t, rec, &list)
	if len(list) != 0 {
		t.Fatalf("list after delete %+v", list)
	}

	// An empty list is [], and a source without options has them empty, not null.
	plain := createSource(t, analyst, map[string]any{"name": "plain", "url": "https://plain.example/"})
	rec = analyst.getJSON(sourcePath(plain.ID, ""))
	for _, frag := range []string{`"allow":[]`, `"watch_terms":[]`, `"login":null`, `"selectors":{"content":""`, `"kind":"web"`} {
		if !strings.Contains(rec.Body.String(), frag) {
			t.Fatalf("%s not in %s", frag, rec.Body)
		}
	}
	if got := f.source(plain.ID); !got.Enabled || got.Kind != defaultSourceKind {
		t.Fatalf("defaults %+v", got)
	}
	paused := createSource(t, analyst, map[string]any{"name": "paused", "kind": "paste", "url": "https://p.example/", "enabled": false})
	if paused.Enabled || f.source(paused.ID).Enabled || paused.Kind != storage.SourcePaste {
		t.Fatalf("created %+v, want it paused", paused)
	}
}

func TestSourcesAPIRejectsUnknownFields(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("root", storage.RoleAdmin, false)
	c := f.client("192.0.2.152")
	c.mustLogin("root")
	bad := []struct {
		body string
		msg  string
	}{
		{`{"name":"a","url":"https://a.example/","colour":"red"}`, `"colour"`},
		{`{"name":"a","url":"https://a.example/","selectors":{"body":"div"}}`, `"body"`},
		{`{"name":"a","url":"https://a.example/","every_secs":60}`, `"every_secs"`},
		{`{"name":"a","url":"https://a.example/","login":{"url":"https://a.example/login","user":"u","password":"hunter2"}}`,
			"password_env"},
		{`{"name":"a","url":"https://a.example/","workers":"two"}`, "workers"},
		{`{"name":"a","url":"https://a.example/"} {"name":"b"}`, "more than one"},
		{`{"name":"a",`, "invalid JSON"},
	}
	for _, b := range bad {
		rec := c.send(http.MethodPost, "/api/sources", b.body)
		wantErrorJSON(t, rec, http.StatusBadRequest, b.msg)
		if strings.Contains(rec.Body.String(), "hunter2") {
			t.Fatalf("the password echoed: %s", rec.Body)
		}
	}
	if n := f.sourceCount(); n != 0 {
		t.Fatalf("%d sources created by refused requests", n)
	}
	wantStatus(t, c.do(http.MethodPost, "/api/sources", strings.NewReader(`name=a`), map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": c.csrf}), http.StatusUnsupportedMediaType)

	src := createSource(t, c, fullSource("forum-x"))
	before := f.source(src.ID)
	for _, b := range []struct {
		body string
		msg  string
	}{
		{`{"colour":"red"}`, `"colour"`},
		{`{"every":"2h","id":7}`, `"id"`},
		{`{"selectors":{"body":"div"}}`, `"body"`},
		{`{"login":{"password":"hunter2"}}`, "password_env"},
		{`{"workers":"two"}`, "workers"},
		{`{"name":"renamed"}`, "name cannot be changed"},
		{`[]`, "invalid JSON"},
	} {
		rec := c.send(http.MethodPatch, sourcePath(src.ID, ""), b.body)
		wantErrorJSON(t, rec, http.StatusBadRequest, b.msg)
		if strings.Contains(rec.Body.String(), "hunter2") {
			t.Fatalf("the password echoed: %s", rec.Body)
		}
	}
	if after := f.source(src.ID); !reflect.DeepEqual(after, before) {
		t.Fatalf("refused PATCHes changed the source:\n%+v\n%+v", before, after)
	}
	if n := f.countAudit("source.edited"); n != 0 {
		t.Fatalf("%d source.edited events for refused PATCHes", n)
	}
}

func TestSourcesAPIValidation(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("root", storage.RoleAdmin, false)
	c := f.client("192.0.2.153")
	c.mustLogin("root")
	with := func(k string, v any) map[string]any {
		b := map[string]any{"name": "a", "url": "https://a.example/"}
		b[k] = v
		return b
	}
	login := func(l map[string]string) map[string]any { return with("login", l) }
	bad := []struct {
		body map[string]any
		msg  string
	}{
		{with("kind", "wiki"), `kind "wiki"`},
		{with("url", "ftp://a.example/"), "url must be an absolute http"},
		{with("url", ""), "url must be an absolute http"},
		{with("url", "https://u:pw@a.example/"), "url must not contain"},
		{with("every", "30s"), "every"},
		{with("allow", []string{"("}), "allow[0]"},
		{with("deny", []string{"ok", "[z-a]"}), "deny[1]"},
		{with("watch_terms", []string{"Acme", "/(unclosed/"}), "watch_terms[1]"},
		{with("max_file_bytes", -1), "max_file_bytes"},
		{with("workers", -1), "workers"},
		{with("rate", -0.5), "rate"},
		{with("proxy", "ftp://proxy.example/"), "proxy"},
		{with("proxy", "socks5h://u:secret@127.0.0.1:9050"), "proxy must not contain a password"},
		{login(map[string]string{"url": "not a url", "user": "u", "password_env": "PW"}), "login.url"},
		{login(map[string]string{"url": "https://u:pw@a.example/login", "user": "u", "password_env": "PW"}), "login.url must not contain"},
		{login(map[string]string{"url": "https://a.example/login", "password_env": "PW"}), "user"},
		{login(map[string]string{"url": "https://a.example/login", "user": "u"}), "password_env"},
		{login(map[string]string{"url": "https://a.example/login", "user": "u", "password_env": "LEAKWATCH_FINGERPRINT_KEY"}), "one of leakwatch's own settings"},
		{login(map[string]string{"url": "https://a.example/login", "user": "u", "password_env": "PW", "password_file": "/pw"}),
			"exactly one"},
	}
	for _, b := range bad {
		rec := c.send(http.MethodPost, "/api/sources", b.body)
		wantErrorJSON(t, rec, http.StatusBadRequest, b.msg)
		if strings.Contains(rec.Body.String(), "secret") {
			t.Fatalf("the proxy password echoed: %s", rec.Body)
		}
	}
	if n := f.sourceCount(); n != 0 {
		t.Fatalf("%d sources created by invalid requests", n)
	}

	src := createSource(t, c, fullSource("forum-x"))
	before := f.source(src.ID)
	for _, b := range []struct {
		body map[string]any
		msg  string
	}{
		{map[string]any{"kind": "wiki"}, `kind "wiki"`},
		{map[string]any{"kind": nil}, "kind must be one of"},
		{map[string]any{"url": "javascript:alert(1)"}, "url must be an absolute http"},
		{map[string]any{"every": "5s"}, "every"},
		{map[string]any{"allow": []string{"ok", "("}}, "allow[1]"},
		{map[string]any{"watch_terms": []string{"/[/"}}, "watch_terms[0]"},
		{map[string]any{"enabled": nil}, "enabled"},
		{map[string]any{"login": map[string]string{"url": "ftp://x/"}}, "login.url"},
		{map[string]any{"login": map[string]string{"url": "https://u:pw@leaks.example/login"}}, "login.url must not contain"},
		{map[string]any{"login": map[string]string{"password_file": "/pw"}}, "exactly one"},
		{map[string]any{"workers": -3}, "workers"},
	} {
		wantErrorJSON(t, c.send(http.MethodPatch, sourcePath(src.ID, ""), b.body), http.StatusBadRequest, b.msg)
	}
	if after := f.source(src.ID); !reflect.DeepEqual(after, before) {
		t.Fatalf("invalid PATCHes changed the source:\n%+v\n%+v", before, after)
	}
	wantErrorJSON(t, c.send(http.MethodPatch, "/api/sources/999", map[string]any{"every": "1h"}), http.StatusNotFound, "not found")
	wantErrorJSON(t, c.send(http.MethodPatch, "/api/sources/x", map[string]any{"every": "1h"}), http.StatusNotFound, "not found")
	wantErrorJSON(t, c.getJSON("/api/sources/0"), http.StatusNotFound, "not found")
}

func TestSourcesAPIPatchIsPartial(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("root", storage.RoleAdmin, false)
	f.addUser("alice", storage.RoleAnalyst, false)
	admin := f.client("192.0.2.154")
	admin.mustLogin("root")
	analyst := f.client("192.0.2.155")
	analyst.mustLogin("alice")
	src := createSource(t, admin, fullSource("forum-x"))

	rec := analyst.send(http.MethodPatch, sourcePath(src.ID, ""),
		map[string]any{"every": "2h", "selectors": map[string]string{"content": "article"}, "deny": []string{}, "rate": nil})
	wantStatus(t, rec, http.StatusOK)
	var got sourceJSON
	decode(t, rec, &got)
	stored := f.source(src.ID)
	wantOpts := fullOptions
	wantOpts.Selectors.Content = "article"
	wantOpts.Deny = nil
	wantOpts.Rate = 0
	if !reflect.DeepEqual(stored.Options, wantOpts) || stored.EverySecs != 7200 || stored.Kind != storage.SourceForum ||
		stored.URL != "https://leaks.example/board/" || !stored.Enabled {
		t.Fatalf("stored after PATCH %+v", stored)
	}
	if got.EverySecs != 7200 || got.Selectors.Content != "article" || got.Selectors.Links != "a.thread" ||
		len(got.Deny) != 0 || got.Rate != 0 || got.Login == nil || got.Login.User != "watcher" {
		t.Fatalf("PATCH answered %+v", got)
	}
	ev := f.wantAudit("source.edited", "alice", src)
	if !strings.Contains(ev.Detail, "fields=every,selectors,deny,rate ") || strings.Contains(ev.Detail, "article") {
		t.Fatalf("edit audit detail %q", ev.Detail)
	}

	// Nothing to change: no write, no audit event.
	wantStatus(t, analyst.send(http.MethodPatch, sourcePath(src.ID, ""), map[string]any{}), http.StatusOK)
	wantStatus(t, analyst.send(http.MethodPatch, sourcePath(src.ID, ""), map[string]any{"name": "forum-x", "every": 7200}), http.StatusOK)
	if n := f.countAudit("source.edited"); n != 1 {
		t.Fatalf("%d source.edited events, want 1", n)
	}

	// Login is merged key by key; null removes it.
	rec = admin.send(http.MethodPatch, sourcePath(src.ID, ""),
		map[string]any{"login": map[string]string{"password_env": "", "password_file": "/run/secrets/leaks"}})
	wantStatus(t, rec, http.StatusOK)
	l := f.source(src.ID).Options.Login
	if l == nil || *l != (storage.SourceLogin{URL: "https://leaks.example/login", User: "watcher", UserField: "u", PassField: "p",
		PasswordFile: "/run/secrets/leaks"}) {
		t.Fatalf("merged login %+v", l)
	}
	wantStatus(t, admin.send(http.MethodPatch, sourcePath(src.ID, ""), `{"login":null,"cookies_file":null}`), http.StatusOK)
	if o := f.source(src.ID).Options; o.Login != nil || o.CookiesFile != "" || o.Selectors.Content != "article" {
		t.Fatalf("after removing login and cookies: %+v", o)
	}
	if ev := f.findAudit("source.edited"); !strings.Contains(ev.Detail, "fields=login,cookies_file ") || strings.Contains(ev.Detail, "/run/secrets") {
		t.Fatalf("edit audit detail %q", ev.Detail)
	}
	// Without credentials, an analyst may now move the source.
	rec = analyst.send(http.MethodPatch, sourcePath(src.ID, ""), map[string]any{"url": " https://leaks.example/v2/ ", "kind": "generic"})
	wantStatus(t, rec, http.StatusOK)
	if s := f.source(src.ID); s.URL != "https://leaks.example/v2/" || s.Kind != storage.SourceGeneric {
		t.Fatalf("moved source %+v", s)
	}
}

func TestSourcesAPICredentialsNeedAdmin(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("root", storage.RoleAdmin, false)
	f.addUser("alice", storage.RoleAnalyst, false)
	f.addUser("lee", storage.RoleLegal, false)
	admin := f.client("192.0.2.156")
	admin.mustLogin("root")
	analyst := f.client("192.0.2.157")
	analyst.mustLogin("alice")
	legal := f.client("192.0.2.158")
	legal.mustLogin("lee")

	withLogin := map[string]any{"name": "a", "url": "https://a.example/",
		"login": map[string]string{"url": "https://a.example/login", "user": "u", "password_env": "LEAKWATCH_FINGERPRINT_KEY"}}
	withCookies := map[string]any{"name": "b", "url": "https://b.example/", "cookies_file": "/etc/shadow"}
	for _, c := range []*client{analyst, legal} {
		wantErrorJSON(t, c.send(http.MethodPost, "/api/sources", withLogin), http.StatusForbidden, "only an admin")
		wantErrorJSON(t, c.send(http.MethodPost, "/api/sources", withCookies), http.StatusForbidden, "only an admin")
	}
	if n := f.sourceCount(); n != 0 {
		t.Fatalf("%d sources created", n)
	}

	src := createSource(t, admin, fullSource("forum-x"))
	before := f.source(src.ID)
	for _, c := range []*client{analyst, legal} {
		for _, body := range []map[string]any{
			{"url": "https://collector.example/"},
			{"proxy": "http://collector.example:8080"},
			{"login": map[string]string{"url": "https://collector.example/login"}},
			{"login": map[string]string{"password_env": "LEAKWATCH_SMTP_PASSWORD"}},
			{"login": nil},
			{"cookies_file": "/etc/shadow"},
		} {
			wantErrorJSON(t, c.send(http.MethodPatch, sourcePath(src.ID, ""), body), http.StatusForbidden, "only an admin")
		}
	}
	if after := f.source(src.ID); !reflect.DeepEqual(after, before) {
		t.Fatalf("refused PATCHes changed the source:\n%+v\n%+v", before, after)
	}
	// Other settings of a source with a login are theirs to change.
	wantStatus(t, analyst.send(http.MethodPatch, sourcePath(src.ID, ""), map[string]any{"every": "1h", "workers": 4}), http.StatusOK)
	wantStatus(t, legal.send(http.MethodPost, sourcePath(src.ID, "/pause"), ""), http.StatusOK)
	// Admins may do all of it.
	wantStatus(t, admin.send(http.MethodPatch, sourcePath(src.ID, ""), map[string]any{"url": "https://leaks.example/new/"}), http.StatusOK)
	wantStatus(t, admin.send(http.MethodPost, "/api/sources", withCookies), http.StatusCreated)
}

func TestSourcesAPIPauseResume(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("alice", storage.RoleAnalyst, false)
	f.addUser("lee", storage.RoleLegal, false)
	c := f.client("192.0.2.159")
	c.mustLogin("alice")
	src := createSource(t, c, map[string]any{"name": "blog", "kind": "leakblog", "url": "https://blog.example/", "every": "1h"})

	rec := c.send(http.MethodPost, sourcePath(src.ID, "/pause"), "")
	wantStatus(t, rec, http.StatusOK)
	var got sourceJSON
	decode(t, rec, &got)
	if got.Enabled || f.source(src.ID).Enabled {
		t.Fatalf("pause left the source enabled: %+v", got)
	}
	if s := f.source(src.ID); s.EverySecs != 3600 || s.Kind != storage.SourceLeakBlog {
		t.Fatalf("pause changed other settings: %+v", s)
	}
	f.wantAudit("source.paused", "alice", src)
	// Pausing again changes nothing.
	wantStatus(t, c.send(http.MethodPost, sourcePath(src.ID, "/pause"), ""), http.StatusOK)
	if n := f.countAudit("source.paused"); n != 1 {
		t.Fatalf("%d source.paused events, want 1", n)
	}

	legal := f.client("192.0.2.160")
	legal.mustLogin("lee")
	rec = legal.send(http.MethodPost, sourcePath(src.ID, "/resume"), "")
	wantStatus(t, rec, http.StatusOK)
	decode(t, rec, &got)
	if !got.Enabled || !f.source(src.ID).Enabled {
		t.Fatalf("resume left the source paused: %+v", got)
	}
	f.wantAudit("source.resumed", "lee", src)

	wantErrorJSON(t, c.send(http.MethodPost, "/api/sources/999/pause", ""), http.StatusNotFound, "not found")
	wantErrorJSON(t, c.send(http.MethodPost, "/api/sources/999/resume", ""), http.StatusNotFound, "not found")
}

func TestSourcesAPIDelete(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("root", storage.RoleAdmin, false)
	f.addUser("alice", storage.RoleAnalyst, false)
	f.addUser("lee", storage.RoleLegal, false)
	f.seedCase("leaks.example") // a source with a run, a capture and a hit
	ctx := context.Background()
	seeded, err := f.store.SourceByName(ctx, "forum-leaks.example")
	if err != nil {
		t.Fatal(err)
	}
	src := sourceJSON{ID: seeded.ID, Name: seeded.Name}

	for _, who := range []string{"alice", "lee"} {
		c := f.client("192.0.2.161")
		c.mustLogin(who)
		wantErrorJSON(t, c.send(http.MethodDelete, sourcePath(src.ID, ""), ""), http.StatusForbidden, "role")
	}
	f.source(src.ID) // still there
	if n := f.countAudit("source.removed"); n != 0 {
		t.Fatalf("%d source.removed events after refusals", n)
	}

	admin := f.client("192.0.2.162")
	admin.mustLogin("root")
	rec := admin.send(http.MethodDelete, sourcePath(src.ID, ""), "")
	wantStatus(t, rec, http.StatusOK)
	var res removedSourceJSON
	decode(t, rec, &res)
	if !res.Removed || res.ID != src.ID || res.Name != src.Name || !strings.Contains(res.Kept, "runs, captures and hits are kept") {
		t.Fatalf("delete answered %+v", res)
	}
	f.wantAudit("source.removed", "root", src)
	wantErrorJSON(t, admin.getJSON(sourcePath(src.ID, "")), http.StatusNotFound, "not found")
	wantErrorJSON(t, admin.send(http.MethodDelete, sourcePath(src.ID, ""), ""), http.StatusNotFound, "not found")
	wantErrorJSON(t, admin.send(http.MethodPatch, sourcePath(src.ID, ""), map[string]any{"every": "1h"}), http.StatusNotFound, "not found")
	if n := f.countAudit("source.removed"); n != 1 {
		t.Fatalf("%d source.removed events, want 1", n)
	}

	// The evidence stays.
	hits, err := f.store.RecentHits(ctx, 10)
	if err != nil || len(hits) != 1 {
		t.Fatalf("hits after removing the source: %v, %v", hits, err)
	}
	caps, err := f.store.ListCaptures(ctx, 10)
	if err != nil || len(caps) != 1 || caps[0].SourceID != src.ID {
		t.Fatalf("captures after removing the source: %v, %v", caps, err)
	}
}

func TestSourcesAPICSRF(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("root", storage.RoleAdmin, false)
	c := f.client("192.0.2.163")
	c.mustLogin("root")
	src := createSource(t, c, map[string]any{"name": "forum-a", "url": "https://a.example/", "every": "1h"})
	before := f.source(src.ID)
	token := c.csrf
	requests := []struct{ method, path, body string }{
		{http.MethodPost, "/api/sources", `{"name":"forum-b","url":"https://b.example/"}`},
		{http.MethodPatch, sourcePath(src.ID, ""), `{"every":"2h"}`},
		{http.MethodPost, sourcePath(src.ID, "/pause"), ``},
		{http.MethodPost, sourcePath(src.ID, "/resume"), ``},
		{http.MethodDelete, sourcePath(src.ID, ""), ``},
	}
	for _, rq := range requests {
		for _, tok := range []string{"", token + "x"} {
			c.csrf = tok
			wantErrorJSON(t, c.send(rq.method, rq.path, rq.body), http.StatusForbidden, "CSRF")
		}
		// The right token from a cross-site page is refused too.
		rec := c.do(rq.method, rq.path, strings.NewReader(rq.body), map[string]string{"Content-Type": "application/json",
			"X-CSRF-Token": token, "Sec-Fetch-Site": "cross-site"})
		wantErrorJSON(t, rec, http.StatusForbidden, "cross-origin")
	}
	c.csrf = token
	if after := f.source(src.ID); !reflect.DeepEqual(after, before) || f.sourceCount() != 1 {
		t.Fatalf("refused requests changed sources: %+v", after)
	}
	for _, a := range []string{"source.edited", "source.paused", "source.resumed", "source.removed"} {
		if n := f.countAudit(a); n != 0 {
			t.Fatalf("%d %s events after refused requests", n, a)
		}
	}
	// With the token the same requests pass.
	for _, rq := range requests {
		rec := c.send(rq.method, rq.path, rq.body)
		if rec.Code != http.StatusOK && rec.Code != http.StatusCreated {
			t.Fatalf("%s %s: %d %s", rq.method, rq.path, rec.Code, rec.Body)
		}
	}
}

func TestSourcesAPIAuthRequired(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("lee", storage.RoleLegal, false)
	c := f.client("192.0.2.164")
	c.mustLogin("lee")
	src := createSource(t, c, map[string]any{"name": "forum-a", "url": "https://a.example/"})
	wantStatus(t, c.getJSON(sourcePath(src.ID, "")), http.StatusOK)

	anon := f.client("192.0.2.165")
	for _, rq := range []struct{ method, path string }{
		{http.MethodGet, sourcePath(src.ID, "")}, {http.MethodPatch, sourcePath(src.ID, "")},
		{http.MethodPost, sourcePath(src.ID, "/pause")}, {http.MethodPost, sourcePath(src.ID, "/resume")},
		{http.MethodDelete, sourcePath(src.ID, "")},
	} {
		wantErrorJSON(t, anon.send(rq.method, rq.path, `{}`), http.StatusUnauthorized, "authentication")
	}
	f.source(src.ID)
}

func TestSourcesAPIHidesCredentialsInURLs(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("alice", storage.RoleAnalyst, false)
	// As the config file or the CLI may store it.
	src := storage.Source{Name: "onion", Kind: storage.SourceGeneric, URL: "http://bob:hunter2@leaks.example/", Enabled: true,
		Options: storage.SourceOptions{Proxy: "socks5h://tor:hunter2@127.0.0.1:9050"}}
	if err := f.store.CreateSource(context.Background(), &src); err != nil {
		t.Fatal(err)
	}
	c := f.client("192.0.2.166")
	c.mustLogin("alice")
	rec := c.getJSON(sourcePath(src.ID, ""))
	wantStatus(t, rec, http.StatusOK)
	var got sourceJSON
	decode(t, rec, &got)
	if strings.Contains(rec.Body.String(), "hunter2") || got.Proxy != "socks5h://tor:xxxxx@127.0.0.1:9050" ||
		got.URL != "http://bob:xxxxx@leaks.example/" {
		t.Fatalf("credentials shown: %s", rec.Body)
	}
	// Editing another setting keeps them, and does not put them in the log.
	wantStatus(t, c.send(http.MethodPatch, sourcePath(src.ID, ""), map[string]any{"every": "1h"}), http.StatusOK)
	if s := f.source(src.ID); s.Options.Proxy != src.Options.Proxy || s.URL != src.URL || s.EverySecs != 3600 {
		t.Fatalf("after PATCH %+v", s)
	}
	// Sending the redacted value back is refused rather than stored.
	wantErrorJSON(t, c.send(http.MethodPatch, sourcePath(src.ID, ""), map[string]any{"proxy": got.Proxy}), http.StatusBadRequest, "password")
	for _, e := range f.auditActions() {
		if strings.Contains(e.Detail, "hunter2") {
			t.Fatalf("credential in audit: %+v", e)
		}
	}
}

func TestSourcePermissions(t *testing.T) {
	perms := []permission{permRead, permAddSource, permApprove, permAudit, permRemoveSource, permSourceCredentials}
	want := map[storage.Role][]bool{
		storage.RoleAnalyst: {true, true, false, false, false, false},
		storage.RoleLegal:   {true, true, true, false, false, false},
		storage.RoleAdmin:   {true, true, true, true, true, true},
		"intern":            {false, false, false, false, false, false},
	}
	for role, w := range want {
		for i, p := range perms {
			if got := allowed(role, p); got != w[i] {
				t.Errorf("allowed(%s, %d) = %v, want %v", role, p, got, w[i])
			}
		}
	}
}
