package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/leakwatch/leakwatch/internal/capture"
	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/storage"
)

const evidenceUsage = "usage: leakwatch evidence verify RUN|capture-ID | evidence export CASE FILE | evidence keygen FILE | evidence encrypt"

// runEvidence checks the evidence kept of crawls and exports it for counsel.
func runEvidence(ctx context.Context, e *env, args []string) error {
	fset := flag.NewFlagSet("evidence", flag.ContinueOnError)
	pos, err := e.parseFlags(fset, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 2 && pos[0] == "verify":
		return verifyEvidence(ctx, e, pos[1])
	case len(pos) == 3 && pos[0] == "export":
		return exportEvidence(ctx, e, pos[1], pos[2])
	case len(pos) == 2 && pos[0] == "keygen":
		pub, err := evidence.GenerateKey(pos[1], time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote %s (keep it outside the data directory, and a copy offline: evidence encrypted to it cannot be read without it)\npublic key: %s\nset evidence.key_file: %s\n", pos[1], pub, pos[1])
		return nil
	case len(pos) == 1 && pos[0] == "encrypt":
		return encryptEvidence(ctx, e)
	}
	return errors.New(evidenceUsage)
}

// encryptEvidence encrypts the WARC files left plain in the data
// directory: evidence kept before evidence.key_file was set, or a crashed
// run's.
func encryptEvidence(ctx context.Context, e *env) error {
	if _, err := e.loadConfig(false); err != nil {
		return err
	}
	keys, err := e.evidenceKeys()
	if err != nil {
		return err
	}
	if !keys.Encrypts() {
		return errors.New("evidence encrypt: no evidence key: set evidence.key_file or evidence.recipients (make a key with `leakwatch evidence keygen FILE`)")
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	n, err := capture.EncryptLeftovers(ctx, store, e.cfg.DataDir, keys.Recipients, time.Now())
	if err != nil {
		return fmt.Errorf("evidence encrypt: %w", err)
	}
	if n > 0 {
		if err := store.Audit(ctx, cliActor(), "evidence.encrypt", "evidence", fmt.Sprintf("%d WARC files encrypted at rest", n)); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stdout, "encrypted %d WARC file(s); runs still running, or ended in the last few minutes, are left to their writer\n", n)
	return nil
}

// verifyEvidence re-checks one run's WARC records, Merkle root and token,
// or one capture's records and its place under its run's root
// ("capture-ID").
func verifyEvidence(ctx context.Context, e *env, arg string) error {
	if c, ok := strings.CutPrefix(arg, "capture-"); ok {
		id, err := strconv.ParseUint(c, 10, 64)
		if err != nil || id == 0 {
			return fmt.Errorf("evidence verify: %q is not a capture number", arg)
		}
		return verifyCaptureEvidence(ctx, e, id)
	}
	runID, err := strconv.ParseUint(strings.TrimPrefix(arg, "run-"), 10, 64)
	if err != nil || runID == 0 {
		return fmt.Errorf("evidence verify: %q is not a run number", arg)
	}
	if _, err := e.loadConfig(false); err != nil {
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
	probs, re, err := capture.VerifyRun(ctx, store, e.cfg.DataDir, runID, keys.Identities...)
	if err != nil {
		return fmt.Errorf("evidence verify: %w", err)
	}
	printProblems(e, "", probs)
	stamp := stampOf(re.Run)
	if len(probs) > 0 {
		return fmt.Errorf("evidence of run %d does not verify: %d problems", runID, len(probs))
	}
	if note := removalNote(re.Removed); note != "" {
		fmt.Fprintf(e.stdout, "run %d: %s; the seal and digests remain: %d captures, %d WARC records' digests match Merkle root %s (%s)\n",
			runID, note, len(re.Captures), len(re.Records), re.Run.MerkleRoot, stamp)
		return nil
	}
	fmt.Fprintf(e.stdout, "run %d: %d captures, %d WARC records verified; Merkle root %s (%s)\n",
		runID, len(re.Captures), len(re.Records), re.Run.MerkleRoot, stamp)
	return nil
}

func verifyCaptureEvidence(ctx context.Context, e *env, id uint64) error {
	if _, err := e.loadConfig(false); err != nil {
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
	probs, ce, err := capture.VerifyCapture(ctx, store, e.cfg.DataDir, id, keys.Identities...)
	if err != nil {
		return fmt.Errorf("evidence verify: %w", err)
	}
	printProblems(e, "", probs)
	if len(probs) > 0 {
		return fmt.Errorf("evidence of capture %d does not verify: %d problems", id, len(probs))
	}
	stamp := stampOf(ce.Run)
	if note := removalNote(ce.Removed); note != "" {
		fmt.Fprintf(e.stdout, "capture %d (run %d): %s; the seal and digests remain: leaves %v in Merkle root %s (%s)\n",
			id, ce.Run.ID, note, ce.Leaves, ce.Run.MerkleRoot, stamp)
		return nil
	}
	fmt.Fprintf(e.stdout, "capture %d (run %d): %d WARC exchanges verified, leaves %v in Merkle root %s (%s)\n",
		id, ce.Run.ID, len(ce.Records), ce.Leaves, ce.Run.MerkleRoot, stamp)
	return nil
}

// stampOf says whether and by whom a run's seal was timestamped.
func stampOf(run storage.CrawlRun) string {
	if run.StampedAt == nil {
		return "no timestamp"
	}
	return fmt.Sprintf("timestamped %s by %s", run.StampedAt.UTC().Format("2006-01-02T15:04:05Z"), run.TSAURL)
}

func printProblems(e *env, prefix string, probs []capture.Problem) {
	for _, p := range probs {
		where := p.File
		if p.RecordID != "" {
			where = fmt.Sprintf("%s@%d %s", p.File, p.Offset, p.RecordID)
		}
		fmt.Fprintf(e.stdout, "FAIL %s%s: %s %s\n", prefix, p.Kind, where, p.Detail)
	}
}

// exportEvidence writes the evidence behind a case to a tar.gz for counsel.
func exportEvidence(ctx context.Context, e *env, ref, out string) error {
	if _, err := e.loadConfig(false); err != nil {
		return err
	}
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("evidence export: %s already exists; not overwriting it", out)
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	cs, err := store.CaseByRef(ctx, ref)
	if err != nil {
		return fmt.Errorf("evidence export: %w", err)
	}
	caps, err := store.CapturesForCase(ctx, cs.ID)
	if err != nil {
		return fmt.Errorf("evidence export: %w", err)
	}
	if len(caps) == 0 {
		return fmt.Errorf("evidence export: case %d has no hits", cs.ID)
	}
	keys, err := e.evidenceKeys()
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	x, bad, err := capture.BuildCaseExport(ctx, store, e.cfg.DataDir, cs, caps, now, keys.Identities...)
	for runID, probs := range bad {
		printProblems(e, fmt.Sprintf("run %d ", runID), probs)
	}
	if err != nil {
		return fmt.Errorf("evidence export: %w", err)
	}
	idx := x.Index
	sum, err := writeFileAtomic(out, func(w io.Writer) error {
		return x.WriteBundle(w, capture.EvidenceDir(e.cfg.DataDir), keys.Identities...)
	})
	if err != nil {
		return fmt.Errorf("evidence export: %w", err)
	}
	var withRecord int
	for _, c := range idx.Captures {
		if c.WARC != nil {
			withRecord++
		}
	}
	detail := fmt.Sprintf("%d captures (%d with WARC records) from %d runs; bundle sha256 %s", len(idx.Captures), withRecord, len(idx.Runs), sum)
	if err := store.Audit(ctx, cliActor(), "evidence.export", fmt.Sprintf("case:%d", cs.ID), detail); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "case %d (%s): %d captures, %d with WARC records, from %d run(s)\n", cs.ID, cs.Target, len(idx.Captures), withRecord, len(idx.Runs))
	for _, r := range idx.Runs {
		stamp := "not timestamped"
		switch {
		case !r.Sealed:
			stamp = "NOT SEALED: root computed now, not timestamped"
		case r.TimestampTime != nil:
			stamp = fmt.Sprintf("timestamped %s by %s", r.TimestampTime.Format("2006-01-02T15:04:05Z"), r.TSAURL)
		}
		if r.ContentRemoved != nil {
			fmt.Fprintf(e.stdout, "  run %d: content removed by retention on %s under policy %s; manifest and digests of %d WARC records, Merkle root %s (%s)\n",
				r.RunID, r.ContentRemoved.Format("2006-01-02"), r.RetentionPolicy, r.Records, r.MerkleRoot, stamp)
			continue
		}
		fmt.Fprintf(e.stdout, "  run %d: %d WARC records in %d files, Merkle root %s (%s)\n", r.RunID, r.Records, len(r.WARCFiles), r.MerkleRoot, stamp)
	}
	if n := len(idx.Captures) - withRecord; n > 0 {
		fmt.Fprintf(e.stdout, "  %d captures have no WARC record (captured before evidence was kept)\n", n)
	}
	fmt.Fprintf(e.stdout, "wrote %s (sha256 %s)\n", out, sum)
	return nil
}

// writeFileAtomic writes path through a temporary file in its directory
// (mode 0600) and renames it into place once complete, so a failed export
// leaves no partial bundle. It returns the file's hex SHA-256.
func writeFileAtomic(dst string, write func(io.Writer) error) (string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return "", err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	if err := write(io.MultiWriter(tmp, h)); err != nil {
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if _, err := os.Lstat(dst); err == nil {
		return "", fmt.Errorf("%s appeared while exporting; not overwriting it", dst)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", err
	}
	done = true
	return hex.EncodeToString(h.Sum(nil)), nil
}
