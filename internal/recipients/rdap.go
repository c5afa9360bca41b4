package recipients

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/openrdap/rdap"
	"github.com/openrdap/rdap/bootstrap"
	"golang.org/x/net/publicsuffix"
)

const (
	// maxRDAPBody bounds one RDAP response; openrdap reads bodies whole.
	maxRDAPBody = 1 << 20
	// maxIPs bounds the addresses whose networks are asked about.
	maxIPs = 4
	// maxEntityDepth bounds the walk through nested entities (registrar >
	// abuse is depth 2; registries nest no deeper than 3 in practice).
	maxEntityDepth = 4
	// maxDomainCandidates bounds the names tried for one host, e.g.
	// user.github.io then github.io.
	maxDomainCandidates = 3
)

// domainAbuse asks RDAP for the abuse contact of t's registered domain.
// In ICANN's RDAP profile it sits in the registrar entity; a top-level
// abuse entity (some ccTLDs) is taken too. Either way the addresses are
// the registration side's, hence RoleRegistrar.
func (r *Resolver) domainAbuse(ctx context.Context, t site, _ bool) stepResult {
	switch {
	case t.onion:
		return stepResult{note: "rdap domain: not applicable to .onion"}
	case t.addr.IsValid():
		return stepResult{note: "rdap domain: target is an IP address"}
	}
	cands := registeredDomains(t.host)
	if len(cands) == 0 {
		return stepResult{note: fmt.Sprintf("rdap domain: %s is not under a public suffix", t.host)}
	}
	var notes []string
	for _, d := range cands {
		obj, where, err := r.rdapQuery(ctx, rdap.DomainRequest, d)
		if err != nil {
			err = fmt.Errorf("rdap domain %s: %w", d, err)
			return stepResult{note: strings.Join(append(notes, clean(err.Error(), 300)), "; "), err: err}
		}
		if obj == nil {
			notes = append(notes, fmt.Sprintf("rdap domain %s: not found (%s)", d, where))
			continue
		}
		dom, ok := obj.(*rdap.Domain)
		if !ok {
			err := fmt.Errorf("rdap domain %s: %s answered with a %T", d, where, obj)
			return stepResult{note: strings.Join(append(notes, err.Error()), "; "), err: err}
		}
		addrs, paths := abuseIn(dom.Entities)
		if len(addrs) == 0 {
			return stepResult{note: strings.Join(append(notes, fmt.Sprintf("rdap domain %s: no abuse contact (%s)", d, where)), "; ")}
		}
		return stepResult{contacts: []Contact{{
			Addresses: addrs,
			Source:    SourceRDAPDomain,
			Role:      RoleRegistrar,
			Detail:    where + ": " + strings.Join(paths, ", "),
		}}}
	}
	return stepResult{note: strings.Join(notes, "; ")}
}

// networkAbuse asks RDAP for the abuse contact of the networks t resolves
// to: the first one found, or with all set each distinct network's.
func (r *Resolver) networkAbuse(ctx context.Context, t site, all bool) stepResult {
	if t.onion {
		return stepResult{note: "rdap ip: not applicable to .onion"}
	}
	addrs, err := r.resolve(ctx, t)
	if err != nil {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			return stepResult{note: fmt.Sprintf("rdap ip: %s does not resolve", t.host)}
		}
		err = fmt.Errorf("rdap ip: resolve %s: %w", t.host, err)
		return stepResult{note: clean(err.Error(), 300), err: err}
	}
	var res stepResult
	var notes []string
	var covered []netRange // networks already answered, not asked again
	for _, a := range addrs {
		if slices.ContainsFunc(covered, func(n netRange) bool { return n.contains(a) }) {
			continue
		}
		obj, where, err := r.rdapQuery(ctx, rdap.IPRequest, a.String())
		if err != nil {
			err = fmt.Errorf("rdap ip %s: %w", a, err)
			res.err = errors.Join(res.err, err)
			notes = append(notes, clean(err.Error(), 300))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if obj == nil {
			notes = append(notes, fmt.Sprintf("rdap ip %s: not found (%s)", a, where))
			continue
		}
		n, ok := obj.(*rdap.IPNetwork)
		if !ok {
			err := fmt.Errorf("rdap ip %s: %s answered with a %T", a, where, obj)
			res.err = errors.Join(res.err, err)
			notes = append(notes, err.Error())
			continue
		}
		span := clean(n.StartAddress+"–"+n.EndAddress, 100)
		if nr, ok := parseRange(n.StartAddress, n.EndAddress); ok {
			covered = append(covered, nr)
		}
		emails, paths := abuseIn(n.Entities)
		if len(emails) == 0 {
			notes = append(notes, fmt.Sprintf("rdap ip %s: network %s (%s) has no abuse contact (%s)", a, clean(n.Handle, 60), span, where))
			continue
		}
		res.contacts = append(res.contacts, Contact{
			Addresses: emails,
			Source:    SourceRDAPIP,
			Role:      RoleNetwork,
			Detail:    fmt.Sprintf("%s: network %s (%s): %s", where, clean(n.Handle, 60), span, strings.Join(paths, ", ")),
		})
		if !all {
			break
		}
	}
	if len(addrs) == 0 {
		notes = append(notes, fmt.Sprintf("rdap ip: %s has no address", t.host))
	}
	res.note = strings.Join(notes, "; ")
	return res
}

