package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/leakwatch/leakwatch/internal/references/refeval"
)

// runBench measures the fingerprint engine: `bench refs` builds a synthetic
// index of a given size; `bench scan DIR` scans files against the index.
func runBench(ctx context.Context, e *env, args []string) error {
	const use = "usage: leakwatch bench refs [--docs N] [--samples N] | bench scan DIR"
	if len(args) == 0 {
		return errors.New(use)
	}
	switch args[0] {
	case "refs":
		fset := flag.NewFlagSet("bench refs", flag.ContinueOnError)
		docs := fset.Int("docs", 10000, "synthetic documents to index (the breach had 428337)")
		samples := fset.Int("samples", 500, "documents whose match latency is measured")
		keep := fset.String("dir", "", "work directory to keep (default: a temporary one, removed)")
		if _, err := e.parseFlags(fset, args[1:]); err != nil {
			return err
		}
		if _, err := e.loadConfig(false); err != nil {
			return err
		}
		dir := *keep
		if dir == "" {
			tmp, err := os.MkdirTemp("", "leakwatch-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(tmp)
			dir = tmp
		}
		b, err := refeval.BenchRefs(ctx, dir, *docs, *samples, e.matchOptions())
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "documents      %d (generated in %s)\n", b.Docs, b.GenerateTime.Round(1e6))
		fmt.Fprintf(e.stdout, "index build    %s\n", b.BuildTime.Round(1e6))
		fmt.Fprintf(e.stdout, "peak RSS       %.0f MB\n", float64(b.PeakRSS)/1e6)
		fmt.Fprintf(e.stdout, "index on disk  %.1f MB (%d references, %d text, %d image, %d field fingerprints)\n",
			float64(b.IndexBytes)/1e6, b.Index.References, b.Index.Prints, b.Index.Images, b.Index.Fields)
		fmt.Fprintf(e.stdout, "index load     %s (into memory, as a scanner does at start)\n", b.LoadTime.Round(time.Millisecond))
		fmt.Fprintf(e.stdout, "match latency  p50 %s  p99 %s (matcher only, %d samples)\n", b.MatchP50, b.MatchP99, b.Samples)
		fmt.Fprintf(e.stdout, "scan latency   p50 %s  p99 %s (extract + fingerprint + match)\n", b.ScanP50, b.ScanP99)
		fmt.Fprintf(e.stdout, "self-matches   %d of %d samples found their own reference\n", b.MatchedSample, b.Samples)
		return nil
	case "scan":
		pos, err := e.parseFlags(flag.NewFlagSet("bench scan", flag.ContinueOnError), args[1:])
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return errors.New(use)
		}
		key, err := e.fingerprintKey()
		if err != nil {
			return err
		}
		store, err := e.openStore(ctx)
		if err != nil {
			return err
		}
		b, err := refeval.BenchScan(ctx, store, key, pos[0], e.matchOptions())
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "%d files, %.1f MB\n", b.Files, float64(b.Bytes)/1e6)
		fmt.Fprintf(e.stdout, "raw SHA-256           %8.1f MB/s (one core)\n", b.RawSHA256)
		fmt.Fprintf(e.stdout, "exact-only scanning   %8.1f MB/s (one core) = %.0f%% of raw SHA-256\n", b.ExactOnly, 100*b.ExactOnly/b.RawSHA256)
		fmt.Fprintf(e.stdout, "full pipeline         %8.1f MB/s, %.0f files/s (%d workers); %d files matched\n", b.FullMBps, b.FullFilesPS, b.Workers, b.Matched)
		return nil
	}
	return errors.New(use)
}
