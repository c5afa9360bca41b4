package main

import (
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/internal/capture"
	"github.com/leakwatch/leakwatch/internal/testkit/leaksim"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
	"github.com/leakwatch/leakwatch/storage"
)

// TestGCAndHoldCommands crawls a leak forum with `leakwatch crawl`, ages
// the run, and drives `gc`, `hold` and `evidence verify|export` as an
// operator would: the run stays while its hits wait for a case and while
// its closed case is held; an analyst cannot set a hold; once the hold is
// lifted a dry run lists the run and removes nothing, gc removes its WARC
// files, verify says the content was removed by retention while the seal
// and digests check, and the export carries the manifest without content.
func TestGCAndHoldCommands(t *testing.T) {
	dir := isolate(t)
	t.Setenv(fingerprints.KeyEnv, testFingerprintKey)
	refs := filepath.Join(dir, "refs")
	docs, err := synth.Generate(refs, synth.Options{Seed: 5, Patients: 3, Docs: 6})
	if err != nil {
		t.Fatal(err)
	}
	var lab []byte
	for _, d := range docs {
		if d.Kind == synth.KindLabResult {
			if lab, err = os.ReadFile(filepath.Join(refs, filepath.FromSlash(d.RelPath))); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	site := leaksim.New(leaksim.Options{Logger: slog.New(slog.DiscardHandler), DisableHuge: true, DisableMissing: true,
		DisableRedirect: true, DisableOffsite: true, DisableLoop: true, Files: []leaksim.File{{Name: "lab.pdf", Data: lab}}})
	ts := httptest.NewServer(site)
	defer ts.Close()
	cfg := "crawler:\n  allow_networks: [\"127.0.0.0/8\"]\nretention:\n  content_days: 1\n  closed_case_days: 1\n"
	if err := os.WriteFile("leakwatch.yaml", []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	must := func(stdin string, args ...string) string {
		t.Helper()
		r := runCLI(t, stdin, dd(args...)...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
		return r.stdout
	}
	must("", "refs", "add", refs)
	must("", "sources", "add", "forum", ts.URL+"/", "--kind", "forum", "--every", "0")
	must("", "crawl", "forum")
	must("correct horse battery staple\n", "users", "add", "legal1", "--role", "legal", "--password-stdin")
	must("correct horse battery staple\n", "users", "add", "ana", "--role", "analyst", "--password-stdin")

	runDir := filepath.Join("data", "evidence", "run-1")
	warcs, _ := filepath.Glob(filepath.Join(runDir, "*.warc.gz*"))
	if len(warcs) == 0 {
		t.Fatal("the crawl kept no WARC file")
	}
	if out := must("", "gc"); !strings.Contains(out, "removed the content of 0 run(s)") || !strings.Contains(out, "kept 1 run(s): young") {
		t.Fatalf("gc of a young run:\n%s", out)
	}

	// Ten days on (the run's times moved back), its hits still wait for a
	// case (no Temporal here): kept.
	store, err := storage.Open(t.Context(), "", "data", nil)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().UTC().Add(-10 * 24 * time.Hour)
	if err := store.DB().Exec(`UPDATE crawl_runs SET started_at = ?, finished_at = ?`, old, old).Error; err != nil {
		t.Fatal(err)
	}
	if out := must("", "gc", "--dry-run"); !strings.Contains(out, "would remove the content of 0 run(s)") || !strings.Contains(out, "open case") {
		t.Fatalf("gc with hits waiting for a case:\n%s", out)
	}
	// Its case, closed five days ago, and held by legal.
	cs, err := store.EnsureCase(t.Context(), "127.0.0.1", "takedown-case:127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.SetCaseState(t.Context(), cs.ID, storage.CaseClosed, ""); err != nil {
		t.Fatal(err)
	}
	if err := store.DB().Exec(`UPDATE cases SET closed_at = ?`, old.Add(5*24*time.Hour)).Error; err != nil {
		t.Fatal(err)
	}
	store.Close()
	if r := runCLI(t, "", dd("hold", "add", "case", "1", "--as", "ana", "--reason", "claim CIV-1")...); r.code != 1 || !strings.Contains(r.stderr, "legal holds need legal or admin") {
		t.Fatalf("hold by an analyst: %+v", r)
	}
	if r := runCLI(t, "", dd("hold", "add", "case", "1", "--as", "legal1")...); r.code != 1 || !strings.Contains(r.stderr, "needs --as USER and --reason") {
		t.Fatalf("hold without a reason: %+v", r)
	}
	if out := must("", "hold", "add", "case", "127.0.0.1", "--as", "legal1", "--reason", "claim CIV-1"); !strings.Contains(out, "hold 1 on case:1 set by legal1") {
		t.Fatalf("hold add:\n%s", out)
	}
	if out := must("", "hold", "list"); !strings.Contains(out, "1\tcase:1\tset ") || !strings.Contains(out, "claim CIV-1\tactive") {
		t.Fatalf("hold list:\n%s", out)
	}
	if out := must("", "gc"); !strings.Contains(out, "removed the content of 0 run(s)") || !strings.Contains(out, "kept 1 run(s): legal hold") {
		t.Fatalf("gc of a held case's run:\n%s", out)
	}
	if out := must("", "hold", "remove", "1", "--as", "legal1", "--reason", "claim settled"); !strings.Contains(out, "hold 1 on case:1 lifted by legal1") {
		t.Fatalf("hold remove:\n%s", out)
	}
	if out := must("", "hold", "list"); !strings.Contains(out, "no legal holds") {
		t.Fatalf("hold list after lifting:\n%s", out)
	}
	if out := must("", "hold", "list", "--all"); !strings.Contains(out, "lifted ") || !strings.Contains(out, "(claim settled)") {
		t.Fatalf("hold list --all:\n%s", out)
	}

	// A dry run lists it and removes nothing; gc removes it.
	out := must("", "gc", "--dry-run")
	t.Log(out)
	if !strings.Contains(out, "would remove the content of 1 run(s)") || !strings.Contains(out, "run 1: ") || !strings.Contains(out, "case 1 closed") {
		t.Fatalf("dry run:\n%s", out)
	}
	if left, _ := filepath.Glob(filepath.Join(runDir, "*.warc.gz*")); len(left) != len(warcs) {
		t.Fatalf("the dry run removed files: %v", left)
	}
	if out := must("", "gc", "--json"); !strings.Contains(out, `"runs":1`) || !strings.Contains(out, `"dry_run":false`) {
		t.Fatalf("gc --json:\n%s", out)
	}
	if left, _ := filepath.Glob(filepath.Join(runDir, "*.warc.gz*")); len(left) != 0 {
		t.Fatalf("gc left %v", left)
	}
	if _, err := os.Stat(filepath.Join(runDir, capture.TombstoneName)); err != nil {
		t.Fatalf("no tombstone: %v", err)
	}
	out = must("", "evidence", "verify", "1")
	t.Log(out)
	if !strings.Contains(out, "run 1: content removed by retention on "+time.Now().UTC().Format("2006-01-02")) ||
		!strings.Contains(out, "retention.content_days=1") || !strings.Contains(out, "the seal and digests remain") {
		t.Fatalf("verify of a removed run:\n%s", out)
	}
	if out := must("", "evidence", "export", "1", "case.tar.gz"); !strings.Contains(out, "content removed by retention on") {
		t.Fatalf("export of a case whose run was removed:\n%s", out)
	}
	if out := must("", "gc"); !strings.Contains(out, "removed the content of 0 run(s)") {
		t.Fatalf("gc again:\n%s", out)
	}
	store, err = storage.Open(t.Context(), "", "data", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	evs, err := store.QueryAudit(t.Context(), storage.AuditFilter{ActionPrefix: "hold."})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, ev := range evs {
		actions = append(actions, ev.Action)
	}
	if got := strings.Join(actions, ","); got != "hold.remove,hold.add,hold.add.denied" {
		t.Errorf("hold audit events: %s", got)
	}
	evs, err = store.QueryAudit(t.Context(), storage.AuditFilter{ActionPrefix: "retention.gc"})
	if err != nil || len(evs) != 4 || !strings.Contains(evs[1].Detail, "removed the content of 1 runs") {
		t.Errorf("retention.gc audit events: %+v %v", evs, err)
	}
}
