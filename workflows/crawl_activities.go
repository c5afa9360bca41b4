package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"filippo.io/age"
	"go.temporal.io/sdk/temporal"

	"github.com/leakwatch/leakwatch/crawlers/tgmonitor"
	"github.com/leakwatch/leakwatch/crawlers/webcrawl"
	"github.com/leakwatch/leakwatch/internal/capture"
	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/internal/removal"
	"github.com/leakwatch/leakwatch/internal/tick"
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
	// EvidenceDir holds the runs' WARC files (capture.EvidenceDir); empty
	// records no WARC evidence.
	EvidenceDir string
	// EvidenceRecipients encrypt the WARC files at rest (age) as each is
	// closed; empty keeps them plain.
	EvidenceRecipients []age.Recipient
	// TSAURL, if set, timestamps each run's Merkle root (RFC 3161).
	TSAURL string
	// Revisit is how long a URL that did not change is left alone.
	Revisit capture.RevisitTTL
	// Telegram reads telegram sources; nil: they fail with a clear error.
	Telegram *tgmonitor.Monitor
	// Force crawls a source even while it is backed off as unreachable
	// (a person asked for this crawl).
	Force  bool
	Logger *slog.Logger // nil discards
}

func (a *CrawlActivities) log() *slog.Logger { return orDiscard(a.Logger) }

// Liveness of crawl runs: a running crawl touches its run every
// runHeartbeat; one silent for staleRunAfter died with its process.
const (
	runHeartbeat  = 15 * time.Second
	staleRunAfter = 2 * time.Minute
)

// StartCrawlRun records the start of a crawl of a source.
func (a *CrawlActivities) StartCrawlRun(ctx context.Context, sourceID uint64) (uint64, error) {
	ctx = logCtx(ctx, "source_id", sourceID)
	if n, err := a.Store.InterruptStaleRuns(ctx, staleRunAfter); err != nil {
		return 0, err
	} else if n > 0 {
		a.log().WarnContext(ctx, "crawl runs whose crawler died marked interrupted", "runs", n)
	}
	src, err := a.Store.SourceByID(ctx, sourceID)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return 0, temporal.NewNonRetryableApplicationError(err.Error(), errTypePermanent, err)
		}
		return 0, err
	}
	if !a.Force {
		if until, n, err := a.backedOff(ctx, src.ID); err != nil {
			return 0, err
		} else if !until.IsZero() {
			// 0 tells CrawlSource to skip this run.
			a.log().WarnContext(ctx, "source unreachable in its last runs; skipping this crawl", "source", src.Name,
				"failed_runs", n, "next_try_after", until.UTC().Format(time.RFC3339))
			return 0, nil
		}
	}
	run, err := a.Store.StartRun(ctx, src.ID)
	if err != nil {
		return 0, err
	}
	return run.ID, nil
}

// A dead host (an onion service gone, a seized forum) is backed off: after
// deadAfter runs in a row that reached nothing, the next crawls wait an hour,
// then two, four… up to a day, and a crawl that reaches anything resets it.
const (
	deadAfter  = 3
	maxBackoff = 24 * time.Hour
)

