// Package recipients finds where a takedown notice about a web host must
// go. In order: a configured per-host override, the site's own
// security.txt (RFC 9116), the abuse contact the domain's RDAP record
// publishes (the registrar's, in practice), then the abuse contact of the
// IP network the host resolves to (the hosting provider's). When none
// answers, the case waits for a person (ErrNoRecipient).
//
// Nothing found here is trusted blindly: a leak site writes its own
// security.txt, so Contact.Source and Contact.Detail say where each address
// came from for the lawyer who approves the notice.
package recipients

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/mail"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/openrdap/rdap"
	"github.com/openrdap/rdap/bootstrap"
	"golang.org/x/net/idna"
)

// DefaultStepTimeout bounds the security.txt look-up as a whole and each
// RDAP query when Resolver.StepTimeout is zero, so a site that stalls its
// security.txt cannot use up the budget the RDAP steps need.
const DefaultStepTimeout = 20 * time.Second

// Sources and roles of a Contact.
const (
	SourceConfig      = "config"
	SourceSecurityTxt = "security.txt"
	SourceRDAPDomain  = "rdap-domain"
	SourceRDAPIP      = "rdap-ip"

	RoleHost      = "host"      // whoever runs the site
	RoleRegistrar = "registrar" // the domain's registrar (or registry)
	RoleNetwork   = "network"   // the holder of the IP network: hosting provider or upstream
)

var (
	// ErrNoRecipient means every source was asked and none named an
	// address; the error's text says what was tried.
	ErrNoRecipient = errors.New("no takedown recipient found")
	// ErrNotWebHost means the target is not a web host, e.g. a Telegram
	// channel, whose takedowns go elsewhere.
	ErrNotWebHost = errors.New("not a web host")
)

// Contact is one place to send a notice.
type Contact struct {
	Addresses []string // e-mail addresses, lower-cased, de-duplicated
	Source    string   // SourceConfig, SourceSecurityTxt, SourceRDAPDomain or SourceRDAPIP
	Role      string   // RoleHost, RoleRegistrar or RoleNetwork
	// Detail says where the addresses were found: the override key, the
	// security.txt URL (with any non-e-mail contacts it lists), or the
	// RDAP URL and entity handles. It never carries personal data beyond
	// the published abuse address.
	Detail string
}

// Resolver finds recipients. Set its fields before first use and do not
// copy it afterwards; it is then safe for concurrent use.
type Resolver struct {
	// Overrides maps a host (or a parent domain of it, or host:port) to
	// the addresses that take its notices, ahead of every other source.
	// The most specific key wins.
	Overrides map[string][]string
	// HTTPClient fetches security.txt; in production it goes through the
	// crawler's proxy, which also reaches .onion. nil: no security.txt
	// look-up.
	HTTPClient *http.Client
	// RDAP is the RDAP client; nil means one with default settings. Only
	// its HTTP, Bootstrap and UserAgent fields are used; its Bootstrap
	// must not be shared with code outside this Resolver, as openrdap's
	// bootstrap client is not safe for concurrent use.
	RDAP *rdap.Client
	// RDAPServer, if set, is asked directly instead of finding the
	// authoritative server through IANA bootstrap (tests, private
	// deployments).
	RDAPServer *url.URL
	// NoRDAP skips the RDAP steps (and their DNS look-ups): security.txt
	// and Overrides only.
	NoRDAP bool
	// LookupIP resolves a host name for the IP network step; nil means
	// net.DefaultResolver.
	LookupIP func(ctx context.Context, host string) ([]net.IP, error)
	// StepTimeout bounds the security.txt look-up and each RDAP query and
	// DNS look-up; 0 means DefaultStepTimeout.
	StepTimeout time.Duration

	once sync.Once
	boot *bootstrap.Client
	// bootLock serialises bootstrap look-ups (openrdap's bootstrap client
	// keeps unlocked state); a channel so waiting respects ctx.
	bootLock chan struct{}
}

