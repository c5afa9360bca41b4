package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/internal/crawlbench"
	"github.com/leakwatch/leakwatch/internal/notices"
	"github.com/leakwatch/leakwatch/internal/temporalproc"
	"github.com/leakwatch/leakwatch/internal/tick"
	"github.com/leakwatch/leakwatch/storage"
	"github.com/leakwatch/leakwatch/workflows"
)

// benchCasesOptions are `bench cases`' flags.
type benchCasesOptions struct {
	N              int
	Items          int
	DraftDelay     time.Duration
	Dir            string // "" = a temporary directory, removed
	Binary         string // leakwatch-temporal; "" = $LEAKWATCH_TEMPORAL_BINARY, then next to leakwatch or on PATH
	Pollers        int    // workflow and activity task pollers of the worker
	Activities     int    // concurrent activity executions; 0 = the SDK's default
	DispatchFirst  bool   // start the worker only once every case is started
	Timeout        time.Duration
	HistorySamples int
	CPUProfile     string // write a CPU profile of this process from dispatch to the last draft
}

// casesBench is what `bench cases` measured. Durations are in
// milliseconds in JSON.
type casesBench struct {
	N             int     `json:"n"`
	Items         int     `json:"items_per_case"`
	DraftDelayMS  float64 `json:"draft_delay_ms"`
	Pollers       int     `json:"pollers"`
	Activities    int     `json:"max_concurrent_activities"`
	DispatchFirst bool    `json:"dispatch_first"`
	CPUs          int     `json:"cpus"`
	CPUModel      string  `json:"cpu_model,omitempty"`
	GoVersion     string  `json:"go_version"`
	LoadBefore    float64 `json:"load_avg_before"`
	LoadAfter     float64 `json:"load_avg_after"`

	ServerStartMS float64 `json:"server_start_ms"`
	SeedMS        float64 `json:"seed_ms"`
	// Dispatch: the Dispatcher's signal-with-start of every case.
	DispatchMS    float64 `json:"dispatch_ms"`
	CasesPerSec   float64 `json:"cases_started_per_sec"`
	HitsPerSignal float64 `json:"hits_per_signal"`
	// Drafting: from the first dispatch to the last notice drafted.
	Drafts       int     `json:"drafts"`
	DraftSpanMS  float64 `json:"draft_span_ms"`
	DraftsPerSec float64 `json:"drafts_per_sec"`
	// Detection→draft: notice.drafted_at − the first dispatched_at of the
	// case's hits.
	LatencyMinMS float64 `json:"latency_min_ms"`
	LatencyP50MS float64 `json:"latency_p50_ms"`
	LatencyP90MS float64 `json:"latency_p90_ms"`
	LatencyP99MS float64 `json:"latency_p99_ms"`
	LatencyMaxMS float64 `json:"latency_max_ms"`
	// SettledMS: from the first dispatch until every case shows state
	// drafted (the workflow's last step before it waits for a lawyer).
	SettledMS float64 `json:"settled_ms"`
	WallMS    float64 `json:"wall_ms"`

	PeakRSS       int64   `json:"peak_rss_bytes"`
	ServerPeakRSS int64   `json:"server_peak_rss_bytes"`
	CPUSec        float64 `json:"cpu_sec"`
	ServerCPUSec  float64 `json:"server_cpu_sec"`
	StoreBytes    int64   `json:"store_bytes"`
	TemporalBytes int64   `json:"temporal_db_bytes"`

	HistoryEvents  float64 `json:"history_events_mean"`
	HistoryBytes   float64 `json:"history_bytes_mean"`
	HistorySampled int     `json:"history_sampled"`
	// WorkflowInstances counts case workflows the worker built in memory:
	// one per case, plus one per replay after the sticky cache lost it.
	WorkflowInstances int64                       `json:"workflow_instances"`
	Activity          map[string]benchActivityRow `json:"activities"`
	ServerRestarts    int                         `json:"server_restarts"`
}

