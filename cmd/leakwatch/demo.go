package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/internal/testkit/leaksim"
	"github.com/leakwatch/leakwatch/internal/testkit/smtpsink"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
	"github.com/leakwatch/leakwatch/internal/web"
	"github.com/leakwatch/leakwatch/storage"
	"github.com/leakwatch/leakwatch/workflows"
)

// demoRecipient is where the simulated forum's takedown notices go; the
// demo's SMTP sink accepts everything.
const demoRecipient = "abuse@leakforum.example"

// runDemo runs `up` with a simulated leak forum, a synthetic reference set,
// demo users and an SMTP sink, so a newcomer sees hits and notices at once.
// With --once it runs the forum's case through the whole takedown lifecycle
// headless (see demoRun.lifecycle) and prints a JSON summary last.
func runDemo(ctx context.Context, e *env, args []string) error {
	fset := flag.NewFlagSet("demo", flag.ContinueOnError)
	once := fset.Bool("once", false, "run headless: the whole takedown lifecycle (notice, removal verified, re-post, reappearance notice) with the demo lawyer approving; exit 0 when done")
	listen := fset.String("listen", "127.0.0.1:8080", "web UI/API address")
	docs := fset.Int("docs", 200, "synthetic reference documents")
	timeout := fset.Duration("timeout", 5*time.Minute, "with --once: give up after this long")
	if _, err := e.parseFlags(fset, args); err != nil {
		return err
	}
	// By default the demo runs in a fresh directory of its own, removed
	// when it stops: it never meets another process's data, and every run
	// starts with the forum's case at its first draft. --data-dir keeps
	// one across runs; it must be new, empty or a demo's.
	dataDir, kept := e.dataDir, ""
	if dataDir == "" {
		kept = " (removed when the demo stops; --data-dir DIR keeps one)"
		tmp, err := os.MkdirTemp("", "leakwatch-demo-")
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		defer os.RemoveAll(tmp)
		dataDir = tmp
	} else if err := checkDemoDir(dataDir); err != nil {
		return err
	}
	// Before anything is written there: another up or demo may own it.
	unlock, err := lockDataDir(dataDir)
	if err != nil {
		return fmt.Errorf("demo: %w; give the demo a directory of its own (or none: it makes a fresh one)", err)
	}
	defer unlock()
	if *once {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}

	sink, err := smtpsink.Start(ctx, smtpsink.Options{Logger: quiet()})
	if err != nil {
		return fmt.Errorf("demo: start SMTP sink: %w", err)
	}
	defer sink.Close()

	cfg := demoConfig(dataDir, *listen, sink.Addr())
	demoTelegramConfig(cfg)
	if cfg.Fingerprints.KeyFile, err = demoKey(dataDir); err != nil {
		return err
	}
	if cfg.Evidence.KeyFile, err = demoEvidenceKey(dataDir); err != nil {
		return err
	}
	if e.logLevel == "" {
		cfg.Log.Level = "warn" // keep the demo's own output readable
	}
	e.dataDir = dataDir
	e.setConfig(cfg)
	if err := cfg.Validate(config.RequireInjunction(true)); err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}

	// A synthetic breach, indexed as the reference set.
	refsDir := filepath.Join(dataDir, "demo-references")
	refDocs, err := synth.Generate(refsDir, synth.Options{Seed: 20251230, Docs: *docs})
	if err != nil {
		return fmt.Errorf("demo: generate references: %w", err)
	}
	key, err := e.fingerprintKey()
	if err != nil {
		return err
	}
	if _, err := addRefs(ctx, e, refsDir, key, false); err != nil {
		return err
	}

	// A leak forum posting a sample of them next to unrelated files. Its
	// admin endpoints delete and re-post files, as the host acting on a
	// notice and a mirror would.
	changes := make(chan leaksim.Change, 16)
	site, siteURL, err := startDemoSite(ctx, refsDir, refDocs, func(c leaksim.Change) {
		select {
		case changes <- c:
		default: // the demo is busy; the scheduled crawl catches up
		}
	})
	if err != nil {
		return err
	}
	src := storage.Source{Name: "demo-leak-forum", Kind: storage.SourceForum, URL: siteURL, EverySecs: int64((10 * time.Minute) / time.Second), Enabled: true,
		Options: storage.SourceOptions{WatchTerms: []string{"Health portal"}}}
	if err := store.UpsertSource(ctx, &src); err != nil {
		return err
	}

	// And a Telegram channel posting other samples.
	sim, err := startDemoTelegram(ctx, e, store, refsDir, refDocs)
	if err != nil {
		return err
	}
	defer sim.Close()
	tsrc := storage.Source{Name: "demo-telegram", Kind: storage.SourceTelegram, URL: "https://t.me/" + demoChannel,
		EverySecs: int64((10 * time.Minute) / time.Second), Enabled: true,
		Options: storage.SourceOptions{WatchTerms: []string{"Health portal"}, Telegram: &storage.TelegramOptions{Account: demoTelegramAccount}}}
	if err := store.UpsertSource(ctx, &tsrc); err != nil {
		return err
	}

	users, err := demoUsers(ctx, store)
	if err != nil {
		return err
	}

	s, err := startStack(ctx, e, stackOptions{worker: true, web: !*once, mailbox: sinkMailbox{sink}, locked: true})
	if err != nil {
		return err
	}
	defer s.stop()

	if !*once {
		fmt.Fprintf(e.stdout, "leakwatch demo is up.\n\n  open      %s\n  leak site %s (simulated, loopback only; %d files posted)\n  telegram  t.me/%s (simulated MTProto server on loopback)\n\n  users:\n",
			cfg.Web.BaseURL, siteURL, len(site.Attachments()), demoChannel)
		for _, u := range users {
			fmt.Fprintf(e.stdout, "    %-13s %-8s password %s\n", u.name, u.role, u.password)
		}
		fmt.Fprintf(e.stdout, "\nThe forum is crawled now and every 10 minutes. Exact copies go straight into a draft; excerpts wait\n"+
			"under Triage: log in as demo-analyst to confirm or dismiss them. Log in as demo-legal to approve the\n"+
			"draft: legal and admin users set up two-step login (an authenticator app) at their first login\n"+
			"(lost it? leakwatch users mfa-reset NAME). Sent notices appear under Mailbox. Data: %s%s. Ctrl-C stops.\n",
			dataDir, kept)
		printDemoAdmin(e.stdout, siteURL, site)
		go crawlOnRepost(ctx, e, s, src, changes)
		return s.run(ctx)
	}

	runCtx, stopRun := context.WithCancel(ctx)
	runErr := make(chan error, 1)
	go func() { runErr <- s.run(runCtx) }()
	defer func() { stopRun(); <-runErr }()

	legal, err := store.UserByUsername(ctx, "demo-legal")
	if err != nil {
		return err
	}
	u, err := url.Parse(siteURL)
	if err != nil {
		return err
	}
	d := &demoRun{e: e, s: s, store: store, site: site, sink: sink, src: src, legal: legal, target: u.Hostname(), runErr: runErr}
	lc, err := d.lifecycle(ctx)
	if err != nil {
		return err
	}
	counts, err := store.Count(ctx)
	if err != nil {
		return err
	}
	// The channel's samples are hits too, on a case of their own.
	tgHits, err := waitFor(ctx, runErr, func() (int, bool, error) {
		runs, err := store.RecentRuns(ctx, tsrc.ID, 1)
		if err != nil || len(runs) == 0 || runs[0].Status == storage.RunRunning {
			return 0, false, err
		}
		n, err := telegramHits(ctx, store)
		return n, n > 0, err
	})
	if err != nil {
		return fmt.Errorf("demo: no hit from the Telegram channel: %w", err)
	}
	var summary map[string]any
	line, _ := json.Marshal(counts)
	if err := json.Unmarshal(line, &summary); err != nil {
		return err
	}
	summary["telegram_hits"] = tgHits
	summary["case_id"] = lc.caseID
	summary["case_state"] = lc.state
	summary["verified_removed"] = lc.verified
	summary["items_removed"] = lc.removed
	summary["reopened"] = lc.reopened
	summary["smtp_messages"] = len(lc.messageIDs)
	summary["message_ids"] = lc.messageIDs
	enc := json.NewEncoder(e.stdout) // one line, Message-IDs' <> as they are
	enc.SetEscapeHTML(false)
	return enc.Encode(summary)
}

