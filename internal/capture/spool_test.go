package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
	"github.com/leakwatch/leakwatch/storage"
	"github.com/leakwatch/leakwatch/storage/storagetest"
)

// spoolItems are captures of several kinds: files of the breach by bytes
// and by digest only, a page naming the breach (watch terms), a page and a
// file that match nothing.
func spoolItems(t testing.TB, f *fixture, base string) []Item {
	t.Helper()
	lab := f.doc(t, synth.KindLabResult)
	note := f.doc(t, synth.KindClinicalNote)
	vacc := f.doc(t, synth.KindVaccination)
	byDigest := fileItem(base+"files/vacc.csv", vacc)
	byDigest.Body = nil
	page := Item{Kind: storage.CapturePage, URL: base + "t/9", Target: "leaks.test", Status: 200,
		Body:   []byte("<html><body><p>FRESH: Kea Health patient portal, 108 GB</p></body></html>"),
		Digest: fingerprints.Digest{SHA256: strings.Repeat("ab", 32), Size: 70}, Links: []string{base + "t/9?page=2"}}
	return []Item{
		fileItem(base+"files/lab.pdf", lab),
		fileItem(base+"files/note.txt", note),
		byDigest,
		page,
		fileItem(base+"files/other.txt", []byte("nothing of the breach in here, synthetic filler\n")),
	}
}

// hitSet is every hit of a run as "path ref method", sorted, and the
// number of rows.
func hitSet(t *testing.T, f *fixture, runID uint64, base string) ([]string, int) {
	t.Helper()
	hs, err := f.store.HitsForTarget(context.Background(), "leaks.test")
	if err != nil {
		t.Fatal(err)
	}
	caps, err := f.store.CapturesOfRun(context.Background(), runID)
	if err != nil {
		t.Fatal(err)
	}
	ofRun := map[uint64]bool{}
	for _, c := range caps {
		ofRun[c.ID] = true
	}
	var out []string
	for _, h := range hs {
		if ofRun[h.CaptureID] {
			out = append(out, fmt.Sprintf("%s %s %s", strings.TrimPrefix(h.URL, base), h.RefName, h.Method))
		}
	}
	slices.Sort(out)
	return out, len(out)
}

func TestScanSpool(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testScanSpool(t, "") })
	t.Run("postgres", func(t *testing.T) { testScanSpool(t, storagetest.FreshPostgresDSN(t)) })
}

