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

	"github.com/leakwatch/leakwatch/crawlers/tgmonitor/tme"
	"github.com/leakwatch/leakwatch/internal/capture"
	"github.com/leakwatch/leakwatch/internal/filelock"
	"github.com/leakwatch/leakwatch/internal/removal"
	"github.com/leakwatch/leakwatch/internal/temporalproc"
	"github.com/leakwatch/leakwatch/internal/web"
	"github.com/leakwatch/leakwatch/internal/webhook"
	"github.com/leakwatch/leakwatch/storage"
	"github.com/leakwatch/leakwatch/workflows"
)

// stackOptions choose which parts of leakwatch a process runs.
type stackOptions struct {
	worker  bool // Temporal worker, schedules and the hit dispatcher
	web     bool
	mailbox web.Mailbox // demo only
}

// stack is a running leakwatch: the embedded or external Temporal, and the
// parts selected by stackOptions.
type stack struct {
	e      *env
	server *temporalproc.Server // nil with an external cluster
	client client.Client
	acts   workflows.Activities // nil members: this process runs no worker
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

	addr := cfg.Temporal.Address
	if addr == "" && opts.worker {
		// Only a process that runs a worker owns the embedded server; `web`
		// alone joins the one `up` started.
		if s.unlock, err = lockDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
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
		if s.acts.Cases, err = e.caseActivities(ctx); err != nil {
			return nil, err
		}
		if s.acts.Crawl, err = e.crawlActivities(ctx); err != nil {
			return nil, err
		}
		s.acts.Dispatch = e.dispatcher(s.client)
		// Removal re-checks fetch like crawls and match on the same index.
		s.acts.Cases.Checker = &removal.Checker{Store: store, Pipeline: s.acts.Crawl.Pipeline, Crawler: s.acts.Crawl.Crawler,
			EvidenceDir: s.acts.Crawl.EvidenceDir, EvidenceRecipients: s.acts.Crawl.EvidenceRecipients,
			TSAURL: s.acts.Crawl.TSAURL, Telegram: s.acts.Crawl.Telegram, Logger: e.log}
		if tm := s.acts.Crawl.Telegram; tm != nil {
			s.acts.Telegram = &workflows.TelegramActivities{Store: store, Monitor: tm, Client: s.client,
				TaskQueue: cfg.Temporal.TaskQueue, Logger: e.log}
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
		w := workflows.NewWorker(s.client, s.e.cfg.Temporal.TaskQueue, s.acts)
		if err := w.Start(); err != nil {
			return fmt.Errorf("start worker: %w", err)
		}
		defer w.Stop()
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
