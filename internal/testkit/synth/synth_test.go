package synth

import (
	"bytes"
	"encoding/csv"
	"image"
	_ "image/jpeg"
	_ "image/png"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestValidNHIVectors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"ZAC5361", true},  // old format, check digit
		{"ZVU27KZ", true},  // new format, r=0 → Z
		{"ZAD96LT", true},  // new format
		{"ZZZ00AA", false}, // new format, wrong check letter
		{"ZAC5362", false}, // old format, wrong check digit
		{"ZAD96LU", false},
		{"ZIC5361", false}, // I is not in the alphabet
		{"ZOC5361", false}, // nor is O
		{"zac5361", false}, // upper case only
		{"ZAC536", false},
		{"ZAC53611", false},
		{"ZAC53L1", false}, // mixed formats
		{"", false},
	} {
		if got := ValidNHI(tc.in); got != tc.want {
			t.Errorf("ValidNHI(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// An old-format value whose remainder is 0 has no valid check digit.
func TestValidNHIOldFormatRemainderZero(t *testing.T) {
	for d := '0'; d <= '9'; d++ {
		// ZAA00x: 24·7 + 1·6 + 1·5 + 2x = 179 + 2x ≡ 0 (mod 11) at x=4.
		s := "ZAA004" + string(d)
		if sum, _ := weightedSum(s); sum%11 != 0 {
			t.Fatalf("test setup: %s sum %d not ≡ 0 mod 11", s, sum)
		}
		if ValidNHI(s) {
			t.Errorf("ValidNHI(%q) = true, want false (r=0)", s)
		}
	}
}

func TestNHIGeneratesValidTestRange(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	re := regexp.MustCompile(`^Z[A-HJ-NP-Z]{2}[0-9]{2}[A-HJ-NP-Z]{2}$`)
	seenCheck := map[byte]bool{}
	for range 20000 {
		s := NHI(rng)
		if !re.MatchString(s) || !ValidNHI(s) {
			t.Fatalf("NHI() = %q: not a valid new-format Z-range NHI", s)
		}
		seenCheck[s[6]] = true
		// Any single-character change of the check letter must invalidate.
		alt := []byte(s)
		alt[6] = nhiAlphabet[(letterValue(s[6]))%24]
		if ValidNHI(string(alt)) {
			t.Fatalf("ValidNHI(%q) = true after changing check letter of %q", alt, s)
		}
	}
	if len(seenCheck) != 24 {
		t.Errorf("check letters used: %d, want all 24", len(seenCheck))
	}
}

func TestPatients(t *testing.T) {
	ps := NewPatients(rand.New(rand.NewPCG(7, 7)), 500)
	if len(ps) != 500 {
		t.Fatalf("got %d patients", len(ps))
	}
	phone := regexp.MustCompile(`^0(20|21|22|27|29) 555 01[0-9]{2}$`)
	nhis, emails := map[string]bool{}, map[string]bool{}
	for _, p := range ps {
		if !ValidNHI(p.NHI) || p.NHI[0] != 'Z' {
			t.Errorf("bad NHI %q", p.NHI)
		}
		if !strings.HasSuffix(p.Email, "@example.org") && !strings.HasSuffix(p.Email, "@example.net") {
			t.Errorf("email %q outside example.org/example.net", p.Email)
		}
		if !phone.MatchString(p.Phone) {
			t.Errorf("phone %q outside the fictional range", p.Phone)
		}
		if p.DOB.Year() < 1935 || p.DOB.Year() > 2020 {
			t.Errorf("DOB %v out of range", p.DOB)
		}
		if nhis[p.NHI] || emails[p.Email] {
			t.Errorf("duplicate NHI or email: %+v", p)
		}
		nhis[p.NHI], emails[p.Email] = true, true
	}
}

func readAll(t *testing.T, dir string, docs []Doc) map[string][]byte {
	t.Helper()
	out := make(map[string][]byte, len(docs))
	for _, d := range docs {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(d.RelPath)))
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) != d.Size {
			t.Errorf("%s: size %d, Doc says %d", d.RelPath, len(b), d.Size)
		}
		out[d.RelPath] = b
	}
	return out
}

