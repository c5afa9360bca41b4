// Package hostile serves a loopback web site that is hostile in every way a
// leak site can be, next to good synthetic files that a correct crawler must
// still find. The index ("/") links every case. It is a test fixture for
// loopback use with synthetic data only.
//
// Each case, at a fixed exported path, and what a correct crawler records:
//
//  1. GzipBombPath: an HTML page (text/html) sent with Content-Encoding gzip
//     whether or not the client asked, about 1.1 MB on the wire inflating
//     to at least GzipBombMinInflated (1 GiB): 4,096 <p> paragraphs, then a
//     comment of NUL bytes. Record it as a page
//     whose body was cut at the crawler's decompressed-size cap (truncated
//     or an error naming the cap); never inflate or parse it all.
//  2. ZipBombPath: a 1.3 MB application/zip whose 4 members inflate to
//     ZipBombMemberSize (256 MiB) each, ZipBombMinInflated in all, plus
//     nested.zip holding 4 more of ZipBombNestedMemberSize (64 MiB). Record the download as a file with the digest of
//     the bytes served; when looking inside archives, stop at the
//     extraction cap and record the archive as a bomb / truncated, without
//     writing GiBs anywhere.
//  3. HugePath: declares Content-Length HugeDeclaredSize (10 GB) and
//     trickles zeros, stopping after Options.HugeLimit bytes. Refuse it on
//     the declared size (an error naming the size and the cap, no body
//     read) or cap it; never try to read 10 GB.
//  4. DripPagePath (text/html) and DripFilePath (declares DripFileDeclared
//     bytes): one byte per Options.DripInterval (1 s), never idle longer,
//     until the client leaves or Options.DripMax (10 min). Idle timeouts
//     never fire: the crawler needs an overall per-fetch deadline and
//     records a timeout error with whatever arrived.
//  5. RedirectLoopA ⇄ RedirectLoopB (302 for ever) and RedirectChainStart,
//     a chain of Options.RedirectChain 302s. Record a redirect error after
//     the crawler's hop limit, having requested each URL a bounded number
//     of times. (The short chain RedirectShortPrefix… carries good files.)
//  6. CalendarPath: /calendar?month=N links months N-1 and N+1 and three
//     links with random query strings, for ever. Record a bounded number of
//     calendar pages (page budget, per-path limits, query normalisation);
//     month 0 links good files, which must still be found.
//  7. Content-Type lies: LieHTMLPath is an HTML page sent as
//     application/octet-stream (sniffing crawlers parse it and find its
//     good files; the others record a file whose sniffed type is
//     text/html); LiePDFPath and LieZIPPath are a PDF and a ZIP sent as
//     text/html: record them as files (sniffed application/pdf,
//     application/zip) with their digests, not as pages.
//  8. MalformedPath: unclosed and misnested tags, broken and unquoted
//     attributes, NUL bytes and invalid UTF-8, still linking good files: an
//     HTML5 parser finds them all.
//  9. RateLimitPrefix+name: answers 429 with Retry-After:
//     Options.RetryAfterSeconds to the first Options.RateLimitCount
//     requests of each client (remote IP) for that path, then serves the
//     good file. The crawler waits at least Retry-After between attempts
//     (RequestTimes shows it) and records the file once it gets it.
//  10. LoginPath and MembersPath: pages under /members/ need the session
//     cookie that POST /login (form fields "user" and "pass",
//     Options.User/Pass) sets; without it, or once a session has served
//     Options.SessionRequests requests, they redirect (302) to
//     /login?next=… with the login form again. The crawler logs in again
//     mid-crawl and still finds the members' files; it records the login
//     form page and never a members page without the session.
//  11. Win1252HeaderPath, Win1252MetaPath, ShiftJISHeaderPath,
//     ShiftJISMetaPath: pages in windows-1252 and Shift_JIS, declared in the
//     Content-Type charset or only in a <meta>. Record the text decoded to
//     UTF-8 (Win1252Text, ShiftJISText) and find their links.
//  12. OnionOnly makes a handler answer only under a given Host, for tests
//     that reach it through a SOCKS5 proxy by hostname.
//
// Good files (Options.Files, or DefaultFiles) are spread over the pages that
// carry links (the index, the malformed page, the charset pages, the members
// pages, the octet-stream page, calendar month 0, the short redirect chain
// and the rate-limited path); GoodFiles says where each one is linked and
// served, so a test can assert every good file is found despite the traps.
//
// Every slow handler stops when the client goes away (request context),
// when a write stalls for 30 s, or at its server-side bound, and Serve shuts
// the server down when its context ends.
package hostile

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leakwatch/leakwatch/internal/testkit"
)

