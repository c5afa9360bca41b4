package storage_test

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// sameInstant compares times as stored: PostgreSQL keeps microseconds,
// SQLite (as text) keeps nanoseconds.
func sameInstant(a, b time.Time) bool { return a.Sub(b).Abs() < time.Microsecond }

// sha returns a distinct 64-hex-digit digest for a label.
func sha(label string) string { return fmt.Sprintf("%064x", label) }

func mustSource(t *testing.T, s *storage.Store, name string) storage.Source {
	t.Helper()
	src := storage.Source{Name: name, Kind: "web", URL: "https://" + name + ".example/", EverySecs: 600, Enabled: true}
	if err := s.CreateSource(t.Context(), &src); err != nil {
		t.Fatalf("create source %s: %v", name, err)
	}
	return src
}

func mustRun(t *testing.T, s *storage.Store, sourceID uint64) storage.CrawlRun {
	t.Helper()
	run, err := s.StartRun(t.Context(), sourceID)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

func mustCapture(t *testing.T, s *storage.Store, run storage.CrawlRun, url, digest string) storage.Capture {
	t.Helper()
	c := storage.Capture{RunID: run.ID, SourceID: run.SourceID, Kind: storage.CaptureFile, URL: url,
		Host: "leaks.example", FetchedAt: time.Date(2025, 3, 4, 5, 6, 7, 123456000, time.UTC),
		Status: 200, SHA256: digest, Size: 1234}
	created, err := s.SaveCapture(t.Context(), &c)
	if err != nil || !created {
		t.Fatalf("save capture %s: created=%v err=%v", url, created, err)
	}
	return c
}

func mustReference(t *testing.T, s *storage.Store, name, digest string) storage.Reference {
	t.Helper()
	r := storage.Reference{Name: name, Size: 99, SHA256: digest}
	created, err := s.AddReference(t.Context(), &r)
	if err != nil || !created {
		t.Fatalf("add reference %s: created=%v err=%v", name, created, err)
	}
	return r
}

func TestSources(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		b := mustSource(t, s, "bravo")
		if b.ID == 0 || b.CreatedAt.IsZero() {
			t.Fatalf("created source has no id or created_at: %+v", b)
		}

		dup := storage.Source{Name: "bravo", Kind: "web", URL: "https://other.example/"}
		if err := s.CreateSource(ctx, &dup); !errors.Is(err, storage.ErrDuplicate) {
			t.Fatalf("duplicate CreateSource error = %v, want ErrDuplicate", err)
		}

		// A disabled source must stay disabled (the column has DEFAULT TRUE).
		off := storage.Source{Name: "charlie", Kind: "web", URL: "https://charlie.example/", Enabled: false}
		if err := s.CreateSource(ctx, &off); err != nil {
			t.Fatal(err)
		}
		if got, err := s.SourceByID(ctx, off.ID); err != nil || got.Enabled {
			t.Fatalf("disabled source reads back as %+v, err %v; want Enabled=false", got, err)
		}

		// Upsert of an existing name updates kind, URL and interval in place.
		up := storage.Source{Name: "bravo", Kind: "web", URL: "https://bravo.example/v2", EverySecs: 60, Enabled: true}
		if err := s.UpsertSource(ctx, &up); err != nil {
			t.Fatalf("upsert existing: %v", err)
		}
		if up.ID != b.ID || up.URL != "https://bravo.example/v2" || up.EverySecs != 60 {
			t.Fatalf("upsert existing returned %+v, want id %d with new url and interval", up, b.ID)
		}
		if !sameInstant(up.CreatedAt, b.CreatedAt) {
			t.Errorf("upsert changed created_at from %v to %v", b.CreatedAt, up.CreatedAt)
		}
		if up.Every() != time.Minute {
			t.Errorf("Every() = %v, want 1m", up.Every())
		}

		// Upsert of a new name creates it.
		a := storage.Source{Name: "alpha", Kind: "web", URL: "https://alpha.example/", Enabled: true}
		if err := s.UpsertSource(ctx, &a); err != nil {
			t.Fatalf("upsert new: %v", err)
		}
		if a.ID == 0 || a.ID == b.ID || a.ID == off.ID {
			t.Fatalf("upsert new got id %d", a.ID)
		}

		list, err := s.ListSources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, src := range list {
			names = append(names, src.Name)
		}
		if want := []string{"alpha", "bravo", "charlie"}; !slices.Equal(names, want) {
			t.Fatalf("ListSources names = %v, want %v", names, want)
		}

		for _, tc := range []struct {
			name    string
			wantID  uint64
			wantErr error
		}{
			{"alpha", a.ID, nil},
			{"bravo", b.ID, nil},
			{"nope", 0, storage.ErrNotFound},
		} {
			got, err := s.SourceByName(ctx, tc.name)
			if !errors.Is(err, tc.wantErr) || got.ID != tc.wantID {
				t.Errorf("SourceByName(%q) = id %d, err %v; want id %d, err %v", tc.name, got.ID, err, tc.wantID, tc.wantErr)
			}
		}
		if _, err := s.SourceByID(ctx, 999999); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("SourceByID(missing) error = %v, want ErrNotFound", err)
		}
	})
}

