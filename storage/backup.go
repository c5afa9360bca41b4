package storage

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
)

// SnapshotSQLite writes a consistent copy of the SQLite database at src to
// dst (which must not exist) while other processes keep using it: VACUUM
// INTO reads one snapshot under a read transaction, so writers in WAL mode
// go on, and the copy is compact and complete (WAL included). It works for
// any SQLite file, the Temporal server's too.
func SnapshotSQLite(ctx context.Context, src, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("snapshot %s: %s already exists", src, dst)
	}
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	// The driver registered by github.com/glebarez/sqlite (storage's own).
	db, err := sql.Open("sqlite", "file:"+src+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", src, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		os.Remove(dst) // a partial copy is no backup
		return fmt.Errorf("snapshot %s: %w", src, err)
	}
	problems, err := CheckSQLiteFile(ctx, dst, true)
	if err != nil || len(problems) > 0 {
		return fmt.Errorf("snapshot %s: the copy fails its integrity check (%q, %v)", src, problems, err)
	}
	return nil
}
