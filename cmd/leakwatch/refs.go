package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/storage"
)

func runRefs(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "add" {
		return errors.New("usage: leakwatch refs add [--no-names] DIR")
	}
	fset := flag.NewFlagSet("refs add", flag.ContinueOnError)
	noNames := fset.Bool("no-names", false, "store no file names, only fingerprints")
	pos, err := e.parseFlags(fset, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return errors.New("usage: leakwatch refs add [--no-names] DIR")
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	st, err := addRefs(ctx, store, pos[0], *noNames, func(path string, err error) {
		fmt.Fprintf(e.stderr, "leakwatch: refs add: %s: %v\n", path, err)
	})
	fmt.Fprintf(e.stdout, "indexed %d files (%d new, %d already known), %d bytes; %d unreadable\n",
		st.files, st.added, st.files-st.added, st.bytes, st.failed)
	if err != nil {
		return err
	}
	if st.failed > 0 {
		return fmt.Errorf("refs add: %d files could not be read (listed above); the rest were indexed", st.failed)
	}
	return nil
}

type refStats struct {
	files, added, failed int
	bytes                int64
}

// addRefs fingerprints every regular file under dir. Content is streamed
// through the hashers and never stored. An unreadable file is reported and
// skipped; an unreadable dir is an error.
func addRefs(ctx context.Context, store *storage.Store, dir string, noNames bool, report func(string, error)) (refStats, error) {
	var st refStats
	info, err := os.Stat(dir)
	if err != nil {
		return st, fmt.Errorf("refs add: %w", err)
	}
	if !info.IsDir() {
		return st, fmt.Errorf("refs add: %s is not a directory", dir)
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == dir {
				return err
			}
			st.failed++
			report(path, err)
			return nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		if !d.Type().IsRegular() {
			return nil
		}
		dg, err := digestFile(path)
		if err != nil {
			st.failed++
			report(path, err)
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		ref := storage.Reference{Size: dg.Size, SHA256: dg.SHA256}
		if !noNames {
			ref.Name = filepath.ToSlash(rel)
		}
		created, err := store.AddReference(ctx, &ref)
		if err != nil {
			return err
		}
		st.files++
		st.bytes += dg.Size
		if created {
			st.added++
		}
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("refs add %s: %w", dir, err)
	}
	return st, nil
}

func digestFile(path string) (fingerprints.Digest, error) {
	f, err := os.Open(path)
	if err != nil {
		return fingerprints.Digest{}, err
	}
	defer f.Close()
	return fingerprints.Sum(f, 0)
}