func TestCrawlRuns(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		src := mustSource(t, s, "runs")
		before := time.Now().Add(-time.Second)
		run, err := s.StartRun(ctx, src.ID)
		if err != nil {
			t.Fatal(err)
		}
		if run.ID == 0 || run.SourceID != src.ID || run.Status != storage.RunRunning || run.FinishedAt != nil || run.StartedAt.Before(before) {
			t.Fatalf("StartRun = %+v", run)
		}

		run.Status, run.Pages, run.Files, run.Hits, run.Error = storage.RunFailed, 7, 3, 2, "fetch: timeout"
		if err := s.FinishRun(ctx, &run); err != nil {
			t.Fatal(err)
		}
		if run.FinishedAt == nil {
			t.Fatal("FinishRun did not set FinishedAt")
		}
		got, err := s.RunByID(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != storage.RunFailed || got.Pages != 7 || got.Files != 3 || got.Hits != 2 || got.Error != "fetch: timeout" ||
			got.FinishedAt == nil || got.FinishedAt.Before(got.StartedAt) || !sameInstant(got.StartedAt, run.StartedAt) {
			t.Fatalf("RunByID = %+v, want the finished run %+v", got, run)
		}
		if _, err := s.RunByID(ctx, run.ID+100); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("RunByID(missing) error = %v, want ErrNotFound", err)
		}
	})
}

// A run whose crawler stopped reporting is marked interrupted; one that
// reports stays running, and a retry that resumes an interrupted run makes
// it running again.
func TestInterruptStaleRuns(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		src := mustSource(t, s, "stale")
		dead := mustRun(t, s, src.ID)
		alive := mustRun(t, s, src.ID)
		done := mustRun(t, s, src.ID)
		done.Status = storage.RunOK
		if err := s.FinishRun(ctx, &done); err != nil {
			t.Fatal(err)
		}
		// Generous margins: a loaded PostgreSQL may take a while between
		// the touch and the sweep.
		time.Sleep(1500 * time.Millisecond)
		if err := s.TouchRun(ctx, alive.ID); err != nil {
			t.Fatal(err)
		}
		n, err := s.InterruptStaleRuns(ctx, time.Second)
		if err != nil || n != 1 {
			t.Fatalf("InterruptStaleRuns = %d, %v; want 1 (only the silent run)", n, err)
		}
		for id, want := range map[uint64]storage.RunStatus{dead.ID: storage.RunInterrupted, alive.ID: storage.RunRunning, done.ID: storage.RunOK} {
			got, err := s.RunByID(ctx, id)
			if err != nil || got.Status != want {
				t.Errorf("run %d: %+v, %v; want %s", id, got, err, want)
			}
			if want == storage.RunInterrupted && (got.FinishedAt == nil || !strings.Contains(got.Error, "stopped reporting")) {
				t.Errorf("interrupted run %+v: want finished_at and a reason", got)
			}
		}
		if err := s.TouchRun(ctx, dead.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.RunByID(ctx, dead.ID); got.Status != storage.RunRunning || got.FinishedAt != nil || got.HeartbeatAt == nil {
			t.Errorf("resumed run %+v: want running again", got)
		}
		if err := s.TouchRun(ctx, done.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.RunByID(ctx, done.ID); got.Status != storage.RunOK {
			t.Errorf("a finished run was revived by TouchRun: %+v", got)
		}
	})
}

