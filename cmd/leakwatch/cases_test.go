package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/storage"
	"github.com/leakwatch/leakwatch/workflows"
)

// seedSentCase makes, in ./data, a case with two URLs (one with two
// hits), a sent first notice listing both, and a re-check that found one
// gone. It returns the case.
func seedSentCase(t *testing.T) storage.Case {
	t.Helper()
	ctx := context.Background()
	store, err := storage.Open(ctx, "", "data", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	const target = "leaks.example"
	src := storage.Source{Name: "blog", Kind: storage.SourceLeakBlog, URL: "http://" + target + "/", Enabled: true}
	must(store.CreateSource(ctx, &src))
	run, err := store.StartRun(ctx, src.ID)
	must(err)
	ref := storage.Reference{Name: "batch-1/lab-results-0001.pdf", Size: 10, SHA256: strings.Repeat("cd", 32)}
	_, err = store.AddReference(ctx, &ref)
	must(err)
	var hitIDs []uint64
	for i, path := range []string{"/records/1234567/part1.zip", "/dump/part2.zip"} {
		c := storage.Capture{RunID: run.ID, SourceID: src.ID, Kind: storage.CaptureFile, URL: "http://" + target + path, Host: target,
			FetchedAt: time.Date(2026, 1, 2, 3, 4, i, 0, time.UTC), Status: 200, SHA256: strings.Repeat("ab", 32), Size: 100}
		_, err := store.SaveCapture(ctx, &c)
		must(err)
		for _, m := range []string{"sha256", "text-sha256"}[:2-i] {
			h := storage.Hit{CaptureID: c.ID, ReferenceID: ref.ID, Method: m, Score: 1, Why: "identical", Target: target}
			_, err := store.AddHit(ctx, &h)
			must(err)
			hitIDs = append(hitIDs, h.ID)
		}
	}
	cs, err := store.EnsureCase(ctx, target, workflows.CaseWorkflowID(target))
	must(err)
	_, err = store.TakeHits(ctx, cs.ID, hitIDs, true)
	must(err)
	items, err := store.CaseItems(ctx, cs.ID)
	must(err)
	ids := []uint64{items[0].ID, items[1].ID}
	n := storage.Notice{CaseID: cs.ID, Revision: 1, Recipient: "abuse@host.example", Subject: "Takedown notice LW-1-1",
		BodyText: "High Court orders", BodyHTML: "<p>x</p>", DraftedBy: "workflow", MessageID: "<lw-1-1@leakwatch>",
		Kind: storage.NoticeFirst, Reference: "LW-1-1", Number: 1, RecipientType: "hosting", ItemIDs: storage.JoinIDs(ids)}
	_, err = store.CreateNoticeDraft(ctx, &n)
	must(err)
	must(store.ApproveNotice(ctx, n.ID, "lee"))
	_, err = store.BeginSend(ctx, n.ID)
	must(err)
	sentAt := time.Date(2026, 1, 3, 9, 0, 0, 0, time.UTC)
	must(store.MarkSent(ctx, n.ID, sentAt, "250 2.0.0 Ok: queued as 4F2A", strings.Repeat("ef", 32)))
	must(store.MarkItemsListed(ctx, ids, n.ID, sentAt))
	must(store.RecordRemovalCheck(ctx, &storage.RemovalCheck{CaseID: cs.ID, ItemID: ids[1], Result: storage.CheckGone,
		Detail: "404 Not Found", CheckedAt: sentAt.Add(time.Hour)}))
	must(store.SetCaseState(ctx, cs.ID, storage.CaseSent, "abuse@host.example"))
	must(store.CreateUser(ctx, &storage.User{Username: "alice", PasswordHash: "x", Role: storage.RoleAnalyst}))
	return cs
}

func TestCasesShowAndNoticesExportLumen(t *testing.T) {
	isolate(t)
	seedSentCase(t)

	r := runCLI(t, "", dd("cases", "show", "leaks.example")...)
	if r.code != 0 {
		t.Fatalf("cases show: %d %s", r.code, r.stderr)
	}
	for _, want := range []string{"state sent", "notices sent: LW-1-1", "items (2):",
		"matched: ref_", "sha256 1.00; ", "text-sha256 1.00", "LW-1-1", "250 2.0.0 Ok: queued as 4F2A", strings.Repeat("ef", 32),
		"removal checks (1):", "gone", "404 Not Found"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("cases show lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Count(r.stdout, "records/1234567/part1.zip") != 1 || strings.Contains(r.stdout, "lab-results-0001.pdf") {
		t.Errorf("cases show: one line per URL, no reference names:\n%s", r.stdout)
	}

	r = runCLI(t, "", dd("cases", "list", "--state", "sent")...)
	if r.code != 0 || !strings.Contains(r.stdout, "leaks.example") {
		t.Fatalf("cases list --state sent: %+v", r)
	}
	r = runCLI(t, "", dd("cases", "list", "--state", "drafted")...)
	if r.code != 0 || strings.Contains(r.stdout, "leaks.example") {
		t.Fatalf("cases list --state drafted: %+v", r)
	}

	r = runCLI(t, "", dd("notices", "export", "--lumen", "--out", "lumen.json")...)
	if r.code != 0 {
		t.Fatalf("notices export: %d %s", r.code, r.stderr)
	}
	b, err := os.ReadFile("lumen.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Notices []struct {
			Type        string `json:"type"`
			DateSent    string `json:"date_sent"`
			Reference   string `json:"reference"`
			ActionTaken string `json:"action_taken"`
			Works       []struct {
				InfringingURLs []struct {
					URL string `json:"url"`
				} `json:"infringing_urls"`
			} `json:"works"`
		} `json:"notices"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if len(doc.Notices) != 1 {
		t.Fatalf("exported %s", b)
	}
	got := doc.Notices[0]
	if got.Type != "CourtOrder" || got.DateSent != "2026-01-03T09:00:00Z" || got.Reference != "LW-1-1" || got.ActionTaken != "Partial" ||
		len(got.Works) != 1 || len(got.Works[0].InfringingURLs) != 2 {
		t.Fatalf("exported %s", b)
	}
	if strings.Contains(string(b), "1234567") || !strings.Contains(string(b), "http://leaks.example/records/[redacted]/part1.zip") {
		t.Fatalf("URL not redacted: %s", b)
	}
	if r := runCLI(t, "", dd("notices", "export")...); r.code != 1 || !strings.Contains(r.stderr, noticesUse) {
		t.Fatalf("notices export without --lumen: %+v", r)
	}
}

func TestCasesActionUsageAndRoles(t *testing.T) {
	isolate(t)
	seedSentCase(t)
	for _, args := range [][]string{
		{"cases", "triage", "1", "--as", "alice"},
		{"cases", "triage", "1", "--as", "alice", "--dismiss", "1"},
		{"cases", "close", "1", "--as", "alice"},
		{"cases", "resolve", "1", "--as", "alice"},
		{"cases", "request-changes", "1", "--as", "alice", "--revision", "1"},
		{"cases", "edit", "1", "--as", "alice", "--revision", "1"},
	} {
		if r := runCLI(t, "", dd(args...)...); r.code != 1 || !strings.Contains(r.stderr, casesUse) {
			t.Errorf("%v: %+v", args, r)
		}
	}
	// An analyst may not close a case: refused before Temporal is needed, and audited.
	r := runCLI(t, "", dd("cases", "close", "1", "--as", "alice", "--reason", "done")...)
	if r.code != 1 || !strings.Contains(r.stderr, "alice has the analyst role; this needs legal or admin") {
		t.Fatalf("analyst close: %+v", r)
	}
	store, err := storage.Open(context.Background(), "", "data", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	evs, err := store.AuditEvents(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 || evs[0].Action != "case.close.denied" || !strings.Contains(evs[0].Detail, "as alice") || !strings.HasPrefix(evs[0].Actor, "cli") {
		t.Fatalf("audit %+v", evs)
	}
}
