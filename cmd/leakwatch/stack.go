package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"
	"golang.org/x/sync/errgroup"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/crawlers/tgmonitor/tme"
	"github.com/leakwatch/leakwatch/internal/capture"
	"github.com/leakwatch/leakwatch/internal/filelock"
	"github.com/leakwatch/leakwatch/internal/temporalproc"
	"github.com/leakwatch/leakwatch/internal/web"
	"github.com/leakwatch/leakwatch/internal/webhook"
	"github.com/leakwatch/leakwatch/storage"
	"github.com/leakwatch/leakwatch/workflows"
)

// stackOptions choose which parts of leakwatch a process runs.
type stackOptions struct {
	worker bool // Temporal worker, schedules and the hit dispatcher
	// queues of heavy work the worker serves (config.WorkerQueues); nil: all
	queues  []string
	web     bool
	mailbox web.Mailbox // demo only
	// locked: the caller holds the data directory's lock already (demo
	// takes it before it writes anything there).
	locked bool
}

// stack is a running leakwatch: the embedded or external Temporal, and the
// parts selected by stackOptions.
type stack struct {
	e      *env
	server *temporalproc.Server // nil with an external cluster
	client client.Client
	acts   workflows.Activities // nil members: this process runs no worker
	queues []string             // the worker's queues of heavy work
	cases  *workflows.Cases
	web    *web.Server
	hooks  *webhook.Dispatcher // nil: no web in this process
	unlock func()
	// stopMetrics ends the metrics listener (metrics.listen), if any.
	stopMetrics func()
}

// runtimeDir holds state of a running `up`: the lock and the Temporal address
// other CLI invocations on the same data directory connect to.
func runtimeDir(dataDir string) string { return filepath.Join(dataDir, "run") }

func addrFile(dataDir string) string { return filepath.Join(runtimeDir(dataDir), "temporal.addr") }

// lockDataDir makes sure one `up` owns a data directory: two embedded Temporal
// servers on one SQLite file would corrupt each other's view.
func lockDataDir(dataDir string) (func(), error) {
	if err := os.MkdirAll(runtimeDir(dataDir), 0o700); err != nil {
		return nil, fmt.Errorf("create runtime dir: %w", err)
	}
	lock, err := filelock.TryLock(filepath.Join(runtimeDir(dataDir), "up.lock"))
	if errors.Is(err, filelock.ErrLocked) {
		if pid := filelock.Holder(filepath.Join(runtimeDir(dataDir), "up.lock")); pid != "" {
			return nil, fmt.Errorf("data directory %s is in use by another leakwatch up/demo (pid %s)", dataDir, pid)
		}
		return nil, fmt.Errorf("data directory %s is in use by another leakwatch up/demo", dataDir)
	}
	if err != nil {
		return nil, err
	}
	return func() { lock.Unlock() }, nil
}

