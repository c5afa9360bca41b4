// Package rdapsim runs a local RDAP server (RFC 9083 responses over RFC
// 7480 HTTP) on loopback for tests. It answers /domain/{name} and
// /ip/{addr} from registered fixtures with the shapes real registries use —
// an ICANN-style registrar entity with a nested abuse entity for domains,
// an ARIN-style registrant organisation with a nested abuse entity for
// networks, vCards as jCard arrays — so code under test exercises a real
// RDAP client's parsing, not a stub. Unknown objects answer 404 with an
// RDAP error body. Data is fictional: use reserved names (.example,
// .invalid) and documentation address ranges.
package rdapsim

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultAddr is where Start listens when Options.Addr is empty: loopback,
// a free port.
const DefaultAddr = "127.0.0.1:0"

// ContentType is what every response declares (RFC 7480 §4.2).
const ContentType = "application/rdap+json"

// Options configures Start.
type Options struct {
	Addr   string       // listen address; "" means DefaultAddr
	Logger *slog.Logger // nil means slog.Default(); requests log at Debug
}

// Server is a running RDAP server. Fixtures may be added at any time; it is
// safe for concurrent use.
type Server struct {
	ln  net.Listener
	srv *http.Server
	log *slog.Logger

	mu       sync.Mutex
	domains  map[string]domainFixture // by lower-case name without trailing dot
	networks []networkFixture         // matched longest prefix first
	raw      map[string]rawFixture    // by URL path
	requests map[string]int           // by URL path
	nextID   int

	closeOnce sync.Once
	closeErr  error
	closed    chan struct{}
	served    chan struct{} // closed when Serve has returned
}

type domainFixture struct {
	handle         string
	registrarID    string
	registrarAbuse string
	abuse          string
}

type networkFixture struct {
	prefix netip.Prefix
	handle string
	abuse  string
}

type rawFixture struct {
	status int
	body   []byte
}

// Start listens on opts.Addr and serves until Close is called or ctx ends.
func Start(ctx context.Context, opts Options) (*Server, error) {
	addr := cmp.Or(opts.Addr, DefaultAddr)
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("rdapsim: listen on %s: %w", addr, err)
	}
	s := &Server{
		ln:       ln,
		log:      cmp.Or(opts.Logger, slog.Default()),
		domains:  map[string]domainFixture{},
		raw:      map[string]rawFixture{},
		requests: map[string]int{},
		closed:   make(chan struct{}),
		served:   make(chan struct{}),
	}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("rdapsim: serve stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.closed:
		}
	}()
	s.log.Info("rdapsim: serving", "addr", ln.Addr().String())
	return s, nil
}

// URL returns the server's base URL, http://127.0.0.1:PORT, to use as an
// RDAP client's server (requests go to URL()+"/domain/…").
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Addr returns the listening address as host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops the server, dropping open connections, and waits for it to
// stop serving. Further calls return the first result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		if err := s.srv.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.closeErr = fmt.Errorf("rdapsim: close: %w", err)
		}
		<-s.served
	})
	return s.closeErr
}

// AddDomain registers a domain. registrarAbuse, when not empty, is the
// e-mail of an abuse entity nested in the registrar entity (where ICANN's
// RDAP profile puts it); abuse, when not empty, is the e-mail of an abuse
// entity directly on the domain (as some ccTLD registries do). With both
// empty the domain exists but publishes no abuse contact. A later call for
// the same name replaces the earlier one.
func (s *Server) AddDomain(name, registrarAbuse, abuse string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	s.domains[normName(name)] = domainFixture{
		handle:         fmt.Sprintf("D%d-SIM", s.nextID),
		registrarID:    strconv.Itoa(9000 + s.nextID),
		registrarAbuse: registrarAbuse,
		abuse:          abuse,
	}
}

