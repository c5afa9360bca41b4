package capture

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/crawlers/webcrawl"
	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/internal/references"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
	"github.com/leakwatch/leakwatch/storage"
)

// The whole dump, too big to download, is shown to hold the breach's
// documents from its directory: a hit per matching member, and how many of
// its members match.
func TestDumpMatchedFromItsDirectory(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "")
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	var leaked int
	for _, d := range f.docs {
		if d.Kind != synth.KindLabResult && d.Kind != synth.KindClinicalNote {
			continue
		}
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: "portal/" + d.RelPath, Method: zip.Deflate})
		w.Write(f.doc(t, d.Kind))
		leaked++
		break
	}
	for i := range 5 { // padding: files that are not the breach's
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("junk/%d.bin", i), Method: zip.Store})
		w.Write(bytes.Repeat([]byte{byte(i + 1)}, 50_000))
	}
	zw.Close()
	archive := zb.Bytes()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<html><body><a href="/full_dump.zip">full dump</a></body></html>`))
	})
	mux.HandleFunc("/full_dump.zip", func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "full_dump.zip", time.Time{}, bytes.NewReader(archive))
	})
	ts := httptest.NewServer(mux)
	defer ts.Close()
	rec, err := f.p.ForRun(f.run)
	if err != nil {
		t.Fatal(err)
	}
	c, err := webcrawl.New(webcrawl.Options{MaxDownloadBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Crawl(ctx, ts.URL+"/", WebSink{Run: rec}); err != nil {
		t.Fatal(err)
	}
	hits, err := f.store.HitsForTarget(ctx, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	var dir int
	for _, h := range hits {
		if h.Method == references.MethodDirectory {
			dir++
			if !strings.Contains(h.Why, fmt.Sprintf("1 of %d members match the breach", leaked+5)) {
				t.Errorf("why %q", h.Why)
			}
		}
	}
	if dir != leaked {
		t.Fatalf("%d directory hits, want %d: %+v", dir, leaked, hits)
	}
}

// A file seen before is asked for conditionally: unchanged, it is neither
// downloaded nor matched again, and its new capture keeps its digest and
// exposure; after the reference index changes it is downloaded and matched
// afresh.
func TestRevisitUnchangedFiles(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "")
	lab := f.doc(t, synth.KindLabResult)
	var mu sync.Mutex
	full := 0 // full downloads of the file
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<html><body><a href="/files/lab.pdf">lab</a></body></html>`))
	})
	mux.HandleFunc("/files/lab.pdf", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		mu.Lock()
		full++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/pdf")
		http.ServeContent(w, r, "lab.pdf", time.Time{}, bytes.NewReader(lab))
	})
	ts := httptest.NewServer(mux)
	defer ts.Close()

	crawlOnce := func() (storage.CrawlRun, *Run) {
		t.Helper()
		run, err := f.store.StartRun(ctx, f.run.SourceID)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := f.p.ForRun(run)
		if err != nil {
			t.Fatal(err)
		}
		c, err := webcrawl.New(webcrawl.Options{KeepBody: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Crawl(ctx, ts.URL+"/", WebSink{Run: rec}); err != nil {
			t.Fatal(err)
		}
		return run, rec
	}
	fileCapture := func(run storage.CrawlRun) storage.Capture {
		t.Helper()
		caps, err := f.store.CapturesOfRun(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range caps {
			if c.URL == ts.URL+"/files/lab.pdf" {
				return c
			}
		}
		t.Fatalf("no capture of the file in run %d", run.ID)
		return storage.Capture{}
	}

	run1, rec1 := crawlOnce()
	first := fileCapture(run1)
	if rec1.Hits() == 0 || first.Status != 200 || first.Refs != 1 {
		t.Fatalf("first crawl: %d hits, capture %+v", rec1.Hits(), first)
	}
	run2, rec2 := crawlOnce()
	second := fileCapture(run2)
	if full != 1 || second.Status != http.StatusNotModified || second.SHA256 != first.SHA256 || second.Refs != first.Refs || rec2.Hits() != 0 {
		t.Fatalf("revisit: %d full downloads, capture %+v, %d new hits; want 1 download, a 304 capture with the same digest and exposure, no new hits",
			full, second, rec2.Hits())
	}

	// The index changes (another document is indexed): the file must be
	// matched again, so it is downloaded again.
	key, _ := fingerprints.NewKey(bytes.Repeat([]byte{7}, 32))
	more := filepath.Join(t.TempDir(), "more")
	if _, err := synth.Generate(more, synth.Options{Seed: 99, Patients: 2, Docs: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := references.Import(ctx, f.store, more, references.Options{Key: key}); err != nil {
		t.Fatal(err)
	}
	sc, err := references.NewScanner(ctx, f.store, key, match.Options{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.p.Scanner = sc
	run3, _ := crawlOnce()
	if third := fileCapture(run3); full != 2 || third.Status != 200 || third.Refs != 1 {
		t.Fatalf("after the index changed: %d full downloads, capture %+v; want a fresh download and match", full, third)
	}
}
