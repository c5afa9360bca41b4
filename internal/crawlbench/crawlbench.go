// Package crawlbench measures the web crawler (crawlers/webcrawl) against a
// generated forum served on loopback: pages/s, files/s, MB/s and peak RSS,
// beside `wget --mirror` on the same site in the same run, and the RSS of a
// crawl whose frontier holds a given number of URLs. It backs
// `leakwatch bench crawl`. Like refeval it is a measurement package, so it
// may use the leaksim fixture; product code must not import it.
package crawlbench

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/leakwatch/leakwatch/crawlers/webcrawl"
	"github.com/leakwatch/leakwatch/internal/testkit/leaksim"
	"github.com/leakwatch/leakwatch/storage"
)

// Defaults of Options.
const (
	DefaultPages          = 10_000
	DefaultAttachments    = 1_000
	DefaultWorkers        = 4
	DefaultFrontierBudget = 5 * time.Minute
	// postsPerThread / postsPerPage thread pages per thread.
	postsPerThread = 100
	postsPerPage   = 10
	maxBoards      = 10
	// Attachment sizes are log-uniform in [minAttachment, maxAttachment].
	minAttachment = 20 << 10
	maxAttachment = 300 << 10
	// frontierPerList is how many leaf URLs one list page of the frontier
	// site links.
	frontierPerList = 1000
)

// Options shape a benchmark run. Zero values take the defaults.
type Options struct {
	// Pages is the number of thread pages of the generated forum, rounded
	// up to whole threads of 10 pages; board pages, the index, the
	// announcement and the rules page come on top. Default DefaultPages:
	// 1,000 threads on 10 boards.
	Pages int
	// Attachments is the number of synthetic attachments (pseudo-random
	// PDF and JPEG bytes of 20–300 KB). Default DefaultAttachments; negative
	// means none.
	Attachments int
	// Workers is the crawler's concurrency for the main run (all on the
	// one host). Default DefaultWorkers.
	Workers int
	// Wget also mirrors the site with wget (one connection) and crawls it
	// with leakwatch at Workers 1, for the comparison at equal per-host
	// concurrency. Skipped, with WgetSkipped saying why, when wget is not
	// found.
	Wget bool
	// WgetPath is the wget binary; empty looks it up on PATH.
	WgetPath string
	// Frontier, if positive, adds the frontier check: a second site whose
	// list pages link Frontier distinct URLs, all queued before the first
	// of them is fetched, crawled to the end or to FrontierBudget.
	Frontier       int
	FrontierBudget time.Duration // default DefaultFrontierBudget
	Seed           uint64
	// LiveRender serves every page rendered per request by the site's
	// templates, as the site does, instead of pre-rendered (see static).
	LiveRender bool
	// Progress, if set, receives a line as each stage starts.
	Progress io.Writer
}

