package webcrawl

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/internal/netguard"
	"github.com/leakwatch/leakwatch/storage"
)

// fetcher makes one request per URL and turns the response into evidence.
type fetcher struct {
	opts    *Options
	host    string
	client  *http.Client
	site    *site // how the source's pages are read (set by New)
	logins  loginState
	limiter *rate.Limiter // Options.Rate; nil for none
	// sinkFailed: a capture failed; nothing more is recorded.
	sinkFailed atomic.Bool
}

// fetch requests rawURL once. An HTML page is read (decoded, under the page
// cap) and returned for parsing, which the crawler does off the fetch
// worker; anything else is streamed through the hasher as a file. With
// Options.Evidence, the raw exchange is written as WARC while it is read.
func (f *fetcher) fetch(ctx context.Context, rawURL string, v Validators) (out Fetch, pg *pendingPage) {
	// Named results: the evidence tap finishes in a deferred call that
	// fills in out.Evidence after the body has been read.
	out = Fetch{Kind: storage.CapturePage, URL: rawURL, FinalURL: rawURL, Host: hostOf(rawURL), FetchedAt: time.Now().UTC()}
	if f.opts.Metrics != nil {
		// Deferred first, so it runs last: out is complete by then.
		defer f.observe(ctx, &out)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		out.Err = fmt.Errorf("build request: %w", err)
		return out, nil
	}
	req.Header.Set("User-Agent", f.opts.UserAgent)
	if v.ETag != "" {
		req.Header.Set("If-None-Match", v.ETag)
	}
	if v.LastModified != "" {
		req.Header.Set("If-Modified-Since", v.LastModified)
	}
	// A client of its own, so this fetch's redirects are recorded as its
	// own; the transport, and its connections, are shared.
	hops := &hopRecorder{next: f.client.Transport, opts: f.opts, cancel: cancel}
	if hops.next == nil {
		hops.next = http.DefaultTransport
	}
	client := *f.client
	client.Transport = hops
	resp, err := client.Do(req)
	// A fetch that failed on its way (a loop, the cap, another host)
	// still shows the redirects it went through.
	out.Redirects, out.RedirectEvidence = hops.urls, hops.records
	if hops.err != nil {
		out.Err, out.evidenceErr = hops.err, hops.err
		return out, nil
	}
	if err != nil {
		var refused netguard.RefusedError
		if errors.As(err, &refused) {
			// Said without the address it resolved to: analysts see this.
			out.Err = fmt.Errorf("%s: %w", out.URL, refused)
			return out, nil
		}
		out.Err = causeOf(ctx, err)
		return out, nil
	}
	defer resp.Body.Close()
	out.FinalURL = resp.Request.URL.String()
	out.Status = resp.StatusCode
	out.ContentType = resp.Header.Get("Content-Type")
	wall := f.atWall(rawURL, resp)
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		out.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	}

	declaredHTML := isHTML(out.ContentType)
	page := declaredHTML
	b := newBody(resp.Body, f.opts, true, cancel)
	defer b.stop()
	if f.opts.Evidence != nil {
		tap := f.startEvidence(ctx, resp, &out, hops.lastRemote, hops.lastAt)
		b.tap = tap
		defer func() { tap.finish(&out, b) }()
	}
	if !page && resp.StatusCode < 400 && resp.ContentLength > f.opts.MaxDownloadBytes {
		// Refuse up front: reading a bomb's prefix proves nothing and costs a lot.
		out.Kind = storage.CaptureFile
		out.Err = fmt.Errorf("declared size %d bytes exceeds the download cap of %d bytes; not downloaded",
			resp.ContentLength, f.opts.MaxDownloadBytes)
		kind := archiveKindOf(out.ContentType, out.FinalURL, rawURL, attachmentName(resp.Header))
		if kind != "" && strings.EqualFold(resp.Header.Get("Accept-Ranges"), "bytes") {
			// Its directory says what it holds. (The refused body is
			// dropped first, so the server stops sending it, and its idle
			// watchdog stopped: the listing bounds its own requests.)
			resp.Body.Close()
			b.stop()
			dir, err := f.archiveDirectory(ctx, out.FinalURL, resp.ContentLength, kind)
			if err != nil {
				out.Err = fmt.Errorf("%w; its directory could not be read: %w", out.Err, err)
			} else {
				out.Members = dir.Members
				out.Err = fmt.Errorf("%w; its directory lists %d members%s", out.Err, len(dir.Members), dir.note())
			}
		}
		return out, nil
	}
	br := bufio.NewReaderSize(b, 4096)
	if head, _ := br.Peek(512); len(head) > 0 && resp.Header.Get("Content-Encoding") == "" {
		// Servers lie about types both ways: trust the bytes.
		sniffed := http.DetectContentType(head)
		switch {
		case declaredHTML && !strings.HasPrefix(sniffed, "text/") && sniffed != "application/octet-stream":
			// (a recognised binary format: malformed HTML with a NUL byte
			// up front sniffs as octet-stream and stays a page)
			page = false // a file served as text/html
		case !declaredHTML && strings.HasPrefix(sniffed, "text/html") && genericType(out.ContentType):
			page = true // a page served as a download
		}
	}
	if resp.StatusCode == http.StatusNotModified && v != (Validators{}) {
		// Only files are asked for conditionally: this one is unchanged.
		out.Kind, out.NotModified = storage.CaptureFile, true
		return out, nil
	}
	if !page {
		out.Kind = storage.CaptureFile
		out.Validators = Validators{ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
		if resp.StatusCode >= 400 {
			out.Err = fmt.Errorf("HTTP %d", resp.StatusCode)
			return out, nil
		}
		if t, ok := f.wanted(rawURL, br); !ok {
			out.Err = fmt.Errorf("%w: %s", errUnwanted, t)
			return out, nil
		}
		f.download(ctx, &out, br, b)
		return out, nil
	}
	pg = f.page(ctx, &out, br, b, resp.Header.Get("Content-Encoding"))
	if wall {
		// The login page is not what was asked for: nothing of it is
		// matched or followed.
		out.Err, pg = errLoginWall, nil
	}
	return out, pg
}

