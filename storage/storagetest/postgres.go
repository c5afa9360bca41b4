// Package storagetest gives tests a real PostgreSQL database of their own.
package storagetest

import (
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// PostgresEnv names the variable that enables the PostgreSQL variants.
const PostgresEnv = "LEAKWATCH_TEST_POSTGRES_DSN"

// FreshPostgresDSN creates an empty database for one test and returns its DSN.
// The database is dropped in t.Cleanup, after the test's stores (registered
// later) are closed. Without LEAKWATCH_TEST_POSTGRES_DSN the test is skipped.
func FreshPostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		t.Skipf("PostgreSQL variant skipped: set %s=postgres://leakwatch:leakwatch@127.0.0.1:5432/leakwatch_test?sslmode=disable "+
			"to a role with CREATEDB (as root: eval \"$(bash .ci/start-postgres.sh)\")", PostgresEnv)
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", PostgresEnv, err)
	}

	admin, err := gorm.Open(postgres.Open(base), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatalf("maintenance connection to %s: %v", u.Redacted(), err)
	}
	adminSQL, err := admin.DB()
	if err != nil {
		t.Fatal(err)
	}

	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	name := "leakwatch_t_" + hex.EncodeToString(b)
	if err := admin.Exec(`CREATE DATABASE ` + name).Error; err != nil {
		adminSQL.Close()
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer adminSQL.Close()
		// FORCE ends connections a failed test may have leaked.
		if err := admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`).Error; err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})

	u.Path = "/" + name
	return u.String()
}
