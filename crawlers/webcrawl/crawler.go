// Package webcrawl crawls leak forums, leak blogs and open directories over
// HTTP (directly or through a SOCKS5 proxy such as Tor). Every URL is
// requested once (a 429 or 503 is asked again later, a few times at most):
// the response's raw bytes are hashed as they arrive, an HTML page is
// decoded under a cap and parsed with colly for its links and its posts'
// content, and a file is streamed through the hasher under the download
// cap. Several fetches run at once, so one stalled response never
// blocks the rest, and every fetch is bounded in time, idleness and
// throughput. It records evidence of every fetch and hands pages' content
// and files' bytes to its caller for matching; it keeps nothing itself.
package webcrawl

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/internal/netguard"
	"github.com/leakwatch/leakwatch/storage"
)

// Fetch is the evidence of one request: what was asked for, what came back and
// the digest of the raw bytes as they came off the wire.
type Fetch struct {
	Kind        storage.CaptureKind
	URL         string
	FinalURL    string
	Host        string
	FetchedAt   time.Time
	Status      int
	ContentType string
	Digest      fingerprints.Digest
	// Redirects lists every URL the request passed through before FinalURL.
	Redirects []string
	// RedirectEvidence locates the WARC records of each redirect in
	// Redirects (same index) when Options.Evidence is set: the 3xx
	// request and response as exchanged, the body up to 64 KiB, written
	// before the final exchange — also when the fetch failed on its way.
	RedirectEvidence []evidence.Record
	// Body is what the caller should match: for a file, its bytes when
	// Options.KeepBody allows; for a page, the HTML of its content (the
	// posts, without the site's navigation, headers, footers and
	// signatures). nil when there is nothing to match.
	Body []byte
	// Err says why nothing (or only a prefix) could be captured.
	Err error
	// RetryAfter is the server's Retry-After on a 429 or 503, when it gave
	// one (seconds or an HTTP date); 0 otherwise.
	RetryAfter time.Duration
	// Evidence locates the WARC request and response records of the
	// exchange, when Options.Evidence is set and a response came.
	Evidence *evidence.Record
	// NotModified: a file asked for conditionally (see Revisits) is as it
	// was (HTTP 304); nothing was downloaded.
	NotModified bool
	// Validators are a file's ETag and Last-Modified, for the next visit.
	Validators Validators
	// Links are a page's structural links (pagination, files), which a
	// later crawl follows in the page's place while the page is fresh
	// (see Revisits).
	Links []string
	// Members lists a zip, 7z or RAR archive too big to download, from its
	// directory (a zip's central directory, a 7z's header, a RAR's file
	// headers; read with ranged requests) when the server serves ranges.
	// Members without a CRC-32 are left out; Err says how many and why.
	Members []Member
	// evidenceErr: the exchange could not be recorded; the crawl must stop.
	evidenceErr error
}

// Validators let a revisit ask for a file only if it changed.
type Validators struct {
	ETag, LastModified string
}

// Revisit is what earlier crawls learnt of a URL.
type Revisit struct {
	// Validators, when set, ask for a file only if it changed.
	Validators
	// Fresh: the URL is not worth fetching this run (it did not change
	// when last fetched, within its revisit TTL). Links are followed in
	// its place, so the walk still reaches what lies beyond it. The
	// crawl's seed is fetched whatever this says.
	Fresh bool
	Links []string
}

// Revisits is implemented by sinks that remember URLs from earlier crawls:
// a file with validators is asked for conditionally, and a URL that is
// fresh is not fetched at all.
type Revisits interface {
	Revisit(ctx context.Context, url string) (Revisit, error)
}

// HostSpend is implemented by sinks that know how many requests every
// crawl sent a host lately, for Options.HostBudget.
type HostSpend interface {
	HostFetches(ctx context.Context, host string, since time.Time) (int, error)
}

// Frontier is implemented by sinks that keep a crawl's frontier in a
// database, so a crawl interrupted by a crash resumes where it stopped:
// the pages it fetched are not fetched again, and what they linked to is
// still queued.
type Frontier interface {
	// Restore returns an interrupted crawl's URLs still to fetch, and
	// every URL it had seen (none for a new crawl).
	Restore(ctx context.Context) (todo []FrontierURL, seen []string, err error)
	// Queue records URLs found and queued.
	Queue(ctx context.Context, urls []FrontierURL) error
	// Fetched records that url's fetch was recorded (or skipped as done).
	Fetched(ctx context.Context, url string) error
}

