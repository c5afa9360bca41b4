package webcrawl

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	socks5 "github.com/things-go/go-socks5"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/internal/testkit/leaksim"
	"github.com/leakwatch/leakwatch/storage"
)

// memSink is the crawler's Sink kept in memory: it records every Fetch and
// answers Captured from what it recorded plus a preset "already captured"
// set, as a resumed run's store would.
type memSink struct {
	mu      sync.Mutex
	fetches []Fetch
	done    map[string]bool
	asked   []string // URLs passed to Captured

	// failCapture, when set, is consulted before recording; its error is
	// returned from Capture and the fetch is not recorded.
	failCapture func(f Fetch) error
	// failCaptured, when set, is returned from Captured.
	failCaptured error
}

func (s *memSink) Capture(_ context.Context, f Fetch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failCapture != nil {
		if err := s.failCapture(f); err != nil {
			return err
		}
	}
	s.fetches = append(s.fetches, f)
	return nil
}

func (s *memSink) Captured(_ context.Context, url string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, url)
	if s.failCaptured != nil {
		return false, s.failCaptured
	}
	if s.done[url] {
		return true, nil
	}
	for _, f := range s.fetches {
		if f.URL == url && f.Err == nil {
			return true, nil
		}
	}
	return false, nil
}

func (s *memSink) all() []Fetch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Fetch(nil), s.fetches...)
}

// get returns the single fetch recorded for url.
func (s *memSink) get(t *testing.T, url string) Fetch {
	t.Helper()
	var found []Fetch
	for _, f := range s.all() {
		if f.URL == url {
			found = append(found, f)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly 1 fetch of %s, got %d; all fetches:\n%s", url, len(found), s.dump())
	}
	return found[0]
}

func (s *memSink) has(url string) bool {
	for _, f := range s.all() {
		if f.URL == url {
			return true
		}
	}
	return false
}

func (s *memSink) dump() string {
	var b strings.Builder
	for _, f := range s.all() {
		fmt.Fprintf(&b, "  %-4s %3d %s -> %s size=%d trunc=%v err=%v\n",
			f.Kind, f.Status, f.URL, f.FinalURL, f.Digest.Size, f.Digest.Truncated, f.Err)
	}
	return b.String()
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func newCrawler(t *testing.T, opts Options) *Crawler {
	t.Helper()
	c, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// crawl runs one crawl under a generous safety deadline: a test that hangs
// fails with a deadline error instead of blocking the package.
func crawl(t *testing.T, opts Options, seed string, sink Sink) (Stats, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	st, err := newCrawler(t, opts).Crawl(ctx, seed, sink)
	if ctx.Err() != nil {
		t.Fatalf("crawl of %s hit the test's safety deadline: %v", seed, err)
	}
	return st, err
}

// newServer starts h on loopback and returns the server and a release
// channel that stalling handlers wait on; it is closed before the server
// shuts down so no handler outlives the test.
func newServer(t *testing.T, h http.Handler) (*httptest.Server, <-chan struct{}) {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	return ts, release
}

// counter counts requests by path and query.
type counter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *counter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		if c.n == nil {
			c.n = map[string]int{}
		}
		c.n[r.URL.RequestURI()]++
		c.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (c *counter) get(uri string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[uri]
}

func (c *counter) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.n)
}

func (c *counter) total(prefix string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.n {
		if strings.HasPrefix(k, prefix) {
			n += v
		}
	}
	return n
}

func html(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = io.WriteString(w, "<!doctype html><html><body>"+body+"</body></html>")
}

// Synthetic samples. Identifiers are in the NHI test range (Z…) only.
var (
	samplePDF = []byte("%PDF-1.4\n% synthetic lab report, test data only\n" +
		"1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n" +
		"% NHI ZZZ0016  HbA1c 41 mmol/mol  (fictional)\n%%EOF\n")
	sampleCSV = []byte("nhi,name,test,result\n" +
		"ZZZ0016,Test Patient One,HbA1c,41\n" +
		"ZZZ0024,Test Patient Two,Ferritin,120\n" +
		"ZZZ0032,Test Patient Three,eGFR,88\n")
	samplePNG = append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"),
		bytes.Repeat([]byte{0x5a, 0x17}, 300)...)
)

func sampleSite(opts leaksim.Options) *leaksim.Site {
	opts.Logger = slog.New(slog.DiscardHandler)
	opts.Files = append(opts.Files,
		leaksim.File{Name: "lab_results.pdf", Data: samplePDF, Thread: "Patient portal - sample part 1"},
		leaksim.File{Name: "patients.csv", Data: sampleCSV, Thread: "Patient portal - sample part 1"},
		leaksim.File{Name: "wound_photo.png", Data: samplePNG, Thread: "Patient portal - sample part 2"},
	)
	return leaksim.New(opts)
}

