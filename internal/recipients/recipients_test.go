package recipients

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/internal/testkit/rdapsim"
)

// web is a set of fake sites on loopback: every host name is served by
// one TLS and one plain httptest server, which a test's http.Client
// reaches through a dialer that ignores the host name. Nothing leaves the
// machine.
type web struct {
	tls, plain *httptest.Server
	tlsPorts   []string // ports dialled to the TLS server; others go to the plain one

	mu       sync.Mutex
	files    map[string]http.Handler // by URL without query, e.g. https://leaks.example/security.txt
	requests []string                // URLs requested, in order
	dials    []string                // host:port the client asked to dial
}

func newWeb(t *testing.T) *web {
	t.Helper()
	w := &web{files: map[string]http.Handler{}, tlsPorts: []string{"443"}}
	h := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		u := scheme + "://" + r.Host + r.URL.Path
		w.mu.Lock()
		w.requests = append(w.requests, u)
		f := w.files[u]
		w.mu.Unlock()
		if f == nil {
			http.NotFound(rw, r)
			return
		}
		f.ServeHTTP(rw, r)
	})
	quiet := log.New(io.Discard, "", 0) // TLS handshake errors are expected: http to the TLS port
	w.tls = httptest.NewUnstartedServer(h)
	w.tls.Config.ErrorLog = quiet
	w.tls.StartTLS()
	w.plain = httptest.NewUnstartedServer(h)
	w.plain.Config.ErrorLog = quiet
	w.plain.Start()
	// Hostile handlers end with the request; closing the servers first
	// would wait for them.
	t.Cleanup(func() {
		w.tls.CloseClientConnections()
		w.plain.CloseClientConnections()
		w.tls.Close()
		w.plain.Close()
	})
	return w
}

// serve makes u answer with a text/plain body.
func (w *web) serve(u, body string) {
	w.handle(u, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = rw.Write([]byte(body))
	}))
}

func (w *web) handle(u string, h http.Handler) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.files[u] = h
}

func (w *web) requested() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.requests)
}

func (w *web) dialled() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.dials)
}

// client returns an http.Client that reaches w for every host name, as
// the crawler's proxy would reach the real site. TLS is verified against
// the test certificate, whose name is example.com.
func (w *web) client() *http.Client {
	roots := x509.NewCertPool()
	roots.AddCert(w.tls.Certificate())
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "example.com"},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			w.mu.Lock()
			w.dials = append(w.dials, addr)
			w.mu.Unlock()
			_, port, _ := net.SplitHostPort(addr)
			to := w.plain.Listener.Addr().String()
			if slices.Contains(w.tlsPorts, port) {
				to = w.tls.Listener.Addr().String()
			}
			var d net.Dialer
			return d.DialContext(ctx, network, to)
		},
	}
	return &http.Client{Transport: tr}
}

// dns is a LookupIP stub: names not listed do not exist.
type dns map[string][]string

