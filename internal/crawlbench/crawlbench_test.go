package crawlbench

import (
	"context"
	"os/exec"
	"testing"
	"time"
)

// TestRunTinyForum crawls a tiny forum and checks the counts agree: every
// page and attachment of the site fetched once, as the server saw it.
func TestRunTinyForum(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, Options{Pages: 60, Attachments: 10, Workers: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Site
	// 6 threads of 10 pages on 6 boards: 60 thread pages, 6 board pages,
	// the index, the announcement and the rules page.
	if s.ThreadPages != 60 || s.BoardPages != 6 || s.Pages != 69 || s.Attachments != 10 {
		t.Errorf("site: %+v", s)
	}
	if s.AttachmentBytes < 10*minAttachment || s.AttachmentBytes > 10*maxAttachment {
		t.Errorf("attachment bytes %d, want 10 files of %d-%d bytes", s.AttachmentBytes, minAttachment, maxAttachment)
	}
	if len(res.Crawls) != 1 || res.Frontier != nil {
		t.Fatalf("crawls %d, frontier %v; want one leakwatch crawl only", len(res.Crawls), res.Frontier)
	}
	c, ok := res.Leakwatch(3)
	if !ok {
		t.Fatal("no leakwatch crawl at 3 workers")
	}
	if !c.AllAttachments() || c.AttachmentsWant != 10 || len(c.Missing) != 0 {
		t.Errorf("attachments found %d of %d, missing %v", c.AttachmentsFound, c.AttachmentsWant, c.Missing)
	}
	if c.Pages != s.Pages || c.Files != s.Attachments || c.Failed != 0 || c.Stopped != "done" {
		t.Errorf("crawl: %d pages, %d files, %d failed, stopped %q; want %d, %d, 0, done", c.Pages, c.Files, c.Failed, c.Stopped, s.Pages, s.Attachments)
	}
	if c.Served.Pages != c.Pages || c.Served.Files != c.Files || c.Served.Requests != c.Pages+c.Files || c.Served.Bytes != c.Bytes {
		t.Errorf("served %+v, crawled %d pages, %d files, %d bytes", c.Served, c.Pages, c.Files, c.Bytes)
	}
	if c.Bytes <= s.AttachmentBytes {
		t.Errorf("%d bytes received, less than the attachments' %d", c.Bytes, s.AttachmentBytes)
	}
	if c.Elapsed <= 0 || c.PagesPerSec() <= 0 || c.MBPerSec() <= 0 {
		t.Errorf("elapsed %v, %f pages/s, %f MB/s", c.Elapsed, c.PagesPerSec(), c.MBPerSec())
	}
	if c.PeakRSS <= 0 || c.BaselineRSS <= 0 || s.RSS <= 0 {
		t.Errorf("RSS: site %d, baseline %d, peak %d", s.RSS, c.BaselineRSS, c.PeakRSS)
	}
}

// TestRunWget compares with wget on a tiny forum: it must fetch the same
// pages and files as leakwatch, and leakwatch also crawls at 1 worker.
func TestRunWget(t *testing.T) {
	if _, err := exec.LookPath("wget"); err != nil {
		t.Skip("wget not on PATH")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, Options{Pages: 30, Attachments: 6, Wget: true})
	if err != nil {
		t.Fatal(err)
	}
	one, ok1 := res.Leakwatch(1)
	four, ok4 := res.Leakwatch(DefaultWorkers)
	w, okw := res.Wget()
	if !ok1 || !ok4 || !okw || res.WgetSkipped != "" {
		t.Fatalf("crawls %+v, skipped %q", res.Crawls, res.WgetSkipped)
	}
	for _, c := range []CrawlResult{one, four, w} {
		if c.Pages != res.Site.Pages || c.Files != res.Site.Attachments || !c.AllAttachments() {
			t.Errorf("%s at %d: %d pages, %d files, %d attachments found; site has %d and %d",
				c.Tool, c.Workers, c.Pages, c.Files, c.AttachmentsFound, res.Site.Pages, res.Site.Attachments)
		}
	}
	if w.ExitStatus != 0 || w.Failed != 0 || w.PeakRSS <= 0 || w.FilesWritten != w.Pages+w.Files {
		t.Errorf("wget: exit %d, %d failed, peak RSS %d, %d files written", w.ExitStatus, w.Failed, w.PeakRSS, w.FilesWritten)
	}
}

// TestRunWgetMissing reports, rather than fails, when wget is absent.
func TestRunWgetMissing(t *testing.T) {
	res, err := Run(context.Background(), Options{Pages: 10, Attachments: 2, Workers: 2, Wget: true, WgetPath: "/nonexistent/wget"})
	if err != nil {
		t.Fatal(err)
	}
	if res.WgetSkipped == "" || len(res.Crawls) != 1 {
		t.Errorf("skipped %q, %d crawls; want a reason and the leakwatch crawl only", res.WgetSkipped, len(res.Crawls))
	}
}

// TestFrontier queues a few thousand URLs and fetches them all.
func TestFrontier(t *testing.T) {
	res, err := Run(context.Background(), Options{Pages: 10, Attachments: 1, Frontier: 2500})
	if err != nil {
		t.Fatal(err)
	}
	f := res.Frontier
	if f == nil {
		t.Fatal("no frontier result")
	}
	if f.ListPages != 3 || f.Pages != 1+3+2500 || f.Stopped != "done" || f.Failed != 0 {
		t.Errorf("frontier: %+v", *f)
	}
	// Breadth first: the list pages are fetched before the leaves they
	// link, so most of the leaves wait at once (a few may be fetched while
	// the last list page is in flight).
	if f.PeakQueued < 2000 || f.PeakQueued > 2500 {
		t.Errorf("peak queued %d, want about 2500", f.PeakQueued)
	}
	if f.PeakRSS <= 0 {
		t.Errorf("peak RSS %d", f.PeakRSS)
	}
}

func TestShape(t *testing.T) {
	for _, c := range []struct{ pages, boards, perBoard int }{
		{10_000, 10, 100}, {500, 10, 5}, {60, 6, 1}, {150, 5, 3}, {130, 1, 13}, {1, 1, 1}, {11, 2, 1},
	} {
		if b, p := shape(c.pages); b != c.boards || p != c.perBoard {
			t.Errorf("shape(%d) = %d boards of %d threads, want %d of %d", c.pages, b, p, c.boards, c.perBoard)
		}
	}
}
