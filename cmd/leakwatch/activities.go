package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/openrdap/rdap"

	"go.temporal.io/sdk/client"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/crawlers/webcrawl"
	"github.com/leakwatch/leakwatch/internal/capture"
	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/internal/netguard"
	"github.com/leakwatch/leakwatch/internal/notices"
	"github.com/leakwatch/leakwatch/internal/recipients"
	"github.com/leakwatch/leakwatch/internal/removal"
	"github.com/leakwatch/leakwatch/workflows"
)

// crawlerOptions are the configured limits of every web crawl.
func (e *env) crawlerOptions() webcrawl.Options {
	cc := e.cfg.Crawler
	depth := cc.MaxDepth
	if depth == 0 {
		depth = -1 // config's 0 is "the source's pages only"; the crawler's 0 is its default
	}
	// Validated with the config: a bad network never gets here.
	allow, _ := netguard.ParseNetworks(cc.AllowNetworks)
	return webcrawl.Options{
		Guard:     &netguard.Policy{Allow: allow},
		UserAgent: cc.UserAgent, Proxy: cc.Proxy, MaxDepth: depth, MaxPages: cc.MaxPages, Workers: cc.Workers,
		MaxPageBytes: cc.MaxPageBytes, MaxDownloadBytes: cc.MaxDownloadBytes, MaxRedirects: cc.MaxRedirects,
		DialTimeout: cc.DialTimeout, HeaderTimeout: cc.HeaderTimeout, IdleTimeout: cc.IdleTimeout,
		MinRate: cc.MinRate, Grace: cc.SlowGrace, RunBudget: cc.RunBudget, HostBudget: cc.HostBudget,
		// Files up to the analyser's cap are matched by content, bigger ones by digest.
		KeepBody: e.cfg.Fingerprints.MaxAnalyzeBytes,
	}
}

// crawlActivities wires crawling to the capture pipeline over the stored
// reference index, matching inline: what `crawl` runs.
func (e *env) crawlActivities(ctx context.Context) (*workflows.CrawlActivities, error) {
	store, err := e.openStore(ctx)
	if err != nil {
		return nil, err
	}
	sc, err := e.scanner(ctx)
	if err != nil {
		return nil, err
	}
	return e.crawlActivitiesWith(ctx, &capture.Pipeline{Store: store, Scanner: sc, Logger: e.log})
}

// crawlActivitiesWith wires crawling to pipeline.
func (e *env) crawlActivitiesWith(ctx context.Context, pipeline *capture.Pipeline) (*workflows.CrawlActivities, error) {
	store, err := e.openStore(ctx)
	if err != nil {
		return nil, err
	}
	tm, err := e.telegramMonitor(ctx, store)
	if err != nil {
		return nil, err
	}
	keys, err := e.evidenceKeys()
	if err != nil {
		return nil, err
	}
	ca := &workflows.CrawlActivities{
		Telegram:           tm,
		Store:              store,
		Pipeline:           pipeline,
		Crawler:            e.crawlerOptions(),
		EvidenceDir:        capture.EvidenceDir(e.cfg.DataDir),
		EvidenceRecipients: keys.Recipients,
		TSAURL:             e.cfg.Evidence.TSAURL,
		Revisit:            capture.RevisitTTL{Pages: e.cfg.Crawler.RevisitPages, Files: e.cfg.Crawler.RevisitFiles},
		Logger:             e.log,
	}
	if m := e.obs.metrics(); m != nil {
		ca.Pipeline.Metrics, ca.Crawler.Metrics = m, m
	}
	return ca, nil
}

// workerActivities builds what a worker serving queues (config.WorkerQueues)
// runs, and only that: every worker runs the database-only activities of
// the base queue; crawl adds the crawler and Telegram, scan the reference
// index (matching spooled captures, removal re-checks), notify the
// in-app Telegram report beside the mail. A crawl worker that does not
// serve scan spools what it fetched instead of loading the index; one
// that serves both matches inline, as `up` does.
func (e *env) workerActivities(ctx context.Context, c client.Client, queues []string) (workflows.Activities, error) {
	var acts workflows.Activities
	store, err := e.openStore(ctx)
	if err != nil {
		return acts, err
	}
	serves := func(q string) bool { return slices.Contains(queues, q) }
	if acts.Cases, err = e.caseActivities(ctx); err != nil {
		return acts, err
	}
	if !serves(config.QueueNotify) {
		acts.Cases.Telegram = nil // the in-app report goes with the send
	}
	acts.Dispatch = e.dispatcher(c)
	keys, err := e.evidenceKeys()
	if err != nil {
		return acts, err
	}
	// StartCrawlRun runs on the base queue; the evidence settings let
	// housekeeping encrypt leftovers in any worker.
	acts.Crawl = &workflows.CrawlActivities{Store: store, EvidenceDir: capture.EvidenceDir(e.cfg.DataDir),
		EvidenceRecipients: keys.Recipients, Logger: e.log}
	if !serves(config.QueueCrawl) && !serves(config.QueueScan) {
		return acts, nil
	}
	key, err := e.fingerprintKey()
	if err != nil {
		return acts, err
	}
	pipeline := &capture.Pipeline{Store: store, Spool: capture.NewSpoolSealer(key), Logger: e.log}
	if serves(config.QueueScan) {
		if pipeline.Scanner, err = e.scanner(ctx); err != nil {
			return acts, err
		}
	} else {
		e.log.InfoContext(ctx, "crawl worker without the scan queue: captures are spooled for scan workers, the reference index is not loaded")
	}
	crawl, err := e.crawlActivitiesWith(ctx, pipeline)
	if err != nil {
		return acts, err
	}
	if serves(config.QueueCrawl) {
		acts.Crawl = crawl
		if crawl.Telegram != nil {
			acts.Telegram = &workflows.TelegramActivities{Store: store, Monitor: crawl.Telegram, Client: c,
				TaskQueue: e.cfg.Temporal.TaskQueue, Logger: e.log}
		}
	}
	if serves(config.QueueScan) {
		parallel := e.cfg.Fingerprints.Workers
		if parallel <= 0 {
			parallel = runtime.NumCPU()
		}
		acts.Scan = &workflows.ScanActivities{Store: store, Pipeline: pipeline, Parallel: parallel, Logger: e.log}
		// Removal re-checks fetch like crawls and need a verdict now: they
		// match inline, on the index this worker loaded.
		acts.Cases.Checker = &removal.Checker{Store: store, Pipeline: pipeline, Crawler: crawl.Crawler,
			EvidenceDir: crawl.EvidenceDir, EvidenceRecipients: crawl.EvidenceRecipients,
			TSAURL: crawl.TSAURL, Telegram: crawl.Telegram, Logger: e.log}
	}
	return acts, nil
}

