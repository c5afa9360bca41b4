package capture

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/leakwatch/leakwatch/crawlers/webcrawl"
	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/internal/testkit/leaksim"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
	"github.com/leakwatch/leakwatch/storage"
)

// An empty file on a leak site is no evidence, even against an index that
// (built before the trivial rule) holds a 0-byte reference: the crawl
// captures it and opens nothing, while the real document beside it is hit.
func TestCrawlEmptyFileNoHit(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "")
	old := storage.NewReference{ParentIndex: -1, Ref: storage.Reference{Name: "placeholder.txt", Kind: "text", Size: 0,
		SHA256: fingerprints.EmptySHA256, PathMAC: "old-empty-reference"}}
	if err := f.store.SaveReferences(ctx, []storage.NewReference{old}); err != nil {
		t.Fatal(err)
	}
	if err := f.p.Scanner.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	site := leaksim.New(leaksim.Options{Logger: slog.New(slog.DiscardHandler), DisableHuge: true, DisableMissing: true, DisableRedirect: true,
		Files: []leaksim.File{
			{Name: "empty.txt", Data: []byte{}, Thread: "one"},
			{Name: "lab.pdf", Data: f.doc(t, synth.KindLabResult), Thread: "two"},
		}})
	ts := httptest.NewServer(site)
	defer ts.Close()
	rec, err := f.p.ForRun(f.run)
	if err != nil {
		t.Fatal(err)
	}
	c, err := webcrawl.New(webcrawl.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Crawl(ctx, ts.URL+"/", WebSink{Run: rec}); err != nil {
		t.Fatal(err)
	}
	caps, err := f.store.CapturesOfRun(ctx, f.run.ID)
	if err != nil {
		t.Fatal(err)
	}
	var empty, lab int
	for _, cp := range caps {
		switch {
		case strings.HasSuffix(cp.URL, "empty.txt"):
			empty++
			if cp.Refs != 0 || cp.SHA256 != fingerprints.EmptySHA256 {
				t.Errorf("empty file captured as %+v; want no reference", cp)
			}
		case strings.HasSuffix(cp.URL, "lab.pdf"):
			lab++
			if cp.Refs != 1 {
				t.Errorf("lab result captured with %d references, want 1", cp.Refs)
			}
		}
	}
	if empty != 1 || lab != 1 {
		t.Fatalf("captured the empty file %d times and the lab result %d times; want once each", empty, lab)
	}
}
