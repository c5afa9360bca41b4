package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/internal/references"
)

func runScan(ctx context.Context, e *env, args []string) error {
	fset := flag.NewFlagSet("scan", flag.ContinueOnError)
	asJSON := fset.Bool("json", false, "one JSON object per item and line")
	paths, err := e.parseFlags(fset, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return errors.New("usage: leakwatch scan [--json] PATH... (- for stdin)")
	}
	sc, err := e.scanner(ctx)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(e.stdout)
	var tot references.Totals
	emit := func(r references.ItemResult) error {
		if r.Matches == nil {
			r.Matches = []fingerprints.Match{}
		}
		tot.Add(r)
		if *asJSON {
			return enc.Encode(r)
		}
		switch {
		case r.Error != "" && len(r.Matches) == 0:
			fmt.Fprintf(e.stdout, "%s: error: %s\n", r.Path, r.Error)
		case len(r.Matches) == 0 && len(r.Unmatchable) > 0:
			fmt.Fprintf(e.stdout, "%s: no match; %s\n", r.Path, strings.Join(r.Unmatchable, "; "))
		case len(r.Matches) == 0:
			fmt.Fprintf(e.stdout, "%s: no match\n", r.Path)
		default:
			fmt.Fprintf(e.stdout, "%s: %d reference files / %d patients\n", r.Path, r.Refs, r.Patients)
			for _, m := range r.Matches {
				fmt.Fprintf(e.stdout, "    %s %-11s score %.2f  %s  (%s)\n", m.RefID, m.Method, m.Score, m.RefName, m.Why)
			}
		}
		return nil
	}
	for _, p := range paths {
		if p == "-" {
			if err := sc.ScanReader(ctx, "-", e.stdin, emit); err != nil {
				return err
			}
			continue
		}
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				return emit(references.ItemResult{Path: path, Error: err.Error()})
			}
			if !d.Type().IsRegular() {
				return nil
			}
			f, err := os.Open(path)
			if err != nil {
				return emit(references.ItemResult{Path: path, Error: err.Error()})
			}
			defer f.Close()
			return sc.ScanReader(ctx, path, f, emit)
		})
		if err != nil {
			return fmt.Errorf("scan %s: %w", p, err)
		}
	}
	if !*asJSON {
		fmt.Fprintf(e.stdout, "%d items, %d matched: %d reference files / %d patients exposed\n", tot.Items, tot.Matched, tot.Refs(), tot.Patients())
	}
	if tot.Errors > 0 {
		return fmt.Errorf("scan: %d items could not be read", tot.Errors)
	}
	return nil
}
