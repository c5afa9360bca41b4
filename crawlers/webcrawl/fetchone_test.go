package webcrawl

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/internal/testkit/hostile"
	"github.com/leakwatch/leakwatch/internal/testkit/leaksim"
	"github.com/leakwatch/leakwatch/storage"
)

func newSingleCrawler(t *testing.T, opts Options) *Crawler {
	t.Helper()
	opts.Logger = slog.New(slog.DiscardHandler)
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// FetchOne fetches the URL it is given and nothing else: a thread page is
// captured with its content and structural links, but the files it links
// are not requested; a file is downloaded and hashed; a removed file is an
// HTTP 404 captured as such.
func TestFetchOneFetchesOnlyThatURL(t *testing.T) {
	site := sampleSite(leaksim.Options{})
	ts, _ := newServer(t, site)
	atts := site.Attachments()
	c := newSingleCrawler(t, Options{KeepBody: 1 << 20})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	sink := &memSink{}
	thread := ts.URL + atts[0].ThreadPath
	f, err := c.FetchOne(ctx, thread+"#post-1", sink)
	if err != nil {
		t.Fatal(err)
	}
	if f.Err != nil || f.Kind != storage.CapturePage || f.Status != http.StatusOK || f.URL != thread || len(f.Body) == 0 {
		t.Fatalf("thread page: kind %s status %d url %s err %v body %d bytes", f.Kind, f.Status, f.URL, f.Err, len(f.Body))
	}
	if !slices.Contains(f.Links, ts.URL+atts[0].Path) {
		t.Errorf("the page's structural links %v lack its attachment %s", f.Links, atts[0].Path)
	}
	if got := sink.all(); len(got) != 1 || got[0].URL != thread {
		t.Fatalf("sink got %d fetches, want the page alone:\n%s", len(got), sink.dump())
	}
	reqs := site.Requests()
	for p, n := range reqs {
		if p != atts[0].ThreadPath {
			t.Errorf("%s requested %d times: FetchOne must request the page alone", p, n)
		}
	}
	if reqs[atts[0].ThreadPath] != 1 {
		t.Errorf("the page was requested %d times, want 1", reqs[atts[0].ThreadPath])
	}

	// A file, then the same file removed.
	file := ts.URL + atts[0].Path
	f, err = c.FetchOne(ctx, file, sink)
	if err != nil {
		t.Fatal(err)
	}
	if f.Err != nil || f.Kind != storage.CaptureFile || f.Digest.SHA256 != atts[0].SHA256 || f.Body == nil {
		t.Fatalf("file: kind %s err %v sha %s, want %s", f.Kind, f.Err, f.Digest.SHA256, atts[0].SHA256)
	}
	if !site.Remove(atts[0].Path) {
		t.Fatal("leaksim did not remove the file")
	}
	f, err = c.FetchOne(ctx, file, sink)
	if err != nil {
		t.Fatal(err)
	}
	if f.Status != http.StatusNotFound || f.Err == nil || ErrorKind(f.Err) != "http 4xx" {
		t.Fatalf("removed file: status %d err %v (%s), want a 404", f.Status, f.Err, ErrorKind(f.Err))
	}
	if n := len(sink.all()); n != 3 {
		t.Errorf("sink got %d fetches, want 3 (the 404 is evidence too)", n)
	}

	s, err := c.Single(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Fetch(ctx, "http://elsewhere.invalid/x", sink); err == nil {
		t.Error("a Single fetched a URL of another host")
	}
	if _, err := c.FetchOne(ctx, "ftp://x/y", sink); err == nil {
		t.Error("FetchOne accepted a non-http URL")
	}
}

// A 503 is asked once, not retried as a crawl would: the caller decides
// what an overloaded server means.
func TestFetchOneDoesNotRetry(t *testing.T) {
	var n atomic.Int32
	ts, _ := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Retry-After", "7")
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}))
	c := newSingleCrawler(t, Options{})
	sink := &memSink{}
	f, err := c.FetchOne(context.Background(), ts.URL+"/files/a.pdf", sink)
	if err != nil {
		t.Fatal(err)
	}
	if f.Status != http.StatusServiceUnavailable || f.RetryAfter != 7*time.Second || ErrorKind(f.Err) != "http 5xx" || n.Load() != 1 {
		t.Fatalf("status %d retry-after %s err %v, %d requests; want one 503 with its Retry-After", f.Status, f.RetryAfter, f.Err, n.Load())
	}
	if len(sink.all()) != 1 {
		t.Fatalf("the 503 was not recorded:\n%s", sink.dump())
	}
}

