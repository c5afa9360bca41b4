package synth

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"html"
	"image"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

type mixFixture struct {
	dir     string
	refOpts Options
	docs    []Doc
	files   map[string][]byte
	byPath  map[string]Doc
	nhis    []string
}

func newMixFixture(t *testing.T) *mixFixture {
	t.Helper()
	f := &mixFixture{dir: t.TempDir(), refOpts: Options{Seed: 11, Patients: 25, Docs: 100}}
	var err error
	if f.docs, err = Generate(f.dir, f.refOpts); err != nil {
		t.Fatal(err)
	}
	f.files = readAll(t, f.dir, f.docs)
	f.byPath = map[string]Doc{}
	for _, d := range f.docs {
		f.byPath[d.RelPath] = d
	}
	ps, err := PatientSet(f.refOpts)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		f.nhis = append(f.nhis, p.NHI)
	}
	return f
}

func (f *mixFixture) mix(t *testing.T, opts MixOptions) ([]LeakItem, MixStats) {
	t.Helper()
	items, stats, err := LeakMix(f.dir, f.refOpts, f.docs, opts)
	if err != nil {
		t.Fatal(err)
	}
	return items, stats
}

func have7z() bool { _, err := exec.LookPath("7z"); return err == nil }

func zipMembers(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("open zip: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		if f.Method != zip.Deflate {
			t.Errorf("zip member %s: method %d, want deflate", f.Name, f.Method)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name] = b
	}
	return out
}

func tarGzMembers(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("open gzip: %v", err)
	}
	tr := tar.NewReader(gz)
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = b
	}
	return out
}

