package webcrawl

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/leakwatch/leakwatch/storage"
)

// Why a Single fetched nothing.
var (
	// ErrHostBudget: Options.HostBudget is spent for the host.
	ErrHostBudget = errors.New(StopHostBudget)
	// ErrLogin: logging in through Options.Login failed.
	ErrLogin = errors.New("login failed")
)

// Single fetches URLs of one site one at a time, as a crawl would fetch
// them — the crawler's transport, proxy, limits, rate, login and evidence —
// but never follows a link: a page is parsed for its content (and for the
// structural links a later crawl follows in its place) and nothing it links
// to is requested. It is for re-checking URLs already known (is a file that
// a takedown notice listed still there?). Fetches of one Single share a
// cookie jar and a login session; it is safe for concurrent use.
type Single struct {
	c *Crawler
	f *fetcher
	u *url.URL // the site, for its cookies

	mu       sync.Mutex
	loggedIn bool
	loginErr error // a refused login is not tried again (accounts get locked)
}

// Single returns a fetcher of siteURL's host (any absolute http(s) URL of
// the site). Options.Cookies are set on it; Options.Login logs in before
// the first fetch.
func (c *Crawler) Single(siteURL string) (*Single, error) {
	u, err := url.Parse(siteURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("fetch: %q is not an absolute http(s) URL", siteURL)
	}
	if err := c.checkTarget(u); err != nil {
		return nil, fmt.Errorf("fetch %s: %w", u.Hostname(), err)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, fmt.Errorf("fetch: cookie jar: %w", err)
	}
	host := u.Hostname()
	f := &fetcher{opts: &c.opts, host: host, site: c.site, client: &http.Client{
		Transport: c.transport, CheckRedirect: c.checkRedirect(host), Jar: jar,
	}}
	if len(c.opts.Cookies) > 0 {
		jar.SetCookies(u, c.opts.Cookies)
	}
	if c.opts.Rate > 0 {
		f.limiter = rate.NewLimiter(rate.Limit(c.opts.Rate), 1)
	}
	return &Single{c: c, f: f, u: u}, nil
}

// FetchOne fetches rawURL alone (see Single) under a session of its own.
func (c *Crawler) FetchOne(ctx context.Context, rawURL string, sink Sink) (Fetch, error) {
	s, err := c.Single(rawURL)
	if err != nil {
		return Fetch{}, err
	}
	return s.Fetch(ctx, rawURL, sink)
}

// Fetch requests rawURL once — a 429 or 503 is not asked again; the Fetch
// says so, with the server's RetryAfter — and hands the Fetch to sink. It
// returns the Fetch with Err set for anything about the site (an HTTP
// error status, a refused connection, a stall, a login that failed), and
// an error only when the fetch could not be recorded (the sink or the
// evidence failed), when ctx ended, or when rawURL is not of the Single's
// host. A fetch that made no request — the login failed (ErrLogin),
// Options.HostBudget is spent (ErrHostBudget) — is not handed to sink, and
// its Status is 0.
func (s *Single) Fetch(ctx context.Context, rawURL string, sink Sink) (Fetch, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Fetch{}, fmt.Errorf("fetch: %q is not an absolute http(s) URL", rawURL)
	}
	if u.Hostname() != s.f.host {
		return Fetch{}, fmt.Errorf("fetch: %s is not on %s", rawURL, s.f.host)
	}
	target := normalize(u)
	none := Fetch{Kind: storage.CapturePage, URL: target, FinalURL: target, Host: s.f.host, FetchedAt: time.Now().UTC()}
	if s.c.opts.HostBudget > 0 {
		if hs, ok := sink.(HostSpend); ok {
			spent, err := hs.HostFetches(ctx, s.f.host, time.Now().Add(-s.c.opts.HostWindow))
			if err != nil {
				return none, fmt.Errorf("fetch %s: %w", target, err)
			}
			if spent >= s.c.opts.HostBudget {
				none.Err = ErrHostBudget
				return none, nil
			}
		}
	}
	if err := s.login(ctx); err != nil {
		if ctx.Err() != nil {
			return none, fmt.Errorf("fetch %s: %w", target, context.Cause(ctx))
		}
		none.Err = fmt.Errorf("%w: %w", ErrLogin, err)
		return none, nil
	}
	f := s.f
	if f.limiter != nil {
		if err := f.limiter.Wait(ctx); err != nil {
			return none, fmt.Errorf("fetch %s: %w", target, err)
		}
	}
	gen := f.session()
	out, pg := f.fetch(ctx, target, Validators{})
	// The session expired: log in again and ask again, as a crawl does.
	for try := 0; try < 3 && errors.Is(out.Err, errLoginWall) && f.canLogin() && out.evidenceErr == nil && ctx.Err() == nil; try++ {
		var err error
		if gen, err = f.relogin(ctx, gen); err != nil {
			out.Err = fmt.Errorf("%w; logging in again failed: %w", errLoginWall, err)
			break
		}
		out, pg = f.fetch(ctx, target, Validators{})
	}
	if out.evidenceErr != nil {
		return out, out.evidenceErr
	}
	if ctx.Err() != nil && out.Err != nil {
		// Cancelled mid-fetch: that says nothing about the site.
		return out, fmt.Errorf("fetch %s: %w", target, context.Cause(ctx))
	}
	if out.Err != nil {
		s.c.opts.Logger.InfoContext(ctx, "fetch failed", "url", target, "err", out.Err)
	}
	if pg != nil {
		links, content, err := newParser(s.f.host).parse(pg.url, pg.data, pg.contentType, f.site)
		if err != nil {
			s.c.opts.Logger.DebugContext(ctx, "page not parsed", "url", target, "err", err)
		}
		out.Body = content
		for _, l := range links {
			if l.free {
				out.Links = append(out.Links, l.url)
			}
		}
	}
	if err := sink.Capture(ctx, out); err != nil {
		return out, fmt.Errorf("record %s: %w", target, err)
	}
	return out, nil
}

// login logs in once, before the first fetch, when Options.Login is set.
// A login that failed fails every later fetch of the Single without being
// tried again, unless it failed because ctx ended.
func (s *Single) login(ctx context.Context) error {
	if !s.f.canLogin() {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loggedIn || s.loginErr != nil {
		return s.loginErr
	}
	if err := s.f.login(ctx); err != nil {
		if ctx.Err() == nil {
			s.loginErr = err
		}
		return err
	}
	s.loggedIn = true
	return nil
}

// ErrorKind names a failed fetch's kind of failure, short and without
// content, as a crawl run's summary counts them: "http 4xx", "http 5xx",
// "timeout", "stalled", "dns", "connection", "login wall", "too large", …
func ErrorKind(err error) string { return errorKind(err) }
