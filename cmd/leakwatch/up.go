package main

import (
	"context"
	"flag"
	"fmt"
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

// runWorker runs a worker (and schedules, and the hit dispatcher) only.
func runWorker(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	if _, err := e.parseFlags(fs, args); err != nil {
		return err
	}
	if _, err := e.loadConfig(true); err != nil {
		return err
	}
	s, err := startStack(ctx, e, stackOptions{worker: true})
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