// backedOff reports until when a source is left alone, and after how many
// fruitless runs; a zero time means crawl now.
func (a *CrawlActivities) backedOff(ctx context.Context, sourceID uint64) (time.Time, int, error) {
	runs, err := a.Store.RecentRuns(ctx, sourceID, deadAfter+8)
	if err != nil {
		return time.Time{}, 0, err
	}
	n := 0
	for _, r := range runs {
		if r.Stopped == removal.Stopped {
			continue // a removal re-check of listed items: 404s there are the goal, not an outage
		}
		if r.Pages > 0 || r.Files > 0 || r.Failed == 0 {
			break
		}
		n++
	}
	if n < deadAfter || runs[0].FinishedAt == nil {
		return time.Time{}, n, nil
	}
	backoff := min(time.Hour<<(n-deadAfter), maxBackoff)
	until := runs[0].FinishedAt.Add(backoff)
	if time.Now().After(until) {
		return time.Time{}, n, nil
	}
	return until, n, nil
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
	ctx = logCtx(ctx, "run_id", req.RunID, "source_id", req.SourceID)
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
	watch, err := capture.CompileWatch(src.Options.WatchTerms)
	if err != nil {
		return CrawlResult{}, temporal.NewNonRetryableApplicationError(err.Error(), errTypePermanent, err)
	}
	rec.WithWatch(watch)
	if src.Kind == storage.SourceTelegram {
		return a.watchTelegram(ctx, src, run, rec)
	}
	opts := webcrawl.ForSource(a.Crawler, src)
	opts.Logger = a.log()
	if opts.Login, opts.Cookies, err = webcrawl.SourceAuth(src); err != nil {
		// The operator must fix the source's credentials; retrying cannot.
		return CrawlResult{}, temporal.NewNonRetryableApplicationError(err.Error(), errTypePermanent, err)
	}
	warc, err := a.evidenceWriter(run)
	if err != nil {
		return CrawlResult{}, err
	}
	if warc != nil {
		defer warc.Close()
		opts.Evidence = warc
	}
	cr, err := webcrawl.New(opts)
	if err != nil {
		return CrawlResult{}, temporal.NewNonRetryableApplicationError(err.Error(), errTypePermanent, err)
	}
	defer cr.Close()
	// A retry resumes the run, which may have been given up as interrupted.
	if err := a.Store.TouchRun(ctx, run.ID); err != nil {
		return CrawlResult{}, err
	}
	stopBeat := a.keepAlive(ctx, run.ID)
	a.log().InfoContext(ctx, "crawl started", "source", src.Name, "run", run.ID)
	st, cerr := cr.Crawl(ctx, src.URL, capture.WebSink{Run: rec, TTL: a.Revisit})
	stopBeat()
	run.Pages, run.Files, run.Hits = st.Pages, st.Files, rec.Hits()
	run.Failed, run.Bytes, run.Stopped, run.Fresh = st.Failed, st.Bytes, st.Stopped, st.Fresh
	if len(st.Errors) > 0 {
		b, _ := json.Marshal(st.Errors)
		run.Errors = string(b)
	}
	if err := a.finishRun(ctx, &run, warc, cerr); err != nil {
		return CrawlResult{}, err
	}
	a.log().InfoContext(ctx, "crawl finished", "source", src.Name, "run", run.ID, "pages", st.Pages,
		"files", st.Files, "fresh", st.Fresh, "failed", st.Failed, "bytes", st.Bytes, "hits", rec.Hits(), "stopped", st.Stopped,
		"took", st.Elapsed.Round(time.Millisecond), "err", cerr)
	res := CrawlResult{RunID: run.ID, Pages: st.Pages, Files: st.Files, Failed: st.Failed, Fresh: st.Fresh, Hits: rec.Hits(), Stopped: st.Stopped}
	if cerr != nil {
		return res, fmt.Errorf("crawl %s: %w", src.Name, cerr)
	}
	return res, nil
}

