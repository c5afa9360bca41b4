package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/leakwatch/leakwatch/internal/references/refeval"
)

// Targets from the fingerprint engine's brief.
const (
	targetRecall    = 0.95
	targetPrecision = 0.99
)

// runEval measures precision and recall per transform class on a freshly
// generated synthetic breach and leak mix.
func runEval(ctx context.Context, e *env, args []string) error {
	fset := flag.NewFlagSet("eval", flag.ContinueOnError)
	docs := fset.Int("docs", 300, "synthetic reference documents")
	perClass := fset.Int("per-class", 20, "leak items per transform class")
	seed := fset.Int64("seed", 1, "generator seed")
	photoWidth := fset.Int("photo-width", 0, "enlarge synthetic photos to this width, like camera exports (0: small thumbnails)")
	photos := fset.String("photos", "", "directories (comma-separated) of real photographs for the real-* classes; default: Debian's desktop backgrounds under /usr/share/backgrounds; \"off\" leaves them out")
	seeds := fset.Int("seeds", 1, "run this many seeds (seed, seed+1, ...) and report each class over all of them")
	asJSON := fset.Bool("json", false, "print the report as JSON")
	keep := fset.String("dir", "", "work directory to keep for inspection (default: a temporary one, removed)")
	if _, err := e.parseFlags(fset, args); err != nil {
		return err
	}
	if _, err := e.loadConfig(false); err != nil {
		return err
	}
	if *seeds < 1 || *seeds > 100 {
		return fmt.Errorf("eval: --seeds must be 1..100, got %d", *seeds)
	}
	if *seeds > 1 && *keep != "" {
		return fmt.Errorf("eval: --dir keeps one run; use it with --seeds 1")
	}
	var reps []refeval.EvalReport
	for i := range *seeds {
		rep, err := refeval.Evaluate(ctx, refeval.EvalOptions{Dir: *keep, Docs: *docs, PerClass: *perClass, Seed: *seed + int64(i), PhotoWidth: *photoWidth, Photos: *photos, Match: e.matchOptions()})
		if err != nil {
			return err
		}
		if *seeds > 1 {
			fmt.Fprintf(e.stderr, "seed %d: %d references, %d items, %s\n", *seed+int64(i), rep.Refs, rep.Items, rep.Elapsed.Round(1e6))
		}
		reps = append(reps, rep)
	}
	rep := refeval.Merge(reps)
	if *asJSON {
		return json.NewEncoder(e.stdout).Encode(rep)
	}
	fmt.Fprintf(e.stdout, "%d references, %d leak items, %d real photographs indexed, %d seed(s), %s\n\n", rep.Refs, rep.Items, rep.RealPhotos, *seeds, rep.Elapsed.Round(1e6))
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLASS\tITEMS\tRECALL\tPRECISION\tLAYERS")
	var failed []string
	for _, c := range rep.Classes {
		var layers []string
		for m, n := range c.Methods {
			layers = append(layers, fmt.Sprintf("%s:%d", m, n))
		}
		fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.3f\t%s\n", c.Transform, c.Items, c.Recall, c.Precision, strings.Join(layers, " "))
		if c.Recall < targetRecall || c.Precision < targetPrecision {
			failed = append(failed, c.Transform)
		}
	}
	tw.Flush()
	for t, why := range rep.Skipped {
		fmt.Fprintf(e.stdout, "skipped %s: %s\n", t, why)
	}
	for _, c := range rep.Classes {
		for _, m := range c.Misses {
			fmt.Fprintf(e.stdout, "miss %s: %s\n", c.Transform, m)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("eval: below target (recall >= %.2f at precision >= %.2f) in %s", targetRecall, targetPrecision, strings.Join(failed, ", "))
	}
	fmt.Fprintf(e.stdout, "all classes meet recall >= %.2f at precision >= %.2f\n", targetRecall, targetPrecision)
	return nil
}