// AddNetwork registers an IP network given in CIDR notation. abuse, when
// not empty, is the e-mail of an abuse entity nested in the network's
// registrant organisation (where ARIN and RIPE put it). Queries for an
// address get the most specific network containing it.
func (s *Server) AddNetwork(cidr, abuse string) error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("rdapsim: network %q: %w", cidr, err)
	}
	p = p.Masked()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	s.networks = append(s.networks, networkFixture{prefix: p, handle: fmt.Sprintf("NET-%d-SIM", s.nextID), abuse: abuse})
	return nil
}

// AddRaw makes the server answer GET urlPath (e.g. "/domain/x.example")
// with status and body verbatim, ahead of any fixture: for malformed,
// oversized or failing responses.
func (s *Server) AddRaw(urlPath string, status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raw[urlPath] = rawFixture{status: status, body: append([]byte(nil), body...)}
}

// Requests returns how many requests each URL path received.
func (s *Server) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.requests)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests[r.URL.Path]++
	raw, isRaw := s.raw[r.URL.Path]
	s.mu.Unlock()
	s.log.DebugContext(r.Context(), "rdapsim request", "method", r.Method, "uri", r.URL.RequestURI(), "remote", r.RemoteAddr)

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		s.writeError(w, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	if isRaw {
		w.Header().Set("Content-Type", ContentType)
		w.WriteHeader(raw.status)
		_, _ = w.Write(raw.body)
		return
	}
	self := s.URL() + r.URL.Path
	switch {
	case strings.HasPrefix(r.URL.Path, "/domain/"):
		name := normName(strings.TrimPrefix(r.URL.Path, "/domain/"))
		s.mu.Lock()
		d, ok := s.domains[name]
		s.mu.Unlock()
		if !ok {
			s.writeError(w, http.StatusNotFound, "Not Found")
			return
		}
		s.writeJSON(w, domainObject(name, d, self))
	case strings.HasPrefix(r.URL.Path, "/ip/"):
		q := strings.TrimPrefix(r.URL.Path, "/ip/")
		n, ok := s.lookupNetwork(q)
		if !ok {
			s.writeError(w, http.StatusNotFound, "Not Found")
			return
		}
		s.writeJSON(w, networkObject(n, self))
	default:
		s.writeError(w, http.StatusNotFound, "Not Found")
	}
}

