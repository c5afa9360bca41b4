package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/leakwatch/leakwatch/config"
)

// runUp runs everything on one machine: the supervised leakwatch-temporal
// (unless temporal.address names a cluster), a worker, the web UI/API and the
// crawl schedules.
func runUp(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	if _, err := e.parseFlags(fs, args); err != nil {
		return err
	}
	if _, err := e.loadConfig(true); err != nil {
		return err
	}
	s, err := startStack(ctx, e, stackOptions{worker: true, web: true})
	if err != nil {
		return err
	}
	defer s.stop()
	fmt.Fprintf(e.stdout, "leakwatch is up: open %s\n", e.cfg.Web.BaseURL)
	return s.run(ctx)
}

// runWorker runs a worker (and schedules, and the hit dispatcher) only:
// the base task queue, and the queues of heavy work --queues (or
// worker.queues) names.
func runWorker(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	queues := fs.String("queues", "", "queues of heavy work to serve, comma-separated: crawl, scan, notify (default worker.queues: all)")
	pos, err := e.parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("worker: unexpected argument %q (usage: leakwatch worker [--queues crawl,scan,notify])", pos[0])
	}
	var qs []string
	if *queues != "" {
		if qs, err = config.ParseQueues(*queues); err != nil {
			return fmt.Errorf("worker --queues: %w", err)
		}
	}
	cfg, err := e.loadConfig(true)
	if err != nil {
		return err
	}
	if qs == nil {
		qs = cfg.Worker.QueueList()
	}
	s, err := startStack(ctx, e, stackOptions{worker: true, queues: qs})
	if err != nil {
		return err
	}
	defer s.stop()
	return s.run(ctx)
}

// runWeb runs the web UI/API only.
func runWeb(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("web", flag.ContinueOnError)
	if _, err := e.parseFlags(fs, args); err != nil {
		return err
	}
	if _, err := e.loadConfig(false); err != nil {
		return err
	}
	s, err := startStack(ctx, e, stackOptions{web: true})
	if err != nil {
		return err
	}
	defer s.stop()
	return s.run(ctx)
}