// watchTelegram reads a telegram source's channel into a run: what is new
// since the last run, then more of its history (crawlers/tgmonitor). A run
// that dies resumes from the channel's saved cursors.
func (a *CrawlActivities) watchTelegram(ctx context.Context, src storage.Source, run storage.CrawlRun, rec *capture.Run) (CrawlResult, error) {
	if a.Telegram == nil {
		err := fmt.Errorf("source %s is a Telegram channel, and Telegram is not configured (telegram.api_id and an account)", src.Name)
		return CrawlResult{}, temporal.NewNonRetryableApplicationError(err.Error(), errTypePermanent, err)
	}
	req := tgmonitor.Request{Source: src, Recorder: rec, MaxFileBytes: a.Crawler.MaxDownloadBytes}
	warc, err := a.evidenceWriter(run)
	if err != nil {
		return CrawlResult{}, err
	}
	if warc != nil {
		defer warc.Close()
		req.Evidence = warc
	}
	if err := a.Store.TouchRun(ctx, run.ID); err != nil {
		return CrawlResult{}, err
	}
	stopBeat := a.keepAlive(ctx, run.ID)
	a.log().InfoContext(ctx, "telegram watch started", "source", src.Name, "run", run.ID)
	t0 := time.Now()
	st, werr := a.Telegram.Watch(ctx, req)
	stopBeat()
	run.Pages, run.Files, run.Hits, run.Failed, run.Bytes = st.Messages, st.Files, rec.Hits(), st.Failed, st.Bytes
	run.Stopped = "done"
	if !st.Backfill {
		run.Stopped = "history still to read"
	}
	if err := a.finishRun(ctx, &run, warc, werr); err != nil {
		return CrawlResult{}, err
	}
	a.log().InfoContext(ctx, "telegram watch finished", "source", src.Name, "run", run.ID, "messages", st.Messages,
		"files", st.Files, "skipped", st.Skipped, "failed", st.Failed, "bytes", st.Bytes, "hits", rec.Hits(),
		"took", time.Since(t0).Round(time.Millisecond), "err", werr)
	res := CrawlResult{RunID: run.ID, Pages: st.Messages, Files: st.Files, Failed: st.Failed, Hits: rec.Hits(), Stopped: run.Stopped}
	if werr != nil {
		werr = fmt.Errorf("telegram %s: %w", src.Name, werr)
		if tgmonitor.IsPermanent(werr) {
			return res, temporal.NewNonRetryableApplicationError(werr.Error(), errTypePermanent, werr)
		}
		return res, werr
	}
	return res, nil
}

// keepAlive reports the crawl alive, to Temporal (so a crawl whose worker
// died is retried within a minute) and to the run row, until stopped. A
// fetch may take minutes, so fetches alone are not a heartbeat.
func (a *CrawlActivities) keepAlive(ctx context.Context, runID uint64) (stop func()) {
	return tick.Every(ctx, runHeartbeat, func(ctx context.Context) {
		heartbeat(ctx, runID)
		if err := a.Store.TouchRun(ctx, runID); err != nil && ctx.Err() == nil {
			a.log().WarnContext(ctx, "cannot record crawl liveness", "run", runID, "err", err)
		}
	})
}

// evidenceWriter opens a run's WARC writer, or returns nil when no
// evidence is kept. A retry resumes the run's WARC files in a new file.
func (a *CrawlActivities) evidenceWriter(run storage.CrawlRun) (*evidence.Writer, error) {
	if a.EvidenceDir == "" {
		return nil, nil
	}
	return evidence.NewWriter(a.EvidenceDir, evidence.WriterOptions{RunID: capture.EvidenceRunID(run.ID), Recipients: a.EvidenceRecipients})
}

// finishRun records a run's outcome (failed with werr's reason, when not
// nil) even if the activity's context is gone, then closes its evidence
// and seals what it captured, also when it failed part-way. It returns werr
// joined with whatever of that failed, except sealing, which is logged.
func (a *CrawlActivities) finishRun(ctx context.Context, run *storage.CrawlRun, warc *evidence.Writer, werr error) error {
	run.Status = storage.RunOK
	if werr != nil {
		run.Status, run.Error = storage.RunFailed, werr.Error()
	}
	if err := a.Store.FinishRun(context.WithoutCancel(ctx), run); err != nil {
		return errors.Join(werr, err)
	}
	if warc == nil {
		return nil
	}
	if err := warc.Close(); err != nil {
		return errors.Join(werr, fmt.Errorf("close evidence of run %d: %w", run.ID, err))
	}
	if err := capture.Seal(context.WithoutCancel(ctx), a.Store, run.ID, a.TSAURL, &http.Client{Timeout: 30 * time.Second}); err != nil {
		a.log().WarnContext(ctx, "run not fully sealed", "run", run.ID, "source", run.SourceID, "err", err)
	}
	return nil
}