// evidenceTap streams one response's raw bytes into the WARC writer, which
// runs beside the fetch.
type evidenceTap struct {
	pw   *io.PipeWriter
	done chan evidenceResult
}

type evidenceResult struct {
	rec evidence.Record
	err error
}

func (t *evidenceTap) Write(p []byte) (int, error) { return t.pw.Write(p) }

// startEvidence starts writing the final exchange, whose request was sent
// at at (after any redirects) to remote.
func (f *fetcher) startEvidence(ctx context.Context, resp *http.Response, out *Fetch, remote net.Addr, at time.Time) *evidenceTap {
	pr, pw := io.Pipe()
	t := &evidenceTap{pw: pw, done: make(chan evidenceResult, 1)}
	ex := evidence.Exchange{
		TargetURI: out.FinalURL, Method: resp.Request.Method, RequestHeader: resp.Request.Header.Clone(),
		ResponseProto: resp.Proto, StatusCode: resp.StatusCode, Status: resp.Status,
		ResponseHeader: resp.Header.Clone(), Payload: pr, FetchTime: at, Via: f.opts.Proxy,
	}
	if at.IsZero() {
		ex.FetchTime = out.FetchedAt
	}
	ex.RemoteIP, ex.TLSCertSHA256 = peerOf(remote, resp, f.opts.Proxy)
	go func() {
		rec, err := f.opts.Evidence.WriteExchange(context.WithoutCancel(ctx), ex)
		pr.CloseWithError(err) // unblocks the fetch if the writer gave up
		t.done <- evidenceResult{rec, err}
	}()
	return t
}

