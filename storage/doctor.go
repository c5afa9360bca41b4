package storage

// Read-only access for `leakwatch doctor`: it inspects a data directory
// while `up` may be running on it, so it never migrates, never writes and
// never takes a write lock. Queries name their columns rather than using
// the models, so a database a few versions older than this binary can
// still be looked at.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// OpenReadOnly opens the database named by dsn (as Open) without migrating
// it and without the right to write: SQLite read-only (mode=ro, query_only),
// PostgreSQL in read-only transactions. A SQLite file that does not exist
// is an error, not a new database.
func OpenReadOnly(ctx context.Context, dsn, dataDir string, log *slog.Logger) (*Store, error) {
	dialect, target, err := parseDSN(dsn, dataDir)
	if err != nil {
		return nil, err
	}
	gcfg := &gorm.Config{Logger: newGormLogger(log), NowFunc: func() time.Time { return time.Now().UTC() }, TranslateError: true}
	var db *gorm.DB
	switch dialect {
	case DialectPostgres:
		db, err = gorm.Open(postgres.Open(target), gcfg)
	default:
		if _, serr := os.Stat(target); serr != nil {
			return nil, fmt.Errorf("open sqlite database read-only: %w", serr)
		}
		db, err = gorm.Open(sqlite.Open(readOnlyDSN(target)), gcfg)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database read-only: %w", dialect, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open %s database read-only: %w", dialect, err)
	}
	// One connection: the session setting below holds for every query.
	sqlDB.SetMaxOpenConns(1)
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("connect to %s database: %w", dialect, err)
	}
	if dialect == DialectPostgres {
		if err := db.WithContext(ctx).Exec(`SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY`).Error; err != nil {
			sqlDB.Close()
			return nil, fmt.Errorf("postgres: read-only session: %w", err)
		}
	}
	return &Store{db: db, dialect: dialect, indexDir: filepath.Join(dataDir, "index")}, nil
}

// readOnlyDSN is a SQLite URI that opens path without write access and
// leaves no file behind. While some process has the database open (in WAL
// mode it then has a -wal file), a read-only connection reads through that
// process's -wal and -shm. With no -wal, nobody has it open: a read-only
// connection would still create -wal and -shm and, unable to delete them,
// leave them, so it opens the file as immutable instead (no locks, no
// companions). A writer starting within that read writes its WAL, not the
// main file, which changes only at a checkpoint. (A -wal left by a process
// that died is read through a -shm that SQLite may rebuild: that is its
// shared-memory index of the WAL, never data.)
func readOnlyDSN(path string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	q := "?mode=ro"
	if _, err := os.Stat(path + "-wal"); errors.Is(err, fs.ErrNotExist) {
		q += "&immutable=1"
	}
	return "file:" + esc + q + "&_pragma=busy_timeout(10000)&_pragma=query_only(1)"
}

// CheckSQLiteFile runs PRAGMA quick_check (or integrity_check, when full)
// on the SQLite database at path, opened read-only, and returns the
// problems it reports (none: the file is sound). An error means it could
// not be checked at all, which for a file that exists usually means it is
// not (or no longer) a database.
func CheckSQLiteFile(ctx context.Context, path string, full bool) ([]string, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	db, err := sql.Open(sqlite.DriverName, readOnlyDSN(path))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	return integrity(ctx, db, full)
}

// QuickCheck is CheckSQLiteFile for the open store (SQLite only).
func (s *Store) QuickCheck(ctx context.Context, full bool) ([]string, error) {
	if s.dialect != DialectSQLite {
		return nil, errors.New("integrity check: not a SQLite database")
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return nil, err
	}
	return integrity(ctx, sqlDB, full)
}

func integrity(ctx context.Context, db *sql.DB, full bool) ([]string, error) {
	pragma := "PRAGMA quick_check(20)"
	if full {
		pragma = "PRAGMA integrity_check(20)"
	}
	rows, err := db.QueryContext(ctx, pragma)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pragma, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, fmt.Errorf("%s: %w", pragma, err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", pragma, err)
	}
	return problems, nil
}

