package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/leakwatch/leakwatch/storage/storagetest"
)

// The previous release (af3289f) ends at this schema version; a database it
// left is what an upgrade migrates. internal/e2e TestUpgradeFromPreviousRelease
// runs that release's binary; this is the fast check beside the migrations.
const (
	previousReleaseSchema = 19
	// releasedMigrationsSum is releasedDigest(previousReleaseSchema):
	// released steps are never edited, or databases already past them would
	// differ from new ones.
	releasedMigrationsSum = "ec34f66926f579c8a6d2ef71d89eb6bd58f62096b6db2a2c776c513ab90b692d"
)

// releasedDigest hashes the steps up to version, every dialect's statements.
func releasedDigest(version int) string {
	h := sha256.New()
	for _, m := range migrations[:version] {
		fmt.Fprintf(h, "%d %q\n", m.version, m.name)
		for _, s := range m.sql {
			fmt.Fprintf(h, "%q\n", s)
		}
		for _, d := range slices.Sorted(maps.Keys(m.dialectSQL)) {
			for _, s := range m.dialectSQL[d] {
				fmt.Fprintf(h, "%s %q\n", d, s)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestReleasedMigrationsUnchanged(t *testing.T) {
	if got := releasedDigest(previousReleaseSchema); got != releasedMigrationsSum {
		t.Errorf("migrations 1–%d (released in af3289f) changed: digest %s, want %s; add a new step instead",
			previousReleaseSchema, got, releasedMigrationsSum)
	}
}

// TestMigrateFromPreviousRelease builds a database at the previous
// release's schema, fills it as that release would (only the columns it
// had), and opens it with this code: it migrates to the current version,
// keeps every row, the audit chain still verifies and grows, and today's
// writes work on the upgraded tables.
func TestMigrateFromPreviousRelease(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testMigrateFromPrevious(t, "") })
	t.Run("postgres", func(t *testing.T) { testMigrateFromPrevious(t, storagetest.FreshPostgresDSN(t)) })
}

func testMigrateFromPrevious(t *testing.T, dsn string) {
	ctx := context.Background()
	dir := t.TempDir()
	dialect, target, err := parseDSN(dsn, dir)
	if err != nil {
		t.Fatal(err)
	}
	var dial gorm.Dialector = postgres.Open(target)
	if dialect == DialectSQLite {
		dial = sqlite.Open("file:" + target + "?_pragma=busy_timeout(10000)")
	}
	db, err := gorm.Open(dial, &gorm.Config{Logger: logger.Discard, NowFunc: func() time.Time { return time.Now().UTC() }})
	if err != nil {
		t.Fatal(err)
	}
	migrateUpTo(t, db, dialect, previousReleaseSchema)
	old := fillPreviousRelease(t, db)
	raw, _ := db.DB()
	raw.Close()

	s, err := Open(ctx, dsn, dir, nil)
	if err != nil {
		t.Fatalf("open the previous release's database: %v", err)
	}
	defer s.Close()
	var versions []int
	if err := s.db.Raw(`SELECT version FROM schema_migrations ORDER BY version`).Scan(&versions).Error; err != nil {
		t.Fatal(err)
	}
	if len(versions) != SchemaVersion() || versions[len(versions)-1] != SchemaVersion() {
		t.Errorf("schema_migrations holds %v; want 1…%d", versions, SchemaVersion())
	}
	for table, n := range old.counts {
		var got int64
		if err := s.db.Raw(`SELECT COUNT(*) FROM ` + table).Scan(&got).Error; err != nil {
			t.Fatal(err)
		}
		if got != n {
			t.Errorf("%s: %d rows after the upgrade; the previous release left %d", table, got, n)
		}
	}
	c, err := s.CaseByID(ctx, old.caseID)
	if err != nil || c.Target != "leaks.example" || c.State != CaseDrafted {
		t.Errorf("case %d after the upgrade: %+v (%v)", old.caseID, c, err)
	}
	ns, err := s.NoticesForCase(ctx, old.caseID)
	if err != nil || len(ns) != 1 || ns[0].MessageID != "<notice-1-1@leakwatch>" || ns[0].BodyText != "Please remove." {
		t.Errorf("notices of case %d after the upgrade: %+v (%v)", old.caseID, ns, err)
	}
	if n, err := s.VerifyAudit(ctx); err != nil || n != 3 {
		t.Errorf("audit chain after the upgrade: %d events, %v; want 3 verified", n, err)
	}

	// This code writes on the upgraded tables.
	if err := s.Audit(ctx, "system", "upgrade.checked", "", "after the upgrade"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.VerifyAudit(ctx); err != nil || n != 4 {
		t.Errorf("audit chain after a new event: %d events, %v; want 4 verified", n, err)
	}
	run, err := s.StartRun(ctx, old.sourceID)
	if err != nil {
		t.Fatal(err)
	}
	cp := Capture{RunID: run.ID, SourceID: old.sourceID, Kind: CaptureFile, URL: "http://leaks.example/files/b.pdf", Host: "leaks.example",
		FetchedAt: time.Now().UTC(), Status: 200, SHA256: fmt.Sprintf("%064x", 2), Size: 10}
	if _, err := s.SaveCapture(ctx, &cp); err != nil {
		t.Fatalf("save a capture after the upgrade: %v", err)
	}
	hit := Hit{CaptureID: cp.ID, ReferenceID: old.refID, Method: "sha256", Score: 1, Target: "leaks.example"}
	if _, err := s.AddHit(ctx, &hit); err != nil {
		t.Fatalf("add a hit after the upgrade: %v", err)
	}
	if c, err := s.EnsureCase(ctx, "leaks.example", "takedown-case:leaks.example"); err != nil || c.ID != old.caseID {
		t.Errorf("EnsureCase of the old target: %+v, %v; want the old case %d", c, err, old.caseID)
	}
}

// migrateUpTo applies the steps up to version as Store.migrate does.
func migrateUpTo(t *testing.T, db *gorm.DB, dialect string, version int) {
	t.Helper()
	if err := db.Exec(`CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT, applied_at ` + ddl(dialect, "{{ts}}") + `)`).Error; err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:version] {
		for _, stmt := range append(append([]string{}, m.sql...), m.dialectSQL[dialect]...) {
			if err := db.Exec(ddl(dialect, stmt)).Error; err != nil {
				t.Fatalf("migration %d: %v", m.version, err)
			}
		}
		if err := db.Create(&SchemaMigration{Version: m.version, Name: m.name, AppliedAt: time.Now().UTC()}).Error; err != nil {
			t.Fatal(err)
		}
	}
}

type previousRows struct {
	counts                  map[string]int64
	sourceID, refID, caseID uint64
}

// fillPreviousRelease writes what a crawl, a match, a drafted notice and
// the audit log leave, naming only columns the previous schema has.
func fillPreviousRelease(t *testing.T, db *gorm.DB) previousRows {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	exec := func(q string, args ...any) uint64 {
		t.Helper()
		var id uint64
		if err := db.Raw(q+` RETURNING id`, args...).Scan(&id).Error; err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return id
	}
	var p previousRows
	p.sourceID = exec(`INSERT INTO sources (name, kind, url, every_secs, enabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		"forum", "forum", "http://leaks.example/", 600, true, now, now)
	run := exec(`INSERT INTO crawl_runs (source_id, started_at, finished_at, status, pages, files, hits) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		p.sourceID, now, now, "ok", 3, 1, 1)
	capture := exec(`INSERT INTO captures (run_id, source_id, kind, url, final_url, host, fetched_at, status, content_type, sniffed_type, sha256, size, truncated)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		run, p.sourceID, "file", "http://leaks.example/files/a.pdf", "http://leaks.example/files/a.pdf", "leaks.example", now, 200,
		"application/pdf", "application/pdf", fmt.Sprintf("%064x", 1), 1234, false)
	p.refID = exec(`INSERT INTO "references" (opaque_id, name, size, sha256, created_at) VALUES (?, ?, ?, ?, ?)`,
		"ref-1", "labs/Z0000001.pdf", 1234, fmt.Sprintf("%064x", 1), now)
	hit := exec(`INSERT INTO hits (capture_id, reference_id, method, score, why, target, created_at, dispatched_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		capture, p.refID, "sha256", 1.0, "exact bytes", "leaks.example", now, now)
	p.caseID = exec(`INSERT INTO cases (target, workflow_id, state, recipient, opened_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		"leaks.example", "takedown-case:leaks.example", "drafted", "abuse@leaks.example", now, now)
	exec(`INSERT INTO notices (case_id, revision, state, recipient, subject, body_text, body_html, hit_ids, drafted_by, drafted_at, message_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		p.caseID, 1, "draft", "abuse@leaks.example", "Takedown notice", "Please remove.", "<p>Please remove.</p>", fmt.Sprint(hit),
		"system", now, "<notice-1-1@leakwatch>")
	exec(`INSERT INTO users (username, password_hash, role, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		"lee", "$argon2id$v=19$m=65536,t=3,p=2$c2FsdA$aGFzaA", "legal", now, now)
	prev := genesisHash
	for i, action := range []string{"source.added", "case.detected", "notice.drafted"} {
		ev := AuditEvent{At: now.Add(time.Duration(i) * time.Second), Actor: "system", Action: action, Object: "case:1", PrevHash: prev}
		ev.Hash = ev.chainHash()
		exec(`INSERT INTO audit_events (at, actor, action, object, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			ev.At, ev.Actor, ev.Action, ev.Object, ev.Detail, ev.PrevHash, ev.Hash)
		prev = ev.Hash
	}
	p.counts = map[string]int64{}
	for _, table := range []string{"sources", "crawl_runs", "captures", `"references"`, "hits", "cases", "notices", "users", "audit_events"} {
		var n int64
		if err := db.Raw(`SELECT COUNT(*) FROM ` + table).Scan(&n).Error; err != nil {
			t.Fatal(err)
		}
		p.counts[table] = n
	}
	return p
}
