package workflows

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

// CrawlSource under the SDK's test environment: activities are stubbed, so
// these check the workflow's wiring and retry policies, not the crawler.

type crawlEnv struct {
	*testsuite.TestWorkflowEnvironment
	starts, dispatches int
	crawlAttempts      []int32 // activity.Info.Attempt of every CrawlRun call
	crawlReqs          []CrawlRunRequest
	scanReqs           []ScanRunRequest
	calls              []string // activity name @ task queue, in order
}

// newCrawlEnv stubs StartCrawlRun (run 42), DispatchHits (one per hit the
// crawl reported) and CrawlRun, which fails with crawlErrs[i] on its i-th
// attempt and then returns res.
func newCrawlEnv(t *testing.T, res CrawlResult, crawlErrs ...error) *crawlEnv {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	e := &crawlEnv{TestWorkflowEnvironment: s.NewTestWorkflowEnvironment()}
	RegisterWorkflows(e)
	var a *CrawlActivities
	var d *Dispatcher
	e.OnActivity(a.StartCrawlRun, mock.Anything, mock.Anything).Return(func(_ context.Context, sourceID uint64) (uint64, error) {
		e.starts++
		if sourceID != 5 {
			return 0, temporal.NewNonRetryableApplicationError("no such source", errTypePermanent, nil)
		}
		return 42, nil
	})
	e.OnActivity(a.CrawlRun, mock.Anything, mock.Anything).Return(func(ctx context.Context, req CrawlRunRequest) (CrawlResult, error) {
		e.calls = append(e.calls, "CrawlRun@"+activity.GetInfo(ctx).TaskQueue)
		e.crawlAttempts = append(e.crawlAttempts, activity.GetInfo(ctx).Attempt)
		e.crawlReqs = append(e.crawlReqs, req)
		if i := len(e.crawlAttempts) - 1; i < len(crawlErrs) {
			return CrawlResult{RunID: req.RunID}, crawlErrs[i]
		}
		return res, nil
	})
	var sa *ScanActivities
	e.OnActivity(sa.ScanRun, mock.Anything, mock.Anything).Return(func(ctx context.Context, req ScanRunRequest) (ScanResult, error) {
		e.calls = append(e.calls, "ScanRun@"+activity.GetInfo(ctx).TaskQueue)
		e.scanReqs = append(e.scanReqs, req)
		return ScanResult{Items: 4, Hits: 2}, nil
	})
	e.OnActivity(d.DispatchHits, mock.Anything).Return(func(ctx context.Context) (int, error) {
		e.calls = append(e.calls, "DispatchHits@"+activity.GetInfo(ctx).TaskQueue)
		e.dispatches++
		return res.Hits, nil
	})
	return e
}

func (e *crawlEnv) run(t *testing.T, sourceID uint64) (CrawlResult, error) {
	t.Helper()
	e.ExecuteWorkflow(CrawlSourceName, CrawlInput{SourceID: sourceID})
	if !e.IsWorkflowCompleted() {
		t.Fatal("CrawlSource did not complete")
	}
	if err := e.GetWorkflowError(); err != nil {
		return CrawlResult{}, err
	}
	var res CrawlResult
	if err := e.GetWorkflowResult(&res); err != nil {
		t.Fatalf("decoding result: %v", err)
	}
	return res, nil
}

func TestCrawlSourceHappyPath(t *testing.T) {
	crawled := CrawlResult{RunID: 42, Pages: 17, Files: 4, Failed: 1, Hits: 3}
	e := newCrawlEnv(t, crawled)
	res, err := e.run(t, 5)
	if err != nil {
		t.Fatalf("CrawlSource failed: %v", err)
	}
	// The crawl's counts, the scan's hits, and the dispatcher's count.
	want := CrawlResult{RunID: 42, Pages: 17, Files: 4, Failed: 1, Hits: 3 + 2, Dispatched: 3}
	if res != want {
		t.Errorf("result = %+v, want %+v", res, want)
	}
	if e.starts != 1 || e.dispatches != 1 || len(e.crawlAttempts) != 1 {
		t.Errorf("calls: StartCrawlRun %d, CrawlRun %d, DispatchHits %d; want 1 each", e.starts, len(e.crawlAttempts), e.dispatches)
	}
	if len(e.crawlReqs) == 1 && e.crawlReqs[0] != (CrawlRunRequest{SourceID: 5, RunID: 42}) {
		t.Errorf("CrawlRun got %+v, want the started run of source 5", e.crawlReqs[0])
	}
	if len(e.scanReqs) != 1 || e.scanReqs[0] != (ScanRunRequest{SourceID: 5, RunID: 42}) {
		t.Errorf("ScanRun got %+v, want one scan of the crawled run", e.scanReqs)
	}
	// Fetching and matching on their own queues; the hits are dispatched
	// once matched, from the workflow's queue.
	const q = "default-test-taskqueue"
	wantCalls := []string{"CrawlRun@" + q + "-crawl", "ScanRun@" + q + "-scan", "DispatchHits@" + q}
	if !slices.Equal(e.calls, wantCalls) {
		t.Errorf("activities ran %v, want %v", e.calls, wantCalls)
	}
}