// TestCrawlLeaksim crawls the simulated forum with every hostile feature on.
func TestCrawlLeaksim(t *testing.T) {
	site := sampleSite(leaksim.Options{})
	ts, _ := newServer(t, site)
	base := ts.URL
	sink := &memSink{}

	start := time.Now()
	st, err := crawl(t, Options{MaxDepth: 10}, base+"/", sink)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Crawl: %v", err)
	}
	t.Logf("crawl took %v, stats %+v\n%s", elapsed, st, sink.dump())

	want := map[string][]byte{
		"lab_results.pdf": samplePDF,
		"patients.csv":    sampleCSV,
		"wound_photo.png": samplePNG,
	}
	atts := site.Attachments()
	if len(atts) != len(want) {
		t.Fatalf("site has %d attachments, want %d", len(atts), len(want))
	}

	// Every attachment: captured directly and through its /go/ redirect,
	// both as files with the digest of the bytes served.
	for _, a := range atts {
		data := want[a.Name]
		for _, u := range []string{base + a.Path, base + "/go/" + a.ID} {
			f := sink.get(t, u)
			if f.Kind != storage.CaptureFile || f.Status != http.StatusOK || f.Err != nil {
				t.Errorf("%s: kind %q status %d err %v; want file 200 no error", u, f.Kind, f.Status, f.Err)
			}
			if f.FinalURL != base+a.Path {
				t.Errorf("%s: FinalURL %q, want %q", u, f.FinalURL, base+a.Path)
			}
			if f.Digest.SHA256 != sum(data) || f.Digest.Size != int64(len(data)) || f.Digest.Truncated {
				t.Errorf("%s: digest %+v, want sha256 %s size %d untruncated", u, f.Digest, sum(data), len(data))
			}
			if f.Host != "127.0.0.1" {
				t.Errorf("%s: Host %q", u, f.Host)
			}
			if f.FetchedAt.IsZero() {
				t.Errorf("%s: FetchedAt not set", u)
			}
		}
	}
	if got := sink.get(t, base+atts[0].Path).Digest.Sniffed; got != "application/pdf" {
		t.Errorf("pdf sniffed as %q", got)
	}

	// The missing attachment: evidence of a 404, with an error.
	miss := sink.get(t, base+leaksim.MissingPath)
	if miss.Kind != storage.CaptureFile || miss.Status != http.StatusNotFound || miss.Err == nil {
		t.Errorf("missing attachment: kind %q status %d err %v; want file 404 with error", miss.Kind, miss.Status, miss.Err)
	}

	// The 5 GB "full dump": refused on its declared size, nothing read.
	huge := sink.get(t, base+leaksim.HugePath)
	if huge.Kind != storage.CaptureFile || huge.Err == nil {
		t.Fatalf("huge download: kind %q err %v; want file with error", huge.Kind, huge.Err)
	}
	const defaultCap = 512 << 20
	for _, s := range []string{strconv.FormatInt(leaksim.HugeDeclaredSize, 10), strconv.Itoa(defaultCap)} {
		if !strings.Contains(huge.Err.Error(), s) {
			t.Errorf("huge download error %q does not mention %s", huge.Err, s)
		}
	}
	if huge.Digest.Size != 0 || huge.Digest.SHA256 != "" || huge.Digest.Truncated {
		t.Errorf("huge download read body bytes: digest %+v", huge.Digest)
	}
	// At the site's 4 MiB/s, reading even its 64 MiB bound would take 16 s.
	if elapsed > 15*time.Second {
		t.Errorf("crawl took %v; the huge download seems to have been read", elapsed)
	}

	// Off-site link: never fetched.
	for _, f := range sink.all() {
		if f.Host != "127.0.0.1" || strings.Contains(f.URL, "elsewhere.invalid") || strings.Contains(f.FinalURL, "elsewhere.invalid") {
			t.Errorf("off-site fetch recorded: %+v", f)
		}
	}

	// Pages: exactly the forum's pages, each captured once with status 200
	// and the digest of the bytes the server sends for that URL.
	// Page 2 links back to "?page=1", a distinct URL for the same page.
	wantPages := map[string]bool{base + "/": true, base + "/?page=1": true, base + "/?page=2": true}
	threads := map[string]bool{leaksim.DumpThreadPath: true}
	for _, a := range atts {
		threads[a.ThreadPath] = true
	}
	for p := range threads {
		for _, q := range []string{"", "?sort=new", "?sort=old"} {
			wantPages[base+p+q] = true
		}
	}
	seen := map[string]bool{}
	pages := 0
	for _, f := range sink.all() {
		if seen[f.URL] {
			t.Errorf("%s captured twice", f.URL)
		}
		seen[f.URL] = true
		if f.Kind != storage.CapturePage {
			continue
		}
		pages++
		if !wantPages[f.URL] {
			t.Errorf("unexpected page fetched: %s", f.URL)
		}
		if f.Status != http.StatusOK || f.Err != nil || f.FinalURL != f.URL {
			t.Errorf("page %s: status %d err %v final %s", f.URL, f.Status, f.Err, f.FinalURL)
		}
		if len(f.Digest.SHA256) != 64 || f.Digest.Size == 0 || f.Digest.Truncated {
			t.Errorf("page %s: digest %+v", f.URL, f.Digest)
		}
		if !strings.HasPrefix(f.ContentType, "text/html") {
			t.Errorf("page %s: content type %q", f.URL, f.ContentType)
		}
	}
	for p := range wantPages {
		if !seen[p] {
			t.Errorf("page %s not fetched", p)
		}
	}

	// Request accounting (read before the re-fetch below adds requests).
	// Pages: one GET per URI, so the ?sort= loop went round once at most.
	// Files: one request per crawl URL (no header probe); an attachment is
	// reached directly and through /go/<id>, so 2.
	uris := site.RequestURIs()
	for p := range wantPages {
		if n := uris[strings.TrimPrefix(p, base)]; n != 1 {
			t.Errorf("page %s requested %d times, want 1", p, n)
		}
	}
	reqs := site.Requests()
	for _, a := range atts {
		if n := reqs[a.Path]; n != 2 {
			t.Errorf("%s requested %d times, want 2 (direct and via /go/)", a.Path, n)
		}
		if n := reqs["/go/"+a.ID]; n != 1 {
			t.Errorf("/go/%s requested %d times, want 1", a.ID, n)
		}
	}
	for _, p := range []string{leaksim.HugePath, leaksim.MissingPath} {
		if n := reqs[p]; n != 1 {
			t.Errorf("%s requested %d times, want 1", p, n)
		}
	}
	total := 0
	for _, n := range reqs {
		total += n
	}
	if wantTotal := len(wantPages) + 3*len(atts) + 2; total != wantTotal {
		t.Errorf("site saw %d requests, want %d: %v", total, wantTotal, reqs)
	}

	if st.Pages != pages || st.Pages != len(wantPages) || st.Files != 2*len(atts) || st.Failed != 2 {
		t.Errorf("stats %+v; want pages %d files %d failed 2", st, len(wantPages), 2*len(atts))
	}

	// The page digests are of the raw bytes the site serves.
	for p := range wantPages {
		resp, err := http.Get(p)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if f := sink.get(t, p); f.Digest.SHA256 != sum(body) || f.Digest.Size != int64(len(body)) {
			t.Errorf("page %s: digest %s/%d, served bytes hash to %s/%d", p, f.Digest.SHA256, f.Digest.Size, sum(body), len(body))
		}
	}
}