// benchActivityRow counts one activity type's executions.
type benchActivityRow struct {
	Executions int     `json:"executions"`
	Retries    int     `json:"retries"`  // executions with attempt > 1
	Failures   int     `json:"failures"` // executions that returned an error
	Locked     int     `json:"locked"`   // of which SQLite "database is locked"
	MeanMS     float64 `json:"mean_ms"`
	MaxMS      float64 `json:"max_ms"`
	FirstError string  `json:"first_error,omitempty"`
}

// benchCases parses `bench cases`' flags, runs the benchmark and prints it.
func benchCases(ctx context.Context, e *env, args []string) error {
	fset := flag.NewFlagSet("bench cases", flag.ContinueOnError)
	var o benchCasesOptions
	fset.IntVar(&o.N, "n", 1000, "cases to start: distinct targets host-N.example")
	fset.IntVar(&o.Items, "items", 1, "items (captured URLs, one hit each) per case")
	fset.DurationVar(&o.DraftDelay, "draft-delay", 0, "notices.draft_delay: how long a case lets its hits settle before drafting")
	fset.StringVar(&o.Dir, "data", "", "data directory for the fresh store and Temporal database, kept afterwards (default: a temporary one, removed); must hold no leakwatch.db or temporal.db")
	fset.StringVar(&o.Binary, "temporal-binary", "", "leakwatch-temporal to run (default: $LEAKWATCH_TEMPORAL_BINARY, then next to leakwatch or on PATH)")
	fset.IntVar(&o.Pollers, "pollers", 16, "the worker's workflow-task and activity-task pollers (each); with few, the first workflow task of new cases waits behind the sticky work of running ones (up's worker has the SDK's 2)")
	fset.IntVar(&o.Activities, "activities", 0, "the worker's concurrent activity executions (0: the SDK's default, 1000)")
	fset.BoolVar(&o.DispatchFirst, "dispatch-first", false, "start the worker only once every case is started (separates the start rate from drafting)")
	fset.DurationVar(&o.Timeout, "timeout", time.Hour, "give up when the notices are not all drafted after this long")
	fset.IntVar(&o.HistorySamples, "history-samples", 20, "cases whose workflow history size is read at the end")
	fset.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile (pprof) of this process, from the dispatch to the last draft, to this file")
	asJSON := fset.Bool("json", false, "print the figures as one JSON object")
	pos, err := e.parseFlags(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("bench cases takes no arguments (got %q)", pos[0])
	}
	if o.N <= 0 || o.Items <= 0 || o.DraftDelay < 0 || o.Pollers < 2 || o.Activities < 0 || o.Timeout <= 0 || o.HistorySamples < 0 {
		return errors.New("bench cases: --n, --items and --timeout must be positive, --pollers at least 2, --draft-delay, --activities and --history-samples not negative")
	}
	b, err := runCasesBench(ctx, e, o)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(b)
	}
	printCasesBench(e, b)
	return nil
}

// benchTarget is the host of the i-th synthetic case.
func benchTarget(i int) string { return fmt.Sprintf("host-%d.example", i) }

