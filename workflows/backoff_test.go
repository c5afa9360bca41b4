package workflows

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"

	"github.com/leakwatch/leakwatch/storage"
)

// A source whose last runs reached nothing is left alone for a while, ever
// longer; a crawl a person asks for still runs; one that reaches anything
// ends the backoff.
func TestDeadSourceBackedOff(t *testing.T) {
	ctx := context.Background()
	store, err := storage.Open(ctx, "", filepath.Join(t.TempDir(), "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	src := storage.Source{Name: "gone", Kind: storage.SourceForum, URL: "http://gone.onion/", Enabled: true}
	if err := store.CreateSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	finish := func(pages, failed int, ago time.Duration) {
		t.Helper()
		run, err := store.StartRun(ctx, src.ID)
		if err != nil {
			t.Fatal(err)
		}
		run.Status, run.Pages, run.Failed = storage.RunFailed, pages, failed
		if err := store.FinishRun(ctx, &run); err != nil {
			t.Fatal(err)
		}
		// Backdate it (FinishRun stamps now).
		at := time.Now().Add(-ago).UTC()
		if err := store.DB().Model(&storage.CrawlRun{}).Where("id = ?", run.ID).Update("finished_at", at).Error; err != nil {
			t.Fatal(err)
		}
	}
	a := &CrawlActivities{Store: store}
	for range deadAfter {
		finish(0, 1, time.Minute)
	}
	if id, err := a.StartCrawlRun(ctx, src.ID); err != nil || id != 0 {
		t.Fatalf("after %d fruitless runs: run %d, %v; want the crawl skipped", deadAfter, id, err)
	}
	forced := &CrawlActivities{Store: store, Force: true}
	if id, err := forced.StartCrawlRun(ctx, src.ID); err != nil || id == 0 {
		t.Fatalf("a crawl asked for by a person: run %d, %v; want it started", id, err)
	}
	store.DB().Where("status = ?", storage.RunRunning).Delete(&storage.CrawlRun{})
	// The backoff grows: one more fruitless run an hour and a half ago
	// (past the first hour, within the next two).
	finish(0, 1, 90*time.Minute)
	if id, _ := a.StartCrawlRun(ctx, src.ID); id != 0 {
		t.Fatal("4 fruitless runs, the last 90 minutes ago: want a 2-hour backoff")
	}
	finish(0, 1, 3*time.Hour) // five in a row, the newest 3 hours ago: within the 4-hour backoff
	if id, _ := a.StartCrawlRun(ctx, src.ID); id != 0 {
		t.Fatal("5 fruitless runs, the last 3 hours ago: want a 4-hour backoff")
	}
	store.DB().Where("status = ?", storage.RunRunning).Delete(&storage.CrawlRun{})
	finish(3, 0, time.Minute) // it answered again
	if id, err := a.StartCrawlRun(ctx, src.ID); err != nil || id == 0 {
		t.Fatalf("after a run that reached the site: run %d, %v; want a crawl", id, err)
	}
}

// CrawlSource skips a backed-off source without crawling or dispatching.
func TestCrawlSourceSkipsBackedOff(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	e := s.NewTestWorkflowEnvironment()
	RegisterWorkflows(e)
	var a *CrawlActivities
	var d *Dispatcher
	e.OnActivity(a.StartCrawlRun, mock.Anything, mock.Anything).Return(uint64(0), nil)
	e.OnActivity(a.CrawlRun, mock.Anything, mock.Anything).Return(CrawlResult{}, errors.New("must not crawl")).Maybe()
	e.OnActivity(d.DispatchHits, mock.Anything).Return(0, errors.New("must not dispatch")).Maybe()
	e.ExecuteWorkflow(CrawlSourceName, CrawlInput{SourceID: 1})
	if err := e.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res CrawlResult
	if err := e.GetWorkflowResult(&res); err != nil || res.RunID != 0 || res.Stopped == "" {
		t.Fatalf("result %+v, %v; want a skipped run", res, err)
	}
}