func (d dns) lookup(_ context.Context, host string) ([]net.IP, error) {
	addrs, ok := d[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []net.IP
	for _, a := range addrs {
		out = append(out, net.ParseIP(a))
	}
	return out, nil
}

func startRDAP(t *testing.T) *rdapsim.Server {
	t.Helper()
	s, err := rdapsim.Start(t.Context(), rdapsim.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// resolver wires a Resolver to loopback only: the fake web, the RDAP
// fixture and a DNS stub. RDAPServer is always set, so IANA is never asked.
func resolver(t *testing.T, w *web, sim *rdapsim.Server, names dns) *Resolver {
	t.Helper()
	u, err := url.Parse(sim.URL())
	if err != nil {
		t.Fatal(err)
	}
	r := &Resolver{RDAPServer: u, LookupIP: names.lookup}
	if w != nil {
		r.HTTPClient = w.client()
	}
	return r
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

var future = time.Now().Add(365 * 24 * time.Hour).UTC().Format(time.RFC3339)

func TestSecurityTxtHTTPS(t *testing.T) {
	w := newWeb(t)
	sim := startRDAP(t)
	sim.AddDomain("leaks.example", "abuse@registrar.example", "")
	w.serve("https://leaks.example/.well-known/security.txt", strings.Join([]string{
		"# security contacts",
		"Contact: mailto:Security@Leaks.Example",
		"Contact: https://leaks.example/report",
		"contact: mailto:security@leaks.example",
		"Contact: mailto:abuse@leaks.example?subject=takedown",
		"Expires: " + future,
		"Preferred-Languages: en",
	}, "\r\n"))
	// The http copy differs: finding it would mean https was not first.
	w.serve("http://leaks.example/.well-known/security.txt", "Contact: mailto:plain@leaks.example\n")

	c, err := resolver(t, w, sim, nil).Recipient(ctxTimeout(t, 10*time.Second), "leaks.example")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"security@leaks.example", "abuse@leaks.example"}
	if !slices.Equal(c.Addresses, want) || c.Source != SourceSecurityTxt || c.Role != RoleHost {
		t.Errorf("got %+v, want %q from security.txt", c, want)
	}
	if !strings.Contains(c.Detail, "https://leaks.example/.well-known/security.txt") || !strings.Contains(c.Detail, "https://leaks.example/report") {
		t.Errorf("Detail %q lacks the file URL or the non-mailto contact", c.Detail)
	}
	if got := sim.Requests(); len(got) != 0 {
		t.Errorf("RDAP asked although security.txt answered: %v", got)
	}
}

func TestSecurityTxtHTTPFallbackAndLegacy(t *testing.T) {
	w := newWeb(t)
	sim := startRDAP(t)
	w.serve("http://leaks.example/security.txt", "Contact: mailto:legacy@leaks.example\n")

	c, err := resolver(t, w, sim, nil).Recipient(ctxTimeout(t, 10*time.Second), "leaks.example")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Addresses, []string{"legacy@leaks.example"}) || c.Source != SourceSecurityTxt || c.Detail != "http://leaks.example/security.txt" {
		t.Errorf("got %+v", c)
	}
	want := []string{
		"https://leaks.example/.well-known/security.txt",
		"http://leaks.example/.well-known/security.txt",
		"https://leaks.example/security.txt",
		"http://leaks.example/security.txt",
	}
	if got := w.requested(); !slices.Equal(got, want) {
		t.Errorf("requests\n%q\nwant\n%q", got, want)
	}
}

func TestSecurityTxtPort(t *testing.T) {
	w := newWeb(t)
	w.tlsPorts = append(w.tlsPorts, "8443")
	sim := startRDAP(t)
	w.serve("https://files.example/.well-known/security.txt", "Contact: mailto:abuse@files.example\n")

	c, err := resolver(t, w, sim, nil).Recipient(ctxTimeout(t, 10*time.Second), "files.example:8443")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Addresses, []string{"abuse@files.example"}) {
		t.Errorf("got %+v", c)
	}
	dials := w.dialled()
	if len(dials) < 3 || dials[0] != "files.example:8443" || !slices.Contains(dials, "files.example:443") {
		t.Errorf("dials %q: want the site's own port first, then 443", dials)
	}
}

// TestSecurityTxtRejected: files that must not be used fall through to
// RDAP, and the reason is in the ErrNoRecipient message when RDAP has
// nothing either.
func TestSecurityTxtRejected(t *testing.T) {
	const wk = "https://leaks.example/.well-known/security.txt"
	big := "Contact: mailto:big@leaks.example\n" + strings.Repeat("# padding padding padding padding\n", 2000)
	for _, tc := range []struct {
		name string
		h    http.HandlerFunc
		why  string
	}{
		{"expired", text("Contact: mailto:old@leaks.example\nExpires: 2020-01-01T00:00:00Z\n"), "expired on 2020-01-01"},
		{"html catch-all", func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Content-Type", "text/html")
			_, _ = rw.Write([]byte("<html><body>Contact: mailto:html@leaks.example</body></html>"))
		}, `content type "text/html"`},
		{"garbage", text("\x00\x01\x02PK\x03\x04 Contact: mailto:bin@leaks.example"), "not UTF-8 text"},
		{"no contact", text("Hello, world\nEncryption: https://leaks.example/key\n"), "no Contact field"},
		{"oversized streamed", func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Content-Type", "text/plain")
			rw.(http.Flusher).Flush() // no Content-Length: only the read limit stops it
			_, _ = rw.Write([]byte(big))
		}, "larger than 32768 bytes"},
		{"oversized declared", func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Content-Type", "text/plain")
			rw.Header().Set("Content-Length", strconv.Itoa(len(big)))
			_, _ = rw.Write([]byte(big))
		}, "declares"},
		{"server error", func(rw http.ResponseWriter, r *http.Request) {
			http.Error(rw, "oops", http.StatusInternalServerError)
		}, "status 500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWeb(t)
			sim := startRDAP(t)
			w.handle(wk, tc.h)
			_, err := resolver(t, w, sim, nil).Recipient(ctxTimeout(t, 10*time.Second), "leaks.example")
			if !errors.Is(err, ErrNoRecipient) {
				t.Fatalf("err %v, want ErrNoRecipient", err)
			}
			if !strings.Contains(err.Error(), wk+": "+tc.why) {
				t.Errorf("error does not say %q about %s:\n%v", tc.why, wk, err)
			}

			// With RDAP knowing the domain, its contact is used instead.
			sim.AddDomain("leaks.example", "abuse@registrar.example", "")
			c, err := resolver(t, w, sim, nil).Recipient(ctxTimeout(t, 10*time.Second), "leaks.example")
			if err != nil || c.Source != SourceRDAPDomain {
				t.Errorf("with RDAP: %+v, %v", c, err)
			}
		})
	}
}

