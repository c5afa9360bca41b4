package workflows

import (
	"context"
	"errors"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/leakwatch/leakwatch/internal/logctx"
)

// logCtx tags every line logged with the returned context (through a
// logctx handler) with args — ids only — and, inside an activity, the
// workflow's id. Activities call it once, at the top.
func logCtx(ctx context.Context, args ...any) context.Context {
	if activity.IsActivity(ctx) {
		args = append(args, "workflow_id", activity.GetInfo(ctx).WorkflowExecution.ID)
	}
	return logctx.With(ctx, args...)
}

// NoticeObserver counts notice sends by outcome (internal/metrics
// implements it): "sent", "already-sent", "uncertain", "refused" or
// "failed".
type NoticeObserver interface {
	ObserveNoticeSend(outcome string)
}

// sendOutcome names how a SendNotice attempt ended, for NoticeObserver.
func sendOutcome(res SendResult, err error) string {
	var app *temporal.ApplicationError
	switch {
	case err == nil:
		return res.Outcome
	case errors.As(err, &app) && app.Type() == errTypePermanent:
		return "refused"
	}
	return "failed"
}
