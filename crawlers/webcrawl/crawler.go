// Package webcrawl crawls leak forums, leak blogs and open directories over HTTP
// (directly or through a SOCKS5 proxy such as Tor) with colly for HTML and a
// streaming, size-capped downloader for files. It records evidence of every
// fetch and hands file digests to its caller; it never keeps content.
package webcrawl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"time"

	"github.com/gocolly/colly/v2"

	"github.com/leakwatch/leakwatch/fingerprints"
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
	// Body holds a downloaded file's bytes when Options.KeepBody allows it,
	// so the caller can fingerprint the content; nil otherwise.
	Body []byte
	// Err says why nothing (or only a prefix) could be captured.
	Err error
}

// Sink receives every fetch. Returning an error stops the crawl: it means the
// evidence could not be recorded, and crawling on would lose it.
type Sink interface {
	Capture(ctx context.Context, f Fetch) error
	// Captured reports whether url was already captured in this run, so a
	// resumed crawl does not download a file twice.
	Captured(ctx context.Context, url string) (bool, error)
}

// Options bound a crawl. Zero values take the defaults noted.
type Options struct {
	UserAgent        string
	Proxy            string        // socks5h://host:port (Tor), http://…; empty = direct
	MaxDepth         int           // link hops from the seed; default 3
	MaxPages         int           // HTML pages per crawl; default 500
	MaxPageBytes     int64         // default 10 MiB
	MaxDownloadBytes int64         // default 512 MiB
	MaxRedirects     int           // default 5
	DialTimeout      time.Duration // default 15s
	HeaderTimeout    time.Duration // default 30s
	IdleTimeout      time.Duration // no body bytes for this long aborts; default 60s
	// KeepBody is the size up to which a downloaded file's bytes are handed
	// to the sink in Fetch.Body; 0 keeps none.
	KeepBody int64
	Logger   *slog.Logger
}