func text(body string) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/plain")
		_, _ = rw.Write([]byte(body))
	}
}

// TestSecurityTxtNoMailto: a valid file with only a web form is noted on
// the RDAP contact, so the lawyer sees both.
func TestSecurityTxtNoMailto(t *testing.T) {
	w := newWeb(t)
	sim := startRDAP(t)
	sim.AddDomain("leaks.example", "abuse@registrar.example", "")
	w.serve("https://leaks.example/.well-known/security.txt", "Contact: https://leaks.example/abuse-form\nExpires: "+future+"\n")
	c, err := resolver(t, w, sim, nil).Recipient(ctxTimeout(t, 10*time.Second), "leaks.example")
	if err != nil {
		t.Fatal(err)
	}
	if c.Source != SourceRDAPDomain || !strings.Contains(c.Detail, "lists no e-mail contact") || !strings.Contains(c.Detail, "https://leaks.example/abuse-form") {
		t.Errorf("got %+v", c)
	}
	// A valid file ends the search: the legacy location is not asked.
	if got := w.requested(); len(got) != 1 {
		t.Errorf("requests %q, want only the well-known https one", got)
	}
}

func TestSecurityTxtCrossHostRedirect(t *testing.T) {
	w := newWeb(t)
	sim := startRDAP(t)
	w.handle("https://leaks.example/.well-known/security.txt", http.RedirectHandler("https://bystander.example/.well-known/security.txt", http.StatusFound))
	w.serve("https://bystander.example/.well-known/security.txt", "Contact: mailto:security@bystander.example\n")
	w.handle("http://leaks.example/.well-known/security.txt", http.RedirectHandler("https://leaks.example/security.txt", http.StatusMovedPermanently))
	w.serve("https://leaks.example/security.txt", "Contact: mailto:ops@leaks.example\n")

	c, err := resolver(t, w, sim, nil).Recipient(ctxTimeout(t, 10*time.Second), "leaks.example")
	if err != nil {
		t.Fatal(err)
	}
	// The same-host redirect is followed; Detail names where the file was.
	if !slices.Equal(c.Addresses, []string{"ops@leaks.example"}) || c.Detail != "https://leaks.example/security.txt" {
		t.Errorf("got %+v", c)
	}
	if slices.Contains(w.requested(), "https://bystander.example/.well-known/security.txt") {
		t.Error("followed a redirect to another host")
	}
}