// lookupNetwork finds the most specific network containing q, an address
// or a CIDR prefix (RFC 9082 §3.1.1 allows both).
func (s *Server) lookupNetwork(q string) (networkFixture, bool) {
	var want netip.Prefix
	if a, err := netip.ParseAddr(q); err == nil {
		want = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
	} else if p, err := netip.ParsePrefix(q); err == nil {
		want = p.Masked()
	} else {
		return networkFixture{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var best networkFixture
	found := false
	for _, n := range s.networks {
		if n.prefix.Addr().Is4() != want.Addr().Is4() || n.prefix.Bits() > want.Bits() || !n.prefix.Contains(want.Addr()) {
			continue
		}
		if !found || n.prefix.Bits() > best.prefix.Bits() {
			best, found = n, true
		}
	}
	return best, found
}

func (s *Server) writeJSON(w http.ResponseWriter, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", ContentType)
	_, _ = w.Write(body)
}

// writeError answers with an RFC 9083 §6 error response.
func (s *Server) writeError(w http.ResponseWriter, status int, title string) {
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(object{
		"rdapConformance": conformance,
		"errorCode":       status,
		"title":           title,
	})
}

func normName(name string) string { return strings.TrimSuffix(strings.ToLower(name), ".") }

type object = map[string]any

var conformance = []string{"rdap_level_0", "icann_rdap_response_profile_1", "icann_rdap_technical_implementation_guide_1"}

var notices = []object{{
	"title":       "Terms of Use",
	"description": []string{"rdapsim: simulated registration data for tests; nothing here is real."},
}}

// vcard builds a jCard (RFC 7095) with a formatted name and, when email
// is not empty, an e-mail address and a voice number from the fictional
// 555 range.
func vcard(fn, email string) []any {
	props := []any{
		[]any{"version", object{}, "text", "4.0"},
		[]any{"fn", object{}, "text", fn},
	}
	if email != "" {
		props = append(props,
			[]any{"tel", object{"type": []string{"voice", "work"}}, "uri", "tel:+1.5555550100"},
			[]any{"email", object{"type": "work"}, "text", email},
		)
	}
	return []any{"vcard", props}
}

func abuseEntity(handle, email string) object {
	return object{
		"objectClassName": "entity",
		"handle":          handle,
		"roles":           []string{"abuse"},
		"vcardArray":      vcard("Abuse Desk", email),
	}
}

func domainObject(name string, d domainFixture, self string) object {
	registrar := object{
		"objectClassName": "entity",
		"handle":          d.registrarID,
		"roles":           []string{"registrar"},
		"publicIds":       []object{{"type": "IANA Registrar ID", "identifier": d.registrarID}},
		"vcardArray":      vcard("Simulated Registrar "+d.registrarID, ""),
	}
	if d.registrarAbuse != "" {
		registrar["entities"] = []object{abuseEntity(d.registrarID+"-ABUSE", d.registrarAbuse)}
	}
	entities := []object{
		registrar,
		{
			// Registrant data redacted, as the ICANN profile requires for
			// natural persons: the contact must never be taken from here.
			"objectClassName": "entity",
			"roles":           []string{"registrant"},
			"vcardArray":      vcard("REDACTED FOR PRIVACY", "registrant-redacted@invalid"),
			"remarks":         []object{{"title": "REDACTED FOR PRIVACY", "type": "object redacted due to authorization"}},
		},
	}
	if d.abuse != "" {
		entities = append(entities, abuseEntity(d.handle+"-ABUSE", d.abuse))
	}
	return object{
		"rdapConformance": conformance,
		"objectClassName": "domain",
		"handle":          d.handle,
		"ldhName":         name,
		"status":          []string{"client transfer prohibited"},
		"entities":        entities,
		"events": []object{
			{"eventAction": "registration", "eventDate": "2024-01-15T09:00:00Z"},
			{"eventAction": "expiration", "eventDate": "2030-01-15T09:00:00Z"},
			{"eventAction": "last update of RDAP database", "eventDate": "2025-06-01T00:00:00Z"},
		},
		"links":   []object{{"value": self, "rel": "self", "href": self, "type": ContentType}},
		"notices": notices,
	}
}

func networkObject(n networkFixture, self string) object {
	version := "v6"
	if n.prefix.Addr().Is4() {
		version = "v4"
	}
	org := object{
		"objectClassName": "entity",
		"handle":          n.handle + "-ORG",
		"roles":           []string{"registrant"},
		"vcardArray":      vcard("Simulated Hosting Ltd", ""),
	}
	if n.abuse != "" {
		org["entities"] = []object{abuseEntity(n.handle+"-ABUSE", n.abuse)}
	}
	return object{
		"rdapConformance": []string{"rdap_level_0", "cidr0"},
		"objectClassName": "ip network",
		"handle":          n.handle,
		"startAddress":    n.prefix.Addr().String(),
		"endAddress":      lastAddr(n.prefix).String(),
		"ipVersion":       version,
		"name":            "SIM-HOSTING",
		"type":            "ASSIGNED PA",
		"country":         "ZZ",
		"cidr0_cidrs":     []object{cidr0(n.prefix)},
		"entities":        []object{org},
		"events":          []object{{"eventAction": "registration", "eventDate": "2020-03-01T00:00:00Z"}},
		"links":           []object{{"value": self, "rel": "self", "href": self, "type": ContentType}},
		"notices":         notices,
	}
}

func cidr0(p netip.Prefix) object {
	if p.Addr().Is4() {
		return object{"v4prefix": p.Addr().String(), "length": p.Bits()}
	}
	return object{"v6prefix": p.Addr().String(), "length": p.Bits()}
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
