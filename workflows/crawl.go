package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/leakwatch/leakwatch/config"
)

// versionScanSplit marks crawls that match on the scan queue (ScanRun)
// what a crawl worker without the index spooled, before dispatching the
// hits. Histories without the marker crawl and dispatch only.
const versionScanSplit = "crawl-scan-split"

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
	Fresh      int // URLs left alone: unchanged within their revisit TTL
	Hits       int
	Dispatched int
	Stopped    string // why the crawl ended (see webcrawl's Stop constants)
}

// CrawlSource crawls one source (on the crawl queue), matches what the
// crawl spooled (on the scan queue; a crawl matched inline spooled
// nothing), records captures and hits, and opens or updates the takedown
// cases the hits belong to.
func CrawlSource(ctx workflow.Context, in CrawlInput) (CrawlResult, error) {
	var a *CrawlActivities // method values name the activities; never called directly
	var d *Dispatcher
	short := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumInterval: time.Minute, NonRetryableErrorTypes: []string{errTypePermanent}},
	})
	var runID uint64
	if err := workflow.ExecuteActivity(short, a.StartCrawlRun, in.SourceID).Get(ctx, &runID); err != nil {
		return CrawlResult{}, err
	}
	if runID == 0 {
		return CrawlResult{Stopped: "skipped: the source was unreachable in its last runs (backing off)"}, nil
	}
	long := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 6 * time.Hour,
		// The crawl heartbeats every 15 s whatever its fetches do, so a
		// crawl whose worker died is retried within a minute.
		HeartbeatTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			MaximumInterval: 5 * time.Minute, MaximumAttempts: 5,
			NonRetryableErrorTypes: []string{errTypePermanent},
		},
	})
	split := workflow.GetVersion(ctx, versionScanSplit, workflow.DefaultVersion, 1)
	var res CrawlResult
	if err := workflow.ExecuteActivity(onQueue(long, config.QueueCrawl), a.CrawlRun, CrawlRunRequest{SourceID: in.SourceID, RunID: runID}).Get(ctx, &res); err != nil {
		return res, err
	}
	if split == 1 {
		var s *ScanActivities
		var sr ScanResult
		if err := workflow.ExecuteActivity(onQueue(long, config.QueueScan), s.ScanRun, ScanRunRequest{SourceID: in.SourceID, RunID: runID}).Get(ctx, &sr); err != nil {
			return res, err
		}
		res.Hits += sr.Hits
	}
	if err := workflow.ExecuteActivity(short, d.DispatchHits).Get(ctx, &res.Dispatched); err != nil {
		return res, err
	}
	return res, nil
}