func TestOverride(t *testing.T) {
	w := newWeb(t)
	sim := startRDAP(t)
	sim.AddDomain("leaks.example", "abuse@registrar.example", "")
	for _, h := range []string{"leaks.example", "cdn.leaks.example", "otherleaks.example"} {
		w.serve("https://"+h+"/.well-known/security.txt", "Contact: mailto:site@"+h+"\n")
	}
	r := resolver(t, w, sim, nil)
	r.Overrides = map[string][]string{
		"example":            {"Legal@TLD-Desk.example"},
		"Leaks.Example.":     {"mailto:takedown@host.example", "takedown@host.example", "Abuse Desk <abuse@host.example>"},
		"files.example:8443": {"port@files.example"},
	}
	ctx := ctxTimeout(t, 10*time.Second)
	for _, tc := range []struct {
		target string
		want   []string
		key    string
	}{
		{"leaks.example", []string{"takedown@host.example", "abuse@host.example"}, "Leaks.Example."},
		{"cdn.leaks.example:8443", []string{"takedown@host.example", "abuse@host.example"}, "Leaks.Example."},
		{"https://CDN.leaks.example/thread/1", []string{"takedown@host.example", "abuse@host.example"}, "Leaks.Example."},
		{"otherleaks.example", []string{"legal@tld-desk.example"}, "example"},
		{"files.example:8443", []string{"port@files.example"}, "files.example:8443"},
		{"files.example", []string{"legal@tld-desk.example"}, "example"},
	} {
		c, err := r.Recipient(ctx, tc.target)
		if err != nil {
			t.Errorf("%s: %v", tc.target, err)
			continue
		}
		if !slices.Equal(c.Addresses, tc.want) || c.Source != SourceConfig || c.Role != RoleHost || !strings.Contains(c.Detail, fmt.Sprintf("%q", tc.key)) {
			t.Errorf("%s: got %+v, want %q from override %q", tc.target, c, tc.want, tc.key)
		}
	}
	if got := w.requested(); len(got) != 0 {
		t.Errorf("security.txt fetched despite overrides: %q", got)
	}
	if got := sim.Requests(); len(got) != 0 {
		t.Errorf("RDAP asked despite overrides: %v", got)
	}

	r.Overrides = map[string][]string{"leaks.example": {"not an address"}}
	if _, err := r.Recipient(ctx, "leaks.example"); err == nil || errors.Is(err, ErrNoRecipient) || !strings.Contains(err.Error(), "not an e-mail address") {
		t.Errorf("bad override: %v, want a configuration error", err)
	}
}

func TestRDAPDomain(t *testing.T) {
	w := newWeb(t) // no security.txt anywhere
	sim := startRDAP(t)
	sim.AddDomain("leaks.example", "Abuse@Registrar.example", "")
	if err := sim.AddNetwork("192.0.2.0/24", "abuse@hoster.example"); err != nil {
		t.Fatal(err)
	}
	r := resolver(t, w, sim, dns{"cdn.leaks.example": {"192.0.2.7"}})

	c, err := r.Recipient(ctxTimeout(t, 10*time.Second), "cdn.leaks.example")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Addresses, []string{"abuse@registrar.example"}) || c.Source != SourceRDAPDomain || c.Role != RoleRegistrar {
		t.Errorf("got %+v", c)
	}
	if !strings.Contains(c.Detail, sim.URL()+"/domain/leaks.example") || !strings.Contains(c.Detail, "registrar") || !strings.Contains(c.Detail, "> abuse") {
		t.Errorf("Detail %q", c.Detail)
	}
	if strings.Contains(c.Detail, "REDACTED") || strings.Contains(c.Detail, "registrant") {
		t.Errorf("Detail carries registrant data: %q", c.Detail)
	}
	// The registered domain is asked, not the subdomain; the network is
	// not needed.
	req := sim.Requests()
	if req["/domain/leaks.example"] != 1 || req["/domain/cdn.leaks.example"] != 0 || req["/ip/192.0.2.7"] != 0 {
		t.Errorf("RDAP requests %v", req)
	}
}

