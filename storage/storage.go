// Package storage keeps leakwatch's state with gorm: SQLite (github.com/glebarez/sqlite)
// in the data directory by default, PostgreSQL for deployments at scale. It imports
// none of leakwatch's other packages.
package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// Store is the application database.
type Store struct {
	db       *gorm.DB
	dialect  string // "sqlite" or "postgres"
	indexDir string // <dataDir>/index: the reference index's segment files
}

// Dialect names.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
)

// Open opens (creating if needed) the database named by dsn and applies pending
// migrations. An empty dsn means SQLite at <dataDir>/leakwatch.db.
func Open(ctx context.Context, dsn, dataDir string, log *slog.Logger) (*Store, error) {
	dialect, target, err := parseDSN(dsn, dataDir)
	if err != nil {
		return nil, err
	}
	gcfg := &gorm.Config{
		Logger:                                   newGormLogger(log),
		NowFunc:                                  func() time.Time { return time.Now().UTC() },
		DisableForeignKeyConstraintWhenMigrating: true,
		TranslateError:                           true,
	}
	var dial gorm.Dialector
	switch dialect {
	case DialectPostgres:
		dial = postgres.Open(target)
	default:
		if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
			return nil, fmt.Errorf("create database directory: %w", err)
		}
		// WAL lets the web server read while the worker writes; busy_timeout makes
		// writers wait for each other instead of failing with SQLITE_BUSY.
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "foreign_keys(1)")
		// A larger page cache (per connection) keeps the fingerprint index's
		// hot pages in memory instead of re-reading them through syscalls.
		q.Add("_pragma", "cache_size(-65536)")
		q.Set("_txlock", "immediate")
		dial = sqlite.Open("file:" + target + "?" + q.Encode())
	}
	db, err := gorm.Open(dial, gcfg)
	// Processes opening a new SQLite file together race to switch it to
	// WAL, which ignores busy_timeout; the loser retries for a while.
	for wait := 50 * time.Millisecond; err != nil && dialect == DialectSQLite && isBusy(err) && wait < 10*time.Second; wait *= 2 {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("open %s database: %w", dialect, ctx.Err())
		case <-time.After(wait):
		}
		db, err = gorm.Open(dial, gcfg)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	if dialect == DialectSQLite {
		// One writer at a time is SQLite's model; a small pool keeps readers concurrent.
		sqlDB.SetMaxOpenConns(4)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("connect to %s database: %w", dialect, err)
	}
	s := &Store{db: db, dialect: dialect, indexDir: filepath.Join(dataDir, "index")}
	if err := s.migrate(ctx); err != nil {
		sqlDB.Close()
		return nil, err
	}
	return s, nil
}

// isBusy reports SQLite's "database is locked".
func isBusy(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked")
}

// parseDSN returns the dialect and the driver-level target.
func parseDSN(dsn, dataDir string) (dialect, target string, err error) {
	switch {
	case dsn == "":
		if dataDir == "" {
			return "", "", errors.New("database: no dsn and no data directory")
		}
		return DialectSQLite, filepath.Join(dataDir, "leakwatch.db"), nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return DialectPostgres, dsn, nil
	case strings.HasPrefix(dsn, "sqlite:"):
		return DialectSQLite, strings.TrimPrefix(dsn, "sqlite:"), nil
	case strings.HasSuffix(dsn, ".db"):
		return DialectSQLite, dsn, nil
	}
	return "", "", fmt.Errorf("database: unsupported dsn (want postgres://… or sqlite:PATH)")
}

// Close closes the database.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Dialect reports "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.dialect }

// DB exposes gorm to tests and tools. Production code asks the Store for
// what it needs instead, so every query lives in this package.
func (s *Store) DB() *gorm.DB { return s.db }

// Ping checks that the database answers (readiness probes).
func (s *Store) Ping(ctx context.Context) error {
	db, err := s.db.WithContext(ctx).DB()
	if err != nil {
		return err
	}
	return db.PingContext(ctx)
}

func (s *Store) ctx(ctx context.Context) *gorm.DB { return s.db.WithContext(ctx) }

func notFound(err error, what string) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// gormLogger sends gorm's messages to slog without SQL parameters, which could
// hold personal data.
type gormLogger struct{ log *slog.Logger }

func newGormLogger(log *slog.Logger) logger.Interface {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return gormLogger{log: log}
}

func (l gormLogger) LogMode(logger.LogLevel) logger.Interface { return l }
func (l gormLogger) Info(ctx context.Context, msg string, args ...any) {
	l.log.DebugContext(ctx, "gorm: "+msg)
}
func (l gormLogger) Warn(ctx context.Context, msg string, args ...any) {
	l.log.WarnContext(ctx, "gorm: "+msg)
}
func (l gormLogger) Error(ctx context.Context, msg string, args ...any) {
	l.log.ErrorContext(ctx, "gorm: "+msg)
}
func (l gormLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		l.log.DebugContext(ctx, "gorm query failed", "err", err, "elapsed", time.Since(begin))
	}
}