// demoRun is `demo --once` walking the forum's case through its lifecycle.
type demoRun struct {
	e      *env
	s      *stack
	store  *storage.Store
	site   *leaksim.Site
	sink   *smtpsink.Sink
	src    storage.Source
	legal  storage.User
	target string // the forum's case
	runErr <-chan error
}

// lifecycleResult is what the run saw of the case.
type lifecycleResult struct {
	caseID     uint64
	state      storage.CaseState
	verified   bool
	removed    int
	reopened   int
	messageIDs []string // as the SMTP sink received them
}

// lifecycle runs the forum's case from hit to verified removal and back:
// the lawyer approves the drafted notice and it is sent; the forum deletes
// what it listed; a re-check verifies the removal; the forum re-posts a
// file at another URL; a crawl finds it and reopens the case; the
// reappearance notice is approved and sent. Each notice must reach the
// SMTP sink exactly once.
func (d *demoRun) lifecycle(ctx context.Context) (lifecycleResult, error) {
	var res lifecycleResult
	say := func(format string, args ...any) { fmt.Fprintf(d.e.stdout, "demo: "+format+"\n", args...) }

	// 1. The crawl's hits open a case and draft a notice; the lawyer approves it.
	c, err := d.waitCase(ctx, "a drafted notice", 0, func(c storage.Case) bool { return c.State == storage.CaseDrafted })
	if err != nil {
		return res, err
	}
	res.caseID = c.ID
	first, err := d.approve(ctx, c.ID, storage.NoticeFirst)
	if err != nil {
		return res, err
	}
	say("case %d: notice %s approved by %s", c.ID, first.Reference, d.legal.Username)
	if err := d.waitSent(ctx, c.ID, first, 1); err != nil {
		return res, err
	}
	say("case %d: notice %s sent to %s", c.ID, first.Reference, demoRecipient)

	// 2. The host acts on it: every listed URL is taken down, files
	// first, then the thread pages that quote the breach.
	items, err := d.store.CaseItems(ctx, c.ID)
	if err != nil {
		return res, err
	}
	var listed []string
	for _, it := range items {
		if it.NoticeID == first.ID {
			listed = append(listed, it.URL)
		}
	}
	if len(listed) == 0 {
		return res, fmt.Errorf("demo: notice %s lists no item", first.Reference)
	}
	slices.SortStableFunc(listed, func(a, b string) int { return cmpBool(isThreadURL(a), isThreadURL(b)) })
	var repost string // a file to re-post later
	files, threads := 0, 0
	for _, u := range listed {
		switch {
		case !d.site.DeleteURL(u): // gone with its thread already
		case isThreadURL(u):
			threads++
		default:
			files++
		}
		if p, _ := url.Parse(u); repost == "" && p != nil && strings.HasPrefix(p.Path, "/files/") {
			repost = strings.SplitN(strings.TrimPrefix(p.Path, "/files/"), "/", 2)[0]
		}
	}
	say("the forum deleted the %d URLs notice %s listed (%d file(s), %d thread(s) quoting the breach): they answer 410 Gone",
		len(listed), first.Reference, files, threads)

	// 3. A re-check, asked for now rather than at the next scheduled one,
	// finds every listed item gone.
	if err := d.s.cases.Recheck(ctx, c.ID, d.legal); err != nil {
		// The schedule re-checks a few seconds after sending anyway.
		d.e.log.WarnContext(ctx, "demo: re-check not accepted; waiting for the scheduled one", "err", err)
	}
	c, err = d.waitCase(ctx, "removal to be verified", c.ID, func(c storage.Case) bool { return c.State == storage.CaseVerifiedRemoved })
	if err != nil {
		return res, err
	}
	res.verified = true
	if items, err = d.store.CaseItems(ctx, c.ID); err != nil {
		return res, err
	}
	for _, it := range items {
		if it.State == storage.ItemRemoved {
			res.removed++
		}
	}
	say("case %d: %s (%d items re-checked and gone)", c.ID, c.State, res.removed)

	// 4. The file comes back at another URL, in a mirror thread; the next
	// crawl finds it and reopens the case.
	if repost == "" {
		return res, fmt.Errorf("demo: notice %s lists no file to re-post", first.Reference)
	}
	again, err := d.site.Repost(repost, "")
	if err != nil {
		return res, fmt.Errorf("demo: %w", err)
	}
	say("the forum re-posted %s at %s (thread %q)", again.Name, again.Path, again.Thread)
	crawl, err := d.crawl(ctx)
	if err != nil {
		return res, err
	}
	if crawl.Hits == 0 {
		return res, fmt.Errorf("demo: the crawl after the re-post found nothing (%+v)", crawl)
	}
	say("crawl run %d: %d pages, %d files, %d hits", crawl.RunID, crawl.Pages, crawl.Files, crawl.Hits)
	c, err = d.waitCase(ctx, "the case to reopen with a reappearance notice", c.ID, func(c storage.Case) bool {
		return c.Reopened > 0 && c.State == storage.CaseDrafted
	})
	if err != nil {
		return res, err
	}
	say("case %d: reopened (%d); a reappearance notice is drafted", c.ID, c.Reopened)

	// 5. The reappearance notice, citing the first, is approved and sent.
	second, err := d.approve(ctx, c.ID, storage.NoticeReappearance)
	if err != nil {
		return res, err
	}
	if !slices.Contains(strings.Split(second.Cites, ","), strconv.FormatUint(first.ID, 10)) {
		return res, fmt.Errorf("demo: reappearance notice %s cites %q, not notice %s", second.Reference, second.Cites, first.Reference)
	}
	say("case %d: reappearance notice %s (citing %s) approved by %s", c.ID, second.Reference, first.Reference, d.legal.Username)
	if err := d.waitSent(ctx, c.ID, second, 2); err != nil {
		return res, err
	}
	say("case %d: notice %s sent to %s", c.ID, second.Reference, demoRecipient)

	// Nothing goes out twice: a moment later the sink still holds one
	// message per notice sent, each with its notice's Message-ID.
	select {
	case <-ctx.Done():
		return res, ctx.Err()
	case <-time.After(time.Second):
	}
	sent := map[string]bool{first.MessageID: true, second.MessageID: true}
	for _, m := range d.sink.Messages() {
		if !sent[m.MessageID] {
			return res, fmt.Errorf("demo: the SMTP sink received %s more than once, or a message no notice sent", m.MessageID)
		}
		delete(sent, m.MessageID)
		res.messageIDs = append(res.messageIDs, m.MessageID)
	}
	if len(sent) > 0 {
		return res, fmt.Errorf("demo: the SMTP sink did not receive %d notice(s)", len(sent))
	}
	if c, err = d.store.CaseByID(ctx, c.ID); err != nil {
		return res, err
	}
	res.state, res.reopened = c.State, c.Reopened
	return res, nil
}