// TestCrawlMaxPagesBoundsLinkTraps: a site that generates an endless chain
// of new URLs (and the leaksim ?sort= loop) stops at MaxPages.
func TestCrawlMaxPagesBoundsLinkTraps(t *testing.T) {
	var cnt counter
	ts, _ := newServer(t, cnt.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/p/"))
		html(w, fmt.Sprintf(`<a href="/p/%d">next</a> <a href="/p/%d?view=%d">same</a> <a href="?again">self</a>`, n+1, n, n+1))
	})))
	sink := &memSink{}
	st, err := crawl(t, Options{MaxPages: 7, MaxDepth: 1000}, ts.URL+"/p/0", sink)
	if err != nil {
		t.Fatalf("Crawl: %v", err)
	}
	if got := len(sink.all()); got != 7 || st.Pages != 7 {
		t.Errorf("captured %d fetches, stats %+v; want exactly MaxPages=7\n%s", got, st, sink.dump())
	}
	if got := cnt.total("/"); got != 7 {
		t.Errorf("server saw %d requests, want 7", got)
	}
	for uri, n := range cnt.snapshot() {
		if n != 1 {
			t.Errorf("%s requested %d times", uri, n)
		}
	}

	// The leaksim loop with a small budget.
	site := sampleSite(leaksim.Options{})
	ls, _ := newServer(t, site)
	sink = &memSink{}
	if _, err := crawl(t, Options{MaxPages: 5, MaxDepth: 50}, ls.URL+"/", sink); err != nil {
		t.Fatalf("Crawl leaksim: %v", err)
	}
	if got := len(sink.all()); got > 5 {
		t.Errorf("captured %d fetches with MaxPages 5\n%s", got, sink.dump())
	}
	for uri, n := range site.RequestURIs() {
		if !strings.HasPrefix(uri, "/files/") && !strings.HasPrefix(uri, "/go/") && n != 1 {
			t.Errorf("%s requested %d times", uri, n)
		}
	}
}

// TestDownloadChunkedOverCap: no Content-Length, so the cap is found while
// streaming; the prefix is hashed (cap+1 bytes, as fingerprints.Sum does)
// and the capture is marked truncated with an error.
func TestDownloadChunkedOverCap(t *testing.T) {
	const capBytes = 4096
	data := bytes.Repeat([]byte("ZZZ0040,synthetic,row\n"), 2000) // 44 000 bytes
	var streamed atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { html(w, `<a href="/export.csv">export</a>`) })
	mux.HandleFunc("/export.csv", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/csv")
		rc := http.NewResponseController(w)
		for off := 0; off < len(data); off += 1000 {
			n, err := w.Write(data[off:min(off+1000, len(data))])
			streamed.Add(int64(n))
			if err != nil || rc.Flush() != nil { // flushing first forces chunked encoding
				return
			}
		}
	})
	ts, _ := newServer(t, mux)

	// Sanity: the server really sends no Content-Length.
	resp, err := http.Get(ts.URL + "/export.csv")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.ContentLength != -1 || len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("test server: content length %d, transfer encoding %v; want chunked", resp.ContentLength, resp.TransferEncoding)
	}

	sink := &memSink{}
	st, err := crawl(t, Options{MaxDownloadBytes: capBytes}, ts.URL+"/", sink)
	if err != nil {
		t.Fatalf("Crawl: %v", err)
	}
	f := sink.get(t, ts.URL+"/export.csv")
	if f.Kind != storage.CaptureFile || f.Status != http.StatusOK {
		t.Errorf("kind %q status %d", f.Kind, f.Status)
	}
	if !f.Digest.Truncated || f.Err == nil || !errors.Is(f.Err, fingerprints.ErrTooLarge) {
		t.Errorf("digest %+v err %v; want truncated with ErrTooLarge", f.Digest, f.Err)
	}
	if f.Digest.Size != capBytes+1 {
		t.Errorf("size %d, want cap+1 = %d", f.Digest.Size, capBytes+1)
	}
	if f.Digest.SHA256 != sum(data[:capBytes+1]) {
		t.Errorf("sha256 %s is not of the first cap+1 bytes", f.Digest.SHA256)
	}
	if st.Files != 1 || st.Failed != 0 {
		t.Errorf("stats %+v; a truncated download counts as a file", st)
	}
}