// A crawl worker without the index spools its captures, sealed; a scan
// worker's ScanSpooled records exactly what an inline crawl records, and a
// scan cut short and run again records nothing twice.
func testScanSpool(t *testing.T, dsn string) {
	ctx := context.Background()
	f := newFixture(t, dsn)
	key, err := fingerprints.NewKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	watch, err := CompileWatch([]string{"Kea Health"})
	if err != nil {
		t.Fatal(err)
	}

	// Inline, as up does: the hits to expect.
	const inlineBase, spoolBase = "http://leaks.test/a/", "http://leaks.test/b/"
	inline, err := f.p.ForRun(f.run)
	if err != nil {
		t.Fatal(err)
	}
	inline.WithWatch(watch)
	for _, it := range spoolItems(t, f, inlineBase) {
		if _, err := inline.Record(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	want, _ := hitSet(t, f, f.run.ID, inlineBase)
	if len(want) < 4 {
		t.Fatalf("inline hits %v: the fixture should find the lab result, the note, the digest and the keyword", want)
	}

	// Spooled by a pipeline without a scanner.
	run, err := f.store.StartRun(ctx, f.run.SourceID)
	if err != nil {
		t.Fatal(err)
	}
	crawler := &Pipeline{Store: f.store, Spool: NewSpoolSealer(key)}
	if crawler.Inline() {
		t.Fatal("a pipeline without a scanner says it matches inline")
	}
	rec, err := crawler.ForRun(run)
	if err != nil {
		t.Fatal(err)
	}
	rec.WithWatch(watch)
	items := spoolItems(t, f, spoolBase)
	for _, it := range items {
		res, err := rec.Record(ctx, it)
		if err != nil {
			t.Fatal(err)
		}
		if res.CaptureID == 0 || res.NewHits != 0 {
			t.Fatalf("spooled %s: %+v; want a capture and no hits yet", it.URL, res)
		}
		// Recording it again (a retried crawl) spools nothing more.
		if _, err := rec.Record(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := hitSet(t, f, run.ID, spoolBase); len(got) != 0 {
		t.Fatalf("hits before the scan: %v", got)
	}
	n, err := f.store.CountSpooled(ctx, run.ID)
	if err != nil || n != int64(len(items)) {
		t.Fatalf("spooled %d (%v), want %d, one per capture", n, err, len(items))
	}

	// Sealed: neither the bodies nor the watch-term page's text are in
	// the table, and the rows do not open with another key.
	var rows []storage.SpoolItem
	if err := f.store.DB().Order("id").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		for _, it := range items {
			if len(it.Body) >= 16 && (bytes.Contains(row.Body, it.Body[:16]) || bytes.Contains(row.Meta, it.Body[:16])) {
				t.Fatalf("spool row %d holds the clear text of %s", row.ID, it.URL)
			}
		}
		if bytes.Contains(row.Meta, []byte("vacc.csv")) || bytes.Contains(row.Meta, []byte(items[2].Digest.SHA256)) {
			t.Fatalf("spool row %d holds clear metadata", row.ID)
		}
	}
	other, err := fingerprints.NewKey(bytes.Repeat([]byte{8}, 32))
	if err != nil {
		t.Fatal(err)
	}
	wrong := &Pipeline{Store: f.store, Scanner: f.p.Scanner, Spool: NewSpoolSealer(other)}
	if _, err := wrong.ScanSpooled(ctx, SpoolScan{SourceID: run.SourceID, RunID: run.ID}); !errors.Is(err, ErrSpoolKey) {
		t.Fatalf("scan with another key: %v; want ErrSpoolKey", err)
	}

	// A scan cut short after its first capture (the worker died).
	scanner := &Pipeline{Store: f.store, Scanner: f.p.Scanner, Spool: NewSpoolSealer(key)}
	cctx, cancel := context.WithCancel(ctx)
	st, err := scanner.ScanSpooled(cctx, SpoolScan{SourceID: run.SourceID, RunID: run.ID, Watch: watch, Parallel: 1,
		Progress: func(int) { cancel() }})
	cancel()
	if !errors.Is(err, context.Canceled) || st.Items != 1 {
		t.Fatalf("cut-short scan: %+v, %v; want 1 capture then context.Canceled", st, err)
	}
	if n, _ := f.store.CountSpooled(ctx, run.ID); n != int64(len(items)-1) {
		t.Fatalf("%d rows left after matching one, want %d", n, len(items)-1)
	}
	// The retry matches the rest; run twice, as two scanners might.
	st2, err := scanner.ScanSpooled(ctx, SpoolScan{SourceID: run.SourceID, RunID: run.ID, Watch: watch, Parallel: 3})
	if err != nil || st2.Items != len(items)-1 {
		t.Fatalf("resumed scan: %+v, %v; want the %d left", st2, err, len(items)-1)
	}
	if st3, err := scanner.ScanSpooled(ctx, SpoolScan{SourceID: run.SourceID, RunID: run.ID, Watch: watch}); err != nil || st3 != (ScanStats{}) {
		t.Fatalf("scan of an empty spool: %+v, %v", st3, err)
	}
	if n, _ := f.store.CountSpooled(ctx, run.ID); n != 0 {
		t.Fatalf("%d rows left after the scan", n)
	}
	got, rowsN := hitSet(t, f, run.ID, spoolBase)
	if !slices.Equal(got, want) {
		t.Fatalf("spooled then scanned hits\n%v\nwant what inline matching found\n%v", got, want)
	}
	if st.Hits+st2.Hits != rowsN {
		t.Errorf("scans reported %d+%d new hits, %d recorded", st.Hits, st2.Hits, rowsN)
	}
	if r, err := f.store.RunByID(ctx, run.ID); err != nil || r.Hits != rowsN {
		t.Errorf("run counts %d hits (%v), want %d", r.Hits, err, rowsN)
	}
	// URL state as inline: the next crawl leaves the unchanged lab result
	// alone (it was matched against this index generation).
	next, err := f.store.StartRun(ctx, f.run.SourceID)
	if err != nil {
		t.Fatal(err)
	}
	rec2, err := crawler.ForRun(next)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rec2.Record(ctx, items[0]); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.store.CountSpooled(ctx, next.ID); n != 0 {
		t.Errorf("an unchanged file matched against this index was spooled again (%d rows)", n)
	}
	caps, err := f.store.CapturesOfRun(ctx, next.ID)
	if err != nil || len(caps) != 1 || caps[0].Refs != 1 {
		t.Errorf("capture of the unchanged file %+v, %v; want the exposure of the earlier one", caps, err)
	}
}

// BenchmarkRecord compares matching as captures are recorded (inline, as
// up does) with spooling them (a crawl worker without the index) and
// matching the spool afterwards (a scan worker), per capture, on SQLite.
func BenchmarkRecord(b *testing.B) {
	ctx := context.Background()
	f := newFixture(b, "")
	key, err := fingerprints.NewKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		b.Fatal(err)
	}
	sealer := NewSpoolSealer(key)
	crawler := &Pipeline{Store: f.store, Spool: sealer}
	scanner := &Pipeline{Store: f.store, Scanner: f.p.Scanner, Spool: sealer}
	items := spoolItems(b, f, "")
	calls := 0
	bench := func(b *testing.B, p *Pipeline, scan bool) {
		// URLs no earlier iteration or sub-benchmark recorded: never
		// "unchanged since matched".
		calls++
		prefix := fmt.Sprintf("%s-%d", strings.ReplaceAll(b.Name(), "/", "-"), calls)
		for i := 0; b.Loop(); i++ {
			run, err := f.store.StartRun(ctx, f.run.SourceID)
			if err != nil {
				b.Fatal(err)
			}
			rec, err := p.ForRun(run)
			if err != nil {
				b.Fatal(err)
			}
			for _, it := range items {
				it.URL = fmt.Sprintf("http://leaks.test/%s/%d/%s", prefix, i, it.URL)
				if _, err := rec.Record(ctx, it); err != nil {
					b.Fatal(err)
				}
			}
			if scan {
				if st, err := scanner.ScanSpooled(ctx, SpoolScan{SourceID: run.SourceID, RunID: run.ID, Parallel: 1}); err != nil || st.Items != len(items) {
					b.Fatalf("scan: %+v, %v", st, err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items))/1e6, "ms/capture")
		// Untimed: leave no spooled rows for the next sub-benchmark's scans.
		if _, err := scanner.ScanSpooled(ctx, SpoolScan{SourceID: f.run.SourceID, RunID: 1 << 62}); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("inline", func(b *testing.B) { bench(b, f.p, false) })
	b.Run("spool", func(b *testing.B) { bench(b, crawler, false) })
	b.Run("spool+scan", func(b *testing.B) { bench(b, crawler, true) })
}