// waitCase waits for the forum's case (id, or found by its target when 0)
// to satisfy cond.
func (d *demoRun) waitCase(ctx context.Context, what string, id uint64, cond func(storage.Case) bool) (storage.Case, error) {
	c, err := waitFor(ctx, d.runErr, func() (storage.Case, bool, error) {
		if id != 0 {
			c, err := d.store.CaseByID(ctx, id)
			return c, err == nil && cond(c), err
		}
		cs, err := d.store.ListCases(ctx)
		for _, c := range cs {
			if c.Target == d.target {
				return c, cond(c), err
			}
		}
		return storage.Case{}, false, err
	})
	if err != nil {
		return c, fmt.Errorf("demo: waiting for %s (case is %s): %w", what, c.State, err)
	}
	return c, nil
}

// approve approves the case's current draft, of kind, as the demo lawyer.
func (d *demoRun) approve(ctx context.Context, caseID uint64, kind storage.NoticeKind) (storage.Notice, error) {
	ns, err := d.store.NoticesForCase(ctx, caseID)
	if err != nil {
		return storage.Notice{}, err
	}
	if len(ns) == 0 || ns[0].State != storage.NoticeDraft || ns[0].Kind != kind {
		return storage.Notice{}, fmt.Errorf("demo: case %d has no %s draft to approve", caseID, kind)
	}
	if err := d.s.cases.Approve(ctx, caseID, ns[0].Revision, d.legal); err != nil {
		return storage.Notice{}, fmt.Errorf("demo: approve: %w", err)
	}
	return ns[0], nil
}