// runCasesBench starts N cases on the embedded server, as `up` runs them,
// and waits until each has drafted its notice.
func runCasesBench(ctx context.Context, e *env, o benchCasesOptions) (b casesBench, err error) {
	wallStart := time.Now()
	b = casesBench{N: o.N, Items: o.Items, DraftDelayMS: bcMS(o.DraftDelay), Pollers: o.Pollers, Activities: o.Activities,
		DispatchFirst: o.DispatchFirst, CPUs: runtime.NumCPU(), CPUModel: bcCPUModel(), GoVersion: runtime.Version(),
		LoadBefore: bcLoadAvg()}

	dir := o.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "leakwatch-bench-cases-")
		if err != nil {
			return b, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else {
		for _, name := range []string{"leakwatch.db", "temporal.db"} {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				return b, fmt.Errorf("bench cases: %s already holds a %s; give a new or empty directory", dir, name)
			}
		}
	}
	bin := o.Binary
	if bin == "" {
		bin = os.Getenv("LEAKWATCH_TEMPORAL_BINARY")
	}
	if bin, err = temporalproc.FindBinary(bin); err != nil {
		return b, err
	}

	cfg := benchCasesConfig(dir, o.DraftDelay)
	if e.logLevel == "" {
		cfg.Log.Level = "warn" // 10,000 "notice drafted" lines would bury the figures
	}
	e.dataDir = dir
	e.setConfig(cfg)
	if err := cfg.Validate(config.RequireInjunction(true)); err != nil {
		return b, fmt.Errorf("bench cases config: %w", err)
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return b, err
	}

	// The embedded server, as `up` starts it.
	t0 := time.Now()
	srv, err := temporalproc.Start(ctx, temporalproc.Options{
		Binary: bin, DBPath: filepath.Join(dir, "temporal.db"), Namespace: cfg.Temporal.Namespace,
		Retention: cfg.Temporal.Retention, Logger: e.log.With("component", "temporal"),
	})
	if err != nil {
		return b, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if serr := srv.Stop(sctx); serr != nil {
			e.log.Warn("stopping embedded Temporal", "err", serr)
		}
	}()
	b.ServerStartMS = bcMS(time.Since(t0))
	c, err := dialTemporal(ctx, e, srv.Address())
	if err != nil {
		return b, err
	}
	defer c.Close()

	// A crawl run that found N hosts, each with Items files matching the breach.
	fmt.Fprintf(e.stderr, "bench cases: seeding %d cases x %d items...\n", o.N, o.Items)
	t0 = time.Now()
	if err := seedBenchCases(ctx, store, o.N, o.Items); err != nil {
		return b, err
	}
	b.SeedMS = bcMS(time.Since(t0))

	// A worker with the real case activities, like `up`'s.
	tmpl, err := notices.Load()
	if err != nil {
		return b, err
	}
	mailer, err := notices.NewMailer(cfg.SMTP)
	if err != nil {
		return b, err
	}
	acts := &workflows.CaseActivities{Store: store, Templates: tmpl, Mailer: mailer, Notices: cfg.Notices,
		Injunction: cfg.Injunction, From: cfg.SMTP.From, Logger: e.log}
	stats := &benchStats{rows: map[string]*benchActivityStat{}}
	w := worker.New(c, cfg.Temporal.TaskQueue, worker.Options{
		MaxConcurrentActivityExecutionSize: o.Activities,
		MaxConcurrentWorkflowTaskPollers:   o.Pollers,
		MaxConcurrentActivityTaskPollers:   o.Pollers,
		Interceptors:                       []interceptor.WorkerInterceptor{stats},
	})
	workflows.RegisterWorkflows(w)
	w.RegisterActivity(acts)
	workerStarted := false
	startWorker := func() error {
		if err := w.Start(); err != nil {
			return fmt.Errorf("start worker: %w", err)
		}
		workerStarted = true
		return nil
	}
	defer func() {
		if workerStarted {
			w.Stop()
		}
	}()
	if !o.DispatchFirst {
		if err := startWorker(); err != nil {
			return b, err
		}
	}

	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	progress := benchProgress(ctx, e, store, o.N)
	defer progress()

	if o.CPUProfile != "" {
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return b, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return b, err
		}
		defer pprof.StopCPUProfile()
	}

	// Detection: the Dispatcher signals-with-start every case.
	fmt.Fprintf(e.stderr, "bench cases: dispatching %d cases...\n", o.N)
	d := &workflows.Dispatcher{Store: store, Client: c, TaskQueue: cfg.Temporal.TaskQueue}
	dispatchStart := time.Now()
	hits, err := d.DispatchHits(ctx)
	if err != nil {
		return b, fmt.Errorf("dispatch: %w", err)
	}
	b.DispatchMS = bcMS(time.Since(dispatchStart))
	if hits != o.N*o.Items {
		return b, fmt.Errorf("dispatch delivered %d hits, want %d", hits, o.N*o.Items)
	}
	b.CasesPerSec = float64(o.N) / (b.DispatchMS / 1e3)
	if o.DispatchFirst {
		if err := startWorker(); err != nil {
			return b, err
		}
	}

	// Drafting: wait until every case has its notice.
	for {
		n, err := benchCount(ctx, store, &storage.Notice{}, "state = ?", storage.NoticeDraft)
		if err != nil {
			return b, err
		}
		if n >= int64(o.N) {
			break
		}
		if err := benchSleep(ctx, 200*time.Millisecond); err != nil {
			return b, fmt.Errorf("%d of %d notices drafted after %s: %w", n, o.N, time.Since(dispatchStart).Round(time.Second), err)
		}
	}
	for {
		n, err := benchCount(ctx, store, &storage.Case{}, "state = ?", storage.CaseDrafted)
		if err != nil {
			return b, err
		}
		if n >= int64(o.N) {
			b.SettledMS = bcMS(time.Since(dispatchStart))
			break
		}
		if err := benchSleep(ctx, 200*time.Millisecond); err != nil {
			return b, fmt.Errorf("%d of %d cases at state drafted: %w", n, o.N, err)
		}
	}
	progress()

	if err := benchLatencies(ctx, store, &b); err != nil {
		return b, err
	}
	// History size of a few cases (they are all alike).
	var events, bytes int64
	for i := range min(o.HistorySamples, o.N) {
		target := benchTarget(i * o.N / max(1, min(o.HistorySamples, o.N)))
		desc, err := c.DescribeWorkflowExecution(ctx, workflows.CaseWorkflowID(target), "")
		if err != nil {
			return b, fmt.Errorf("describe case %s: %w", target, err)
		}
		events += desc.GetWorkflowExecutionInfo().GetHistoryLength()
		bytes += desc.GetWorkflowExecutionInfo().GetHistorySizeBytes()
		b.HistorySampled++
	}
	if b.HistorySampled > 0 {
		b.HistoryEvents = float64(events) / float64(b.HistorySampled)
		b.HistoryBytes = float64(bytes) / float64(b.HistorySampled)
	}

	b.WorkflowInstances = stats.instances.Load()
	b.Activity = stats.snapshot()
	b.ServerRestarts = srv.Restarts()
	b.PeakRSS = crawlbench.StatusField("/proc/self/status", "VmHWM")
	if pid := srv.PID(); pid > 0 {
		p := strconv.Itoa(pid)
		b.ServerPeakRSS = crawlbench.StatusField(filepath.Join("/proc", p, "status"), "VmHWM")
		b.ServerCPUSec = bcProcCPU(p)
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		b.CPUSec = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	b.StoreBytes = bcFileSizes(filepath.Join(dir, "leakwatch.db"))
	b.TemporalBytes = bcFileSizes(filepath.Join(dir, "temporal.db"))
	b.LoadAfter = bcLoadAvg()
	b.WallMS = bcMS(time.Since(wallStart))
	return b, nil
}