func TestSaveCaptureIsIdempotentPerRunAndURL(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		src := mustSource(t, s, "caps")
		run1, run2 := mustRun(t, s, src.ID), mustRun(t, s, src.ID)
		first := mustCapture(t, s, run1, "https://leaks.example/a.pdf", sha("a"))
		if first.ID == 0 {
			t.Fatal("capture has no id")
		}

		// A retried activity saves the same run+URL with different results.
		retry := storage.Capture{RunID: run1.ID, SourceID: src.ID, Kind: storage.CaptureFile,
			URL: "https://leaks.example/a.pdf", SHA256: sha("other"), Size: 1, Status: 500}
		created, err := s.SaveCapture(ctx, &retry)
		if err != nil {
			t.Fatal(err)
		}
		if created {
			t.Fatal("second SaveCapture of the same run and URL reported created")
		}
		if retry.ID != first.ID || retry.SHA256 != sha("a") || retry.Status != 200 || retry.Size != 1234 ||
			!retry.FetchedAt.Equal(first.FetchedAt) {
			t.Fatalf("second SaveCapture returned %+v, want the existing row %+v", retry, first)
		}

		// Another URL in the same run, and the same URL in another run, are new.
		other := mustCapture(t, s, run1, "https://leaks.example/b.pdf", sha("b"))
		again := mustCapture(t, s, run2, "https://leaks.example/a.pdf", sha("a"))
		if ids := []uint64{first.ID, other.ID, again.ID}; len(slices.Compact(slices.Sorted(slices.Values(ids)))) != 3 {
			t.Fatalf("capture ids not distinct: %v", ids)
		}

		got, err := s.CaptureByID(ctx, first.ID)
		if err != nil || got.SHA256 != sha("a") || got.URL != first.URL {
			t.Fatalf("CaptureByID = %+v, %v", got, err)
		}
		if _, err := s.CaptureByID(ctx, 999999); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("CaptureByID(missing) error = %v, want ErrNotFound", err)
		}
		list, err := s.ListCaptures(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != again.ID || list[1].ID != other.ID {
			t.Fatalf("ListCaptures(2) = %v, want newest first [%d %d]", captureIDs(list), again.ID, other.ID)
		}
	})
}

func captureIDs(cs []storage.Capture) []uint64 {
	var ids []uint64
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	return ids
}

func TestAddReferenceDedupes(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		// Each step adds a reference; wantSameAs names an earlier step whose row
		// must be returned instead of a new one ("" = a new row is expected).
		steps := []struct {
			step, name, digest, wantSameAs string
		}{
			{"named", "docs/a.pdf", sha("a"), ""},
			{"same name and sha", "docs/a.pdf", sha("a"), "named"},
			{"same sha, other name", "copy/a.pdf", sha("a"), ""},
			{"same name, other sha", "docs/a.pdf", sha("a2"), ""},
			{"no-names", "", sha("a"), ""},
			{"no-names again", "", sha("a"), "no-names"},
			{"no-names other sha", "", sha("b"), ""},
		}
		got := map[string]storage.Reference{}
		for _, st := range steps {
			r := storage.Reference{Name: st.name, Size: 10, SHA256: st.digest}
			created, err := s.AddReference(ctx, &r)
			if err != nil {
				t.Fatalf("%s: %v", st.step, err)
			}
			if r.ID == 0 || r.OpaqueID == "" {
				t.Fatalf("%s: reference without id or opaque id: %+v", st.step, r)
			}
			if st.wantSameAs == "" {
				if !created {
					t.Errorf("%s: created = false, want a new reference", st.step)
				}
				for prev, pr := range got {
					if pr.ID == r.ID || pr.OpaqueID == r.OpaqueID {
						t.Errorf("%s: reuses id/opaque id of %q", st.step, prev)
					}
				}
			} else {
				want := got[st.wantSameAs]
				if created || r.ID != want.ID || r.OpaqueID != want.OpaqueID {
					t.Errorf("%s: created=%v id=%d opaque=%s; want existing id %d opaque %s",
						st.step, created, r.ID, r.OpaqueID, want.ID, want.OpaqueID)
				}
			}
			got[st.step] = r
		}

		bySHA, err := s.ReferencesBySHA256(ctx, sha("a"))
		if err != nil {
			t.Fatal(err)
		}
		var ids []uint64
		for _, r := range bySHA {
			ids = append(ids, r.ID)
		}
		want := []uint64{got["named"].ID, got["same sha, other name"].ID, got["no-names"].ID}
		if !slices.Equal(ids, want) {
			t.Fatalf("ReferencesBySHA256(a) ids = %v, want %v", ids, want)
		}
		if none, err := s.ReferencesBySHA256(ctx, sha("unknown")); err != nil || len(none) != 0 {
			t.Fatalf("ReferencesBySHA256(unknown) = %v, %v; want none", none, err)
		}
		r, err := s.ReferenceByID(ctx, got["no-names"].ID)
		if err != nil || r.Name != "" || r.SHA256 != sha("a") {
			t.Fatalf("ReferenceByID = %+v, %v", r, err)
		}
		if _, err := s.ReferenceByID(ctx, 999999); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("ReferenceByID(missing) error = %v, want ErrNotFound", err)
		}
	})
}