// waitSent waits until the SMTP sink holds n messages, the notice is
// recorded sent and the case is in state sent.
func (d *demoRun) waitSent(ctx context.Context, caseID uint64, n storage.Notice, total int) error {
	if _, err := d.sink.Wait(ctx, total); err != nil {
		return fmt.Errorf("demo: notice %s not delivered: %w", n.Reference, err)
	}
	_, err := waitFor(ctx, d.runErr, func() (bool, bool, error) {
		ns, err := d.store.NoticesForCase(ctx, caseID)
		if err != nil {
			return false, false, err
		}
		i := slices.IndexFunc(ns, func(x storage.Notice) bool { return x.ID == n.ID })
		c, err := d.store.CaseByID(ctx, caseID)
		return false, i >= 0 && ns[i].SentAt != nil && c.State == storage.CaseSent, err
	})
	if err != nil {
		return fmt.Errorf("demo: waiting for notice %s to be recorded sent: %w", n.Reference, err)
	}
	return nil
}

// crawl crawls the forum now, as its schedule would, and waits for the
// crawl (and the delivery of its hits to their cases) to finish.
func (d *demoRun) crawl(ctx context.Context) (workflows.CrawlResult, error) {
	var res workflows.CrawlResult
	run, err := d.s.client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: fmt.Sprintf("crawl-%d-demo-%d", d.src.ID, time.Now().UnixNano()), TaskQueue: d.e.cfg.Temporal.TaskQueue,
		WorkflowRunTimeout: 10 * time.Minute,
	}, workflows.CrawlSourceName, workflows.CrawlInput{SourceID: d.src.ID})
	if err == nil {
		err = run.Get(ctx, &res)
	}
	if err != nil {
		return res, fmt.Errorf("demo: crawl %s: %w", d.src.Name, err)
	}
	return res, nil
}

func isThreadURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && strings.HasPrefix(p.Path, "/thread/")
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// printDemoAdmin tells how to play the host and the re-poster.
func printDemoAdmin(w io.Writer, siteURL string, site *leaksim.Site) {
	admin := strings.TrimSuffix(siteURL, "/") + leaksim.AdminPath
	threads := map[string]bool{}
	var thread, file string
	for _, a := range site.Attachments() {
		if !threads[a.ThreadPath] && !strings.HasPrefix(a.Name, "other-") {
			threads[a.ThreadPath] = true
			thread, file = a.ThreadPath, a.ID
		}
	}
	fmt.Fprintf(w, `
Play the host once the notice is sent (loopback only):
  list files      curl %sfiles
  take down       curl -X POST '%sdelete?thread=%s'   (the thread and its files answer 410)
                  or delete?file=ID, or delete?url=URL for one listed URL
  The case re-checks its listed URLs 5 s and 15 s after sending, then every 15 s (or press Re-check
  on the case page): once every one is gone the case is verified-removed.
  re-post         curl -X POST '%srepost?file=%s'   (same bytes, new URL, mirror thread)
  The demo crawls the forum at once after a re-post: the case reopens and drafts a reappearance notice.
`, admin, admin, strings.TrimPrefix(thread, "/thread/"), admin, file)
}

// crawlOnRepost crawls the forum when a file is re-posted through the
// admin endpoints, so a person sees the case reopen without waiting for
// the schedule.
func crawlOnRepost(ctx context.Context, e *env, s *stack, src storage.Source, changes <-chan leaksim.Change) {
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-changes:
			if c.Action != "repost" {
				continue
			}
			err := s.client.ScheduleClient().GetHandle(ctx, workflows.ScheduleID(src.ID)).
				Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enums.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE})
			if err != nil && ctx.Err() == nil {
				e.log.WarnContext(ctx, "demo: cannot crawl the re-post now; the schedule will", "err", err)
				continue
			}
			fmt.Fprintf(e.stdout, "demo: %s re-posted at %s; crawling the forum now\n", c.Repost.Name, c.Repost.Path)
		}
	}
}