// Paths of the hostile cases and the good files.
const (
	IndexPath = "/"

	GzipBombPath = "/bomb/full_index.html"
	ZipBombPath  = "/files/bomb/patients_full.zip"

	HugePath                     = "/files/huge/full_dump.tar"
	HugeDeclaredSize       int64 = 10_000_000_000
	DefaultHugeLimit       int64 = 8 << 20
	DefaultHugeRate              = 1 << 20 // bytes per second
	DripPagePath                 = "/drip/thread.html"
	DripFilePath                 = "/drip/full_dump.7z"
	DripFileDeclared       int64 = 1 << 20
	DefaultDripInterval          = time.Second
	DefaultDripMax               = 10 * time.Minute
	RedirectLoopA                = "/redirect/loop/a"
	RedirectLoopB                = "/redirect/loop/b"
	RedirectChainPrefix          = "/redirect/chain/" // + hop number
	RedirectChainStart           = RedirectChainPrefix + "0"
	DefaultRedirectChain         = 30
	RedirectShortPrefix          = "/redirect/to/" // + hops left + "/" + name: 3 hops to a good file
	CalendarPath                 = "/calendar"
	LieHTMLPath                  = "/lies/listing.bin"
	LiePDFPath                   = "/lies/lab-report.html"
	LieZIPPath                   = "/lies/archive.html"
	MalformedPath                = "/malformed.html"
	RateLimitPrefix              = "/ratelimited/" // + name
	DefaultRateLimitCount        = 2
	DefaultRetryAfterSecs        = 2
	LoginPath                    = "/login"
	MembersPath                  = "/members/"
	MembersPagePrefix            = "/members/p/"     // + page number
	MembersFilePrefix            = "/members/files/" // + name
	MembersPages                 = 3
	SessionCookie                = "sid"
	DefaultUser                  = "member"
	DefaultPass                  = "synthetic-pass"
	DefaultSessionRequests       = 3
	Win1252HeaderPath            = "/charset/cp1252-header.html"
	Win1252MetaPath              = "/charset/cp1252-meta.html"
	ShiftJISHeaderPath           = "/charset/sjis-header.html"
	ShiftJISMetaPath             = "/charset/sjis-meta.html"
	GoodFilePrefix               = "/files/good/" // + carrier + "/" + name

	// stallTimeout ends a slow response whose client stopped reading but
	// kept the connection open.
	stallTimeout = 30 * time.Second
	// maxTimes bounds the request times kept per path.
	maxTimes = 10_000
)

// Options configures a Site. The zero value is usable.
type Options struct {
	Files []File // good files; nil means DefaultFiles()

	User, Pass      string // login; empty means DefaultUser, DefaultPass
	SessionRequests int    // requests a session serves under /members/; 0 means DefaultSessionRequests

	RateLimitCount    int // 429s per client and path; 0 means DefaultRateLimitCount, <0 none
	RetryAfterSeconds int // Retry-After of the 429s; 0 means DefaultRetryAfterSecs

	DripInterval  time.Duration // 0 means DefaultDripInterval
	DripMax       time.Duration // 0 means DefaultDripMax
	HugeLimit     int64         // bytes the 10 GB download really sends; 0 means DefaultHugeLimit
	HugeRate      int           // its bytes per second; 0 means DefaultHugeRate
	RedirectChain int           // hops of the long chain; 0 means DefaultRedirectChain

	Logger *slog.Logger // nil means slog.Default(); requests log at Debug
}