// finish ends the payload — complete when the body was read to its end,
// else truncated for the reason the fetch stopped — and waits for the
// records.
func (t *evidenceTap) finish(out *Fetch, b *body) {
	switch {
	case b.eof && !out.Digest.Truncated:
		t.pw.Close()
	default:
		reason := evidence.TruncatedLength // a cap, or a refusal before reading
		switch {
		case errors.Is(out.Err, errSlow), errors.Is(out.Err, errIdle), errors.Is(out.Err, errRunBudget):
			reason = evidence.TruncatedTime
		case out.Err != nil && strings.HasPrefix(out.Err.Error(), "HTTP "):
			reason = evidence.TruncatedUnspecified // an error page's body is not read
		case out.Err != nil && !strings.Contains(out.Err.Error(), "cap of"):
			reason = evidence.TruncatedDisconnect
		}
		t.pw.CloseWithError(&evidence.TruncatedError{Reason: reason})
	}
	r := <-t.done
	if r.err != nil {
		out.evidenceErr = fmt.Errorf("record evidence of %s: %w", out.URL, r.err)
		return
	}
	if b.tapErr != nil && !errors.Is(b.tapErr, io.ErrClosedPipe) {
		out.evidenceErr = fmt.Errorf("record evidence of %s: %w", out.URL, b.tapErr)
		return
	}
	out.Evidence = &r.rec
}

// pendingPage is a page read whole and not yet parsed.
type pendingPage struct {
	url, contentType string
	data             []byte
}

// page reads an HTML page under the cap on decoded bytes (a gzip bomb must
// not inflate past it) and records the digest of the raw bytes. It returns
// the decoded page for parsing, or nil when there is nothing to parse.
func (f *fetcher) page(ctx context.Context, out *Fetch, r io.Reader, b *body, encoding string) *pendingPage {
	max := f.opts.MaxPageBytes
	raw := io.LimitReader(r, max+1)
	dec, err := decoder(raw, encoding)
	var data []byte
	if err == nil {
		data, err = io.ReadAll(io.LimitReader(dec, max+1))
		if cerr := dec.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}
	out.Digest = fingerprints.Digest{SHA256: b.sum(), Size: b.n, Sniffed: http.DetectContentType(b.head)}
	if encoding != "" && len(data) > 0 {
		out.Digest.Sniffed = http.DetectContentType(data[:min(len(data), 512)])
	}
	switch {
	case err != nil:
		out.Err = causeOf(ctx, err)
		out.Digest.Truncated = true
	case int64(len(data)) > max:
		out.Err = fmt.Errorf("page larger than the page cap of %d bytes (decoded); first %d raw bytes hashed", max, b.n)
		out.Digest.Truncated = true
		return nil
	case b.n > max:
		out.Err = fmt.Errorf("page larger than the page cap of %d bytes; first %d bytes hashed", max, b.n)
		out.Digest.Truncated = true
		return nil
	}
	if out.Status >= 400 {
		out.Err = fmt.Errorf("HTTP %d", out.Status)
		return nil
	}
	if out.Err != nil {
		return nil
	}
	ct := out.ContentType
	if !isHTML(ct) {
		ct = "text/html" // sniffed as HTML; colly parses only what is labelled so
	}
	return &pendingPage{url: out.FinalURL, contentType: ct, data: data}
}

// download streams a file through the hasher under the download cap,
// keeping its bytes for matching when they fit Options.KeepBody.
func (f *fetcher) download(ctx context.Context, out *Fetch, r io.Reader, b *body) {
	b.h = nil // fingerprints.Sum hashes the same bytes, also a prefix cut short
	var keep *boundedBuffer
	if f.opts.KeepBody > 0 {
		keep = &boundedBuffer{max: f.opts.KeepBody}
		r = io.TeeReader(r, keep)
	}
	d, err := fingerprints.Sum(r, f.opts.MaxDownloadBytes)
	out.Digest = d
	if keep != nil && !keep.over && err == nil && !d.Truncated {
		out.Body = keep.buf
	}
	if err != nil {
		out.Err = fmt.Errorf("download: %w", causeOf(ctx, err))
	}
}

var errUnwanted = errors.New("file type not wanted by the source; not downloaded")