func TestHits(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		src := mustSource(t, s, "hits")
		run := mustRun(t, s, src.ID)
		capA := mustCapture(t, s, run, "https://leaks.example/a.pdf", sha("a"))
		capB := mustCapture(t, s, run, "https://leaks.example/b.zip", sha("b"))
		refA := mustReference(t, s, "docs/a.pdf", sha("a"))
		refB := mustReference(t, s, "", sha("b"))

		h1 := storage.Hit{CaptureID: capA.ID, ReferenceID: refA.ID, Method: "sha256", Score: 1, Why: "exact", Target: "leaks.example"}
		created, err := s.AddHit(ctx, &h1)
		if err != nil || !created || h1.ID == 0 {
			t.Fatalf("AddHit = %v, %v, id %d", created, err, h1.ID)
		}
		retry := storage.Hit{CaptureID: capA.ID, ReferenceID: refA.ID, Method: "sha256", Score: 0.5, Why: "retry", Target: "leaks.example"}
		created, err = s.AddHit(ctx, &retry)
		if err != nil || created {
			t.Fatalf("repeated AddHit = %v, %v; want not created", created, err)
		}
		if retry.ID != h1.ID || retry.Why != "exact" || retry.Score != 1 {
			t.Fatalf("repeated AddHit returned %+v, want the existing hit %d", retry, h1.ID)
		}
		h2 := storage.Hit{CaptureID: capA.ID, ReferenceID: refA.ID, Method: "simhash", Score: 0.9, Target: "leaks.example"}
		h3 := storage.Hit{CaptureID: capB.ID, ReferenceID: refB.ID, Method: "sha256", Score: 1, Target: "mirror.example"}
		for _, h := range []*storage.Hit{&h2, &h3} {
			if created, err := s.AddHit(ctx, h); err != nil || !created {
				t.Fatalf("AddHit(%s) = %v, %v", h.Method, created, err)
			}
		}

		undispatched := func() []uint64 {
			t.Helper()
			ds, err := s.UndispatchedHits(ctx, 100)
			if err != nil {
				t.Fatal(err)
			}
			var ids []uint64
			for _, d := range ds {
				if d.DispatchedAt != nil {
					t.Errorf("undispatched hit %d has DispatchedAt %v", d.ID, d.DispatchedAt)
				}
				ids = append(ids, d.ID)
			}
			return ids
		}
		if got, want := undispatched(), []uint64{h1.ID, h2.ID, h3.ID}; !slices.Equal(got, want) {
			t.Fatalf("UndispatchedHits = %v, want %v", got, want)
		}
		if ds, err := s.UndispatchedHits(ctx, 1); err != nil || len(ds) != 1 || ds[0].ID != h1.ID {
			t.Fatalf("UndispatchedHits(limit 1) = %v, %v", ds, err)
		}

		if err := s.MarkDispatched(ctx, []uint64{h1.ID, h3.ID}); err != nil {
			t.Fatal(err)
		}
		if got, want := undispatched(), []uint64{h2.ID}; !slices.Equal(got, want) {
			t.Fatalf("after MarkDispatched UndispatchedHits = %v, want %v", got, want)
		}
		if err := s.MarkDispatched(ctx, nil); err != nil {
			t.Fatalf("MarkDispatched(nil): %v", err)
		}
		before, err := s.HitDetailsByIDs(ctx, []uint64{h1.ID})
		if err != nil || len(before) != 1 || before[0].DispatchedAt == nil {
			t.Fatalf("dispatched hit reads back as %+v, %v", before, err)
		}
		// Marking again keeps the first dispatch time.
		time.Sleep(5 * time.Millisecond)
		if err := s.MarkDispatched(ctx, []uint64{h1.ID, h2.ID}); err != nil {
			t.Fatal(err)
		}
		if got := undispatched(); len(got) != 0 {
			t.Fatalf("after dispatching all, UndispatchedHits = %v", got)
		}
		after, err := s.HitDetailsByIDs(ctx, []uint64{h1.ID})
		if err != nil || after[0].DispatchedAt == nil || !after[0].DispatchedAt.Equal(*before[0].DispatchedAt) {
			t.Fatalf("re-marking moved dispatched_at from %v to %+v (%v)", before[0].DispatchedAt, after, err)
		}

		// Details join the capture and the reference, in id order whatever the
		// order asked for.
		details, err := s.HitDetailsByIDs(ctx, []uint64{h3.ID, h1.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(details) != 2 {
			t.Fatalf("HitDetailsByIDs returned %d rows, want 2", len(details))
		}
		for i, tc := range []struct {
			hit storage.Hit
			cap storage.Capture
			ref storage.Reference
		}{{h1, capA, refA}, {h3, capB, refB}} {
			d := details[i]
			if d.ID != tc.hit.ID || d.Method != tc.hit.Method || d.Target != tc.hit.Target || d.CaptureID != tc.cap.ID || d.ReferenceID != tc.ref.ID {
				t.Errorf("detail %d hit fields = %+v, want %+v", i, d.Hit, tc.hit)
			}
			if d.URL != tc.cap.URL || !d.FetchedAt.Equal(tc.cap.FetchedAt) || d.CaptureSHA256 != tc.cap.SHA256 || d.CaptureSize != tc.cap.Size {
				t.Errorf("detail %d capture fields = url %q fetched %v sha %q size %d; want %q %v %q %d",
					i, d.URL, d.FetchedAt, d.CaptureSHA256, d.CaptureSize, tc.cap.URL, tc.cap.FetchedAt, tc.cap.SHA256, tc.cap.Size)
			}
			if d.RefOpaqueID != tc.ref.OpaqueID || d.RefName != tc.ref.Name {
				t.Errorf("detail %d reference fields = %q %q, want %q %q", i, d.RefOpaqueID, d.RefName, tc.ref.OpaqueID, tc.ref.Name)
			}
		}
		if d, err := s.HitDetailsByIDs(ctx, nil); err != nil || len(d) != 0 {
			t.Fatalf("HitDetailsByIDs(nil) = %v, %v", d, err)
		}

		forTarget, err := s.HitsForTarget(ctx, "leaks.example")
		if err != nil {
			t.Fatal(err)
		}
		if len(forTarget) != 2 || forTarget[0].ID != h1.ID || forTarget[1].ID != h2.ID {
			t.Fatalf("HitsForTarget = %v, want [%d %d]", forTarget, h1.ID, h2.ID)
		}
		recent, err := s.RecentHits(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(recent) != 2 || recent[0].ID != h3.ID || recent[1].ID != h2.ID {
			t.Fatalf("RecentHits(2) = %v, want [%d %d]", recent, h3.ID, h2.ID)
		}
	})
}

func TestCases(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		c, err := s.EnsureCase(ctx, "leaks.example", "case-leaks.example")
		if err != nil {
			t.Fatal(err)
		}
		if c.ID == 0 || c.State != storage.CaseDetected || c.OpenedAt.IsZero() {
			t.Fatalf("EnsureCase = %+v", c)
		}
		again, err := s.EnsureCase(ctx, "leaks.example", "case-leaks.example")
		if err != nil || again.ID != c.ID {
			t.Fatalf("second EnsureCase = %+v, %v; want id %d", again, err, c.ID)
		}
		other, err := s.EnsureCase(ctx, "mirror.example", "case-mirror.example")
		if err != nil || other.ID == c.ID {
			t.Fatalf("EnsureCase(other) = %+v, %v", other, err)
		}
		if err := s.SetCaseState(ctx, c.ID, storage.CaseClosed, "abuse@leaks.example"); err != nil {
			t.Fatal(err)
		}

		for _, tc := range []struct {
			ref     string
			wantID  uint64
			wantErr error
		}{
			{strconv.FormatUint(c.ID, 10), c.ID, nil},
			{"#" + strconv.FormatUint(other.ID, 10), other.ID, nil},
			{"leaks.example", c.ID, nil},
			{"case-mirror.example", other.ID, nil},
			{"unknown.example", 0, storage.ErrNotFound},
			{"999999", 0, storage.ErrNotFound},
		} {
			got, err := s.CaseByRef(ctx, tc.ref)
			if !errors.Is(err, tc.wantErr) || got.ID != tc.wantID {
				t.Errorf("CaseByRef(%q) = id %d, err %v; want id %d, err %v", tc.ref, got.ID, err, tc.wantID, tc.wantErr)
			}
		}

		closed, err := s.CaseByID(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if closed.State != storage.CaseClosed || closed.Recipient != "abuse@leaks.example" || closed.ClosedAt == nil {
			t.Fatalf("closed case = %+v", closed)
		}
		if err := s.SetCaseState(ctx, c.ID, storage.CaseDrafted, ""); err != nil {
			t.Fatal(err)
		}
		reopened, err := s.CaseByID(ctx, c.ID)
		if err != nil || reopened.ClosedAt != nil || reopened.Recipient != "abuse@leaks.example" || reopened.State != storage.CaseDrafted {
			t.Fatalf("reopened case = %+v, %v", reopened, err)
		}
		list, err := s.ListCases(ctx)
		if err != nil || len(list) != 2 || list[0].ID != c.ID {
			t.Fatalf("ListCases = %+v, %v; want the last updated (%d) first", list, err, c.ID)
		}
	})
}

