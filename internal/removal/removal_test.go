package removal

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/crawlers/webcrawl"
	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/internal/capture"
	"github.com/leakwatch/leakwatch/internal/references"
	"github.com/leakwatch/leakwatch/internal/testkit/leaksim"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
	"github.com/leakwatch/leakwatch/storage"
)

// switchboard serves the simulated forum, except for paths a test has
// switched to another answer, and counts every request by path.
type switchboard struct {
	next http.Handler
	mu   sync.Mutex
	over map[string]http.HandlerFunc
	reqs map[string]int
}

func (s *switchboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.reqs[r.URL.Path]++
	h := s.over[r.URL.Path]
	s.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	s.next.ServeHTTP(w, r)
}

func (s *switchboard) set(p string, h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.over[p] = h
}

func (s *switchboard) requests() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.reqs {
		out[k] = v
	}
	return out
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { http.Error(w, http.StatusText(code), code) }
}

// env is a reference index of a small synthetic breach, a simulated forum
// on loopback that posted five of its documents, a crawl of it that found
// them, and the case their hits opened, with its items.
type env struct {
	ctx      context.Context
	dataDir  string
	store    *storage.Store
	pipeline *capture.Pipeline
	site     *leaksim.Site
	board    *switchboard
	base     string
	src      storage.Source
	crawl    storage.CrawlRun
	kase     storage.Case
	atts     []leaksim.Attachment
	data     map[string][]byte           // the posted files, by URL path
	items    map[string]storage.CaseItem // by URL path
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	e := &env{ctx: ctx, dataDir: filepath.Join(dir, "data")}
	refs := filepath.Join(dir, "refs")
	docs, err := synth.Generate(refs, synth.Options{Seed: 5, Patients: 4, Docs: 8})
	if err != nil {
		t.Fatal(err)
	}
	if e.store, err = storage.Open(ctx, "", filepath.Join(dir, "db"), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.store.Close() })
	key, err := fingerprints.NewKey(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := references.Import(ctx, e.store, refs, references.Options{Key: key}); err != nil {
		t.Fatal(err)
	}
	sc, err := references.NewScanner(ctx, e.store, key, match.Options{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	e.pipeline = &capture.Pipeline{Store: e.store, Scanner: sc}

	e.site = leaksim.New(leaksim.Options{Logger: slog.New(slog.DiscardHandler), DisableMissing: true, DisableHuge: true,
		DisableOffsite: true, DisableRedirect: true, DisableLoop: true})
	e.data = map[string][]byte{}
	for _, d := range docs {
		if d.Kind == synth.KindPatients || len(e.data) == 6 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(refs, filepath.FromSlash(d.RelPath)))
		if err != nil {
			t.Fatal(err)
		}
		e.data[e.site.AddFile(leaksim.File{Name: path.Base(d.RelPath), Data: b})] = b
	}
	e.atts = e.site.Attachments()
	e.board = &switchboard{next: e.site, over: map[string]http.HandlerFunc{}, reqs: map[string]int{}}
	ts := httptest.NewServer(e.board)
	t.Cleanup(ts.Close)
	e.base = ts.URL

	e.src = storage.Source{Name: "forum", Kind: storage.SourceForum, URL: e.base + "/", Enabled: true}
	if err := e.store.CreateSource(ctx, &e.src); err != nil {
		t.Fatal(err)
	}
	// The crawl that found them.
	if e.crawl, err = e.store.StartRun(ctx, e.src.ID); err != nil {
		t.Fatal(err)
	}
	rec, err := e.pipeline.ForRun(e.crawl)
	if err != nil {
		t.Fatal(err)
	}
	cr, err := webcrawl.New(e.crawlerOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer cr.Close()
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := cr.Crawl(cctx, e.base+"/", capture.WebSink{Run: rec}); err != nil {
		t.Fatal(err)
	}
	e.crawl.Status = storage.RunOK
	if err := e.store.FinishRun(ctx, &e.crawl); err != nil {
		t.Fatal(err)
	}
	// The case of the host, its items confirmed.
	hits, err := e.store.HitsForTarget(ctx, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint64
	for _, h := range hits {
		ids = append(ids, h.ID)
	}
	if e.kase, err = e.store.EnsureCase(ctx, "127.0.0.1", "case-127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.TakeHits(ctx, e.kase.ID, ids, true); err != nil {
		t.Fatal(err)
	}
	items, err := e.store.CaseItems(ctx, e.kase.ID)
	if err != nil {
		t.Fatal(err)
	}
	e.items = map[string]storage.CaseItem{}
	for _, it := range items {
		e.items[strings.TrimPrefix(it.URL, e.base)] = it
	}
	for _, a := range e.atts {
		if _, ok := e.items[a.Path]; !ok {
			t.Fatalf("the crawl found no hit for posted file %s; items %v", a.Path, e.items)
		}
	}
	return e
}

func (e *env) crawlerOptions() webcrawl.Options {
	return webcrawl.Options{KeepBody: 8 << 20, MaxDepth: 5, HeaderTimeout: 5 * time.Second, DialTimeout: 2 * time.Second,
		Logger: slog.New(slog.DiscardHandler)}
}

func (e *env) checker() *Checker {
	return &Checker{Store: e.store, Pipeline: e.pipeline, Crawler: e.crawlerOptions(),
		EvidenceDir: capture.EvidenceDir(e.dataDir)}
}

func (e *env) item(t *testing.T, urlPath string) storage.CaseItem {
	t.Helper()
	it, ok := e.items[urlPath]
	if !ok {
		t.Fatalf("no item for %s", urlPath)
	}
	return it
}

// runsOf returns the source's runs after the crawl, oldest first.
func (e *env) checkRuns(t *testing.T) []storage.CrawlRun {
	t.Helper()
	runs, err := e.store.RecentRuns(e.ctx, e.src.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []storage.CrawlRun
	for i := len(runs) - 1; i >= 0; i-- {
		if runs[i].ID != e.crawl.ID {
			out = append(out, runs[i])
		}
	}
	return out
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func want(t *testing.T, name string, rc storage.RemovalCheck, r storage.CheckResult, detail string) {
	t.Helper()
	if rc.Result != r || !strings.Contains(rc.Detail, detail) {
		t.Errorf("%s: %s %q, want %s with %q", name, rc.Result, rc.Detail, r, detail)
	}
	if rc.CheckedAt.IsZero() {
		t.Errorf("%s: no CheckedAt", name)
	}
}

// TestCheckWeb re-checks the listed files after the forum changed: one is
// still served (present, with a new capture and its sealed WARC evidence),
// one was removed by a moderator (404), one answers 410, one 503, one now
// serves something harmless, one another of the breach's documents (present,
// and its hits recorded as a crawl's); a host that refuses connections and
// an onion without a proxy complete the list. All of it is one run of the
// source.
func TestCheckWeb(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx
	a := e.atts
	e.site.Remove(a[1].Path)
	e.board.set(a[2].Path, status(http.StatusGone))
	e.board.set(a[3].Path, status(http.StatusServiceUnavailable))
	e.board.set(a[4].Path, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/pdf")
		_, _ = w.Write([]byte("%PDF-1.4\n% a harmless brochure, nothing of the breach\n%%EOF\n"))
	})
	other := e.data[a[0].Path]
	e.board.set(a[5].Path, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(other) })
	present := e.item(t, a[0].Path)
	refused := storage.CaseItem{ID: 9001, URL: "http://" + closedPort(t) + "/files/77/x.pdf", FirstCaptureID: present.FirstCaptureID}
	onion := storage.CaseItem{ID: 9002, URL: "http://leaksxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.onion/f.pdf", FirstCaptureID: present.FirstCaptureID}
	items := []storage.CaseItem{present, e.item(t, a[1].Path), e.item(t, a[2].Path), e.item(t, a[3].Path), e.item(t, a[4].Path), refused, onion, e.item(t, a[5].Path)}

	before := e.board.requests()
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	res, err := e.checker().Check(cctx, e.kase, items)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(items) {
		t.Fatalf("%d results for %d items", len(res), len(items))
	}
	for i, rc := range res {
		if rc.ItemID != items[i].ID || rc.CaseID != e.kase.ID {
			t.Fatalf("result %d is of item %d (case %d), want item %d", i, rc.ItemID, rc.CaseID, items[i].ID)
		}
	}
	want(t, "still served", res[0], storage.CheckPresent, "HTTP 200; matches ")
	want(t, "removed (404)", res[1], storage.CheckGone, "HTTP 404")
	want(t, "410", res[2], storage.CheckGone, "HTTP 410")
	want(t, "503", res[3], storage.CheckError, "HTTP 503")
	want(t, "other content", res[4], storage.CheckNotMatching, "matches no reference")
	want(t, "connection refused", res[5], storage.CheckGone, "connection refused")
	want(t, "onion without a proxy", res[6], storage.CheckError, "proxy")
	want(t, "another document of the breach", res[7], storage.CheckPresent, "HTTP 200; matches ")
	after := e.board.requests()
	for _, x := range a {
		if n := after[x.Path] - before[x.Path]; n != 1 {
			t.Errorf("%s requested %d times by the check, want once", x.Path, n)
		}
	}

	// One run of the source, finished and sealed, holding every fetch.
	runs := e.checkRuns(t)
	if len(runs) != 1 {
		t.Fatalf("%d check runs, want 1: %+v", len(runs), runs)
	}
	run := runs[0]
	if run.Status != storage.RunOK || run.FinishedAt == nil || run.Stopped != Stopped || run.MerkleRoot == "" ||
		run.Files != 3 || run.Failed != 4 || run.Hits == 0 || !strings.Contains(run.Errors, "http 4xx") {
		t.Errorf("check run %+v; want ok, finished, sealed, 3 files, 4 failed, hits", run)
	}
	caps, err := e.store.CapturesOfRun(ctx, run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(caps) != 7 { // every fetch that got an answer or was refused; not the onion
		t.Errorf("%d captures in the check run, want 7", len(caps))
	}
	for i, rc := range res {
		if i == 6 {
			if rc.CaptureID != 0 {
				t.Errorf("the onion, never fetched, has capture %d", rc.CaptureID)
			}
			continue
		}
		if rc.CaptureID == 0 {
			t.Errorf("result %d (%s) has no capture", i, rc.Result)
			continue
		}
		c, err := e.store.CaptureByID(ctx, rc.CaptureID)
		if err != nil || c.RunID != run.ID || c.URL != items[i].URL {
			t.Errorf("result %d: capture %+v (%v), want one of %s in run %d", i, c, err, items[i].URL, run.ID)
		}
	}

	// The present file's capture is evidence like a crawl's: matched (the
	// file is as the crawl found it, so its exposure is carried over and no
	// hit is repeated), its WARC records verified against the seal.
	c, err := e.store.CaptureByID(ctx, res[0].CaptureID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Refs == 0 || c.SHA256 != a[0].SHA256 || c.Evidence == "" {
		t.Errorf("present capture %+v; want references, the file's digest, WARC evidence", c)
	}
	probs, ce, err := capture.VerifyCapture(ctx, e.store, e.dataDir, c.ID)
	if err != nil || len(probs) > 0 || len(ce.Records) == 0 {
		t.Errorf("verify the present capture: %v %v (%d records)", err, probs, len(ce.Records))
	}
	hits, err := e.store.HitsForTarget(ctx, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	// A URL serving other content of the breach: hits recorded on the
	// new capture, for the case to take in as crawls' hits are.
	var onCapture int
	for _, h := range hits {
		if h.CaptureID == res[7].CaptureID {
			onCapture++
		}
	}
	if onCapture == 0 {
		t.Error("the changed file's hits were not recorded")
	}
	if nm, err := e.store.CaptureByID(ctx, res[4].CaptureID); err != nil || nm.Refs != 0 || nm.SHA256 == a[4].SHA256 {
		t.Errorf("not-matching capture %+v (%v)", nm, err)
	}

	// Recorded, the results remove what is gone or other content.
	for i := range res[:5] {
		if err := e.store.RecordRemovalCheck(ctx, &res[i]); err != nil {
			t.Fatal(err)
		}
	}
	got, err := e.store.CaseItems(ctx, e.kase.ID)
	if err != nil {
		t.Fatal(err)
	}
	state := map[uint64]storage.ItemState{}
	for _, it := range got {
		state[it.ID] = it.State
	}
	for i, w := range []storage.ItemState{storage.ItemConfirmed, storage.ItemRemoved, storage.ItemRemoved, storage.ItemConfirmed, storage.ItemRemoved} {
		if state[items[i].ID] != w {
			t.Errorf("item %d (%s) is %s, want %s", items[i].ID, res[i].Result, state[items[i].ID], w)
		}
	}

	// The next check: the file came back.
	e.board.set(a[2].Path, nil)
	res, err = e.checker().Check(cctx, e.kase, []storage.CaseItem{e.item(t, a[2].Path)})
	if err != nil {
		t.Fatal(err)
	}
	want(t, "back", res[0], storage.CheckPresent, "matches")
	if n := len(e.checkRuns(t)); n != 2 {
		t.Errorf("%d check runs after the second check, want 2", n)
	}
}

// A thread page is fetched alone: the files it links are not requested.
func TestCheckPageFetchesNoLinks(t *testing.T) {
	e := newEnv(t)
	caps, err := e.store.CapturesOfRun(e.ctx, e.crawl.ID)
	if err != nil {
		t.Fatal(err)
	}
	thread := e.base + e.atts[0].ThreadPath
	var pageCap uint64
	for _, c := range caps {
		if c.URL == thread {
			pageCap = c.ID
		}
	}
	if pageCap == 0 {
		t.Fatalf("the crawl did not capture %s", thread)
	}
	before := e.board.requests()
	res, err := e.checker().Check(e.ctx, e.kase, []storage.CaseItem{{ID: 7, URL: thread, FirstCaptureID: pageCap}})
	if err != nil {
		t.Fatal(err)
	}
	want(t, "thread page", res[0], storage.CheckNotMatching, "HTTP 200")
	after := e.board.requests()
	for p, n := range after {
		if d := n - before[p]; d > 0 && p != e.atts[0].ThreadPath {
			t.Errorf("checking the page requested %s %d times", p, d)
		}
	}
	if d := after[e.atts[0].ThreadPath] - before[e.atts[0].ThreadPath]; d != 1 {
		t.Errorf("the page was requested %d times, want once", d)
	}
}

// The check is bounded by ctx: an item that stalls past it is not checked,
// the items before it keep their results, and the run is still finished.
// A check that could check nothing fails.
func TestCheckBoundedByContext(t *testing.T) {
	e := newEnv(t)
	a := e.atts
	e.site.Remove(a[0].Path)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	e.board.set(a[1].Path, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	ctx, cancel := context.WithTimeout(e.ctx, 2*time.Second)
	defer cancel()
	items := []storage.CaseItem{e.item(t, a[0].Path), e.item(t, a[1].Path), e.item(t, a[2].Path)}
	start := time.Now()
	res, err := e.checker().Check(ctx, e.kase, items)
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("the check took %s, past its context", el)
	}
	want(t, "removed", res[0], storage.CheckGone, "HTTP 404")
	want(t, "stalled", res[1], storage.CheckError, "not checked")
	want(t, "after the stall", res[2], storage.CheckError, "not checked")
	runs := e.checkRuns(t)
	if len(runs) != 1 || runs[0].FinishedAt == nil || runs[0].Status != storage.RunFailed {
		t.Errorf("runs %+v; want one, finished as failed (cut short)", runs)
	}

	ctx2, cancel2 := context.WithTimeout(e.ctx, time.Second)
	defer cancel2()
	res, err = e.checker().Check(ctx2, e.kase, items[1:2])
	if err == nil || len(res) != 1 || res[0].Result != storage.CheckError {
		t.Errorf("a check that checked nothing: %v %+v; want an error", err, res)
	}
}

// Without the store or the reference index nothing can be checked: Check
// fails, and says why for each item.
func TestCheckFailsWhenNothingCanBeChecked(t *testing.T) {
	e := newEnv(t)
	it := e.item(t, e.atts[0].Path)
	c := e.checker()
	c.Pipeline = &capture.Pipeline{Store: e.store}
	res, err := c.Check(e.ctx, e.kase, []storage.CaseItem{it})
	if !errors.Is(err, capture.ErrNoScanner) || res[0].Result != storage.CheckError {
		t.Errorf("no scanner: %v %+v", err, res)
	}
	e.store.Close()
	res, err = e.checker().Check(e.ctx, e.kase, []storage.CaseItem{it})
	if err == nil || res[0].Result != storage.CheckError {
		t.Errorf("store closed: %v %+v", err, res)
	}
	// An item of no known source is an item's error, not the check's.
	res, err = e.checker().Check(e.ctx, e.kase, []storage.CaseItem{{ID: 5, URL: "http://x.test/a"}})
	if err != nil || res[0].Result != storage.CheckError || !strings.Contains(res[0].Detail, "source is unknown") {
		t.Errorf("item without a capture: %v %+v", err, res)
	}
}

// A name that does not exist (NXDOMAIN) is gone.
func TestCheckNoSuchHost(t *testing.T) {
	const host = "leakwatch-removal-check.invalid"
	var dnsErr *net.DNSError
	if _, err := net.DefaultResolver.LookupHost(context.Background(), host); !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		t.Skipf("this machine's resolver does not answer NXDOMAIN for %s (%v)", host, err)
	}
	e := newEnv(t)
	it := storage.CaseItem{ID: 11, URL: "http://" + host + "/files/1/a.pdf", FirstCaptureID: e.item(t, e.atts[0].Path).FirstCaptureID}
	res, err := e.checker().Check(e.ctx, e.kase, []storage.CaseItem{it})
	if err != nil {
		t.Fatal(err)
	}
	want(t, "NXDOMAIN", res[0], storage.CheckGone, "no such host")
}

// A source whose login cannot be read is not checked without it (the
// login page would read as removal): its items say why, and its run fails.
func TestCheckSourceLoginUnreadable(t *testing.T) {
	e := newEnv(t)
	e.src.Options.Login = &storage.SourceLogin{URL: e.base + "/login", User: "u", PasswordEnv: "LW_REMOVAL_TEST_UNSET"}
	if err := e.store.UpdateSource(e.ctx, &e.src); err != nil {
		t.Fatal(err)
	}
	before := e.board.requests()
	res, err := e.checker().Check(e.ctx, e.kase, []storage.CaseItem{e.item(t, e.atts[0].Path)})
	if err != nil {
		t.Fatal(err)
	}
	want(t, "login unreadable", res[0], storage.CheckError, "login")
	if after := e.board.requests(); after[e.atts[0].Path] != before[e.atts[0].Path] {
		t.Error("the item was fetched without the source's login")
	}
	runs := e.checkRuns(t)
	if len(runs) != 1 || runs[0].Status != storage.RunFailed || !strings.Contains(runs[0].Error, "LW_REMOVAL_TEST_UNSET") {
		t.Errorf("runs %+v; want one, failed on the login", runs)
	}
}

// Checker is what the case workflow's CheckRemoval activity calls
// (workflows.RemovalChecker, which this package cannot import).
var _ interface {
	Check(context.Context, storage.Case, []storage.CaseItem) ([]storage.RemovalCheck, error)
} = (*Checker)(nil)
