package netguard

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestPublic(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		public bool
	}{
		{"93.184.215.14", true}, {"2606:4700::1111", true}, {"8.8.8.8", true},
		{"127.0.0.1", false}, {"127.9.9.9", false}, {"::1", false},
		{"10.1.2.3", false}, {"172.16.0.1", false}, {"192.168.1.1", false}, {"fd00::1", false},
		{"169.254.169.254", false}, {"fe80::1", false}, // cloud metadata, link-local
		{"100.64.0.1", false}, {"0.0.0.0", false}, {"::", false}, {"224.0.0.1", false}, {"ff02::1", false},
		{"255.255.255.255", false}, {"192.0.2.1", false}, {"198.18.0.1", false},
		{"::ffff:127.0.0.1", false}, {"::ffff:10.0.0.1", false}, {"::ffff:8.8.8.8", true}, // IPv4-mapped
		{"64:ff9b::a00:1", false}, // NAT64 of 10.0.0.1
	} {
		if got := Public(netip.MustParseAddr(tc.addr)); got != tc.public {
			t.Errorf("Public(%s) = %v, want %v", tc.addr, got, tc.public)
		}
	}
}

func TestPolicy(t *testing.T) {
	var p Policy
	err := p.Check(netip.MustParseAddr("10.0.0.5"))
	if !errors.Is(err, ErrRefused) || strings.Contains(err.Error(), "10.0.0.5") {
		t.Errorf("refusal %v: want ErrRefused, naming no address", err)
	}
	allow, err := ParseNetworks([]string{"10.0.0.0/24", "192.168.7.7"})
	if err != nil {
		t.Fatal(err)
	}
	p.Allow = allow
	for addr, ok := range map[string]bool{"10.0.0.5": true, "10.0.1.5": false, "192.168.7.7": true, "192.168.7.8": false, "::ffff:10.0.0.9": true} {
		if got := p.Check(netip.MustParseAddr(addr)) == nil; got != ok {
			t.Errorf("allowed %s = %v, want %v", addr, got, ok)
		}
	}
	// Control sees the resolved address and port, as the dialer gives it.
	if err := p.Control("tcp4", "10.0.0.5:80", nil); err != nil {
		t.Errorf("Control of an allowed address: %v", err)
	}
	if err := p.Control("tcp6", "[::1]:8080", nil); !errors.Is(err, ErrRefused) {
		t.Errorf("Control of loopback: %v", err)
	}
	if _, err := ParseNetworks([]string{"intranet"}); err == nil {
		t.Error("ParseNetworks accepted a name")
	}
}