// waitFor polls check until it reports done, the stack fails or ctx ends.
func waitFor[T any](ctx context.Context, runErr <-chan error, check func() (T, bool, error)) (T, error) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		v, done, err := check()
		if err != nil || done {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case err := <-runErr:
			if err == nil {
				err = errors.New("stopped")
			}
			return v, fmt.Errorf("leakwatch stopped: %w", err)
		case <-t.C:
		}
	}
}

func demoConfig(dataDir, listen, smtpAddr string) *config.Config {
	cfg := config.Default()
	cfg.DataDir = dataDir
	cfg.Web.Listen = listen
	cfg.Web.BaseURL = "http://" + listen
	host, port, _ := net.SplitHostPort(smtpAddr)
	cfg.SMTP.Host = host
	cfg.SMTP.Port, _ = strconv.Atoi(port)
	cfg.SMTP.TLS = config.TLSNone
	cfg.SMTP.From = "Takedown Team <takedowns@claimant.example>"
	cfg.Notices.DefaultRecipient = demoRecipient
	// Exact copies of the synthetic set are confirmed as they come, so a
	// notice is drafted at once; the forum's quoted excerpts wait in the
	// triage queue for an analyst to confirm or dismiss.
	// RDAP would ask IANA (the public network) about loopback.
	cfg.Notices.Triage = config.TriageExact
	cfg.Notices.DraftDelay = 5 * time.Second
	cfg.Notices.RDAP = false
	// A lifecycle in seconds: listed items are re-checked 5 s and 15 s
	// after a notice is sent, then every 15 s for half an hour. Follow-up
	// (72 h) and escalation (5 days) keep their defaults, so they never
	// fire during a demo.
	cfg.Notices.VerifySchedule = []time.Duration{5 * time.Second, 15 * time.Second}
	cfg.Notices.VerifyEvery = 15 * time.Second
	cfg.Notices.VerifyFor = 30 * time.Minute
	cfg.Injunction = fictionalInjunction("demo", "CIV-2026-404-000123")
	// The simulated leak sites listen on loopback, which crawls refuse
	// unless allowed.
	cfg.Crawler.AllowNetworks = []string{"127.0.0.0/8", "::1/128"}
	return cfg
}

// fictionalInjunction is the made-up order the demo and the benchmarks cite.
func fictionalInjunction(what, fileNumber string) config.InjunctionConfig {
	return config.InjunctionConfig{
		Court:        "High Court of New Zealand (fictional " + what + ")",
		FileNumber:   fileNumber,
		DateOfOrders: "2026-01-05",
		Claimant:     "Example Health Portal Limited",
		Defendants:   "Unknown Defendants",
		Terms: "1. No person may access, use, disclose or publish any data taken from the claimant's systems.\n" +
			"2. Any person who has published, or provided links to, that data must immediately delete and take down those publications and links.",
		Contact: config.ContactConfig{Name: "Legal Team, Example Health Portal Limited", Email: "legal@claimant.example", Phone: "+64 9 555 0100"},
	}
}

