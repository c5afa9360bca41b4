package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// runBackup makes a consistent online copy of a data directory: the
// SQLite databases by snapshot (Temporal's first, so the application
// database, which decides whether a notice went out, is never older than
// the workflows), then every other file (evidence, index segments,
// Telegram sessions) as it is; all of those are written once and renamed
// into place, so a copy is complete or absent. SHA256SUMS lists it all.
// Restore: stop leakwatch, copy the backup into an empty data directory,
// start it; `up` reconciles cases with workflows as after any crash.
func runBackup(ctx context.Context, e *env, args []string) error {
	fset := flag.NewFlagSet("backup", flag.ContinueOnError)
	rest, err := e.parseFlags(fset, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return errors.New("usage: leakwatch backup DIR (a new or empty directory)")
	}
	dst := rest[0]
	cfg, err := e.loadConfig(false)
	if err != nil {
		return err
	}
	if dsn := cfg.Database.DSN; strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return errors.New("backup: the database is PostgreSQL: back it up with pg_dump (see README \"Backup and restore\"); this command copies SQLite data directories")
	}
	if cfg.Database.DSN != "" {
		return fmt.Errorf("backup: database.dsn names a database outside the data directory; copy it with the tools for %q", cfg.Database.DSN[:strings.IndexByte(cfg.Database.DSN+":", ':')])
	}
	if ents, err := os.ReadDir(dst); err == nil && len(ents) > 0 {
		return fmt.Errorf("backup: %s is not empty", dst)
	}
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	start := time.Now()
	src := cfg.DataDir
	var sums []string
	sum := func(rel string) error {
		f, err := os.Open(filepath.Join(dst, rel))
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		sums = append(sums, hex.EncodeToString(h.Sum(nil))+"  "+filepath.ToSlash(rel))
		return nil
	}
	dbs := []string{"temporal.db", "leakwatch.db"}
	if cfg.Temporal.Address != "" {
		dbs = dbs[1:] // an external cluster keeps its own store
		fmt.Fprintln(e.stdout, "temporal: external cluster, not copied (back it up where it runs)")
	}
	for _, name := range dbs {
		if _, err := os.Stat(filepath.Join(src, name)); errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(e.stdout, "%s: none in %s\n", name, src)
			continue
		}
		if err := storage.SnapshotSQLite(ctx, filepath.Join(src, name), filepath.Join(dst, name)); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		if err := sum(name); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	files, bytes := 0, int64(0)
	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		switch {
		case rel == ".":
			return nil
		case d.IsDir() && (rel == "run" || rel == filepath.Base(dst) && filepath.Dir(dst) == src):
			return filepath.SkipDir // runtime state; a backup inside the data dir
		case d.IsDir():
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		case !d.Type().IsRegular(), isDatabaseFile(rel), strings.HasSuffix(rel, ".tmp"), strings.Contains(filepath.Base(rel), ".partial"):
			return nil // databases are snapshotted above; files being written are not yet data
		}
		n, err := copyFile(p, filepath.Join(dst, rel))
		if err != nil {
			return err
		}
		files++
		bytes += n
		return sum(rel)
	})
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dst, "SHA256SUMS"), []byte(strings.Join(sums, "\n")+"\n"), 0o600); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(e.stdout, "backup of %s in %s: %s, %d other files (%d bytes), %s; restore by copying it into an empty data directory\n",
		src, dst, strings.Join(dbs, " and "), files, bytes, time.Since(start).Round(time.Millisecond))
	return nil
}

// isDatabaseFile: SQLite files and their WAL and shared-memory companions.
func isDatabaseFile(rel string) bool {
	for _, db := range []string{"leakwatch.db", "temporal.db"} {
		if rel == db || rel == db+"-wal" || rel == db+"-shm" || rel == db+"-journal" {
			return true
		}
	}
	return false
}

func copyFile(src, dst string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}