func (o *Options) setDefaults() {
	if o.Pages <= 0 {
		o.Pages = DefaultPages
	}
	switch {
	case o.Attachments == 0:
		o.Attachments = DefaultAttachments
	case o.Attachments < 0:
		o.Attachments = 0
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.FrontierBudget <= 0 {
		o.FrontierBudget = DefaultFrontierBudget
	}
}

// SiteInfo describes the generated forum.
type SiteInfo struct {
	URL             string
	Pages           int // HTML pages a crawler reaches (leaksim PagePaths)
	BoardPages      int
	ThreadPages     int
	Threads, Boards int
	Attachments     int
	AttachmentBytes int64
	BuildTime       time.Duration
	// Prerendered: pages were rendered once, in PrerenderTime, and served
	// as stored bytes (false: rendered per request).
	Prerendered   bool
	PrerenderTime time.Duration
	RSS           int64 // process RSS once the site is built and served (bytes)
}

// Served is what the server answered during one run, counted server-side
// the same way whoever crawls.
type Served struct {
	Requests int   // every response
	Pages    int   // 200 text/html
	Files    int   // 200 anything else
	Errors   int   // status >= 400
	Bytes    int64 // response body bytes written
}

// CrawlResult is one crawl of the forum, by leakwatch or wget.
type CrawlResult struct {
	Tool    string // "leakwatch" or "wget"
	Workers int    // concurrent connections to the host
	Pages   int    // HTML pages fetched
	Files   int    // attachments downloaded
	Failed  int    // fetches that captured nothing
	Bytes   int64  // raw bytes received
	Elapsed time.Duration
	Stopped string // leakwatch: why the crawl ended
	Served  Served
	// AttachmentsFound counts the site's attachments that were downloaded
	// complete (leakwatch: captured by the sink; wget: served in full).
	AttachmentsFound int
	AttachmentsWant  int
	Missing          []string // up to 10 attachment paths not found
	// BaselineRSS is the process RSS just before the crawl (leakwatch:
	// the site included); PeakRSS the process's peak during it. For wget,
	// PeakRSS is its own process's, sampled every 10ms (BaselineRSS 0).
	BaselineRSS, PeakRSS int64
	// PeakIsLifetime: the kernel would not reset the peak, so PeakRSS is
	// the process's lifetime peak (site generation included).
	PeakIsLifetime bool
	// LiveHeapIncrease (leakwatch) is the most the live Go heap (as of
	// each GC) grew over its size before the crawl, sampled: what the
	// crawl held, without the garbage the GC lets pile up in proportion
	// to the whole live heap, which here is mostly the site's
	// attachments.
	LiveHeapIncrease int64
	// FilesWritten (wget) is the number of files left in its directory.
	FilesWritten int
	ExitStatus   int // wget
	// CPU is the processor time spent during the crawl: this process's
	// (the server, and leakwatch's crawler) plus, for wget, wget's.
	CPU time.Duration
}

// PagesPerSec, FilesPerSec and MBPerSec are throughputs over Elapsed.
func (c CrawlResult) PagesPerSec() float64 { return rate(float64(c.Pages), c.Elapsed) }
func (c CrawlResult) FilesPerSec() float64 { return rate(float64(c.Files), c.Elapsed) }
func (c CrawlResult) MBPerSec() float64    { return rate(float64(c.Bytes)/1e6, c.Elapsed) }

// RSSIncrease is how much the crawl raised the process's RSS above its
// baseline (for wget, its whole peak).
func (c CrawlResult) RSSIncrease() int64 { return max(0, c.PeakRSS-c.BaselineRSS) }

// AllAttachments reports whether every attachment of the site was found.
func (c CrawlResult) AllAttachments() bool { return c.AttachmentsFound == c.AttachmentsWant }

func rate(n float64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return n / d.Seconds()
}

// Result is a whole benchmark run.
type Result struct {
	Site SiteInfo
	// Crawls: leakwatch at Options.Workers; with Options.Wget, then
	// leakwatch at 1 worker and wget.
	Crawls      []CrawlResult
	WgetSkipped string // why wget was not run, when it was asked for
	Frontier    *FrontierResult
	// LoadBefore and LoadAfter are the machine's 1-minute load average
	// before and after the crawls: other work on the machine slows them.
	LoadBefore, LoadAfter float64
	CPUs                  int
}

// Leakwatch returns the leakwatch crawl at the given workers.
func (r Result) Leakwatch(workers int) (CrawlResult, bool) {
	for _, c := range r.Crawls {
		if c.Tool == "leakwatch" && c.Workers == workers {
			return c, true
		}
	}
	return CrawlResult{}, false
}

// Wget returns the wget crawl, if there was one.
func (r Result) Wget() (CrawlResult, bool) {
	for _, c := range r.Crawls {
		if c.Tool == "wget" {
			return c, true
		}
	}
	return CrawlResult{}, false
}

// Run generates the forum, serves it on loopback and crawls it (see
// Options).
func Run(ctx context.Context, o Options) (Result, error) {
	o.setDefaults()
	var res Result
	progress := func(format string, args ...any) {
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, format+"\n", args...)
		}
	}
	progress("generating a forum of %d thread pages and %d attachments", o.Pages, o.Attachments)
	f, err := newForum(o.Pages, o.Attachments, o.Seed)
	if err != nil {
		return res, err
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	var h http.Handler = f.site
	if !o.LiveRender {
		progress("pre-rendering the forum's pages")
		st, took, err := prerender(f.site, f.site.PagePaths())
		if err != nil {
			return res, err
		}
		h, f.info.Prerendered, f.info.PrerenderTime = st, true, took
	}
	srv, err := serve(sctx, h)
	if err != nil {
		return res, err
	}
	f.info.URL = srv.url
	settle()
	f.info.RSS = rss("VmRSS")
	res.Site = f.info
	res.CPUs, res.LoadBefore = runtime.NumCPU(), loadAvg()
	maxPages := 2*f.info.Pages + f.info.Attachments + 1000

	workers := []int{o.Workers}
	var wget string
	if o.Wget {
		p := o.WgetPath
		if p == "" {
			p = "wget"
		}
		if wget, err = execLookPath(p); err != nil {
			res.WgetSkipped = fmt.Sprintf("wget not found (%s); install it to compare", p)
			wget = ""
		} else if o.Workers != 1 {
			workers = append(workers, 1)
		}
	}
	for _, w := range workers {
		progress("crawling %s with leakwatch, %d worker(s)", srv.url, w)
		c, err := crawlForum(ctx, srv, f, w, maxPages)
		if err != nil {
			return res, err
		}
		res.Crawls = append(res.Crawls, c)
	}
	if wget != "" {
		progress("mirroring %s with %s --mirror", srv.url, wget)
		c, err := runWget(ctx, wget, srv, f)
		if err != nil {
			return res, err
		}
		res.Crawls = append(res.Crawls, c)
	}
	res.LoadAfter = loadAvg()
	stop()
	srv.wait()
	if o.Frontier > 0 {
		// The forum is garbage by now; runFrontier collects it before
		// taking its baseline.
		progress("crawling a site with a %d-URL frontier (budget %s)", o.Frontier, o.FrontierBudget)
		fr, err := runFrontier(ctx, o.Frontier, o.Workers, o.FrontierBudget)
		if err != nil {
			return res, err
		}
		res.Frontier = &fr
	}
	return res, nil
}