func TestRDAPTopLevelAbuse(t *testing.T) {
	sim := startRDAP(t)
	sim.AddDomain("cc.example", "abuse@registrar.example", "abuse@registry.example")
	c, err := resolver(t, nil, sim, nil).Recipient(ctxTimeout(t, 10*time.Second), "cc.example")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Addresses, []string{"abuse@registrar.example", "abuse@registry.example"}) {
		t.Errorf("got %+v", c)
	}
}

// TestRDAPPrivateSuffix: a name under a private suffix (user pages on a
// hoster) is not registered itself; the hoster's domain is.
func TestRDAPPrivateSuffix(t *testing.T) {
	sim := startRDAP(t)
	sim.AddDomain("github.io", "abuse@pages-registrar.example", "")
	c, err := resolver(t, nil, sim, nil).Recipient(ctxTimeout(t, 10*time.Second), "leaker.github.io")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Addresses, []string{"abuse@pages-registrar.example"}) {
		t.Errorf("got %+v", c)
	}
	if req := sim.Requests(); req["/domain/leaker.github.io"] != 1 || req["/domain/github.io"] != 1 || req["/domain/io"] != 0 {
		t.Errorf("RDAP requests %v", req)
	}
}

func TestRDAPNetworkFallback(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(*rdapsim.Server)
	}{
		{"domain without abuse", func(s *rdapsim.Server) { s.AddDomain("leaks.example", "", "") }},
		{"domain unknown", func(*rdapsim.Server) {}},
		{"domain server error", func(s *rdapsim.Server) { s.AddRaw("/domain/leaks.example", http.StatusServiceUnavailable, nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWeb(t)
			sim := startRDAP(t)
			tc.setup(sim)
			if err := sim.AddNetwork("192.0.2.0/24", "abuse@hoster.example"); err != nil {
				t.Fatal(err)
			}
			r := resolver(t, w, sim, dns{"leaks.example": {"198.51.100.20", "192.0.2.7"}})
			c, err := r.Recipient(ctxTimeout(t, 10*time.Second), "leaks.example")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Addresses, []string{"abuse@hoster.example"}) || c.Source != SourceRDAPIP || c.Role != RoleNetwork {
				t.Errorf("got %+v", c)
			}
			if !strings.Contains(c.Detail, sim.URL()+"/ip/192.0.2.7") || !strings.Contains(c.Detail, "192.0.2.0–192.0.2.255") {
				t.Errorf("Detail %q", c.Detail)
			}
		})
	}
}

func TestIPLiteral(t *testing.T) {
	sim := startRDAP(t)
	if err := sim.AddNetwork("2001:db8::/32", "abuse@v6.example"); err != nil {
		t.Fatal(err)
	}
	r := resolver(t, nil, sim, nil)
	for _, target := range []string{"2001:db8::5", "[2001:db8::5]:8443", "http://[2001:DB8::5]/x"} {
		c, err := r.Recipient(ctxTimeout(t, 10*time.Second), target)
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		if !slices.Equal(c.Addresses, []string{"abuse@v6.example"}) || c.Source != SourceRDAPIP {
			t.Errorf("%s: got %+v", target, c)
		}
	}
	for p := range sim.Requests() {
		if strings.HasPrefix(p, "/domain/") {
			t.Errorf("asked about a domain for an IP literal: %s", p)
		}
	}
}

