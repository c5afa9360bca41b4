package webcrawl

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/storage"
)

func newTransport(o Options) (*http.Transport, error) {
	d := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext:           d.DialContext,
		TLSHandshakeTimeout:   o.DialTimeout,
		ResponseHeaderTimeout: o.HeaderTimeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		// Bodies are hashed as sent; transparent gunzip would hash something else.
		DisableCompression: true,
	}
	if o.Proxy != "" {
		pu, err := url.Parse(o.Proxy)
		if err != nil {
			return nil, fmt.Errorf("crawler proxy %q: %w", o.Proxy, err)
		}
		switch pu.Scheme {
		case "socks5", "socks5h", "http", "https":
		default:
			return nil, fmt.Errorf("crawler proxy %q: scheme must be socks5h, socks5, http or https", o.Proxy)
		}
		// net/http resolves names at a SOCKS5 proxy (remote DNS), so .onion works.
		tr.Proxy = http.ProxyURL(pu)
	}
	return tr, nil
}

// recorder hashes response bodies at the transport, below colly, which may
// truncate or transcode what it hands to callbacks. The crawl is sequential,
// so it keeps the last exchange only.
type recorder struct {
	base     http.RoundTripper
	idle     time.Duration // no body bytes for this long aborts the request
	maxBytes int64         // the page cap; colly reads at most one byte more

	mu   sync.Mutex
	last *exchange
}

type exchange struct {
	finalURL    string
	status      int
	contentType string
	h           hash.Hash
	n           int64
	eof         bool
	head        []byte
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.last = nil
	r.mu.Unlock()
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	// colly has no body timeout (a whole-request one would cut large pages),
	// so page bodies get the same idle-read watchdog as downloads: a site
	// that sends headers and then stalls must not hold the crawl forever.
	ctx, cancel := context.WithCancelCause(req.Context())
	resp, err := r.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		cancel(nil)
		return resp, err
	}
	ex := &exchange{finalURL: req.URL.String(), status: resp.StatusCode,
		contentType: resp.Header.Get("Content-Type"), h: sha256.New()}
	r.mu.Lock()
	r.last = ex // a redirect hop is replaced by the next one
	r.mu.Unlock()
	resp.Body = &recordingBody{rc: resp.Body, ex: ex, mu: &r.mu, ctx: ctx, cancel: cancel,
		idle: r.idle, timer: time.AfterFunc(r.idle, func() { cancel(errIdle) })}
	return resp, nil
}

// fetch turns the last exchange into evidence.
func (r *recorder) fetch(kind storage.CaptureKind, rawURL string, at time.Time) Fetch {
	r.mu.Lock()
	defer r.mu.Unlock()
	f := Fetch{Kind: kind, URL: rawURL, FinalURL: rawURL, Host: hostOf(rawURL), FetchedAt: at}
	ex := r.last
	if ex == nil {
		return f
	}
	f.FinalURL, f.Status, f.ContentType = ex.finalURL, ex.status, ex.contentType
	f.Digest = fingerprints.Digest{
		SHA256:    hex.EncodeToString(ex.h.Sum(nil)),
		Size:      ex.n,
		Sniffed:   http.DetectContentType(ex.head),
		Truncated: ex.n > r.maxBytes || (!ex.eof && ex.n > 0),
	}
	// colly reads at most maxBytes+1 bytes, so a page of exactly maxBytes is
	// read to EOF and only a larger one goes over (as with fingerprints.Sum,
	// the digest then covers maxBytes+1 bytes).
	if ex.n > r.maxBytes {
		f.Err = fmt.Errorf("page larger than the page cap of %d bytes; first %d bytes hashed", r.maxBytes, ex.n)
	} else if f.Digest.Truncated {
		f.Err = fmt.Errorf("page body incomplete; %d bytes captured", ex.n)
	}
	if ex.status >= 400 {
		f.Err = fmt.Errorf("HTTP %d", ex.status)
	}
	return f
}

type recordingBody struct {
	rc io.ReadCloser
	ex *exchange
	mu *sync.Mutex

	ctx    context.Context
	cancel context.CancelCauseFunc
	idle   time.Duration
	timer  *time.Timer
}

