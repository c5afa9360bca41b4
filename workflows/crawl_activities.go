package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/temporal"

	"github.com/leakwatch/leakwatch/crawlers/webcrawl"
	"github.com/leakwatch/leakwatch/internal/capture"
	"github.com/leakwatch/leakwatch/storage"
)

// CrawlActivities crawl a source and hand everything fetched to the capture
// pipeline. The CLI's `crawl` runs the same methods in its own process.
type CrawlActivities struct {
	Store    *storage.Store
	Pipeline *capture.Pipeline
	// Crawler bounds every crawl (limits, proxy, timeouts); its Logger is
	// replaced by Logger below.
	Crawler webcrawl.Options
	Logger  *slog.Logger // nil discards
}

func (a *CrawlActivities) log() *slog.Logger {
	if a.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Logger
}

// StartCrawlRun records the start of a crawl of a source.
func (a *CrawlActivities) StartCrawlRun(ctx context.Context, sourceID uint64) (uint64, error) {
	src, err := a.Store.SourceByID(ctx, sourceID)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return 0, temporal.NewNonRetryableApplicationError(err.Error(), errTypePermanent, err)
		}
		return 0, err
	}
	run, err := a.Store.StartRun(ctx, src.ID)
	if err != nil {
		return 0, err
	}
	return run.ID, nil
}

// CrawlRunRequest names a started run.
type CrawlRunRequest struct {
	SourceID uint64
	RunID    uint64
}

// CrawlRun crawls a source into an existing run. A retry resumes the same
// run: files already captured are not downloaded again and hits are recorded
// once.
func (a *CrawlActivities) CrawlRun(ctx context.Context, req CrawlRunRequest) (CrawlResult, error) {
	src, err := a.Store.SourceByID(ctx, req.SourceID)
	if err != nil {
		return CrawlResult{}, err
	}
	run, err := a.Store.RunByID(ctx, req.RunID)
	if err != nil {
		return CrawlResult{}, err
	}
	rec, err := a.Pipeline.ForRun(run)
	if err != nil {
		return CrawlResult{}, temporal.NewNonRetryableApplicationError(err.Error(), errTypePermanent, err)
	}
	opts := a.Crawler
	opts.Logger = a.log()
	cr, err := webcrawl.New(opts)
	if err != nil {
		return CrawlResult{}, temporal.NewNonRetryableApplicationError(err.Error(), errTypePermanent, err)
	}
	defer cr.Close()
	a.log().InfoContext(ctx, "crawl started", "source", src.Name, "run", run.ID)
	st, cerr := cr.Crawl(ctx, src.URL, webSink{rec})
	run.Pages, run.Files, run.Hits = st.Pages, st.Files, rec.Hits()
	run.Status = storage.RunOK
	if cerr != nil {
		run.Status, run.Error = storage.RunFailed, cerr.Error()
	}
	// Record the outcome even if the activity's context is gone.
	if err := a.Store.FinishRun(context.WithoutCancel(ctx), &run); err != nil {
		return CrawlResult{}, errors.Join(cerr, err)
	}
	a.log().InfoContext(ctx, "crawl finished", "source", src.Name, "run", run.ID, "pages", st.Pages,
		"files", st.Files, "failed", st.Failed, "hits", rec.Hits(), "err", cerr)
	res := CrawlResult{RunID: run.ID, Pages: st.Pages, Files: st.Files, Failed: st.Failed, Hits: rec.Hits()}
	if cerr != nil {
		return res, fmt.Errorf("crawl %s: %w", src.Name, cerr)
	}
	return res, nil
}

// webSink hands the web crawler's fetches to the capture pipeline.
type webSink struct{ run *capture.Run }

func (s webSink) Captured(ctx context.Context, url string) (bool, error) { return s.run.Seen(ctx, url) }

func (s webSink) Capture(ctx context.Context, f webcrawl.Fetch) error {
	heartbeat(ctx, f.URL)
	_, err := s.run.Record(ctx, capture.Item{
		Kind: f.Kind, URL: f.URL, FinalURL: f.FinalURL, Target: f.Host, FetchedAt: f.FetchedAt,
		Status: f.Status, ContentType: f.ContentType, Digest: f.Digest, Body: f.Body, Err: f.Err,
	})
	return err
}
