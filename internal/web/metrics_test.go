package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// seedMetrics builds a case on leaks.example with known times before the
// fixture's clock: item 1 captured 10h ago, hit 9h ago, drafted 8h ago,
// approved 7h ago, sent 6h ago, removed 4h ago; item 2 captured 5h ago,
// hit 4h30m ago, confirmed and still up. Exposure: 6h + 5h.
func (f *fixture) seedMetrics() {
	f.t.Helper()
	ctx := context.Background()
	must := func(err error) {
		f.t.Helper()
		if err != nil {
			f.t.Fatal(err)
		}
	}
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	f.clock.mu.Lock()
	f.clock.t = now
	f.clock.mu.Unlock()
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	ptr := func(d time.Duration) *time.Time { v := ago(d); return &v }
	db := f.store.DB().WithContext(ctx)

	c, err := f.store.EnsureCase(ctx, "leaks.example", "case-leaks.example")
	must(err)
	must(f.store.SetCaseState(ctx, c.ID, storage.CaseSent, "abuse@leaks.example"))
	it1 := storage.CaseItem{CaseID: c.ID, URL: "https://leaks.example/dump/secret-part1.zip", CapturedAt: ago(10 * time.Hour),
		State: storage.ItemRemoved}
	it2 := storage.CaseItem{CaseID: c.ID, URL: "https://leaks.example/dump/secret-part2.zip", CapturedAt: ago(5 * time.Hour),
		State: storage.ItemConfirmed}
	must(db.Create(&it1).Error)
	must(db.Create(&it2).Error)
	for i, h := range []storage.Hit{
		{CaptureID: 1, ReferenceID: 1, Method: "sha256", Target: c.Target, CreatedAt: ago(9 * time.Hour), ItemID: it1.ID},
		{CaptureID: 2, ReferenceID: 1, Method: "sha256", Target: c.Target, CreatedAt: ago(4*time.Hour + 30*time.Minute), ItemID: it2.ID},
	} {
		if _, err := f.store.AddHit(ctx, &h); err != nil {
			f.t.Fatalf("hit %d: %v", i, err)
		}
	}
	n := storage.Notice{CaseID: c.ID, Revision: 1, State: storage.NoticeSent, Recipient: "abuse@leaks.example", Subject: "s",
		BodyText: "b", BodyHTML: "b", DraftedBy: "workflow", DraftedAt: ago(8 * time.Hour), ApprovedBy: "lawyer",
		ApprovedAt: ptr(7 * time.Hour), SentAt: ptr(6 * time.Hour), MessageID: "<m1@leakwatch>", ItemIDs: storage.JoinIDs([]uint64{it1.ID})}
	must(db.Create(&n).Error)
	must(db.Model(&storage.CaseItem{}).Where("id = ?", it1.ID).
		Updates(map[string]any{"notice_id": n.ID, "listed_at": ago(6 * time.Hour), "removed_at": ago(4 * time.Hour)}).Error)
}