// stallHandler sends headers and a few body bytes, flushes, then sends
// nothing more until the client goes away or the test ends.
func stallHandler(contentType string, prefix []byte, release <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Length", "1000000")
		_, _ = w.Write(prefix)
		_ = http.NewResponseController(w).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
}

// TestIdleWatchdog: a download (and a page) whose body stops arriving fails
// with the idle error instead of hanging.
func TestIdleWatchdog(t *testing.T) {
	mux := http.NewServeMux()
	ts, release := newServer(t, mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<a href="/stuck.zip">dump</a> <a href="/slow.html">thread</a>`)
	})
	mux.HandleFunc("/stuck.zip", stallHandler("application/zip", []byte("PK\x03\x04trickle"), release))
	mux.HandleFunc("/slow.html", stallHandler("text/html", []byte("<!doctype html><html><body><a href=\"/x\">"), release))

	const idle = 300 * time.Millisecond
	sink := &memSink{}
	start := time.Now()
	st, err := crawl(t, Options{IdleTimeout: idle}, ts.URL+"/", sink)
	if err != nil {
		t.Fatalf("Crawl: %v", err)
	}
	t.Logf("crawl with two stalled bodies took %v\n%s", time.Since(start), sink.dump())

	f := sink.get(t, ts.URL+"/stuck.zip")
	if f.Kind != storage.CaptureFile || !errors.Is(f.Err, errIdle) {
		t.Errorf("stalled download: kind %q err %v; want file with the idle error", f.Kind, f.Err)
	}
	if f.Digest.Size != int64(len("PK\x03\x04trickle")) {
		t.Errorf("stalled download: %d bytes counted, want the %d sent", f.Digest.Size, len("PK\x03\x04trickle"))
	}
	p := sink.get(t, ts.URL+"/slow.html")
	if p.Kind != storage.CapturePage || !errors.Is(p.Err, errIdle) {
		t.Errorf("stalled page: kind %q err %v; want page with the idle error", p.Kind, p.Err)
	}
	if st.Failed != 2 {
		t.Errorf("stats %+v; want 2 failed", st)
	}
}

// TestRedirects: the redirect cap holds for pages and downloads, and
// redirects to another host are not followed.
func TestRedirects(t *testing.T) {
	var otherHits atomic.Int64
	other, _ := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHits.Add(1)
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write([]byte("must never be fetched"))
	}))
	_, otherPort, _ := net.SplitHostPort(other.Listener.Addr().String())
	// Same machine, different host name: "localhost" is not "127.0.0.1".
	away := "http://localhost:" + otherPort + "/mirror.zip"

	file := []byte("synthetic file at the end of a redirect chain")
	var cnt counter
	mux := http.NewServeMux()
	ts, _ := newServer(t, cnt.wrap(mux))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<a href="/hop/ok/3">ok</a> <a href="/hop/long/4">long</a> <a href="/loop">loop</a> <a href="/away">away</a>`)
	})
	mux.HandleFunc("/hop/{chain}/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		if n > 0 {
			http.Redirect(w, r, fmt.Sprintf("/hop/%s/%d", r.PathValue("chain"), n-1), http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(file)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, away, http.StatusFound)
	})

	const maxRedirects = 3
	opts := Options{MaxRedirects: maxRedirects}
	sink := &memSink{}
	if _, err := crawl(t, opts, ts.URL+"/", sink); err != nil {
		t.Fatalf("Crawl: %v", err)
	}
	t.Logf("\n%s", sink.dump())

	// Exactly MaxRedirects hops: followed, file captured at the chain's end.
	ok := sink.get(t, ts.URL+"/hop/ok/3")
	if ok.Kind != storage.CaptureFile || ok.Err != nil || ok.FinalURL != ts.URL+"/hop/ok/0" || ok.Digest.SHA256 != sum(file) {
		t.Errorf("3-hop chain: kind %q err %v final %s digest %+v", ok.Kind, ok.Err, ok.FinalURL, ok.Digest)
	}
	// One more hop than allowed: an error, and the chain's end never asked for.
	long := sink.get(t, ts.URL+"/hop/long/4")
	if long.Err == nil || !strings.Contains(long.Err.Error(), "redirects") {
		t.Errorf("4-hop chain: err %v; want a redirect-cap error", long.Err)
	}
	if n := cnt.get("/hop/long/0"); n != 0 {
		t.Errorf("end of over-long chain requested %d times", n)
	}
	if n := cnt.total("/hop/long/"); n != maxRedirects+1 {
		t.Errorf("over-long chain: %d requests, want %d", n, maxRedirects+1)
	}
	// A self-redirect loop ends at the cap.
	loop := sink.get(t, ts.URL+"/loop")
	if loop.Err == nil {
		t.Errorf("redirect loop captured without error")
	}
	if n := cnt.get("/loop"); n != maxRedirects+1 {
		t.Errorf("/loop requested %d times, want %d", n, maxRedirects+1)
	}
	// Cross-host redirect: refused.
	aw := sink.get(t, ts.URL+"/away")
	if aw.Err == nil || aw.Digest.SHA256 == sum([]byte("must never be fetched")) {
		t.Errorf("cross-host redirect: err %v digest %+v", aw.Err, aw.Digest)
	}
	for _, f := range sink.all() {
		if f.Host != "127.0.0.1" || strings.Contains(f.FinalURL, "localhost") {
			t.Errorf("fetch left the site: %+v", f)
		}
	}

	if n := otherHits.Load(); n != 0 {
		t.Errorf("the other host was requested %d times", n)
	}
}