// resolve returns t's addresses, at most maxIPs, de-duplicated.
func (r *Resolver) resolve(ctx context.Context, t site) ([]netip.Addr, error) {
	if t.addr.IsValid() {
		return []netip.Addr{t.addr}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.stepTimeout())
	defer cancel()
	lookup := r.LookupIP
	if lookup == nil {
		lookup = func(ctx context.Context, host string) ([]net.IP, error) {
			return net.DefaultResolver.LookupIP(ctx, "ip", host)
		}
	}
	ips, err := lookup(ctx, t.host)
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, ip := range ips {
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			continue
		}
		if a = a.Unmap(); !slices.Contains(out, a) {
			out = append(out, a)
		}
		if len(out) == maxIPs {
			break
		}
	}
	return out, nil
}

// registeredDomains lists the names to ask RDAP about for host: its
// registered domain (public suffix + 1), then, when that is below a
// private suffix such as github.io, the private suffix's own domain —
// whose operator takes abuse reports for the names under it.
func registeredDomains(host string) []string {
	d, err := publicsuffix.EffectiveTLDPlusOne(host)
	if err != nil {
		return nil
	}
	out := []string{d}
	for len(out) < maxDomainCandidates {
		_, parent, ok := strings.Cut(out[len(out)-1], ".")
		if !ok || !strings.Contains(parent, ".") {
			break
		}
		if suffix, icann := publicsuffix.PublicSuffix(parent); suffix == parent && icann {
			break // never ask about an ICANN suffix such as co.uk itself
		}
		out = append(out, parent)
	}
	return out
}

