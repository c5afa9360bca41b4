package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/leakwatch/leakwatch/internal/capture"
)

const evidenceUsage = "usage: leakwatch evidence verify RUN"

// runEvidence checks the evidence kept of crawls.
func runEvidence(ctx context.Context, e *env, args []string) error {
	fset := flag.NewFlagSet("evidence", flag.ContinueOnError)
	pos, err := e.parseFlags(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 || pos[0] != "verify" {
		return errors.New(evidenceUsage)
	}
	runID, err := strconv.ParseUint(strings.TrimPrefix(pos[1], "run-"), 10, 64)
	if err != nil || runID == 0 {
		return fmt.Errorf("evidence verify: %q is not a run number", pos[1])
	}
	if _, err := e.loadConfig(false); err != nil {
		return err
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	probs, re, err := capture.VerifyRun(ctx, store, e.cfg.DataDir, runID)
	if err != nil {
		return fmt.Errorf("evidence verify: %w", err)
	}
	for _, p := range probs {
		where := p.File
		if p.RecordID != "" {
			where = fmt.Sprintf("%s@%d %s", p.File, p.Offset, p.RecordID)
		}
		fmt.Fprintf(e.stdout, "FAIL %s: %s %s\n", p.Kind, where, p.Detail)
	}
	stamp := "no timestamp"
	if re.Run.StampedAt != nil {
		stamp = fmt.Sprintf("timestamped %s by %s", re.Run.StampedAt.UTC().Format("2006-01-02T15:04:05Z"), re.Run.TSAURL)
	}
	if len(probs) > 0 {
		return fmt.Errorf("evidence of run %d does not verify: %d problems", runID, len(probs))
	}
	fmt.Fprintf(e.stdout, "run %d: %d captures, %d WARC records verified; Merkle root %s (%s)\n",
		runID, len(re.Captures), len(re.Records), re.Run.MerkleRoot, stamp)
	return nil
}
