// Package netguard keeps crawlers off the networks they must not reach:
// loopback, private, link-local (cloud metadata at 169.254.169.254),
// carrier-grade NAT and other non-public addresses. An analyst who adds a
// source chooses where leakwatch connects; without a guard that is an
// internal port scanner.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"syscall"
	"time"
)

// ErrRefused matches every refusal (errors.Is).
var ErrRefused = errors.New("address is not public")

// RefusedError is a connection the policy refused. Its message names no
// address, so it can be shown to whoever asked for the fetch.
type RefusedError struct{}

func (RefusedError) Error() string {
	return "refused to connect: the host resolves to a loopback, private or other internal address (an admin can allow a network in crawler.allow_networks)"
}

// Is makes errors.Is(err, ErrRefused) true.
func (RefusedError) Is(target error) bool { return target == ErrRefused }

// reserved are non-public ranges that netip's predicates do not cover.
var reserved = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: an IPv4 address behind it
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("100::/64"),        // discard-only
}

// Policy decides which addresses may be connected to. The zero value
// allows public addresses only.
type Policy struct {
	// Allow lists networks reachable although not public (a lab, the
	// tests' loopback servers, a local Tor proxy).
	Allow []netip.Prefix
}

// Public reports whether a is a public unicast address.
func Public(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range reserved {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// Check returns nil if a may be connected to: public, or in an allowed
// network. The error names no address, so it can be shown as it is.
func (p Policy) Check(a netip.Addr) error {
	a = a.Unmap()
	if Public(a) {
		return nil
	}
	for _, n := range p.Allow {
		if n.Contains(a) {
			return nil
		}
	}
	return RefusedError{}
}

// Control is a net.Dialer Control function: it runs after name
// resolution, for each address tried, before any packet is sent.
func (p Policy) Control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		host, _, serr := net.SplitHostPort(address)
		if serr != nil {
			return fmt.Errorf("netguard: %q: %w", address, err)
		}
		a, perr := netip.ParseAddr(host)
		if perr != nil {
			return fmt.Errorf("netguard: %q: %w", address, perr)
		}
		return p.Check(a)
	}
	return p.Check(ap.Addr())
}

// ParseNetworks parses CIDR prefixes (or single addresses) as Allow takes
// them.
func ParseNetworks(ss []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range ss {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a network (CIDR) or an address", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// AllowHost returns a copy of p that also allows host's addresses (an
// address, or a name resolved now): a configured proxy, often a local Tor,
// is where every connection goes.
func (p Policy) AllowHost(ctx context.Context, host string) (Policy, error) {
	out := Policy{Allow: slices.Clone(p.Allow)}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		var err error
		if addrs, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
			return Policy{}, fmt.Errorf("resolve %s: %w", host, err)
		}
	}
	for _, a := range addrs {
		a = a.Unmap()
		out.Allow = append(out.Allow, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Dialer returns a dialer that refuses what p refuses, after resolution
// and before any packet is sent.
func (p Policy) Dialer(timeout time.Duration) *net.Dialer {
	return &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: p.Control}
}
