package crawlbench

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkCrawlForum crawls a 500-page forum with 50 attachments, served
// on loopback, at the default concurrency and at one connection (wget's).
func BenchmarkCrawlForum(b *testing.B) {
	for _, workers := range []int{DefaultWorkers, 1} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) { benchCrawlForum(b, workers) })
	}
}

func benchCrawlForum(b *testing.B, workers int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, err := newForum(500, 50, 1)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := serve(ctx, f.site)
	if err != nil {
		b.Fatal(err)
	}
	maxPages := 2*f.info.Pages + f.info.Attachments + 1000
	var pages, files int
	var bytes int64
	var secs float64
	for b.Loop() {
		c, err := crawlForum(ctx, srv, f, workers, maxPages)
		if err != nil {
			b.Fatal(err)
		}
		if !c.AllAttachments() || c.Pages != f.info.Pages {
			b.Fatalf("%d of %d pages, %d of %d attachments", c.Pages, f.info.Pages, c.AttachmentsFound, c.AttachmentsWant)
		}
		pages, files, bytes, secs = pages+c.Pages, files+c.Files, bytes+c.Bytes, secs+c.Elapsed.Seconds()
	}
	b.ReportMetric(float64(pages)/secs, "pages/s")
	b.ReportMetric(float64(files)/secs, "files/s")
	b.ReportMetric(float64(bytes)/1e6/secs, "MB/s")
}