func TestAPICaseMetrics(t *testing.T) {
	f := newFixture(t, nil)
	f.seedMetrics()
	f.addUser("ann", storage.RoleAnalyst, false)

	anon := f.client("198.51.100.7")
	wantErrorJSON(t, anon.getJSON("/api/metrics/cases"), http.StatusUnauthorized, "authentication required")

	c := f.client("198.51.100.7")
	c.mustLogin("ann")
	rec := c.getJSON("/api/metrics/cases")
	wantStatus(t, rec, http.StatusOK)
	var got caseMetricsJSON
	decode(t, rec, &got)

	if !got.At.Equal(f.clock.now()) {
		t.Errorf("at = %v, want %v", got.At, f.clock.now())
	}
	if len(got.StageOrder) != 5 || got.StageOrder[0] != storage.StageHit || got.StageOrder[4] != storage.StageRemoval {
		t.Errorf("stage order = %v", got.StageOrder)
	}
	if len(got.Targets) != 1 || got.Targets[0].Target != "leaks.example" {
		t.Fatalf("targets = %+v, want leaks.example", got.Targets)
	}
	if got.Overall.Target != "" {
		t.Errorf("overall target = %q", got.Overall.Target)
	}
	for _, tm := range []targetMetricsJSON{got.Overall, got.Targets[0]} {
		want := map[storage.Stage]struct {
			count      int
			med, p90   float64
			hmed, hp90 string
		}{
			storage.StageHit:      {2, 2700, 3420, "45m", "57m"}, // 30m and 1h
			storage.StageDraft:    {1, 7200, 7200, "2h", "2h"},
			storage.StageApproval: {1, 10800, 10800, "3h", "3h"},
			storage.StageSend:     {1, 14400, 14400, "4h", "4h"},
			storage.StageRemoval:  {1, 21600, 21600, "6h", "6h"},
		}
		for st, w := range want {
			g := tm.Stages[st]
			if g.Count != w.count || g.MedianSeconds == nil || *g.MedianSeconds != w.med || g.P90Seconds == nil ||
				*g.P90Seconds != w.p90 || g.Median != w.hmed || g.P90 != w.hp90 {
				t.Errorf("%q stage %s = %+v (median %v p90 %v), want %+v", tm.Target, st, g, deref(g.MedianSeconds), deref(g.P90Seconds), w)
			}
		}
		if tm.ExposureHours != 11 || tm.Items != 2 || tm.Removed != 1 {
			t.Errorf("%q exposure %v items %d removed %d, want 11, 2, 1", tm.Target, tm.ExposureHours, tm.Items, tm.Removed)
		}
		if tm.NoticesByState[storage.NoticeSent] != 1 || tm.CasesByState[storage.CaseSent] != 1 ||
			tm.ItemsByState[storage.ItemRemoved] != 1 || tm.ItemsByState[storage.ItemConfirmed] != 1 {
			t.Errorf("%q by state: notices %v cases %v items %v", tm.Target, tm.NoticesByState, tm.CasesByState, tm.ItemsByState)
		}
	}
	if body := rec.Body.String(); strings.Contains(body, "secret-part") {
		t.Errorf("metrics JSON names an item's URL: %s", body)
	}

	// A stage no item reached has null seconds.
	f2 := newFixture(t, nil)
	f2.addUser("ann", storage.RoleAnalyst, false)
	c2 := f2.client("198.51.100.7")
	c2.mustLogin("ann")
	rec = c2.getJSON("/api/metrics/cases")
	wantStatus(t, rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), `"hit":{"count":0,"median_seconds":null,"p90_seconds":null,"median":"","p90":""}`) ||
		!strings.Contains(rec.Body.String(), `"targets":[]`) {
		t.Errorf("empty metrics = %s", rec.Body)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestMetricsEndpoint scrapes /metrics through a real loopback listener and
// checks the series, then who else may read it.
func TestMetricsEndpoint(t *testing.T) {
	f := newFixture(t, nil)
	f.seedMetrics()

	ts := httptest.NewServer(f.srv.Handler())
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("loopback scrape: %d %s", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("content type %q", ct)
	}
	body := string(b)
	if testing.Verbose() {
		t.Logf("exposition:\n%s", body)
	}
	for _, want := range []string{
		"# TYPE leakwatch_case_stage_seconds gauge",
		`leakwatch_case_stage_seconds{quantile="0.5",stage="hit",target="leaks.example"} 2700`,
		`leakwatch_case_stage_seconds{quantile="0.9",stage="hit",target="leaks.example"} 3420`,
		`leakwatch_case_stage_seconds{quantile="0.5",stage="removal",target="leaks.example"} 21600`,
		`leakwatch_case_stage_items{stage="hit",target="leaks.example"} 2`,
		`leakwatch_case_stage_items{stage="send",target="leaks.example"} 1`,
		`leakwatch_case_stage_overall_seconds{quantile="0.5",stage="approval"} 10800`,
		`leakwatch_case_stage_overall_seconds{quantile="0.9",stage="hit"} 3420`,
		`leakwatch_case_exposure_hours{target="leaks.example"} 11`,
		`leakwatch_case_items{state="removed",target="leaks.example"} 1`,
		`leakwatch_case_items{state="confirmed",target="leaks.example"} 1`,
		`leakwatch_case_items{state="dismissed",target="leaks.example"} 0`,
		`leakwatch_notices{state="sent",target="leaks.example"} 1`,
		`leakwatch_notices{state="draft",target="leaks.example"} 0`,
		`leakwatch_cases{state="sent"} 1`,
		`leakwatch_cases{state="closed"} 0`,
		"leakwatch_case_metrics_up 1",
		"go_goroutines ",
	} {
		// Whole lines (a value of 1 must not pass for 11); a want
		// ending in a space is a prefix.
		if !strings.Contains("\n"+body, "\n"+want+"\n") && !(strings.HasSuffix(want, " ") && strings.Contains(body, "\n"+want)) {
			t.Errorf("exposition lacks the line %q", want)
		}
	}
	for _, never := range []string{"secret-part", "https://", "abuse@"} {
		if strings.Contains(body, never) {
			t.Errorf("exposition contains %q", never)
		}
	}

	// Straight to the handler, with a chosen peer and headers.
	get := func(remote, host string, hdr map[string]string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "http://"+host+"/metrics", nil)
		req.RemoteAddr = remote
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		f.srv.Handler().ServeHTTP(rec, req)
		return rec
	}
	for _, tc := range []struct {
		name, remote, host string
		hdr                map[string]string
		want               int
	}{
		{"loopback v4", "127.0.0.1:5555", "127.0.0.1:8080", nil, http.StatusOK},
		{"loopback v6", "[::1]:5555", "[::1]:8080", nil, http.StatusOK},
		{"loopback by name", "127.0.0.1:5555", "localhost:8080", nil, http.StatusOK},
		{"internet", "203.0.113.9:5555", "127.0.0.1:8080", nil, http.StatusForbidden},
		{"private network", "10.1.2.3:5555", "leakwatch.test", nil, http.StatusForbidden},
		{"through a local proxy", "127.0.0.1:5555", "127.0.0.1:8080",
			map[string]string{"X-Forwarded-For": "203.0.113.9"}, http.StatusForbidden},
		{"through a local proxy (Forwarded)", "127.0.0.1:5555", "127.0.0.1:8080",
			map[string]string{"Forwarded": "for=203.0.113.9"}, http.StatusForbidden},
		{"rebound name", "127.0.0.1:5555", "attacker.example:8080", nil, http.StatusForbidden},
	} {
		if rec := get(tc.remote, tc.host, tc.hdr); rec.Code != tc.want {
			t.Errorf("%s: status %d, want %d; body %s", tc.name, rec.Code, tc.want, rec.Body)
		} else if tc.want == http.StatusForbidden && strings.Contains(rec.Body.String(), "leakwatch_") {
			t.Errorf("%s: refused, yet the body has series: %s", tc.name, rec.Body)
		}
	}

	// Signed in from afar: admins may, other roles may not.
	f.addUser("ann", storage.RoleAnalyst, false)
	f.addUser("lex", storage.RoleLegal, false)
	f.addUser("ada", storage.RoleAdmin, false)
	for _, u := range []struct {
		name string
		want int
	}{{"ann", http.StatusForbidden}, {"lex", http.StatusForbidden}, {"ada", http.StatusOK}} {
		c := f.client("203.0.113.9")
		c.mustLogin(u.name)
		var cookies []*http.Cookie
		for _, ck := range c.cookies {
			cookies = append(cookies, ck)
		}
		rec := get("203.0.113.9:5555", "leakwatch.test", nil, cookies...)
		if rec.Code != u.want {
			t.Errorf("%s from afar: status %d, want %d", u.name, rec.Code, u.want)
		}
		if u.want == http.StatusOK && !strings.Contains(rec.Body.String(), "leakwatch_case_metrics_up 1") {
			t.Errorf("%s: scrape lacks the series: %s", u.name, rec.Body)
		}
	}
}

