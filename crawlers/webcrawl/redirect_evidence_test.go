package webcrawl

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/leakwatch/leakwatch/internal/evidence"
)

// redirectSite serves a 301 → 302 → 200 chain at /start (the 302's body
// longer than the hop cap), a self-redirect loop at /loop and a redirect
// to another host at /away, all linked from /.
type redirectSite struct {
	base      string
	startBody []byte
	midBody   []byte
	away      string
	otherHits *atomic.Int64
}

func newRedirectSite(t *testing.T) *redirectSite {
	t.Helper()
	s := &redirectSite{
		startBody: []byte("<p>This board has moved.</p>"),
		// Longer than the hop cap, and not a repetition of one byte, so
		// a cut in the wrong place shows in the digest.
		midBody:   []byte(strings.Repeat("moved again, follow the Location header; ", 2500)),
		otherHits: &atomic.Int64{},
	}
	other, _ := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.otherHits.Add(1)
		_, _ = w.Write([]byte("must never be fetched"))
	}))
	_, port, _ := net.SplitHostPort(other.Listener.Addr().String())
	// Same machine, another host name: "localhost" is not "127.0.0.1".
	s.away = "http://localhost:" + port + "/elsewhere"

	mux := http.NewServeMux()
	ts, _ := newServer(t, mux)
	s.base = ts.URL
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		html(w, `<a href="/start">board</a> <a href="/loop">mirror</a> <a href="/away">elsewhere</a>`)
	})
	redirect := func(code int, to string, body []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", to)
			w.Header().Set("Content-Type", "text/html")
			w.Header().Set("X-Hop", r.URL.Path)
			w.WriteHeader(code)
			_, _ = w.Write(body)
		}
	}
	mux.HandleFunc("/start", redirect(http.StatusMovedPermanently, "/mid", s.startBody))
	mux.HandleFunc("/mid", redirect(http.StatusFound, "/end", s.midBody))
	mux.HandleFunc("/end", func(w http.ResponseWriter, r *http.Request) {
		html(w, "<p>the board, at last</p>")
	})
	mux.HandleFunc("/loop", redirect(http.StatusMovedPermanently, "/loop", nil))
	mux.HandleFunc("/away", redirect(http.StatusFound, s.away, []byte("gone elsewhere")))
	return s
}

// warcEntry is one record of a WARC file, read independently of package
// evidence's reader.
type warcEntry struct{ typ, target, startLine string }

// walkWARC reads every gzip member of a WARC file in order.
func walkWARC(t *testing.T, path string) []warcEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var out []warcEntry
	for {
		if _, err := br.Peek(1); errors.Is(err, io.EOF) {
			return out
		}
		zr, err := gzip.NewReader(br)
		if err != nil {
			t.Fatalf("%s: member %d: %v", path, len(out), err)
		}
		zr.Multistream(false)
		rec, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s: member %d: %v", path, len(out), err)
		}
		head, block, _ := bytes.Cut(rec, []byte("\r\n\r\n"))
		var e warcEntry
		for _, l := range strings.Split(string(head), "\r\n") {
			if v, ok := strings.CutPrefix(l, "WARC-Type: "); ok {
				e.typ = v
			}
			if v, ok := strings.CutPrefix(l, "WARC-Target-URI: "); ok {
				e.target = v
			}
		}
		first, _, _ := bytes.Cut(block, []byte("\r\n"))
		e.startLine = string(first)
		out = append(out, e)
	}
}

// readBack reads a record's payload (r locates a response record, or with
// the request's location a request record).
func readBack(t *testing.T, dir string, r evidence.Record) (*evidence.StoredRecord, []byte) {
	t.Helper()
	sr, err := evidence.ReadRecord(dir, r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sr.Close() })
	b, err := io.ReadAll(sr)
	if err != nil {
		t.Fatal(err)
	}
	return sr, b
}

func requestOf(r evidence.Record) evidence.Record {
	return evidence.Record{File: r.File, Offset: r.RequestOffset, Length: r.RequestLength, RecordID: r.RequestRecordID}
}