// forum is the generated site and what a complete crawl must find.
type forum struct {
	site        *leaksim.Site
	info        SiteInfo
	attachments map[string]bool // URL paths
}

// shape returns the forum layout for pages thread pages, rounded up to
// whole threads of postsPerThread/postsPerPage pages: the threads spread
// evenly over as many boards as divide them, up to maxBoards.
func shape(pages int) (boards, perBoard int) {
	const perThread = postsPerThread / postsPerPage
	threads := max(1, (pages+perThread-1)/perThread)
	boards = 1
	for b := min(maxBoards, threads); b > 1; b-- {
		if threads%b == 0 {
			boards = b
			break
		}
	}
	return boards, threads / boards
}

// newForum builds the forum with every hostile feature off, so the site is
// the same set of pages and files for every crawler.
func newForum(pages, attachments int, seed uint64) (*forum, error) {
	start := time.Now()
	boards, perBoard := shape(pages)
	fo := leaksim.ForumOptions{
		Boards: boards, ThreadsPerBoard: perBoard,
		PostsPerThread: postsPerThread, PostsPerPage: postsPerPage,
		Attachments: syntheticFiles(attachments, seed),
		Documents:   syntheticDocuments(),
		Excerpts:    boards * perBoard / 10,
		Seed:        seed,
	}
	opts := leaksim.GenerateForum(fo)
	opts.DisableMissing, opts.DisableHuge, opts.DisableOffsite, opts.DisableRedirect, opts.DisableLoop = true, true, true, true, true
	opts.Logger = quietLogger()
	site := leaksim.New(opts) // it copies the files: fo's and opts' are garbage from here on
	f := &forum{site: site, attachments: map[string]bool{}}
	f.info.Boards, f.info.Threads = boards, boards*perBoard
	for _, p := range site.PagePaths() {
		f.info.Pages++
		switch {
		case strings.HasPrefix(p, "/board/"):
			f.info.BoardPages++
		case strings.HasPrefix(p, "/thread/") && p != leaksim.DumpThreadPath:
			f.info.ThreadPages++
		}
	}
	for _, a := range site.Attachments() {
		f.attachments[a.Path] = true
		f.info.Attachments++
		f.info.AttachmentBytes += a.Size
	}
	if f.info.Attachments != attachments {
		return nil, fmt.Errorf("crawlbench: the forum has %d attachments, want %d", f.info.Attachments, attachments)
	}
	f.info.BuildTime = time.Since(start)
	return f, nil
}