func TestHumanDurationMetrics(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                               "0s",
		-time.Second:                    "0s",
		45 * time.Second:                "45s",
		12*time.Minute + 30*time.Second: "12m 30s",
		12 * time.Minute:                "12m",
		5*time.Hour + 48*time.Minute:    "5h 48m",
		3*24*time.Hour + 4*time.Hour:    "3d 4h",
		3*24*time.Hour + 59*time.Minute: "3d",
		1500 * time.Millisecond:         "2s",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// A database that cannot answer makes the scrape say so
// (leakwatch_case_metrics_up 0) rather than fail whole, and the API 500.
func TestMetricsDatabaseDown(t *testing.T) {
	f := newFixture(t, nil)
	f.addUser("ann", storage.RoleAnalyst, false)
	c := f.client("198.51.100.7")
	c.mustLogin("ann")
	// Break the case tables only: sessions still work.
	if err := f.store.DB().Exec("DROP TABLE case_items").Error; err != nil {
		t.Fatal(err)
	}
	wantErrorJSON(t, c.getJSON("/api/metrics/cases"), http.StatusInternalServerError, "internal error")

	req := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080/metrics", nil)
	req.RemoteAddr = "127.0.0.1:5555"
	rec := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(rec, req)
	wantStatus(t, rec, http.StatusOK)
	body := rec.Body.String()
	if !strings.Contains(body, "\nleakwatch_case_metrics_up 0\n") || strings.Contains(body, "leakwatch_cases{") {
		t.Fatalf("scrape with the database down:\n%s", body)
	}
}
