package recipients

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseSecurityTxt(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, body    string
		mailto, other []string
		err           string
	}{
		{name: "plain", body: "Contact: mailto:sec@a.example\nContact: tel:+1-201-555-0123\nExpires: 2027-01-01T00:00:00Z\n",
			mailto: []string{"sec@a.example"}, other: []string{"tel:+1-201-555-0123"}},
		{name: "case, CRLF, BOM, comments", body: "\uFEFF# hi\r\ncOnTaCt:   MAILTO:Sec@A.Example  \r\n\r\n",
			mailto: []string{"sec@a.example"}},
		{name: "mailto with several addresses and a query", body: "Contact: mailto:a@x.example,B@x.example?subject=hi\n",
			mailto: []string{"a@x.example", "b@x.example"}},
		{name: "percent-encoded", body: "Contact: mailto:abuse%40x.example\n", mailto: []string{"abuse@x.example"}},
		{name: "bad mailto skipped", body: "Contact: mailto:nobody\nContact: mailto:ok@x.example\n", mailto: []string{"ok@x.example"}},
		{name: "only a web form", body: "Contact: https://x.example/report\n", other: []string{"https://x.example/report"}},
		{name: "signed", body: strings.Join([]string{
			"-----BEGIN PGP SIGNED MESSAGE-----",
			"Hash: SHA256",
			"",
			"Contact: mailto:signed@x.example",
			"- -Contact: mailto:dashed@x.example",
			"-----BEGIN PGP SIGNATURE-----",
			"Contact: mailto:inside-signature@x.example",
			"-----END PGP SIGNATURE-----",
		}, "\n"), mailto: []string{"signed@x.example"}},
		{name: "expired", body: "Contact: mailto:a@x.example\nExpires: 2026-02-28T23:59:59Z\n", err: "expired on 2026-02-28"},
		{name: "earliest of repeated Expires", body: "Contact: mailto:a@x.example\nExpires: 2030-01-01T00:00:00Z\nExpires: 2020-01-01T00:00:00Z\n", err: "expired"},
		{name: "malformed Expires ignored", body: "Contact: mailto:a@x.example\nExpires: next tuesday\n", mailto: []string{"a@x.example"}},
		{name: "no contact", body: "<html>Not found</html>", err: "no Contact field"},
		{name: "binary", body: "\xff\xfe\x00C\x00o", err: "not UTF-8 text"},
		{name: "empty", body: "", err: "no Contact field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parseSecurityTxt([]byte(tc.body), now)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f.mailto, tc.mailto) || !slices.Equal(f.other, tc.other) {
				t.Errorf("mailto %q other %q, want %q %q", f.mailto, f.other, tc.mailto, tc.other)
			}
		})
	}
}

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		in, host, port string
		onion, ip      bool
	}{
		{in: "leaks.example", host: "leaks.example"},
		{in: " LEAKS.Example. ", host: "leaks.example"},
		{in: "files.example:8443", host: "files.example", port: "8443"},
		{in: "files.example:08443", host: "files.example", port: "8443"},
		{in: "leaks.example/thread/1", host: "leaks.example"},
		{in: "https://user@Leaks.Example:8443/x?y", host: "leaks.example", port: "8443"},
		{in: "bücher.example", host: "xn--bcher-kva.example"},
		{in: "my_cdn.leaks.example", host: "my_cdn.leaks.example"},
		{in: "192.0.2.1", host: "192.0.2.1", ip: true},
		{in: "192.0.2.1:8080", host: "192.0.2.1", port: "8080", ip: true},
		{in: "2001:DB8::1", host: "2001:db8::1", ip: true},
		{in: "[2001:db8::1]", host: "2001:db8::1", ip: true},
		{in: "[::ffff:192.0.2.1]:443", host: "192.0.2.1", port: "443", ip: true},
		{in: "abcdefghijklmnop.onion", host: "abcdefghijklmnop.onion", onion: true},
	} {
		got, err := parseTarget(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got.host != tc.host || got.port != tc.port || got.onion != tc.onion || got.addr.IsValid() != tc.ip {
			t.Errorf("%q: got %+v", tc.in, got)
		}
	}
}

func TestRegisteredDomains(t *testing.T) {
	for _, tc := range []struct {
		host string
		want []string
	}{
		{"leaks.example", []string{"leaks.example"}},
		{"a.b.cdn.leaks.example", []string{"leaks.example"}},
		{"shop.co.uk", []string{"shop.co.uk"}},
		{"www.shop.co.uk", []string{"shop.co.uk"}},
		{"user.github.io", []string{"user.github.io", "github.io"}},
		{"example", nil},
		{"localhost", nil},
	} {
		if got := registeredDomains(tc.host); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.host, got, tc.want)
		}
	}
}

func TestParseAddresses(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"Abuse@Example.COM", []string{"abuse@example.com"}},
		{"mailto:abuse@example.com", []string{"abuse@example.com"}},
		{"Abuse Team <abuse@example.com>", []string{"abuse@example.com"}},
		{"a@x.example, b@y.example", []string{"a@x.example", "b@y.example"}},
		{"not an address", nil},
		{"root@localhost", nil},
		{"", nil},
		{"\"quoted local\"@x.example", nil},
	} {
		if got := parseAddresses(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}
}
