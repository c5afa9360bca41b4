// Package removal verifies takedowns: it re-checks the URLs and messages a
// sent notice listed and says, for each, whether it is gone, no longer the
// breach's content, still there, or could not be told.
//
// A web item is fetched again — that URL alone, never what it links to —
// through the crawler's transport, proxy, limits and login, and recorded
// through the capture pipeline in a crawl run of the item's source, so the
// re-check is evidence like any crawl's (a capture with its WARC records in
// a sealed run) and is matched against the reference index as crawls are.
// A Telegram item is looked up in its channel (channels.getMessages).
//
// Only a verdict that proves something counts as removal: a 404, 410 or
// 451, a name that does not resolve, a refused connection, or content that
// matches nothing. Timeouts, 5xx, 429, a failing proxy, a login wall and
// every other failure are CheckError: they say nothing about the item.
package removal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"

	"github.com/leakwatch/leakwatch/crawlers/tgmonitor"
	"github.com/leakwatch/leakwatch/crawlers/tgmonitor/tme"
	"github.com/leakwatch/leakwatch/crawlers/webcrawl"
	"github.com/leakwatch/leakwatch/internal/capture"
	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/internal/tick"
	"github.com/leakwatch/leakwatch/storage"
)

// Stopped is what a removal check's crawl run records as why it ended, so
// runs that re-checked listed items can be told from crawls.
const Stopped = "removal check"

// Checker re-checks a case's listed items. It implements the workflows'
// RemovalChecker.
type Checker struct {
	Store *storage.Store
	// Pipeline records and matches web re-checks (it needs its Scanner).
	Pipeline *capture.Pipeline
	// Crawler bounds every fetch (proxy, limits, timeouts, user agent), as
	// the crawl activities get it; a source's own settings (proxy, file
	// size cap, rate, login, cookies) apply over it. Its Evidence, Login,
	// Cookies and Logger are replaced.
	Crawler webcrawl.Options
	// EvidenceDir holds the runs' WARC files (capture.EvidenceDir); empty
	// records no WARC evidence.
	EvidenceDir string
	// EvidenceRecipients encrypt the WARC files at rest; empty keeps them
	// plain.
	EvidenceRecipients []age.Recipient
	// TSAURL, if set, timestamps each check run's Merkle root (RFC 3161).
	TSAURL string
	// Telegram looks messages up again; nil: Telegram items are CheckError.
	Telegram *tgmonitor.Monitor
	Logger   *slog.Logger // nil discards
}

func (c *Checker) log() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// runHeartbeat is how often a check run tells the store it is alive: the
// crawl activities give up on runs silent for two minutes.
const runHeartbeat = 15 * time.Second

// maxDetail bounds a check's Detail.
const maxDetail = 200

// slot is one item being checked and what came of it.
type slot struct {
	item storage.CaseItem
	res  storage.RemovalCheck
	done bool
	// ours: the check failed on our side (the store, our evidence, ctx
	// ended), not on the item's: it says nothing, and when every item
	// fails so, Check fails.
	ours error
}

func (s *slot) set(r storage.CheckResult, detail string, captureID uint64) {
	s.res.Result, s.res.Detail, s.res.CaptureID = r, clip(detail), captureID
	s.res.CheckedAt = time.Now().UTC()
	s.done = true
}

// fail records a failure of our own: the item was not checked.
func (s *slot) fail(err error, detail string) {
	s.set(storage.CheckError, detail, s.res.CaptureID)
	s.ours = err
}

