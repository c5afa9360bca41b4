package capture

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/crawlers/webcrawl"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
	"github.com/leakwatch/leakwatch/storage"
)

// ttlForum is a small forum whose requests are counted per path: an index
// that changes every run, an old two-page thread with an attachment that
// is not the breach's, and a thread whose attachment is.
type ttlForum struct {
	mu     sync.Mutex
	hits   map[string]int
	run    int // the index shows it, so the listing changes every run
	newest bool
	lab    []byte
}

func (s *ttlForum) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.hits[r.URL.RequestURI()]++
	run, newest := s.run, s.newest
	s.mu.Unlock()
	page := func(body string) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<html><head><title>forum</title></head><body><nav><a href="/">index</a></nav>%s</body></html>`, body)
	}
	switch r.URL.RequestURI() {
	case "/":
		extra := ""
		if newest {
			extra = `<li><a href="/t/3">new thread</a></li>`
		}
		page(fmt.Sprintf(`<p>visit %d</p><ul><li><a href="/t/1">old thread</a></li><li><a href="/t/2">samples</a></li>%s</ul>`, run, extra))
	case "/t/1":
		page(`<div class="post">first post of an old thread</div><a href="/t/1?page=2">next</a>`)
	case "/t/1?page=2":
		page(`<div class="post">last post of an old thread</div><a href="/files/junk.bin">junk.bin</a>`)
	case "/t/2":
		page(`<div class="post">samples</div><a href="/files/lab.pdf">lab.pdf</a>`)
	case "/t/3":
		page(`<div class="post">a new thread</div>`)
	case "/files/junk.bin":
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(bytes.Repeat([]byte("not the breach "), 400))
	case "/files/lab.pdf":
		w.Header().Set("Content-Type", "application/pdf")
		w.Write(s.lab)
	default:
		http.NotFound(w, r)
	}
}

func (s *ttlForum) next() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.hits
	s.hits = map[string]int{}
	s.run++
	return h
}

// Pages and files that did not change are left alone within their revisit
// TTL, their links followed from the last crawl; the seed listing, what
// changed, what is new and what matched the breach are fetched every run.
func TestRevisitTTL(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "")
	site := &ttlForum{hits: map[string]int{}, lab: f.doc(t, synth.KindLabResult)}
	ts := httptest.NewServer(site)
	defer ts.Close()

	crawl := func(ttl RevisitTTL) (webcrawl.Stats, map[string]int, storage.CrawlRun) {
		t.Helper()
		run, err := f.store.StartRun(ctx, f.run.SourceID)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := f.p.ForRun(run)
		if err != nil {
			t.Fatal(err)
		}
		c, err := webcrawl.New(webcrawl.Options{KeepBody: 1 << 20, Kind: storage.SourceForum})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		st, err := c.Crawl(ctx, ts.URL+"/", WebSink{Run: rec, TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		return st, site.next(), run
	}
	ttl := RevisitTTL{Pages: time.Hour, Files: time.Hour}
	all := []string{"/", "/t/1", "/t/1?page=2", "/t/2", "/files/junk.bin", "/files/lab.pdf"}
	want := func(run string, got map[string]int, fetched ...string) {
		t.Helper()
		for _, p := range append(all, "/t/3") {
			w := 0
			for _, q := range fetched {
				if q == p {
					w = 1
				}
			}
			if got[p] != w {
				t.Errorf("%s: %s requested %d times, want %d (all requests: %v)", run, p, got[p], w, got)
			}
		}
	}

	// First crawl: everything. Second: still everything, as a first
	// fetch counts as a change (nothing to compare with).
	_, got, _ := crawl(ttl)
	want("run 1", got, all...)
	_, got, _ = crawl(ttl)
	want("run 2", got, all...)

	// Third: the threads and junk.bin did not change, so they rest; the
	// walk still passes through them on their stored links (the old
	// thread's second page, junk.bin, lab.pdf). The index is the seed and
	// is fetched; lab.pdf matched the breach and is checked; /t/3 is new.
	site.mu.Lock()
	site.newest = true
	site.mu.Unlock()
	st, got, run3 := crawl(ttl)
	want("run 3", got, "/", "/files/lab.pdf", "/t/3")
	if st.Fresh != 4 {
		t.Errorf("run 3: %d URLs fresh, want 4 (/t/1, its page 2, /t/2, junk.bin)", st.Fresh)
	}
	if st.Pages != 2 || st.Files != 1 {
		t.Errorf("run 3: %d pages and %d files fetched, want 2 and 1", st.Pages, st.Files)
	}
	// A fresh URL is not captured: there is no evidence of a fetch that
	// was not made.
	caps, err := f.store.CapturesOfRun(ctx, run3.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(caps) != 3 {
		t.Errorf("run 3: %d captures, want 3", len(caps))
	}

	// With a TTL that has run out, everything is fetched again.
	_, got, _ = crawl(RevisitTTL{Pages: time.Nanosecond, Files: time.Nanosecond})
	want("run 4", got, append(all, "/t/3")...)
	// And with no TTL (the zero value) every run fetches everything.
	_, got, _ = crawl(RevisitTTL{})
	want("run 5", got, append(all, "/t/3")...)
}

// A host's request budget holds across runs: what earlier runs sent counts.
func TestHostBudgetAcrossRuns(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "")
	site := &ttlForum{hits: map[string]int{}, lab: f.doc(t, synth.KindLabResult)}
	ts := httptest.NewServer(site)
	defer ts.Close()
	crawl := func(budget int) (webcrawl.Stats, int) {
		t.Helper()
		run, err := f.store.StartRun(ctx, f.run.SourceID)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := f.p.ForRun(run)
		if err != nil {
			t.Fatal(err)
		}
		c, err := webcrawl.New(webcrawl.Options{KeepBody: 1 << 20, HostBudget: budget, Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		st, err := c.Crawl(ctx, ts.URL+"/", WebSink{Run: rec})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, v := range site.next() {
			n += v
		}
		return st, n
	}
	st, n := crawl(8)
	if n != 6 || st.Stopped != webcrawl.StopDone {
		t.Fatalf("run 1: %d requests, stopped %q; want all 6 within a budget of 8", n, st.Stopped)
	}
	st, n = crawl(8)
	if n != 2 || st.Stopped != webcrawl.StopHostBudget {
		t.Fatalf("run 2: %d requests, stopped %q; want the 2 left of the budget, then %q", n, st.Stopped, webcrawl.StopHostBudget)
	}
	st, n = crawl(8)
	if n != 0 || st.Stopped != webcrawl.StopHostBudget {
		t.Fatalf("run 3: %d requests, stopped %q; want none", n, st.Stopped)
	}
}
