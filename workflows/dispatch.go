package workflows

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/leakwatch/leakwatch/storage"
)

// DispatchHits delivers undelivered hits to their case workflows with
// signal-with-start, in hit order, marking each delivered afterwards. A crash
// between the two re-delivers the hit, which the case ignores as already seen.
func DispatchHits(ctx context.Context, store *storage.Store, c client.Client, taskQueue string) (int, error) {
	n := 0
	for {
		hits, err := store.UndispatchedHits(ctx, 200)
		if err != nil {
			return n, err
		}
		if len(hits) == 0 {
			return n, nil
		}
		for _, h := range hits {
			cs, err := store.EnsureCase(ctx, h.Target, CaseWorkflowID(h.Target))
			if err != nil {
				return n, err
			}
			opts := client.StartWorkflowOptions{
				ID:                    cs.WorkflowID,
				TaskQueue:             taskQueue,
				WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
				TypedSearchAttributes: temporal.NewSearchAttributes(
					SearchCaseState.ValueSet(storage.CaseDetected), SearchCaseTarget.ValueSet(h.Target)),
			}
			_, err = c.SignalWithStartWorkflow(ctx, cs.WorkflowID, SignalHit, HitSignal{HitID: h.ID}, opts,
				TakedownCaseName, CaseInput{CaseID: cs.ID, Target: cs.Target})
			if err != nil {
				return n, fmt.Errorf("signal case %s with hit %d: %w", cs.WorkflowID, h.ID, err)
			}
			if err := store.MarkDispatched(ctx, h.ID); err != nil {
				return n, err
			}
			n++
		}
	}
}