// TestSinkErrorStopsCrawl: a Sink that cannot record stops the crawl.
func TestSinkErrorStopsCrawl(t *testing.T) {
	site := sampleSite(leaksim.Options{DisableHuge: true})
	ts, _ := newServer(t, site)
	errDisk := errors.New("evidence store full")

	calls := 0
	sink := &memSink{failCapture: func(f Fetch) error {
		calls++
		if calls == 3 {
			return errDisk
		}
		return nil
	}}
	// One worker: besides it, only pages in the parse stage (one per CPU)
	// can be on their way to the sink when it fails.
	_, err := crawl(t, Options{Workers: 1}, ts.URL+"/", sink)
	if !errors.Is(err, errDisk) {
		t.Fatalf("Crawl: %v; want the sink's error", err)
	}
	if calls < 3 || calls-3 > parsers() || len(sink.all()) != calls-1 {
		t.Errorf("Capture called %d times, %d recorded; the crawl must stop at the failure (at most %d already on their way)",
			calls, len(sink.all()), parsers())
	}

	// Captured failing (a resumed run cannot read its state) also stops it,
	// before anything is downloaded.
	before := site.Requests()
	errState := errors.New("run state unreadable")
	sink = &memSink{failCaptured: errState}
	_, err = crawl(t, Options{}, ts.URL+"/", sink)
	if !errors.Is(err, errState) {
		t.Fatalf("Crawl: %v; want the Captured error", err)
	}
	after := site.Requests()
	for _, a := range site.Attachments() {
		if after[a.Path]-before[a.Path] > 0 {
			t.Errorf("%s downloaded although Captured failed", a.Path)
		}
	}
}

// TestCrawlContextCancel: cancelling ctx stops a crawl promptly, whether it
// waits for response headers or for a body, and with ctx's error.
func TestCrawlContextCancel(t *testing.T) {
	mux := http.NewServeMux()
	ts, release := newServer(t, mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<a href="/slow-headers">a</a>`)
	})
	mux.HandleFunc("/slow-headers", func(w http.ResponseWriter, r *http.Request) {
		select { // never answers on its own
		case <-r.Context().Done():
		case <-release:
		}
	})
	mux.HandleFunc("/dl/", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<a href="/dl/stuck.zip">a</a>`)
	})
	mux.HandleFunc("/dl/stuck.zip", stallHandler("application/zip", []byte("PK"), release))

	for name, seed := range map[string]string{"waiting-for-headers": "/", "waiting-for-body": "/dl/"} {
		t.Run(name, func(t *testing.T) {
			// Timeouts far beyond the test: only ctx can end the stall.
			c := newCrawler(t, Options{HeaderTimeout: 10 * time.Minute, IdleTimeout: 10 * time.Minute})
			sink := &memSink{}
			cancelMidCrawl(t, c, ts.URL+seed, sink, 300*time.Millisecond, 10*time.Second, "")
			for _, f := range sink.all() {
				if f.Err != nil {
					t.Errorf("cancellation recorded as evidence: %s: %v", f.URL, f.Err)
				}
			}
		})
	}

	// An already-cancelled context does no request at all.
	site := sampleSite(leaksim.Options{})
	ls, _ := newServer(t, site)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := newCrawler(t, Options{}).Crawl(ctx, ls.URL+"/", &memSink{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Crawl with cancelled ctx: %v", err)
	}
	if n := len(site.Requests()); n != 0 {
		t.Errorf("site saw requests after cancel: %v", site.Requests())
	}
}

// cancelMidCrawl crawls seed, cancels the crawl after after, and fails
// unless Crawl returns context.Canceled within within (while says what was
// going on, for the message).
func cancelMidCrawl(t *testing.T, c *Crawler, seed string, sink Sink, after, within time.Duration, while string) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := c.Crawl(ctx, seed, sink)
		done <- err
	}()
	time.Sleep(after)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Crawl: %v; want context.Canceled", err)
		}
	case <-time.After(within):
		t.Fatal("Crawl did not return after cancel" + while)
	}
}

// TestResumeSkipsCapturedFiles: a file the sink already holds is not
// downloaded again.
func TestResumeSkipsCapturedFiles(t *testing.T) {
	site := sampleSite(leaksim.Options{DisableRedirect: true, DisableHuge: true, DisableMissing: true})
	ts, _ := newServer(t, site)
	atts := site.Attachments()
	skip, keep := atts[0], atts[1]

	sink := &memSink{done: map[string]bool{ts.URL + skip.Path: true}}
	st, err := crawl(t, Options{}, ts.URL+"/", sink)
	if err != nil {
		t.Fatalf("Crawl: %v", err)
	}
	if sink.has(ts.URL + skip.Path) {
		t.Errorf("already-captured %s captured again", skip.Path)
	}
	if f := sink.get(t, ts.URL+keep.Path); f.Err != nil || f.Digest.SHA256 != keep.SHA256 {
		t.Errorf("%s: err %v digest %+v", keep.Path, f.Err, f.Digest)
	}
	if st.Files != len(atts)-1 {
		t.Errorf("stats %+v; want %d files", st, len(atts)-1)
	}
	// A downloaded file costs one request; a skipped one none.
	reqs := site.Requests()
	if reqs[keep.Path] != 1 || reqs[skip.Path] != 0 {
		t.Errorf("requests: kept file %d (want 1), skipped file %d (want 0)",
			reqs[keep.Path], reqs[skip.Path])
	}
	asked := false
	for _, u := range sink.asked {
		asked = asked || u == ts.URL+skip.Path
	}
	if !asked {
		t.Errorf("Captured was never asked about %s", skip.Path)
	}
}