func newDraft(caseID uint64, rev int) *storage.Notice {
	return &storage.Notice{CaseID: caseID, Revision: rev, Recipient: "abuse@leaks.example",
		Subject: fmt.Sprintf("Takedown r%d", rev), BodyText: "text", BodyHTML: "<p>text</p>", HitIDs: "1,2",
		DraftedBy: "system", MessageID: fmt.Sprintf("<case-%d-r%d@leakwatch.test>", caseID, rev)}
}

func TestNoticeDraftsAndApproval(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		c, err := s.EnsureCase(ctx, "leaks.example", "case-leaks.example")
		if err != nil {
			t.Fatal(err)
		}
		r1 := newDraft(c.ID, 1)
		created, err := s.CreateNoticeDraft(ctx, r1)
		if err != nil || !created || r1.ID == 0 || r1.State != storage.NoticeDraft || r1.DraftedAt.IsZero() {
			t.Fatalf("CreateNoticeDraft r1 = %v, %v, %+v", created, err, r1)
		}

		// A retried activity drafting the same revision gets the stored row.
		retry := newDraft(c.ID, 1)
		retry.Subject, retry.MessageID = "changed", "<other@leakwatch.test>"
		created, err = s.CreateNoticeDraft(ctx, retry)
		if err != nil || created {
			t.Fatalf("repeated CreateNoticeDraft = %v, %v; want not created", created, err)
		}
		if retry.ID != r1.ID || retry.Subject != r1.Subject || retry.MessageID != r1.MessageID {
			t.Fatalf("repeated CreateNoticeDraft returned %+v, want the stored r1", retry)
		}

		if err := s.ApproveNotice(ctx, r1.ID, "lena"); err != nil {
			t.Fatalf("approve r1: %v", err)
		}
		n, err := s.NoticeByID(ctx, r1.ID)
		if err != nil || n.State != storage.NoticeApproved || n.ApprovedBy != "lena" || n.ApprovedAt == nil {
			t.Fatalf("approved r1 = %+v, %v", n, err)
		}
		if err := s.ApproveNotice(ctx, r1.ID, "lena"); err != nil {
			t.Errorf("re-approve by the same person: %v, want nil", err)
		}
		if err := s.ApproveNotice(ctx, r1.ID, "mallory"); err == nil {
			t.Error("approve by another person of an approved notice succeeded")
		}
		if err := s.ApproveNotice(ctx, 999999, "lena"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("approve missing notice: %v, want ErrNotFound", err)
		}

		// A new revision supersedes the older draft/approved ones.
		r2 := newDraft(c.ID, 2)
		if created, err := s.CreateNoticeDraft(ctx, r2); err != nil || !created {
			t.Fatalf("CreateNoticeDraft r2 = %v, %v", created, err)
		}
		r3 := newDraft(c.ID, 3)
		if created, err := s.CreateNoticeDraft(ctx, r3); err != nil || !created {
			t.Fatalf("CreateNoticeDraft r3 = %v, %v", created, err)
		}
		list, err := s.NoticesForCase(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, n := range list {
			got = append(got, fmt.Sprintf("r%d:%s", n.Revision, n.State))
		}
		want := []string{"r3:" + string(storage.NoticeDraft), "r2:" + string(storage.NoticeSuperseded), "r1:" + string(storage.NoticeSuperseded)}
		if !slices.Equal(got, want) {
			t.Fatalf("NoticesForCase = %v, want %v", got, want)
		}

		// A superseded notice cannot be approved, not even by its approver.
		for _, tc := range []struct {
			id uint64
			by string
		}{{r1.ID, "lena"}, {r2.ID, "lena"}} {
			if err := s.ApproveNotice(ctx, tc.id, tc.by); err == nil {
				t.Errorf("ApproveNotice(superseded %d, %s) succeeded", tc.id, tc.by)
			}
		}

		// Drafts of another case are not superseded.
		c2, err := s.EnsureCase(ctx, "mirror.example", "case-mirror.example")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateNoticeDraft(ctx, newDraft(c2.ID, 1)); err != nil {
			t.Fatal(err)
		}
		if n, err := s.NoticeByID(ctx, r3.ID); err != nil || n.State != storage.NoticeDraft {
			t.Fatalf("r3 of case 1 after drafting case 2 = %+v, %v", n, err)
		}
	})
}

