package rdapsim

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/openrdap/rdap"

	"github.com/leakwatch/leakwatch/internal/testkit"
)

func start(t *testing.T) *Server {
	t.Helper()
	s, err := Start(t.Context(), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// query asks s through openrdap, as the product does, so the fixture's
// shapes are checked against a real parser.
func query(t *testing.T, s *Server, typ rdap.RequestType, q string) (*rdap.Response, error) {
	t.Helper()
	u, err := url.Parse(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c := &rdap.Client{HTTP: &http.Client{}}
	return c.Do((&rdap.Request{Type: typ, Query: q, Server: u}).WithContext(ctx))
}

// emails returns the e-mail addresses of entities with role under es,
// at any depth.
func emails(es []rdap.Entity, role string) []string {
	var out []string
	for _, e := range es {
		if slices.Contains(e.Roles, role) && e.VCard != nil {
			for _, p := range e.VCard.Get("email") {
				out = append(out, p.Values()...)
			}
		}
		out = append(out, emails(e.Entities, role)...)
	}
	return out
}

func TestDomain(t *testing.T) {
	s := start(t)
	s.AddDomain("Leaks.Example", "abuse@registrar.example", "")
	s.AddDomain("both.example", "abuse@registrar.example", "abuse@registry.example")

	resp, err := query(t, s, rdap.DomainRequest, "leaks.example")
	if err != nil {
		t.Fatal(err)
	}
	d, ok := resp.Object.(*rdap.Domain)
	if !ok {
		t.Fatalf("object is %T, want *rdap.Domain", resp.Object)
	}
	if d.LDHName != "leaks.example" || d.Handle == "" {
		t.Errorf("ldhName %q handle %q", d.LDHName, d.Handle)
	}
	var registrar *rdap.Entity
	for i := range d.Entities {
		if slices.Contains(d.Entities[i].Roles, "registrar") {
			registrar = &d.Entities[i]
		}
	}
	if registrar == nil {
		t.Fatal("no registrar entity")
	}
	if got := emails(registrar.Entities, "abuse"); !slices.Equal(got, []string{"abuse@registrar.example"}) {
		t.Errorf("registrar abuse emails %q", got)
	}
	if got := emails(d.Entities, "abuse"); len(got) != 1 {
		t.Errorf("all abuse emails %q, want only the registrar's", got)
	}

	resp, err = query(t, s, rdap.DomainRequest, "both.example")
	if err != nil {
		t.Fatal(err)
	}
	got := emails(resp.Object.(*rdap.Domain).Entities, "abuse")
	slices.Sort(got)
	if !slices.Equal(got, []string{"abuse@registrar.example", "abuse@registry.example"}) {
		t.Errorf("abuse emails %q", got)
	}

	s.AddDomain("quiet.example", "", "")
	resp, err = query(t, s, rdap.DomainRequest, "quiet.example")
	if err != nil {
		t.Fatal(err)
	}
	if got := emails(resp.Object.(*rdap.Domain).Entities, "abuse"); len(got) != 0 {
		t.Errorf("quiet domain has abuse emails %q", got)
	}
}

func TestNetwork(t *testing.T) {
	s := start(t)
	if err := s.AddNetwork("192.0.2.0/24", "abuse@hoster.example"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddNetwork("192.0.2.128/25", "abuse@reseller.example"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddNetwork("2001:db8::/32", "abuse@v6.example"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddNetwork("not-a-cidr", "x@example"); err == nil {
		t.Error("AddNetwork accepted a bad CIDR")
	}

	for _, tc := range []struct {
		q, start, end, email string
	}{
		{"192.0.2.7", "192.0.2.0", "192.0.2.255", "abuse@hoster.example"},
		{"192.0.2.200", "192.0.2.128", "192.0.2.255", "abuse@reseller.example"},
		{"2001:db8::1", "2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", "abuse@v6.example"},
	} {
		resp, err := query(t, s, rdap.IPRequest, tc.q)
		if err != nil {
			t.Fatalf("%s: %v", tc.q, err)
		}
		n, ok := resp.Object.(*rdap.IPNetwork)
		if !ok {
			t.Fatalf("%s: object is %T", tc.q, resp.Object)
		}
		if n.StartAddress != tc.start || n.EndAddress != tc.end {
			t.Errorf("%s: range %s-%s, want %s-%s", tc.q, n.StartAddress, n.EndAddress, tc.start, tc.end)
		}
		if got := emails(n.Entities, "abuse"); !slices.Equal(got, []string{tc.email}) {
			t.Errorf("%s: abuse %q, want %s", tc.q, got, tc.email)
		}
	}
}

func TestUnknownIs404(t *testing.T) {
	s := start(t)
	for _, tc := range []struct {
		typ rdap.RequestType
		q   string
	}{
		{rdap.DomainRequest, "nowhere.example"},
		{rdap.IPRequest, "198.51.100.1"},
	} {
		_, err := query(t, s, tc.typ, tc.q)
		var ce *rdap.ClientError
		if !errors.As(err, &ce) || ce.Type != rdap.ObjectDoesNotExist {
			t.Errorf("%s: err %v, want ObjectDoesNotExist", tc.q, err)
		}
	}
	if got := s.Requests()["/domain/nowhere.example"]; got != 1 {
		t.Errorf("requests for /domain/nowhere.example: %d", got)
	}
}

func TestRaw(t *testing.T) {
	s := start(t)
	s.AddDomain("broken.example", "abuse@registrar.example", "")
	s.AddRaw("/domain/broken.example", http.StatusServiceUnavailable, []byte("try later"))
	resp, body := testkit.Get(t, http.DefaultClient, s.URL()+"/domain/broken.example")
	if resp.StatusCode != http.StatusServiceUnavailable || string(body) != "try later" {
		t.Errorf("raw answer %d %q", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != ContentType {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestCloseAndContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	s, err := Start(ctx, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := http.Get(s.URL() + "/domain/x.example")
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still serving after its context ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close after context end: %v", err)
	}
}