// TestMaxDepth: pages and files beyond MaxDepth link hops are not fetched.
func TestMaxDepth(t *testing.T) {
	var cnt counter
	mux := http.NewServeMux()
	ts, _ := newServer(t, cnt.wrap(mux))
	mux.HandleFunc("/d/{n}", func(w http.ResponseWriter, r *http.Request) {
		if n, ok := strings.CutSuffix(r.PathValue("n"), ".bin"); ok {
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = io.WriteString(w, "synthetic "+n)
			return
		}
		n, _ := strconv.Atoi(r.PathValue("n"))
		html(w, fmt.Sprintf(`<a href="/d/%d">deeper</a> <a href="/d/%d.bin">file</a>`, n+1, n))
	})

	sink := &memSink{}
	st, err := crawl(t, Options{MaxDepth: 2}, ts.URL+"/d/0", sink)
	if err != nil {
		t.Fatalf("Crawl: %v", err)
	}
	for _, p := range []string{"/d/0", "/d/1", "/d/2", "/d/0.bin", "/d/1.bin"} {
		if f := sink.get(t, ts.URL+p); f.Err != nil {
			t.Errorf("%s: %v", p, f.Err)
		}
	}
	for _, p := range []string{"/d/3", "/d/2.bin"} {
		if sink.has(ts.URL+p) || cnt.get(p) != 0 {
			t.Errorf("%s is %d hops deep, beyond MaxDepth 2, but was fetched", p, 3)
		}
	}
	if st.Pages != 3 || st.Files != 2 {
		t.Errorf("stats %+v; want 3 pages, 2 files", st)
	}

	// On the forum, threads are one hop from the board; the board's
	// pagination and the threads' attachments cost none, so MaxDepth 1
	// reaches every attachment, but not the thread's ?sort= variants nor
	// the /go/ redirect links, which are one more hop.
	site := sampleSite(leaksim.Options{})
	ls, _ := newServer(t, site)
	sink = &memSink{}
	if _, err := crawl(t, Options{MaxDepth: 1}, ls.URL+"/", sink); err != nil {
		t.Fatalf("Crawl: %v", err)
	}
	uris := site.RequestURIs()
	for u := range uris {
		if strings.HasPrefix(u, "/go/") || strings.Contains(u, "?sort") {
			t.Errorf("%s fetched at MaxDepth 1", u)
		}
	}
	for _, a := range site.Attachments() {
		if f := sink.get(t, ls.URL+a.Path); f.Kind != storage.CaptureFile || f.Err != nil {
			t.Errorf("attachment %s at MaxDepth 1: %+v", a.Path, f)
		}
	}
	// No hops (MaxDepth < 0; 0 is the default): the board and its pages only.
	site0 := sampleSite(leaksim.Options{})
	ls0, _ := newServer(t, site0)
	sink = &memSink{}
	if _, err := crawl(t, Options{MaxDepth: -1}, ls0.URL+"/", sink); err != nil {
		t.Fatalf("Crawl: %v", err)
	}
	for u := range site0.RequestURIs() {
		if u != "/" && !strings.HasPrefix(u, "/?page=") {
			t.Errorf("%s fetched with no hops allowed", u)
		}
	}
}

// socksProxy is a real SOCKS5 server on loopback that resolves one made-up
// name (so only a crawler that lets the proxy resolve names can reach it)
// and records what it was asked to connect to.
type socksProxy struct {
	addr string

	mu    sync.Mutex
	names []string // FQDNs requested by clients
	dials []string // addresses the proxy connected to
}

type mapResolver struct{ name string }

func (m mapResolver) Resolve(ctx context.Context, name string) (context.Context, net.IP, error) {
	if name == m.name {
		return ctx, net.IPv4(127, 0, 0, 1), nil
	}
	return ctx, nil, fmt.Errorf("proxy resolver: unknown host %q", name)
}

type recordRule struct{ p *socksProxy }

func (r recordRule) Allow(ctx context.Context, req *socks5.Request) (context.Context, bool) {
	r.p.mu.Lock()
	r.p.names = append(r.p.names, req.RawDestAddr.FQDN)
	r.p.mu.Unlock()
	return ctx, true
}

func startSocks(t *testing.T, name string) *socksProxy {
	t.Helper()
	p := &socksProxy{}
	var d net.Dialer
	srv := socks5.NewServer(
		socks5.WithResolver(mapResolver{name: name}),
		socks5.WithRule(recordRule{p}),
		socks5.WithDial(func(ctx context.Context, network, addr string) (net.Conn, error) {
			p.mu.Lock()
			p.dials = append(p.dials, addr)
			p.mu.Unlock()
			return d.DialContext(ctx, network, addr)
		}),
	)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() { _ = srv.Serve(ln) }()
	p.addr = ln.Addr().String()
	return p
}