// FrontierURL is a queued URL and its depth in link hops.
type FrontierURL struct {
	URL   string
	Depth int
}

// Evidence keeps the raw exchange of every fetch (package evidence's
// Writer): WARC request and response records of the bytes as received.
type Evidence interface {
	WriteExchange(ctx context.Context, ex evidence.Exchange) (evidence.Record, error)
}

// Sink receives every fetch, from several goroutines at once: one per URL
// (of a URL answered 429 or 503 and fetched again, the last attempt only).
// Returning an error stops the crawl: it means the evidence could not be
// recorded, and crawling on would lose it.
type Sink interface {
	Capture(ctx context.Context, f Fetch) error
	// Captured reports whether url was already captured as a file in this
	// run, so a resumed crawl does not download it twice.
	Captured(ctx context.Context, url string) (bool, error)
}

// Options bound a crawl. Zero values take the defaults noted.
type Options struct {
	UserAgent        string
	Proxy            string // socks5h://host:port (Tor), http://…; empty = direct
	MaxDepth         int    // thread hops from the seed (pagination and file links cost none); 0 = default 3, negative = none
	MaxPages         int    // URLs per crawl; default 500
	MaxPageBytes     int64  // an HTML page, decoded; default 10 MiB
	MaxDownloadBytes int64  // default 512 MiB
	// Guard, if set, refuses connections to loopback, private and other
	// internal addresses outside its allowed networks (nil: no check, for
	// tests that crawl their own loopback servers).
	Guard         *netguard.Policy
	MaxRedirects  int           // default 5
	DialTimeout   time.Duration // default 15s
	HeaderTimeout time.Duration // default 30s
	IdleTimeout   time.Duration // no body bytes for this long aborts; default 60s
	// Workers is how many fetches run at once (all on the seed's host);
	// default 4.
	Workers int
	// MinRate is the average throughput, in bytes per second, a body must
	// keep once Grace has passed: a drip that is never idle is cut.
	// Default 4 KiB/s after 30 s.
	MinRate int64
	Grace   time.Duration
	// RunBudget caps a whole crawl's wall-clock time; what is not fetched
	// by then waits for the next run. Default 6h.
	RunBudget time.Duration
	// KeepBody is the size up to which a downloaded file's bytes are handed
	// to the sink in Fetch.Body; 0 keeps none. Pages' content is always
	// handed over (it is bounded by MaxPageBytes).
	KeepBody int64
	// Evidence, if set, records every response's raw bytes as WARC. A
	// failure to record stops the crawl: crawling on would lose evidence.
	Evidence Evidence
	// Kind is the site's layout (storage.SourceKind): it decides which
	// links are followed and what of a page is matched. Empty is generic.
	Kind storage.SourceKind
	// Selectors override the kind's structure with CSS selectors.
	Selectors storage.Selectors
	// Allow, if set, lists URL regexps of which a link must match one to
	// be followed; Deny lists URL regexps never followed. New checks them.
	Allow, Deny []string
	// Login, if set, logs in before the crawl and again whenever the login
	// wall comes back; Cookies are set on the seed's site first (a session
	// exported from a browser).
	Login   *Login
	Cookies []*http.Cookie
	// Rate caps requests per second to the host (0: no cap beyond
	// Workers), for sites that ban fast clients.
	Rate float64
	// HostBudget caps the requests every crawl together sends the host in
	// a rolling HostWindow (default 24h), counted by a sink that
	// implements HostSpend; 0 is no cap. A crawl that reaches it stops,
	// and the rest waits for the budget to refill.
	HostBudget int
	HostWindow time.Duration
	// FileTypes, if set, lists the files worth downloading, by extension
	// of the URL or sniffed type ("pdf", "zip", "csv", "jpg", …); other
	// files are recorded from their headers only.
	FileTypes []string
	Logger    *slog.Logger
	// Metrics, if set, is told of every request's outcome.
	Metrics FetchObserver
}

// FetchObserver counts fetches (internal/metrics implements it): kind is a
// storage.CaptureKind, outcome "ok", "not-modified" or "error", errKind
// the kind of failure (ErrorKind) when outcome is "error", and bytes the
// raw bytes received.
type FetchObserver interface {
	ObserveFetch(kind, outcome, errKind string, bytes int64)
}