func (b *recordingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.timer.Reset(b.idle)
	}
	b.mu.Lock()
	b.ex.h.Write(p[:n])
	b.ex.n += int64(n)
	total := b.ex.n
	if room := 512 - len(b.ex.head); room > 0 {
		b.ex.head = append(b.ex.head, p[:min(room, n)]...)
	}
	if errors.Is(err, io.EOF) {
		b.ex.eof = true
	}
	b.mu.Unlock()
	if err != nil {
		b.timer.Stop()
		if !errors.Is(err, io.EOF) && errors.Is(context.Cause(b.ctx), errIdle) {
			err = fmt.Errorf("%w (after %d bytes)", errIdle, total)
		}
	}
	return n, err
}

func (b *recordingBody) Close() error {
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel(nil)
	return err
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// download streams one file through the hasher under the size cap, with an
// idle-read watchdog instead of a whole-request timeout.
func (c *Crawler) download(ctx context.Context, rawURL, host string, jar http.CookieJar) Fetch {
	f := Fetch{Kind: storage.CaptureFile, URL: rawURL, FinalURL: rawURL, Host: hostOf(rawURL), FetchedAt: time.Now().UTC()}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		f.Err = fmt.Errorf("build request: %w", err)
		return f
	}
	req.Header.Set("User-Agent", c.opts.UserAgent)
	client := &http.Client{Transport: c.transport, CheckRedirect: c.checkRedirect(host), Jar: jar}
	resp, err := client.Do(req)
	if err != nil {
		f.Err = fmt.Errorf("download: %w", err)
		return f
	}
	defer resp.Body.Close()
	f.FinalURL = resp.Request.URL.String()
	f.Status = resp.StatusCode
	f.ContentType = resp.Header.Get("Content-Type")
	if resp.StatusCode >= 400 {
		f.Err = fmt.Errorf("HTTP %d", resp.StatusCode)
		return f
	}
	if resp.ContentLength > c.opts.MaxDownloadBytes {
		// Refuse up front: reading a bomb's prefix proves nothing and costs a lot.
		f.Err = fmt.Errorf("declared size %d bytes exceeds the download cap of %d bytes; not downloaded",
			resp.ContentLength, c.opts.MaxDownloadBytes)
		return f
	}
	body := newIdleReader(resp.Body, c.opts.IdleTimeout, cancel)
	defer body.stop()
	var (
		r    io.Reader = body
		keep *boundedBuffer
	)
	if c.opts.KeepBody > 0 {
		keep = &boundedBuffer{max: c.opts.KeepBody}
		r = io.TeeReader(body, keep)
	}
	d, err := fingerprints.Sum(r, c.opts.MaxDownloadBytes)
	f.Digest = d
	if keep != nil && !keep.over && err == nil {
		f.Body = keep.buf
	}
	if err != nil {
		if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil && !errors.Is(cause, context.Canceled) {
			err = cause
		}
		f.Err = fmt.Errorf("download: %w", err)
	}
	return f
}

// boundedBuffer keeps up to max bytes and notes whether more were written.
type boundedBuffer struct {
	buf  []byte
	max  int64
	over bool
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if !b.over {
		if int64(len(b.buf)+len(p)) > b.max {
			b.over, b.buf = true, nil // too big to analyse: SHA-256 only
		} else {
			b.buf = append(b.buf, p...)
		}
	}
	return len(p), nil
}

var errIdle = errors.New("download stalled: no data within the idle timeout")

// idleReader cancels the request when no bytes arrive for the idle timeout.
type idleReader struct {
	r    io.Reader
	t    *time.Timer
	idle time.Duration
}

func newIdleReader(r io.Reader, idle time.Duration, cancel context.CancelCauseFunc) *idleReader {
	return &idleReader{r: r, idle: idle, t: time.AfterFunc(idle, func() { cancel(errIdle) })}
}

func (ir *idleReader) Read(p []byte) (int, error) {
	n, err := ir.r.Read(p)
	if n > 0 {
		ir.t.Reset(ir.idle)
	}
	return n, err
}

func (ir *idleReader) stop() { ir.t.Stop() }