// wanted reports whether a file is of a type the source wants, by its
// URL's extension or its first bytes, and what type it seemed to be.
func (f *fetcher) wanted(rawURL string, br *bufio.Reader) (string, bool) {
	if len(f.opts.FileTypes) == 0 {
		return "", true
	}
	ext := ""
	if u, err := url.Parse(rawURL); err == nil {
		ext = strings.TrimPrefix(strings.ToLower(path.Ext(u.Path)), ".")
	}
	head, _ := br.Peek(512)
	sniffed := http.DetectContentType(head)
	for _, t := range f.opts.FileTypes {
		t = strings.ToLower(strings.TrimPrefix(t, "."))
		if t == ext || (t != "" && strings.Contains(sniffed, t)) {
			return sniffed, true
		}
	}
	if ext != "" {
		return ext + ", " + sniffed, false
	}
	return sniffed, false
}

// decoder undoes a Content-Encoding. The transport asks for none, but a
// hostile server may send one anyway.
func decoder(r io.Reader, encoding string) (io.ReadCloser, error) {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity":
		return io.NopCloser(r), nil
	case "gzip", "x-gzip":
		return gzip.NewReader(r)
	case "deflate":
		// Servers send either zlib-wrapped or raw deflate under this name.
		br := bufio.NewReader(r)
		if h, err := br.Peek(2); err == nil && (uint16(h[0])<<8|uint16(h[1]))%31 == 0 && h[0]&0x0f == 8 {
			return zlib.NewReader(br)
		}
		return flate.NewReader(br), nil
	}
	return nil, fmt.Errorf("unsupported Content-Encoding %q", encoding)
}

// retryAfter parses a Retry-After value: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// genericType reports declared types that say nothing about the content.
func genericType(ct string) bool {
	ct = strings.ToLower(ct)
	return ct == "" || strings.HasPrefix(ct, "application/octet-stream") || strings.HasPrefix(ct, "text/plain") ||
		strings.HasPrefix(ct, "binary/")
}

// causeOf prefers the reason a request was cancelled (idle, run budget)
// over the bare "context canceled".
func causeOf(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil && !errors.Is(cause, context.Canceled) {
		if errors.Is(err, cause) {
			return err
		}
		return fmt.Errorf("%w: %w", cause, err)
	}
	return err
}

// observe tells Options.Metrics how a fetch ended, unless the crawl's
// context ended under it (that says nothing about the site).
func (f *fetcher) observe(ctx context.Context, out *Fetch) {
	outcome, kind := "ok", ""
	switch {
	case out.Err != nil && ctx.Err() != nil:
		return
	case out.NotModified:
		outcome = "not-modified"
	case out.Err != nil && !(out.Kind == storage.CaptureFile && out.Digest.Truncated):
		// As the run's summary counts it: a file cut at the cap is a
		// file, anything else that failed is a failure.
		outcome, kind = "error", errorKind(out.Err)
	}
	f.opts.Metrics.ObserveFetch(string(out.Kind), outcome, kind, out.Digest.Size)
}

// errorKind names a failed fetch's kind of failure, for the run's summary.
func errorKind(err error) string {
	var ne net.Error
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case err == nil:
		return "unknown"
	case errors.Is(err, errIdle):
		return "stalled"
	case errors.Is(err, errSlow):
		return "too slow"
	case errors.Is(err, errRunBudget):
		return "run budget"
	case errors.Is(err, errUnwanted):
		return "not wanted"
	case errors.Is(err, errLoginWall):
		return "login wall"
	case strings.Contains(err.Error(), "cap of"):
		return "too large"
	case strings.Contains(err.Error(), "redirect"):
		return "redirects"
	case strings.HasPrefix(err.Error(), "HTTP 4"):
		return "http 4xx"
	case strings.HasPrefix(err.Error(), "HTTP 5"):
		return "http 5xx"
	case errors.As(err, &dnsErr):
		return "dns"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, netguard.ErrRefused):
		return "internal address"
	case errors.As(err, &opErr):
		return "connection"
	}
	return "other"
}
