package webcrawl

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"time"

	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/internal/netguard"
)

func newTransport(o Options) (*http.Transport, error) {
	d := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		TLSHandshakeTimeout:   o.DialTimeout,
		ResponseHeaderTimeout: o.HeaderTimeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		// Bodies are hashed as sent; transparent gunzip would hash something else.
		DisableCompression: true,
	}
	var guard *netguard.Policy
	if o.Guard != nil {
		g := *o.Guard
		guard = &g
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
		if guard != nil {
			// The configured proxy is where every connection goes (often
			// a local Tor): it is allowed; targets are then checked by
			// address literal only (see Crawler.checkTarget).
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			g, err := guard.AllowHost(ctx, pu.Hostname())
			cancel()
			if err != nil {
				return nil, fmt.Errorf("crawler proxy %q: %w", o.Proxy, err)
			}
			guard = &g
		}
	}
	if guard != nil {
		// Checked after name resolution, on every connection (redirects
		// and a name that re-resolves included), before a packet is sent.
		d = guard.Dialer(o.DialTimeout)
	}
	tr.DialContext = d.DialContext
	return tr, nil
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

var (
	errIdle = errors.New("download stalled: no data within the idle timeout")
	errSlow = errors.New("too slow: below the minimum average throughput")
)

// body watches a response body as it is read: it hashes the raw bytes
// (when h is set), cancels the request when no byte arrives for the idle
// timeout, and fails the read once, after the grace period, the average
// rate falls below the minimum — a 1 byte/s drip is never idle, so only a
// rate floor ends it.
type body struct {
	r       io.Reader
	h       hash.Hash // nil: the caller hashes
	n       int64
	head    []byte // the first 512 bytes, for sniffing
	start   time.Time
	grace   time.Duration
	minRate int64
	idle    time.Duration
	timer   *time.Timer
	slow    bool
	eof     bool
	// tap receives the raw bytes too (the WARC writer); a failed write
	// detaches it, and tapErr keeps why.
	tap    io.Writer
	tapErr error
}

func newBody(r io.Reader, o *Options, hashed bool, cancel context.CancelCauseFunc) *body {
	b := &body{r: r, start: time.Now(), grace: o.Grace, minRate: o.MinRate, idle: o.IdleTimeout}
	if hashed {
		b.h = sha256.New()
	}
	b.timer = time.AfterFunc(o.IdleTimeout, func() { cancel(errIdle) })
	return b
}

func (b *body) Read(p []byte) (int, error) {
	if b.slow {
		return 0, b.slowErr()
	}
	n, err := b.r.Read(p)
	if n > 0 {
		b.timer.Reset(b.idle)
		if b.h != nil {
			b.h.Write(p[:n])
		}
		if b.tap != nil {
			if _, werr := b.tap.Write(p[:n]); werr != nil {
				b.tap, b.tapErr = nil, werr
			}
		}
		if room := 512 - len(b.head); room > 0 {
			b.head = append(b.head, p[:min(room, n)]...)
		}
		b.n += int64(n)
	}
	if errors.Is(err, io.EOF) {
		b.eof = true
	}
	if err == nil {
		if el := time.Since(b.start); el > b.grace && float64(b.n)/el.Seconds() < float64(b.minRate) {
			b.slow = true
			return n, b.slowErr()
		}
	}
	return n, err
}

func (b *body) slowErr() error {
	el := time.Since(b.start).Round(time.Second)
	return fmt.Errorf("%w (%d bytes in %s, minimum %d bytes/s after %s)", errSlow, b.n, el, b.minRate, b.grace)
}

func (b *body) stop() { b.timer.Stop() }

func (b *body) sum() string {
	if b.h == nil {
		return ""
	}
	return hex.EncodeToString(b.h.Sum(nil))
}

// hopBodyCap bounds what of a redirect's body is kept as evidence: a 3xx
// body is a short note, and a longer one proves nothing more.
const hopBodyCap = 64 << 10

