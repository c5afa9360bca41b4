package config

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// SlogLevel is Level as a slog.Level; unknown values (which Validate rejects) give Info.
func (l LogConfig) SlogLevel() slog.Level {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(l.Level)); err != nil {
		return slog.LevelInfo
	}
	return lv
}

// Embedded reports whether leakwatch must start its own leakwatch-temporal
// (no address configured) rather than dial an external cluster.
func (t TemporalConfig) Embedded() bool { return t.Address == "" }

// ResolveDatabase turns database.dsn into a driver (DriverSQLite or
// DriverPostgres) and what that driver opens: a file path for SQLite
// (<data_dir>/leakwatch.db when the DSN is empty), the URL for PostgreSQL.
// It assumes a validated config.
func (c *Config) ResolveDatabase() (driver, dsn string) {
	s := c.Database.DSN
	switch {
	case s == "":
		return DriverSQLite, filepath.Join(c.DataDir, "leakwatch.db")
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		return DriverPostgres, s
	case strings.HasPrefix(s, "sqlite:"):
		return DriverSQLite, sqlitePath(s)
	default: // a bare path ending in .db
		return DriverSQLite, s
	}
}

// sqlitePath strips "sqlite:" and, URL-style, a following "//", so
// sqlite:data/x.db, sqlite://data/x.db and sqlite:///abs/x.db all work.
func sqlitePath(dsn string) string {
	p := strings.TrimPrefix(dsn, "sqlite:")
	return strings.TrimPrefix(p, "//")
}

// ResolvePassword returns the SMTP password: the contents of password_file
// (trailing newlines trimmed, as secret files usually end with one) when it is
// set, else password. Setting both is an error, as in Validate.
func (s SMTPConfig) ResolvePassword() (string, error) {
	if s.PasswordFile == "" {
		return s.Password, nil
	}
	if s.Password != "" {
		return "", fmt.Errorf("smtp: set either password or password_file, not both")
	}
	b, err := os.ReadFile(s.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("smtp.password_file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// ParseQueues parses a comma-separated list of worker queues (the value of
// worker.queues or `worker --queues`): known names only, each once, in
// WorkerQueues order.
func ParseQueues(s string) ([]string, error) {
	seen := map[string]bool{}
	for _, q := range strings.Split(s, ",") {
		q = strings.ToLower(strings.TrimSpace(q))
		if q == "" {
			continue
		}
		if !slices.Contains(WorkerQueues, q) {
			return nil, fmt.Errorf("unknown queue %q (want a comma-separated list of %s)", q, strings.Join(WorkerQueues, ", "))
		}
		seen[q] = true
	}
	if len(seen) == 0 {
		return nil, fmt.Errorf("no queue given (want a comma-separated list of %s)", strings.Join(WorkerQueues, ", "))
	}
	var out []string
	for _, q := range WorkerQueues {
		if seen[q] {
			out = append(out, q)
		}
	}
	return out, nil
}

// QueueList is Queues parsed (see ParseQueues); it assumes a validated config.
func (w WorkerConfig) QueueList() []string {
	qs, _ := ParseQueues(w.Queues)
	return qs
}