// benchCasesConfig is `up`'s configuration for the benchmark: cases
// confirm their items and draft at once, to a default recipient, and look
// nothing up on the network.
func benchCasesConfig(dir string, draftDelay time.Duration) *config.Config {
	cfg := config.Default()
	cfg.DataDir = dir
	cfg.Notices.Triage = config.TriageAuto
	cfg.Notices.DraftDelay = draftDelay
	cfg.Notices.DefaultRecipient = "abuse@bench.example"
	cfg.Notices.RDAP = false
	cfg.Notices.SecurityTxt = false
	cfg.Telegram.ReportInApp = false
	cfg.SMTP.From = "Takedown Team <takedowns@claimant.example>"
	cfg.Injunction = fictionalInjunction("benchmark", "CIV-2026-404-000999")
	return cfg
}

// seedBenchCases records one crawl run of a synthetic source that captured
// items files on each of n hosts, each file matching one reference.
func seedBenchCases(ctx context.Context, store *storage.Store, n, items int) error {
	src := storage.Source{Name: "bench-cases", Kind: storage.SourceLeakBlog, URL: "http://bench.example/", Enabled: false}
	if err := store.CreateSource(ctx, &src); err != nil {
		return err
	}
	run, err := store.StartRun(ctx, src.ID)
	if err != nil {
		return err
	}
	ref := storage.Reference{OpaqueID: "ref_bench", Name: "labs/lab-00001.pdf", Size: 102400, SHA256: bcRandHex(32), Kind: "pdf"}
	if _, err := store.AddReference(ctx, &ref); err != nil {
		return err
	}
	now := time.Now().UTC()
	for i := range n {
		host := benchTarget(i)
		for j := range items {
			c := storage.Capture{RunID: run.ID, SourceID: src.ID, Kind: storage.CaptureFile,
				URL: fmt.Sprintf("http://%s/dump/part-%d.zip", host, j), Host: host, FetchedAt: now, Status: 200,
				ContentType: "application/zip", SniffedType: "zip", SHA256: ref.SHA256, Size: ref.Size, Refs: 1}
			if _, err := store.SaveCapture(ctx, &c); err != nil {
				return err
			}
			h := storage.Hit{CaptureID: c.ID, ReferenceID: ref.ID, Method: "sha256", Score: 1, Why: "identical bytes (SHA-256)", Target: host}
			if _, err := store.AddHit(ctx, &h); err != nil {
				return err
			}
		}
	}
	run.Status, run.Files, run.Hits = storage.RunOK, n*items, n*items
	return store.FinishRun(ctx, &run)
}