// evidenceKeys loads the keys that encrypt evidence at rest and open it
// (evidence.key_file, LEAKWATCH_EVIDENCE_KEY, evidence.recipients).
func (e *env) evidenceKeys() (evidence.Keys, error) {
	return evidence.LoadKeys(os.Getenv, e.cfg.Evidence.KeyFile, e.cfg.Evidence.Recipients)
}

// dispatcher delivers hits to their cases on the cluster c is connected to.
func (e *env) dispatcher(c client.Client) *workflows.Dispatcher {
	return &workflows.Dispatcher{Store: e.store, Client: c, TaskQueue: e.cfg.Temporal.TaskQueue}
}

// caseActivities draft, approve and send notices.
func (e *env) caseActivities(ctx context.Context) (*workflows.CaseActivities, error) {
	store, err := e.openStore(ctx)
	if err != nil {
		return nil, err
	}
	tmpl, err := notices.Load()
	if err != nil {
		return nil, err
	}
	mailer, err := notices.NewMailer(e.cfg.SMTP)
	if err != nil {
		return nil, err
	}
	ca := &workflows.CaseActivities{
		Store: store, Templates: tmpl, Mailer: mailer, Notices: e.cfg.Notices,
		TelegramAbuse: e.cfg.Telegram.AbuseAddresses,
		Injunction:    e.cfg.Injunction, From: e.cfg.SMTP.From, Logger: e.log,
	}
	if m := e.obs.metrics(); m != nil {
		ca.Metrics = m
	}
	if ca.Recipients, err = e.recipientFinder(); err != nil {
		return nil, err
	}
	if e.cfg.Telegram.ReportInApp {
		if ca.Telegram, err = e.telegramMonitor(ctx, store); err != nil {
			return nil, err
		}
	}
	return ca, nil
}

// recipientFinder looks up takedown contacts of hosts without a configured
// recipient: security.txt through the crawler's proxy (the host may be an
// onion), then RDAP. nil when both are turned off.
func (e *env) recipientFinder() (*recipients.Resolver, error) {
	n := e.cfg.Notices
	if !n.SecurityTxt && !n.RDAP {
		return nil, nil
	}
	r := &recipients.Resolver{}
	if n.SecurityTxt {
		tr := &http.Transport{Proxy: http.ProxyFromEnvironment, TLSHandshakeTimeout: 15 * time.Second, ResponseHeaderTimeout: 20 * time.Second}
		// A case's host came from a crawl: its security.txt is fetched
		// under the crawler's guard, never from an internal address.
		allow, _ := netguard.ParseNetworks(e.cfg.Crawler.AllowNetworks) // validated with the config
		guard := netguard.Policy{Allow: allow}
		if p := e.cfg.Crawler.Proxy; p != "" {
			u, err := url.Parse(p)
			if err != nil {
				return nil, fmt.Errorf("crawler.proxy: %w", err)
			}
			tr.Proxy = http.ProxyURL(u)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			guard, err = guard.AllowHost(ctx, u.Hostname())
			cancel()
			if err != nil {
				return nil, fmt.Errorf("crawler.proxy: %w", err)
			}
		}
		tr.DialContext = guard.Dialer(15 * time.Second).DialContext
		r.HTTPClient = &http.Client{Transport: tr, Timeout: time.Minute}
	}
	if n.RDAP {
		r.RDAP = &rdap.Client{}
		if n.RDAPServer != "" {
			u, err := url.Parse(n.RDAPServer)
			if err != nil {
				return nil, fmt.Errorf("notices.rdap_server: %w", err)
			}
			r.RDAPServer = u
		}
	} else {
		r.NoRDAP = true
	}
	return r, nil
}