// Check re-checks each item and returns one result per item, in order,
// with ItemID, CheckedAt, Result, Detail and the capture made (if any); the
// caller records them. Web items of one source are fetched one after the
// other, in one new crawl run of that source; Telegram items of one channel
// are looked up together. A failure of one item never loses the others'
// results. Check returns an error only when no item could be checked at all
// for a reason of ours (the store failed, ctx ended, no reference index);
// the results then say why for each.
func (c *Checker) Check(ctx context.Context, cs storage.Case, items []storage.CaseItem) ([]storage.RemovalCheck, error) {
	slots := make([]*slot, len(items))
	for i, it := range items {
		slots[i] = &slot{item: it, res: storage.RemovalCheck{CaseID: cs.ID, ItemID: it.ID}}
	}
	groups, order := c.groupBySource(ctx, slots)
	for _, id := range order {
		g := groups[id]
		if err := ctx.Err(); err != nil {
			break
		}
		if g.src.Kind == storage.SourceTelegram {
			c.checkTelegram(ctx, g)
		} else {
			c.checkWeb(ctx, cs, g)
		}
	}
	out := make([]storage.RemovalCheck, len(slots))
	var ours []error
	for i, s := range slots {
		if !s.done {
			err := context.Cause(ctx)
			if err == nil {
				err = errors.New("not checked")
			}
			s.fail(err, "not checked: "+errKind(err))
		}
		if s.ours != nil {
			ours = append(ours, s.ours)
		}
		out[i] = s.res
	}
	if len(slots) > 0 && len(ours) == len(slots) {
		return out, fmt.Errorf("removal check of case %d: no item could be checked: %w", cs.ID, errors.Join(ours...))
	}
	return out, nil
}

// group is the items of one source.
type group struct {
	src   storage.Source
	slots []*slot
}

// groupBySource finds each item's source: that of the capture that first
// found it. Items whose source cannot be found are settled here.
func (c *Checker) groupBySource(ctx context.Context, slots []*slot) (map[uint64]*group, []uint64) {
	groups := map[uint64]*group{}
	var order []uint64
	sources := map[uint64]storage.Source{}
	for _, s := range slots {
		capID := s.item.FirstCaptureID
		if capID == 0 {
			capID = s.item.LastCaptureID
		}
		if capID == 0 {
			s.set(storage.CheckError, "no capture of the item: its source is unknown", 0)
			continue
		}
		cp, err := c.Store.CaptureByID(ctx, capID)
		if err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				s.set(storage.CheckError, fmt.Sprintf("capture %d of the item is gone: its source is unknown", capID), 0)
			} else {
				s.fail(err, "not checked: the database failed")
			}
			continue
		}
		src, ok := sources[cp.SourceID]
		if !ok {
			if src, err = c.Store.SourceByID(ctx, cp.SourceID); err != nil {
				if errors.Is(err, storage.ErrNotFound) {
					s.set(storage.CheckError, fmt.Sprintf("source %d of the item was removed", cp.SourceID), 0)
				} else {
					s.fail(err, "not checked: the database failed")
				}
				continue
			}
			sources[cp.SourceID] = src
		}
		g := groups[src.ID]
		if g == nil {
			g = &group{src: src}
			groups[src.ID] = g
			order = append(order, src.ID)
		}
		g.slots = append(g.slots, s)
	}
	return groups, order
}

