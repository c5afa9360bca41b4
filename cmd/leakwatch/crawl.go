package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/leakwatch/leakwatch/workflows"
)

// runCrawl crawls one source now, in this process, and hands any hits to
// their cases if leakwatch is running; otherwise `up` delivers them later.
func runCrawl(ctx context.Context, e *env, args []string) error {
	fset := flag.NewFlagSet("crawl", flag.ContinueOnError)
	pos, err := e.parseFlags(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("usage: leakwatch crawl SOURCE")
	}
	if _, err := e.loadConfig(false); err != nil {
		return err
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	src, err := store.SourceByName(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("crawl: %w", err)
	}
	acts, err := e.crawlActivities(ctx)
	if err != nil {
		return err
	}
	runID, err := acts.StartCrawlRun(ctx, src.ID)
	if err != nil {
		return err
	}
	res, err := acts.CrawlRun(ctx, workflows.CrawlRunRequest{SourceID: src.ID, RunID: runID})
	fmt.Fprintf(e.stdout, "crawl %s (run %d): %d pages, %d files, %d failed fetches, %d hits (%s)\n",
		src.Name, res.RunID, res.Pages, res.Files, res.Failed, res.Hits, res.Stopped)
	if err != nil {
		return err
	}
	c, err := dialTemporal(ctx, e, "")
	if err != nil {
		fmt.Fprintf(e.stdout, "hits are queued; they open cases when leakwatch up runs (%v)\n", err)
		return nil
	}
	defer c.Close()
	n, err := e.dispatcher(c).DispatchHits(ctx)
	if err != nil {
		return fmt.Errorf("crawl: deliver hits to cases: %w (they stay queued)", err)
	}
	fmt.Fprintf(e.stdout, "%d hits delivered to cases\n", n)
	return nil
}
