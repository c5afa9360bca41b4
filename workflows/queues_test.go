package workflows

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/crawlers/webcrawl"
	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/internal/capture"
	"github.com/leakwatch/leakwatch/internal/notices"
	"github.com/leakwatch/leakwatch/internal/references"
	"github.com/leakwatch/leakwatch/internal/temporalproc/temporaltest"
	"github.com/leakwatch/leakwatch/internal/testkit/leaksim"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
	"github.com/leakwatch/leakwatch/storage"
)

// TestSplitQueues runs two workers against one real Temporal, as two
// processes would: one serving only the crawl queue (no reference index:
// it spools what it fetches) and one serving scan and notify (the index).
// A crawl of a leak site gets to hits and a drafted case, and every
// activity ran on a worker serving its queue: fetching on the crawler,
// matching on the scanner.
func TestSplitQueues(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the Temporal server")
	}
	ctx := context.Background()
	srv := temporaltest.Start(t)
	dial := func(identity string) client.Client {
		c, err := client.DialContext(ctx, client.Options{HostPort: srv.Address(), Namespace: srv.Namespace(),
			Identity: identity, Logger: sdklog.NewStructuredLogger(temporaltest.Logger(t))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return c
	}
	dir := t.TempDir()
	store, err := storage.Open(ctx, "", filepath.Join(dir, "db"), nil)
	must(t, err)
	t.Cleanup(func() { store.Close() })

	// The breach's reference index, and a leak site posting two of its files.
	refs := filepath.Join(dir, "refs")
	docs, err := synth.Generate(refs, synth.Options{Seed: 5, Patients: 4, Docs: 8})
	must(t, err)
	key, err := fingerprints.NewKey(bytes.Repeat([]byte{3}, 32))
	must(t, err)
	_, err = references.Import(ctx, store, refs, references.Options{Key: key})
	must(t, err)
	var files []leaksim.File
	for _, d := range docs {
		if d.Kind == synth.KindLabResult || d.Kind == synth.KindClinicalNote {
			b, err := os.ReadFile(filepath.Join(refs, filepath.FromSlash(d.RelPath)))
			must(t, err)
			files = append(files, leaksim.File{Name: filepath.Base(d.RelPath), Data: b, Thread: "dump " + string(d.Kind)})
		}
		if len(files) == 2 {
			break
		}
	}
	site := leaksim.New(leaksim.Options{Logger: slog.New(slog.DiscardHandler), DisableHuge: true, DisableMissing: true,
		DisableRedirect: true, Files: files})
	ts := httptest.NewServer(site)
	t.Cleanup(ts.Close)
	src := storage.Source{Name: "forum", Kind: storage.SourceWeb, URL: ts.URL + "/", Enabled: true}
	must(t, store.CreateSource(ctx, &src))

	tpl, err := notices.Load()
	must(t, err)
	ncfg := config.Default().Notices
	ncfg.Recipients = map[string]string{"127.0.0.1": "abuse@leaks.example"}
	ncfg.Triage, ncfg.DraftDelay = config.TriageAuto, time.Second
	cases := func() *CaseActivities {
		return &CaseActivities{Store: store, Templates: tpl, Notices: ncfg, Injunction: testInjunction(),
			From: "Takedowns <takedowns@health.example>"}
	}
	const base = "leakwatch-split"
	start := func(c client.Client, queues []string, acts Activities) {
		acts.Dispatch = &Dispatcher{Store: store, Client: c, TaskQueue: base}
		ws, err := NewWorkers(c, base, queues, acts, WorkerSlots{Crawl: 2, Scan: 2})
		must(t, err)
		for _, w := range ws {
			must(t, w.Start())
			t.Cleanup(w.Stop)
		}
	}

	// The crawler: no scanner, so it must spool.
	sealer := capture.NewSpoolSealer(key)
	crawlC := dial("crawl-worker")
	start(crawlC, []string{config.QueueCrawl}, Activities{
		Crawl: &CrawlActivities{Store: store, Pipeline: &capture.Pipeline{Store: store, Spool: sealer},
			Crawler: webcrawl.Options{Workers: 2}},
		Cases: cases(),
	})
	// The scanner and sender: the index.
	sc, err := references.NewScanner(ctx, store, key, match.Options{}, 0)
	must(t, err)
	scanC := dial("scan-worker")
	start(scanC, []string{config.QueueScan, config.QueueNotify}, Activities{
		Crawl: &CrawlActivities{Store: store},
		Scan:  &ScanActivities{Store: store, Pipeline: &capture.Pipeline{Store: store, Scanner: sc, Spool: sealer}, Parallel: 2},
		Cases: cases(),
	})

	// A notify-only worker cannot be made without the send activity, and
	// an unknown queue is refused.
	if _, err := NewWorkers(scanC, base, []string{"fetch"}, Activities{Cases: cases()}, WorkerSlots{}); err == nil {
		t.Error("NewWorkers accepted an unknown queue")
	}
	if _, err := NewWorkers(scanC, base, []string{config.QueueScan}, Activities{Cases: cases()}, WorkerSlots{}); err == nil {
		t.Error("NewWorkers made a scan worker with nothing to scan with")
	}

	cctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	run, err := crawlC.ExecuteWorkflow(cctx, client.StartWorkflowOptions{ID: "crawl-split", TaskQueue: base}, CrawlSourceName, CrawlInput{SourceID: src.ID})
	must(t, err)
	var res CrawlResult
	if err := run.Get(cctx, &res); err != nil {
		t.Fatalf("CrawlSource: %v", err)
	}
	t.Logf("crawl: %+v", res)
	if res.Files != len(files) || res.Hits < len(files) || res.Dispatched < len(files) {
		t.Fatalf("crawl result %+v; want %d files matched and dispatched", res, len(files))
	}
	if n, err := store.CountSpooled(ctx, res.RunID); err != nil || n != 0 {
		t.Errorf("%d captures left in the spool (%v)", n, err)
	}
	hits, err := store.HitsForTarget(ctx, "127.0.0.1")
	must(t, err)
	for _, f := range files {
		found := false
		for _, h := range hits {
			found = found || strings.HasSuffix(h.URL, "/"+f.Name)
		}
		if !found {
			t.Errorf("no hit on the posted %s", f.Name)
		}
	}

	// Fetching ran on the crawler, matching on the scanner.
	ranBy := activityWorkers(t, crawlC, "crawl-split")
	for name, want := range map[string]string{"CrawlRun": "crawl-worker", "ScanRun": "scan-worker"} {
		if got := ranBy[name]; len(got) != 1 || got[0] != want+" on "+QueueName(base, queueOf(name)) {
			t.Errorf("%s ran on %v, want once by the %s on its queue", name, got, want)
		}
	}

	// The case drafts its notice through the base queue's activities.
	cs, err := store.CaseByRef(ctx, "127.0.0.1")
	must(t, err)
	deadline := time.Now().Add(time.Minute)
	for {
		ns, err := store.NoticesForCase(ctx, cs.ID)
		must(t, err)
		if len(ns) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("case %d has no draft after a minute", cs.ID)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for name, by := range activityWorkers(t, crawlC, cs.WorkflowID) {
		for _, b := range by {
			if !strings.HasSuffix(b, " on "+base) {
				t.Errorf("case activity %s ran %s; want the base queue", name, b)
			}
		}
	}
}

// queueOf is the queue of heavy work an activity runs on.
func queueOf(activity string) string {
	switch activity {
	case "CrawlRun", "TelegramLive":
		return config.QueueCrawl
	case "ScanRun", "CheckRemoval":
		return config.QueueScan
	}
	return config.QueueNotify
}

// activityWorkers reads a workflow's history: for each activity, who ran
// it on which task queue ("identity on queue"), per attempt that started.
func activityWorkers(t *testing.T, c client.Client, workflowID string) map[string][]string {
	t.Helper()
	type sched struct{ name, queue string }
	scheduled := map[int64]sched{}
	out := map[string][]string{}
	it := c.GetWorkflowHistory(context.Background(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		must(t, err)
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			scheduled[e.GetEventId()] = sched{a.GetActivityType().GetName(), a.GetTaskQueue().GetName()}
		}
		if a := e.GetActivityTaskStartedEventAttributes(); a != nil {
			s := scheduled[a.GetScheduledEventId()]
			out[s.name] = append(out[s.name], a.GetIdentity()+" on "+s.queue)
		}
	}
	return out
}