// syntheticFiles returns n attachments of pseudo-random bytes behind a PDF
// or JPEG header, log-uniform in size between minAttachment and
// maxAttachment. They are not real documents; a crawler only moves them.
func syntheticFiles(n int, seed uint64) []leaksim.File {
	if n <= 0 {
		return nil
	}
	rng := rand.New(rand.NewPCG(seed, 0xa77ac4))
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	src := rand.NewChaCha8(key)
	lo, hi := math.Log(minAttachment), math.Log(maxAttachment)
	files := make([]leaksim.File, n)
	for i := range files {
		size := int(math.Exp(lo + rng.Float64()*(hi-lo)))
		data := make([]byte, size)
		_, _ = src.Read(data)
		var name string
		switch i % 3 {
		case 0, 1:
			name = fmt.Sprintf("scan-%05d.pdf", i)
			copy(data, "%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
			copy(data[len(data)-6:], "%%EOF\n")
		default:
			name = fmt.Sprintf("photo-%05d.jpg", i)
			copy(data, "\xff\xd8\xff\xe0\x00\x10JFIF\x00")
			copy(data[len(data)-2:], "\xff\xd9")
		}
		files[i] = leaksim.File{Name: name, Data: data}
	}
	return files
}

// syntheticDocuments are texts the forum pastes excerpts from: synthetic,
// with no personal data.
func syntheticDocuments() []leaksim.Document {
	note := strings.Repeat("Synthetic clinic letter for a test patient: reviewed at the outpatient clinic, "+
		"bloods within range, plan to repeat the panel in three months and review medication then. ", 8)
	memo := strings.Repeat("Synthetic internal memo: the quarterly roster moves to the new scheduling system "+
		"next month; team leads confirm cover for the holiday period by Friday. ", 8)
	return []leaksim.Document{{Name: "letter.txt", Text: note}, {Name: "memo.txt", Text: memo}}
}

// countSink counts what the crawler captured and keeps nothing else.
type countSink struct {
	mu     sync.Mutex
	pages  int
	files  int
	failed int
	bytes  int64
	found  map[string]bool // URL paths of complete file downloads
}

func (s *countSink) Capture(_ context.Context, f webcrawl.Fetch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bytes += f.Digest.Size
	// Counted as the crawler's Stats count them; an attachment is found
	// only when downloaded complete.
	switch {
	case f.Kind == storage.CaptureFile && (f.Err == nil || f.Digest.Truncated):
		s.files++
		if u, err := url.Parse(f.URL); err == nil && f.Err == nil {
			s.found[u.EscapedPath()] = true
		}
	case f.Kind == storage.CapturePage && f.Err == nil:
		s.pages++
	default:
		s.failed++
	}
	return nil
}

func (s *countSink) Captured(context.Context, string) (bool, error) { return false, nil }

// crawlForum crawls the forum with leakwatch and checks every attachment
// was downloaded.
func crawlForum(ctx context.Context, srv *server, f *forum, workers, maxPages int) (CrawlResult, error) {
	c := CrawlResult{Tool: "leakwatch", Workers: workers, AttachmentsWant: len(f.attachments)}
	cr, err := webcrawl.New(webcrawl.Options{Workers: workers, MaxPages: maxPages, KeepBody: 0})
	if err != nil {
		return c, err
	}
	defer cr.Close()
	sink := &countSink{found: map[string]bool{}}
	settle()
	c.BaselineRSS = rss("VmRSS")
	c.PeakIsLifetime = !resetPeak()
	srv.count.reset()
	cpu := cpuTime()
	heap := sampleLiveHeap()
	st, err := cr.Crawl(ctx, srv.url+"/", sink)
	c.LiveHeapIncrease = heap()
	c.CPU = cpuTime() - cpu
	c.PeakRSS = rss("VmHWM")
	c.Served = srv.count.snapshot()
	if err != nil {
		return c, fmt.Errorf("crawlbench: leakwatch crawl: %w", err)
	}
	c.Pages, c.Files, c.Failed, c.Bytes, c.Elapsed, c.Stopped = st.Pages, st.Files, st.Failed, st.Bytes, st.Elapsed, st.Stopped
	if sink.pages != st.Pages || sink.files != st.Files {
		return c, fmt.Errorf("crawlbench: the sink saw %d pages and %d files, the crawler reports %d and %d",
			sink.pages, sink.files, st.Pages, st.Files)
	}
	c.AttachmentsFound, c.Missing = found(f.attachments, sink.found)
	return c, nil
}

// found counts the wanted paths that were found and lists up to ten that
// were not.
func found(want, got map[string]bool) (int, []string) {
	n := 0
	var missing []string
	for p := range want {
		switch {
		case got[p]:
			n++
		case len(missing) < 10:
			missing = append(missing, p)
		}
	}
	return n, missing
}

// server serves a handler on loopback and counts what it answers.
type server struct {
	url   string
	count *counter
	done  chan struct{}
}

func (s *server) wait() { <-s.done }

func serve(ctx context.Context, h http.Handler) (*server, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("crawlbench: listen on loopback: %w", err)
	}
	s := &server{url: "http://" + ln.Addr().String(), count: newCounter(), done: make(chan struct{})}
	hs := &http.Server{
		Handler:           s.count.wrap(h),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       time.Minute,
	}
	go func() { _ = hs.Serve(ln) }()
	go func() {
		defer close(s.done)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if hs.Shutdown(sctx) != nil {
			_ = hs.Close()
		}
	}()
	return s, nil
}

