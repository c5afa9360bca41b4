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
	asJSON := fset.Bool("json", false, "print the report as JSON")
	keep := fset.String("dir", "", "work directory to keep for inspection (default: a temporary one, removed)")
	if _, err := e.parseFlags(fset, args); err != nil {
		return err
	}
	if _, err := e.loadConfig(false); err != nil {
		return err
	}
	rep, err := refeval.Evaluate(ctx, refeval.EvalOptions{Dir: *keep, Docs: *docs, PerClass: *perClass, Seed: *seed, PhotoWidth: *photoWidth, Match: e.matchOptions()})
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(e.stdout).Encode(rep)
	}
	fmt.Fprintf(e.stdout, "%d references, %d leak items, %s\n\n", rep.Refs, rep.Items, rep.Elapsed.Round(1e6))
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
