package removal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"

	socks5 "github.com/things-go/go-socks5"

	"github.com/leakwatch/leakwatch/crawlers/webcrawl"
	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/internal/capture"
	"github.com/leakwatch/leakwatch/storage"
)

// What each kind of answer proves, including the ones a loopback test
// cannot produce for real.
func TestVerdict(t *testing.T) {
	dial := func(op string, err error) error {
		return fmt.Errorf("Get %q: %w", "http://h/x", &net.OpError{Op: op, Net: "tcp", Err: err})
	}
	matched := capture.Result{CaptureID: 1, Refs: 2}
	for _, tc := range []struct {
		name     string
		f        webcrawl.Fetch
		res      capture.Result
		viaProxy bool
		want     storage.CheckResult
		detail   string
	}{
		{"200 matching", webcrawl.Fetch{Status: 200}, matched, false, storage.CheckPresent, "matches 2 reference"},
		{"200 with hits only", webcrawl.Fetch{Status: 200}, capture.Result{NewHits: 1}, false, storage.CheckPresent, "1 hit"},
		{"200 other content", webcrawl.Fetch{Status: 200}, capture.Result{}, false, storage.CheckNotMatching, "matches no reference"},
		{"404", webcrawl.Fetch{Status: 404, Err: errors.New("HTTP 404")}, capture.Result{}, false, storage.CheckGone, "HTTP 404"},
		{"410", webcrawl.Fetch{Status: 410, Err: errors.New("HTTP 410")}, capture.Result{}, false, storage.CheckGone, "HTTP 410"},
		{"451", webcrawl.Fetch{Status: 451, Err: errors.New("HTTP 451")}, capture.Result{}, true, storage.CheckGone, "HTTP 451"},
		{"403", webcrawl.Fetch{Status: 403, Err: errors.New("HTTP 403")}, capture.Result{}, false, storage.CheckError, "HTTP 403"},
		{"429", webcrawl.Fetch{Status: 429, Err: errors.New("HTTP 429")}, capture.Result{}, false, storage.CheckError, "HTTP 429"},
		{"500", webcrawl.Fetch{Status: 500, Err: errors.New("HTTP 500")}, capture.Result{}, false, storage.CheckError, "HTTP 500"},
		{"304 without validators", webcrawl.Fetch{Status: 304}, capture.Result{}, false, storage.CheckError, "HTTP 304"},
		{"cut short", webcrawl.Fetch{Status: 200, Err: errors.New("download: too slow: below the minimum average throughput"),
			Digest: fingerprints.Digest{Truncated: true}}, capture.Result{}, false, storage.CheckError, "HTTP 200; "},
		{"archive too big, its directory matches", webcrawl.Fetch{Status: 200,
			Err: errors.New("declared size 9 bytes exceeds the download cap of 1 bytes; not downloaded")}, matched, false, storage.CheckPresent, "matches 2"},
		{"no such host", webcrawl.Fetch{Err: dial("dial", &net.DNSError{Err: "no such host", Name: "h", IsNotFound: true})},
			capture.Result{}, false, storage.CheckGone, "no such host"},
		{"dns server failure", webcrawl.Fetch{Err: dial("dial", &net.DNSError{Err: "server misbehaving", Name: "h", IsTemporary: true})},
			capture.Result{}, false, storage.CheckError, "dns"},
		{"refused", webcrawl.Fetch{Err: dial("dial", os.NewSyscallError("connect", syscall.ECONNREFUSED))},
			capture.Result{}, false, storage.CheckGone, "connection refused"},
		{"reset", webcrawl.Fetch{Err: dial("read", os.NewSyscallError("read", syscall.ECONNRESET))},
			capture.Result{}, false, storage.CheckError, "connection"},
		{"timeout", webcrawl.Fetch{Err: dial("dial", os.ErrDeadlineExceeded)}, capture.Result{}, false, storage.CheckError, "timeout"},
		{"proxy down", webcrawl.Fetch{Err: dial("proxyconnect", os.NewSyscallError("connect", syscall.ECONNREFUSED))},
			capture.Result{}, true, storage.CheckError, "proxy: connection to the proxy refused"},
		{"proxy: host unreachable", webcrawl.Fetch{Err: dial("socks connect", errors.New("unknown error host unreachable"))},
			capture.Result{}, true, storage.CheckError, "proxy: host unreachable"},
		{"proxy: refused", webcrawl.Fetch{Err: dial("socks connect", errors.New("unknown error connection refused"))},
			capture.Result{}, true, storage.CheckGone, "reported by the proxy"},
		{"proxy: DNS error is the proxy's own", webcrawl.Fetch{Err: dial("proxyconnect", &net.DNSError{Err: "no such host", Name: "tor", IsNotFound: true})},
			capture.Result{}, true, storage.CheckError, "proxy"},
		{"login failed", webcrawl.Fetch{Err: fmt.Errorf("%w: %w", webcrawl.ErrLogin, dial("dial", os.NewSyscallError("connect", syscall.ECONNREFUSED)))},
			capture.Result{}, false, storage.CheckError, "login"},
		{"host budget", webcrawl.Fetch{Err: webcrawl.ErrHostBudget}, capture.Result{}, false, storage.CheckError, "budget"},
	} {
		r, detail := Verdict(tc.f, tc.res, tc.viaProxy)
		if r != tc.want || !strings.Contains(detail, tc.detail) {
			t.Errorf("%s: %s %q, want %s with %q", tc.name, r, detail, tc.want, tc.detail)
		}
		if strings.Contains(detail, "http://") {
			t.Errorf("%s: the detail %q quotes a URL", tc.name, detail)
		}
	}
}

// Through a SOCKS5 proxy (as Tor is used): a file still served is present;
// a host the proxy finds refusing connections is gone; a proxy that is
// down proves nothing.
func TestCheckThroughProxy(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var dials []string
	dialled := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(dials)
	}
	var d net.Dialer
	srv := socks5.NewServer(socks5.WithDial(func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dials = append(dials, addr)
		mu.Unlock()
		return d.DialContext(ctx, network, addr)
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() { _ = srv.Serve(ln) }()

	present := e.item(t, e.atts[0].Path)
	refused := storage.CaseItem{ID: 31, URL: "http://" + closedPort(t) + "/files/1/a.pdf", FirstCaptureID: present.FirstCaptureID}
	items := []storage.CaseItem{present, refused}
	c := e.checker()
	c.Crawler.Proxy = "socks5h://" + ln.Addr().String()
	res, err := c.Check(e.ctx, e.kase, items)
	if err != nil {
		t.Fatal(err)
	}
	want(t, "through the proxy", res[0], storage.CheckPresent, "matches")
	want(t, "refused behind the proxy", res[1], storage.CheckGone, "reported by the proxy")
	if n := dialled(); n != 2 {
		t.Errorf("the proxy dialled %d times; want both items through it", n)
	}

	// The source's own proxy replaces the configured one; this one is down.
	e.src.Options.Proxy = "socks5h://" + closedPort(t)
	if err := e.store.UpdateSource(e.ctx, &e.src); err != nil {
		t.Fatal(err)
	}
	res, err = c.Check(e.ctx, e.kase, items)
	if err != nil {
		t.Fatal(err)
	}
	want(t, "proxy down", res[0], storage.CheckError, "proxy")
	want(t, "proxy down", res[1], storage.CheckError, "proxy")
	if n := dialled(); n != 2 {
		t.Errorf("the configured proxy was used over the source's own (%d dials)", n)
	}
}
