package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/internal/references"
)

func runRefs(ctx context.Context, e *env, args []string) error {
	const use = "usage: leakwatch refs add [--no-names] DIR | refs import-hashes FILE | refs migrate | refs compact | refs verify"
	if len(args) == 0 {
		return errors.New(use)
	}
	switch args[0] {
	case "add":
		return runRefsAdd(ctx, e, args[1:])
	case "import-hashes":
		return runRefsImportHashes(ctx, e, args[1:])
	case "migrate", "compact", "verify":
		return runRefsSegments(ctx, e, args[0], args[1:])
	}
	return errors.New(use)
}

// runRefsSegments looks after the index's print segments: migrate moves an
// older index's prints out of the database, compact merges the segments
// (dropping prints of replaced references), verify re-reads every segment
// against its checksum.
func runRefsSegments(ctx context.Context, e *env, verb string, args []string) error {
	pos, err := e.parseFlags(flag.NewFlagSet("refs "+verb, flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("usage: leakwatch refs %s (no arguments)", verb)
	}
	key, err := e.fingerprintKey()
	if err != nil {
		return err
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	switch verb {
	case "migrate":
		n, err := references.MigrateLegacyPrints(ctx, store, key, e.log)
		if err != nil {
			return fmt.Errorf("refs migrate: %w", err)
		}
		if n == 0 {
			fmt.Fprintln(e.stdout, "nothing to migrate: the index's prints are already in segment files")
			return nil
		}
		fmt.Fprintf(e.stdout, "moved %d text fingerprints into a segment file in %s\n", n, time.Since(start).Round(time.Millisecond))
	case "compact":
		seg, err := references.Compact(ctx, store, key)
		if err != nil {
			return fmt.Errorf("refs compact: %w", err)
		}
		if seg.ID == 0 {
			fmt.Fprintln(e.stdout, "nothing to compact: the index has fewer than two segments")
			return nil
		}
		fmt.Fprintf(e.stdout, "merged the index into %s: %d text fingerprints, %d bytes, in %s\n",
			seg.Name, seg.Postings, seg.Bytes, time.Since(start).Round(time.Millisecond))
	case "verify":
		n, err := references.VerifySegments(ctx, store, key)
		if err != nil {
			return fmt.Errorf("refs verify: %w", err)
		}
		fmt.Fprintf(e.stdout, "%d segment files verified in %s\n", n, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

func runRefsAdd(ctx context.Context, e *env, args []string) error {
	fset := flag.NewFlagSet("refs add", flag.ContinueOnError)
	noNames := fset.Bool("no-names", false, "store no file names, only fingerprints")
	pos, err := e.parseFlags(fset, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("usage: leakwatch refs add [--no-names] DIR")
	}
	key, err := e.fingerprintKey()
	if err != nil {
		return err
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	st, err := addRefs(ctx, e, pos[0], key, *noNames)
	fmt.Fprintf(e.stdout, "indexed %d files (%d new, %d already known), %d items, %d bytes in %s; %d unreadable\n",
		st.Files, st.Added, st.Unchanged, st.Items, st.Bytes, st.Elapsed.Round(time.Millisecond), st.Failed)
	if line := trivialSummary(st.Trivial, st.TrivialMembers); line != "" {
		fmt.Fprintln(e.stdout, line)
	}
	if err != nil {
		return err
	}
	if ix, err := store.IndexStats(ctx); err == nil {
		fmt.Fprintf(e.stdout, "index: %d references, %d text fingerprints (%d segment files, %d bytes), %d image fingerprints, %d record fields\n",
			ix.References, ix.Prints, ix.Segments, ix.SegmentBytes, ix.Images, ix.Fields)
	}
	if st.Failed > 0 {
		return fmt.Errorf("refs add: %d files could not be read (listed above); the rest were indexed", st.Failed)
	}
	return nil
}

// addRefs imports a directory with a progress bar when stderr is a terminal.
func addRefs(ctx context.Context, e *env, dir string, key *fingerprints.Key, noNames bool) (references.Stats, error) {
	opts := references.Options{
		Key: key, NoNames: noNames, Workers: e.cfg.Fingerprints.Workers, MaxBytes: e.cfg.Fingerprints.MaxAnalyzeBytes,
		Match: e.matchOptions(),
		Report: func(path string, err error) {
			fmt.Fprintf(e.stderr, "leakwatch: refs add: %s: %v\n", path, err)
		},
		// Per file at debug only: a breach's worth of empty files would
		// drown the summary. name is a path MAC under --no-names.
		Trivial: func(name string, why fingerprints.TrivialReason) {
			e.log.DebugContext(ctx, "refs add: skipped, no evidence", "file", name, "reason", string(why))
		},
	}
	if f, ok := e.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		var bar *progressbar.ProgressBar
		opts.Progress = func(p references.Progress) {
			if bar == nil {
				bar = progressbar.NewOptions64(p.Bytes, progressbar.OptionSetWriter(e.stderr), progressbar.OptionShowBytes(true),
					progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionFullWidth(),
					progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionOnCompletion(func() { fmt.Fprintln(e.stderr) }))
			}
			bar.Describe(fmt.Sprintf("%d/%d files", p.Done, p.Files))
			bar.Set64(p.DoneBytes)
		}
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return references.Stats{}, err
	}
	return references.Import(ctx, store, dir, opts)
}

func runRefsImportHashes(ctx context.Context, e *env, args []string) error {
	pos, err := e.parseFlags(flag.NewFlagSet("refs import-hashes", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("usage: leakwatch refs import-hashes FILE (sha256sum, md5sum or hashdeep output)")
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return fmt.Errorf("refs import-hashes: %w", err)
	}
	defer f.Close()
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	st, err := references.ImportHashes(ctx, store, bufio.NewReader(f))
	fmt.Fprintf(e.stdout, "imported %d hashes (%d new, %d already known); %d lines skipped\n", st.Lines, st.Added, st.Known, st.Skipped)
	if st.Trivial > 0 {
		fmt.Fprintf(e.stdout, "%d entries not imported as no evidence: empty files or under %d bytes\n", st.Trivial, fingerprints.MinEvidenceBytes)
	}
	return err
}

// trivialSummary says how many files and members refs add skipped as no
// evidence, by reason ("" if none).
func trivialSummary(files, members map[fingerprints.TrivialReason]int) string {
	count := func(m map[fingerprints.TrivialReason]int) (int, string) {
		n := 0
		var parts []string
		for _, why := range []fingerprints.TrivialReason{fingerprints.TrivialEmpty, fingerprints.TrivialSmall,
			fingerprints.TrivialNoContent, fingerprints.TrivialBlank} {
			if m[why] > 0 {
				n += m[why]
				parts = append(parts, fmt.Sprintf("%d %s", m[why], why))
			}
		}
		return n, strings.Join(parts, ", ")
	}
	nf, why := count(files)
	nm, whyM := count(members)
	if nf+nm == 0 {
		return ""
	}
	line := fmt.Sprintf("skipped as no evidence (empty, trivially small or without content): %d files", nf)
	if nf > 0 {
		line += " (" + why + ")"
	}
	if nm > 0 {
		line += fmt.Sprintf(", %d archive members or attachments (%s)", nm, whyM)
	}
	return line
}
