package workflows

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/leakwatch/leakwatch/internal/capture"
	"github.com/leakwatch/leakwatch/internal/tick"
	"github.com/leakwatch/leakwatch/storage"
)

// ScanActivities match what crawl workers without the reference index
// spooled (capture.Pipeline.ScanSpooled). They run on the scan queue, in
// processes that loaded the index.
type ScanActivities struct {
	Store *storage.Store
	// Pipeline has the Scanner and the Spool sealer.
	Pipeline *capture.Pipeline
	// Parallel captures are matched at once (fingerprints.workers).
	Parallel int
	Logger   *slog.Logger // nil discards
}

func (a *ScanActivities) log() *slog.Logger { return orDiscard(a.Logger) }

// ScanRunRequest names a crawled run whose spooled captures to match.
type ScanRunRequest struct {
	SourceID uint64
	RunID    uint64
}

// ScanResult is what a ScanRun matched.
type ScanResult struct {
	Items int // spooled captures matched
	Hits  int // hits recorded
}

// ScanRun matches the captures a crawl of the source spooled, up to its
// run (earlier runs' leftovers too), recording hits, exposure and URL
// state as an inline crawl does. Each capture's results and the removal of
// its spool row are one transaction, so a retry after a crash matches only
// what is left and records nothing twice. A run crawled inline spooled
// nothing, and its ScanRun returns at once.
func (a *ScanActivities) ScanRun(ctx context.Context, req ScanRunRequest) (ScanResult, error) {
	src, err := a.Store.SourceByID(ctx, req.SourceID)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return ScanResult{}, temporal.NewNonRetryableApplicationError(err.Error(), errTypePermanent, err)
		}
		return ScanResult{}, err
	}
	watch, err := capture.CompileWatch(src.Options.WatchTerms)
	if err != nil {
		return ScanResult{}, temporal.NewNonRetryableApplicationError(err.Error(), errTypePermanent, err)
	}
	// Matching one large file takes a while: beat on a clock as well as
	// per capture.
	stop := tick.Every(ctx, 10*time.Second, func(ctx context.Context) { heartbeat(ctx, req.RunID) })
	t0 := time.Now()
	st, err := a.Pipeline.ScanSpooled(ctx, capture.SpoolScan{SourceID: req.SourceID, RunID: req.RunID, Watch: watch,
		Parallel: a.Parallel, Progress: func(done int) { heartbeat(ctx, req.RunID, done) }})
	stop()
	if st.Items > 0 || err != nil {
		a.log().InfoContext(ctx, "spooled captures matched", "source", src.Name, "run", req.RunID, "captures", st.Items,
			"hits", st.Hits, "took", time.Since(t0).Round(time.Millisecond), "err", err)
	}
	if errors.Is(err, capture.ErrSpoolKey) {
		// Retrying with the same key cannot open it; the rows stay for a
		// worker with the right key.
		return ScanResult{Items: st.Items, Hits: st.Hits}, temporal.NewNonRetryableApplicationError(err.Error(), errTypePermanent, err)
	}
	return ScanResult{Items: st.Items, Hits: st.Hits}, err
}