// benchLatencies reads each case's detection (its hits' first dispatch)
// and its notice's drafting, and checks every case has exactly one draft.
func benchLatencies(ctx context.Context, store *storage.Store, b *casesBench) error {
	db := store.DB().WithContext(ctx)
	var ns []struct {
		CaseID    uint64
		State     storage.NoticeState
		DraftedAt time.Time
	}
	if err := db.Model(&storage.Notice{}).Select("case_id, state, drafted_at").Find(&ns).Error; err != nil {
		return fmt.Errorf("read notices: %w", err)
	}
	var cs []struct {
		ID     uint64
		Target string
	}
	if err := db.Model(&storage.Case{}).Select("id, target").Find(&cs).Error; err != nil {
		return fmt.Errorf("read cases: %w", err)
	}
	var hs []struct {
		Target       string
		DispatchedAt *time.Time
	}
	if err := db.Model(&storage.Hit{}).Select("target, dispatched_at").Find(&hs).Error; err != nil {
		return fmt.Errorf("read hits: %w", err)
	}
	detected := map[string]time.Time{}
	for _, h := range hs {
		if h.DispatchedAt == nil {
			return fmt.Errorf("a hit on %s was never dispatched", h.Target)
		}
		if t, ok := detected[h.Target]; !ok || h.DispatchedAt.Before(t) {
			detected[h.Target] = *h.DispatchedAt
		}
	}
	target := map[uint64]string{}
	for _, c := range cs {
		target[c.ID] = c.Target
	}
	if len(cs) != b.N {
		return fmt.Errorf("%d cases, want %d", len(cs), b.N)
	}
	perCase := map[uint64]int{}
	var lat []time.Duration
	first, last := time.Time{}, time.Time{}
	for _, t := range detected {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	for _, n := range ns {
		perCase[n.CaseID]++
		if n.State != storage.NoticeDraft {
			return fmt.Errorf("case %d has a notice in state %s", n.CaseID, n.State)
		}
		d, ok := detected[target[n.CaseID]]
		if !ok {
			return fmt.Errorf("case %d (%q) has a notice but no dispatched hit", n.CaseID, target[n.CaseID])
		}
		lat = append(lat, n.DraftedAt.Sub(d))
		if n.DraftedAt.After(last) {
			last = n.DraftedAt
		}
	}
	for id, k := range perCase {
		if k != 1 {
			return fmt.Errorf("case %d has %d notices, want exactly one draft", id, k)
		}
	}
	if len(perCase) != b.N {
		return fmt.Errorf("%d cases have a draft, want %d", len(perCase), b.N)
	}
	b.Drafts = len(ns)
	b.HitsPerSignal = float64(len(hs)) / float64(b.N)
	slices.Sort(lat)
	q := func(p float64) float64 { return bcMS(lat[min(len(lat)-1, int(p*float64(len(lat))))]) }
	b.LatencyMinMS, b.LatencyP50MS, b.LatencyP90MS, b.LatencyP99MS, b.LatencyMaxMS = bcMS(lat[0]), q(0.50), q(0.90), q(0.99), bcMS(lat[len(lat)-1])
	b.DraftSpanMS = bcMS(last.Sub(first))
	if b.DraftSpanMS > 0 {
		b.DraftsPerSec = float64(b.N) / (b.DraftSpanMS / 1e3)
	}
	return nil
}

// benchProgress prints dispatched and drafted counts to stderr every 5 s
// until the returned stop is called (stop may be called again).
func benchProgress(ctx context.Context, e *env, store *storage.Store, n int) (stop func()) {
	start := time.Now()
	return tick.Every(ctx, 5*time.Second, func(ctx context.Context) {
		disp, err1 := benchCount(ctx, store, &storage.Hit{}, "dispatched_at IS NOT NULL")
		drafted, err2 := benchCount(ctx, store, &storage.Notice{}, "state = ?", storage.NoticeDraft)
		if err1 == nil && err2 == nil {
			fmt.Fprintf(e.stderr, "bench cases: %5.0fs  hits dispatched %d, notices drafted %d of %d\n",
				time.Since(start).Seconds(), disp, drafted, n)
		}
	})
}

func benchCount(ctx context.Context, store *storage.Store, model any, where string, args ...any) (int64, error) {
	var n int64
	if err := store.DB().WithContext(ctx).Model(model).Where(where, args...).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count: %w", err)
	}
	return n, nil
}

func benchSleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// benchStats counts the worker's activity executions (retries, failures,
// time) and the case workflows it builds in memory.
type benchStats struct {
	interceptor.WorkerInterceptorBase
	instances atomic.Int64
	mu        sync.Mutex
	rows      map[string]*benchActivityStat
}

type benchActivityStat struct {
	benchActivityRow
	total, max time.Duration
}

func (s *benchStats) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &benchActivityCounter{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, s: s}
}

func (s *benchStats) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	s.instances.Add(1)
	return &interceptor.WorkflowInboundInterceptorBase{Next: next}
}

type benchActivityCounter struct {
	interceptor.ActivityInboundInterceptorBase
	s *benchStats
}

func (a *benchActivityCounter) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	info := activity.GetInfo(ctx)
	start := time.Now()
	res, err := a.Next.ExecuteActivity(ctx, in)
	d := time.Since(start)
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	r := a.s.rows[info.ActivityType.Name]
	if r == nil {
		r = &benchActivityStat{}
		a.s.rows[info.ActivityType.Name] = r
	}
	r.Executions++
	r.total += d
	r.max = max(r.max, d)
	if info.Attempt > 1 {
		r.Retries++
	}
	if err != nil {
		r.Failures++
		if msg := err.Error(); strings.Contains(msg, "database is locked") || strings.Contains(msg, "SQLITE_BUSY") {
			r.Locked++
		}
		if r.FirstError == "" {
			r.FirstError = err.Error()
		}
	}
	return res, err
}

func (s *benchStats) snapshot() map[string]benchActivityRow {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]benchActivityRow{}
	for name, r := range s.rows {
		row := r.benchActivityRow
		row.MeanMS = bcMS(r.total) / float64(max(1, r.Executions))
		row.MaxMS = bcMS(r.max)
		out[name] = row
	}
	return out
}

