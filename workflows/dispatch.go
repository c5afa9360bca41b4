package workflows

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/leakwatch/leakwatch/storage"
)

// Dispatcher delivers recorded hits to their takedown cases. Its
// DispatchHits runs as the last activity of a crawl, from `up`'s
// housekeeping (hits a crash or the CLI left behind) and from the CLI.
type Dispatcher struct {
	Store     *storage.Store
	Client    client.Client
	TaskQueue string // where case workflows it starts run
}

// DispatchHits delivers undelivered hits to their case workflows with
// signal-with-start, one signal per target per batch so a case drafts one
// notice for a whole crawl's finds, and marks them delivered afterwards. A
// crash between the two re-delivers the hits, which the case ignores as seen.
func (d *Dispatcher) DispatchHits(ctx context.Context) (int, error) {
	store, c, taskQueue := d.Store, d.Client, d.TaskQueue
	n := 0
	for {
		hits, err := store.UndispatchedHits(ctx, 500)
		if err != nil {
			return n, err
		}
		if len(hits) == 0 {
			return n, nil
		}
		var targets []string
		byTarget := map[string][]uint64{}
		for _, h := range hits {
			if _, ok := byTarget[h.Target]; !ok {
				targets = append(targets, h.Target)
			}
			byTarget[h.Target] = append(byTarget[h.Target], h.ID)
		}
		for _, target := range targets {
			ids := byTarget[target]
			cs, err := store.EnsureCase(ctx, target, CaseWorkflowID(target))
			if err != nil {
				return n, err
			}
			opts := client.StartWorkflowOptions{
				ID:                    cs.WorkflowID,
				TaskQueue:             taskQueue,
				WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
				TypedSearchAttributes: temporal.NewSearchAttributes(
					SearchCaseState.ValueSet(string(storage.CaseDetected)), SearchCaseTarget.ValueSet(target)),
			}
			_, err = c.SignalWithStartWorkflow(ctx, cs.WorkflowID, SignalHit, HitSignal{HitIDs: ids}, opts,
				TakedownCaseName, CaseInput{CaseID: cs.ID, Target: cs.Target})
			if err != nil {
				return n, fmt.Errorf("signal case %s with %d hits: %w", cs.WorkflowID, len(ids), err)
			}
			if err := store.MarkDispatched(ctx, ids); err != nil {
				return n, err
			}
			n += len(ids)
		}
	}
}