func TestNoRecipient(t *testing.T) {
	w := newWeb(t)
	sim := startRDAP(t)
	sim.AddDomain("leaks.example", "", "")
	if err := sim.AddNetwork("192.0.2.0/24", ""); err != nil {
		t.Fatal(err)
	}
	r := resolver(t, w, sim, dns{"leaks.example": {"192.0.2.9"}})
	c, err := r.Recipient(ctxTimeout(t, 10*time.Second), "leaks.example")
	if !errors.Is(err, ErrNoRecipient) {
		t.Fatalf("got %+v, %v; want ErrNoRecipient", c, err)
	}
	msg := err.Error()
	for _, want := range []string{
		"leaks.example",
		"https://leaks.example/.well-known/security.txt: status 404",
		"http://leaks.example/security.txt: status 404",
		"rdap domain leaks.example: no abuse contact",
		"rdap ip 192.0.2.9: network",
		"has no abuse contact",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}

	// Without an HTTP client, a name that does not resolve and RDAP that
	// does not know it.
	r = resolver(t, nil, sim, nil)
	_, err = r.Recipient(ctxTimeout(t, 10*time.Second), "gone.example")
	if !errors.Is(err, ErrNoRecipient) {
		t.Fatalf("err %v, want ErrNoRecipient", err)
	}
	for _, want := range []string{"security.txt: not looked up", "rdap domain gone.example: not found", "gone.example does not resolve"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestOnion(t *testing.T) {
	const onion = "leakbloggxyzabcdefghijklmnopqrstuvwxyz234567abcdefghijklmn.onion"
	w := newWeb(t)
	sim := startRDAP(t)
	names := dns{}
	r := resolver(t, w, sim, names)
	r.LookupIP = func(ctx context.Context, host string) ([]net.IP, error) {
		t.Errorf("DNS look-up for %s", host)
		return names.lookup(ctx, host)
	}

	_, err := r.Recipient(ctxTimeout(t, 10*time.Second), onion)
	if !errors.Is(err, ErrNoRecipient) || !strings.Contains(err.Error(), "not applicable to .onion") {
		t.Errorf("err %v", err)
	}
	w.serve("http://"+onion+"/.well-known/security.txt", "Contact: mailto:admin@mail.example\n")
	c, err := r.Recipient(ctxTimeout(t, 10*time.Second), onion)
	if err != nil || !slices.Equal(c.Addresses, []string{"admin@mail.example"}) {
		t.Errorf("onion security.txt through the client: %+v, %v", c, err)
	}
	up, err := r.Upstream(ctxTimeout(t, 10*time.Second), onion)
	if err != nil || up == nil || len(up) != 0 {
		t.Errorf("Upstream(onion) = %#v, %v; want empty, nil", up, err)
	}
	if got := sim.Requests(); len(got) != 0 {
		t.Errorf("RDAP asked about an onion: %v", got)
	}
}

func TestNotWebHost(t *testing.T) {
	sim := startRDAP(t)
	r := resolver(t, newWeb(t), sim, nil)
	for _, target := range []string{"t.me/leakchannel", "https://t.me/s/leakchannel", "telegram.me/x"} {
		if _, err := r.Recipient(t.Context(), target); !errors.Is(err, ErrNotWebHost) || !strings.Contains(err.Error(), "Telegram") {
			t.Errorf("Recipient(%s): %v, want ErrNotWebHost saying Telegram", target, err)
		}
		if _, err := r.Upstream(t.Context(), target); !errors.Is(err, ErrNotWebHost) {
			t.Errorf("Upstream(%s): %v", target, err)
		}
	}
	for _, target := range []string{"", "leaks example", "leaks.example:99999", "a..b", "-/x", "evil.example\r\nX: y"} {
		if _, err := r.Recipient(t.Context(), target); err == nil || errors.Is(err, ErrNoRecipient) {
			t.Errorf("Recipient(%q): %v, want a target error", target, err)
		}
	}
	if got := sim.Requests(); len(got) != 0 {
		t.Errorf("RDAP asked: %v", got)
	}
}

func TestUpstream(t *testing.T) {
	sim := startRDAP(t)
	sim.AddDomain("leaks.example", "abuse@registrar.example", "")
	if err := sim.AddNetwork("192.0.2.0/24", "abuse@hoster.example"); err != nil {
		t.Fatal(err)
	}
	if err := sim.AddNetwork("198.51.100.0/24", "abuse@transit.example"); err != nil {
		t.Fatal(err)
	}
	r := resolver(t, nil, sim, dns{
		"leaks.example":  {"192.0.2.7", "192.0.2.8", "198.51.100.3"},
		"mirror.example": {"192.0.2.9"},
		"quiet.example":  {"203.0.113.1"},
	})
	r.Overrides = map[string][]string{"leaks.example": {"ignored@config.example"}} // the host's, not upstream

	got, err := r.Upstream(ctxTimeout(t, 10*time.Second), "leaks.example")
	if err != nil {
		t.Fatal(err)
	}
	type short struct{ addr, source, role string }
	var flat []short
	for _, c := range got {
		for _, a := range c.Addresses {
			flat = append(flat, short{a, c.Source, c.Role})
		}
	}
	want := []short{
		{"abuse@hoster.example", SourceRDAPIP, RoleNetwork},
		{"abuse@transit.example", SourceRDAPIP, RoleNetwork},
		{"abuse@registrar.example", SourceRDAPDomain, RoleRegistrar},
	}
	if !slices.Equal(flat, want) {
		t.Errorf("Upstream\n%+v\nwant\n%+v", flat, want)
	}
	// 192.0.2.8 is in the network already found for 192.0.2.7.
	if n := sim.Requests()["/ip/192.0.2.8"]; n != 0 {
		t.Errorf("asked again about an address in a known network")
	}

	// The same desk for registrar and network is listed once.
	sim.AddDomain("mirror.example", "abuse@hoster.example", "")
	got, err = r.Upstream(ctxTimeout(t, 10*time.Second), "mirror.example")
	if err != nil || len(got) != 1 || got[0].Role != RoleNetwork {
		t.Errorf("de-duplication: %+v, %v", got, err)
	}

	got, err = r.Upstream(ctxTimeout(t, 10*time.Second), "quiet.example")
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("none: %#v, %v; want empty slice, nil", got, err)
	}
}

func TestUpstreamReportsFailures(t *testing.T) {
	sim := startRDAP(t)
	sim.AddDomain("leaks.example", "abuse@registrar.example", "")
	sim.AddRaw("/ip/192.0.2.7", http.StatusInternalServerError, []byte(`{"errorCode":500,"title":"boom"}`))
	// An RDAP answer larger than the cap fails instead of being read whole.
	sim.AddRaw("/domain/big.example", http.StatusOK, []byte(`{"objectClassName":"domain","x":"`+strings.Repeat("A", 2<<20)+`"}`))
	r := resolver(t, nil, sim, dns{"leaks.example": {"192.0.2.7"}})

	got, err := r.Upstream(ctxTimeout(t, 10*time.Second), "leaks.example")
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("err %v, want the network server's failure", err)
	}
	if len(got) != 1 || got[0].Role != RoleRegistrar {
		t.Errorf("contacts %+v, want the registrar found despite the failure", got)
	}
	_, err = r.Upstream(ctxTimeout(t, 10*time.Second), "big.example")
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized RDAP answer: %v", err)
	}
}