// A permanent failure ends the crawl at once: no retries, no dispatch. Both
// spellings must stop retries: an error marked non-retryable, and a
// retryable one whose type the retry policy lists as non-retryable.
func TestCrawlSourcePermanentFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		perm error
	}{
		{"non-retryable", temporal.NewNonRetryableApplicationError("robots.txt forbids the site", errTypePermanent, nil)},
		{"policy", temporal.NewApplicationError("robots.txt forbids the site", errTypePermanent)},
	} {
		perm := tc.perm
		t.Run(tc.name, func(t *testing.T) {
			e := newCrawlEnv(t, CrawlResult{RunID: 42, Pages: 1}, perm, perm, perm)
			_, err := e.run(t, 5)
			var appErr *temporal.ApplicationError
			if !errors.As(err, &appErr) || appErr.Type() != errTypePermanent {
				t.Fatalf("workflow error = %v, want the Permanent application error", err)
			}
			var actErr *temporal.ActivityError
			if !errors.As(err, &actErr) || actErr.ActivityType().Name != "CrawlRun" {
				t.Errorf("workflow error = %v, want it to come from CrawlRun", err)
			}
			if len(e.crawlAttempts) != 1 {
				t.Errorf("CrawlRun attempts = %v, want exactly one", e.crawlAttempts)
			}
			if e.dispatches != 0 {
				t.Errorf("DispatchHits called %d times after a failed crawl", e.dispatches)
			}
		})
	}
}

// A source that does not exist fails the workflow before any crawl.
func TestCrawlSourceUnknownSource(t *testing.T) {
	e := newCrawlEnv(t, CrawlResult{})
	_, err := e.run(t, 99)
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != errTypePermanent {
		t.Fatalf("workflow error = %v, want the Permanent application error", err)
	}
	if e.starts != 1 || len(e.crawlAttempts) != 0 || e.dispatches != 0 {
		t.Errorf("calls: StartCrawlRun %d, CrawlRun %d, DispatchHits %d; want 1, 0, 0", e.starts, len(e.crawlAttempts), e.dispatches)
	}
}

// Transient failures (a dropped connection, a worker restart) are retried
// into the same run until the crawl succeeds.
func TestCrawlSourceTransientFailureRetried(t *testing.T) {
	transient := errors.New("read tcp: connection reset by peer")
	crawled := CrawlResult{RunID: 42, Pages: 9, Files: 2, Hits: 1}
	e := newCrawlEnv(t, crawled, transient, transient)
	res, err := e.run(t, 5)
	if err != nil {
		t.Fatalf("CrawlSource failed: %v", err)
	}
	if !equal(e.crawlAttempts, []int32{1, 2, 3}) {
		t.Errorf("CrawlRun attempts = %v, want [1 2 3]", e.crawlAttempts)
	}
	for _, req := range e.crawlReqs {
		if req.RunID != 42 {
			t.Errorf("a retry crawled into run %d, want the started run 42", req.RunID)
		}
	}
	if e.starts != 1 {
		t.Errorf("StartCrawlRun called %d times; a retry must resume the run, not start another", e.starts)
	}
	want := crawled
	want.Hits, want.Dispatched = 1+2, 1 // the crawl's and the scan's hits
	if res != want || e.dispatches != 1 {
		t.Errorf("result = %+v after %d dispatches, want %+v after 1", res, e.dispatches, want)
	}
}

// Retries are bounded: a crawl that keeps failing gives up after
// MaximumAttempts (5) and dispatches nothing.
func TestCrawlSourceGivesUpAfterMaxAttempts(t *testing.T) {
	transient := errors.New("dial tcp: i/o timeout")
	errs := make([]error, 10)
	for i := range errs {
		errs[i] = transient
	}
	e := newCrawlEnv(t, CrawlResult{RunID: 42}, errs...)
	_, err := e.run(t, 5)
	if err == nil {
		t.Fatal("CrawlSource succeeded though every crawl attempt failed")
	}
	if !equal(e.crawlAttempts, []int32{1, 2, 3, 4, 5}) {
		t.Errorf("CrawlRun attempts = %v, want [1 2 3 4 5]", e.crawlAttempts)
	}
	if e.dispatches != 0 {
		t.Errorf("DispatchHits called %d times after a failed crawl", e.dispatches)
	}
}