// GoodFile is one URL at which a good file is served.
type GoodFile struct {
	Name       string
	Link       string // the href on LinkedFrom: Path, or the first hop of a redirect chain
	LinkedFrom string // URL path of the page that links it (members' files: a /members/p/<n> page)
	// Path is where the bytes are served with 200 (after redirects, login
	// or 429s), escaped as in the links; Requests keys are unescaped.
	Path        string
	ContentType string // as served: a lie for LiePDFPath and LieZIPPath
	Size        int64
	SHA256      string // lower-case hex
	data        []byte
}

// carrier kinds: pages that link good files.
const (
	cIndex     = "index"
	cMalformed = "malformed"
	cW1252H    = "cp1252-header"
	cW1252M    = "cp1252-meta"
	cSJISH     = "sjis-header"
	cSJISM     = "sjis-meta"
	cMembers   = "members"
	cOctet     = "octet"
	cCalendar  = "calendar"
	cRedirect  = "redirect"
	cRateLimit = "ratelimit"
)

var carriers = []string{cIndex, cMalformed, cW1252H, cW1252M, cSJISH, cSJISM, cMembers, cOctet, cCalendar, cRedirect, cRateLimit}

// Site is the hostile site; safe for concurrent use.
type Site struct {
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux

	good      []*GoodFile            // in carrier order, then the lies
	byCarrier map[string][]*GoodFile // carrier → its files
	byPath    map[string]*GoodFile   // served path → file

	active atomic.Int64

	mu          sync.Mutex
	requests    map[string]int
	requestURIs map[string]int
	times       map[string][]time.Time
	limited     map[string]int // client + path → 429s sent
	sessions    map[string]int // token → requests left
	logins      int
	badLogins   int
}