// startDemoSite posts a sample of the reference set (the patients CSV, a lab
// result, a clinical note and a photo) and three unrelated files; onChange
// hears of deletions and re-posts made through the site's admin endpoints.
func startDemoSite(ctx context.Context, refsDir string, docs []synth.Doc, onChange func(leaksim.Change)) (*leaksim.Site, string, error) {
	const thread = "Health portal FULL DB - samples, 48h to pay"
	var files []leaksim.File
	var posts []leaksim.Post
	want := map[synth.Kind]bool{synth.KindPatients: true, synth.KindLabResult: true, synth.KindClinicalNote: true, synth.KindPhoto: true}
	for _, d := range docs {
		b, err := os.ReadFile(filepath.Join(refsDir, filepath.FromSlash(d.RelPath)))
		if err != nil {
			return nil, "", fmt.Errorf("demo: %w", err)
		}
		// A second note is not attached but quoted in a reply "as proof":
		// found by its text, on the thread's page.
		if d.Kind == synth.KindClinicalNote && !want[d.Kind] && len(posts) == 0 && len(b) > 400 {
			excerpt := string(b[len(b)/4 : len(b)/4+300])
			posts = append(posts, leaksim.Post{Thread: thread, Author: "seller", Text: "proof it's real, from one of the notes:\n\n" + excerpt})
		}
		if !want[d.Kind] {
			continue
		}
		delete(want, d.Kind)
		files = append(files, leaksim.File{Name: filepath.Base(d.RelPath), Data: b, Thread: thread})
	}
	otherDir, err := os.MkdirTemp("", "leakwatch-demo-other-")
	if err != nil {
		return nil, "", fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(otherDir)
	others, err := synth.Generate(otherDir, synth.Options{Seed: 7, Patients: 3, Docs: 2})
	if err != nil {
		return nil, "", fmt.Errorf("demo: %w", err)
	}
	for _, d := range others {
		b, err := os.ReadFile(filepath.Join(otherDir, filepath.FromSlash(d.RelPath)))
		if err != nil {
			return nil, "", fmt.Errorf("demo: %w", err)
		}
		files = append(files, leaksim.File{Name: "other-" + filepath.Base(d.RelPath), Data: b, Thread: "Random combolists (unrelated)"})
	}
	site := leaksim.New(leaksim.Options{Title: "LeakForum (simulated)", Files: files, Posts: posts, Logger: quiet(), OnChange: onChange})
	addr, err := site.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	return site, "http://" + addr.String() + "/", nil
}

// checkDemoDir refuses a data directory that holds another leakwatch's
// databases: the demo would add its synthetic references, users and keys
// to them. A demo's directory has the demo's own fingerprint key.
func checkDemoDir(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "demo-fingerprint.key")); err == nil {
		return nil
	}
	for _, db := range []string{"leakwatch.db", "temporal.db"} {
		if _, err := os.Stat(filepath.Join(dir, db)); err == nil {
			return fmt.Errorf("demo: %s holds a leakwatch data directory that is not a demo's (it has %s); "+
				"the demo writes synthetic references, users and keys, so give it a new directory (or none: it makes a fresh one)", dir, db)
		}
	}
	return nil
}

// demoKey makes (once) a fingerprint key for the demo's data directory. A
// real deployment keeps its key outside the data directory and its backups.
func demoKey(dataDir string) (string, error) {
	p := filepath.Join(dataDir, "demo-fingerprint.key")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("demo key: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("demo key: %w", err)
	}
	if err := os.WriteFile(p, []byte(hex.EncodeToString(b)+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("demo key: %w", err)
	}
	return p, nil
}

// demoEvidenceKey makes (once) the age identity that encrypts the demo's
// evidence at rest; like demoKey, it sits in the data directory only
// because the demo is throwaway.
func demoEvidenceKey(dataDir string) (string, error) {
	p := filepath.Join(dataDir, "demo-evidence.key")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", fmt.Errorf("demo evidence key: %w", err)
	}
	if _, err := evidence.GenerateKey(p, time.Now()); err != nil {
		return "", err
	}
	return p, nil
}

type demoUser struct {
	name     string
	role     storage.Role
	password string
}

// demoUsers creates (or resets the passwords of) one user per role.
func demoUsers(ctx context.Context, store *storage.Store) ([]demoUser, error) {
	users := []demoUser{{"demo-analyst", storage.RoleAnalyst, ""}, {"demo-legal", storage.RoleLegal, ""}, {"demo-admin", storage.RoleAdmin, ""}}
	for i := range users {
		u := &users[i]
		u.password = generatePassword()
		_, err := createUser(ctx, store, u.name, u.role, u.password)
		if errors.Is(err, storage.ErrDuplicate) {
			existing, lerr := store.UserByUsername(ctx, u.name)
			if lerr != nil {
				return nil, lerr
			}
			err = resetPassword(ctx, store, existing.ID, u.password)
		}
		if err != nil {
			return nil, fmt.Errorf("demo user %s: %w", u.name, err)
		}
	}
	return users, nil
}

// sinkMailbox shows the demo SMTP sink's messages in the web UI.
type sinkMailbox struct{ sink *smtpsink.Sink }

func (m sinkMailbox) Messages() []web.MailMessage {
	var out []web.MailMessage
	for _, msg := range m.sink.Messages() {
		out = append(out, web.MailMessage{From: msg.From, To: msg.To, Subject: msg.Subject, Received: msg.Received, Body: msg.TextBody()})
	}
	return out
}
