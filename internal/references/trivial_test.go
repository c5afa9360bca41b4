package references

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/storage"
)

// letterText is a synthetic clinic letter, well over the text minimum.
const letterText = `Dear Dr Aroha Te Whata, thank you for seeing Mr Tane Ropata (NHI ZAB1234,
born 12/03/1961) on 4 March. His HbA1c has risen to 71 mmol/mol despite
metformin 1 g twice daily, and his eGFR is 48. I would be grateful for your
advice on adding an SGLT2 inhibitor, and on his foot ulcer which has not
healed after six weeks of dressings at the Kaiapoi practice nurse clinic.`

func pngBytes(t *testing.T, w, h int, fill func(x, y int) color.Gray) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetGray(x, y, fill(x, y))
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zipBytes(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, data := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func newStore(t *testing.T) *storage.Store {
	t.Helper()
	store, err := storage.Open(context.Background(), "", filepath.Join(t.TempDir(), "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

func scanAll(t *testing.T, sc *Scanner, name string, data []byte) []ItemResult {
	t.Helper()
	var got []ItemResult
	if err := sc.Scan(context.Background(), name, data, func(r ItemResult) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestImportSkipsTrivialFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("empty.pdf", nil)
	write("ten.bin", []byte{0x00, 0x9f, 0x13, 0x77, 0xfe, 0x01, 0x80, 0x42, 0xcc, 0x05})
	write("blank.png", pngBytes(t, 300, 200, func(int, int) color.Gray { return color.Gray{Y: 255} }))
	write("favicon.png", pngBytes(t, 16, 16, func(x, y int) color.Gray { return color.Gray{Y: uint8(x * y)} }))
	write("404.html", []byte("<html><head><title>404</title></head><body><h1>404 Not Found</h1></body></html>\n"))
	write("letter.txt", []byte(letterText))
	write("bundle.zip", zipBytes(t, map[string][]byte{"empty.txt": nil, "letter-copy.txt": []byte(letterText + "\nCopy to GP.")}))

	store := newStore(t)
	key := testKey(t, 1)
	named := map[string]fingerprints.TrivialReason{}
	st, err := Import(ctx, store, dir, Options{Key: key, Trivial: func(name string, why fingerprints.TrivialReason) { named[name] = why }})
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := map[fingerprints.TrivialReason]int{fingerprints.TrivialEmpty: 1, fingerprints.TrivialSmall: 1,
		fingerprints.TrivialBlank: 2, fingerprints.TrivialNoContent: 1}
	if st.Files != 7 || st.Added != 2 || st.Failed != 0 || !maps.Equal(st.Trivial, wantFiles) ||
		!maps.Equal(st.TrivialMembers, map[fingerprints.TrivialReason]int{fingerprints.TrivialEmpty: 1}) {
		t.Fatalf("import %+v; want letter and zip added, 5 files and 1 member skipped by reason %v", st, wantFiles)
	}
	wantNamed := map[string]fingerprints.TrivialReason{"empty.pdf": fingerprints.TrivialEmpty, "ten.bin": fingerprints.TrivialSmall,
		"blank.png": fingerprints.TrivialBlank, "favicon.png": fingerprints.TrivialBlank, "404.html": fingerprints.TrivialNoContent,
		"bundle.zip!/empty.txt": fingerprints.TrivialEmpty}
	if !maps.Equal(named, wantNamed) {
		t.Errorf("reported %v, want %v", named, wantNamed)
	}
	ix, err := store.IndexStats(ctx)
	if err != nil || ix.References != 3 { // letter, zip, its letter copy
		t.Fatalf("index %+v, %v; want 3 references", ix, err)
	}

	// Under --no-names the per-file report carries the path MAC.
	named = map[string]fingerprints.TrivialReason{}
	if _, err := Import(ctx, newStore(t), dir, Options{Key: key, NoNames: true,
		Trivial: func(name string, why fingerprints.TrivialReason) { named[name] = why }}); err != nil {
		t.Fatal(err)
	}
	for name := range named {
		if strings.Contains(name, ".") {
			t.Errorf("--no-names reported %q", name)
		}
	}
	if mac := hex.EncodeToString(key.MAC("ref-path", []byte("ten.bin"))); named[mac] != fingerprints.TrivialSmall {
		t.Errorf("--no-names: %v lacks ten.bin's path MAC", named)
	}

	sc, err := NewScanner(ctx, store, key, match.Options{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if got := scanAll(t, sc, "copy.txt", []byte(letterText)); len(got) != 1 || len(got[0].Matches) == 0 {
		t.Fatalf("the letter itself: %+v; want a match", got)
	}
	for name, data := range map[string][]byte{"empty": nil, "zip of an empty file": zipBytes(t, map[string][]byte{"x": nil})} {
		for _, r := range scanAll(t, sc, name, data) {
			if len(r.Matches) > 0 {
				t.Errorf("%s: %s matched %+v", name, r.Path, r.Matches)
			}
		}
	}
}

// TestOldIndexTrivialReferencesNeverMatch builds an index as a leakwatch
// before the trivial rule did: a 0-byte reference, a one-line page and, as
// the control, a reference of opaque bytes that is evidence.
func TestOldIndexTrivialReferencesNeverMatch(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	key := testKey(t, 1)
	if err := CheckKey(ctx, store, key); err != nil { // binds key and scheme, as refs add did
		t.Fatal(err)
	}
	page := []byte("<h1>404</h1>")
	opaque := bytes.Repeat([]byte{0x8e, 0x11, 0xd3, 0x5a, 0x07}, 40)
	ref := func(name, kind string, data []byte) storage.NewReference {
		s := sha256.Sum256(data)
		return storage.NewReference{ParentIndex: -1, Ref: storage.Reference{Name: name, Kind: kind, Size: int64(len(data)),
			SHA256: hex.EncodeToString(s[:]), CRC32: int64(crc32.ChecksumIEEE(data)), PathMAC: name}}
	}
	if err := store.SaveReferences(ctx, []storage.NewReference{ref("empty.txt", "text", nil), ref("404.html", "html", page),
		ref("blob.dat", "unknown", opaque)}); err != nil {
		t.Fatal(err)
	}
	sc, err := NewScanner(ctx, store, key, match.Options{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()

	// A query that is itself trivial never matches...
	if got := scanAll(t, sc, "download", nil); len(got) != 1 || len(got[0].Matches) != 0 {
		t.Errorf("an empty capture: %+v; want one item, no match", got)
	}
	// ...and a trivial reference is never matched, whatever the query.
	for name, data := range map[string][]byte{"empty.txt": nil, "404.html": page, "blob.dat": opaque} {
		s := sha256.Sum256(data)
		r, err := sc.match(ctx, match.Features{Path: name, Size: int64(len(data)), SHA256: hex.EncodeToString(s[:])})
		if err != nil {
			t.Fatal(err)
		}
		if want := name == "blob.dat"; (len(r.Matches) > 0) != want {
			t.Errorf("digest of %s: matches %+v, want a match %v", name, r.Matches, want)
		}
	}
	// Archive directories: an empty member, or one with a trivial
	// reference's CRC and size, matches nothing; the control does.
	mm := sc.MatchMembers([]Member{{Name: "a/empty.txt"}, {Name: "b/404.html", CRC32: crc32.ChecksumIEEE(page), Size: int64(len(page))},
		{Name: "c/blob.dat", CRC32: crc32.ChecksumIEEE(opaque), Size: int64(len(opaque))}})
	if len(mm) != 1 || mm[0].Name != "c/blob.dat" {
		t.Errorf("member matches %+v; want only c/blob.dat", mm)
	}
}

// A hash list names the empty file as readily as any other; it is not
// imported, nor is a file hashdeep lists as under the minimum size.
func TestImportHashesSkipsTrivial(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	list := fingerprints.EmptySHA256 + "  blank.txt\n" +
		strings.Repeat("ab", 32) + "  letter.pdf\n"
	st, err := ImportHashes(ctx, store, strings.NewReader(list))
	if err != nil || st.Added != 1 || st.Trivial != 1 {
		t.Fatalf("sha256sum list: %+v, %v; want 1 added, 1 trivial", st, err)
	}
	deep := "%%%% HASHDEEP-1.0\n%%%% size,md5,sha256,filename\n" +
		"10," + strings.Repeat("cd", 16) + "," + strings.Repeat("ef", 32) + ",tiny.txt\n" +
		"5000," + strings.Repeat("12", 16) + "," + strings.Repeat("34", 32) + ",scan.pdf\n"
	st, err = ImportHashes(ctx, store, strings.NewReader(deep))
	if err != nil || st.Added != 1 || st.Trivial != 1 {
		t.Fatalf("hashdeep list: %+v, %v; want 1 added, 1 trivial", st, err)
	}
}