// AppliedSchemaVersion is the newest migration recorded in the database
// (0: none, or no schema_migrations table: an empty or foreign database).
func (s *Store) AppliedSchemaVersion(ctx context.Context) (int, error) {
	var exists bool
	var q string
	if s.dialect == DialectPostgres {
		q = `SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'schema_migrations')`
	} else {
		q = `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations')`
	}
	if err := s.ctx(ctx).Raw(q).Scan(&exists).Error; err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := s.ctx(ctx).Raw(`SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v).Error; err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return v, nil
}

// StaleRun is a crawl run recorded as running whose crawler has not
// reported since LastSign.
type StaleRun struct {
	ID       uint64
	SourceID uint64
	LastSign time.Time
}

// StaleRuns lists runs still marked running with no sign of life (heartbeat,
// else start) since before cutoff.
func (s *Store) StaleRuns(ctx context.Context, cutoff time.Time) ([]StaleRun, error) {
	var rows []struct {
		ID          uint64
		SourceID    uint64
		StartedAt   time.Time
		HeartbeatAt *time.Time
	}
	err := s.ctx(ctx).Raw(`SELECT id, source_id, started_at, heartbeat_at FROM crawl_runs WHERE status = ? ORDER BY id`, RunRunning).
		Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("stale crawl runs: %w", err)
	}
	var out []StaleRun
	for _, r := range rows {
		last := r.StartedAt
		if r.HeartbeatAt != nil && r.HeartbeatAt.After(last) {
			last = *r.HeartbeatAt
		}
		if last.Before(cutoff) {
			out = append(out, StaleRun{ID: r.ID, SourceID: r.SourceID, LastSign: last})
		}
	}
	return out, nil
}

// PendingNotice is a notice between approval and a settled send: what
// doctor needs to say which one waits, and since when. It holds no
// recipient, subject or body.
type PendingNotice struct {
	ID        uint64
	CaseID    uint64
	Reference string
	State     NoticeState
	// Since is when it entered its state as far as the database knows:
	// DATA start for a send in progress or uncertain, else its approval.
	Since time.Time
}

// PendingNotices lists notices approved, sending or uncertain, oldest first.
func (s *Store) PendingNotices(ctx context.Context) ([]PendingNotice, error) {
	var rows []struct {
		ID            uint64
		CaseID        uint64
		Reference     string
		State         NoticeState
		DraftedAt     time.Time
		ApprovedAt    *time.Time
		DataStartedAt *time.Time
	}
	err := s.ctx(ctx).Raw(`SELECT id, case_id, reference, state, drafted_at, approved_at, data_started_at FROM notices
		WHERE state IN ? ORDER BY id`, []NoticeState{NoticeApproved, NoticeSending, NoticeUncertain}).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("pending notices: %w", err)
	}
	out := make([]PendingNotice, 0, len(rows))
	for _, r := range rows {
		n := PendingNotice{ID: r.ID, CaseID: r.CaseID, Reference: r.Reference, State: r.State, Since: r.DraftedAt}
		if r.ApprovedAt != nil {
			n.Since = *r.ApprovedAt
		}
		if r.DataStartedAt != nil && r.State != NoticeApproved {
			n.Since = *r.DataStartedAt
		}
		out = append(out, n)
	}
	return out, nil
}

// CaseWait is an open case in a state that waits for a person.
type CaseWait struct {
	ID        uint64
	State     CaseState
	UpdatedAt time.Time
}

// CasesInStates lists the cases in any of states, oldest update first.
func (s *Store) CasesInStates(ctx context.Context, states ...CaseState) ([]CaseWait, error) {
	var out []CaseWait
	err := s.ctx(ctx).Raw(`SELECT id, state, updated_at FROM cases WHERE state IN ? ORDER BY updated_at, id`, states).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("cases by state: %w", err)
	}
	return out, nil
}

// DeadTelegramAccounts lists the configured names of Telegram accounts
// whose session is dead (never their phone numbers).
func (s *Store) DeadTelegramAccounts(ctx context.Context) ([]string, error) {
	var names []string
	err := s.ctx(ctx).Raw(`SELECT name FROM tg_accounts WHERE status = ? ORDER BY name`, TelegramDead).Scan(&names).Error
	if err != nil {
		return nil, fmt.Errorf("dead telegram accounts: %w", err)
	}
	return names, nil
}

// RunningRunIDs is the set of crawl runs marked running (their evidence
// is still being written).
func (s *Store) RunningRunIDs(ctx context.Context) (map[uint64]bool, error) {
	var ids []uint64
	if err := s.ctx(ctx).Raw(`SELECT id FROM crawl_runs WHERE status = ?`, RunRunning).Scan(&ids).Error; err != nil {
		return nil, fmt.Errorf("running crawl runs: %w", err)
	}
	out := make(map[uint64]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// SQLitePath is the file of the SQLite database dsn names (as Open reads
// it), or "" when dsn names PostgreSQL.
func SQLitePath(dsn, dataDir string) (string, error) {
	dialect, target, err := parseDSN(dsn, dataDir)
	if err != nil || dialect != DialectSQLite {
		return "", err
	}
	return target, nil
}
