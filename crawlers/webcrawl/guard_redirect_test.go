package webcrawl

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/leakwatch/leakwatch/internal/netguard"
)

// A site the guard allows (here 127.0.0.1 only) that redirects to an
// address the guard does not allow (127.0.0.2: another loopback address,
// so no packet leaves the machine even if the check failed) gets no
// connection through, in crawls and single fetches (removal re-checks)
// alike. (The crawler follows no redirect to another host at all; this
// pins that down for internal targets.)
func TestGuardRefusesRedirectToInternalAddress(t *testing.T) {
	var internal atomic.Int64
	inside, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("no 127.0.0.2 on this machine: %v", err)
	}
	go func() {
		for {
			c, err := inside.Accept()
			if err != nil {
				return
			}
			internal.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { inside.Close() })

	srv, _ := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+inside.Addr().String()+"/admin", http.StatusFound)
	}))
	opts := Options{Guard: &netguard.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}}
	seed := srv.URL + "/"
	sink := &memSink{}
	if _, err := crawl(t, opts, seed, sink); err != nil && !strings.Contains(err.Error(), "refused to connect") {
		t.Fatalf("crawl: %v", err)
	}
	f := sink.get(t, seed)
	if f.Err == nil {
		t.Errorf("fetch redirected to an internal address succeeded")
	}
	if n := internal.Load(); n != 0 {
		t.Fatalf("the internal address got %d connections through the guard", n)
	}
	_, _ = newCrawler(t, opts).FetchOne(t.Context(), seed, &memSink{})
	if n := internal.Load(); n != 0 {
		t.Errorf("FetchOne followed the redirect to an internal address (%d connections)", n)
	}
}