func TestNoticeSendLifecycle(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		c, err := s.EnsureCase(ctx, "leaks.example", "case-leaks.example")
		if err != nil {
			t.Fatal(err)
		}
		n := newDraft(c.ID, 1)
		if _, err := s.CreateNoticeDraft(ctx, n); err != nil {
			t.Fatal(err)
		}
		if _, err := s.BeginSend(ctx, n.ID); err == nil || errors.Is(err, storage.ErrAlreadySent) {
			t.Fatalf("BeginSend on a draft: %v, want a not-approved error", err)
		}
		if _, err := s.BeginSend(ctx, 999999); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("BeginSend(missing): %v, want ErrNotFound", err)
		}
		if err := s.ApproveNotice(ctx, n.ID, "lena"); err != nil {
			t.Fatal(err)
		}

		first, err := s.BeginSend(ctx, n.ID)
		if err != nil || first.State != storage.NoticeSending || first.Attempts != 1 {
			t.Fatalf("first BeginSend = %+v, %v; want sending, attempt 1", first, err)
		}
		if err := s.MarkSendFailed(ctx, n.ID, "smtp: 451 try later"); err != nil {
			t.Fatal(err)
		}
		second, err := s.BeginSend(ctx, n.ID)
		if err != nil || second.Attempts != 2 || second.LastError != "smtp: 451 try later" {
			t.Fatalf("second BeginSend = %+v, %v; want attempt 2 with the last error", second, err)
		}
		if second.MessageID != n.MessageID {
			t.Fatalf("Message-ID changed between attempts: %q vs %q", second.MessageID, n.MessageID)
		}

		sentAt := time.Date(2025, 6, 1, 12, 0, 0, 0, time.FixedZone("CEST", 2*3600))
		if err := s.MarkSent(ctx, n.ID, sentAt, "250 ok", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := s.BeginSend(ctx, n.ID); !errors.Is(err, storage.ErrAlreadySent) {
			t.Fatalf("BeginSend after MarkSent: %v, want ErrAlreadySent", err)
		}
		if err := s.MarkSendFailed(ctx, n.ID, "late failure"); err != nil {
			t.Fatal(err)
		}
		got, err := s.NoticeByID(ctx, n.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.State != storage.NoticeSent || got.SentAt == nil || !got.SentAt.Equal(sentAt) || got.LastError != "" || got.Attempts != 2 {
			t.Fatalf("sent notice = %+v", got)
		}
		if err := s.ApproveNotice(ctx, n.ID, "lena"); err != nil {
			t.Errorf("re-approving a sent notice by its approver: %v, want nil", err)
		}
		cnt, err := s.Count(ctx)
		if err != nil || cnt.NoticesSent != 1 {
			t.Fatalf("Count = %+v, %v; want 1 notice sent", cnt, err)
		}
	})
}

