package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"sort"
	"time"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/internal/capture"
	"github.com/leakwatch/leakwatch/storage"
)

const gcUsage = "usage: leakwatch gc [--dry-run] [--json]"

// runGC applies the retention policy: it removes the scraped content
// (WARC files) of runs past retention.content_days that are no evidence
// of an open or recently closed case and under no legal hold, and says
// what it removed and what it kept, and why. Safe while `up` runs.
func runGC(ctx context.Context, e *env, args []string) error {
	fset := flag.NewFlagSet("gc", flag.ContinueOnError)
	dry := fset.Bool("dry-run", false, "list what would be removed; remove nothing")
	asJSON := fset.Bool("json", false, "print the report as JSON")
	pos, err := e.parseFlags(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return errors.New(gcUsage)
	}
	cfg, err := e.loadConfig(false)
	if err != nil {
		return err
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	keys, err := e.evidenceKeys()
	if err != nil {
		return err
	}
	rep, err := capture.GC(ctx, store, cfg.DataDir, capture.GCOptions{Policy: retentionPolicy(cfg), Now: time.Now(), DryRun: *dry, Actor: cliActor()})
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	if *asJSON {
		b, err := json.Marshal(rep)
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, string(b))
	} else {
		printGCReport(e, rep)
	}
	if !keys.Encrypts() {
		e.log.WarnContext(ctx, "evidence is kept unencrypted at rest: set evidence.key_file (make one with `leakwatch evidence keygen FILE`)")
	} else if rep.PlainFiles > 0 {
		e.log.WarnContext(ctx, "WARC files of kept runs are still unencrypted: run `leakwatch evidence encrypt`", "files", rep.PlainFiles)
	}
	return nil
}

// retentionPolicy is the configuration's policy.
func retentionPolicy(cfg *config.Config) capture.Policy {
	return capture.Policy{ContentDays: cfg.Retention.ContentDays, ClosedCaseDays: cfg.Retention.ClosedCaseDays}
}

func printGCReport(e *env, rep capture.GCReport) {
	verb := "removed"
	if rep.DryRun {
		verb = "would remove"
	}
	fmt.Fprintf(e.stdout, "retention (%s): %s the content of %d run(s): %d file(s), %d bytes\n", rep.Policy, verb, rep.Runs, rep.Files, rep.Bytes)
	for _, r := range rep.Removed {
		resumed := ""
		if r.Resumed {
			resumed = " (finishing an interrupted gc)"
		}
		fmt.Fprintf(e.stdout, "  run %d: %d file(s), %d bytes — %s%s\n", r.RunID, r.Files, r.Bytes, r.Reason, resumed)
	}
	kept := make([]string, 0, len(rep.Kept))
	for k := range rep.Kept {
		kept = append(kept, k)
	}
	sort.Strings(kept)
	for _, k := range kept {
		fmt.Fprintf(e.stdout, "kept %d run(s): %s\n", rep.Kept[k], k)
	}
	if rep.Swept > 0 {
		fmt.Fprintf(e.stdout, "%s %d leftover file(s) in runs removed before\n", map[bool]string{true: "would sweep", false: "swept"}[rep.DryRun], rep.Swept)
	}
	if rep.SpoolPurged > 0 {
		fmt.Fprintf(e.stdout, "%s %d spooled capture(s) no scan took before the limit\n", map[bool]string{true: "would remove", false: "removed"}[rep.DryRun], rep.SpoolPurged)
	}
	if rep.PlainFiles > 0 {
		fmt.Fprintf(e.stdout, "%d WARC file(s) of kept runs are not encrypted at rest\n", rep.PlainFiles)
	}
}

// removalNote says what retention did to a run's content, for verify and
// export; "" when it is all there.
func removalNote(rm *storage.EvidenceRemoval) string {
	switch {
	case rm == nil:
		return ""
	case !rm.Done():
		return fmt.Sprintf("content being removed by retention since %s under policy %s (%s)", rm.MarkedAt.UTC().Format("2006-01-02"), rm.Policy, rm.Reason)
	}
	return fmt.Sprintf("content removed by retention on %s under policy %s (%s; %d files, %d bytes)", rm.RemovedAt.UTC().Format("2006-01-02"), rm.Policy, rm.Reason, rm.Files, rm.Bytes)
}
