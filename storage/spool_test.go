package storage_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// The scan spool: one row per capture, listed per source up to a run,
// taken once (the second taker gets ErrTaken and rolls back), and a
// transaction that fails leaves the row and writes nothing.
func TestScanSpool(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		src := mustSource(t, s, "forum")
		other := mustSource(t, s, "paste")
		r1, r2 := mustRun(t, s, src.ID), mustRun(t, s, src.ID)
		ro := mustRun(t, s, other.ID)
		c1 := mustCapture(t, s, r1, "https://leaks.example/a", sha("a"))
		c2 := mustCapture(t, s, r2, "https://leaks.example/b", sha("b"))
		c3 := mustCapture(t, s, r2, "https://leaks.example/c", sha("c"))
		co := mustCapture(t, s, ro, "https://paste.example/x", sha("x"))
		body := bytes.Repeat([]byte{0, 1, 2, 0xff}, 1<<16) // binary, 256 KiB
		rows := []storage.SpoolItem{
			{RunID: r1.ID, SourceID: src.ID, CaptureID: c1.ID, Kind: storage.CaptureFile, URL: c1.URL, Meta: []byte("m1"), Body: body},
			{RunID: r2.ID, SourceID: src.ID, CaptureID: c2.ID, Kind: storage.CaptureFile, URL: c2.URL, Meta: []byte("m2")},
			{RunID: r2.ID, SourceID: src.ID, CaptureID: c3.ID, Kind: storage.CapturePage, URL: c3.URL, Meta: []byte("m3"), Body: []byte{}},
			{RunID: ro.ID, SourceID: other.ID, CaptureID: co.ID, Kind: storage.CaptureFile, URL: co.URL, Meta: []byte("mo")},
		}
		for i := range rows {
			if created, err := s.SpoolCapture(ctx, &rows[i]); err != nil || !created {
				t.Fatalf("spool %d: %v, %v", i, created, err)
			}
		}
		dup := storage.SpoolItem{RunID: r1.ID, SourceID: src.ID, CaptureID: c1.ID, Kind: storage.CaptureFile, URL: c1.URL, Meta: []byte("again")}
		if created, err := s.SpoolCapture(ctx, &dup); err != nil || created {
			t.Fatalf("a capture spooled twice: created=%v err=%v", created, err)
		}
		if n, oldest, err := s.SpoolBacklog(ctx); err != nil || n != 4 || oldest.IsZero() || time.Since(oldest) > time.Hour {
			t.Fatalf("SpoolBacklog = %d since %v, %v; want 4 rows queued just now", n, oldest, err)
		}
		if n, err := s.CountSpooled(ctx, r2.ID); err != nil || n != 2 {
			t.Fatalf("CountSpooled(run 2) = %d, %v; want 2", n, err)
		}
		// Up to run 1: its own row only; up to run 2: run 1's leftover too,
		// oldest first; never another source's.
		if ids, err := s.SpooledIDs(ctx, src.ID, r1.ID); err != nil || len(ids) != 1 || ids[0] != rows[0].ID {
			t.Fatalf("SpooledIDs(source, run 1) = %v, %v", ids, err)
		}
		ids, err := s.SpooledIDs(ctx, src.ID, r2.ID)
		if err != nil || len(ids) != 3 || ids[0] != rows[0].ID || ids[1] != rows[1].ID || ids[2] != rows[2].ID {
			t.Fatalf("SpooledIDs(source, run 2) = %v, %v", ids, err)
		}
		got, err := s.SpooledItem(ctx, rows[0].ID)
		if err != nil || !bytes.Equal(got.Body, body) || string(got.Meta) != "m1" || got.CaptureID != c1.ID || got.Kind != storage.CaptureFile {
			t.Fatalf("SpooledItem: %v (body %d bytes, meta %q)", err, len(got.Body), got.Meta)
		}
		if got, err := s.SpooledItem(ctx, rows[1].ID); err != nil || got.Body != nil {
			t.Fatalf("a row without a body reads back %d bytes (%v); want nil", len(got.Body), err)
		}

		// A failing transaction keeps the row and writes nothing.
		boom := errors.New("matching failed")
		err = s.InTx(ctx, func(tx *storage.Store) error {
			if err := tx.TakeSpooled(ctx, rows[0].ID); err != nil {
				return err
			}
			if err := tx.AddRunHits(ctx, r1.ID, 3); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("InTx: %v", err)
		}
		if _, err := s.SpooledItem(ctx, rows[0].ID); err != nil {
			t.Fatalf("row gone after a rolled-back take: %v", err)
		}
		if r, _ := s.RunByID(ctx, r1.ID); r.Hits != 0 {
			t.Fatalf("rolled-back hits counted: %d", r.Hits)
		}
		// Taken once; the second take is refused.
		take := func() error {
			return s.InTx(ctx, func(tx *storage.Store) error {
				if err := tx.TakeSpooled(ctx, rows[0].ID); err != nil {
					return err
				}
				return tx.AddRunHits(ctx, r1.ID, 3)
			})
		}
		if err := take(); err != nil {
			t.Fatal(err)
		}
		if err := take(); !errors.Is(err, storage.ErrTaken) {
			t.Fatalf("second take: %v; want ErrTaken", err)
		}
		if r, _ := s.RunByID(ctx, r1.ID); r.Hits != 3 {
			t.Fatalf("run hits %d, want 3 (counted once)", r.Hits)
		}
		if _, err := s.SpooledItem(ctx, rows[0].ID); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("taken row: %v; want ErrNotFound", err)
		}
		for _, r := range rows[1:] {
			if err := s.TakeSpooled(ctx, r.ID); err != nil {
				t.Fatal(err)
			}
		}
		if n, oldest, err := s.SpoolBacklog(ctx); err != nil || n != 0 || !oldest.IsZero() {
			t.Fatalf("empty spool's backlog = %d since %v, %v", n, oldest, err)
		}
	})
}