func TestUsersAndLockout(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		u := storage.User{Username: "lena", PasswordHash: "$argon2id$v=19$...", Role: storage.RoleLegal}
		if err := s.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		dup := storage.User{Username: "lena", PasswordHash: "x", Role: storage.RoleAdmin}
		if err := s.CreateUser(ctx, &dup); !errors.Is(err, storage.ErrDuplicate) {
			t.Fatalf("duplicate CreateUser: %v, want ErrDuplicate", err)
		}
		if err := s.CreateUser(ctx, &storage.User{Username: "adam", PasswordHash: "y", Role: storage.RoleAdmin}); err != nil {
			t.Fatal(err)
		}
		byName, err := s.UserByUsername(ctx, "lena")
		if err != nil || byName.ID != u.ID || byName.Role != storage.RoleLegal || byName.Disabled || byName.FailedLogins != 0 {
			t.Fatalf("UserByUsername = %+v, %v", byName, err)
		}
		if _, err := s.UserByUsername(ctx, "nobody"); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("UserByUsername(missing): %v, want ErrNotFound", err)
		}
		if users, err := s.ListUsers(ctx); err != nil || len(users) != 2 || users[0].Username != "adam" || users[1].Username != "lena" {
			t.Fatalf("ListUsers = %+v, %v", users, err)
		}
		if err := s.UpdatePassword(ctx, u.ID, "new-hash"); err != nil {
			t.Fatal(err)
		}
		if err := s.SetTOTPSecret(ctx, u.ID, "JBSWY3DPEHPK3PXP"); err != nil {
			t.Fatal(err)
		}
		if got, err := s.UserByID(ctx, u.ID); err != nil || got.PasswordHash != "new-hash" || got.TOTPSecret != "JBSWY3DPEHPK3PXP" {
			t.Fatalf("after updates UserByID = %+v, %v", got, err)
		}

	})
}