// rdapQuery asks for one object. A nil object with a nil error means there
// is no such object, or no RDAP server covers the query; where then says
// who answered.
func (r *Resolver) rdapQuery(ctx context.Context, typ rdap.RequestType, q string) (obj any, where string, err error) {
	ctx, cancel := context.WithTimeout(ctx, r.stepTimeout())
	defer cancel()
	servers, err := r.rdapServers(ctx, typ, q)
	if err != nil {
		return nil, "IANA bootstrap", err
	}
	if len(servers) == 0 {
		return nil, "no RDAP server in IANA bootstrap", nil
	}
	cl := r.rdapClient()
	var errs []error
	for _, s := range servers {
		req := (&rdap.Request{Type: typ, Query: q, Server: s}).WithContext(ctx)
		where = req.URL().String()
		resp, err := cl.Do(req)
		if err == nil {
			if e, ok := resp.Object.(*rdap.Error); ok {
				errs = append(errs, fmt.Errorf("%s: RDAP error %d %s", where, derefCode(e.ErrorCode), clean(e.Title, 100)))
				continue
			}
			return resp.Object, where, nil
		}
		if ce := (*rdap.ClientError)(nil); errors.As(err, &ce) && ce.Type == rdap.ObjectDoesNotExist {
			return nil, where, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", where, transportError(resp, err)))
		if ctx.Err() != nil {
			break
		}
	}
	return nil, where, errors.Join(errs...)
}

func derefCode(c *uint16) uint16 {
	if c == nil {
		return 0
	}
	return *c
}

// transportError digs the cause out of openrdap's summary error ("no RDAP
// servers responded successfully"): the HTTP error or status.
func transportError(resp *rdap.Response, err error) error {
	if resp == nil || len(resp.HTTP) == 0 {
		return err
	}
	last := resp.HTTP[len(resp.HTTP)-1]
	switch {
	case last.Error != nil:
		return last.Error
	case last.Response != nil:
		return fmt.Errorf("status %s", last.Response.Status)
	}
	return err
}

// rdapServers returns the servers to ask, as fresh copies: openrdap's
// Request.URL modifies its Server in place.
func (r *Resolver) rdapServers(ctx context.Context, typ rdap.RequestType, q string) ([]*url.URL, error) {
	if r.RDAPServer != nil {
		u := *r.RDAPServer
		return []*url.URL{&u}, nil
	}
	r.once.Do(r.initBootstrap)
	select {
	case r.bootLock <- struct{}{}:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	defer func() { <-r.bootLock }()

	rt := bootstrap.DNS
	if typ == rdap.IPRequest {
		rt = bootstrap.IPv4
		if strings.Contains(q, ":") {
			rt = bootstrap.IPv6
		}
	}
	ans, err := r.boot.Lookup((&bootstrap.Question{RegistryType: rt, Query: q}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	out := make([]*url.URL, 0, len(ans.URLs))
	for _, u := range ans.URLs {
		c := *u
		out = append(out, &c)
	}
	return out, nil
}

func (r *Resolver) initBootstrap() {
	r.bootLock = make(chan struct{}, 1)
	if r.RDAP != nil && r.RDAP.Bootstrap != nil {
		r.boot = r.RDAP.Bootstrap
		return
	}
	r.boot = &bootstrap.Client{HTTP: r.rdapHTTP()}
}

func (r *Resolver) rdapHTTP() *http.Client {
	if r.RDAP != nil && r.RDAP.HTTP != nil {
		return r.RDAP.HTTP
	}
	return http.DefaultClient
}

// rdapClient returns a client for one query. It is a fresh value because
// openrdap's Client.Do fills in its fields, which would race when shared;
// servers are always given, so it never bootstraps.
func (r *Resolver) rdapClient() *rdap.Client {
	hc := *r.rdapHTTP()
	hc.Transport = capBody{next: hc.Transport}
	c := &rdap.Client{HTTP: &hc, Verbose: func(string) {}}
	if r.RDAP != nil {
		c.UserAgent = r.RDAP.UserAgent
	}
	return c
}

// capBody fails a response body that grows past maxRDAPBody.
type capBody struct{ next http.RoundTripper }

func (c capBody) RoundTrip(req *http.Request) (*http.Response, error) {
	next := c.next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &cappedBody{ReadCloser: resp.Body, left: maxRDAPBody}
	return resp, nil
}

type cappedBody struct {
	io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return n, fmt.Errorf("RDAP response larger than %d bytes", maxRDAPBody)
	}
	return n, err
}

// abuseIn collects the e-mail addresses of entities with role "abuse"
// among es and their nested entities, with a path of roles and handles
// for each (e.g. "registrar 292 > abuse"). Other entities' data, such as
// a registrant's, is never read.
func abuseIn(es []rdap.Entity) (addrs, paths []string) {
	var walk func(es []rdap.Entity, trail []string, depth int)
	walk = func(es []rdap.Entity, trail []string, depth int) {
		if depth > maxEntityDepth {
			return
		}
		for _, e := range es {
			here := append(slices.Clip(trail), entityLabel(e))
			if slices.ContainsFunc(e.Roles, func(r string) bool { return strings.EqualFold(r, "abuse") }) {
				if got := vcardEmails(e.VCard); len(got) > 0 {
					for _, a := range got {
						if !slices.Contains(addrs, a) {
							addrs = append(addrs, a)
						}
					}
					paths = append(paths, strings.Join(here, " > "))
				}
			}
			walk(e.Entities, here, depth+1)
		}
	}
	walk(es, nil, 1)
	return addrs, paths
}

func entityLabel(e rdap.Entity) string {
	label := clean(strings.Join(e.Roles, "/"), 60)
	if label == "" {
		label = "entity"
	}
	if e.Handle != "" {
		label += " " + clean(e.Handle, 60)
	}
	return label
}

func vcardEmails(v *rdap.VCard) []string {
	if v == nil {
		return nil
	}
	var out []string
	for _, p := range v.Properties {
		if !strings.EqualFold(p.Name, "email") {
			continue
		}
		for _, val := range p.Values() {
			out = append(out, parseAddresses(val)...)
		}
	}
	return out
}

// netRange is an inclusive address range from an RDAP network.
type netRange struct{ start, end netip.Addr }

func parseRange(start, end string) (netRange, bool) {
	s, err1 := netip.ParseAddr(start)
	e, err2 := netip.ParseAddr(end)
	if err1 != nil || err2 != nil || s.Is4() != e.Is4() {
		return netRange{}, false
	}
	return netRange{s.Unmap(), e.Unmap()}, true
}

func (n netRange) contains(a netip.Addr) bool {
	return a.Is4() == n.start.Is4() && a.Compare(n.start) >= 0 && a.Compare(n.end) <= 0
}
