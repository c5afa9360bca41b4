package storage_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/leakwatch/leakwatch/storage"
)

const genesis = "0000000000000000000000000000000000000000000000000000000000000000"

func mustAudit(t *testing.T, s *storage.Store, n int) []storage.AuditEvent {
	t.Helper()
	for i := range n {
		if err := s.Audit(t.Context(), "lena", "notice.approve", fmt.Sprintf("notice/%d", i+1), fmt.Sprintf("revision=%d", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := s.AuditEvents(t.Context(), n+10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != n {
		t.Fatalf("AuditEvents returned %d events, want %d", len(evs), n)
	}
	return evs
}

func TestAuditChainVerifies(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		if n, err := s.VerifyAudit(ctx); err != nil || n != 0 {
			t.Fatalf("VerifyAudit on an empty log = %d, %v", n, err)
		}
		evs := mustAudit(t, s, 3)
		// Newest first, each linked to the one before, the oldest to genesis.
		for i, e := range evs {
			if e.Hash == "" || len(e.Hash) != 64 || e.At.IsZero() || e.Actor != "lena" {
				t.Errorf("event %d = %+v", i, e)
			}
			wantPrev := genesis
			if i+1 < len(evs) {
				wantPrev = evs[i+1].Hash
				if evs[i+1].ID >= e.ID {
					t.Errorf("AuditEvents not newest first: %d before %d", e.ID, evs[i+1].ID)
				}
			}
			if e.PrevHash != wantPrev {
				t.Errorf("event %d prev_hash = %s, want %s", e.ID, e.PrevHash, wantPrev)
			}
		}
		if evs[2].Object != "notice/1" || evs[0].Detail != "revision=3" {
			t.Errorf("events stored out of order: %+v", evs)
		}
		if n, err := s.VerifyAudit(ctx); err != nil || n != 3 {
			t.Fatalf("VerifyAudit = %d, %v; want 3, nil", n, err)
		}
		if latest, err := s.AuditEvents(ctx, 1); err != nil || len(latest) != 1 || latest[0].ID != evs[0].ID {
			t.Fatalf("AuditEvents(1) = %+v, %v", latest, err)
		}
	})
}

func TestAuditLogIsAppendOnlyInTheDatabase(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		evs := mustAudit(t, s, 2)
		for _, tc := range []struct {
			name string
			sql  string
		}{
			{"update one", `UPDATE audit_events SET detail = 'forged' WHERE id = ?`},
			{"update all", `UPDATE audit_events SET actor = 'nobody' WHERE id >= ?`},
			{"delete one", `DELETE FROM audit_events WHERE id = ?`},
			{"delete all", `DELETE FROM audit_events WHERE id >= ?`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := s.DB().Exec(tc.sql, evs[1].ID).Error
				if err == nil {
					t.Fatalf("%s was allowed by the database", tc.sql)
				}
				if !strings.Contains(err.Error(), "append-only") {
					t.Errorf("error %q does not come from the append-only trigger", err)
				}
			})
		}
		after, err := s.AuditEvents(t.Context(), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != 2 || after[0] != evs[0] || after[1] != evs[1] {
			t.Fatalf("audit events changed:\n got %+v\nwant %+v", after, evs)
		}
		if n, err := s.VerifyAudit(t.Context()); err != nil || n != 2 {
			t.Fatalf("VerifyAudit = %d, %v", n, err)
		}
	})
}

