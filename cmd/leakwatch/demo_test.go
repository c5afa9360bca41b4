package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/internal/testkit/leaksim"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
	"github.com/leakwatch/leakwatch/workflows"
)

// TestDemoConfig: the demo's config is valid and runs a lifecycle in
// seconds: re-checks soon after a notice is sent and for long enough to
// watch, while follow-up and escalation stay out of a demo's way.
func TestDemoConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := demoConfig(dir, "127.0.0.1:18080", "127.0.0.1:2525")
	demoTelegramConfig(cfg)
	var err error
	if cfg.Fingerprints.KeyFile, err = demoKey(dir); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(config.RequireInjunction(true)); err != nil {
		t.Fatalf("demo config: %v", err)
	}
	n := cfg.Notices
	if n.Triage != config.TriageExact || n.RDAP || n.DefaultRecipient != demoRecipient {
		t.Errorf("demo notices: triage %s, rdap %v, recipient %q", n.Triage, n.RDAP, n.DefaultRecipient)
	}
	sent := time.Date(2026, 1, 5, 12, 0, 0, 0, time.UTC)
	if first := workflows.NextCheck(sent, time.Time{}, n.VerifySchedule, n.VerifyEvery, n.VerifyFor); first.Sub(sent) > 5*time.Second {
		t.Errorf("first re-check %s after sending", first.Sub(sent))
	}
	if later := workflows.NextCheck(sent, sent.Add(5*time.Minute), n.VerifySchedule, n.VerifyEvery, n.VerifyFor); later.IsZero() || later.Sub(sent) > 5*time.Minute+15*time.Second {
		t.Errorf("re-check after 5 minutes: %v", later)
	}
	if n.VerifyFor < 10*time.Minute || n.FollowUpAfter < 24*time.Hour || n.EscalateAfter <= n.FollowUpAfter {
		t.Errorf("demo lifecycle: verify for %s, follow up after %s, escalate after %s", n.VerifyFor, n.FollowUpAfter, n.EscalateAfter)
	}
}

var curlRE = regexp.MustCompile(`curl (-X POST )?'?(http://[^'\s]+)'?`)

// TestDemoAdminHelp: the admin commands the interactive demo prints work
// against the demo's forum: list, take the thread down, re-post a file.
func TestDemoAdminHelp(t *testing.T) {
	refsDir := t.TempDir()
	docs, err := synth.Generate(refsDir, synth.Options{Seed: 20251230, Docs: 40})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var changes []leaksim.Change
	site, siteURL, err := startDemoSite(t.Context(), refsDir, docs, func(c leaksim.Change) {
		mu.Lock()
		defer mu.Unlock()
		changes = append(changes, c)
	})
	if err != nil {
		t.Fatal(err)
	}
	var help bytes.Buffer
	printDemoAdmin(&help, siteURL, site)
	cmds := curlRE.FindAllStringSubmatch(help.String(), -1)
	if len(cmds) != 3 {
		t.Fatalf("want 3 curl commands (list, delete, repost) in:\n%s", help.String())
	}
	before := site.Attachments()
	c := &http.Client{Timeout: 10 * time.Second}
	for i, want := range []int{http.StatusOK, http.StatusOK, http.StatusCreated} {
		method := "GET"
		if cmds[i][1] != "" {
			method = "POST"
		}
		req, err := http.NewRequestWithContext(t.Context(), method, cmds[i][2], nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body any
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != want || err != nil {
			t.Errorf("%s %s: %s (%v), want %d", method, cmds[i][2], resp.Status, err, want)
		}
	}
	// The samples' thread is gone, its files with it; one file is back.
	after := site.Attachments()
	var samples, mirrored int
	for _, a := range before {
		if !strings.HasPrefix(a.Name, "other-") {
			samples++
		}
	}
	for _, a := range after {
		if strings.HasSuffix(a.Thread, "(mirror)") {
			mirrored++
		}
	}
	if samples == 0 || mirrored != 1 || len(after) != len(before)-samples+1 {
		t.Errorf("before %d attachments (%d samples), after %d (%d mirrored)", len(before), samples, len(after), mirrored)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(changes) != 2 || changes[0].Action != "delete" || changes[1].Action != "repost" {
		t.Errorf("changes heard: %+v", changes)
	}
}
