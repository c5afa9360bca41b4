package capture

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/crawlers/webcrawl"
	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/internal/references"
	"github.com/leakwatch/leakwatch/internal/testkit/leaksim"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
	"github.com/leakwatch/leakwatch/storage"
	"github.com/leakwatch/leakwatch/storage/storagetest"
)

// TestForumCrawlFindsWhatScanFinds crawls a generated leak forum into the
// pipeline and checks that what a leak forum really shows is found: files
// of the breach posted as attachments (some in replies on later thread
// pages), excerpts of clinical notes pasted into posts and a table of
// patient rows; and that what the site repeats as boilerplate (a signature
// quoting a note) is not. Every excerpt post is also scanned directly, as
// `leakwatch scan` of the saved post would: the crawl must find at least as
// much.
func TestForumCrawlFindsWhatScanFinds(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testForumCrawl(t, "") })
	t.Run("postgres", func(t *testing.T) { testForumCrawl(t, storagetest.FreshPostgresDSN(t)) })
}

func testForumCrawl(t *testing.T, dsn string) {
	ctx := context.Background()
	start := time.Now()

	// The breach: 10 patients, 24 documents. Notes are documents 0, 4, 7,
	// 8, 12, 15, 16, 20 and 23 (of patients 0, 4, 7, 8, 2, 5, 6, 0, 3).
	dir := t.TempDir()
	refsDir := filepath.Join(dir, "refs")
	docs, err := synth.Generate(refsDir, synth.Options{Seed: 23, Patients: 10, Docs: 24})
	if err != nil {
		t.Fatal(err)
	}
	read := func(d synth.Doc) []byte {
		b, err := os.ReadFile(filepath.Join(refsDir, filepath.FromSlash(d.RelPath)))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var notes, labs, vaccs, photos []synth.Doc
	var patientsCSV []byte
	for _, d := range docs {
		switch d.Kind {
		case synth.KindClinicalNote:
			notes = append(notes, d)
		case synth.KindLabResult:
			labs = append(labs, d)
		case synth.KindVaccination:
			vaccs = append(vaccs, d)
		case synth.KindPhoto:
			photos = append(photos, d)
		case synth.KindPatients:
			patientsCSV = read(d)
		}
	}
	if len(notes) != 9 || len(labs) < 2 || len(vaccs) < 2 || len(photos) < 2 {
		t.Fatalf("synthetic set: %d notes, %d labs, %d vaccinations, %d photos", len(notes), len(labs), len(vaccs), len(photos))
	}

	store, err := storage.Open(ctx, dsn, filepath.Join(dir, "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	key, err := fingerprints.NewKey(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := references.Import(ctx, store, refsDir, references.Options{Key: key}); err != nil {
		t.Fatal(err)
	}
	sc, err := references.NewScanner(ctx, store, key, match.Options{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	indexed := time.Since(start)

	// What goes on the forum.
	//  - The signature note (document 4, patient 4, who has no other note):
	//    quoted only in a signature, never in a post.
	//  - Excerpt notes: pasted, 220–400 characters each, into posts.
	//  - Attachments: two lab PDFs, a vaccination CSV, a photo and a whole
	//    note (document 20); odd-numbered ones go in replies.
	sigNote := notes[1]
	excerptNotes := []synth.Doc{notes[0], notes[2], notes[3], notes[4], notes[5], notes[6]}
	attached := []synth.Doc{labs[0], vaccs[0], photos[0], labs[1], notes[7]}
	var documents []leaksim.Document
	for _, d := range excerptNotes {
		documents = append(documents, leaksim.Document{Name: d.RelPath, Text: string(read(d))})
	}
	var atts []leaksim.File
	sourceOf := map[string]string{} // attachment name → reference name
	for _, d := range attached {
		name := path.Base(d.RelPath)
		atts = append(atts, leaksim.File{Name: name, Data: read(d)})
		sourceOf[name] = d.RelPath
	}
	// The signature: ~300 characters of the signature note around the
	// patient's details, on one line as forum software shows it.
	sigText := strings.Join(strings.Fields(string(read(sigNote))), " ")
	if i := strings.Index(sigText, "Patient:"); i >= 0 {
		sigText = sigText[i:]
	}
	sigText = sigText[:min(len(sigText), 300)]
	chrome := leaksim.DefaultChrome()
	chrome.Signatures[leaksim.OpeningAuthor] = "KeaLeaks team | sample of what we hold: " + sigText
	chrome.Signatures["dumpster"] = "PGP 0x5EC0FFEE | " + sigText
	// A table of patient rows as a "proof" post: NHI, name, e-mail, date
	// of birth of six patients, as in patients.csv.
	rows := strings.Split(strings.TrimSpace(string(patientsCSV)), "\n")
	table := [][]string{{"NHI", "Name", "Email", "DOB"}}
	for _, r := range rows[1:7] {
		c := strings.Split(strings.TrimSpace(r), ",")
		table = append(table, []string{c[0], c[1] + " " + c[2], c[4], c[3]})
	}

	opts := leaksim.GenerateForum(leaksim.ForumOptions{
		Boards: 2, ThreadsPerBoard: 4, PostsPerThread: 14, PostsPerPage: 5,
		Attachments: atts, Documents: documents, Tables: [][][]string{table},
		Chrome: chrome, Seed: 5,
	})
	opts.Logger = slog.New(slog.DiscardHandler)
	site := leaksim.New(opts)
	ts := httptest.NewServer(site)
	t.Cleanup(ts.Close)
	base := ts.URL

	// The signature has teeth: pasted in a post, it would be found.
	sigDirect := false
	if err := sc.Scan(ctx, "signature.txt", []byte(sigText), func(r references.ItemResult) error {
		for _, m := range r.Matches {
			sigDirect = sigDirect || m.RefName == sigNote.RelPath
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !sigDirect {
		t.Fatalf("a direct scan of the signature text does not find %s: the signature check would prove nothing", sigNote.RelPath)
	}

	posts := site.Posts()
	for _, p := range posts {
		if strings.Contains(strings.Join(strings.Fields(p.Text), " "), sigText[:80]) {
			t.Fatalf("the signature's excerpt is also pasted in post %d of %s", p.Number, p.ThreadPath)
		}
	}

	// Crawl with the product's options: defaults, and KeepBody at the
	// analysis cap.
	src := storage.Source{Name: "forum", Kind: storage.SourceWeb, URL: base + "/", Enabled: true}
	if err := store.CreateSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	run, err := store.StartRun(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	p := &Pipeline{Store: store, Scanner: sc}
	rec, err := p.ForRun(run)
	if err != nil {
		t.Fatal(err)
	}
	cr, err := webcrawl.New(webcrawl.Options{KeepBody: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer cr.Close()
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	crawlStart := time.Now()
	st, err := cr.Crawl(cctx, base+"/", WebSink{Run: rec})
	if err != nil {
		t.Fatalf("Crawl: %v", err)
	}
	crawled := time.Since(crawlStart)

	hits, err := store.HitsForTarget(ctx, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	type hitKey struct{ path, ref string }
	found := map[hitKey][]string{} // (URL path and query, reference) → methods
	for _, h := range hits {
		u, err := url.Parse(h.URL)
		if err != nil {
			t.Fatal(err)
		}
		k := hitKey{u.RequestURI(), h.RefName}
		found[k] = append(found[k], h.Method)
	}
	t.Logf("index %s, crawl %s: %d pages, %d files, %d failed, %d hits (%v)", indexed.Round(time.Millisecond),
		crawled.Round(time.Millisecond), st.Pages, st.Files, st.Failed, len(hits), st.Errors)

	// Attachments: each hit on its source.
	okAtts := 0
	siteAtts := site.Attachments()
	if len(siteAtts) != len(attached) {
		t.Fatalf("site has %d attachments, want %d", len(siteAtts), len(attached))
	}
	for _, a := range siteAtts {
		if ms := found[hitKey{a.Path, sourceOf[a.Name]}]; len(ms) > 0 {
			okAtts++
		} else {
			t.Errorf("attachment %s (on %s): no hit on its source %s", a.Path, a.PagePath, sourceOf[a.Name])
		}
	}
	laterPage := 0
	for _, a := range siteAtts {
		if a.PagePath != a.ThreadPath {
			laterPage++
		}
	}

	// Excerpt posts: the page showing each has a hit on the note it quotes,
	// and on everything a direct scan of the post's text finds.
	okExcerpts, excerpts, excerptsLater, scanFound := 0, 0, 0, 0
	var tablePage string
	for _, post := range posts {
		if post.Source == "table-0" {
			tablePage = post.PagePath
		}
		if !strings.HasPrefix(post.Source, "notes/") {
			continue
		}
		excerpts++
		if post.PagePath != post.ThreadPath {
			excerptsLater++
		}
		direct := map[string]bool{}
		err := sc.Scan(ctx, "saved-post.txt", []byte(post.Text), func(r references.ItemResult) error {
			for _, m := range r.Matches {
				direct[m.RefName] = true
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if direct[post.Source] {
			scanFound++
		} else {
			t.Errorf("direct scan of post %d on %s misses its source %s (found %v)", post.Number, post.PagePath, post.Source, direct)
		}
		if len(found[hitKey{post.PagePath, post.Source}]) > 0 {
			okExcerpts++
		} else {
			t.Errorf("page %s (post %d, %d chars quoted) has no hit on %s", post.PagePath, post.Number, len(post.Text), post.Source)
		}
		for ref := range direct {
			if len(found[hitKey{post.PagePath, ref}]) == 0 {
				t.Errorf("the direct scan of post %d finds %s; the crawl of %s does not", post.Number, ref, post.PagePath)
			}
		}
	}
	if excerpts != len(excerptNotes) {
		t.Fatalf("%d excerpt posts, want %d", excerpts, len(excerptNotes))
	}

	// The table: an EDM hit on the page.
	edmHit := false
	if tablePage == "" {
		t.Fatal("no table post")
	}
	for k, ms := range found {
		if k.path == tablePage && slices.Contains(ms, match.MethodEDM) {
			edmHit = true
		}
	}
	if !edmHit {
		t.Errorf("table page %s: no edm hit", tablePage)
	}

	// The signature note: never a hit, though every thread shows it.
	for k, ms := range found {
		if k.ref == sigNote.RelPath {
			t.Errorf("%s: hit (%v) on %s, quoted only in a signature", k.path, ms, sigNote.RelPath)
		}
	}

	t.Logf("attachments %d/%d found (%d on later thread pages); excerpts %d/%d found by the crawl (%d on later pages), %d/%d by a direct scan; table edm hit %v on %s; no hit on the signature note",
		okAtts, len(siteAtts), laterPage, okExcerpts, excerpts, excerptsLater, scanFound, excerpts, edmHit, tablePage)
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("test took %s", took)
	}
}
