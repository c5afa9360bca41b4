package storage_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm/schema"

	"github.com/leakwatch/leakwatch/storage"
	"github.com/leakwatch/leakwatch/storage/storagetest"
)

// dbTarget is where one test's database lives: a DSN for storage.Open plus the
// data directory (SQLite) it is relative to.
type dbTarget struct {
	dialect string
	dsn     string
	dir     string
}

// open opens the target and closes the store when the test ends.
func (d dbTarget) open(t *testing.T) *storage.Store {
	t.Helper()
	s, err := storage.Open(t.Context(), d.dsn, d.dir, nil)
	if err != nil {
		t.Fatalf("open %s store: %v", d.dialect, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close %s store: %v", d.dialect, err)
		}
	})
	if s.Dialect() != d.dialect {
		t.Fatalf("Dialect() = %q, want %q", s.Dialect(), d.dialect)
	}
	return s
}

// forEachTarget runs fn, in parallel subtests, once with a fresh SQLite
// database and once with a fresh PostgreSQL database (skipped unless
// LEAKWATCH_TEST_POSTGRES_DSN is set). Every test has its own database, so
// tests run in parallel and a rerun starts clean.
func forEachTarget(t *testing.T, fn func(t *testing.T, d dbTarget)) {
	t.Helper()
	t.Run(storage.DialectSQLite, func(t *testing.T) {
		t.Parallel()
		fn(t, dbTarget{dialect: storage.DialectSQLite, dir: t.TempDir()})
	})
	t.Run(storage.DialectPostgres, func(t *testing.T) {
		t.Parallel()
		fn(t, dbTarget{dialect: storage.DialectPostgres, dsn: storagetest.FreshPostgresDSN(t)})
	})
}

// forEachDialect runs fn against a freshly migrated store of each dialect.
func forEachDialect(t *testing.T, fn func(t *testing.T, s *storage.Store)) {
	t.Helper()
	forEachTarget(t, func(t *testing.T, d dbTarget) { fn(t, d.open(t)) })
}

func TestOpenRejectsBadDSN(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, dsn, dir string
		want           string
	}{
		{"no dsn and no data dir", "", "", "no dsn and no data directory"},
		{"unsupported scheme", "mysql://u:p@localhost/db", "", "unsupported dsn"},
		{"bare word", "leakwatch", t.TempDir(), "unsupported dsn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := storage.Open(t.Context(), tc.dsn, tc.dir, nil)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q, %q) succeeded, want error", tc.dsn, tc.dir)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open(%q, %q) error = %q, want it to mention %q", tc.dsn, tc.dir, err, tc.want)
			}
		})
	}
}

func TestOpenSQLiteDSNForms(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		name, dsn string
		file      string
	}{
		{"sqlite: prefix", "sqlite:" + filepath.Join(dir, "a", "prefixed.sqlite"), filepath.Join(dir, "a", "prefixed.sqlite")},
		{".db suffix", filepath.Join(dir, "b", "suffix.db"), filepath.Join(dir, "b", "suffix.db")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := storage.Open(t.Context(), tc.dsn, "", nil)
			if err != nil {
				t.Fatalf("Open(%q): %v", tc.dsn, err)
			}
			defer s.Close()
			if s.Dialect() != storage.DialectSQLite {
				t.Fatalf("Dialect() = %q, want sqlite", s.Dialect())
			}
			if v := schemaVersions(t, s); !slices.Equal(v, wantVersions()) {
				t.Fatalf("schema_migrations versions = %v, want %v", v, wantVersions())
			}
			if !fileExists(tc.file) {
				t.Fatalf("database file %s was not created", tc.file)
			}
		})
	}
}

// wantVersions is 1..SchemaVersion(): every step recorded once.
func wantVersions() []int {
	var v []int
	for i := 1; i <= storage.SchemaVersion(); i++ {
		v = append(v, i)
	}
	return v
}

func schemaVersions(t *testing.T, s *storage.Store) []int {
	t.Helper()
	var v []int
	if err := s.DB().Raw(`SELECT version FROM schema_migrations ORDER BY version`).Scan(&v).Error; err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	return v
}