// Recipient returns where a notice about target must go. target is a host
// name or IP literal, optionally with a port ("files.example:8443"); a URL
// is accepted too and its host used. When nothing is found the error
// wraps ErrNoRecipient; when ctx ends first it wraps ctx's error instead,
// because not everything was tried.
func (r *Resolver) Recipient(ctx context.Context, target string) (Contact, error) {
	t, err := parseTarget(target)
	if err != nil {
		return Contact{}, err
	}
	if c, ok, err := r.override(t); ok || err != nil {
		return c, err
	}

	var tried []string
	var sectxtNote string // a security.txt without e-mail, told alongside what is found later
	if r.HTTPClient == nil {
		tried = append(tried, "security.txt: not looked up (no HTTP client)")
	} else {
		st := r.securityTxt(ctx, t)
		if err := ctx.Err(); err != nil {
			return Contact{}, fmt.Errorf("recipients: %s: security.txt: %w", t, context.Cause(ctx))
		}
		if len(st.contacts) > 0 {
			return st.contacts[0], nil
		}
		tried = append(tried, st.note)
		if st.found {
			sectxtNote = st.note
		}
	}

	steps := []func(context.Context, site, bool) stepResult{r.domainAbuse, r.networkAbuse}
	if r.NoRDAP {
		steps, tried = nil, append(tried, "RDAP (turned off)")
	}
	for _, step := range steps {
		res := step(ctx, t, false)
		if err := ctx.Err(); err != nil {
			return Contact{}, fmt.Errorf("recipients: %s: after %s: %w", t, strings.Join(append(tried, res.note), "; "), context.Cause(ctx))
		}
		if len(res.contacts) > 0 {
			c := res.contacts[0]
			if sectxtNote != "" {
				c.Detail += "; " + sectxtNote
			}
			return c, nil
		}
		tried = append(tried, res.note)
	}
	return Contact{}, fmt.Errorf("recipients: %s: %w; tried %s", t, ErrNoRecipient, strings.Join(tried, "; "))
}