func TestGenerateDeterministicAndDistinct(t *testing.T) {
	opts := Options{Seed: 42, Patients: 20, Docs: 64}
	dirA, dirB, dirC := t.TempDir(), t.TempDir(), t.TempDir()
	a, err := Generate(dirA, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(dirB, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != opts.Docs+1 || a[0].RelPath != PatientsFile || a[0].Kind != KindPatients {
		t.Fatalf("got %d docs (first %+v), want %d with patients.csv first", len(a), a[0], opts.Docs+1)
	}
	filesA, filesB := readAll(t, dirA, a), readAll(t, dirB, b)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("doc %d differs between runs: %+v vs %+v", i, a[i], b[i])
		}
		if !bytes.Equal(filesA[a[i].RelPath], filesB[b[i].RelPath]) {
			t.Fatalf("%s: bytes differ between runs with the same seed", a[i].RelPath)
		}
	}

	seen := map[string]string{}
	kinds := map[Kind]int{}
	for path, data := range filesA {
		if prev, ok := seen[string(data)]; ok {
			t.Errorf("%s and %s are identical", prev, path)
		}
		seen[string(data)] = path
	}
	for _, d := range a {
		kinds[d.Kind]++
	}
	for _, k := range []Kind{KindPatients, KindClinicalNote, KindLabResult, KindVaccination, KindPhoto} {
		if kinds[k] == 0 {
			t.Errorf("no document of kind %s", k)
		}
	}

	c, err := Generate(dirC, Options{Seed: 43, Patients: 20, Docs: 64})
	if err != nil {
		t.Fatal(err)
	}
	if c[0].SHA256 == a[0].SHA256 || c[1].SHA256 == a[1].SHA256 {
		t.Error("a different seed produced identical files")
	}
}

func TestGenerateContents(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Seed: 5, Patients: 10, Docs: 40}
	docs, err := Generate(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	files := readAll(t, dir, docs)
	patients, err := PatientSet(opts)
	if err != nil {
		t.Fatal(err)
	}
	byNHI := map[string]Patient{}
	for _, p := range patients {
		byNHI[p.NHI] = p
	}

	rows, err := csv.NewReader(bytes.NewReader(files[PatientsFile])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(patients)+1 || rows[0][0] != "nhi" {
		t.Fatalf("patients.csv: %d rows, header %v", len(rows), rows[0])
	}
	for i, p := range patients {
		if rows[i+1][0] != p.NHI || rows[i+1][4] != p.Email {
			t.Errorf("patients.csv row %d = %v, want %s/%s", i+1, rows[i+1], p.NHI, p.Email)
		}
	}

	for _, d := range docs[1:] {
		data := files[d.RelPath]
		p, ok := byNHI[d.NHI]
		if !ok {
			t.Fatalf("%s: NHI %q not in patient set", d.RelPath, d.NHI)
		}
		switch d.Kind {
		case KindLabResult:
			if !bytes.HasPrefix(data, []byte("%PDF-")) {
				t.Errorf("%s does not start with %%PDF-", d.RelPath)
			}
			if !bytes.HasSuffix(bytes.TrimRight(data, "\r\n"), []byte("%%EOF")) {
				t.Errorf("%s does not end with %%%%EOF", d.RelPath)
			}
			checkPDFStructure(t, d.RelPath, data)
			if !bytes.Contains(data, []byte("("+"NHI: "+p.NHI)) {
				t.Errorf("%s: content stream lacks the patient's NHI as text", d.RelPath)
			}
		case KindClinicalNote:
			for _, want := range []string{p.FullName(), p.NHI, p.Email, p.Phone} {
				if !bytes.Contains(data, []byte(want)) {
					t.Errorf("%s lacks %q", d.RelPath, want)
				}
			}
		case KindVaccination:
			recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
			if err != nil || len(recs) < 2 || recs[1][1] != p.NHI {
				t.Errorf("%s: bad vaccination csv (%v): %v", d.RelPath, err, recs)
			}
		case KindPhoto:
			img, format, err := image.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatalf("%s: %v", d.RelPath, err)
			}
			wantFormat := map[string]string{".png": "png", ".jpg": "jpeg"}[filepath.Ext(d.RelPath)]
			if format != wantFormat || img.Bounds().Dx() < 128 {
				t.Errorf("%s: format %s size %v", d.RelPath, format, img.Bounds())
			}
		default:
			t.Errorf("%s: unexpected kind %s", d.RelPath, d.Kind)
		}
	}
}

