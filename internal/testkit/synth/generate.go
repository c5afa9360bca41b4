package synth

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sync"
	"time"
)

// Kind says what a generated document represents.
type Kind string

// Document kinds written by Generate.
const (
	KindPatients     Kind = "patients"      // patients.csv, one row per patient
	KindClinicalNote Kind = "clinical-note" // .txt
	KindLabResult    Kind = "lab-result"    // .pdf
	KindVaccination  Kind = "vaccination"   // .csv
	KindPhoto        Kind = "photo"         // .png or .jpg
)

// Defaults applied by Generate when an Options field is zero.
const (
	DefaultPatients = 25
	DefaultDocs     = 100
	// MaxPatients bounds the patient count: the Z test range of new-format
	// NHIs holds about 1.4 M values, and unique draws slow down near it.
	MaxPatients = 100_000
	// MaxDocs bounds one reference set so a typo cannot fill a disk.
	MaxDocs = 1_000_000
)

// PatientsFile is the name of the patients CSV inside the output directory.
const PatientsFile = "patients.csv"

// Options controls Generate. The zero value is usable: seed 0 with the
// default counts.
type Options struct {
	Seed     int64 // same seed, same bytes
	Patients int   // number of patients; 0 means DefaultPatients
	Docs     int   // number of per-patient documents; 0 means DefaultDocs
	// PhotoWidth: 0 draws photos as 160–224 px thumbnails (quick, for
	// tests); otherwise they are enlarged to this width (64–8000) with
	// fresh sensor noise, like a camera export, for measuring at
	// realistic sizes.
	PhotoWidth int
}

// Doc describes one file written by Generate.
type Doc struct {
	RelPath string // slash-separated path relative to the output directory
	Kind    Kind
	Size    int64
	NHI     string // patient the document belongs to; empty for patients.csv
	SHA256  string // lower-case hex digest of the file's bytes
}

func (o Options) withDefaults() (Options, error) {
	switch {
	case o.Patients < 0:
		return o, fmt.Errorf("synth: Patients must not be negative, got %d", o.Patients)
	case o.Patients > MaxPatients:
		return o, fmt.Errorf("synth: Patients %d exceeds maximum %d", o.Patients, MaxPatients)
	case o.Docs < 0:
		return o, fmt.Errorf("synth: Docs must not be negative, got %d", o.Docs)
	case o.Docs > MaxDocs:
		return o, fmt.Errorf("synth: Docs %d exceeds maximum %d", o.Docs, MaxDocs)
	case o.PhotoWidth != 0 && (o.PhotoWidth < 64 || o.PhotoWidth > 8000):
		return o, fmt.Errorf("synth: PhotoWidth must be 0 or 64..8000, got %d", o.PhotoWidth)
	}
	if o.Patients == 0 {
		o.Patients = DefaultPatients
	}
	if o.Docs == 0 {
		o.Docs = DefaultDocs
	}
	return o, nil
}

// Stream selectors keep the patient draw independent of the document draws,
// so each document can be built from its own generator in parallel and the
// output still depends only on the seed.
const (
	streamPatients = 0x70617469656e7473 // "patients"
	streamDocBase  = 0x646f6373_00000000
)

func newRand(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream))
}

// PatientSet returns the patients that Generate writes for opts (after
// defaults), so tests can build expectations without parsing patients.csv.
func PatientSet(opts Options) ([]Patient, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return NewPatients(newRand(o.Seed, streamPatients), o.Patients), nil
}

// docPlan cycles through the kinds so that any set of eight or more
// documents contains every kind, in realistic proportions.
var docPlan = []struct {
	kind Kind
	ext  string
	dir  string
}{
	{KindClinicalNote, ".txt", "notes"},
	{KindLabResult, ".pdf", "labs"},
	{KindPhoto, ".png", "photos"},
	{KindVaccination, ".csv", "vaccinations"},
	{KindClinicalNote, ".txt", "notes"},
	{KindLabResult, ".pdf", "labs"},
	{KindPhoto, ".jpg", "photos"},
	{KindClinicalNote, ".txt", "notes"},
}