// hostile answers a security.txt request the ways a leak site might to
// hold a crawler: never answering, trickling, or flooding.
func hostile(kind string) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		switch kind {
		case "hang":
			<-r.Context().Done()
		case "trickle":
			rw.Header().Set("Content-Type", "text/plain")
			_, _ = rw.Write([]byte("Contact: mailto:a"))
			for {
				rw.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
				if _, err := rw.Write([]byte("a")); err != nil {
					return
				}
			}
		case "flood":
			rw.Header().Set("Content-Type", "text/plain")
			line := []byte(strings.Repeat("Contact: mailto:flood@leaks.example\n", 100))
			for {
				if _, err := rw.Write(line); err != nil || r.Context().Err() != nil {
					return
				}
			}
		}
	}
}

func TestHostileSecurityTxt(t *testing.T) {
	for _, kind := range []string{"hang", "trickle", "flood"} {
		t.Run(kind, func(t *testing.T) {
			w := newWeb(t)
			sim := startRDAP(t)
			sim.AddDomain("leaks.example", "abuse@registrar.example", "")
			for _, u := range securityTxtURLs(site{host: "leaks.example"}) {
				w.handle(u, hostile(kind))
			}

			// The caller's deadline ends the look-up, and the error says
			// so rather than "no recipient": the case should be retried.
			r := resolver(t, w, sim, nil)
			start := time.Now()
			c, err := r.Recipient(ctxTimeout(t, 400*time.Millisecond), "leaks.example")
			took := time.Since(start)
			if kind == "flood" {
				// Flooding is refused at 32 KiB, well within the deadline.
				if err != nil || c.Source != SourceRDAPDomain {
					t.Errorf("flood: %+v, %v; want the RDAP contact", c, err)
				}
			} else if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrNoRecipient) {
				t.Errorf("err %v, want the deadline", err)
			}
			if took > 3*time.Second {
				t.Errorf("took %s with a 400ms deadline", took)
			}

			// The step budget stops a stalling site from using up a
			// longer deadline: RDAP still gets its turn.
			r.StepTimeout = 300 * time.Millisecond
			start = time.Now()
			c, err = r.Recipient(ctxTimeout(t, 30*time.Second), "leaks.example")
			if err != nil || c.Source != SourceRDAPDomain {
				t.Errorf("with StepTimeout: %+v, %v; want the RDAP contact", c, err)
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("took %s with a 300ms step timeout", took)
			}
		})
	}
}