// New returns a Site serving opts.
func New(opts Options) *Site {
	if len(opts.Files) == 0 {
		opts.Files = DefaultFiles()
	}
	opts.User = cmp.Or(opts.User, DefaultUser)
	opts.Pass = cmp.Or(opts.Pass, DefaultPass)
	if opts.SessionRequests <= 0 {
		opts.SessionRequests = DefaultSessionRequests
	}
	if opts.RateLimitCount == 0 {
		opts.RateLimitCount = DefaultRateLimitCount
	}
	if opts.RetryAfterSeconds <= 0 {
		opts.RetryAfterSeconds = DefaultRetryAfterSecs
	}
	opts.DripInterval = cmp.Or(max(opts.DripInterval, 0), DefaultDripInterval)
	opts.DripMax = cmp.Or(max(opts.DripMax, 0), DefaultDripMax)
	opts.HugeLimit = cmp.Or(max(opts.HugeLimit, 0), DefaultHugeLimit)
	opts.HugeRate = cmp.Or(max(opts.HugeRate, 0), DefaultHugeRate)
	opts.RedirectChain = cmp.Or(max(opts.RedirectChain, 0), DefaultRedirectChain)

	s := &Site{
		opts:        opts,
		log:         cmp.Or(opts.Logger, slog.Default()),
		byCarrier:   make(map[string][]*GoodFile),
		byPath:      make(map[string]*GoodFile),
		requests:    make(map[string]int),
		requestURIs: make(map[string]int),
		times:       make(map[string][]time.Time),
		limited:     make(map[string]int),
		sessions:    make(map[string]int),
	}
	s.placeFiles(opts.Files)
	s.opts.Files = nil // placed copies hold what is needed

	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", s.handleIndex)
	m.HandleFunc("GET "+GzipBombPath, s.handleGzipBomb)
	m.HandleFunc("GET "+ZipBombPath, s.handleZipBomb)
	m.HandleFunc("GET "+HugePath, s.handleHuge)
	m.HandleFunc("GET "+DripPagePath, s.handleDrip)
	m.HandleFunc("GET "+DripFilePath, s.handleDrip)
	m.HandleFunc("GET "+RedirectLoopA, redirectTo(RedirectLoopB))
	m.HandleFunc("GET "+RedirectLoopB, redirectTo(RedirectLoopA))
	m.HandleFunc("GET "+RedirectChainPrefix+"{n}", s.handleChain)
	m.HandleFunc("GET "+RedirectShortPrefix+"{hops}/{name}", s.handleShort)
	m.HandleFunc("GET "+CalendarPath, s.handleCalendar)
	m.HandleFunc("GET "+LieHTMLPath, s.handleLieHTML)
	m.HandleFunc("GET "+MalformedPath, s.handleMalformed)
	m.HandleFunc("GET "+RateLimitPrefix+"{name}", s.handleRateLimited)
	m.HandleFunc("GET "+LoginPath, s.handleLoginForm)
	m.HandleFunc("POST "+LoginPath, s.handleLogin)
	m.HandleFunc("GET "+MembersPath+"{$}", s.handleMembers)
	m.HandleFunc("GET "+MembersPagePrefix+"{n}", s.handleMembersPage)
	m.HandleFunc("GET "+MembersFilePrefix+"{name}", s.handleMembersFile)
	m.HandleFunc("GET "+Win1252HeaderPath, s.handleCharset)
	m.HandleFunc("GET "+Win1252MetaPath, s.handleCharset)
	m.HandleFunc("GET "+ShiftJISHeaderPath, s.handleCharset)
	m.HandleFunc("GET "+ShiftJISMetaPath, s.handleCharset)
	m.HandleFunc("GET "+GoodFilePrefix+"{carrier}/{name}", s.handleGood)
	m.HandleFunc("GET "+LiePDFPath, s.handleGood)
	m.HandleFunc("GET "+LieZIPPath, s.handleGood)
	s.mux = m
	return s
}

// placeFiles spreads the good files over the carriers: with at least as
// many files as carriers each file goes to one carrier in turn; with fewer,
// each carrier gets one file, reusing files. Then the two lying files.
func (s *Site) placeFiles(files []File) {
	names := map[string]bool{}
	clean := make([]File, len(files))
	for i, f := range files {
		name := strings.NewReplacer("/", "_", "\\", "_").Replace(f.Name)
		if name == "" || name == "." || name == ".." {
			name = "file.bin"
		}
		for base, n := name, 2; names[name]; n++ {
			name = fmt.Sprintf("%d-%s", n, base)
		}
		names[name] = true
		clean[i] = File{Name: name, Data: f.Data}
	}
	n := max(len(clean), len(carriers))
	for i := range n {
		c := carriers[i%len(carriers)]
		f := clean[i%len(clean)]
		g := newGood(f.Name, f.Data, testkit.ContentType(f.Name))
		esc := url.PathEscape(f.Name)
		switch c {
		case cMembers:
			g.Path = MembersFilePrefix + esc
			g.LinkedFrom = fmt.Sprintf("%s%d", MembersPagePrefix, len(s.byCarrier[c])%MembersPages+1)
		case cRateLimit:
			g.Path = RateLimitPrefix + esc
			g.LinkedFrom = IndexPath
		case cRedirect:
			g.Path = GoodFilePrefix + c + "/" + esc
			g.Link = RedirectShortPrefix + "3/" + esc
			g.LinkedFrom = IndexPath
		default:
			g.Path = GoodFilePrefix + c + "/" + esc
			g.LinkedFrom = map[string]string{
				cIndex: IndexPath, cMalformed: MalformedPath, cW1252H: Win1252HeaderPath, cW1252M: Win1252MetaPath,
				cSJISH: ShiftJISHeaderPath, cSJISM: ShiftJISMetaPath, cOctet: LieHTMLPath, cCalendar: CalendarPath,
			}[c]
		}
		g.Link = cmp.Or(g.Link, g.Path)
		s.byCarrier[c] = append(s.byCarrier[c], g)
		s.byPath[unescape(g.Path)] = g
		s.good = append(s.good, g)
	}
	for _, lie := range []*GoodFile{
		newGood("lab-report.pdf", syntheticPDF("Lab report (synthetic) NHI ZZZ0040 eGFR 88"), "text/html; charset=utf-8"),
		newGood("archive.zip", syntheticZip(), "text/html; charset=utf-8"),
	} {
		lie.Path = map[string]string{"lab-report.pdf": LiePDFPath, "archive.zip": LieZIPPath}[lie.Name]
		lie.Link, lie.LinkedFrom = lie.Path, IndexPath
		s.byPath[unescape(lie.Path)] = lie
		s.good = append(s.good, lie)
	}
}

