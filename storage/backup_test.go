package storage

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
)

// TestSnapshotSQLiteUnderWrites: a snapshot taken while another connection
// keeps inserting is a consistent database holding a prefix of the rows,
// and an existing destination is refused.
func TestSnapshotSQLiteUnderWrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "live.db")
	db, err := sql.Open("sqlite", "file:"+src+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE rows (n INTEGER PRIMARY KEY, pair INTEGER NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for n := 1; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			// Two rows per transaction: a consistent copy never has one alone.
			tx, err := db.Begin()
			if err != nil {
				t.Error(err)
				return
			}
			tx.Exec("INSERT INTO rows (pair) VALUES (?)", n)
			tx.Exec("INSERT INTO rows (pair) VALUES (?)", n)
			if err := tx.Commit(); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for n := 0; n < 200; {
		if err := db.QueryRow("SELECT COUNT(*) FROM rows").Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	dst := filepath.Join(dir, "copy.db")
	err = SnapshotSQLite(ctx, src, dst) // while the writer goes on
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	cp, err := sql.Open("sqlite", "file:"+dst+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	var rows, odd int
	if err := cp.QueryRow("SELECT COUNT(*) FROM rows").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if err := cp.QueryRow("SELECT COUNT(*) FROM (SELECT pair FROM rows GROUP BY pair HAVING COUNT(*) != 2)").Scan(&odd); err != nil {
		t.Fatal(err)
	}
	if rows == 0 || odd != 0 {
		t.Errorf("copy has %d rows, %d half-written pairs; want some rows, none half-written", rows, odd)
	}
	if err := SnapshotSQLite(ctx, src, dst); err == nil {
		t.Error("snapshot over an existing file succeeded")
	}
}