func TestSlowRDAPRespectsDeadline(t *testing.T) {
	stall := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(func() { stall.CloseClientConnections(); stall.Close() })
	u, _ := url.Parse(stall.URL)
	r := &Resolver{RDAPServer: u, LookupIP: dns{"leaks.example": {"192.0.2.1"}}.lookup}
	start := time.Now()
	_, err := r.Recipient(ctxTimeout(t, 300*time.Millisecond), "leaks.example")
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 3*time.Second {
		t.Errorf("err %v after %s", err, time.Since(start))
	}
	_, err = r.Upstream(ctxTimeout(t, 300*time.Millisecond), "leaks.example")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Upstream err %v", err)
	}
}

// TestConcurrent shares one Resolver between goroutines; run with -race.
func TestConcurrent(t *testing.T) {
	w := newWeb(t)
	sim := startRDAP(t)
	if err := sim.AddNetwork("192.0.2.0/24", "abuse@hoster.example"); err != nil {
		t.Fatal(err)
	}
	names := dns{}
	for i := range 8 {
		h := fmt.Sprintf("site%d.example", i)
		sim.AddDomain(h, fmt.Sprintf("abuse%d@registrar.example", i), "")
		names[h] = []string{fmt.Sprintf("192.0.2.%d", i+1)}
	}
	r := resolver(t, w, sim, names)
	ctx := ctxTimeout(t, 20*time.Second)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			h := fmt.Sprintf("site%d.example", i)
			c, err := r.Recipient(ctx, h)
			if err != nil || !slices.Equal(c.Addresses, []string{fmt.Sprintf("abuse%d@registrar.example", i)}) {
				t.Errorf("%s: %+v, %v", h, c, err)
			}
			if _, err := r.Upstream(ctx, h); err != nil {
				t.Errorf("%s upstream: %v", h, err)
			}
		})
	}
	wg.Wait()
	if r.RDAPServer.String() != sim.URL() {
		t.Errorf("RDAPServer changed to %s", r.RDAPServer)
	}
}
