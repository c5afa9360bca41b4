package storage

import "testing"

// The migrations are one ordered list: versions 1, 2, 3… with no gap, so
// SchemaVersion (the last) is the newest and every step runs in order.
func TestMigrationsAreOrdered(t *testing.T) {
	for i, m := range migrations {
		if m.version != i+1 {
			t.Fatalf("migrations[%d] is version %d (%s), want %d", i, m.version, m.name, i+1)
		}
		if m.name == "" || len(m.sql)+len(m.dialectSQL) == 0 {
			t.Errorf("migration %d has no name or no statements", m.version)
		}
	}
}