func startStack(ctx context.Context, e *env, opts stackOptions) (_ *stack, err error) {
	cfg := e.cfg
	s := &stack{e: e}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()
	addr := cfg.Temporal.Address
	// Only a process that runs a worker owns the embedded server; `web`
	// alone joins the one `up` started. The lock comes before anything is
	// written (migrations, sources): a refused up leaves the directory alone.
	ownsDir := addr == "" && opts.worker
	if ownsDir && !opts.locked {
		if s.unlock, err = lockDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return nil, err
	}
	obs := e.startObservability(store)
	if cfg.Metrics.Listen != "" {
		// Before Temporal and the index: /healthz answers and /readyz
		// says what is still loading while they start.
		if s.stopMetrics, err = serveMetrics(e, obs, store); err != nil {
			return nil, err
		}
	}
	for _, sc := range cfg.Sources {
		src := storage.Source{Name: sc.Name, Kind: storage.SourceKind(sc.Kind), URL: sc.URL, EverySecs: int64(sc.Every / time.Second), Enabled: true,
			Options: storage.SourceOptions{
				Selectors: storage.Selectors{Content: sc.Selectors.Content, Links: sc.Selectors.Links, Next: sc.Selectors.Next, Files: sc.Selectors.Files},
				Allow:     sc.Allow, Deny: sc.Deny, MaxFileBytes: sc.MaxFileBytes, Proxy: sc.Proxy, Workers: sc.Workers, Rate: sc.Rate, FileTypes: sc.FileTypes,
				WatchTerms: sc.WatchTerms, CookiesFile: sc.CookiesFile,
			}}
		if sc.Kind == string(storage.SourceTelegram) {
			ref, err := tme.ParseChannel(sc.URL)
			if err != nil {
				return nil, fmt.Errorf("config sources %s: %w", sc.Name, err)
			}
			src.URL = ref.String()
			t := sc.Telegram
			src.Options.Telegram = &storage.TelegramOptions{Account: t.Account, Join: t.Join, BackfillCount: t.BackfillCount, Media: t.Media}
			if t.BackfillSince != "" {
				d, _ := time.Parse(time.DateOnly, t.BackfillSince) // validated with the config
				src.Options.Telegram.BackfillSince = &d
			}
		}
		if l := sc.Login; l.URL != "" {
			src.Options.Login = &storage.SourceLogin{URL: l.URL, UserField: l.UserField, PassField: l.PassField,
				User: l.User, PasswordEnv: l.PasswordEnv, PasswordFile: l.PasswordFile}
		}
		if err := store.UpsertSource(ctx, &src); err != nil {
			return nil, err
		}
	}

	if opts.web {
		// Before Temporal starts: a missing webhook secret fails at once.
		if s.hooks, err = e.webhookDispatcher(store); err != nil {
			return nil, err
		}
	}

	if ownsDir {
		bin, err := temporalproc.FindBinary(cfg.Temporal.ServerBinary)
		if err != nil {
			return nil, err
		}
		e.log.InfoContext(ctx, "starting embedded Temporal", "binary", bin)
		s.server, err = temporalproc.Start(ctx, temporalproc.Options{
			Binary: bin, DBPath: filepath.Join(cfg.DataDir, "temporal.db"), Namespace: cfg.Temporal.Namespace,
			Retention: cfg.Temporal.Retention, Logger: e.log.With("component", "temporal"),
		})
		if err != nil {
			return nil, err
		}
		addr = s.server.Address()
		if err := os.WriteFile(addrFile(cfg.DataDir), []byte(addr+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", addrFile(cfg.DataDir), err)
		}
	}
	if s.client, err = dialTemporal(ctx, e, addr); err != nil {
		return nil, err
	}
	obs.client.Store(&s.client)
	s.cases = &workflows.Cases{Client: s.client, Store: store}

	if opts.worker {
		if cfg.Notices.DefaultRecipient == "" {
			e.log.WarnContext(ctx, "notices.default_recipient is empty: a case whose host has no configured, security.txt or RDAP contact waits at needs-recipient")
		}
		s.queues = opts.queues
		if s.queues == nil {
			s.queues = config.WorkerQueues
		}
		if s.acts, err = e.workerActivities(ctx, s.client, s.queues); err != nil {
			return nil, err
		}
	}
	if opts.web {
		wopts := web.Options{
			Store: store, Logger: e.log.With("component", "web"), Listen: cfg.Web.Listen, BaseURL: cfg.Web.BaseURL,
			SessionTTL: cfg.Web.SessionTTL, MaxLoginFailures: cfg.Web.MaxLoginFailures,
			LockoutDuration: cfg.Web.LockoutDuration, Cases: s.cases, Mailbox: opts.mailbox,
			SessionIdleTimeout: cfg.Web.SessionIdleTimeout, AccountLoginFailures: cfg.Web.AccountLoginFailures,
			Police: cfg.Notices.Police, Regulator: cfg.Notices.Regulator,
			EvidenceDir: capture.EvidenceDir(cfg.DataDir), Registry: obs.reg,
		}
		keys, err := e.evidenceKeys()
		if err != nil {
			return nil, err
		}
		wopts.EvidenceIdentities = keys.Identities
		if s.client != nil {
			wopts.Sources = &workflows.Sources{Client: s.client, Store: store, TaskQueue: cfg.Temporal.TaskQueue,
				Logger: e.log.With("component", "schedules")}
			wopts.Ready = []web.ReadyCheck{obs.temporalCheck(), obs.index.ReadyCheck()}
		}
		s.web, err = web.New(wopts)
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

// dialTemporal connects to the cluster at addr, or — for CLI commands run
// beside `leakwatch up` — to the embedded server that up recorded.
func dialTemporal(ctx context.Context, e *env, addr string) (client.Client, error) {
	if addr == "" {
		addr = e.cfg.Temporal.Address
	}
	if addr == "" {
		b, err := os.ReadFile(addrFile(e.cfg.DataDir))
		if err != nil {
			return nil, fmt.Errorf("no Temporal to talk to: leakwatch up is not running on data dir %s (or set temporal.address)", e.cfg.DataDir)
		}
		addr = strings.TrimSpace(string(b))
	}
	c, err := client.DialContext(ctx, client.Options{
		HostPort: addr, Namespace: e.cfg.Temporal.Namespace,
		Logger: tlog.NewStructuredLogger(e.log.With("component", "temporal-sdk")),
		// The SDK's metrics on this process's /metrics; none for CLI commands.
		MetricsHandler: e.obs.temporalHandler(e),
	})
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", addr, err)
	}
	return c, nil
}

// run serves until ctx ends or a part fails.
func (s *stack) run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	if s.acts.Dispatch != nil {
		wc := s.e.cfg.Worker
		ws, err := workflows.NewWorkers(s.client, s.e.cfg.Temporal.TaskQueue, s.queues, s.acts,
			workflows.WorkerSlots{Crawl: wc.CrawlSlots, Scan: wc.ScanSlots})
		if err != nil {
			return err
		}
		for _, w := range ws {
			if err := w.Start(); err != nil {
				return fmt.Errorf("start worker: %w", err)
			}
			defer w.Stop()
		}
		s.e.log.InfoContext(ctx, "worker started", "task_queue", s.e.cfg.Temporal.TaskQueue, "queues", strings.Join(s.queues, ","))
		g.Go(func() error { return s.housekeeping(ctx) })
	}
	if s.web != nil {
		g.Go(func() error { return s.web.ListenAndServe(ctx) })
	}
	if s.hooks != nil {
		g.Go(func() error { return s.hooks.Run(ctx) })
	}
	if s.server != nil {
		g.Go(func() error {
			select {
			case <-ctx.Done():
				return nil
			case <-s.server.Done():
				return fmt.Errorf("embedded Temporal stopped: %w", s.server.Err())
			}
		})
	}
	err := g.Wait()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// housekeeping keeps schedules in step with sources, marks crawl runs whose
// crawler died as interrupted, and delivers hits that have not reached their
// case (after a crash, or found by `leakwatch crawl`).
func (s *stack) housekeeping(ctx context.Context) error {
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for tick := 0; ; tick++ {
		// Open cases whose workflow is gone (the Temporal store was lost,
		// or a run failed) resume from the database: at start, then every
		// ten minutes.
		if tick%40 == 0 && s.cases != nil {
			if n, err := s.cases.Reconcile(ctx, s.e.cfg.Temporal.TaskQueue, s.e.cfg.Injunction.FileNumber); err != nil && ctx.Err() == nil {
				s.e.log.WarnContext(ctx, "reconciling cases failed; will retry", "err", err)
			} else if n > 0 {
				s.e.log.WarnContext(ctx, "open cases without a running workflow restarted from the database", "cases", n)
			}
		}
		// Evidence left plain by a crawler that died (or kept before a key
		// was set) is encrypted once its run is over.
		if tick%40 == 0 && s.acts.Crawl != nil {
			if rc := s.acts.Crawl.EvidenceRecipients; len(rc) == 0 {
				if tick == 0 {
					s.e.log.WarnContext(ctx, "evidence is kept unencrypted at rest: set evidence.key_file (make one with `leakwatch evidence keygen FILE`)")
				}
			} else if n, err := capture.EncryptLeftovers(ctx, s.e.store, s.e.cfg.DataDir, rc, time.Now()); err != nil && ctx.Err() == nil {
				s.e.log.WarnContext(ctx, "encrypting evidence left plain failed; will retry", "err", err)
			} else if n > 0 {
				s.e.log.InfoContext(ctx, "evidence left plain encrypted at rest", "files", n)
			}
		}
		// The retention policy, daily (the first pass an hour after start,
		// so a restart loop does not run it every time).
		if tick%5760 == 240 && s.acts.Crawl != nil {
			s.gc(ctx)
		}
		if err := workflows.SyncSchedules(ctx, s.client, s.e.store, s.e.cfg.Temporal.TaskQueue, s.e.log); err != nil && ctx.Err() == nil {
			s.e.log.WarnContext(ctx, "schedule sync failed; will retry", "err", err)
		}
		// A crawl whose process died (a CLI crawl, or a worker) would show
		// as running for ever.
		if n, err := s.e.store.InterruptStaleRuns(ctx, 2*time.Minute); err != nil && ctx.Err() == nil {
			s.e.log.WarnContext(ctx, "marking dead crawl runs failed; will retry", "err", err)
		} else if n > 0 {
			s.e.log.WarnContext(ctx, "crawl runs whose crawler died marked interrupted", "runs", n)
		}
		// Accounts logged in since (or come back from a dead session).
		if s.acts.Telegram != nil {
			if err := workflows.StartTelegramMonitors(ctx, s.client, s.e.store, s.e.cfg.Temporal.TaskQueue); err != nil && ctx.Err() == nil {
				s.e.log.WarnContext(ctx, "starting telegram monitors failed; will retry", "err", err)
			}
		}
		if n, err := s.acts.Dispatch.DispatchHits(ctx); err != nil && ctx.Err() == nil {
			s.e.log.WarnContext(ctx, "hit dispatch failed; will retry", "err", err)
		} else if n > 0 {
			s.e.log.InfoContext(ctx, "hits delivered to cases", "hits", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// gc applies the retention policy to this data directory's evidence.
func (s *stack) gc(ctx context.Context) {
	rep, err := capture.GC(ctx, s.e.store, s.e.cfg.DataDir, capture.GCOptions{Policy: retentionPolicy(s.e.cfg), Now: time.Now(), Actor: "system"})
	if err != nil {
		if ctx.Err() == nil {
			s.e.log.WarnContext(ctx, "retention gc failed; will retry tomorrow", "err", err)
		}
		return
	}
	s.e.log.InfoContext(ctx, "retention gc", "runs", rep.Runs, "files", rep.Files, "bytes", rep.Bytes, "kept", rep.Kept)
	if rep.PlainFiles > 0 {
		s.e.log.WarnContext(ctx, "WARC files of kept runs are not encrypted at rest", "files", rep.PlainFiles)
	}
}

func (s *stack) stop() {
	if s.client != nil {
		s.client.Close()
	}
	if s.stopMetrics != nil {
		s.stopMetrics()
	}
	if s.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := s.server.Stop(ctx); err != nil {
			s.e.log.Warn("stopping embedded Temporal", "err", err)
		}
		cancel()
		os.Remove(addrFile(s.e.cfg.DataDir))
	}
	if s.unlock != nil {
		s.unlock()
	}
}