func TestConcurrentLoginFailuresAreAllCounted(t *testing.T) {
	t.Parallel()
	// Parallel wrong passwords must not lose increments, or an attacker gets
	// more guesses than the throttle allows.
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		acct := storage.ThrottleAccount("target")
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = s.RecordLoginFailure(ctx, acct, "198.51.100.1", time.Now(), func(int64) time.Duration { return 0 })
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}
		got, err := s.LoginThrottles(ctx, acct, "198.51.100.1")
		if err != nil || len(got) != 1 || got[0].Failures != n {
			t.Fatalf("after %d concurrent failures throttles = %+v (%v), want %d failures", n, got, err, n)
		}
	})
}

func TestSessionsExpire(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		u := storage.User{Username: "lena", PasswordHash: "h", Role: storage.RoleLegal}
		if err := s.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		// Expiry times given in other zones must compare as instants: far-east
		// and far-west offsets sort the wrong way if compared as text.
		east, west := time.FixedZone("east", 14*3600), time.FixedZone("west", -12*3600)
		sessions := []struct {
			hash    string
			expires time.Time
		}{
			{"short", now.Add(time.Minute)},
			{"long", now.Add(time.Hour)},
			{"expired-east", now.Add(-time.Hour).In(east)},
			{"valid-west", now.Add(time.Hour).In(west)},
		}
		for _, ss := range sessions {
			sess := storage.Session{TokenHash: ss.hash, UserID: u.ID, CSRFToken: "csrf-" + ss.hash, ExpiresAt: ss.expires}
			if err := s.CreateSession(ctx, &sess); err != nil {
				t.Fatal(err)
			}
		}
		dup := storage.Session{TokenHash: "short", UserID: u.ID, CSRFToken: "x", ExpiresAt: now}
		if err := s.CreateSession(ctx, &dup); err == nil {
			t.Fatal("second session with the same token hash was stored")
		}

		for _, tc := range []struct {
			hash  string
			at    time.Time
			valid bool
		}{
			{"short", now, true},
			{"short", now.Add(2 * time.Minute), false},
			{"long", now.Add(2 * time.Minute), true},
			{"long", now.Add(time.Hour), false}, // expires_at > now is strict
			{"expired-east", now, false},
			{"valid-west", now, true},
			{"valid-west", now.In(east), true},
			{"unknown", now, false},
		} {
			sess, err := s.SessionByTokenHash(ctx, tc.hash, tc.at)
			switch {
			case tc.valid && (err != nil || sess.UserID != u.ID || sess.CSRFToken != "csrf-"+tc.hash):
				t.Errorf("SessionByTokenHash(%s at %v) = %+v, %v; want the session", tc.hash, tc.at, sess, err)
			case !tc.valid && !errors.Is(err, storage.ErrNotFound):
				t.Errorf("SessionByTokenHash(%s at %v) = %+v, %v; want ErrNotFound", tc.hash, tc.at, sess, err)
			}
		}

		if err := s.DeleteExpiredSessions(ctx, now.Add(2*time.Minute)); err != nil {
			t.Fatal(err)
		}
		var left []string
		if err := s.DB().Model(&storage.Session{}).Order("token_hash").Pluck("token_hash", &left).Error; err != nil {
			t.Fatal(err)
		}
		if want := []string{"long", "valid-west"}; !slices.Equal(left, want) {
			t.Fatalf("after DeleteExpiredSessions sessions = %v, want %v", left, want)
		}
		if err := s.DeleteSession(ctx, "long"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SessionByTokenHash(ctx, "long", now); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("deleted session still found: %v", err)
		}
	})
}

func TestCount(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		if c, err := s.Count(ctx); err != nil || c != (storage.Counts{}) {
			t.Fatalf("Count on an empty store = %+v, %v", c, err)
		}
		src := mustSource(t, s, "count")
		run := mustRun(t, s, src.ID)
		c1 := mustCapture(t, s, run, "https://leaks.example/1", sha("1"))
		mustCapture(t, s, run, "https://leaks.example/2", sha("2"))
		mustCapture(t, s, run, "https://leaks.example/3", sha("3"))
		r1 := mustReference(t, s, "a", sha("1"))
		mustReference(t, s, "b", sha("2"))
		if _, err := s.AddHit(ctx, &storage.Hit{CaptureID: c1.ID, ReferenceID: r1.ID, Method: "sha256", Target: "leaks.example"}); err != nil {
			t.Fatal(err)
		}
		cs, err := s.EnsureCase(ctx, "leaks.example", "case-leaks.example")
		if err != nil {
			t.Fatal(err)
		}
		for rev := 1; rev <= 2; rev++ {
			if _, err := s.CreateNoticeDraft(ctx, newDraft(cs.ID, rev)); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Count(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := storage.Counts{Refs: 2, Captures: 3, Hits: 1, Cases: 1, NoticesSent: 0}
		if got != want {
			t.Fatalf("Count = %+v, want %+v", got, want)
		}
	})
}
