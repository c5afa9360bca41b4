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
	"time"
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
