package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/leakwatch/leakwatch/crawlers/webcrawl"
	"github.com/leakwatch/leakwatch/internal/references"
	"github.com/leakwatch/leakwatch/storage"
)

// CrawlSourceName is the crawl workflow's registered name.
const CrawlSourceName = "CrawlSource"

// CrawlInput names the source to crawl.
type CrawlInput struct {
	SourceID uint64
}

// CrawlResult summarises one crawl.
type CrawlResult struct {
	RunID      uint64
	Pages      int
	Files      int
	Failed     int
	Hits       int
	Dispatched int
}

// CrawlSource crawls one source, records captures and hits, and opens or
// updates the takedown cases the hits belong to.
func CrawlSource(ctx workflow.Context, in CrawlInput) (CrawlResult, error) {
	var a *Activities
	short := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: time.Minute, NonRetryableErrorTypes: []string{errTypePermanent}},
	})
	var runID uint64
	if err := workflow.ExecuteActivity(short, a.StartCrawlRun, in.SourceID).Get(ctx, &runID); err != nil {
		return CrawlResult{}, err
	}
	long := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 6 * time.Hour,
		HeartbeatTimeout:    5 * time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			MaximumInterval: 5 * time.Minute, MaximumAttempts: 5,
			NonRetryableErrorTypes: []string{errTypePermanent},
		},
	})
	var res CrawlResult
	if err := workflow.ExecuteActivity(long, a.CrawlRun, CrawlRunRequest{SourceID: in.SourceID, RunID: runID}).Get(ctx, &res); err != nil {
		return res, err
	}
	if err := workflow.ExecuteActivity(short, a.DispatchHits).Get(ctx, &res.Dispatched); err != nil {
		return res, err
	}
	return res, nil
}

// StartCrawlRun records the start of a crawl of a source.
func (a *Activities) StartCrawlRun(ctx context.Context, sourceID uint64) (uint64, error) {
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
func (a *Activities) CrawlRun(ctx context.Context, req CrawlRunRequest) (CrawlResult, error) {
	src, err := a.Store.SourceByID(ctx, req.SourceID)
	if err != nil {
		return CrawlResult{}, err
	}
	run, err := a.Store.RunByID(ctx, req.RunID)
	if err != nil {
		return CrawlResult{}, err
	}
	cc := a.Config.Crawler
	cr, err := webcrawl.New(webcrawl.Options{
		UserAgent: cc.UserAgent, Proxy: cc.Proxy, MaxDepth: cc.MaxDepth, MaxPages: cc.MaxPages,
		MaxPageBytes: cc.MaxPageBytes, MaxDownloadBytes: cc.MaxDownloadBytes, MaxRedirects: cc.MaxRedirects,
		DialTimeout: cc.DialTimeout, HeaderTimeout: cc.HeaderTimeout, IdleTimeout: cc.IdleTimeout,
		KeepBody: a.Config.Fingerprints.MaxAnalyzeBytes, Logger: a.log(),
	})
	if err != nil {
		return CrawlResult{}, temporal.NewNonRetryableApplicationError(err.Error(), errTypePermanent, err)
	}
	defer cr.Close()
	if a.Scanner == nil {
		err := errors.New("no fingerprint scanner: the worker was started without a fingerprint key")
		return CrawlResult{}, temporal.NewNonRetryableApplicationError(err.Error(), errTypePermanent, err)
	}
	sink := &captureSink{a: a, run: run}
	a.log().InfoContext(ctx, "crawl started", "source", src.Name, "run", run.ID)
	st, cerr := cr.Crawl(ctx, src.URL, sink)
	run.Pages, run.Files, run.Hits = st.Pages, st.Files, sink.hits
	run.Status = storage.RunOK
	if cerr != nil {
		run.Status, run.Error = storage.RunFailed, cerr.Error()
	}
	// Record the outcome even if the activity's context is gone.
	if err := a.Store.FinishRun(context.WithoutCancel(ctx), &run); err != nil {
		return CrawlResult{}, errors.Join(cerr, err)
	}
	a.log().InfoContext(ctx, "crawl finished", "source", src.Name, "run", run.ID, "pages", st.Pages,
		"files", st.Files, "failed", st.Failed, "hits", sink.hits, "err", cerr)
	res := CrawlResult{RunID: run.ID, Pages: st.Pages, Files: st.Files, Failed: st.Failed, Hits: sink.hits}
	if cerr != nil {
		return res, fmt.Errorf("crawl %s: %w", src.Name, cerr)
	}
	return res, nil
}

// captureSink records each fetch and matches downloaded files.
type captureSink struct {
	a    *Activities
	run  storage.CrawlRun
	hits int
}

func (s *captureSink) Captured(ctx context.Context, url string) (bool, error) {
	var n int64
	err := s.a.Store.DB().WithContext(ctx).Model(&storage.Capture{}).
		Where("run_id = ? AND url = ? AND kind = ?", s.run.ID, url, storage.CaptureFile).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("check capture: %w", err)
	}
	return n > 0, nil
}

func (s *captureSink) Capture(ctx context.Context, f webcrawl.Fetch) error {
	heartbeat(ctx, f.URL)
	c := storage.Capture{
		RunID: s.run.ID, SourceID: s.run.SourceID, Kind: f.Kind, URL: f.URL, FinalURL: f.FinalURL,
		Host: f.Host, FetchedAt: f.FetchedAt, Status: f.Status, ContentType: f.ContentType,
		SniffedType: f.Digest.Sniffed, SHA256: f.Digest.SHA256, Size: f.Digest.Size, Truncated: f.Digest.Truncated,
	}
	if f.Err != nil {
		c.Error = f.Err.Error()
	}
	if _, err := s.a.Store.SaveCapture(ctx, &c); err != nil {
		return err
	}
	if f.Kind != webcrawl.KindFile || f.Err != nil {
		return nil
	}
	var tot references.Totals
	record := func(r references.ItemResult) error {
		tot.Add(r)
		for _, m := range r.Matches {
			why := m.Why
			if r.Path != f.URL {
				// A member of an archive or e-mail: say where inside.
				why = strings.TrimPrefix(r.Path, f.URL) + ": " + why
			}
			h := storage.Hit{CaptureID: c.ID, ReferenceID: m.RefKey, Method: m.Method, Score: m.Score, Why: why, Target: c.Host}
			created, err := s.a.Store.AddHit(ctx, &h)
			if err != nil {
				return err
			}
			if created {
				s.hits++
			}
		}
		return nil
	}
	var err error
	if f.Body != nil {
		err = s.a.Scanner.Scan(ctx, f.URL, f.Body, record)
	} else {
		err = s.a.Scanner.ScanDigest(ctx, f.URL, f.Digest, record)
	}
	if err != nil {
		return err
	}
	if tot.Matched > 0 {
		if err := s.a.Store.SetCaptureExposure(ctx, c.ID, tot.Refs(), tot.Patients()); err != nil {
			return err
		}
		// Ids and counts only: never names that may carry personal data.
		s.a.log().InfoContext(ctx, "capture matches the breach", "capture", c.ID, "host", c.Host,
			"items", tot.Items, "reference_files", tot.Refs(), "patients", tot.Patients())
	}
	return nil
}

// DispatchHits signals every hit not yet delivered to its case.
func (a *Activities) DispatchHits(ctx context.Context) (int, error) {
	return DispatchHits(ctx, a.Store, a.Client, a.Config.Temporal.TaskQueue)
}