func unescape(p string) string {
	if u, err := url.PathUnescape(p); err == nil {
		return u
	}
	return p
}

func newGood(name string, data []byte, ctype string) *GoodFile {
	sum := sha256.Sum256(data)
	return &GoodFile{Name: name, ContentType: ctype, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), data: slices.Clone(data)}
}

// GoodFiles lists every URL serving a good file: one per file and carrier
// page, and the two files behind Content-Type lies.
func (s *Site) GoodFiles() []GoodFile {
	out := make([]GoodFile, len(s.good))
	for i, g := range s.good {
		out[i] = *g
		out[i].data = nil
	}
	return out
}

// Requests returns how often each URL path was requested (query ignored).
func (s *Site) Requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.requests)
}

// RequestURIs is like Requests keyed by path and query.
func (s *Site) RequestURIs() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.requestURIs)
}

// RequestTimes returns when each request for urlPath arrived, in order (the
// first 10,000).
func (s *Site) RequestTimes(urlPath string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.times[urlPath])
}

// Logins returns the number of successful and failed POSTs to LoginPath.
func (s *Site) Logins() (ok, failed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins, s.badLogins
}

// Active returns the number of requests being handled now; a test can wait
// for it to reach 0 to show no handler outlived its client.
func (s *Site) Active() int { return int(s.active.Load()) }

// ServeHTTP implements http.Handler.
func (s *Site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.active.Add(1)
	defer s.active.Add(-1)
	now := time.Now()
	s.mu.Lock()
	s.requests[r.URL.Path]++
	s.requestURIs[r.URL.RequestURI()]++
	if ts := s.times[r.URL.Path]; len(ts) < maxTimes {
		s.times[r.URL.Path] = append(ts, now)
	}
	s.mu.Unlock()
	s.log.DebugContext(r.Context(), "hostile request", "method", r.Method, "uri", r.URL.RequestURI(), "remote", r.RemoteAddr)
	s.mux.ServeHTTP(w, r)
}

// Serve listens on addr (default "127.0.0.1:0") and serves the site until
// ctx ends, returning the bound address. Request contexts derive from ctx,
// so ending ctx also stops slow responses in flight.
func (s *Site) Serve(ctx context.Context, addr string) (net.Addr, error) {
	return testkit.Serve(ctx, "hostile", addr, s, s.log)
}

// OnionOnly returns a handler that serves h only to requests whose Host
// (port ignored, case-insensitive) is host, such as an .onion name reached
// through a SOCKS5 proxy that resolves names itself; any other Host gets 421
// Misdirected Request. A crawler that bypasses the proxy, or resolves the
// name locally, never reaches h.
func OnionOnly(host string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Host
		if hh, _, err := net.SplitHostPort(got); err == nil {
			got = hh
		}
		if !strings.EqualFold(got, host) {
			http.Error(w, "misdirected request: this site is only reachable as "+host, http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}