// TestSOCKS5Proxy: with Options.Proxy the crawl goes through the proxy,
// which resolves the site's name (as Tor does for .onion).
// onionSite serves the sample leak site on loopback behind a SOCKS5 proxy
// that resolves onion to it, and returns the site, its address, the proxy
// and the seed URL by the onion name.
func onionSite(t *testing.T, onion string) (*leaksim.Site, net.Addr, *socksProxy, string) {
	t.Helper()
	site := sampleSite(leaksim.Options{DisableHuge: true})
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	addr, err := site.Serve(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxy := startSocks(t, onion)
	_, port, _ := net.SplitHostPort(addr.String())
	return site, addr, proxy, "http://" + onion + ":" + port + "/"
}

func TestSOCKS5Proxy(t *testing.T) {
	const onion = "kealeaksxyzsimulated.onion"
	site, addr, proxy, seed := onionSite(t, onion)
	_, port, _ := net.SplitHostPort(addr.String())

	sink := &memSink{}
	st, err := crawl(t, Options{Proxy: "socks5h://" + proxy.addr}, seed, sink)
	if err != nil {
		t.Fatalf("Crawl via proxy: %v", err)
	}
	atts := site.Attachments()
	for _, a := range atts {
		u := "http://" + onion + ":" + port + a.Path
		if f := sink.get(t, u); f.Err != nil || f.Digest.SHA256 != a.SHA256 || f.Host != onion {
			t.Errorf("%s via proxy: err %v digest %+v host %q", a.Path, f.Err, f.Digest, f.Host)
		}
	}
	if st.Pages == 0 || st.Files != 2*len(atts) {
		t.Errorf("stats %+v", st)
	}

	proxy.mu.Lock()
	names, dials := append([]string(nil), proxy.names...), append([]string(nil), proxy.dials...)
	proxy.mu.Unlock()
	if len(dials) == 0 {
		t.Fatal("the proxy saw no connections")
	}
	for _, n := range names {
		if n != onion {
			t.Errorf("proxy asked for %q", n)
		}
	}
	for _, d := range dials {
		if d != addr.String() {
			t.Errorf("proxy dialled %s, want the site at %s", d, addr)
		}
	}
	t.Logf("proxy: %d connections for %d site requests", len(dials), func() int {
		n := 0
		for _, v := range site.Requests() {
			n += v
		}
		return n
	}())

	// Without the proxy the name does not resolve: the crawler really
	// depended on it.
	direct := &memSink{}
	if _, err := crawl(t, Options{}, seed, direct); err != nil {
		t.Fatalf("direct crawl: %v", err)
	}
	if f := direct.get(t, seed); f.Err == nil {
		t.Errorf("direct fetch of %s succeeded without the proxy", seed)
	}
}

func TestNewRejectsBadProxy(t *testing.T) {
	for _, p := range []string{"ftp://127.0.0.1:21", "socks4://127.0.0.1:9050", "127.0.0.1:9050", "://bad"} {
		if _, err := New(Options{Proxy: p}); err == nil {
			t.Errorf("New(Proxy %q) accepted", p)
		}
	}
	for _, p := range []string{"socks5h://127.0.0.1:9050", "socks5://127.0.0.1:9050", "http://127.0.0.1:8080"} {
		c, err := New(Options{Proxy: p})
		if err != nil {
			t.Errorf("New(Proxy %q): %v", p, err)
			continue
		}
		c.Close()
	}
}

// TestRawBytesAreHashed: what is hashed is what came over the wire, not
// what colly makes of it (it gunzips gzip types and transcodes charsets).
func TestRawBytesAreHashed(t *testing.T) {
	var plain bytes.Buffer
	for i := range 200 {
		fmt.Fprintf(&plain, "ZZZ%04d,Synthetic Patient %d,vaccination,2024-01-%02d\n", 16+8*i, i, i%28+1)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(plain.Bytes())
	_ = zw.Close()
	gzBytes := gz.Bytes()

	gzPage := func() []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = io.WriteString(zw, `<!doctype html><html><body><a href="/after-gz.html">next</a></body></html>`)
		_ = zw.Close()
		return b.Bytes()
	}()
	// "Données médicales — vérifiées" in ISO-8859-1: é is 0xE9, not UTF-8.
	latin1 := []byte("<!doctype html><html><head><meta charset=\"iso-8859-1\"></head><body><p>Donn\xe9es m\xe9dicales v\xe9rifi\xe9es</p><a href=\"/after-latin1.html\">suite</a></body></html>")

	mux := http.NewServeMux()
	ts, _ := newServer(t, mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<a href="/dump.csv.gz">dump</a> <a href="/gz.html">gz</a> <a href="/latin1.html">latin1</a>`)
	})
	mux.HandleFunc("/dump.csv.gz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-gzip")
		_, _ = w.Write(gzBytes)
	})
	mux.HandleFunc("/gz.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(gzPage)
	})
	mux.HandleFunc("/latin1.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=ISO-8859-1")
		_, _ = w.Write(latin1)
	})
	mux.HandleFunc("/after-gz.html", func(w http.ResponseWriter, r *http.Request) { html(w, "gz links followed") })
	mux.HandleFunc("/after-latin1.html", func(w http.ResponseWriter, r *http.Request) { html(w, "latin1 links followed") })

	sink := &memSink{}
	if _, err := crawl(t, Options{}, ts.URL+"/", sink); err != nil {
		t.Fatalf("Crawl: %v", err)
	}

	f := sink.get(t, ts.URL+"/dump.csv.gz")
	if f.Kind != storage.CaptureFile || f.Err != nil {
		t.Fatalf("gzip file: kind %q err %v", f.Kind, f.Err)
	}
	if f.Digest.SHA256 != sum(gzBytes) || f.Digest.Size != int64(len(gzBytes)) {
		t.Errorf("gzip file: digest %s/%d; want raw gzip %s/%d (decompressed would be %s/%d)",
			f.Digest.SHA256, f.Digest.Size, sum(gzBytes), len(gzBytes), sum(plain.Bytes()), plain.Len())
	}
	if f.Digest.Sniffed != "application/x-gzip" || f.ContentType != "application/x-gzip" {
		t.Errorf("gzip file: sniffed %q, content type %q", f.Digest.Sniffed, f.ContentType)
	}

	p := sink.get(t, ts.URL+"/gz.html")
	if p.Kind != storage.CapturePage || p.Err != nil || p.Digest.SHA256 != sum(gzPage) || p.Digest.Size != int64(len(gzPage)) {
		t.Errorf("gzip-encoded page: kind %q err %v digest %+v; want sha256 of the %d raw gzip bytes", p.Kind, p.Err, p.Digest, len(gzPage))
	}
	l := sink.get(t, ts.URL+"/latin1.html")
	if l.Kind != storage.CapturePage || l.Err != nil || l.Digest.SHA256 != sum(latin1) || l.Digest.Size != int64(len(latin1)) {
		t.Errorf("latin1 page: kind %q err %v digest %+v; want sha256 of the %d raw bytes", l.Kind, l.Err, l.Digest, len(latin1))
	}
	// colly still parsed both (it decodes for parsing only).
	for _, u := range []string{"/after-gz.html", "/after-latin1.html"} {
		if f := sink.get(t, ts.URL+u); f.Err != nil {
			t.Errorf("%s: %v", u, f.Err)
		}
	}
}

// TestPageCap: a page of exactly MaxPageBytes is complete; one byte more is
// truncated, and says so. Both with and without Content-Length.
func TestPageCap(t *testing.T) {
	const capBytes = 2048
	mk := func(n int) []byte {
		b := []byte("<!doctype html><html><body><p>")
		b = append(b, bytes.Repeat([]byte("x"), n-len(b)-len("</p></body></html>"))...)
		return append(b, "</p></body></html>"...)
	}
	exact, over := mk(capBytes), mk(capBytes+1)
	serve := func(body []byte, chunked bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			if !chunked {
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				_, _ = w.Write(body)
				return
			}
			rc := http.NewResponseController(w)
			for off := 0; off < len(body); off += 512 {
				_, _ = w.Write(body[off:min(off+512, len(body))])
				_ = rc.Flush()
			}
			// The last chunk is out; the terminating zero-length chunk
			// follows a moment later, as from a server still generating.
			time.Sleep(100 * time.Millisecond)
		}
	}
	mux := http.NewServeMux()
	ts, _ := newServer(t, mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<a href="/exact">a</a><a href="/over">b</a><a href="/exact-chunked">c</a><a href="/over-chunked">d</a>`)
	})
	mux.HandleFunc("/exact", serve(exact, false))
	mux.HandleFunc("/over", serve(over, false))
	mux.HandleFunc("/exact-chunked", serve(exact, true))
	mux.HandleFunc("/over-chunked", serve(over, true))

	sink := &memSink{}
	if _, err := crawl(t, Options{MaxPageBytes: capBytes}, ts.URL+"/", sink); err != nil {
		t.Fatalf("Crawl: %v", err)
	}
	for _, p := range []string{"/exact", "/exact-chunked"} {
		f := sink.get(t, ts.URL+p)
		if f.Err != nil || f.Digest.Truncated || f.Digest.SHA256 != sum(exact) || f.Digest.Size != capBytes {
			t.Errorf("%s: err %v digest %+v; want complete, sha256 of %d bytes", p, f.Err, f.Digest, capBytes)
		}
	}
	for _, p := range []string{"/over", "/over-chunked"} {
		f := sink.get(t, ts.URL+p)
		if f.Err == nil || !f.Digest.Truncated {
			t.Errorf("%s: err %v digest %+v; want truncated with an error", p, f.Err, f.Digest)
		}
	}
}

// TestDownloadKeepsSessionCookie: a forum that sets a session cookie on the
// thread page and checks it on the attachment is still captured.
func TestDownloadKeepsSessionCookie(t *testing.T) {
	secret := []byte("%PDF-1.4 synthetic attachment for ZAC5361\n%%EOF\n")
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "s3cret", Path: "/"})
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, `<a href="/att/1.pdf">sample</a>`)
	})
	mux.HandleFunc("/att/1.pdf", func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie("sid"); err != nil || c.Value != "s3cret" {
			http.Error(w, "login required", http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/pdf")
		w.Write(secret)
	})
	ts := httptest.NewServer(mux)
	defer ts.Close()
	sink := &memSink{}
	if _, err := crawl(t, Options{}, ts.URL+"/", sink); err != nil {
		t.Fatal(err)
	}
	var got *Fetch
	for i, f := range sink.fetches {
		if f.Kind == storage.CaptureFile {
			got = &sink.fetches[i]
		}
	}
	if got == nil || got.Err != nil || got.Status != 200 || got.Digest.SHA256 != sum(secret) {
		t.Fatalf("attachment capture = %+v\n%s", got, sink.dump())
	}
}