// counter counts responses server-side.
type counter struct {
	mu       sync.Mutex
	s        Served
	files    map[string]bool // paths of non-HTML 200 responses sent in full
	inflight int             // handlers running
}

func newCounter() *counter { return &counter{files: map[string]bool{}} }

// quiesce waits (up to 5s) until no handler runs: a client can have read
// a whole response before its handler returns and is counted.
func (c *counter) quiesce() {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		c.mu.Lock()
		n := c.inflight
		c.mu.Unlock()
		if n == 0 {
			return
		}
	}
}

func (c *counter) reset() {
	c.quiesce()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.s = Served{}
	c.files = map[string]bool{}
}

func (c *counter) snapshot() Served {
	c.quiesce()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s
}

func (c *counter) servedFiles() map[string]bool {
	c.quiesce()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.files
}

func (c *counter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.inflight++
		c.mu.Unlock()
		cw := &countingWriter{ResponseWriter: w}
		defer c.count(cw, r)
		h.ServeHTTP(cw, r)
	})
}

// count records a response once its handler has returned.
func (c *counter) count(w *countingWriter, r *http.Request) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight--
	c.s.Requests++
	c.s.Bytes += w.n
	switch {
	case w.status >= 400:
		c.s.Errors++
	case w.status != http.StatusOK:
	case strings.HasPrefix(w.Header().Get("Content-Type"), "text/html"):
		c.s.Pages++
	default:
		c.s.Files++
		if cl, err := strconv.ParseInt(w.Header().Get("Content-Length"), 10, 64); err != nil || cl == w.n {
			c.files[r.URL.EscapedPath()] = true
		}
	}
}

type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// settle collects garbage and returns freed memory to the OS, so an RSS
// baseline is what is live.
func settle() {
	runtime.GC()
	debug.FreeOSMemory()
}

// rss reads a size field (VmRSS, VmHWM) of /proc/self/status in bytes; 0
// where there is no /proc.
func rss(field string) int64 { return StatusField("/proc/self/status", field) }

// StatusField reads a size field (VmHWM, VmRSS) of a /proc/<pid>/status
// file in bytes; 0 where there is none.
func StatusField(path, field string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n << 10
		}
	}
	return 0
}

// sampleLiveHeap samples the live heap (runtime/metrics
// /gc/heap/live:bytes) every 10ms until the returned func is called, which
// returns the most it grew over its first value.
func sampleLiveHeap() func() int64 {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	read := func() int64 {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return int64(sample[0].Value.Uint64())
	}
	base := read()
	stop, done := make(chan struct{}), make(chan int64, 1)
	go func() {
		peak := base
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, read())
			select {
			case <-stop:
				done <- peak - base
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 {
		close(stop)
		return <-done
	}
}

// cpuTime is the processor time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAvg is the machine's 1-minute load average; 0 where unknown.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _, _ := strings.Cut(string(b), " ")
	v, _ := strconv.ParseFloat(f, 64)
	return v
}

// resetPeak resets the process's peak RSS (VmHWM) to its current RSS
// (Linux 4.0+), so a crawl's peak excludes building the site.
func resetPeak() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}