// checkTelegram looks a channel's items up again: a deleted message, or a
// channel that is gone, is CheckGone.
func (c *Checker) checkTelegram(ctx context.Context, g *group) {
	if c.Telegram == nil {
		for _, s := range g.slots {
			s.set(storage.CheckError, "Telegram is not configured (telegram.api_id and an account): the message cannot be looked up", 0)
		}
		return
	}
	var ids []int
	want := map[*slot]int{}
	for _, s := range g.slots {
		id, ok := tme.MessageID(s.item.URL)
		if !ok {
			s.set(storage.CheckError, "not a t.me message link", 0)
			continue
		}
		want[s] = id
		if !containsInt(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	rem, err := c.Telegram.CheckRemoved(ctx, "", g.src.ID, ids)
	if err != nil {
		for s := range want {
			if ctx.Err() != nil {
				s.fail(context.Cause(ctx), "not checked: "+errKind(context.Cause(ctx)))
			} else {
				d := err.Error()
				if !strings.HasPrefix(d, "telegram") {
					d = "telegram: " + d
				}
				s.set(storage.CheckError, d, 0)
			}
		}
		c.log().WarnContext(ctx, "removal check: telegram lookup failed", "source", g.src.ID, "messages", len(ids), "err", err)
		return
	}
	for s, id := range want {
		switch {
		case containsInt(rem.Present, id):
			s.set(storage.CheckPresent, "the message is still in the channel", 0)
		case rem.ChannelGone != "":
			s.set(storage.CheckGone, "the channel is gone ("+rem.ChannelGone+")", 0)
		case containsInt(rem.Removed, id):
			s.set(storage.CheckGone, "the message was deleted", 0)
		default:
			s.set(storage.CheckError, "telegram did not say", 0)
		}
	}
	c.log().InfoContext(ctx, "removal check: telegram", "source", g.src.ID, "messages", len(ids),
		"removed", len(rem.Removed), "present", len(rem.Present))
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// checkWeb fetches a web source's items again, one after the other, in a
// new run of the source.
func (c *Checker) checkWeb(ctx context.Context, cs storage.Case, g *group) {
	src := g.src
	run, err := c.Store.StartRun(ctx, src.ID)
	if err != nil {
		for _, s := range g.slots {
			s.fail(err, "not checked: the database failed")
		}
		return
	}
	rw := &runWork{c: c, run: run, src: src}
	defer func() { rw.finish(ctx) }()
	if c.Pipeline == nil || !c.Pipeline.Inline() {
		// A re-check's verdict needs the match now, not a spooled one.
		err = capture.ErrNoScanner
	}
	var rec *capture.Run
	if err == nil {
		rec, err = c.Pipeline.ForRun(run)
	}
	if err != nil {
		rw.failed = err
		for _, s := range g.slots {
			s.fail(err, "no reference index to match against")
		}
		return
	}
	opts := webcrawl.ForSource(c.Crawler, src)
	opts.Logger = c.log()
	if opts.Login, opts.Cookies, err = webcrawl.SourceAuth(src); err != nil {
		// The operator must fix the source; the items are not checked.
		rw.failed = err
		for _, s := range g.slots {
			s.set(storage.CheckError, "the source's login or cookies cannot be read", 0)
		}
		c.log().WarnContext(ctx, "removal check: source auth", "source", src.Name, "err", err)
		return
	}
	opts.Evidence = nil
	if c.EvidenceDir != "" {
		w, err := evidence.NewWriter(c.EvidenceDir, evidence.WriterOptions{RunID: capture.EvidenceRunID(run.ID), Recipients: c.EvidenceRecipients})
		if err != nil {
			rw.failed = err
			for _, s := range g.slots {
				s.fail(err, "evidence cannot be recorded")
			}
			return
		}
		rw.warc, opts.Evidence = w, w
	}
	cr, err := webcrawl.New(opts)
	if err != nil {
		rw.failed = err
		for _, s := range g.slots {
			s.set(storage.CheckError, "crawler settings: "+clip(err.Error()), 0)
		}
		return
	}
	defer cr.Close()
	stop := rw.keepAlive(ctx)
	defer stop()
	sink := &recordSink{run: rec, store: c.Store}
	sessions := map[string]*webcrawl.Single{}
	for i, s := range g.slots {
		if ctx.Err() != nil {
			break
		}
		u, err := url.Parse(s.item.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			s.set(storage.CheckError, "not an http(s) URL", 0)
			continue
		}
		if strings.HasSuffix(strings.ToLower(u.Hostname()), ".onion") && opts.Proxy == "" {
			// Without Tor every onion "does not exist".
			s.set(storage.CheckError, "an .onion address needs a proxy (crawler.proxy socks5h://… or the source's proxy)", 0)
			continue
		}
		one := sessions[u.Host]
		if one == nil {
			if one, err = cr.Single(s.item.URL); err != nil {
				s.set(storage.CheckError, "not an http(s) URL", 0)
				continue
			}
			sessions[u.Host] = one
		}
		sink.reset()
		f, err := one.Fetch(ctx, s.item.URL, sink)
		if err != nil {
			// ctx ended, or the fetch could not be recorded: crawling on
			// would lose evidence, so the source's other items wait too.
			cause := err
			if ctx.Err() != nil {
				cause = context.Cause(ctx)
			} else {
				rw.failed = err
			}
			for _, rest := range g.slots[i:] {
				rest.fail(cause, "not checked: "+errKind(cause))
			}
			c.log().WarnContext(ctx, "removal check stopped", "case", cs.ID, "source", src.Name, "run", run.ID, "err", err)
			break
		}
		rw.count(f, sink.recorded)
		r, detail := Verdict(f, sink.res, opts.Proxy != "")
		s.set(r, detail, sink.res.CaptureID)
		c.log().InfoContext(ctx, "removal check", "case", cs.ID, "item", s.item.ID, "result", r, "detail", s.res.Detail,
			"capture", sink.res.CaptureID, "run", run.ID)
	}
	rw.hits = rec.Hits()
	if rw.failed == nil && ctx.Err() != nil {
		rw.failed = context.Cause(ctx) // as a crawl cut short is recorded
	}
}

// recordSink records a fetch through the pipeline, as capture.WebSink does,
// and keeps what recording it produced. One fetch at a time.
type recordSink struct {
	run   *capture.Run
	store *storage.Store

	recorded bool
	res      capture.Result
}

var (
	_ webcrawl.Sink      = (*recordSink)(nil)
	_ webcrawl.HostSpend = (*recordSink)(nil)
)

func (s *recordSink) reset() { s.recorded, s.res = false, capture.Result{} }

// Captured implements webcrawl.Sink: every check fetches again.
func (s *recordSink) Captured(context.Context, string) (bool, error) { return false, nil }

// Capture implements webcrawl.Sink, with capture.WebSink's mapping.
func (s *recordSink) Capture(ctx context.Context, f webcrawl.Fetch) error {
	res, err := s.run.Record(ctx, capture.Item{
		Kind: f.Kind, URL: f.URL, FinalURL: f.FinalURL, Target: f.Host, FetchedAt: f.FetchedAt,
		Status: f.Status, ContentType: f.ContentType, Digest: f.Digest, Body: f.Body, Err: f.Err,
		Redirects: f.Redirects, RedirectEvidence: f.RedirectEvidence, Evidence: f.Evidence, NotModified: f.NotModified,
		ETag: f.Validators.ETag, LastModified: f.Validators.LastModified, Members: capture.Members(f.Members), Links: f.Links,
	})
	s.recorded, s.res = err == nil, res
	return err
}

// HostFetches implements webcrawl.HostSpend (crawler.host_budget).
func (s *recordSink) HostFetches(ctx context.Context, host string, since time.Time) (int, error) {
	return s.store.HostFetches(ctx, host, since)
}

// Verdict says what a re-fetch of a listed item proves. res is what
// recording it produced: any reference matched (or hit recorded) means the
// content is still there, whatever else went wrong (an archive too big to
// download still matches by its directory). viaProxy: the fetch went
// through a proxy, so a refused or failed connection may be the proxy's.
func Verdict(f webcrawl.Fetch, res capture.Result, viaProxy bool) (storage.CheckResult, string) {
	status := fmt.Sprintf("HTTP %d", f.Status)
	if res.Refs > 0 {
		return storage.CheckPresent, fmt.Sprintf("%s; matches %d reference file(s)", status, res.Refs)
	}
	if res.NewHits > 0 {
		return storage.CheckPresent, fmt.Sprintf("%s; %d hit(s) on the breach", status, res.NewHits)
	}
	switch f.Status {
	case http.StatusNotFound, http.StatusGone, http.StatusUnavailableForLegalReasons:
		return storage.CheckGone, status
	}
	if f.Err == nil {
		if f.Status >= 200 && f.Status < 300 {
			return storage.CheckNotMatching, status + "; matches no reference"
		}
		return storage.CheckError, status
	}
	if f.Status != 0 {
		// An error status, or a body cut short (too large, too slow), or
		// the login page instead of the item.
		if f.Status >= 400 {
			return storage.CheckError, status
		}
		return storage.CheckError, status + "; " + webcrawl.ErrorKind(f.Err)
	}
	return connVerdict(f.Err, viaProxy)
}

// connVerdict reads a fetch that got no HTTP answer.
func connVerdict(err error, viaProxy bool) (storage.CheckResult, string) {
	switch {
	case errors.Is(err, webcrawl.ErrHostBudget):
		return storage.CheckError, "not fetched: the host's request budget is spent"
	case errors.Is(err, webcrawl.ErrLogin):
		return storage.CheckError, "not fetched: the login to the site failed"
	}
	var op *net.OpError
	if viaProxy {
		// Through a proxy only its own report of a refused connection
		// says something of the host; a proxy that is down, or an
		// unreachable host (Tor's answer for almost anything), does not.
		if errors.As(err, &op) && op.Op == "socks connect" && strings.HasSuffix(op.Err.Error(), "connection refused") {
			return storage.CheckGone, "connection refused (reported by the proxy)"
		}
		if errors.As(err, &op) && (op.Op == "proxyconnect" || op.Op == "socks connect") {
			return storage.CheckError, "proxy: " + proxyKind(op)
		}
		return storage.CheckError, errKind(err)
	}
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return storage.CheckGone, "no such host"
	case errors.Is(err, syscall.ECONNREFUSED):
		return storage.CheckGone, "connection refused"
	}
	return storage.CheckError, errKind(err)
}

func proxyKind(op *net.OpError) string {
	msg := op.Err.Error()
	switch {
	case errors.Is(op.Err, syscall.ECONNREFUSED):
		return "connection to the proxy refused"
	case strings.HasPrefix(msg, "unknown error "):
		return strings.TrimPrefix(msg, "unknown error ") // the SOCKS reply
	}
	return webcrawl.ErrorKind(op)
}

// errKind names an error's kind, short and free of URLs and content.
func errKind(err error) string {
	switch {
	case err == nil:
		return "unknown"
	case errors.Is(err, context.DeadlineExceeded):
		return "time ran out"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return webcrawl.ErrorKind(err)
}

func clip(s string) string {
	if len(s) <= maxDetail {
		return s
	}
	cut := maxDetail
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// runWork is a check run's bookkeeping, finished like a crawl's.
type runWork struct {
	c      *Checker
	run    storage.CrawlRun
	src    storage.Source
	warc   *evidence.Writer
	failed error // the run could not do its work
	hits   int
	errs   map[string]int
}

// count adds a fetch to the run's figures, as a crawl counts them.
func (rw *runWork) count(f webcrawl.Fetch, recorded bool) {
	if !recorded {
		return
	}
	r := &rw.run
	r.Bytes += f.Digest.Size
	switch {
	case f.Kind == storage.CaptureFile && (f.Err == nil || f.Digest.Truncated):
		r.Files++
	case f.Kind == storage.CapturePage && f.Err == nil:
		r.Pages++
	default:
		r.Failed++
		if rw.errs == nil {
			rw.errs = map[string]int{}
		}
		rw.errs[webcrawl.ErrorKind(f.Err)]++
	}
}

// keepAlive touches the run until stopped.
func (rw *runWork) keepAlive(ctx context.Context) (stop func()) {
	return tick.Every(ctx, runHeartbeat, func(ctx context.Context) {
		if err := rw.c.Store.TouchRun(ctx, rw.run.ID); err != nil && ctx.Err() == nil {
			rw.c.log().WarnContext(ctx, "cannot record removal check liveness", "run", rw.run.ID, "err", err)
		}
	})
}

// finish records the run's outcome even when ctx is gone, closes its
// evidence and seals what it captured.
func (rw *runWork) finish(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	run := &rw.run
	run.Hits, run.Stopped, run.Status = rw.hits, Stopped, storage.RunOK
	if len(rw.errs) > 0 {
		b, _ := json.Marshal(rw.errs)
		run.Errors = string(b)
	}
	if rw.failed != nil {
		run.Status, run.Error = storage.RunFailed, rw.failed.Error()
	}
	log := rw.c.log()
	if rw.warc != nil {
		if err := rw.warc.Close(); err != nil {
			log.WarnContext(ctx, "removal check: closing evidence failed", "run", run.ID, "err", err)
			if rw.failed == nil {
				run.Status, run.Error = storage.RunFailed, fmt.Sprintf("close evidence: %v", err)
			}
		}
	}
	if err := rw.c.Store.FinishRun(ctx, run); err != nil {
		log.WarnContext(ctx, "removal check: run not finished", "run", run.ID, "err", err)
		return
	}
	if rw.warc != nil {
		if err := capture.Seal(ctx, rw.c.Store, run.ID, rw.c.TSAURL, &http.Client{Timeout: 30 * time.Second}); err != nil {
			log.WarnContext(ctx, "removal check run not fully sealed", "run", run.ID, "err", err)
		}
	}
	log.InfoContext(ctx, "removal check run finished", "source", rw.src.Name, "run", run.ID, "status", run.Status,
		"pages", run.Pages, "files", run.Files, "failed", run.Failed, "hits", run.Hits)
}
