package capture

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/internal/references"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
	"github.com/leakwatch/leakwatch/storage"
	"github.com/leakwatch/leakwatch/storage/storagetest"
)

// fixture is a reference index of a small synthetic breach, a source and a
// started run, on a real database.
type fixture struct {
	store *storage.Store
	p     *Pipeline
	run   storage.CrawlRun
	refs  string
	docs  []synth.Doc
}

func newFixture(t testing.TB, dsn string) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	f := &fixture{refs: filepath.Join(dir, "refs")}
	var err error
	if f.docs, err = synth.Generate(f.refs, synth.Options{Seed: 11, Patients: 6, Docs: 12}); err != nil {
		t.Fatal(err)
	}
	if f.store, err = storage.Open(ctx, dsn, filepath.Join(dir, "db"), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.store.Close() })
	key, err := fingerprints.NewKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := references.Import(ctx, f.store, f.refs, references.Options{Key: key}); err != nil {
		t.Fatal(err)
	}
	sc, err := references.NewScanner(ctx, f.store, key, match.Options{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.p = &Pipeline{Store: f.store, Scanner: sc}
	src := storage.Source{Name: "forum", Kind: storage.SourceWeb, URL: "http://leaks.test/", Enabled: true}
	if err := f.store.CreateSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	if f.run, err = f.store.StartRun(ctx, src.ID); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) doc(t testing.TB, kind synth.Kind) []byte {
	t.Helper()
	for _, d := range f.docs {
		if d.Kind == kind {
			b, err := os.ReadFile(filepath.Join(f.refs, filepath.FromSlash(d.RelPath)))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("no %s in the synthetic set", kind)
	return nil
}

func fileItem(url string, body []byte) Item {
	sum := sha256.Sum256(body)
	return Item{
		Kind: storage.CaptureFile, URL: url, FinalURL: url, Target: "leaks.test", FetchedAt: time.Now().UTC(),
		Status: 200, ContentType: "application/octet-stream", Body: body,
		Digest: fingerprints.Digest{SHA256: hex.EncodeToString(sum[:]), Size: int64(len(body))},
	}
}

func TestPipeline(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testPipeline(t, "") })
	t.Run("postgres", func(t *testing.T) { testPipeline(t, storagetest.FreshPostgresDSN(t)) })
}

func testPipeline(t *testing.T, dsn string) {
	ctx := context.Background()
	f := newFixture(t, dsn)
	run, err := f.p.ForRun(f.run)
	if err != nil {
		t.Fatal(err)
	}

	// A leaked reference document: evidence, hits and exposure.
	lab := fileItem("http://leaks.test/files/lab.pdf", f.doc(t, synth.KindLabResult))
	res, err := run.Record(ctx, lab)
	if err != nil {
		t.Fatal(err)
	}
	if res.NewHits == 0 || res.Refs != 1 || res.Patients != 1 {
		t.Fatalf("leaked lab result: %+v; want hits for 1 reference of 1 patient", res)
	}
	c, err := f.store.CaptureByID(ctx, res.CaptureID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind != storage.CaptureFile || c.RunID != f.run.ID || c.SHA256 != lab.Digest.SHA256 || c.Host != "leaks.test" || c.Refs != 1 || c.Patients != 1 {
		t.Fatalf("capture %+v", c)
	}
	if seen, err := run.Seen(ctx, lab.URL); err != nil || !seen {
		t.Fatalf("Seen(recorded file) = %v, %v", seen, err)
	}

	// Recording it again (a retried crawl) adds nothing.
	again, err := run.Record(ctx, lab)
	if err != nil {
		t.Fatal(err)
	}
	if again.CaptureID != res.CaptureID || again.NewHits != 0 || run.Hits() != res.NewHits {
		t.Fatalf("re-recorded: %+v, run hits %d; want capture %d, no new hits, %d in all", again, run.Hits(), res.CaptureID, res.NewHits)
	}

	// A file matched by digest only (too big to keep in memory).
	byDigest := fileItem("http://leaks.test/files/big.pdf", f.doc(t, synth.KindLabResult))
	byDigest.Body = nil
	res2, err := run.Record(ctx, byDigest)
	if err != nil {
		t.Fatal(err)
	}
	if res2.NewHits != 1 {
		t.Fatalf("digest-only copy: %+v; want one sha256 hit", res2)
	}

	// An archive member: the hit says where inside.
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	w, _ := zw.Create("dump/note.txt")
	w.Write(f.doc(t, synth.KindClinicalNote))
	zw.Close()
	res3, err := run.Record(ctx, fileItem("http://leaks.test/files/dump.zip", zb.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if res3.NewHits == 0 {
		t.Fatalf("zip holding a note: %+v", res3)
	}

	// A forum post quoting a note: the page's content is matched.
	note := string(f.doc(t, synth.KindClinicalNote))
	post := "<html><body><div class=post><p>proof, see below</p><pre>" + note[:min(len(note), 600)] + "</pre></div></body></html>"
	res4, err := run.Record(ctx, Item{Kind: storage.CapturePage, URL: "http://leaks.test/thread/1", Target: "leaks.test",
		Status: 200, Body: []byte(post), Digest: fingerprints.Digest{SHA256: strings.Repeat("ab", 32), Size: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	var noteHit bool
	hs, err := f.store.HitsForTarget(ctx, "leaks.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		noteHit = noteHit || (h.CaptureID == res4.CaptureID && strings.HasPrefix(h.RefName, "notes/"))
	}
	if res4.NewHits == 0 || !noteHit {
		t.Fatalf("page quoting a note: %+v; want a hit on the note", res4)
	}

	// Pages without content, failed fetches and unrelated files produce evidence only.
	for _, it := range []Item{
		{Kind: storage.CapturePage, URL: "http://leaks.test/", Target: "leaks.test", Status: 200},
		{Kind: storage.CapturePage, URL: "http://leaks.test/rules", Target: "leaks.test", Status: 200, Body: []byte("<p>No spam. Be nice.</p>")},
		func() Item {
			it := fileItem("http://leaks.test/files/gone.pdf", f.doc(t, synth.KindLabResult))
			it.Err, it.Status = errors.New("404 Not Found"), 404
			return it
		}(),
		fileItem("http://leaks.test/files/other.txt", []byte("an unrelated combolist teaser, nothing from the breach\n")),
	} {
		r, err := run.Record(ctx, it)
		if err != nil {
			t.Fatal(err)
		}
		if r.NewHits != 0 || r.CaptureID == 0 {
			t.Errorf("%s (%s): %+v; want a capture and no hits", it.URL, it.Kind, r)
		}
	}
	if seen, err := run.Seen(ctx, "http://leaks.test/"); err != nil || seen {
		t.Errorf("Seen(page) = %v, %v; only files are skipped on resume", seen, err)
	}

	hits, err := f.store.HitsForTarget(ctx, "leaks.test")
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != run.Hits() {
		t.Fatalf("%d hits stored, run counted %d", len(hits), run.Hits())
	}
	var member bool
	for _, h := range hits {
		if h.URL == "http://leaks.test/files/dump.zip" {
			member = true
			if !strings.HasPrefix(h.Why, "!/dump/note.txt: ") {
				t.Errorf("archive member hit why = %q; want it to name the member", h.Why)
			}
		}
	}
	if !member {
		t.Error("no hit recorded for the archive")
	}
	caps, err := f.store.ListCaptures(ctx, 100)
	if err != nil || len(caps) != 8 {
		t.Fatalf("%d captures (%v); want 8", len(caps), err)
	}
}

func TestPipelineWithoutScanner(t *testing.T) {
	p := &Pipeline{}
	if _, err := p.ForRun(storage.CrawlRun{ID: 1}); !errors.Is(err, ErrNoScanner) {
		t.Fatalf("ForRun without scanner: %v; want ErrNoScanner", err)
	}
}

func TestWatchTerms(t *testing.T) {
	w, err := CompileWatch([]string{"Kea Health", "/portal\\.kea\\.example/", "  ", "ZZ"})
	if err != nil {
		t.Fatal(err)
	}
	for text, want := range map[string][]string{
		"Selling the KEA   health dump":       {"Kea Health"},
		"see portal.kea.example/login":        {"/portal\\.kea\\.example/"},
		"keahealth is not the phrase":         nil,
		"ZZtop":                               nil,
		"codes ZZ and Kea\nHealth, both here": {"Kea Health", "ZZ"},
	} {
		if got := w.Find(text); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("Find(%q) = %q, want %q", text, got, want)
		}
	}
	if _, err := CompileWatch([]string{"/(unclosed/"}); err == nil {
		t.Error("a bad regexp compiled")
	}
	if w, err := CompileWatch(nil); w != nil || err != nil {
		t.Errorf("no terms: %v, %v; want nil, nil", w, err)
	}

	// A page naming the breach is a keyword hit; it never opens a case.
	ctx := context.Background()
	f := newFixture(t, "")
	run, err := f.p.ForRun(f.run)
	if err != nil {
		t.Fatal(err)
	}
	run.WithWatch(w)
	page := Item{Kind: storage.CapturePage, URL: "http://leaks.test/t/9", Target: "leaks.test", Status: 200,
		Body: []byte("<html><body><p>FRESH: Kea Health patient portal, 108 GB</p></body></html>")}
	res, err := run.Record(ctx, page)
	if err != nil || res.NewHits != 1 {
		t.Fatalf("page naming the breach: %+v, %v; want one keyword hit", res, err)
	}
	hs, err := f.store.HitsForTarget(ctx, "leaks.test")
	if err != nil || len(hs) != 1 || hs[0].Method != MethodKeyword || !strings.Contains(hs[0].Why, `"Kea Health"`) || hs[0].RefName != "" {
		t.Fatalf("hits %+v, %v", hs, err)
	}
	if und, err := f.store.UndispatchedHits(ctx, 10); err != nil || len(und) != 0 {
		t.Fatalf("keyword hit queued for a case: %+v, %v", und, err)
	}
	if res, err := run.Record(ctx, page); err != nil || res.NewHits != 0 {
		t.Fatalf("re-recorded page: %+v, %v; want no new hit", res, err)
	}
}
