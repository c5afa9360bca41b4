package storage_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// OpenReadOnly reads what Open wrote, with each dialect, and refuses to
// write; with SQLite it creates nothing beside a closed database, and it
// never makes a database that is not there.
func TestOpenReadOnly(t *testing.T) {
	forEachTarget(t, func(t *testing.T, d dbTarget) {
		ctx := t.Context()
		w := d.open(t)
		src := mustSource(t, w, "blog")
		run := mustRun(t, w, src.ID)
		if _, err := w.ClaimSetting(ctx, storage.SettingFingerprintKeyID, "kid_test"); err != nil {
			t.Fatal(err)
		}
		if d.dialect == storage.DialectSQLite {
			w.Close() // a closed database: no -wal beside it
		}
		var before []os.DirEntry
		if d.dir != "" {
			before, _ = os.ReadDir(d.dir)
		}

		r, err := storage.OpenReadOnly(ctx, d.dsn, d.dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if v, err := r.AppliedSchemaVersion(ctx); err != nil || v != storage.SchemaVersion() {
			t.Errorf("AppliedSchemaVersion = %d, %v; want %d", v, err, storage.SchemaVersion())
		}
		if kid, err := r.Setting(ctx, storage.SettingFingerprintKeyID); err != nil || kid != "kid_test" {
			t.Errorf("key id %q, %v", kid, err)
		}
		stale, err := r.StaleRuns(ctx, time.Now().Add(time.Hour))
		if err != nil || len(stale) != 1 || stale[0].ID != run.ID {
			t.Errorf("StaleRuns (cutoff in an hour) = %+v, %v; want run %d", stale, err, run.ID)
		}
		if stale, err := r.StaleRuns(ctx, time.Now().Add(-time.Hour)); err != nil || len(stale) != 0 {
			t.Errorf("StaleRuns (cutoff an hour ago) = %+v, %v; want none", stale, err)
		}
		if _, err := r.ClaimSetting(ctx, "doctor_wrote", "x"); err == nil {
			t.Error("a read-only store wrote a setting")
		}
		if d.dialect == storage.DialectSQLite {
			problems, err := r.QuickCheck(ctx, true)
			if err != nil || len(problems) != 0 {
				t.Errorf("QuickCheck = %q, %v", problems, err)
			}
		}
		r.Close()
		if d.dir != "" {
			after, _ := os.ReadDir(d.dir)
			if len(after) != len(before) {
				t.Errorf("data dir held %d entries, then %d after a read-only open", len(before), len(after))
			}
		}
	})
}

func TestOpenReadOnlyMissingSQLite(t *testing.T) {
	dir := t.TempDir()
	if s, err := storage.OpenReadOnly(t.Context(), "", dir, nil); err == nil {
		s.Close()
		t.Fatal("OpenReadOnly opened a database that does not exist")
	}
	if _, err := os.Stat(filepath.Join(dir, "leakwatch.db")); !os.IsNotExist(err) {
		t.Fatalf("OpenReadOnly created the database: %v", err)
	}
	if _, err := storage.CheckSQLiteFile(t.Context(), filepath.Join(dir, "x.db"), false); err == nil {
		t.Fatal("CheckSQLiteFile of no file succeeded")
	}
	if err := os.WriteFile(filepath.Join(dir, "junk.db"), []byte("not a database, just text long enough to be a header........."), 0o600); err != nil {
		t.Fatal(err)
	}
	if problems, err := storage.CheckSQLiteFile(t.Context(), filepath.Join(dir, "junk.db"), false); err == nil && len(problems) == 0 {
		t.Fatal("CheckSQLiteFile passed a file that is not a database")
	}
}
