package capture

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/leakwatch/leakwatch/crawlers/webcrawl"
	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/internal/testkit/leaksim"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
	"github.com/leakwatch/leakwatch/storage"
	"github.com/leakwatch/leakwatch/storage/storagetest"
)

// retentionSite is a leak forum on its own loopback address, so its hits
// make a case of their own (a case's target is the host, without port).
func retentionSite(t *testing.T, addr string, files ...leaksim.File) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	site := leaksim.New(leaksim.Options{Logger: slog.New(slog.DiscardHandler), DisableHuge: true, DisableMissing: true,
		DisableRedirect: true, DisableOffsite: true, DisableLoop: true, Files: files})
	ts := httptest.NewUnstartedServer(site)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(ts.Close)
	return ts.URL
}

// crawlRun crawls url into a new run of its own source, with WARC
// evidence (encrypted to recipients, if any), and seals it, as a worker
// does.
func crawlRun(t *testing.T, f *fixture, dataDir, name, url string, recipients ...age.Recipient) storage.CrawlRun {
	t.Helper()
	ctx := context.Background()
	src := storage.Source{Name: name, Kind: storage.SourceWeb, URL: url + "/", Enabled: true}
	if err := f.store.CreateSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	run, err := f.store.StartRun(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := f.p.ForRun(run)
	if err != nil {
		t.Fatal(err)
	}
	w, err := evidence.NewWriter(EvidenceDir(dataDir), evidence.WriterOptions{RunID: EvidenceRunID(run.ID), Recipients: recipients})
	if err != nil {
		t.Fatal(err)
	}
	c, err := webcrawl.New(webcrawl.Options{Workers: 2, Evidence: w})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := c.Crawl(cctx, url+"/", WebSink{Run: rec}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	run.Status = storage.RunOK
	if err := f.store.FinishRun(ctx, &run); err != nil {
		t.Fatal(err)
	}
	if err := Seal(ctx, f.store, run.ID, "", nil); err != nil {
		t.Fatal(err)
	}
	return run
}

// TestRetentionGC crawls four leak sites (one with nothing of ours, three
// with a lab result of the breach) and applies the retention policy at
// later and later times: young runs stay; an old run with no case goes,
// and verify then says its content was removed by retention while its
// seal and digests still check; an open case keeps its run until it
// closes and the closed-case period passes; a legal hold keeps a run
// whatever its case until lifted; a dry run removes nothing; and a gc
// stopped between marking and removing is finished by the next.
func TestRetentionGC(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testRetentionGC(t, "") })
	t.Run("postgres", func(t *testing.T) { testRetentionGC(t, storagetest.FreshPostgresDSN(t)) })
}

