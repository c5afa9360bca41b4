// Package workflows holds leakwatch's Temporal workflows and activities:
// scheduled crawls (CrawlSource) and one TakedownCase per host or channel,
// which drafts a notice citing the injunction, waits for a lawyer's
// approval, sends it and keeps watching for the content to reappear.
//
// Workflow code is deterministic; all I/O happens in activities, which are
// thin wrappers over the packages that do the work. Activities come in
// three types, each holding only what it needs, so a worker can host any
// subset of them:
//
//   - CrawlActivities: crawl a source and hand what it fetched to the
//     capture pipeline (internal/capture);
//   - Dispatcher: deliver recorded hits to their cases;
//   - CaseActivities: draft, approve and send notices (internal/notices);
//   - ScanActivities: match what crawl workers without the reference index
//     spooled (capture.Pipeline.ScanSpooled).
//
// Fetching, matching and sending run on task queues of their own (see
// queues.go), so `leakwatch worker --queues` scales each apart.
package workflows

import (
	"context"
	"log/slog"

	"go.temporal.io/sdk/activity"
)

// errTypePermanent marks activity errors that retrying cannot fix.
const errTypePermanent = "Permanent"

// systemActor is the audit actor for what the system does on its own.
const systemActor = "leakwatch"

// orDiscard is l, or a logger that discards when l is nil (activities'
// Logger fields are optional).
func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// heartbeat reports progress when running as an activity; the same code also
// runs in the CLI, outside any activity.
func heartbeat(ctx context.Context, details ...any) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, details...)
	}
}
