package storage_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// Legal holds are set, listed and lifted once; a lifted hold stays, with
// who lifted it.
func TestLegalHolds(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		for _, bad := range []storage.LegalHold{
			{Scope: "tenant", ObjectID: 1, Reason: "r", SetBy: "a"},
			{Scope: storage.HoldCase, ObjectID: 0, Reason: "r", SetBy: "a"},
			{Scope: storage.HoldCase, ObjectID: 1, Reason: " ", SetBy: "a"},
		} {
			if err := s.AddHold(ctx, &bad); err == nil {
				t.Errorf("hold %+v accepted", bad)
			}
		}
		a := storage.LegalHold{Scope: storage.HoldCase, ObjectID: 7, Reason: "claim CIV-1", SetBy: "legal1"}
		b := storage.LegalHold{Scope: storage.HoldSource, ObjectID: 2, Reason: "police request", SetBy: "admin1"}
		for _, h := range []*storage.LegalHold{&a, &b} {
			if err := s.AddHold(ctx, h); err != nil {
				t.Fatal(err)
			}
		}
		if a.Object() != "case:7" || a.ID == 0 || !a.Active() {
			t.Errorf("hold a: %+v", a)
		}
		lifted, err := s.LiftHold(ctx, a.ID, "legal2", "settled", time.Now())
		if err != nil || lifted.Active() || lifted.LiftedBy != "legal2" || lifted.Reason != "claim CIV-1" {
			t.Fatalf("lift: %+v %v", lifted, err)
		}
		if _, err := s.LiftHold(ctx, a.ID, "legal2", "again", time.Now()); !errors.Is(err, storage.ErrHoldLifted) {
			t.Errorf("lift twice: %v", err)
		}
		if _, err := s.LiftHold(ctx, 9999, "legal2", "", time.Now()); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("lift a missing hold: %v", err)
		}
		active, err := s.LegalHolds(ctx, false)
		if err != nil || len(active) != 1 || active[0].ID != b.ID {
			t.Fatalf("active holds: %+v %v", active, err)
		}
		all, err := s.LegalHolds(ctx, true)
		if err != nil || len(all) != 2 || all[0].ID != b.ID || all[1].LiftReason != "settled" {
			t.Fatalf("all holds: %+v %v", all, err)
		}
	})
}

// A run's cases are those of its hits' targets and re-checks; hits no case
// holds yet are pending. Marking a removal is first-wins and finishing it
// takes the run out of the runs with content.
func TestRunCasesAndRemovals(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		src := mustSource(t, s, "retention")
		r1, r2, r3 := mustRun(t, s, src.ID), mustRun(t, s, src.ID), mustRun(t, s, src.ID)
		run1, run2, run3 := r1.ID, r2.ID, r3.ID
		a := mustCapture(t, s, r1, "https://leaks.example/a", sha("a"))
		b := mustCapture(t, s, r1, "https://soon.example/b", sha("b"))
		check := mustCapture(t, s, r2, "https://leaks.example/a?recheck", sha("a"))
		mustCapture(t, s, r3, "https://leaks.example/index", sha("index"))
		ref := mustReference(t, s, "one.csv", sha("one"))
		for _, h := range []storage.Hit{
			{CaptureID: a.ID, ReferenceID: ref.ID, Method: "sha256", Score: 1, Target: "leaks.example"},
			{CaptureID: b.ID, ReferenceID: ref.ID, Method: "sha256", Score: 1, Target: "soon.example"},
		} {
			if _, err := s.AddHit(ctx, &h); err != nil {
				t.Fatal(err)
			}
		}
		cs, err := s.EnsureCase(ctx, "leaks.example", "case-leaks.example")
		if err != nil {
			t.Fatal(err)
		}
		// run2's capture is a re-check's evidence, with no hit.
		if err := s.DB().Create(&storage.RemovalCheck{CaseID: cs.ID, ItemID: 1, Result: storage.CheckGone, CheckedAt: time.Now(), CaptureID: check.ID}).Error; err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			run     uint64
			cases   []uint64
			pending []string
		}{
			{run1, []uint64{cs.ID}, []string{"soon.example"}},
			{run2, []uint64{cs.ID}, nil},
			{run3, nil, nil},
		} {
			cases, pending, err := s.RunCases(ctx, tc.run)
			if err != nil {
				t.Fatal(err)
			}
			var ids []uint64
			for _, c := range cases {
				ids = append(ids, c.ID)
			}
			if !slices.Equal(ids, tc.cases) || !slices.Equal(pending, tc.pending) {
				t.Errorf("run %d: cases %v pending %v, want %v %v", tc.run, ids, pending, tc.cases, tc.pending)
			}
		}

		m := storage.EvidenceRemoval{RunID: run3, Policy: "p", Reason: "old", Files: 2, Bytes: 10, Sums: "x  f\n"}
		if ok, err := s.MarkEvidenceRemoval(ctx, &m); err != nil || !ok {
			t.Fatalf("mark: %v %v", ok, err)
		}
		again := storage.EvidenceRemoval{RunID: run3, Policy: "other"}
		if ok, err := s.MarkEvidenceRemoval(ctx, &again); err != nil || ok {
			t.Fatalf("second mark: %v %v, want refused", ok, err)
		}
		marked, err := s.EvidenceRemovals(ctx, storage.RemovalMarked)
		if err != nil || len(marked) != 1 || marked[0].Policy != "p" || marked[0].Done() {
			t.Fatalf("marked: %+v %v", marked, err)
		}
		runs, err := s.RunsWithContent(ctx)
		if err != nil || len(runs) != 3 {
			t.Fatalf("runs with content while marked: %+v %v", runs, err)
		}
		if err := s.FinishEvidenceRemoval(ctx, run3, time.Now()); err != nil {
			t.Fatal(err)
		}
		got, ok, err := s.EvidenceRemovalOf(ctx, run3)
		if err != nil || !ok || !got.Done() || got.RemovedAt == nil || got.Files != 2 {
			t.Fatalf("removal of run %d: %+v %v %v", run3, got, ok, err)
		}
		if _, ok, err := s.EvidenceRemovalOf(ctx, run1); err != nil || ok {
			t.Errorf("removal of run %d: %v %v, want none", run1, ok, err)
		}
		runs, err = s.RunsWithContent(ctx)
		if err != nil || len(runs) != 2 || runs[0].ID != run1 || runs[1].ID != run2 || runs[0].SourceID != src.ID {
			t.Fatalf("runs with content: %+v %v", runs, err)
		}
	})
}