// hopRecorder stands between one fetch's client and the shared transport
// and records every redirect as it passes: its URL and, with
// Options.Evidence, its request and response as WARC (the body as
// received, up to hopBodyCap), before the client follows it. net/http
// still does the following — CheckRedirect's same-host rule and cap, the
// cookie jar, the Referer — so only the responses it follows or refuses
// to follow are hops; the final response, whatever its status, is the
// fetch's own to record.
type hopRecorder struct {
	next   http.RoundTripper
	opts   *Options
	cancel context.CancelCauseFunc // the fetch's: a stalled hop body ends it
	// urls are the URLs that answered with a redirect, oldest first, and
	// records their exchanges (same index) when Options.Evidence is set.
	urls    []string
	records []evidence.Record
	err     error // a hop could not be recorded: the crawl must stop
	// lastAt and lastRemote are when the last request (the final one,
	// once the client is done) was sent, and its peer: the final
	// exchange's WARC-Date and address.
	lastAt     time.Time
	lastRemote net.Addr
}

// RoundTrip implements http.RoundTripper. The client calls it once per
// hop, one after the other.
func (h *hopRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var remote net.Addr // this hop's peer
	traced := req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { remote = info.Conn.RemoteAddr() },
	}))
	at := time.Now().UTC()
	resp, err := h.next.RoundTrip(traced)
	h.lastAt, h.lastRemote = at, remote
	if err != nil {
		return resp, err
	}
	resp.Request = req // the client's, not the traced copy
	if !isHop(resp) {
		return resp, nil
	}
	h.urls = append(h.urls, req.URL.String())
	if h.opts.Evidence == nil {
		return resp, nil
	}
	rec, err := h.record(req, resp, remote, at)
	if err != nil {
		resp.Body.Close()
		// Following on unrecorded would lose evidence.
		h.err = fmt.Errorf("record evidence of redirect %d of %s: %w", len(h.urls), req.URL, err)
		return nil, h.err
	}
	h.records = append(h.records, rec)
	return resp, nil
}

// record writes one hop's exchange. The body is read under the fetch's
// idle and throughput watchdog (a hostile 302 may drip), then handed back
// to the client, which reads a little of it before following.
func (h *hopRecorder) record(req *http.Request, resp *http.Response, remote net.Addr, at time.Time) (evidence.Record, error) {
	ctx := req.Context()
	b := newBody(resp.Body, h.opts, false, h.cancel)
	payload, rerr := io.ReadAll(io.LimitReader(b, hopBodyCap+1))
	b.stop()
	resp.Body.Close()
	var truncated string
	switch cause := context.Cause(ctx); {
	case rerr != nil && (errors.Is(rerr, errSlow) || errors.Is(cause, errIdle) || errors.Is(cause, errRunBudget)):
		truncated = evidence.TruncatedTime
	case rerr != nil:
		truncated = evidence.TruncatedDisconnect
	case len(payload) > hopBodyCap:
		payload, truncated = payload[:hopBodyCap], evidence.TruncatedLength
	}
	resp.Body = io.NopCloser(bytes.NewReader(payload))
	ex := evidence.Exchange{
		TargetURI: req.URL.String(), Method: req.Method, RequestHeader: req.Header.Clone(),
		ResponseProto: resp.Proto, StatusCode: resp.StatusCode, Status: resp.Status,
		ResponseHeader: resp.Header.Clone(), Payload: bytes.NewReader(payload), Truncated: truncated,
		FetchTime: at, Via: h.opts.Proxy,
	}
	ex.RemoteIP, ex.TLSCertSHA256 = peerOf(remote, resp, h.opts.Proxy)
	return h.opts.Evidence.WriteExchange(context.WithoutCancel(ctx), ex)
}

// isHop reports whether the client follows resp — or refuses to, in
// CheckRedirect — rather than returning it as the answer: net/http follows
// these statuses (for a GET without a body) when there is a Location.
func isHop(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return resp.Header.Get("Location") != ""
	}
	return false
}

// peerOf is what the evidence says of a response's peer: the site's
// address when connected directly — through a proxy the peer is the proxy,
// which Via already names, and the site's own address is unknown (an
// onion has none) — and the SHA-256 of its TLS leaf certificate.
func peerOf(remote net.Addr, resp *http.Response, proxy string) (ip netip.Addr, cert []byte) {
	if tcp, ok := remote.(*net.TCPAddr); ok && proxy == "" {
		if a, ok := netip.AddrFromSlice(tcp.IP); ok {
			ip = a.Unmap()
		}
	}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		sum := sha256.Sum256(resp.TLS.PeerCertificates[0].Raw)
		cert = sum[:]
	}
	return ip, cert
}