// Generate writes a deterministic synthetic reference set into dir (created
// if needed, existing files with the same names are overwritten): a
// patients CSV plus opts.Docs per-patient documents. It returns one Doc per
// file, patients.csv first, so len(result) == opts.Docs+1. Every file is
// distinct byte-for-byte; Generate fails rather than return duplicates.
func Generate(dir string, opts Options) ([]Doc, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	patients := NewPatients(newRand(o.Seed, streamPatients), o.Patients)

	for _, sub := range []string{"notes", "labs", "photos", "vaccinations"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, fmt.Errorf("synth: create output directory: %w", err)
		}
	}

	docs := make([]Doc, o.Docs+1)
	pcsv, err := patientsCSV(patients)
	if err != nil {
		return nil, err
	}
	if docs[0], err = writeDoc(dir, PatientsFile, KindPatients, "", pcsv); err != nil {
		return nil, err
	}

	// Documents are independent, so spread them over the CPUs; each index
	// has its own seeded generator, which keeps the output deterministic.
	workers := min(runtime.GOMAXPROCS(0), o.Docs)
	next := make(chan int)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range next {
				if errs[w] != nil {
					continue // drain so the feeder never blocks
				}
				docs[i+1], errs[w] = buildAndWrite(dir, o.Seed, i, patients, o.PhotoWidth)
			}
		})
	}
	for i := range o.Docs {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	seen := make(map[string]string, len(docs))
	for _, d := range docs {
		if prev, dup := seen[d.SHA256]; dup {
			return nil, fmt.Errorf("synth: %s and %s have identical bytes", prev, d.RelPath)
		}
		seen[d.SHA256] = d.RelPath
	}
	return docs, nil
}

func buildAndWrite(dir string, seed int64, i int, patients []Patient, photoWidth int) (Doc, error) {
	rng := newRand(seed, streamDocBase+uint64(i))
	plan := docPlan[i%len(docPlan)]
	p := patients[i%len(patients)]
	// A serial unique to (seed, index) appears in every text document; it
	// is what guarantees distinct bytes for patients with several documents.
	serial := fmt.Sprintf("SYN-%d-%05d", seed, i+1)
	date := time.Date(2019, time.March, 1, 0, 0, 0, 0, time.UTC).
		AddDate(0, 0, rng.IntN(6*365)).
		Add(time.Duration(8*60+rng.IntN(9*60)) * time.Minute)

	var (
		data []byte
		err  error
	)
	switch plan.kind {
	case KindClinicalNote:
		data = clinicalNote(rng, p, serial, date)
	case KindLabResult:
		data = labResultPDF(rng, p, serial, date)
	case KindVaccination:
		data, err = vaccinationCSV(rng, p, serial, date)
	case KindPhoto:
		data, err = photo(rng, plan.ext, photoWidth)
	}
	if err != nil {
		return Doc{}, fmt.Errorf("synth: build document %d (%s): %w", i+1, plan.kind, err)
	}
	rel := path.Join(plan.dir, fmt.Sprintf("%s-%05d-%s%s", plan.dir[:len(plan.dir)-1], i+1, p.NHI, plan.ext))
	return writeDoc(dir, rel, plan.kind, p.NHI, data)
}

func writeDoc(dir, rel string, kind Kind, nhi string, data []byte) (Doc, error) {
	if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(rel)), data, 0o644); err != nil {
		return Doc{}, fmt.Errorf("synth: write %s: %w", rel, err)
	}
	sum := sha256.Sum256(data)
	return Doc{RelPath: rel, Kind: kind, Size: int64(len(data)), NHI: nhi, SHA256: hex.EncodeToString(sum[:])}, nil
}

func patientsCSV(patients []Patient) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write([]string{"nhi", "given_name", "family_name", "dob", "email", "phone"}); err != nil {
		return nil, fmt.Errorf("synth: patients csv: %w", err)
	}
	for _, p := range patients {
		if err := w.Write([]string{p.NHI, p.GivenName, p.FamilyName, p.DOB.Format(time.DateOnly), p.Email, p.Phone}); err != nil {
			return nil, fmt.Errorf("synth: patients csv: %w", err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("synth: patients csv: %w", err)
	}
	return buf.Bytes(), nil
}