func (o *Options) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	switch {
	case o.MaxDepth == 0:
		o.MaxDepth = 3
	case o.MaxDepth < 0:
		o.MaxDepth = 0
	}
	def(&o.MaxPages, 500)
	def(&o.MaxRedirects, 5)
	def(&o.Workers, 4)
	if o.MaxPageBytes <= 0 {
		o.MaxPageBytes = 10 << 20
	}
	if o.MaxDownloadBytes <= 0 {
		o.MaxDownloadBytes = 512 << 20
	}
	if o.MinRate <= 0 {
		o.MinRate = 4 << 10
	}
	defDur(&o.DialTimeout, 15*time.Second)
	defDur(&o.HeaderTimeout, 30*time.Second)
	defDur(&o.IdleTimeout, 60*time.Second)
	defDur(&o.Grace, 30*time.Second)
	defDur(&o.RunBudget, 6*time.Hour)
	defDur(&o.HostWindow, 24*time.Hour)
	if o.UserAgent == "" {
		o.UserAgent = "leakwatch/0.1"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Why a crawl stopped.
const (
	StopDone       = "done"                        // nothing left to fetch
	StopPageBudget = "page budget reached"         // Options.MaxPages
	StopRunBudget  = "run time budget reached"     // Options.RunBudget
	StopHostBudget = "host request budget reached" // Options.HostBudget
)

// Stats summarises a crawl.
type Stats struct {
	Pages   int   // HTML pages fetched
	Files   int   // files downloaded (fully or truncated)
	Failed  int   // fetches that captured nothing
	Bytes   int64 // raw bytes received
	Retries int   // 429/503 answers retried later (not captured)
	Fresh   int   // URLs not fetched: fresh, their links followed from the last crawl
	// Duplicates are pages whose content an earlier page of the crawl
	// had: captured, their links not followed.
	Duplicates int
	Errors     map[string]int // failed fetches by kind of failure (see errorKind)
	Stopped    string         // why the crawl ended: one of the Stop constants
	Elapsed    time.Duration
}

// Crawler crawls one site at a time.
type Crawler struct {
	opts      Options
	transport *http.Transport
	site      *site
}

// New returns a crawler. The transport is built here, once, so the proxy can
// never be silently replaced later.
func New(opts Options) (*Crawler, error) {
	opts.setDefaults()
	tr, err := newTransport(opts)
	if err != nil {
		return nil, err
	}
	st, err := newSite(&opts)
	if err != nil {
		return nil, err
	}
	return &Crawler{opts: opts, transport: tr, site: st}, nil
}

// Close releases idle connections.
func (c *Crawler) Close() { c.transport.CloseIdleConnections() }

type queued struct {
	url     string
	depth   int
	attempt int  // earlier fetches of url that were answered 429 or 503
	seed    bool // fetched even when fresh: it is where news appears
}

// result is what one worker reports back to the scheduler.
type result struct {
	q     queued
	links []link
	f     Fetch
	err   error // the sink failed: the crawl must stop
	done  bool  // the URL was already captured in this run
	fresh bool  // the URL is fresh: not fetched; links are its links of last time
	retry bool  // answered 429/503 with attempts left: not captured, fetch again later
	// page is a page read but not yet parsed nor captured: the parse stage
	// finishes it.
	page *pendingPage
	// content digests a parsed page's content (zero when it has none).
	content [16]byte
}

// A 429 (Too Many Requests) or 503 (Service Unavailable) is the server
// asking to come back later, not a verdict on the URL: the scheduler fetches
// it again after max(Retry-After, a backoff of retryBase doubling per
// attempt), capped at maxRetryDelay, up to maxAttempts fetches in all. Only
// the last fetch is handed to the sink — the file or page it got, or the
// last 429/503 as a failure — so the evidence is one capture per URL, not
// one per attempt.
//
// The answer also pauses new fetches on the whole host (every fetch of a
// crawl is to the seed's host) for the same delay, at most maxHostPause:
// rate limits are usually per client, and the other workers would only
// collect more 429s meanwhile. Fetches already running go on.
const (
	maxAttempts   = 4
	retryBase     = time.Second
	maxRetryDelay = time.Minute
	maxHostPause  = 10 * time.Second
)

// retryable reports whether f is a 429/503 that should be fetched again
// rather than recorded.
func retryable(f Fetch, attempt int) bool {
	return (f.Status == http.StatusTooManyRequests || f.Status == http.StatusServiceUnavailable) &&
		attempt+1 < maxAttempts
}

// retryDelay is how long to wait before fetching again a URL whose attempt
// (0 for the first fetch) was answered f.
func retryDelay(f Fetch, attempt int) time.Duration {
	return min(max(f.RetryAfter, retryBase<<attempt), maxRetryDelay)
}

// later is a URL waiting to be fetched again.
type later struct {
	at time.Time
	q  queued
}

var errRunBudget = errors.New(StopRunBudget)

// Crawl fetches seed and follows links on the same host within the limits,
// capturing pages and downloading linked files, several at a time. Per-URL
// failures are captured as evidence and do not stop the crawl; a failing
// sink or a cancelled ctx does.
func (c *Crawler) Crawl(ctx context.Context, seed string, sink Sink) (Stats, error) {
	start := time.Now()
	st := Stats{Errors: map[string]int{}}
	u, err := url.Parse(seed)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return st, fmt.Errorf("crawl: seed %q is not an absolute http(s) URL", seed)
	}
	if err := c.checkTarget(u); err != nil {
		return st, fmt.Errorf("crawl %s: %w", u.Hostname(), err)
	}
	host := u.Hostname()
	// One cookie jar for pages and downloads: forums often set a session
	// cookie on the thread page that the attachment link requires.
	jar, err := cookiejar.New(nil)
	if err != nil {
		return st, fmt.Errorf("crawl: cookie jar: %w", err)
	}
	runCtx, cancel := context.WithTimeoutCause(ctx, c.opts.RunBudget, errRunBudget)
	defer cancel()
	f := &fetcher{opts: &c.opts, host: host, site: c.site, client: &http.Client{
		Transport: c.transport, CheckRedirect: c.checkRedirect(host), Jar: jar,
	}}
	if len(c.opts.Cookies) > 0 {
		jar.SetCookies(u, c.opts.Cookies)
	}
	if c.opts.Rate > 0 {
		f.limiter = rate.NewLimiter(rate.Limit(c.opts.Rate), 1)
	}
	if f.canLogin() {
		if err := f.login(runCtx); err != nil {
			return c.finish(st, start), fmt.Errorf("crawl %s: %w", host, err)
		}
	}

	// Fetch workers only fetch: a page they read goes to the parse stage,
	// and the worker takes the next URL while it is parsed. Workers bounds
	// the requests open on the host; parsing is local work, so with one
	// connection the next response is on its way while a page is parsed.
	jobs := make(chan queued)
	pages := make(chan result, c.opts.Workers)
	results := make(chan result)
	var fetching, parsing sync.WaitGroup
	for range c.opts.Workers {
		fetching.Add(1)
		go func() {
			defer fetching.Done()
			for q := range jobs {
				r := c.work(runCtx, f, sink, q)
				if r.page != nil {
					pages <- r
				} else {
					results <- r
				}
			}
		}()
	}
	for range parsers() {
		parsing.Add(1)
		go func() {
			defer parsing.Done()
			p := newParser(host)
			for r := range pages {
				results <- c.parsed(runCtx, f, p, sink, r)
			}
		}()
	}
	defer func() {
		close(jobs)
		go func() {
			fetching.Wait()
			close(pages)
			parsing.Wait()
			close(results)
		}()
		for range results { // let in-flight fetches and parses finish and exit
		}
	}()

	first := normalize(u)
	queue := []queued{{url: first, seed: true}}
	seen := map[string]bool{first: true}
	fr, _ := sink.(Frontier)
	if fr != nil {
		todo, was, err := fr.Restore(ctx)
		if err != nil {
			return c.finish(st, start), fmt.Errorf("crawl %s: restore frontier: %w", host, err)
		}
		if len(was) > 0 {
			// Resuming: go on with what was left, not from the seed.
			queue = queue[:0]
			for _, t := range todo {
				queue = append(queue, queued{url: t.URL, depth: t.Depth})
			}
			for _, s := range was {
				seen[s] = true
			}
			c.opts.Logger.InfoContext(ctx, "crawl resumed", "host", host, "seen", len(was), "to_fetch", len(todo))
		} else if err := fr.Queue(ctx, []FrontierURL{{URL: first}}); err != nil {
			return c.finish(st, start), fmt.Errorf("crawl %s: %w", host, err)
		}
	}
	// left is what remains of the host's request budget (-1: no budget).
	left := -1
	if c.opts.HostBudget > 0 {
		spent := 0
		if hs, ok := sink.(HostSpend); ok {
			if spent, err = hs.HostFetches(ctx, host, time.Now().Add(-c.opts.HostWindow)); err != nil {
				return c.finish(st, start), fmt.Errorf("crawl %s: %w", host, err)
			}
		}
		left = max(0, c.opts.HostBudget-spent)
	}
	// contents are the pages' content digests: a page with the same posts
	// as one already fetched (a ?sort= or ?highlight= variant, a calendar
	// trap's empty days) is captured, but its links are not followed —
	// they lead to more variants of the same.
	contents := map[[16]byte]bool{}
	var delayed []later  // 429/503 answers waiting for their retry
	var paused time.Time // no new fetch before this (a 429/503 on the host)
	wake := time.NewTimer(time.Hour)
	wake.Stop()
	defer wake.Stop()
	inflight := 0
	st.Stopped = StopDone
	for len(queue) > 0 || len(delayed) > 0 || inflight > 0 {
		if runCtx.Err() != nil && inflight == 0 {
			break // the budget ran out with work still queued or waiting
		}
		if left == 0 && inflight == 0 {
			st.Stopped = StopHostBudget
			break
		}
		now := time.Now()
		// Retries that are due go first: they have waited their turn.
		if len(delayed) > 0 {
			var due []queued
			if delayed, due = takeDue(delayed, now); len(due) > 0 {
				queue = append(due, queue...)
			}
		}
		var next chan queued
		var q queued
		if len(queue) > 0 && runCtx.Err() == nil && !now.Before(paused) && left != 0 {
			next, q = jobs, queue[0]
		}
		// Sleep until the next retry or the end of the pause, if nothing
		// else wakes the loop first; the run's end always does.
		var timer <-chan time.Time
		var stop <-chan struct{}
		if runCtx.Err() == nil {
			stop = runCtx.Done()
			if at, ok := nextWake(delayed, paused, len(queue) > 0, now); ok {
				wake.Reset(at.Sub(now))
				timer = wake.C
			}
		}
		select {
		case next <- q:
			queue = queue[1:]
			inflight++
			if left > 0 {
				left--
			}
		case <-timer:
		case <-stop:
		case r := <-results:
			inflight--
			if errors.Is(r.err, errSinkFailed) {
				continue // the failure itself is on its way
			}
			if r.err != nil {
				cancel()
				return c.finish(st, start), fmt.Errorf("crawl %s: %w", host, r.err)
			}
			if (r.done || r.fresh) && left >= 0 {
				left++ // nothing was sent
			}
			if r.done {
				if fr != nil {
					if err := fr.Fetched(ctx, r.q.url); err != nil {
						cancel()
						return c.finish(st, start), fmt.Errorf("crawl %s: %w", host, err)
					}
				}
				continue
			}
			if ctx.Err() != nil {
				// Cancelled mid-fetch: that says nothing about the site.
				continue
			}
			if runCtx.Err() != nil && r.f.Err != nil {
				continue // cut by the run budget: fetched next run
			}
			if r.retry {
				d := retryDelay(r.f, r.q.attempt)
				st.Retries++
				c.opts.Logger.InfoContext(ctx, "server asks to retry later", "url", r.q.url, "status", r.f.Status,
					"retry_after", r.f.RetryAfter, "attempt", r.q.attempt+1, "delay", d)
				now := time.Now()
				delayed = append(delayed, later{at: now.Add(d), q: queued{url: r.q.url, depth: r.q.depth, attempt: r.q.attempt + 1}})
				if p := now.Add(min(d, maxHostPause)); p.After(paused) {
					paused = p
				}
				continue
			}
			if r.fresh {
				st.Fresh++
			} else {
				c.count(&st, r.f)
			}
			if r.content != ([16]byte{}) {
				if contents[r.content] {
					st.Duplicates++
					r.links = nil
				}
				contents[r.content] = true
			}
			var found []FrontierURL
			for _, l := range r.links {
				depth := r.q.depth
				if !l.free {
					depth++
				}
				if depth > c.opts.MaxDepth {
					continue
				}
				if seen[l.url] {
					continue
				}
				if len(seen) >= c.opts.MaxPages {
					st.Stopped = StopPageBudget
					break
				}
				seen[l.url] = true
				queue = append(queue, queued{url: l.url, depth: depth})
				found = append(found, FrontierURL{URL: l.url, Depth: depth})
			}
			if fr != nil {
				// Links first, then the page: a crash between the two
				// fetches the page again, never loses its links.
				err := fr.Queue(ctx, found)
				if err == nil {
					err = fr.Fetched(ctx, r.q.url)
				}
				if err != nil {
					cancel()
					return c.finish(st, start), fmt.Errorf("crawl %s: %w", host, err)
				}
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return c.finish(st, start), fmt.Errorf("crawl %s: %w", host, err)
	}
	if errors.Is(context.Cause(runCtx), errRunBudget) {
		st.Stopped = StopRunBudget
		c.opts.Logger.WarnContext(ctx, "run time budget reached; the rest waits for the next run",
			"host", host, "budget", c.opts.RunBudget, "queued", len(queue), "waiting_retry", len(delayed))
	}
	if st.Stopped == StopHostBudget {
		c.opts.Logger.WarnContext(ctx, "host request budget reached; the rest waits for the budget to refill",
			"host", host, "budget", c.opts.HostBudget, "window", c.opts.HostWindow, "queued", len(queue))
	}
	if st.Stopped == StopPageBudget {
		c.opts.Logger.WarnContext(ctx, "page budget reached; not following further links", "host", host, "max_pages", c.opts.MaxPages)
	}
	return c.finish(st, start), nil
}

// takeDue splits off the retries due at now, in the order they were
// scheduled; rest reuses delayed's array.
func takeDue(delayed []later, now time.Time) (rest []later, due []queued) {
	rest = delayed[:0]
	for _, l := range delayed {
		if now.Before(l.at) {
			rest = append(rest, l)
		} else {
			due = append(due, l.q)
		}
	}
	return rest, due
}

// nextWake is when the scheduler must look again without any fetch
// finishing: the end of the host pause when URLs are queued behind it, or
// the earliest retry.
func nextWake(delayed []later, paused time.Time, queued bool, now time.Time) (time.Time, bool) {
	var at time.Time
	if queued && now.Before(paused) {
		at = paused
	}
	for _, l := range delayed {
		if at.IsZero() || l.at.Before(at) {
			at = l.at
		}
	}
	return at, !at.IsZero()
}

func (c *Crawler) finish(st Stats, start time.Time) Stats {
	st.Elapsed = time.Since(start)
	return st
}

func (c *Crawler) count(st *Stats, f Fetch) {
	st.Bytes += f.Digest.Size
	switch {
	case f.Kind == storage.CaptureFile && (f.Err == nil || f.Digest.Truncated):
		st.Files++
	case f.Kind == storage.CapturePage && f.Err == nil:
		st.Pages++
	default:
		st.Failed++
		st.Errors[errorKind(f.Err)]++
	}
}

// parsers is how many pages are parsed at once: one per CPU.
func parsers() int { return max(1, runtime.GOMAXPROCS(0)) }

// work fetches one URL and records it, unless the answer is a 429 or 503
// with attempts left (that goes back to the scheduler unrecorded) or a page
// to parse first (r.page: the parse stage records it).
func (c *Crawler) work(ctx context.Context, f *fetcher, sink Sink, q queued) result {
	r := result{q: q}
	done, err := sink.Captured(ctx, q.url)
	if err != nil {
		r.err = err
		return r
	}
	if done {
		r.done = true
		return r
	}
	var v Validators
	if rv, ok := sink.(Revisits); ok {
		was, err := rv.Revisit(ctx, q.url)
		if err != nil {
			r.err = err
			return r
		}
		if was.Fresh && !q.seed {
			r.fresh = true
			for _, l := range was.Links {
				r.links = append(r.links, link{url: l, free: true})
			}
			return r
		}
		v = was.Validators
	}
	if f.limiter != nil {
		if err := f.limiter.Wait(ctx); err != nil {
			r.f = Fetch{Kind: storage.CapturePage, URL: q.url, Err: err}
			return r // the run ended while waiting: nothing fetched
		}
	}
	gen := f.session()
	r.f, r.page = f.fetch(ctx, q.url, v)
	// The session expired: log in again (once for all fetches that hit the
	// wall together) and ask again. Sessions that short can be used up by
	// the other fetches before this one retries, so it tries a few times;
	// a wall that keeps coming back is recorded as it is.
	for try := 0; try < 3 && errors.Is(r.f.Err, errLoginWall) && f.canLogin() && r.f.evidenceErr == nil && ctx.Err() == nil; try++ {
		var err error
		if gen, err = f.relogin(ctx, gen); err != nil {
			r.f.Err = fmt.Errorf("%w; logging in again failed: %w", errLoginWall, err)
			break
		}
		r.f, r.page = f.fetch(ctx, q.url, v)
	}
	if r.f.evidenceErr != nil {
		r.err = r.f.evidenceErr // crawling on would lose evidence
		return r
	}
	if ctx.Err() != nil && r.f.Err != nil {
		return r // cancelled or out of budget mid-fetch: not evidence
	}
	if retryable(r.f, q.attempt) {
		// Not captured: the scheduler fetches it again later, and only
		// the last attempt is evidence (one capture per URL).
		r.retry, r.page = true, nil
		return r
	}
	if q.attempt > 0 && r.f.Err != nil {
		r.f.Err = fmt.Errorf("%w (after %d attempts)", r.f.Err, q.attempt+1)
	}
	if r.f.Err != nil {
		c.opts.Logger.InfoContext(ctx, "fetch failed", "url", q.url, "err", r.f.Err)
	}
	if r.page != nil {
		return r
	}
	if err := f.capture(ctx, sink, r.f); err != nil {
		r.err = fmt.Errorf("record %s: %w", q.url, err)
	}
	return r
}

// parsed parses a page work read, for its links and content, and records it.
func (c *Crawler) parsed(ctx context.Context, f *fetcher, p *parser, sink Sink, r result) result {
	pg := r.page
	r.page = nil
	links, content, err := p.parse(pg.url, pg.data, pg.contentType, f.site)
	if err != nil {
		c.opts.Logger.DebugContext(ctx, "page not parsed", "url", r.q.url, "err", err)
	}
	r.links, r.f.Body = links, content
	if len(content) > 0 {
		sum := sha256.Sum256(content)
		copy(r.content[:], sum[:])
	}
	for _, l := range links {
		if l.free {
			r.f.Links = append(r.f.Links, l.url)
		}
	}
	if err := f.capture(ctx, sink, r.f); err != nil {
		r.err = fmt.Errorf("record %s: %w", r.q.url, err)
	}
	return r
}

// errSinkFailed: another capture of the crawl already failed.
var errSinkFailed = errors.New("the crawl is stopping: recording failed")

// capture hands fe to the sink, unless a capture already failed: fetches
// and parses still in flight then record nothing more, as crawling on would
// lose evidence.
func (f *fetcher) capture(ctx context.Context, sink Sink, fe Fetch) error {
	if f.sinkFailed.Load() {
		return errSinkFailed
	}
	err := sink.Capture(ctx, fe)
	if err != nil {
		f.sinkFailed.Store(true)
	}
	return err
}

// checkTarget refuses, before any request, a URL whose host is an address
// the guard does not allow. Names are checked as they are resolved, when
// connecting; through a proxy, which resolves them itself, only address
// literals can be checked.
func (c *Crawler) checkTarget(u *url.URL) error {
	if c.opts.Guard == nil {
		return nil
	}
	a, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]"))
	if err != nil {
		return nil // a name: checked once resolved
	}
	return c.opts.Guard.Check(a)
}

func (c *Crawler) checkRedirect(host string) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) > c.opts.MaxRedirects {
			return fmt.Errorf("more than %d redirects", c.opts.MaxRedirects)
		}
		if req.URL.Hostname() != host {
			return fmt.Errorf("redirect to another host (%s) not followed", req.URL.Hostname())
		}
		return nil
	}
}

func isHTML(ct string) bool {
	ct = strings.ToLower(ct)
	return strings.HasPrefix(ct, "text/html") || strings.HasPrefix(ct, "application/xhtml+xml")
}

// normalize drops the fragment, which never changes what a server returns.
func normalize(u *url.URL) string {
	v := *u
	v.Fragment = ""
	v.RawFragment = ""
	return v.String()
}
