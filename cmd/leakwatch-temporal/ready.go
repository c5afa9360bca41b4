package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	namespacepb "go.temporal.io/api/namespace/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"google.golang.org/protobuf/types/known/durationpb"
)

// waitReady blocks until the frontend at address answers health checks and
// describes the namespace, then brings the namespace's retention and search
// attributes in line with the flags (they may predate this start).
func waitReady(ctx context.Context, address string, opts options, logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, opts.readyTimeout)
	defer cancel()

	c, err := dialUntilReady(ctx, address, opts.namespace, logger)
	if err != nil {
		return err
	}
	defer c.Close()

	desc, err := retry(ctx, func(ctx context.Context) (*workflowservice.DescribeNamespaceResponse, error) {
		return c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: opts.namespace})
	})
	if err != nil {
		return fmt.Errorf("describing namespace %q on %s: %w", opts.namespace, address, err)
	}
	if err := ensureRetention(ctx, c, desc, opts, logger); err != nil {
		return err
	}
	return ensureSearchAttributes(ctx, c, opts.namespace, logger)
}

func dialUntilReady(ctx context.Context, address, namespace string, logger *slog.Logger) (client.Client, error) {
	// The SDK logs to stdout unless given a logger; stdout is reserved for the ready line.
	sdkLogger := sdklog.NewStructuredLogger(logger.With("component", "sdk-client"))
	return retry(ctx, func(ctx context.Context) (client.Client, error) {
		c, err := client.DialContext(ctx, client.Options{HostPort: address, Namespace: namespace, Logger: sdkLogger})
		if err != nil {
			return nil, err
		}
		if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	})
}

func ensureRetention(ctx context.Context, c client.Client, desc *workflowservice.DescribeNamespaceResponse, opts options, logger *slog.Logger) error {
	current := desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration()
	if current == opts.retention {
		return nil
	}
	logger.Info("updating namespace retention", "namespace", opts.namespace, "from", current, "to", opts.retention)
	_, err := c.WorkflowService().UpdateNamespace(ctx, &workflowservice.UpdateNamespaceRequest{
		Namespace: opts.namespace,
		Config:    &namespacepb.NamespaceConfig{WorkflowExecutionRetentionTtl: durationpb.New(opts.retention)},
	})
	if err != nil {
		return fmt.Errorf("updating retention of namespace %q to %s: %w", opts.namespace, opts.retention, err)
	}
	return nil
}

// ensureSearchAttributes adds the custom search attributes a namespace created
// by an older version lacks. New namespaces already have them (ensureNamespaces).
func ensureSearchAttributes(ctx context.Context, c client.Client, namespace string, logger *slog.Logger) error {
	list, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("listing search attributes of namespace %q: %w", namespace, err)
	}
	wanted := searchAttributes()
	missing := map[string]enumspb.IndexedValueType{}
	for _, name := range slices.Sorted(maps.Keys(wanted)) {
		want := wanted[name]
		got, ok := list.GetCustomAttributes()[name]
		switch {
		case !ok:
			missing[name] = want
		case got != want:
			return fmt.Errorf("search attribute %s of namespace %q has type %s, want %s", name, namespace, got, want)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	logger.Info("adding search attributes", "namespace", namespace, "attributes", slices.Sorted(maps.Keys(missing)))
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	})
	if err != nil {
		return fmt.Errorf("adding search attributes to namespace %q: %w", namespace, err)
	}
	return nil
}

// retry calls f until it succeeds or ctx ends; the frontend refuses calls for a
// moment after Start returns while its dependencies finish warming up.
func retry[T any](ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	const perTry = 5 * time.Second
	delay := 50 * time.Millisecond
	for {
		tryCtx, cancel := context.WithTimeout(ctx, perTry)
		v, err := f(tryCtx)
		cancel()
		if err == nil {
			return v, nil
		}
		select {
		case <-ctx.Done():
			var zero T
			return zero, errors.Join(err, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(delay*2, time.Second)
	}
}