// printCasesBench prints `bench cases` figures as a small table.
func printCasesBench(e *env, b casesBench) {
	w := e.stdout
	sec := func(msv float64) string {
		return (time.Duration(msv * float64(time.Millisecond))).Round(10 * time.Millisecond).String()
	}
	worker := fmt.Sprintf("%d pollers each", b.Pollers)
	if b.Activities > 0 {
		worker += fmt.Sprintf(", %d concurrent activities", b.Activities)
	}
	if b.DispatchFirst {
		worker += "; started after the dispatch"
	}
	fmt.Fprintf(w, "cases        %d (host-N.example), %d item(s) each; triage auto, draft_delay %s; worker: %s\n",
		b.N, b.Items, sec(b.DraftDelayMS), worker)
	fmt.Fprintf(w, "machine      %d CPUs (%s), %s; load average %.2f before, %.2f after\n", b.CPUs, b.CPUModel, b.GoVersion, b.LoadBefore, b.LoadAfter)
	fmt.Fprintf(w, "setup        embedded Temporal ready in %s; %d captures and hits seeded in %s\n", sec(b.ServerStartMS), b.N*b.Items, sec(b.SeedMS))
	fmt.Fprintln(w)
	const row = "%-34s %s\n"
	fmt.Fprintf(w, row, "cases started (signal-with-start)", fmt.Sprintf("%.1f cases/s (%d in %s, the Dispatcher alone)", b.CasesPerSec, b.N, sec(b.DispatchMS)))
	fmt.Fprintf(w, row, "notices drafted", fmt.Sprintf("%.1f drafts/s (%d, first dispatch to last draft %s)", b.DraftsPerSec, b.Drafts, sec(b.DraftSpanMS)))
	fmt.Fprintf(w, row, "detection -> draft latency", fmt.Sprintf("p50 %s  p90 %s  p99 %s  max %s  (min %s)",
		sec(b.LatencyP50MS), sec(b.LatencyP90MS), sec(b.LatencyP99MS), sec(b.LatencyMaxMS), sec(b.LatencyMinMS)))
	fmt.Fprintf(w, row, "every case at state drafted", "after "+sec(b.SettledMS))
	fmt.Fprintf(w, row, "wall time", sec(b.WallMS)+" (server start, seeding, dispatch, drafting)")
	fmt.Fprintf(w, row, "peak RSS", fmt.Sprintf("%s this process (worker, dispatcher, store); %s leakwatch-temporal", benchMB(b.PeakRSS), benchMB(b.ServerPeakRSS)))
	fmt.Fprintf(w, row, "CPU", fmt.Sprintf("%.1f s this process, %.1f s leakwatch-temporal", b.CPUSec, b.ServerCPUSec))
	fmt.Fprintf(w, row, "on disk", fmt.Sprintf("%s leakwatch.db, %s temporal.db (with WAL)", benchMB(b.StoreBytes), benchMB(b.TemporalBytes)))
	fmt.Fprintf(w, row, "case history", fmt.Sprintf("%.0f events, %.1f KB (mean of %d cases)", b.HistoryEvents, b.HistoryBytes/1e3, b.HistorySampled))
	note := ""
	if extra := b.WorkflowInstances - int64(b.N); extra > 0 {
		note = fmt.Sprintf(": %d replays after the sticky cache lost a case", extra)
	}
	fmt.Fprintf(w, row, "workflows built by the worker", fmt.Sprintf("%d%s", b.WorkflowInstances, note))
	if b.ServerRestarts > 0 {
		fmt.Fprintf(w, row, "server restarts", strconv.Itoa(b.ServerRestarts))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-16s %10s %8s %9s %7s %9s %9s\n", "activity", "executions", "retries", "failures", "locked", "mean", "max")
	names := make([]string, 0, len(b.Activity))
	for n := range b.Activity {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		r := b.Activity[n]
		fmt.Fprintf(w, "%-16s %10d %8d %9d %7d %8.1fms %8.0fms\n", n, r.Executions, r.Retries, r.Failures, r.Locked, r.MeanMS, r.MaxMS)
	}
	for _, n := range names {
		if r := b.Activity[n]; r.FirstError != "" {
			fmt.Fprintf(w, "first error of %s: %s\n", n, r.FirstError)
		}
	}
}

func bcMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func bcRandHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// bcProcCPU is a process's user+system time from /proc/PID/stat
// (USER_HZ is 100 on Linux).
func bcProcCPU(pid string) float64 {
	raw, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th of the whole line.
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(fields[11], 64)
	st, _ := strconv.ParseFloat(fields[12], 64)
	return (ut + st) / 100
}

func bcLoadAvg() float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func bcCPUModel() string {
	raw, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// bcFileSizes is the size of an SQLite file with its -wal and -shm.
func bcFileSizes(path string) int64 {
	var n int64
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if st, err := os.Stat(p); err == nil {
			n += st.Size()
		}
	}
	return n
}
