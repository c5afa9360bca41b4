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

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/workflows"
)

// scanResult is one line of `scan --json`; scripts depend on its fields.
type scanResult struct {
	Path    string               `json:"path"`
	SHA256  string               `json:"sha256,omitempty"`
	Matches []fingerprints.Match `json:"matches"`
	Error   string               `json:"error,omitempty"`
}

func runScan(ctx context.Context, e *env, args []string) error {
	fset := flag.NewFlagSet("scan", flag.ContinueOnError)
	asJSON := fset.Bool("json", false, "one JSON object per line")
	paths, err := e.parseFlags(fset, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return errors.New("usage: leakwatch scan [--json] PATH... (- for stdin)")
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	m := workflows.NewMatcher(store)
	enc := json.NewEncoder(e.stdout)
	failed := 0
	emit := func(r scanResult) error {
		if r.Matches == nil {
			r.Matches = []fingerprints.Match{}
		}
		if r.Error != "" {
			failed++
		}
		if *asJSON {
			return enc.Encode(r)
		}
		switch {
		case r.Error != "":
			fmt.Fprintf(e.stdout, "%s: error: %s\n", r.Path, r.Error)
		case len(r.Matches) == 0:
			fmt.Fprintf(e.stdout, "%s: no match\n", r.Path)
		default:
			for _, mt := range r.Matches {
				fmt.Fprintf(e.stdout, "%s: MATCH %s (%s) method=%s score=%.2f\n", r.Path, mt.RefID, mt.RefName, mt.Method, mt.Score)
			}
		}
		return nil
	}
	scanOne := func(path string, open func() (*os.File, error)) error {
		f, err := open()
		if err != nil {
			return emit(scanResult{Path: path, Error: err.Error()})
		}
		d, err := fingerprints.Sum(f, 0)
		f.Close()
		if err != nil {
			return emit(scanResult{Path: path, Error: err.Error()})
		}
		ms, err := m.Match(ctx, d)
		if err != nil {
			return err // the index failed, not the file
		}
		return emit(scanResult{Path: path, SHA256: d.SHA256, Matches: ms})
	}
	for _, p := range paths {
		if p == "-" {
			if err := scanOne("-", func() (*os.File, error) { return os.Stdin, nil }); err != nil {
				return err
			}
			continue
		}
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				return emit(scanResult{Path: path, Error: err.Error()})
			}
			if !d.Type().IsRegular() {
				return nil
			}
			return scanOne(path, func() (*os.File, error) { return os.Open(path) })
		})
		if err != nil {
			return fmt.Errorf("scan %s: %w", p, err)
		}
	}
	if failed > 0 {
		return fmt.Errorf("scan: %d items could not be read", failed)
	}
	return nil
}