// sevenZipMembers extracts with the 7z command, an independent reader.
func sevenZipMembers(t *testing.T, data []byte) map[string][]byte {
	t.Helper()
	dir := t.TempDir()
	arc := filepath.Join(dir, "a.7z")
	if err := os.WriteFile(arc, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "x")
	if msg, err := exec.Command("7z", "x", "-bso0", "-bsp0", "-o"+out, arc).CombinedOutput(); err != nil {
		t.Fatalf("7z x: %v: %s", err, msg)
	}
	members := map[string][]byte{}
	err := filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(out, p)
		members[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return members
}

var tagRe = regexp.MustCompile(`<[^>]*>`)

// postText is what a reader of the post sees.
func postText(name string, data []byte) string {
	if strings.HasSuffix(name, ".html") {
		return html.UnescapeString(tagRe.ReplaceAllString(string(data), ""))
	}
	return string(data)
}

// hasWindow reports whether some n-byte window of src occurs in text.
func hasWindow(src, text string, n int) bool {
	for i := 0; i+n <= len(src); i++ {
		if strings.Contains(text, src[i:i+n]) {
			return true
		}
	}
	return false
}

var tjLineRe = regexp.MustCompile(`\(((?:[^()\\]|\\.)*)\) Tj\n`)

// rawTjStrings reads buildPDF's one-string-per-line output with a regular
// expression, independently of pdfTextLines.
func rawTjStrings(data []byte) []string {
	var out []string
	for _, m := range tjLineRe.FindAllSubmatch(data, -1) {
		s := regexp.MustCompile(`\\(.)`).ReplaceAllString(string(m[1]), "$1")
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func nonEmpty(lines []string) []string {
	var out []string
	for _, l := range lines {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

func TestLeakMix(t *testing.T) {
	f := newMixFixture(t)
	start := time.Now()
	items, stats := f.mix(t, MixOptions{Seed: 3})
	t.Logf("leak mix: %d items in %v (7z installed: %v)", len(items), time.Since(start), have7z())

	byClass := map[Transform][]LeakItem{}
	names := map[string]bool{}
	for _, it := range items {
		byClass[it.Transform] = append(byClass[it.Transform], it)
		if names[it.Name] {
			t.Errorf("duplicate item name %s", it.Name)
		}
		names[it.Name] = true
		for _, nhi := range f.nhis {
			if strings.Contains(it.Name, nhi) {
				t.Errorf("%s: posted name reveals NHI %s", it.Name, nhi)
			}
		}
		if it.Transform != TDistractor {
			if _, ok := f.byPath[it.Source]; !ok {
				t.Errorf("%s (%s): source %q is not a reference", it.Name, it.Transform, it.Source)
			}
		} else if it.Source != "" {
			t.Errorf("%s: distractor with source %q", it.Name, it.Source)
		}
	}
	for _, tr := range mixOrder {
		if tr == T7z && !have7z() {
			if len(byClass[tr]) != 0 || !strings.Contains(stats.Skipped[tr], "7z") {
				t.Errorf("7z missing: %d items, Skipped %q", len(byClass[tr]), stats.Skipped[tr])
			}
			continue
		}
		if len(byClass[tr]) != DefaultPerClass || stats.PerClass[tr] != DefaultPerClass {
			t.Errorf("%s: %d items (stats %d), want %d; skipped: %q", tr, len(byClass[tr]), stats.PerClass[tr], DefaultPerClass, stats.Skipped[tr])
		}
	}

	// Sources spread over patients: 20 items of a class should come from
	// many patients, not a few.
	for _, tr := range []Transform{TExact, TZip, TRerender, TExcerpt, TJPEG60} {
		pats := map[string]bool{}
		for _, it := range byClass[tr] {
			pats[f.byPath[it.Source].NHI] = true
		}
		if len(pats) < 10 {
			t.Errorf("%s: sources cover only %d patients", tr, len(pats))
		}
	}

	refByData := map[string]string{}
	for rel, b := range f.files {
		refByData[string(b)] = rel
	}
	memberCheck := func(it LeakItem, members map[string][]byte) {
		t.Helper()
		n := 0
		for name, b := range members {
			if rel, ok := refByData[string(b)]; ok {
				n++
				if rel != it.Source {
					t.Errorf("%s: member %s is reference %s, labelled %s", it.Name, name, rel, it.Source)
				}
			}
		}
		if n != 1 || len(members) < 2 || len(members) > 3 {
			t.Errorf("%s: %d members, %d equal to a reference; want 2–3 with exactly one", it.Name, len(members), n)
		}
	}

	for _, it := range byClass[TExact] {
		if !bytes.Equal(it.Data, f.files[it.Source]) {
			t.Errorf("%s: exact item differs from %s", it.Name, it.Source)
		}
	}
	for _, it := range byClass[TZip] {
		memberCheck(it, zipMembers(t, it.Data))
	}
	for _, it := range byClass[TTarGz] {
		memberCheck(it, tarGzMembers(t, it.Data))
	}
	for _, it := range byClass[T7z] {
		if !bytes.HasPrefix(it.Data, []byte("7z\xbc\xaf\x27\x1c")) {
			t.Errorf("%s: not a 7z archive", it.Name)
		}
		memberCheck(it, sevenZipMembers(t, it.Data))
	}

	_, pdftotextErr := exec.LookPath("pdftotext")
	variants := map[string]bool{}
	for k, it := range byClass[TRerender] {
		orig := f.files[it.Source]
		variants[it.Variant] = true
		if bytes.Equal(it.Data, orig) {
			t.Errorf("%s: rerendered PDF equals %s", it.Name, it.Source)
		}
		checkPDFStructure(t, it.Name, it.Data)
		want := rawTjStrings(orig)
		if parsed := nonEmpty(mustPDFLines(t, orig)); !slices.Equal(parsed, want) {
			t.Fatalf("%s: pdfTextLines disagrees with the raw Tj strings:\n%q\n%q", it.Source, parsed, want)
		}
		got := nonEmpty(mustPDFLines(t, it.Data))
		if !slices.Equal(got, want) {
			t.Errorf("%s (%s): text lines differ from %s:\ngot  %q\nwant %q", it.Name, it.Variant, it.Source, got, want)
		}
		if pdftotextErr == nil && k < len(rerenderModes) {
			// An independent reader must find the NHI in every mode.
			p := filepath.Join(t.TempDir(), "r.pdf")
			if err := os.WriteFile(p, it.Data, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("pdftotext", "-layout", p, "-").Output()
			if err != nil {
				t.Fatalf("%s: pdftotext: %v", it.Variant, err)
			}
			if nhi := f.byPath[it.Source].NHI; !bytes.Contains(out, []byte(nhi)) {
				t.Errorf("%s (%s): pdftotext output lacks %s:\n%s", it.Name, it.Variant, nhi, out)
			}
		}
	}
	if len(variants) != len(rerenderModes) {
		t.Errorf("rerender variants %v, want all of %v", variants, rerenderModes)
	}

	for _, it := range byClass[TExcerpt] {
		note := string(f.files[it.Source])
		text := postText(it.Name, it.Data)
		if !hasWindow(note, text, 200) {
			t.Errorf("%s: no 200-byte window of %s in the post", it.Name, it.Source)
		}
		if hasWindow(note, text, excerptMax+1) {
			t.Errorf("%s: more than %d bytes of %s pasted", it.Name, excerptMax, it.Source)
		}
		// Chatter before and after the paste.
		at := -1
		for i := 0; i+200 <= len(note) && at < 0; i++ {
			at = strings.Index(text, note[i:i+200])
		}
		if at < 0 {
			continue // reported above
		}
		before, after := false, false
		for _, c := range chatter {
			before = before || strings.Contains(text[:at], c)
			after = after || strings.Contains(text[at+200:], c)
		}
		if !before || !after {
			t.Errorf("%s: chatter before %v, after %v", it.Name, before, after)
		}
	}

	photoCheck := func(tr Transform, format string, size func(w, h int) (int, int)) {
		for _, it := range byClass[tr] {
			src, _, err := image.Decode(bytes.NewReader(f.files[it.Source]))
			if err != nil {
				t.Fatal(err)
			}
			img, fm, err := image.Decode(bytes.NewReader(it.Data))
			if err != nil {
				t.Errorf("%s: %v", it.Name, err)
				continue
			}
			w, h := size(src.Bounds().Dx(), src.Bounds().Dy())
			if (format != "" && fm != format) || img.Bounds().Dx() != w || img.Bounds().Dy() != h {
				t.Errorf("%s (%s): %s %v, want %s %dx%d", it.Name, tr, fm, img.Bounds().Size(), format, w, h)
			}
			if filepath.Ext(it.Name) != map[string]string{"png": ".png", "jpeg": ".jpg"}[fm] {
				t.Errorf("%s: extension does not match format %s", it.Name, fm)
			}
		}
	}
	photoCheck(TJPEG60, "jpeg", func(w, h int) (int, int) { return w, h })
	photoCheck(TResize50, "", func(w, h int) (int, int) { return w / 2, h / 2 })
	photoCheck(TCrop5, "png", func(w, h int) (int, int) { return w - 2*cropMargin(w), h - 2*cropMargin(h) })
	if w := 160 - 2*cropMargin(160); w != 152 {
		t.Errorf("crop of 160 px leaves %d, want 152", w)
	}
	// Framed photos: bigger by the frame (5–15 % a side for borders, 8–15 %
	// a band for captions), JPEG, and a caption band is white at its edge.
	frameCheck := func(tr Transform, minW, maxW, minH, maxH float64) {
		if len(byClass[tr]) == 0 {
			t.Errorf("%s: no items", tr)
		}
		for _, it := range byClass[tr] {
			src, _, err := image.Decode(bytes.NewReader(f.files[it.Source]))
			if err != nil {
				t.Fatal(err)
			}
			img, fm, err := image.Decode(bytes.NewReader(it.Data))
			if err != nil {
				t.Errorf("%s: %v", it.Name, err)
				continue
			}
			sw, sh := float64(src.Bounds().Dx()), float64(src.Bounds().Dy())
			w, h := float64(img.Bounds().Dx())/sw, float64(img.Bounds().Dy())/sh
			if fm != "jpeg" || w < minW || w > maxW || h < minH || h > maxH {
				t.Errorf("%s (%s): %s scaled %.3fx%.3f, want jpeg within [%.2f,%.2f]x[%.2f,%.2f]", it.Name, tr, fm, w, h, minW, maxW, minH, maxH)
			}
			if tr == TCaption {
				r, g, b, _ := img.At(1, 1).RGBA()
				if r < 0xf000 || g < 0xf000 || b < 0xf000 {
					t.Errorf("%s: caption band not white at its corner", it.Name)
				}
			}
		}
	}
	frameCheck(TBorder, 1.09, 1.31, 1.09, 1.31)
	frameCheck(TCaption, 1, 1, 1.15, 1.31)

	refNHI := map[string]bool{}
	for _, n := range f.nhis {
		refNHI[n] = true
	}
	wantRows := func(n int) bool { return n >= min(10, len(f.nhis)) && n <= min(50, len(f.nhis)) }
	for _, it := range byClass[TJSON] {
		var rows []map[string]any
		if err := json.Unmarshal(it.Data, &rows); err != nil {
			t.Errorf("%s: %v", it.Name, err)
			continue
		}
		for _, r := range rows {
			n := 0
			for _, v := range r {
				if s, ok := v.(string); ok && refNHI[s] {
					n++
				}
			}
			if _, ok := r["nhi"]; ok {
				t.Errorf("%s: keys kept from patients.csv: %v", it.Name, r)
			}
			if n != 1 {
				t.Errorf("%s: row %v has %d reference NHIs", it.Name, r, n)
			}
		}
		if !wantRows(len(rows)) {
			t.Errorf("%s: %d rows", it.Name, len(rows))
		}
	}
	for _, it := range byClass[TSQL] {
		s := string(it.Data)
		if !strings.Contains(s, "CREATE TABLE") || !strings.Contains(s, "INSERT INTO") {
			t.Errorf("%s: not a SQL dump:\n%s", it.Name, s)
		}
		n := 0
		for _, nhi := range f.nhis {
			if strings.Contains(s, "'"+nhi+"'") {
				n++
			}
		}
		if !wantRows(n) {
			t.Errorf("%s: %d reference NHIs", it.Name, n)
		}
	}

	refSums := map[string]bool{}
	for _, d := range f.docs {
		refSums[d.SHA256] = true
	}
	var refNotes []string
	for _, d := range f.docs {
		if d.Kind == KindClinicalNote {
			refNotes = append(refNotes, string(f.files[d.RelPath]))
		}
	}
	kinds := map[string]bool{}
	for _, it := range byClass[TDistractor] {
		kinds[it.Variant] = true
		payloads := [][]byte{it.Data}
		switch {
		case strings.HasSuffix(it.Name, ".zip"):
			for _, b := range zipMembers(t, it.Data) {
				payloads = append(payloads, b)
			}
		case strings.HasSuffix(it.Name, ".tar.gz"):
			for _, b := range tarGzMembers(t, it.Data) {
				payloads = append(payloads, b)
			}
		}
		for _, p := range payloads {
			sum := sha256.Sum256(p)
			if refSums[hex.EncodeToString(sum[:])] {
				t.Errorf("%s (%s): bytes equal a reference", it.Name, it.Variant)
			}
			for _, nhi := range f.nhis {
				if bytes.Contains(p, []byte(nhi)) {
					t.Errorf("%s (%s): contains reference NHI %s", it.Name, it.Variant, nhi)
				}
			}
			if w := uniquePassage(string(p), refNotes); w != "" {
				t.Errorf("%s (%s): repeats %q, which only one reference note has", it.Name, it.Variant, w)
			}
		}
	}
	if len(kinds) != len(distractorPlan) {
		t.Errorf("distractor kinds %v, want all of %v", kinds, distractorPlan)
	}
}

func mustPDFLines(t *testing.T, data []byte) []string {
	t.Helper()
	lines, err := pdfTextLines(data)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// Distractors must share the templates: letterheads, form labels and the
// lab's reference-range column are what makes them hard negatives.
func TestLeakMixDistractorsShareBoilerplate(t *testing.T) {
	f := newMixFixture(t)
	items, _ := f.mix(t, MixOptions{Seed: 3, PerClass: 16})
	for _, it := range items {
		if it.Transform != TDistractor {
			continue
		}
		switch it.Variant {
		case "note":
			for _, want := range []string{"CLINICAL NOTE - CONSULTATION", "Presenting complaint:", "SYNTHETIC TEST DATA"} {
				if !bytes.Contains(it.Data, []byte(want)) {
					t.Errorf("distractor note lacks %q", want)
				}
			}
		case "lab":
			for _, want := range []string{"Kowhai Community Laboratory", "Reference range"} {
				if !bytes.Contains(it.Data, []byte(want)) {
					t.Errorf("distractor lab lacks %q", want)
				}
			}
		case "patients-csv":
			if !bytes.HasPrefix(it.Data, []byte("nhi,given_name,family_name,dob,email,phone\n")) {
				t.Errorf("distractor CSV header: %.60q", it.Data)
			}
		}
	}
}

func TestLeakMixDeterministic(t *testing.T) {
	f := newMixFixture(t)
	a, sa := f.mix(t, MixOptions{Seed: 8, PerClass: 6})
	b, sb := f.mix(t, MixOptions{Seed: 8, PerClass: 6})
	if !reflect.DeepEqual(a, b) || !reflect.DeepEqual(sa, sb) {
		t.Fatal("same seed produced different mixes")
	}
	// A regenerated reference set in another directory gives the same mix.
	g := &mixFixture{dir: t.TempDir(), refOpts: f.refOpts}
	var err error
	if g.docs, err = Generate(g.dir, g.refOpts); err != nil {
		t.Fatal(err)
	}
	c, _ := g.mix(t, MixOptions{Seed: 8, PerClass: 6})
	if !reflect.DeepEqual(a, c) {
		t.Fatal("same seed on a regenerated reference set produced a different mix")
	}
	d, _ := f.mix(t, MixOptions{Seed: 9, PerClass: 6})
	same := 0
	for i := range min(len(a), len(d)) {
		if bytes.Equal(a[i].Data, d[i].Data) {
			same++
		}
	}
	if same > len(a)/4 { // exact-renamed items may coincide
		t.Errorf("different seeds share %d of %d items", same, len(a))
	}
}

func TestLeakMixWithout7z(t *testing.T) {
	f := newMixFixture(t)
	with, _ := f.mix(t, MixOptions{Seed: 4, PerClass: 3})
	t.Setenv("PATH", t.TempDir())
	without, stats := f.mix(t, MixOptions{Seed: 4, PerClass: 3})
	if !strings.Contains(stats.Skipped[T7z], "7z") || stats.PerClass[T7z] != 0 {
		t.Errorf("Skipped[7z] = %q, PerClass = %d", stats.Skipped[T7z], stats.PerClass[T7z])
	}
	var rest []LeakItem
	for _, it := range with {
		if it.Transform != T7z {
			rest = append(rest, it)
		}
	}
	// Classes draw from independent streams, so skipping 7z changes
	// nothing else (names could only differ by a uniqueness suffix).
	if !reflect.DeepEqual(rest, without) {
		t.Error("skipping 7z changed other classes")
	}
}

func TestLeakMixErrors(t *testing.T) {
	f := newMixFixture(t)
	if _, _, err := LeakMix(f.dir, f.refOpts, f.docs, MixOptions{PerClass: -1}); err == nil {
		t.Error("negative PerClass accepted")
	}
	wrong := f.refOpts
	wrong.Seed++
	if _, _, err := LeakMix(f.dir, wrong, f.docs, MixOptions{}); err == nil {
		t.Error("refOpts for another seed accepted")
	}
	if err := os.WriteFile(filepath.Join(f.dir, filepath.FromSlash(f.docs[3].RelPath)), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LeakMix(f.dir, f.refOpts, f.docs, MixOptions{}); err == nil || !strings.Contains(err.Error(), f.docs[3].RelPath) {
		t.Errorf("modified reference: err = %v", err)
	}
}

// A reference set without photos or labs drops those classes with a reason.
func TestLeakMixSmallReferenceSet(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Seed: 2, Patients: 3, Docs: 1} // patients.csv and one note
	docs, err := Generate(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	items, stats, err := LeakMix(dir, opts, docs, MixOptions{Seed: 1, PerClass: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range []Transform{TRerender, TJPEG60, TResize50, TCrop5} {
		if stats.Skipped[tr] == "" || stats.PerClass[tr] != 0 {
			t.Errorf("%s: not skipped (%v)", tr, stats)
		}
	}
	if stats.PerClass[TExcerpt] != 4 || stats.PerClass[TJSON] != 4 || len(items) == 0 {
		t.Errorf("stats %v", stats)
	}
}

func TestWriteMix(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mix")
	items := []LeakItem{
		{Name: "a.pdf", Data: []byte("1"), Transform: TExact, Source: "labs/x.pdf"},
		{Name: "a.pdf", Data: []byte("2"), Transform: TExact, Source: "labs/y.pdf"},
		{Name: "x.tar.gz", Data: []byte("3"), Transform: TTarGz, Source: "notes/n.txt"},
		{Name: "x.tar.gz", Data: []byte("4"), Transform: TDistractor},
		{Name: "../labels.json", Data: []byte("5"), Transform: TDistractor},
	}
	if err := WriteMix(dir, items); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "labels.json"))
	if err != nil {
		t.Fatal(err)
	}
	var labels []Label
	if err := json.Unmarshal(raw, &labels); err != nil {
		t.Fatal(err)
	}
	wantNames := []string{"a.pdf", "a-2.pdf", "x.tar.gz", "x-2.tar.gz", "labels-2.json"}
	for i, l := range labels {
		if l.Name != wantNames[i] || l.Transform != items[i].Transform || l.Source != items[i].Source {
			t.Errorf("label %d = %+v, want name %s", i, l, wantNames[i])
		}
		b, err := os.ReadFile(filepath.Join(dir, l.Name))
		if err != nil || !bytes.Equal(b, items[i].Data) {
			t.Errorf("%s: %q, %v", l.Name, b, err)
		}
	}
	if !bytes.Contains(raw, []byte(`"source": ""`)) {
		t.Errorf("distractor label lacks an empty source:\n%s", raw)
	}
}

// BenchmarkLeakMix measures a default mix of every class (7z included when
// installed): go test -bench LeakMix ./synth/
func BenchmarkLeakMix(b *testing.B) {
	dir := b.TempDir()
	opts := Options{Seed: 1, Patients: 60, Docs: 300}
	docs, err := Generate(dir, opts)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := LeakMix(dir, opts, docs, MixOptions{Seed: 2}); err != nil {
			b.Fatal(err)
		}
	}
}

// uniquePassage returns a 200-byte window of text, at any offset, that
// exactly one of notes contains ("" if none): such a distractor would be an
// excerpt of that note, not boilerplate.
func uniquePassage(text string, notes []string) string {
	const n = 200
	for s := 0; s+n <= len(text); s++ {
		w, in := text[s:s+n], 0
		for _, note := range notes {
			if strings.Contains(note, w) {
				in++
			}
		}
		if in == 1 {
			return w
		}
	}
	return ""
}

// A distractor may repeat boilerplate that several reference notes share,
// never a passage only one of them has.
func TestSharedPassage(t *testing.T) {
	boiler := strings.Repeat("Standard advice given about rest and fluids. ", 6)
	unique := strings.Repeat("Ms Example reported sharp pain after the fall on 03/02. ", 5)
	m := &mixer{refNotes: map[string]string{
		"notes/a.txt": "Header\n" + boiler + "\n" + unique + "\nFooter",
		"notes/b.txt": "Other header\n" + boiler + "\nOther footer",
	}}
	if w := m.sharedPassage("Posted: " + boiler + " thanks"); w != "" {
		t.Errorf("boilerplate in two notes reported as a shared passage: %q", w)
	}
	if w := m.sharedPassage("Posted: " + unique + " thanks"); w == "" || !strings.Contains(unique, w) {
		t.Errorf("passage only notes/a.txt has not found (got %q)", w)
	}
	if w := m.sharedPassage("Posted: " + unique[:passageMin-10] + " thanks"); w != "" {
		t.Errorf("a passage shorter than %d bytes reported: %q", passageMin, w)
	}
	if err := m.checkDistractor([][]byte{[]byte(unique)}); err == nil {
		t.Error("checkDistractor accepted a note's passage")
	}
}

// TestScannedItems: a scanned item is a page image (PNG, JPEG, or a JPEG in
// a PDF with no text layer), never the reference's text.
func TestScannedItems(t *testing.T) {
	f := newMixFixture(t)
	items, _ := f.mix(t, MixOptions{Seed: 5, PerClass: 3})
	variants := map[string]bool{}
	for _, it := range items {
		if it.Transform != TScanned {
			continue
		}
		variant, _, _ := strings.Cut(it.Variant, "-")
		variants[variant] = true
		switch variant {
		case "png":
			if !bytes.HasPrefix(it.Data, []byte("\x89PNG")) {
				t.Errorf("%s: not a PNG", it.Name)
			}
		case "jpeg":
			if !bytes.HasPrefix(it.Data, []byte("\xff\xd8")) {
				t.Errorf("%s: not a JPEG", it.Name)
			}
		case "pdf":
			// No font, no text: the page is only its DCTDecode image.
			if !bytes.HasPrefix(it.Data, []byte("%PDF-")) || bytes.Contains(it.Data, []byte("/Font")) || !bytes.Contains(it.Data, []byte("/DCTDecode")) {
				t.Errorf("%s: want an image-only PDF", it.Name)
			}
		default:
			t.Errorf("%s: unknown variant %q", it.Name, it.Variant)
		}
		if bytes.Contains(it.Data, []byte("NHI")) {
			t.Errorf("%s: the page's text is in the file's bytes", it.Name)
		}
	}
	if len(variants) != 3 {
		t.Errorf("variants %v, want png, jpeg and pdf", variants)
	}
}