func testRetentionGC(t *testing.T, dsn string) {
	ctx := context.Background()
	f := newFixture(t, dsn)
	dataDir := t.TempDir()
	lab := f.doc(t, synth.KindLabResult)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}

	plain := crawlRun(t, f, dataDir, "chatter", retentionSite(t, "127.0.0.2", leaksim.File{Name: "notes.txt", Data: []byte("nothing of ours here, only chatter\n")}))
	open := crawlRun(t, f, dataDir, "open", retentionSite(t, "127.0.0.3", leaksim.File{Name: "lab.pdf", Data: lab}), id.Recipient())
	held := crawlRun(t, f, dataDir, "held", retentionSite(t, "127.0.0.4", leaksim.File{Name: "lab.pdf", Data: lab}))
	crash := crawlRun(t, f, dataDir, "crash", retentionSite(t, "127.0.0.5", leaksim.File{Name: "other.txt", Data: []byte("more chatter\n")}))

	// The two lab sites have hits, so cases; the others have none.
	caseOf := map[uint64]storage.Case{}
	for _, run := range []storage.CrawlRun{plain, open, held, crash} {
		cases, pending, err := f.store.RunCases(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(cases) != 0 {
			t.Fatalf("run %d: cases %v before any was opened", run.ID, cases)
		}
		if (run.ID == open.ID || run.ID == held.ID) != (len(pending) == 1) {
			t.Fatalf("run %d: hits pending for %v", run.ID, pending)
		}
		for _, target := range pending {
			cs, err := f.store.EnsureCase(ctx, target, "takedown-case:"+target)
			if err != nil {
				t.Fatal(err)
			}
			caseOf[run.ID] = cs
		}
	}
	// The held run's case is closed; only the hold keeps it.
	if err := f.store.SetCaseState(ctx, caseOf[held.ID].ID, storage.CaseClosed, ""); err != nil {
		t.Fatal(err)
	}
	hold := storage.LegalHold{Scope: storage.HoldRun, ObjectID: held.ID, Reason: "litigation: claim CIV-2026-404", SetBy: "legal1"}
	if err := f.store.AddHold(ctx, &hold); err != nil {
		t.Fatal(err)
	}

	policy := Policy{ContentDays: 90, ClosedCaseDays: 180}
	gc := func(now time.Time, dry bool) GCReport {
		t.Helper()
		rep, err := GC(ctx, f.store, dataDir, GCOptions{Policy: policy, Now: now, DryRun: dry, Actor: "test"})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	removed := func(rep GCReport) map[uint64]bool {
		out := map[uint64]bool{}
		for _, r := range rep.Removed {
			out[r.RunID] = true
		}
		return out
	}
	files := func(run storage.CrawlRun) []string {
		t.Helper()
		fs, err := listContent(filepath.Join(EvidenceDir(dataDir), EvidenceRunID(run.ID)))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range fs {
			names = append(names, f.name)
		}
		return names
	}
	for _, run := range []storage.CrawlRun{plain, open, held, crash} {
		if len(files(run)) == 0 {
			t.Fatalf("run %d kept no WARC file", run.ID)
		}
	}

	// Today: everything is young.
	if rep := gc(time.Now(), false); rep.Runs != 0 || rep.Kept[KeptYoung] != 4 {
		t.Fatalf("gc today: %+v, want 4 young runs kept", rep)
	}

	// 100 days on, a dry run lists the chatter runs and removes nothing.
	later := time.Now().Add(100 * 24 * time.Hour)
	dry := gc(later, true)
	if got := removed(dry); len(got) != 2 || !got[plain.ID] || !got[crash.ID] || dry.Files < 2 || dry.Bytes <= 0 {
		t.Fatalf("dry run: %+v, want the runs %d and %d", dry, plain.ID, crash.ID)
	}
	if dry.Kept[KeptOpenCase] != 1 || dry.Kept[KeptHold] != 1 {
		t.Errorf("dry run kept %v, want one open case and one hold", dry.Kept)
	}
	if dry.PlainFiles == 0 {
		t.Errorf("dry run counted no plain WARC file of the kept held run")
	}
	for _, run := range []storage.CrawlRun{plain, crash} {
		if len(files(run)) == 0 {
			t.Fatalf("dry run removed run %d's files", run.ID)
		}
		if _, ok, _ := f.store.EvidenceRemovalOf(ctx, run.ID); ok {
			t.Fatalf("dry run recorded a removal of run %d", run.ID)
		}
	}

	// A gc that stops after marking the crash run (and removing the
	// chatter run, marked first) ...
	stop := errors.New("killed")
	_, err = GC(ctx, f.store, dataDir, GCOptions{Policy: policy, Now: later, Actor: "test", afterMark: func(runID uint64) error {
		if runID == crash.ID {
			return stop
		}
		return nil
	}})
	if !errors.Is(err, stop) {
		t.Fatalf("interrupted gc: %v", err)
	}
	if m, ok, _ := f.store.EvidenceRemovalOf(ctx, crash.ID); !ok || m.Done() || len(files(crash)) == 0 {
		t.Fatalf("crash run after the interrupted gc: %+v (recorded %v), files %v; want marked, files still there", m, ok, files(crash))
	}
	// ... is finished by the next one.
	rep := gc(later, false)
	if got := removed(rep); len(got) != 1 || !got[crash.ID] || !rep.Removed[0].Resumed {
		t.Fatalf("gc after the interruption: %+v, want run %d's removal finished", rep, crash.ID)
	}
	for _, run := range []storage.CrawlRun{plain, crash} {
		if names := files(run); len(names) != 0 {
			t.Errorf("run %d still has %v", run.ID, names)
		}
		m, ok, err := f.store.EvidenceRemovalOf(ctx, run.ID)
		if err != nil || !ok || !m.Done() || m.Files == 0 || !strings.Contains(m.Sums, ".warc.gz") || m.Policy != policy.String() {
			t.Errorf("run %d removal record: %+v %v %v", run.ID, m, ok, err)
		}
		b, err := os.ReadFile(filepath.Join(EvidenceDir(dataDir), EvidenceRunID(run.ID), TombstoneName))
		if err != nil {
			t.Fatal(err)
		}
		var ts Tombstone
		if err := json.Unmarshal(b, &ts); err != nil || ts.RunID != run.ID || ts.Files != m.Files || ts.SHA256SUMS != m.Sums {
			t.Errorf("tombstone of run %d: %+v (%v)", run.ID, ts, err)
		}
	}
	// The removed run verifies: no files, but its rows, root and seal.
	probs, re, err := VerifyRun(ctx, f.store, dataDir, plain.ID)
	if err != nil || len(probs) != 0 || re.Removed == nil || !re.Removed.Done() || len(re.Records) == 0 {
		t.Fatalf("verify removed run: %v %v, removed %+v, %d records", probs, err, re.Removed, len(re.Records))
	}
	caps, _ := f.store.CapturesOfRun(ctx, plain.ID)
	for _, c := range caps {
		if c.Evidence == "" {
			continue
		}
		probs, ce, err := VerifyCapture(ctx, f.store, dataDir, c.ID)
		if err != nil || len(probs) != 0 || ce.Removed == nil {
			t.Fatalf("verify capture %d of a removed run: %v %v", c.ID, probs, err)
		}
		break
	}
	// Tampering with the digests a removed run keeps is still caught.
	if err := f.store.SealRun(ctx, plain.ID, strings.Repeat("0", 64), "", "", nil); err != nil {
		t.Fatal(err)
	}
	if probs, _, _ := VerifyRun(ctx, f.store, dataDir, plain.ID); len(probs) != 1 || probs[0].Kind != "seal" {
		t.Errorf("removed run with a changed root: %v, want one seal problem", probs)
	}
	// Nothing more goes: the open case and the hold keep theirs.
	if rep := gc(later, false); rep.Runs != 0 {
		t.Fatalf("second gc removed %+v", rep.Removed)
	}
	if len(files(open)) == 0 || len(files(held)) == 0 {
		t.Fatal("an open case's or a held run's content was removed")
	}

	// The open case closes: kept for the closed-case period, then gone.
	if err := f.store.SetCaseState(ctx, caseOf[open.ID].ID, storage.CaseClosed, ""); err != nil {
		t.Fatal(err)
	}
	if rep := gc(later, false); rep.Runs != 0 || rep.Kept[KeptClosedCase] != 1 {
		t.Fatalf("gc just after the case closed: %+v", rep)
	}
	muchLater := time.Now().Add(200 * 24 * time.Hour)
	rep = gc(muchLater, false)
	if got := removed(rep); len(got) != 1 || !got[open.ID] || !strings.Contains(rep.Removed[0].Reason, "closed") {
		t.Fatalf("gc after the closed-case period: %+v, want run %d", rep, open.ID)
	}
	if names := files(open); len(names) != 0 {
		t.Errorf("closed case's run still has %v", names)
	}
	// Encrypted evidence went the same way; the removal is exported as
	// such (manifest and digests, no WARC file).
	caps, err = f.store.CapturesForCase(ctx, caseOf[open.ID].ID)
	if err != nil {
		t.Fatal(err)
	}
	x, bad, err := BuildCaseExport(ctx, f.store, dataDir, caseOf[open.ID], caps, time.Now().UTC(), id)
	if err != nil || len(bad) > 0 {
		t.Fatalf("export of a removed run: %v %v", err, bad)
	}
	if len(x.Index.Runs) != 1 || x.Index.Runs[0].ContentRemoved == nil || len(x.Index.Runs[0].WARCFiles) != 0 || x.Index.Runs[0].RetentionPolicy == "" {
		t.Fatalf("export index runs: %+v", x.Index.Runs)
	}
	var buf strings.Builder
	if err := x.WriteBundle(&buf, EvidenceDir(dataDir), id); err != nil {
		t.Fatalf("bundle of a removed run: %v", err)
	}

	// The hold still keeps its run; lifted, the run goes.
	if got := removed(rep); got[held.ID] || len(files(held)) == 0 {
		t.Fatal("the held run was removed")
	}
	if _, err := f.store.LiftHold(ctx, hold.ID, "legal1", "claim settled", time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.LiftHold(ctx, hold.ID, "legal1", "again", time.Now()); !errors.Is(err, storage.ErrHoldLifted) {
		t.Errorf("lifting a lifted hold: %v", err)
	}
	rep = gc(muchLater, false)
	if got := removed(rep); len(got) != 1 || !got[held.ID] {
		t.Fatalf("gc after the hold was lifted: %+v", rep)
	}

	// A leftover that appears in a removed run (encrypted by a pass that
	// raced the removal) is swept.
	stray := filepath.Join(EvidenceDir(dataDir), EvidenceRunID(plain.ID), "run-x-00002.warc.gz.age")
	if err := os.WriteFile(stray, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if rep := gc(muchLater, false); rep.Swept != 1 {
		t.Errorf("sweep: %+v", rep)
	}
	if _, err := os.Stat(stray); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stray file not swept: %v", err)
	}

	// Each non-dry gc is audited with its counts.
	evs, err := f.store.QueryAudit(ctx, storage.AuditFilter{ActionPrefix: "retention.gc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) < 5 || !strings.Contains(evs[0].Detail, "removed the content of") {
		t.Errorf("retention.gc audit events: %d, newest %+v", len(evs), evs)
	}
}

// A hold on a case or a source keeps every run of it; retention 0 keeps
// everything; a run still running is never touched.
func TestRetentionHoldScopes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "")
	dataDir := t.TempDir()
	lab := f.doc(t, synth.KindLabResult)
	byCase := crawlRun(t, f, dataDir, "by-case", retentionSite(t, "127.0.0.6", leaksim.File{Name: "lab.pdf", Data: lab}))
	bySource := crawlRun(t, f, dataDir, "by-source", retentionSite(t, "127.0.0.7", leaksim.File{Name: "x.txt", Data: []byte("chatter\n")}))
	_, pending, err := f.store.RunCases(ctx, byCase.ID)
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending targets: %v %v", pending, err)
	}
	cs, err := f.store.EnsureCase(ctx, pending[0], "takedown-case:"+pending[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.SetCaseState(ctx, cs.ID, storage.CaseClosed, ""); err != nil {
		t.Fatal(err)
	}
	for _, h := range []storage.LegalHold{
		{Scope: storage.HoldCase, ObjectID: cs.ID, Reason: "regulator inquiry", SetBy: "legal1"},
		{Scope: storage.HoldSource, ObjectID: bySource.SourceID, Reason: "police request", SetBy: "admin1"},
	} {
		if err := f.store.AddHold(ctx, &h); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.store.AddHold(ctx, &storage.LegalHold{Scope: "case", ObjectID: cs.ID, SetBy: "legal1"}); err == nil {
		t.Error("a hold without a reason was accepted")
	}
	running, err := f.store.StartRun(ctx, bySource.SourceID)
	if err != nil {
		t.Fatal(err)
	}
	far := time.Now().Add(3 * 365 * 24 * time.Hour)
	rep, err := GC(ctx, f.store, dataDir, GCOptions{Policy: Policy{ContentDays: 1}, Now: far, Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	// Running: ours, and the fixture's.
	if rep.Runs != 0 || rep.Kept[KeptHold] != 2 || rep.Kept[KeptActive] != 2 {
		t.Fatalf("gc with a case and a source held and run %d running: %+v", running.ID, rep)
	}
	holds, err := f.store.LegalHolds(ctx, false)
	if err != nil || len(holds) != 2 {
		t.Fatalf("active holds: %v %v", holds, err)
	}
	for _, h := range holds {
		if _, err := f.store.LiftHold(ctx, h.ID, "legal1", "done", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if rep, err := GC(ctx, f.store, dataDir, GCOptions{Policy: Policy{}, Now: far, Actor: "test"}); err != nil || rep.Runs != 0 || rep.Kept[KeptForever] != 2 {
		t.Fatalf("gc with content_days 0: %+v %v", rep, err)
	}
	rep, err = GC(ctx, f.store, dataDir, GCOptions{Policy: Policy{ContentDays: 1}, Now: far, Actor: "test"})
	if err != nil || rep.Runs != 2 || rep.Kept[KeptActive] != 2 {
		t.Fatalf("gc once the holds were lifted: %+v %v", rep, err)
	}
	all, err := f.store.LegalHolds(ctx, true)
	if err != nil || len(all) != 2 || all[0].Active() || all[0].LiftedBy != "legal1" {
		t.Fatalf("all holds: %+v %v", all, err)
	}
}
