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

// With a guard, a crawl never connects to an internal address it does
// not allow: an address literal is refused before any request, a name is
// refused after it resolves (here "localhost", from /etc/hosts: no DNS
// query leaves the machine) and before any packet reaches the server; the error names no address. Allowing the
// network lets the same crawl through. Only loopback is ever contacted.
func TestGuardRefusesInternalAddresses(t *testing.T) {
	var requests atomic.Int64
	srv, _ := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html><body>a post</body></html>"))
	}))
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))

	guarded := Options{Guard: &netguard.Policy{}}
	if _, err := crawl(t, guarded, srv.URL+"/", &memSink{}); err == nil || !strings.Contains(err.Error(), "refused to connect") {
		t.Errorf("crawl of an address literal on loopback: %v", err)
	}
	seed := "http://localhost:" + port + "/"
	sink := &memSink{}
	st, err := crawl(t, guarded, seed, sink)
	if err != nil {
		t.Fatalf("crawl by name: %v", err)
	}
	f := sink.get(t, seed)
	if f.Err == nil || !strings.Contains(f.Err.Error(), "refused to connect") || strings.Contains(f.Err.Error(), "127.0.0.1") || strings.Contains(f.Err.Error(), "[::1]") {
		t.Errorf("fetch of a name resolving to loopback: %v; want a refusal naming no address", f.Err)
	}
	if st.Errors["internal address"] != 1 {
		t.Errorf("errors by kind %v", st.Errors)
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("the server got %d requests through the guard", n)
	}
	if _, err := newCrawler(t, guarded).FetchOne(t.Context(), srv.URL+"/", &memSink{}); err == nil {
		t.Error("FetchOne of a loopback literal was not refused")
	}

	allowed := Options{Guard: &netguard.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}}
	sink = &memSink{}
	if _, err := crawl(t, allowed, seed, sink); err != nil {
		t.Fatal(err)
	}
	if f := sink.get(t, seed); f.Err != nil || requests.Load() == 0 {
		t.Errorf("with loopback allowed: %v, %d requests", f.Err, requests.Load())
	}
}

// Through a proxy (Tor), the proxy itself is allowed although it is on
// loopback, names go to it to resolve, and an internal address literal is
// refused before the proxy is even asked.
func TestGuardWithProxy(t *testing.T) {
	_, _, proxy, seed := onionSite(t, "kealeaksguarded.onion")
	opts := Options{Proxy: "socks5h://" + proxy.addr, Guard: &netguard.Policy{}}
	sink := &memSink{}
	if _, err := crawl(t, opts, seed, sink); err != nil {
		t.Fatal(err)
	}
	if f := sink.get(t, seed); f.Err != nil {
		t.Fatalf("guarded crawl through the proxy: %v", f.Err)
	}
	proxy.mu.Lock()
	before := len(proxy.dials)
	proxy.mu.Unlock()
	if _, err := crawl(t, opts, "http://10.0.0.1/", &memSink{}); err == nil || !strings.Contains(err.Error(), "refused to connect") {
		t.Errorf("an internal literal through the proxy: %v", err)
	}
	proxy.mu.Lock()
	after := len(proxy.dials)
	proxy.mu.Unlock()
	if after != before {
		t.Errorf("the proxy was asked to connect to an internal address")
	}
}
