package web

import (
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// attemptLimiter is a sliding-window log: at most limit attempts per key in any
// window. Exact, and small enough at login rates (limit timestamps per key).
type attemptLimiter struct {
	mu        sync.Mutex
	limit     int
	window    time.Duration
	attempts  map[string][]time.Time
	lastSweep time.Time
}

func newAttemptLimiter(limit int, window time.Duration) *attemptLimiter {
	return &attemptLimiter{limit: limit, window: window, attempts: map[string][]time.Time{}}
}

// allow records an attempt for key at now, or refuses it and says how long
// until the oldest attempt in the window expires.
func (l *attemptLimiter) allow(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > l.window {
		l.sweep(now)
	}
	cutoff := now.Add(-l.window)
	ts := l.attempts[key]
	i := 0
	for i < len(ts) && !ts[i].After(cutoff) {
		i++
	}
	ts = ts[i:]
	if len(ts) >= l.limit {
		l.attempts[key] = ts
		return false, ts[0].Sub(cutoff)
	}
	l.attempts[key] = append(ts, now)
	return true, 0
}

// sweep forgets keys whose attempts all left the window, so memory follows
// the number of recently active clients.
func (l *attemptLimiter) sweep(now time.Time) {
	cutoff := now.Add(-l.window)
	for k, ts := range l.attempts {
		if len(ts) == 0 || !ts[len(ts)-1].After(cutoff) {
			delete(l.attempts, k)
		}
	}
	l.lastSweep = now
}

// throttleKey is the limiter key of a client address. IPv6 clients are
// counted per /64, since one host usually owns the whole prefix.
func throttleKey(ip netip.Addr) string {
	if !ip.IsValid() {
		return "unknown"
	}
	if ip.Is6() {
		p, err := ip.Prefix(64)
		if err == nil {
			return p.String()
		}
	}
	return ip.String()
}

// clientIP is the peer address, or, when the peer is a trusted proxy, the
// nearest untrusted address in X-Forwarded-For (read right to left, since
// only the entries our own proxies appended can be believed).
func (s *Server) clientIP(r *http.Request) netip.Addr {
	ip := parseAddr(r.RemoteAddr)
	if !s.isTrustedProxy(ip) {
		return ip
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop := parseAddr(strings.TrimSpace(hops[i]))
		if !hop.IsValid() {
			return ip
		}
		ip = hop
		if !s.isTrustedProxy(hop) {
			return hop
		}
	}
	return ip
}

func (s *Server) isTrustedProxy(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	for _, p := range s.trustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// parseAddr accepts "host:port", "[v6]:port" or a bare address.
func parseAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}