// budgetSink reports a host's spent request budget.
type budgetSink struct {
	*memSink
	spent int
}

func (s budgetSink) HostFetches(context.Context, string, time.Time) (int, error) { return s.spent, nil }

// With the host's request budget spent, nothing is requested nor recorded.
func TestFetchOneHostBudget(t *testing.T) {
	var n atomic.Int32
	ts, _ := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.Add(1) }))
	c := newSingleCrawler(t, Options{HostBudget: 5})
	sink := budgetSink{memSink: &memSink{}, spent: 5}
	f, err := c.FetchOne(context.Background(), ts.URL+"/a", sink)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(f.Err, ErrHostBudget) || f.Status != 0 || n.Load() != 0 || len(sink.all()) != 0 {
		t.Fatalf("err %v status %d, %d requests, %d recorded; want nothing fetched", f.Err, f.Status, n.Load(), len(sink.all()))
	}
	sink.spent = 4
	if f, err = c.FetchOne(context.Background(), ts.URL+"/a", sink); err != nil || f.Err != nil || n.Load() != 1 {
		t.Fatalf("under budget: err %v / %v, %d requests", err, f.Err, n.Load())
	}
}

// Behind a login: a Single logs in once before its first fetch, and again
// when the session expires; a refused login is the Fetch's error, with no
// request for the URL and nothing recorded.
func TestFetchOneLogin(t *testing.T) {
	site := hostile.New(hostile.Options{Logger: slog.New(slog.DiscardHandler)})
	ts, _ := newServer(t, site)
	var files []hostile.GoodFile
	for _, g := range site.GoodFiles() {
		if strings.HasPrefix(g.Path, hostile.MembersFilePrefix) {
			files = append(files, g)
		}
	}
	if len(files) == 0 {
		t.Fatal("the site has no members' files")
	}
	opts := hostileOptions()
	opts.Login = &Login{URL: ts.URL + hostile.LoginPath, UserField: "user", PassField: "pass",
		User: hostile.DefaultUser, Password: hostile.DefaultPass}
	c := newSingleCrawler(t, opts)
	s, err := c.Single(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sink := &memSink{}
	for range hostile.DefaultSessionRequests + 1 { // more requests than a session serves
		for _, g := range files {
			f, err := s.Fetch(ctx, ts.URL+g.Path, sink)
			if err != nil {
				t.Fatal(err)
			}
			if f.Err != nil || f.Digest.SHA256 != g.SHA256 {
				t.Fatalf("%s: err %v sha %s, want %s", g.Path, f.Err, f.Digest.SHA256, g.SHA256)
			}
		}
	}
	if ok, bad := site.Logins(); ok < 2 || bad != 0 {
		t.Errorf("logins: %d ok, %d failed; want a login and another after the session expired", ok, bad)
	}

	opts.Login.Password = "wrong"
	c = newSingleCrawler(t, opts)
	if s, err = c.Single(ts.URL + "/"); err != nil {
		t.Fatal(err)
	}
	sink = &memSink{}
	for range 3 {
		f, err := s.Fetch(ctx, ts.URL+files[0].Path, sink)
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(f.Err, ErrLogin) || !strings.Contains(f.Err.Error(), "refused") || strings.Contains(f.Err.Error(), "wrong") || f.Status != 0 || len(sink.all()) != 0 {
			t.Fatalf("wrong password: err %v status %d, %d recorded; want a refusal, nothing recorded", f.Err, f.Status, len(sink.all()))
		}
	}
	if _, bad := site.Logins(); bad != 1 {
		t.Errorf("%d refused logins; a refused login must not be tried again", bad)
	}
}