// Upstream returns the contacts above target's host, for escalation: the
// abuse contact of each IP network it resolves to (Role RoleNetwork) and
// of its domain's registrar (Role RoleRegistrar), an address appearing
// once only. None found is an empty slice, not an error. A failure to
// ask (a server error, an unreachable RDAP server, ctx ending) is
// returned together with whatever was found.
func (r *Resolver) Upstream(ctx context.Context, target string) ([]Contact, error) {
	t, err := parseTarget(target)
	if err != nil {
		return nil, err
	}
	out := []Contact{}
	var errs []error
	steps := []func(context.Context, site, bool) stepResult{r.networkAbuse, r.domainAbuse}
	if r.NoRDAP {
		steps = nil
	}
	for _, step := range steps {
		res := step(ctx, t, true)
		out = append(out, res.contacts...)
		if res.err != nil {
			errs = append(errs, res.err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	out = dedupeContacts(out)
	if err := ctx.Err(); err != nil {
		return out, fmt.Errorf("recipients: upstream of %s: %w", t, context.Cause(ctx))
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("recipients: upstream of %s: %w", t, errors.Join(errs...))
	}
	return out, nil
}

// stepResult is what one source gave: contacts, a note for the
// ErrNoRecipient message, and err for a failure to ask (not for finding
// nothing), which Upstream reports.
type stepResult struct {
	contacts []Contact
	note     string
	err      error
	found    bool // security.txt only: a valid file was found, e-mail or not
}

// override returns the configured contact for t, if any.
func (r *Resolver) override(t site) (Contact, bool, error) {
	if len(r.Overrides) == 0 {
		return Contact{}, false, nil
	}
	// Candidates from most to least specific: host:port, host, parents.
	var cands []string
	if t.port != "" {
		cands = append(cands, net.JoinHostPort(t.host, t.port))
	}
	cands = append(cands, t.host)
	if !t.addr.IsValid() {
		for h := t.host; ; {
			_, parent, ok := strings.Cut(h, ".")
			if !ok || parent == "" {
				break
			}
			cands = append(cands, parent)
			h = parent
		}
	}
	best, bestKey := -1, ""
	for key := range r.Overrides {
		k := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(key)), ".")
		if i := slices.Index(cands, k); i >= 0 && (best < 0 || i < best || (i == best && key < bestKey)) {
			best, bestKey = i, key
		}
	}
	if best < 0 {
		return Contact{}, false, nil
	}
	var addrs []string
	for _, a := range r.Overrides[bestKey] {
		got := parseAddresses(a)
		if len(got) == 0 {
			return Contact{}, true, fmt.Errorf("recipients: override %q for %s: %q is not an e-mail address", bestKey, t, a)
		}
		addrs = append(addrs, got...)
	}
	if len(addrs) == 0 {
		return Contact{}, true, fmt.Errorf("recipients: override %q for %s lists no address", bestKey, t)
	}
	return Contact{
		Addresses: dedupe(addrs),
		Source:    SourceConfig,
		Role:      RoleHost,
		Detail:    fmt.Sprintf("override for %q", bestKey),
	}, true, nil
}

func (r *Resolver) stepTimeout() time.Duration {
	if r.StepTimeout > 0 {
		return r.StepTimeout
	}
	return DefaultStepTimeout
}

// site is a parsed, normalised host.
type site struct {
	host  string     // lower-case ASCII host name, or the IP literal without brackets
	port  string     // "" when none was given
	addr  netip.Addr // valid when host is an IP literal
	onion bool
}

func (t site) String() string {
	if t.port != "" {
		return net.JoinHostPort(t.host, t.port)
	}
	return t.host
}

// hostPort is t as the host part of a URL, with port if given.
func (t site) hostPort(withPort bool) string {
	if withPort && t.port != "" {
		return net.JoinHostPort(t.host, t.port)
	}
	if t.addr.Is6() {
		return "[" + t.host + "]"
	}
	return t.host
}

// telegramHosts serve Telegram channel links (t.me/name).
var telegramHosts = []string{"t.me", "telegram.me", "telegram.dog"}

// parseTarget accepts "host", "host:port", "[v6]:port", a bare IPv6
// literal, or a URL, and normalises the host (lower case, no trailing dot,
// IDNA to ASCII).
func parseTarget(s string) (site, error) {
	raw := s
	s = strings.TrimSpace(s)
	if s == "" {
		return site{}, errors.New("recipients: empty target")
	}
	var hostport string
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil {
			return site{}, fmt.Errorf("recipients: target %q: %w", raw, err)
		}
		hostport = u.Host
	} else {
		hostport, _, _ = strings.Cut(s, "/")
	}
	var t site
	switch {
	case strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]"):
		t.host = hostport[1 : len(hostport)-1]
	case strings.Count(hostport, ":") > 1 && !strings.HasPrefix(hostport, "["):
		t.host = hostport // a bare IPv6 literal: its colons are no port
	case strings.Contains(hostport, ":"):
		h, p, err := net.SplitHostPort(hostport)
		if err != nil {
			return site{}, fmt.Errorf("recipients: target %q: %w", raw, err)
		}
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return site{}, fmt.Errorf("recipients: target %q: bad port %q", raw, p)
		}
		t.host, t.port = h, strconv.FormatUint(n, 10)
	default:
		t.host = hostport
	}
	if a, err := netip.ParseAddr(t.host); err == nil {
		if a.Zone() != "" {
			return site{}, fmt.Errorf("recipients: target %q: zoned address", raw)
		}
		t.addr = a.Unmap()
		t.host = t.addr.String()
		return t, nil
	}
	h := strings.TrimSuffix(strings.ToLower(t.host), ".")
	if !isASCII(h) {
		a, err := idna.Lookup.ToASCII(h)
		if err != nil {
			return site{}, fmt.Errorf("recipients: target %q: %w", raw, err)
		}
		h = a
	}
	if !validHostName(h) {
		return site{}, fmt.Errorf("recipients: target %q: not a host name", raw)
	}
	t.host = h
	for _, tg := range telegramHosts {
		if h == tg || strings.HasSuffix(h, "."+tg) {
			return site{}, fmt.Errorf("recipients: %q is a Telegram target, reported through Telegram rather than to a web host: %w", raw, ErrNotWebHost)
		}
	}
	t.onion = strings.HasSuffix(h, ".onion")
	return t, nil
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// validHostName allows letters, digits, '-', '_' (seen in real subdomains)
// and dots between non-empty labels, so nothing odd reaches a URL or an
// RDAP path.
func validHostName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := range len(label) {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// parseAddresses turns an e-mail address, a mailto: URI (RFC 6068, which
// may hold several, comma-separated) or a "Name <addr>" form into bare,
// lower-cased addresses; anything unusable yields none.
func parseAddresses(s string) []string {
	s = strings.TrimSpace(s)
	if len(s) >= 7 && strings.EqualFold(s[:7], "mailto:") {
		s = s[7:]
		s, _, _ = strings.Cut(s, "?")
		if u, err := url.PathUnescape(s); err == nil {
			s = u
		}
	}
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		a, err := mail.ParseAddress(part)
		if err != nil {
			continue
		}
		addr := strings.ToLower(a.Address)
		local, domain, ok := strings.Cut(addr, "@")
		if !ok || local == "" || !strings.Contains(domain, ".") || len(addr) > 254 || strings.ContainsFunc(addr, func(r rune) bool {
			return unicode.IsSpace(r) || unicode.IsControl(r) || r == '"'
		}) {
			continue
		}
		out = append(out, addr)
	}
	return out
}

func dedupe(addrs []string) []string {
	var out []string
	for _, a := range addrs {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// dedupeContacts drops addresses already given by an earlier contact, and
// contacts left with none.
func dedupeContacts(cs []Contact) []Contact {
	seen := map[string]bool{}
	out := cs[:0]
	for _, c := range cs {
		var keep []string
		for _, a := range c.Addresses {
			if !seen[a] {
				seen[a] = true
				keep = append(keep, a)
			}
		}
		if len(keep) > 0 {
			c.Addresses = keep
			out = append(out, c)
		}
	}
	return out
}

// clean makes text from a remote party safe for a log line or a web page
// detail: printable, single-line, bounded.
func clean(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if len(s) > max {
		cut := max
		for cut > 0 && (s[cut]&0xC0) == 0x80 {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