// TestPurgeSpool: spooled content older than the limit goes (a dry run
// only counts it); younger rows stay for their scan.
func TestPurgeSpool(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		src := mustSource(t, s, "forum")
		run := mustRun(t, s, src.ID)
		var ids []uint64
		for _, u := range []string{"https://leaks.example/old1", "https://leaks.example/old2", "https://leaks.example/new"} {
			c := mustCapture(t, s, run, u, sha(u))
			it := storage.SpoolItem{RunID: run.ID, SourceID: src.ID, CaptureID: c.ID, Kind: storage.CaptureFile, URL: u, Meta: []byte("m")}
			if _, err := s.SpoolCapture(ctx, &it); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, it.ID)
		}
		old := time.Now().Add(-100 * 24 * time.Hour).UTC()
		if err := s.DB().Exec(`UPDATE scan_spool SET created_at = ? WHERE id IN (?, ?)`, old, ids[0], ids[1]).Error; err != nil {
			t.Fatal(err)
		}
		limit := time.Now().Add(-90 * 24 * time.Hour)
		if n, err := s.PurgeSpool(ctx, limit, true); err != nil || n != 2 {
			t.Fatalf("dry PurgeSpool = %d, %v; want 2", n, err)
		}
		if n, _, _ := s.SpoolBacklog(ctx); n != 3 {
			t.Fatalf("a dry run removed rows: %d left, want 3", n)
		}
		if n, err := s.PurgeSpool(ctx, limit, false); err != nil || n != 2 {
			t.Fatalf("PurgeSpool = %d, %v; want 2", n, err)
		}
		if _, err := s.SpooledItem(ctx, ids[2]); err != nil {
			t.Fatalf("the young row went too: %v", err)
		}
		if n, _, _ := s.SpoolBacklog(ctx); n != 1 {
			t.Fatalf("%d rows left, want 1", n)
		}
	})
}