func (o *Options) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.MaxDepth, 3)
	def(&o.MaxPages, 500)
	def(&o.MaxRedirects, 5)
	if o.MaxPageBytes <= 0 {
		o.MaxPageBytes = 10 << 20
	}
	if o.MaxDownloadBytes <= 0 {
		o.MaxDownloadBytes = 512 << 20
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 15 * time.Second
	}
	if o.HeaderTimeout <= 0 {
		o.HeaderTimeout = 30 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 60 * time.Second
	}
	if o.UserAgent == "" {
		o.UserAgent = "leakwatch/0.1"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Stats summarises a crawl.
type Stats struct {
	Pages  int // HTML pages fetched
	Files  int // files downloaded (fully or truncated)
	Failed int // fetches that captured nothing
}

// Crawler crawls one site at a time.
type Crawler struct {
	opts      Options
	transport *http.Transport
}

// New returns a crawler. The transport is built here, once, so the proxy can
// never be silently replaced later (colly's SetProxy would swap it out).
func New(opts Options) (*Crawler, error) {
	opts.setDefaults()
	tr, err := newTransport(opts)
	if err != nil {
		return nil, err
	}
	return &Crawler{opts: opts, transport: tr}, nil
}

// Close releases idle connections.
func (c *Crawler) Close() { c.transport.CloseIdleConnections() }

type queued struct {
	url   string
	depth int
}

// Crawl fetches seed and follows links on the same host breadth-first within
// the limits, capturing pages and downloading linked files. Per-URL failures
// are captured as evidence and do not stop the crawl.
func (c *Crawler) Crawl(ctx context.Context, seed string, sink Sink) (Stats, error) {
	var st Stats
	u, err := url.Parse(seed)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return st, fmt.Errorf("crawl: seed %q is not an absolute http(s) URL", seed)
	}
	host := u.Hostname()
	rec := &recorder{base: c.transport, idle: c.opts.IdleTimeout, maxBytes: c.opts.MaxPageBytes}
	col := colly.NewCollector(
		colly.StdlibContext(ctx),
		colly.UserAgent(c.opts.UserAgent),
		colly.AllowedDomains(host),
		colly.AllowURLRevisit(), // we keep our own frontier and visited set
		// One byte over the cap, so a page of exactly the cap is read to EOF
		// and the recorder can tell it from a larger one.
		colly.MaxBodySize(int(c.opts.MaxPageBytes+1)),
	)
	col.WithTransport(rec)
	col.SetRequestTimeout(0) // a whole-request timeout would cut large bodies; the transport bounds headers
	col.SetRedirectHandler(c.checkRedirect(host))
	// One cookie jar for pages and downloads: forums often set a session
	// cookie on the thread page that the attachment link requires.
	jar, err := cookiejar.New(nil)
	if err != nil {
		return st, fmt.Errorf("crawl: cookie jar: %w", err)
	}
	col.SetCookieJar(jar)

	var (
		frontier = []queued{{url: normalize(u), depth: 0}}
		seen     = map[string]bool{normalize(u): true}
		links    []string
		isFile   bool
	)
	col.OnResponseHeaders(func(r *colly.Response) {
		if !isHTML(r.Headers.Get("Content-Type")) {
			// Files go to the streaming downloader: colly would buffer them whole,
			// truncate silently at MaxBodySize and transcode some of them.
			isFile = true
			r.Request.Abort()
		}
	})
	col.OnHTML("a[href]", func(e *colly.HTMLElement) {
		if abs := e.Request.AbsoluteURL(e.Attr("href")); abs != "" {
			links = append(links, abs)
		}
	})

	for len(frontier) > 0 {
		if err := ctx.Err(); err != nil {
			return st, fmt.Errorf("crawl %s: %w", host, err)
		}
		q := frontier[0]
		frontier = frontier[1:]
		links, isFile = links[:0], false
		rec.reset()
		fetchedAt := time.Now().UTC()
		verr := col.Visit(q.url)
		if ctx.Err() != nil {
			return st, fmt.Errorf("crawl %s: %w", host, ctx.Err())
		}
		if isFile {
			done, err := sink.Captured(ctx, q.url)
			if err != nil {
				return st, fmt.Errorf("crawl %s: %w", host, err)
			}
			if done {
				continue
			}
			f := c.download(ctx, q.url, host, jar)
			if ctx.Err() != nil {
				// Cancelled mid-download: that says nothing about the site,
				// so it is not evidence; and the crawl did not complete.
				return st, fmt.Errorf("crawl %s: %w", host, ctx.Err())
			}
			if f.Err == nil || f.Digest.Truncated {
				st.Files++
			} else {
				st.Failed++
			}
			if err := sink.Capture(ctx, f); err != nil {
				return st, fmt.Errorf("crawl %s: record %s: %w", host, q.url, err)
			}
			continue
		}
		f := rec.fetch(storage.CapturePage, q.url, fetchedAt)
		if verr != nil && !errors.Is(verr, colly.ErrAbortedAfterHeaders) {
			f.Err = verr
		}
		if f.Status == 0 && f.Err == nil {
			f.Err = errors.New("no response")
		}
		if f.Err == nil {
			st.Pages++
		} else {
			st.Failed++
			c.opts.Logger.InfoContext(ctx, "fetch failed", "url", q.url, "err", f.Err)
		}
		if err := sink.Capture(ctx, f); err != nil {
			return st, fmt.Errorf("crawl %s: record %s: %w", host, q.url, err)
		}
		if q.depth >= c.opts.MaxDepth {
			continue
		}
		for _, l := range links {
			lu, err := url.Parse(l)
			if err != nil || lu.Hostname() != host || (lu.Scheme != "http" && lu.Scheme != "https") {
				continue // off-site links are not followed
			}
			n := normalize(lu)
			if seen[n] {
				continue
			}
			if len(seen) >= c.opts.MaxPages {
				c.opts.Logger.WarnContext(ctx, "page budget reached; not following further links", "host", host, "max_pages", c.opts.MaxPages)
				break
			}
			seen[n] = true
			frontier = append(frontier, queued{url: n, depth: q.depth + 1})
		}
	}
	return st, nil
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