func TestMigrationsApplyAndAreIdempotent(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, d dbTarget) {
		if storage.SchemaVersion() < 1 {
			t.Fatalf("SchemaVersion() = %d, want >= 1", storage.SchemaVersion())
		}
		s1, err := storage.Open(t.Context(), d.dsn, d.dir, nil)
		if err != nil {
			t.Fatalf("first open: %v", err)
		}
		if v := schemaVersions(t, s1); !slices.Equal(v, wantVersions()) {
			t.Fatalf("after first open schema_migrations = %v, want %v", v, wantVersions())
		}
		var rec storage.SchemaMigration
		if err := s1.DB().Where("version = ?", storage.SchemaVersion()).First(&rec).Error; err != nil {
			t.Fatalf("load newest migration record: %v", err)
		}
		if rec.Name == "" || rec.AppliedAt.IsZero() {
			t.Fatalf("migration record %+v lacks name or applied_at", rec)
		}
		src := storage.Source{Name: "survivor", Kind: "web", URL: "https://leaks.example/", Enabled: true}
		if err := s1.CreateSource(t.Context(), &src); err != nil {
			t.Fatal(err)
		}
		if err := s1.Close(); err != nil {
			t.Fatal(err)
		}

		// Reopening must neither re-run a step (CREATE TABLE would fail) nor
		// record one twice, and must keep the data.
		for i := 2; i <= 3; i++ {
			s := d.open(t)
			if v := schemaVersions(t, s); !slices.Equal(v, wantVersions()) {
				t.Fatalf("after open #%d schema_migrations = %v, want %v", i, v, wantVersions())
			}
			got, err := s.SourceByName(t.Context(), "survivor")
			if err != nil {
				t.Fatalf("after open #%d: %v", i, err)
			}
			if got.ID != src.ID {
				t.Fatalf("after open #%d source id = %d, want %d", i, got.ID, src.ID)
			}
		}
	})
}

func TestOpenConcurrentlyOnFreshDatabase(t *testing.T) {
	t.Parallel()
	// Several workers starting at once against an empty database: exactly one
	// migrates, the others wait and then see the finished schema.
	forEachTarget(t, func(t *testing.T, d dbTarget) {
		const n = 4
		stores := make([]*storage.Store, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { stores[i], errs[i] = storage.Open(t.Context(), d.dsn, d.dir, nil) })
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Errorf("open #%d: %v", i, errs[i])
				continue
			}
			defer stores[i].Close()
		}
		if t.Failed() {
			return
		}
		if v := schemaVersions(t, stores[0]); !slices.Equal(v, wantVersions()) {
			t.Fatalf("schema_migrations = %v, want %v", v, wantVersions())
		}
	})
}

func TestNewerSchemaIsRefused(t *testing.T) {
	t.Parallel()
	forEachTarget(t, func(t *testing.T, d dbTarget) {
		s, err := storage.Open(t.Context(), d.dsn, d.dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		newer := storage.SchemaVersion() + 1
		if err := s.DB().Exec(`INSERT INTO schema_migrations (version, name) VALUES (?, ?)`, newer, "from the future").Error; err != nil {
			t.Fatalf("insert newer version: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}

		s2, err := storage.Open(t.Context(), d.dsn, d.dir, nil)
		if err == nil {
			s2.Close()
			t.Fatal("Open succeeded against a database with a newer schema version")
		}
		if s2 != nil {
			t.Errorf("Open returned a store together with error %v", err)
		}
		for _, want := range []string{fmt.Sprintf("version %d", newer), fmt.Sprintf("up to %d", storage.SchemaVersion()), "upgrade leakwatch"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	})
}

// allModels is every table the store maps.
var allModels = []any{
	&storage.Source{}, &storage.CrawlRun{}, &storage.Capture{}, &storage.Reference{},
	&storage.Hit{}, &storage.Case{}, &storage.Notice{}, &storage.User{}, &storage.Session{},
	&storage.AuditEvent{}, &storage.SchemaMigration{}, &storage.RefImage{}, &storage.RefField{},
	&storage.TelegramAccount{}, &storage.TelegramChannel{}, &storage.TelegramMedia{},
	&storage.TelegramUserState{}, &storage.TelegramChannelState{},
}

func TestModelsMatchMigratedColumns(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		m := s.DB().Migrator()
		for _, model := range allModels {
			sch, err := schema.Parse(model, &sync.Map{}, s.DB().NamingStrategy)
			if err != nil {
				t.Fatalf("parse %T: %v", model, err)
			}
			t.Run(sch.Table, func(t *testing.T) {
				if !m.HasTable(model) {
					t.Fatalf("table %s does not exist", sch.Table)
				}
				var want []string
				for _, f := range sch.Fields {
					if f.DBName == "" {
						continue
					}
					want = append(want, f.DBName)
					if !m.HasColumn(model, f.Name) {
						t.Errorf("%T.%s: column %s.%s does not exist", model, f.Name, sch.Table, f.DBName)
					}
				}
				// HasColumn on SQLite is a LIKE over the CREATE statement (it finds
				// "url" inside "final_url"), so compare the exact column sets too:
				// every field has its column and no column lacks a field.
				cols, err := m.ColumnTypes(model)
				if err != nil {
					t.Fatalf("column types of %s: %v", sch.Table, err)
				}
				var got []string
				for _, c := range cols {
					got = append(got, c.Name())
				}
				slices.Sort(want)
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("table %s has columns %v, model %T maps %v", sch.Table, got, model, want)
				}
			})
		}
	})
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
