package capture

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/leakwatch/leakwatch/crawlers/webcrawl"
	"github.com/leakwatch/leakwatch/internal/testkit/leaksim"
)

// frontierSink is the pipeline's WebSink, failing on purpose after
// failAfter captures (a crash, as far as the crawl can tell).
type frontierSink struct {
	WebSink
	mu        sync.Mutex
	captures  int
	failAfter int
}

var errCrash = errors.New("simulated crash")

func (s *frontierSink) Capture(ctx context.Context, f webcrawl.Fetch) error {
	s.mu.Lock()
	s.captures++
	n := s.captures
	s.mu.Unlock()
	if s.failAfter > 0 && n > s.failAfter {
		return errCrash
	}
	return s.WebSink.Capture(ctx, f)
}

// A crawl interrupted part-way resumes where it stopped: the pages it had
// fetched are not fetched again, the rest of the site is, and every
// attachment is captured exactly once.
func TestCrawlResumesFromItsFrontier(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "")
	site := leaksim.New(leaksim.Options{Logger: slog.New(slog.DiscardHandler), DisableHuge: true, DisableMissing: true, DisableRedirect: true,
		Files: []leaksim.File{
			{Name: "a.txt", Data: []byte("first synthetic file\n"), Thread: "one"},
			{Name: "b.txt", Data: []byte("second synthetic file\n"), Thread: "two"},
			{Name: "c.txt", Data: []byte("third synthetic file\n"), Thread: "three"},
		}})
	ts := httptest.NewServer(site)
	defer ts.Close()
	run, err := f.store.StartRun(ctx, f.run.SourceID)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := f.p.ForRun(run)
	if err != nil {
		t.Fatal(err)
	}
	crawl := func(s *frontierSink) error {
		c, err := webcrawl.New(webcrawl.Options{Workers: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, err = c.Crawl(ctx, ts.URL+"/", s)
		return err
	}
	if err := crawl(&frontierSink{WebSink: WebSink{Run: rec}, failAfter: 3}); !errors.Is(err, errCrash) {
		t.Fatalf("first attempt: %v; want the simulated crash", err)
	}
	before := site.RequestURIs()
	if err := crawl(&frontierSink{WebSink: WebSink{Run: rec}}); err != nil {
		t.Fatalf("resumed crawl: %v", err)
	}
	after := site.RequestURIs()
	caps, err := f.store.CapturesOfRun(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	captured := map[string]int{}
	for _, c := range caps {
		captured[strings.TrimPrefix(c.URL, ts.URL)]++
	}
	// The seed was recorded before the crash: the resumed crawl must not
	// walk the site again from it.
	if after["/"] != before["/"] || captured["/"] != 1 {
		t.Errorf("seed requested %d then %d times, captured %d; want no second request", before["/"], after["/"], captured["/"])
	}
	for _, a := range site.Attachments() {
		if captured[a.Path] != 1 {
			t.Errorf("%s captured %d times, want 1", a.Path, captured[a.Path])
		}
	}
	todo, _, err := rec.RestoreFrontier(ctx)
	if err != nil || len(todo) != 0 {
		t.Errorf("frontier after the resumed crawl: %d left (%v); want none", len(todo), err)
	}
}