// TestRedirectHopsAreEvidence: every redirect a fetch follows is its own
// WARC request/response pair, written in order before the final exchange,
// with its status, Location, body (cut at the hop cap, and marked so) and
// peer; a redirect loop's hops up to the cap are recorded with the failed
// fetch, and a redirect to another host is recorded but not followed.
func TestRedirectHopsAreEvidence(t *testing.T) {
	s := newRedirectSite(t)
	dir := t.TempDir()
	w, err := evidence.NewWriter(dir, evidence.WriterOptions{RunID: "run-1"})
	if err != nil {
		t.Fatal(err)
	}
	const maxRedirects = 3
	sink := &memSink{}
	if _, err := crawl(t, Options{Evidence: w, MaxRedirects: maxRedirects}, s.base+"/", sink); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", sink.dump())

	// The chain: two hops, then the page.
	f := sink.get(t, s.base+"/start")
	if f.Err != nil || f.FinalURL != s.base+"/end" || f.Evidence == nil {
		t.Fatalf("chain: err %v, final %s, evidence %v", f.Err, f.FinalURL, f.Evidence)
	}
	if want := []string{s.base + "/start", s.base + "/mid"}; !slices.Equal(f.Redirects, want) {
		t.Errorf("chain: redirects %q, want %q", f.Redirects, want)
	}
	if len(f.RedirectEvidence) != 2 {
		t.Fatalf("chain: %d redirect records, want 2", len(f.RedirectEvidence))
	}
	hops := f.RedirectEvidence
	for i, want := range []struct {
		target, location, truncated, referer string
		status                               int
		body                                 []byte
	}{
		{s.base + "/start", "/mid", "", "", http.StatusMovedPermanently, s.startBody},
		{s.base + "/mid", "/end", evidence.TruncatedLength, s.base + "/start", http.StatusFound, s.midBody[:hopBodyCap]},
	} {
		r := hops[i]
		if r.TargetURI != want.target || r.StatusCode != want.status || r.Location != s.base+want.location || r.Truncated != want.truncated {
			t.Errorf("hop %d: record %+v; want %s %d → %s, truncated %q", i, r, want.target, want.status, want.location, want.truncated)
		}
		if r.PayloadSHA256 != sum(want.body) || r.PayloadLength != int64(len(want.body)) {
			t.Errorf("hop %d: payload %d bytes %s, want the %d bytes sent (up to the cap)", i, r.PayloadLength, r.PayloadSHA256, len(want.body))
		}
		resp, body := readBack(t, dir, r)
		if resp.StatusCode != want.status || resp.HTTPHeader.Get("Location") != want.location || resp.HTTPHeader.Get("X-Hop") != strings.TrimPrefix(want.target, s.base) {
			t.Errorf("hop %d: stored response %q, headers %v", i, resp.HTTPStartLine, resp.HTTPHeader)
		}
		if !bytes.Equal(body, want.body) {
			t.Errorf("hop %d: stored body of %d bytes differs from the %d sent", i, len(body), len(want.body))
		}
		if ip := resp.Header.Get("WARC-IP-Address"); ip != "127.0.0.1" {
			t.Errorf("hop %d: WARC-IP-Address %q, want 127.0.0.1", i, ip)
		}
		req, _ := readBack(t, dir, requestOf(r))
		path := strings.TrimPrefix(want.target, s.base)
		if req.Header.Get("WARC-Type") != "request" || req.HTTPStartLine != "GET "+path+" HTTP/1.1" ||
			req.HTTPHeader.Get("Referer") != want.referer || req.HTTPHeader.Get("User-Agent") == "" {
			t.Errorf("hop %d: stored request %q, headers %v", i, req.HTTPStartLine, req.HTTPHeader)
		}
	}
	// In the file: each pair adjacent, the hops in order, then the page.
	final := *f.Evidence
	if hops[0].File != final.File || hops[1].File != final.File ||
		!(hops[0].RequestOffset < hops[0].Offset && hops[0].Offset < hops[1].RequestOffset &&
			hops[1].Offset < final.RequestOffset) {
		t.Errorf("records out of order: hops %+v, final %+v", hops, final)
	}
	// Each record is dated when its own request was sent, so the final
	// exchange comes after its redirects in time too.
	if hops[1].Date.Before(hops[0].Date) || final.Date.Before(hops[1].Date) {
		t.Errorf("WARC-Dates out of order: hops %s, %s; final %s", hops[0].Date, hops[1].Date, final.Date)
	}
	var chain []string
	for _, e := range walkWARC(t, filepath.Join(dir, filepath.FromSlash(final.File))) {
		switch e.target {
		case s.base + "/start", s.base + "/mid", s.base + "/end":
			chain = append(chain, e.typ+" "+e.startLine)
		}
	}
	want := []string{
		"request GET /start HTTP/1.1", "response HTTP/1.1 301 Moved Permanently",
		"request GET /mid HTTP/1.1", "response HTTP/1.1 302 Found",
		"request GET /end HTTP/1.1", "response HTTP/1.1 200 OK",
	}
	if !slices.Equal(chain, want) {
		t.Errorf("WARC records of the chain:\n%s\nwant:\n%s", strings.Join(chain, "\n"), strings.Join(want, "\n"))
	}

	// The loop: up to the cap, every answer recorded; the fetch failed
	// and says why.
	loop := sink.get(t, s.base+"/loop")
	if loop.Err == nil || !strings.Contains(loop.Err.Error(), "more than 3 redirects") || loop.Evidence != nil {
		t.Errorf("loop: err %v, evidence %v; want the redirect cap and no final exchange", loop.Err, loop.Evidence)
	}
	if len(loop.RedirectEvidence) != maxRedirects+1 || len(loop.Redirects) != maxRedirects+1 {
		t.Fatalf("loop: %d redirects, %d records; want the %d answers received", len(loop.Redirects), len(loop.RedirectEvidence), maxRedirects+1)
	}
	for i, r := range loop.RedirectEvidence {
		if r.TargetURI != s.base+"/loop" || r.StatusCode != http.StatusMovedPermanently || r.Location != s.base+"/loop" || loop.Redirects[i] != r.TargetURI {
			t.Errorf("loop hop %d: %+v", i, r)
		}
	}

	// Another host: its redirect is evidence; the host is never asked.
	away := sink.get(t, s.base+"/away")
	if away.Err == nil || !strings.Contains(away.Err.Error(), "another host") {
		t.Errorf("cross-host redirect: err %v", away.Err)
	}
	if len(away.RedirectEvidence) != 1 || away.RedirectEvidence[0].Location != s.away || away.Evidence != nil {
		t.Errorf("cross-host redirect: records %+v, final %v", away.RedirectEvidence, away.Evidence)
	}
	if n := s.otherHits.Load(); n != 0 {
		t.Errorf("the other host was asked %d times", n)
	}

	var all []evidence.Record
	for _, f := range sink.all() {
		all = append(all, f.RedirectEvidence...)
		if f.Evidence != nil {
			all = append(all, *f.Evidence)
		}
	}
	if probs := evidence.Verify(dir, all); len(probs) != 0 {
		t.Fatalf("evidence does not verify: %v", probs)
	}
}

// failingEvidence fails to record redirects.
type failingEvidence struct{ w *evidence.Writer }

var errEvidenceFull = errors.New("evidence disk full")

func (e failingEvidence) WriteExchange(ctx context.Context, ex evidence.Exchange) (evidence.Record, error) {
	if ex.StatusCode/100 == 3 {
		return evidence.Record{}, errEvidenceFull
	}
	return e.w.WriteExchange(ctx, ex)
}

// A redirect that cannot be recorded stops the crawl, as any exchange
// does: following it would lose evidence.
func TestRedirectEvidenceFailureStopsCrawl(t *testing.T) {
	s := newRedirectSite(t)
	w, err := evidence.NewWriter(t.TempDir(), evidence.WriterOptions{RunID: "run-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	sink := &memSink{}
	_, err = crawl(t, Options{Evidence: failingEvidence{w}, Workers: 1}, s.base+"/start", sink)
	if !errors.Is(err, errEvidenceFull) {
		t.Fatalf("Crawl: %v; want the evidence error", err)
	}
	if len(sink.all()) != 0 {
		t.Errorf("a fetch whose redirect was not recorded was captured:\n%s", sink.dump())
	}
}