// dropAuditTriggers simulates an attacker with direct database access who
// removes the append-only guard before editing the log.
func dropAuditTriggers(t *testing.T, s *storage.Store) {
	t.Helper()
	stmts := map[string][]string{
		storage.DialectSQLite: {
			`DROP TRIGGER audit_events_no_update`,
			`DROP TRIGGER audit_events_no_delete`,
		},
		storage.DialectPostgres: {
			`DROP TRIGGER audit_events_append_only ON audit_events`,
		},
	}[s.Dialect()]
	if len(stmts) == 0 {
		t.Fatalf("no trigger statements for dialect %q", s.Dialect())
	}
	for _, stmt := range stmts {
		if err := s.DB().Exec(stmt).Error; err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

func TestVerifyAuditDetectsTampering(t *testing.T) {
	t.Parallel()
	// Five events, oldest first at index 0..4; the attacker changes one.
	for _, tc := range []struct {
		name   string
		sql    string
		victim int // index of the event the statement gets as its id
		// VerifyAudit must name the event at index wantBad and count the
		// wantGood intact events before it.
		wantBad, wantGood int
	}{
		{"edit detail", `UPDATE audit_events SET detail = 'revision=99' WHERE id = ?`, 2, 2, 2},
		{"edit actor", `UPDATE audit_events SET actor = 'mallory' WHERE id = ?`, 2, 2, 2},
		{"edit first event", `UPDATE audit_events SET object = 'notice/9' WHERE id = ?`, 0, 0, 0},
		{"edit last event", `UPDATE audit_events SET action = 'notice.reject' WHERE id = ?`, 4, 4, 4},
		{"backdate", `UPDATE audit_events SET at = INTERVAL_1H_EARLIER WHERE id = ?`, 2, 2, 2},
		{"replace hash", `UPDATE audit_events SET hash = '` + strings.Repeat("f", 64) + `' WHERE id = ?`, 2, 2, 2},
		{"delete middle", `DELETE FROM audit_events WHERE id = ?`, 2, 3, 2},
		{"delete first", `DELETE FROM audit_events WHERE id = ?`, 0, 1, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forEachDialect(t, func(t *testing.T, s *storage.Store) {
				evs := mustAudit(t, s, 5)
				ids := make([]uint64, len(evs))
				for i, e := range evs {
					ids[len(evs)-1-i] = e.ID
				}
				if n, err := s.VerifyAudit(t.Context()); err != nil || n != 5 {
					t.Fatalf("VerifyAudit before tampering = %d, %v", n, err)
				}
				dropAuditTriggers(t, s)
				stmt := tc.sql
				if s.Dialect() == storage.DialectSQLite {
					stmt = strings.ReplaceAll(stmt, "INTERVAL_1H_EARLIER", "datetime(at, '-1 hour')")
				} else {
					stmt = strings.ReplaceAll(stmt, "INTERVAL_1H_EARLIER", "at - INTERVAL '1 hour'")
				}
				res := s.DB().Exec(stmt, ids[tc.victim])
				if res.Error != nil || res.RowsAffected != 1 {
					t.Fatalf("tamper %q: rows %d, err %v", stmt, res.RowsAffected, res.Error)
				}
				n, err := s.VerifyAudit(t.Context())
				if err == nil {
					t.Fatalf("VerifyAudit after %s = %d events, no error", tc.name, n)
				}
				want := fmt.Sprintf("audit event %d ", ids[tc.wantBad])
				if !strings.Contains(err.Error(), want) {
					t.Errorf("VerifyAudit error %q does not name %q", err, want)
				}
				if n != tc.wantGood {
					t.Errorf("VerifyAudit counted %d good events before the break, want %d", n, tc.wantGood)
				}
			})
		})
	}
}

func TestConcurrentAuditKeepsOneChain(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		const writers, each = 8, 5
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					if err := s.Audit(t.Context(), fmt.Sprintf("worker-%d", w), "hit.dispatch", fmt.Sprintf("hit/%d", i), ""); err != nil {
						errs[w] = err
						return
					}
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("concurrent Audit: %v", err)
		}
		n, err := s.VerifyAudit(t.Context())
		if err != nil || n != writers*each {
			t.Fatalf("VerifyAudit after concurrent appends = %d, %v; want %d, nil", n, err, writers*each)
		}
		// No two events claim the same parent (a fork that VerifyAudit's id
		// order alone might not show if the writers raced).
		evs, err := s.AuditEvents(t.Context(), writers*each+1)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]uint64{}
		for _, e := range evs {
			if other, dup := seen[e.PrevHash]; dup {
				t.Fatalf("events %d and %d both chain onto %s", e.ID, other, e.PrevHash)
			}
			seen[e.PrevHash] = e.ID
		}
	})
}
