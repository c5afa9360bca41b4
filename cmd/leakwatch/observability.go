package main

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"

	"github.com/leakwatch/leakwatch/internal/metrics"
	"github.com/leakwatch/leakwatch/storage"
)

// observability is what a long-running process (up, worker, web) reports
// about itself: one registry for leakwatch's metrics and the Temporal
// SDK's, the reference index's state and the database-backed queues. CLI
// commands have none (e.obs is nil), and every hook is nil-safe.
type observability struct {
	reg     *prometheus.Registry
	work    *metrics.Metrics
	index   metrics.Index
	queues  *metrics.Queues
	client  atomic.Pointer[client.Client] // for the temporal ready check, once dialled
	closers []io.Closer
}

// startObservability makes e's observability, once.
func (e *env) startObservability(store *storage.Store) *observability {
	if e.obs != nil {
		return e.obs
	}
	o := &observability{reg: metrics.NewRegistry(), queues: metrics.NewQueues(e.log.With("component", "metrics"))}
	o.work = metrics.New(o.reg)
	o.reg.MustRegister(o.index.Collector(), o.queues)
	o.queues.Add(metrics.Queue{Name: "hits", Backlog: store.HitBacklog})
	// Captures crawl workers left for scan workers (worker --queues crawl).
	o.queues.Add(metrics.Queue{Name: "scan_spool", Backlog: store.SpoolBacklog})
	e.obs = o
	return o
}

// metrics returns the work's metrics; nil (counting nothing) without
// observability.
func (o *observability) metrics() *metrics.Metrics {
	if o == nil {
		return nil
	}
	return o.work
}

// temporalHandler is the SDK metrics handler for a client of this process,
// or nil without observability.
func (o *observability) temporalHandler(e *env) client.MetricsHandler {
	if o == nil {
		return nil
	}
	h, closer := metrics.TemporalHandler(o.reg, e.log.With("component", "metrics"))
	o.closers = append(o.closers, closer)
	return h
}

// readyChecks are what /readyz checks: the database, Temporal (once this
// process has a client) and the reference index.
func (o *observability) readyChecks(store *storage.Store) []metrics.ReadyCheck {
	return []metrics.ReadyCheck{
		{Name: "database", Check: store.Ping},
		o.temporalCheck(),
		o.index.ReadyCheck(),
	}
}

// temporalCheck is ready once the client is dialled and the cluster
// answers.
func (o *observability) temporalCheck() metrics.ReadyCheck {
	return metrics.ReadyCheck{Name: "temporal", Check: func(ctx context.Context) error {
		c := o.client.Load()
		if c == nil {
			return errors.New("not connected to Temporal yet")
		}
		_, err := (*c).CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	}}
}

func (o *observability) close() {
	if o == nil {
		return
	}
	for _, c := range o.closers {
		_ = c.Close()
	}
	o.closers = nil
}

// serveMetrics starts the metrics listener (metrics.listen): /metrics,
// /healthz and /readyz, for the process's whole life. A port that cannot be
// bound fails the start.
func serveMetrics(e *env, o *observability, store *storage.Store) (stop func(), err error) {
	log := e.log.With("component", "metrics")
	l, err := metrics.Listen(e.cfg.Metrics.Listen, o.reg, o.readyChecks(store), log)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := l.Serve(ctx); err != nil {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	log.Info("serving /metrics, /healthz and /readyz", "listen", l.Addr())
	return func() { cancel(); <-done }, nil
}
