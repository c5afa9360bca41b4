package references

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
	"github.com/leakwatch/leakwatch/storage"
)

func testKey(t *testing.T, b byte) *fingerprints.Key {
	t.Helper()
	k, err := fingerprints.NewKey(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type fixture struct {
	dir, refs string
	docs      []synth.Doc
	opts      synth.Options
	store     *storage.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), opts: synth.Options{Seed: 3, Patients: 12, Docs: 40}}
	f.refs = filepath.Join(f.dir, "refs")
	var err error
	if f.docs, err = synth.Generate(f.refs, f.opts); err != nil {
		t.Fatal(err)
	}
	if f.store, err = storage.Open(context.Background(), "", filepath.Join(f.dir, "db"), nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.store.Close() })
	return f
}

// indexed imports the fixture's references with key 1 and returns the key
// and a scanner over them.
func (f *fixture) indexed(t *testing.T) (*fingerprints.Key, *Scanner) {
	t.Helper()
	key := testKey(t, 1)
	if _, err := Import(context.Background(), f.store, f.refs, Options{Key: key}); err != nil {
		t.Fatal(err)
	}
	sc, err := NewScanner(context.Background(), f.store, key, match.Options{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return key, sc
}

func TestImportResumesAndScans(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	key := testKey(t, 1)
	st, err := Import(ctx, f.store, f.refs, Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != len(f.docs) || st.Added != len(f.docs) || st.Failed != 0 || st.Items < len(f.docs) {
		t.Fatalf("first import %+v, want %d files added", st, len(f.docs))
	}
	ix, _ := f.store.IndexStats(ctx)
	if ix.Prints == 0 || ix.Images == 0 || ix.Fields == 0 {
		t.Fatalf("index %+v lacks text, image or field fingerprints", ix)
	}
	// A second run finds everything unchanged; a touched file is redone.
	note := filepath.Join(f.refs, filepath.FromSlash(f.docs[1].RelPath))
	st, err = Import(ctx, f.store, f.refs, Options{Key: key})
	if err != nil || st.Unchanged != len(f.docs) || st.Added != 0 {
		t.Fatalf("second import %+v, %v; want all unchanged", st, err)
	}
	data, _ := os.ReadFile(note)
	os.WriteFile(note, append(data, '\n'), 0o600)
	st, err = Import(ctx, f.store, f.refs, Options{Key: key})
	if err != nil || st.Added != 1 || st.Unchanged != len(f.docs)-1 {
		t.Fatalf("import after one change %+v, %v", st, err)
	}
	after, _ := f.store.IndexStats(ctx)
	if after.References != ix.References {
		t.Errorf("references %d after re-import of a changed file, want %d (replaced, not added)", after.References, ix.References)
	}

	// Another key is refused, for imports and scans alike.
	if _, err := Import(ctx, f.store, f.refs, Options{Key: testKey(t, 2)}); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("import with another key: %v", err)
	}
	if _, err := NewScanner(ctx, f.store, testKey(t, 2), match.Options{}, 0); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("scan with another key: %v", err)
	}

	sc, err := NewScanner(ctx, f.store, key, match.Options{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	lab := f.docs[2]
	labData, _ := os.ReadFile(filepath.Join(f.refs, filepath.FromSlash(lab.RelPath)))
	var got []ItemResult
	if err := sc.Scan(ctx, "renamed.bin", labData, func(r ItemResult) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Matches) == 0 || got[0].Matches[0].Method != "sha256" || got[0].Matches[0].RefName != lab.RelPath || got[0].Patients < 1 {
		t.Fatalf("scan of an exact copy = %+v", got)
	}
	// Inside an archive, the member is reported under the outer name as given
	// (here an absolute URL), and matched.
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	w, _ := zw.Create("dump/lab.pdf")
	w.Write(labData)
	zw.Close()
	got = nil
	const url = "http://leaks.example/files/1/dump.zip"
	if err := sc.Scan(ctx, url, zbuf.Bytes(), func(r ItemResult) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Path != url+"!/dump/lab.pdf" || len(got[1].Matches) == 0 || got[1].Matches[0].RefName != lab.RelPath {
		t.Fatalf("scan of a zip = %+v", got)
	}
	got = nil
	if err := sc.Scan(ctx, "chatter.txt", []byte(strings.Repeat("nothing to see here, move along please. ", 20)), func(r ItemResult) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Matches) != 0 {
		t.Fatalf("scan of unrelated text = %+v", got)
	}
}

// TestStolenIndexRevealsNothing: with names off, the database file holds no
// NHI, e-mail or phone of any patient, and plain (or wrongly keyed) hashes of
// known values find nothing in the index.
func TestStolenIndexRevealsNothing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	key := testKey(t, 1)
	if _, err := Import(ctx, f.store, f.refs, Options{Key: key, NoNames: true}); err != nil {
		t.Fatal(err)
	}
	patients, err := synth.PatientSet(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	f.store.Close() // flush the WAL into the file an attacker would copy
	var db []byte
	filepath.WalkDir(filepath.Join(f.dir, "db"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			db = append(db, b...)
		}
		return nil
	})
	var guesses []string
	for _, p := range patients {
		for _, v := range []string{p.NHI, p.Email, p.Phone, p.GivenName + " " + p.FamilyName} {
			if bytes.Contains(db, []byte(v)) {
				t.Errorf("database contains a patient's value %q", v)
			}
			plain := sha256.Sum256([]byte(v))
			guesses = append(guesses, hex.EncodeToString(plain[:]))
			lower := sha256.Sum256([]byte(strings.ToLower(v)))
			guesses = append(guesses, hex.EncodeToString(lower[:]))
			m := hmac.New(sha256.New, bytes.Repeat([]byte{9}, 32)) // a wrong key
			m.Write([]byte(v))
			guesses = append(guesses, hex.EncodeToString(m.Sum(nil)))
		}
	}
	for _, g := range guesses {
		if bytes.Contains(db, []byte(g)) || bytes.Contains(db, []byte(strings.ToUpper(g))) {
			t.Errorf("a plain or wrongly keyed hash of a known value is in the database: %s", g)
		}
	}
	if len(guesses) == 0 {
		t.Fatal("no guesses made")
	}
}

// An index whose fingerprints a different build made (here: one recorded
// as scheme "1") is refused for imports and scans, with the reason.
func TestSchemeMismatchRefused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if _, err := f.store.ClaimSetting(ctx, storage.SettingFingerprintScheme, "1"); err != nil {
		t.Fatal(err)
	}
	_, err := Import(ctx, f.store, f.refs, Options{Key: testKey(t, 1)})
	if !errors.Is(err, ErrSchemeMismatch) || !strings.Contains(err.Error(), "scheme 1") {
		t.Errorf("import into a scheme-1 index: %v", err)
	}
	if _, err := NewScanner(ctx, f.store, testKey(t, 1), match.Options{}, 0); !errors.Is(err, ErrSchemeMismatch) {
		t.Errorf("scan of a scheme-1 index: %v", err)
	}
	if n, _ := f.store.CountReferences(ctx); n != 0 {
		t.Errorf("%d references imported into a refused index", n)
	}
}

// A scanner matches against an in-memory snapshot; references indexed
// after it was made are found once it refreshes.
func TestScannerReloadsChangedIndex(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	key, sc := f.indexed(t)
	before := sc.IndexStats().References
	extra := []byte("Synthetic memo added after the scanner started; it names no patient.\n")
	matches := func() []string {
		var names []string
		err := sc.Scan(ctx, "posted.txt", extra, func(r ItemResult) error {
			for _, m := range r.Matches {
				names = append(names, m.Method+":"+m.RefName)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	if got := matches(); len(got) != 0 {
		t.Fatalf("unindexed memo matched %v", got)
	}
	if err := os.WriteFile(filepath.Join(f.refs, "late-memo.txt"), extra, 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := Import(ctx, f.store, f.refs, Options{Key: key}); err != nil || st.Added != 1 {
		t.Fatalf("second import %+v, %v", st, err)
	}
	if err := sc.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sc.IndexStats().References; got != before+1 {
		t.Errorf("snapshot has %d references after refresh, want %d", got, before+1)
	}
	if got := matches(); !slices.Contains(got, "sha256:late-memo.txt") {
		t.Errorf("after refresh the memo matched %v, want sha256:late-memo.txt", got)
	}
}

// An item counts the patients it exposes: all of a reference it copies
// whole, but for a note that also matches the patient list by its one
// record (EDM), only that record's patient.
func TestPatientsCountedPerItem(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	_, sc := f.indexed(t)
	scan := func(d synth.Doc) ItemResult {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(f.refs, filepath.FromSlash(d.RelPath)))
		if err != nil {
			t.Fatal(err)
		}
		var out []ItemResult
		if err := sc.Scan(ctx, "posted"+filepath.Ext(d.RelPath), data, func(r ItemResult) error { out = append(out, r); return nil }); err != nil {
			t.Fatal(err)
		}
		return out[0]
	}
	var list, note *synth.Doc
	for i, d := range f.docs {
		switch d.Kind {
		case synth.KindPatients:
			list = &f.docs[i]
		case synth.KindClinicalNote:
			note = &f.docs[i]
		}
	}
	if list == nil || note == nil {
		t.Fatal("fixture lacks a patient list or a note")
	}
	if r := scan(*list); r.Patients != f.opts.Patients {
		t.Errorf("patient list copied whole exposes %d patients, want %d", r.Patients, f.opts.Patients)
	}
	r := scan(*note)
	viaList := false
	for _, m := range r.Matches {
		viaList = viaList || (m.RefName == list.RelPath && m.Method == "edm")
	}
	if !viaList {
		t.Errorf("note's record did not match the patient list: %+v", r.Matches)
	}
	if r.Patients != 1 {
		t.Errorf("note exposes %d patients, want 1 (%+v)", r.Patients, r.Matches)
	}
}