// checkPDFStructure verifies the xref offsets point at the objects and
// startxref points at the xref table, which is what strict readers check.
func checkPDFStructure(t *testing.T, name string, data []byte) {
	t.Helper()
	m := regexp.MustCompile(`startxref\n(\d+)\n%%EOF\n$`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("%s: no startxref", name)
	}
	xref, _ := strconv.Atoi(string(m[1]))
	if !bytes.HasPrefix(data[xref:], []byte("xref\n")) {
		t.Fatalf("%s: startxref %d does not point at xref", name, xref)
	}
	entries := regexp.MustCompile(`(\d{10}) 00000 n \n`).FindAllSubmatch(data[xref:], -1)
	if len(entries) == 0 {
		t.Fatalf("%s: no xref entries", name)
	}
	for i, e := range entries {
		off, _ := strconv.Atoi(string(e[1]))
		want := []byte(strconv.Itoa(i+1) + " 0 obj")
		if !bytes.HasPrefix(data[off:], want) {
			t.Errorf("%s: xref entry %d offset %d does not start %q", name, i+1, off, want)
		}
	}
	m2 := regexp.MustCompile(`/Length (\d+) >>\nstream\n`).FindSubmatchIndex(data)
	if m2 == nil {
		t.Fatalf("%s: no content stream", name)
	}
	n, _ := strconv.Atoi(string(data[m2[2]:m2[3]]))
	if !bytes.HasPrefix(data[m2[1]+n:], []byte("endstream")) {
		t.Errorf("%s: stream /Length %d does not end at endstream", name, n)
	}
}

// pdftotext (poppler-utils) is an independent reader; use it when present.
func TestLabPDFTextExtractable(t *testing.T) {
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		t.Skip("pdftotext not installed")
	}
	dir := t.TempDir()
	docs, err := Generate(dir, Options{Seed: 9, Patients: 3, Docs: 2})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, filepath.Join(dir, docs[2].RelPath), "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	for _, want := range []string{"NHI: " + docs[2].NHI, "Reference range", "SYNTHETIC TEST DATA"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("pdftotext output lacks %q:\n%s", want, out)
		}
	}
}

// BenchmarkGenerate measures a 1000-document breach (speed is a benchmark,
// not a test assertion): go test -bench Generate ./synth/
func BenchmarkGenerate(b *testing.B) {
	for b.Loop() {
		docs, err := Generate(b.TempDir(), Options{Seed: 1, Patients: 200, Docs: 1000})
		if err != nil {
			b.Fatal(err)
		}
		if len(docs) != 1001 {
			b.Fatalf("got %d docs", len(docs))
		}
	}
}

func TestOptionsValidation(t *testing.T) {
	for _, o := range []Options{{Patients: -1}, {Docs: -1}, {Patients: MaxPatients + 1}} {
		if _, err := Generate(t.TempDir(), o); err == nil {
			t.Errorf("Generate(%+v) succeeded, want error", o)
		}
	}
}

// PhotoWidth enlarges every photo to a camera-like size; out-of-range
// widths are refused.
func TestGeneratePhotoWidth(t *testing.T) {
	dir := t.TempDir()
	docs, err := Generate(dir, Options{Seed: 2, Patients: 3, Docs: 16, PhotoWidth: 640})
	if err != nil {
		t.Fatal(err)
	}
	photos := 0
	for _, d := range docs {
		if d.Kind != KindPhoto {
			continue
		}
		photos++
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(d.RelPath)))
		if err != nil {
			t.Fatal(err)
		}
		cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
		if err != nil || cfg.Width != 640 || cfg.Height != 480 {
			t.Errorf("%s: %dx%d, %v; want 640x480", d.RelPath, cfg.Width, cfg.Height, err)
		}
	}
	if photos == 0 {
		t.Fatal("no photos generated")
	}
	if _, err := Generate(t.TempDir(), Options{Docs: 1, PhotoWidth: 10}); err == nil {
		t.Error("PhotoWidth 10 accepted")
	}
}
