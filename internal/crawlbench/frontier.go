package crawlbench

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/leakwatch/leakwatch/crawlers/webcrawl"
)

// FrontierResult is the frontier check: a crawl of a site whose list pages
// link URLs distinct URLs, all of which the crawler queues (breadth first)
// before it fetches the first.
type FrontierResult struct {
	URLs      int // distinct leaf URLs linked
	ListPages int // pages linking them, frontierPerList each
	// PeakQueued is the most URLs linked but not yet requested at once,
	// counted server-side: the crawler's frontier, give or take the
	// fetches in flight.
	PeakQueued int
	Pages      int // HTML pages fetched (list pages and leaves)
	Failed     int
	Elapsed    time.Duration
	Stopped    string // why the crawl ended (run budget, done)
	Workers    int
	Budget     time.Duration
	CPU        time.Duration // this process's: crawler and server
	// BaselineRSS is the process RSS before the crawl, PeakRSS its peak
	// during it (bytes).
	BaselineRSS, PeakRSS int64
	PeakIsLifetime       bool
	LiveHeapIncrease     int64 // see CrawlResult
}

// PagesPerSec is the crawl's throughput.
func (f FrontierResult) PagesPerSec() float64 { return rate(float64(f.Pages), f.Elapsed) }

// RSSIncrease is how much the crawl raised the process's RSS.
func (f FrontierResult) RSSIncrease() int64 { return max(0, f.PeakRSS-f.BaselineRSS) }

// frontierSite serves "/" linking list pages /list?page=N, each linking
// frontierPerList leaf pages /item/<n>/<slug>, each a tiny page linking
// back to "/". Leaf URLs look like forum thread URLs in length.
type frontierSite struct {
	urls, lists int

	mu      sync.Mutex
	linked  int // leaf links served
	fetched int // leaf pages served
	peak    int // max(linked - fetched)
}

func newFrontierSite(urls int) *frontierSite {
	return &frontierSite{urls: urls, lists: (urls + frontierPerList - 1) / frontierPerList}
}

func (s *frontierSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	b.WriteString("<!doctype html><html><head><meta charset=\"utf-8\"><title>frontier</title></head><body><main>\n")
	switch {
	case r.URL.Path == "/":
		for p := 1; p <= s.lists; p++ {
			fmt.Fprintf(&b, "<a href=\"/list?page=%d\">%d</a>\n", p, p)
		}
	case r.URL.Path == "/list":
		p, err := strconv.Atoi(r.URL.Query().Get("page"))
		if err != nil || p < 1 || p > s.lists {
			http.NotFound(w, r)
			return
		}
		lo, hi := (p-1)*frontierPerList, min(p*frontierPerList, s.urls)
		b.Grow((hi - lo) * 110)
		for i := lo; i < hi; i++ {
			fmt.Fprintf(&b, "<p><a href=\"/item/%d/kea-health-patient-portal-dump-part-%d\">Kea Health patient portal dump part %d</a></p>\n", i, i, i)
		}
		s.mu.Lock()
		s.linked += hi - lo
		s.peak = max(s.peak, s.linked-s.fetched)
		s.mu.Unlock()
	case strings.HasPrefix(r.URL.Path, "/item/"):
		s.mu.Lock()
		s.fetched++
		s.mu.Unlock()
		fmt.Fprintf(&b, "<article class=\"post\"><p>synthetic item %s</p></article>\n<a href=\"/\">home</a>\n", strings.TrimPrefix(r.URL.Path, "/item/"))
	default:
		http.NotFound(w, r)
		return
	}
	b.WriteString("</main></body></html>\n")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte(b.String()))
}

// runFrontier crawls a frontier site of urls leaves until done or budget.
func runFrontier(ctx context.Context, urls, workers int, budget time.Duration) (FrontierResult, error) {
	site := newFrontierSite(urls)
	fr := FrontierResult{URLs: urls, ListPages: site.lists, Workers: workers, Budget: budget}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	srv, err := serve(sctx, site)
	if err != nil {
		return fr, err
	}
	cr, err := webcrawl.New(webcrawl.Options{
		Workers: workers, MaxPages: urls + site.lists + 10, RunBudget: budget, KeepBody: 0,
	})
	if err != nil {
		return fr, err
	}
	defer cr.Close()
	settle()
	fr.BaselineRSS = rss("VmRSS")
	fr.PeakIsLifetime = !resetPeak()
	cpu := cpuTime()
	heap := sampleLiveHeap()
	st, err := cr.Crawl(ctx, srv.url+"/", &countSink{found: map[string]bool{}})
	fr.LiveHeapIncrease = heap()
	fr.CPU = cpuTime() - cpu
	fr.PeakRSS = rss("VmHWM")
	if err != nil {
		return fr, fmt.Errorf("crawlbench: frontier crawl: %w", err)
	}
	fr.Pages, fr.Failed, fr.Elapsed, fr.Stopped = st.Pages, st.Failed, st.Elapsed, st.Stopped
	site.mu.Lock()
	fr.PeakQueued = site.peak
	site.mu.Unlock()
	stop()
	srv.wait()
	return fr, nil
}
