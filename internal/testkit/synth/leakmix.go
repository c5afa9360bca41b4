package synth

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Transform names one way an extortionist reposts a reference document. A
// leak mix is labelled by Transform so a matcher's precision and recall can
// be measured per class.
type Transform string

// Transform classes produced by LeakMix.
const (
	TExact      Transform = "exact-renamed"  // same bytes, new name
	TZip        Transform = "zip"            // inside a .zip (deflate) with 1–2 unrelated files
	TTarGz      Transform = "tar.gz"         // inside a .tar.gz with 1–2 unrelated files
	T7z         Transform = "7z"             // inside a .7z built by the 7z command, if installed
	TRerender   Transform = "rerendered-pdf" // lab PDF with the same text but a different layout and bytes
	TExcerpt    Transform = "excerpt-post"   // 220–400 characters of a clinical note in a forum post
	TJPEG60     Transform = "jpeg-q60"       // photo re-encoded as JPEG quality 60
	TResize50   Transform = "resize-50"      // photo scaled to 50 % (CatmullRom), PNG or JPEG q90
	TCrop5      Transform = "crop-5"         // photo with 2.5 % cut off each edge, PNG
	TBorder     Transform = "border"         // photo in a uniform border of random colour, 5–15 % each edge, JPEG
	TCaption    Transform = "caption-band"   // photo with white caption bands (black text) above and below, 8–15 % each, JPEG
	TJSON       Transform = "csv-as-json"    // 10–50 patients.csv rows as a JSON array, other keys/formats
	TSQL        Transform = "csv-as-sql"     // the same kind of rows as a SQL dump
	TScanned    Transform = "scanned"        // lab result or note printed to a skewed, noisy page image (PNG, JPEG or image-only PDF)
	TDistractor Transform = "distractor"     // same templates, other patients: must NOT match
)

// mixOrder is the order in which LeakMix emits classes.
var mixOrder = []Transform{
	TExact, TZip, TTarGz, T7z, TRerender, TExcerpt,
	TJPEG60, TResize50, TCrop5, TBorder, TCaption, TJSON, TSQL, TScanned, TDistractor,
}

// LeakItem is one file of a leak mix, as it would be posted.
type LeakItem struct {
	Name      string    // file name as posted
	Data      []byte    // file contents
	Transform Transform // class label
	Source    string    // RelPath of the reference it derives from; "" for distractors
	// Variant names the sub-variant within the class (e.g. "html-br",
	// "tj-runs", "renamed-member") so a miss can be diagnosed; it is not
	// part of the label.
	Variant string
}

// MixOptions controls LeakMix.
type MixOptions struct {
	Seed     int64 // same seed (and reference set), same mix
	PerClass int   // items per transform class; 0 means DefaultPerClass
}

// Limits for MixOptions.PerClass.
const (
	DefaultPerClass = 20
	MaxPerClass     = 10_000 // a typo should not fill memory
)

// MixStats summarises a leak mix.
type MixStats struct {
	PerClass map[Transform]int    // items emitted per class
	Skipped  map[Transform]string // classes left out, and why
}

// sevenZipCommand is the archiver T7z shells out to.
const sevenZipCommand = "7z"

// LeakMix derives a labelled leak mix from a reference set written by
// Generate(refsDir, refOpts), where docs is Generate's result. Everything is
// built in memory (only the 7z class uses a temporary directory, because it
// runs the external 7z command). The result depends only on the reference
// set and opts.Seed.
func LeakMix(refsDir string, refOpts Options, docs []Doc, opts MixOptions) ([]LeakItem, MixStats, error) {
	stats := MixStats{PerClass: map[Transform]int{}, Skipped: map[Transform]string{}}
	switch {
	case opts.PerClass < 0:
		return nil, stats, fmt.Errorf("synth: PerClass must not be negative, got %d", opts.PerClass)
	case opts.PerClass > MaxPerClass:
		return nil, stats, fmt.Errorf("synth: PerClass %d exceeds maximum %d", opts.PerClass, MaxPerClass)
	case opts.PerClass == 0:
		opts.PerClass = DefaultPerClass
	}
	m, err := newMixer(refsDir, refOpts, docs, opts)
	if err != nil {
		return nil, stats, err
	}

	// Distractors are built first: positive excerpts are checked against
	// the distractor notes so that no excerpt is ambiguous.
	dist, err := m.distractors(classRand(opts.Seed, TDistractor), opts.PerClass)
	if err != nil {
		return nil, stats, err
	}

	var items []LeakItem
	for _, t := range mixOrder {
		if t == TDistractor {
			items = append(items, dist...)
			stats.PerClass[t] = len(dist)
			continue
		}
		if t == T7z {
			if _, err := exec.LookPath(sevenZipCommand); err != nil {
				stats.Skipped[t] = fmt.Sprintf("%s command not found on PATH (%v); install p7zip to include this class", sevenZipCommand, err)
				continue
			}
		}
		spec := classSpecs[t]
		cands := m.candidates(spec.kinds)
		if len(cands) == 0 {
			stats.Skipped[t] = fmt.Sprintf("reference set has no %s documents", kindList(spec.kinds))
			continue
		}
		rng := classRand(opts.Seed, t)
		for i, src := range spread(rng, cands, opts.PerClass) {
			it, err := spec.build(m, rng, i, src)
			if err != nil {
				return nil, stats, fmt.Errorf("synth: leak mix %s from %s: %w", t, src.RelPath, err)
			}
			it.Transform, it.Source = t, src.RelPath
			items = append(items, it)
		}
		stats.PerClass[t] = opts.PerClass
	}

	seen := map[string]bool{labelsFile: true}
	for i := range items {
		items[i].Name = uniqueName(seen, items[i].Name)
	}
	return items, stats, nil
}

// classSpec says which reference kinds a class derives from and how one
// item is built; i is the item's index within its class (variants cycle on
// it so every variant appears).
type classSpec struct {
	kinds []Kind // nil means any kind
	build func(m *mixer, rng *rand.Rand, i int, src Doc) (LeakItem, error)
}

var classSpecs = map[Transform]classSpec{
	TExact:    {nil, (*mixer).exactItem},
	TZip:      {nil, (*mixer).zipItem},
	TTarGz:    {nil, (*mixer).tarGzItem},
	T7z:       {nil, (*mixer).sevenZipItem},
	TRerender: {[]Kind{KindLabResult}, (*mixer).rerenderItem},
	TExcerpt:  {[]Kind{KindClinicalNote}, (*mixer).excerptItem},
	TJPEG60:   {[]Kind{KindPhoto}, (*mixer).jpeg60Item},
	TResize50: {[]Kind{KindPhoto}, (*mixer).resize50Item},
	TCrop5:    {[]Kind{KindPhoto}, (*mixer).crop5Item},
	TBorder:   {[]Kind{KindPhoto}, (*mixer).borderItem},
	TCaption:  {[]Kind{KindPhoto}, (*mixer).captionBandItem},
	TJSON:     {[]Kind{KindPatients}, (*mixer).jsonItem},
	TSQL:      {[]Kind{KindPatients}, (*mixer).sqlItem},
	TScanned:  {[]Kind{KindLabResult, KindClinicalNote}, (*mixer).scannedItem},
}

func kindList(kinds []Kind) string {
	s := make([]string, len(kinds))
	for i, k := range kinds {
		s[i] = string(k)
	}
	return strings.Join(s, "/")
}

// classRand gives each class its own stream so adding or skipping a class
// (7z) leaves the others unchanged.
func classRand(seed int64, t Transform) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte("leakmix/" + string(t)))
	return newRand(seed, h.Sum64())
}

// mixer holds the reference set and the distractor world for one LeakMix.
type mixer struct {
	docs       []Doc
	files      map[string][]byte // RelPath → bytes
	patients   []Patient         // parsed from patients.csv
	refNHIs    []string
	refSums    map[string]string // SHA-256 hex → RelPath
	refNotes   map[string]string // RelPath → clinical note text
	distNotes  []string          // every distractor note built so far
	dist       *distractorSet
	photoWidth int // distractor photos are drawn like the references' (Options.PhotoWidth)
}

func newMixer(refsDir string, refOpts Options, docs []Doc, opts MixOptions) (*mixer, error) {
	ro, err := refOpts.withDefaults()
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, errors.New("synth: leak mix needs the reference documents, got none")
	}
	m := &mixer{
		docs:       docs,
		files:      make(map[string][]byte, len(docs)),
		refSums:    make(map[string]string, len(docs)),
		refNotes:   map[string]string{},
		photoWidth: ro.PhotoWidth,
	}
	var patientsDoc *Doc
	for i, d := range docs {
		data, err := os.ReadFile(filepath.Join(refsDir, filepath.FromSlash(d.RelPath)))
		if err != nil {
			return nil, fmt.Errorf("synth: read reference: %w", err)
		}
		sum := sha256.Sum256(data)
		if hex.EncodeToString(sum[:]) != d.SHA256 {
			return nil, fmt.Errorf("synth: %s in %s does not match its Doc digest; was the set regenerated?", d.RelPath, refsDir)
		}
		m.files[d.RelPath] = data
		m.refSums[d.SHA256] = d.RelPath
		switch d.Kind {
		case KindPatients:
			patientsDoc = &docs[i]
		case KindClinicalNote:
			m.refNotes[d.RelPath] = string(data)
		}
	}
	if patientsDoc == nil {
		return nil, errors.New("synth: reference set has no patients.csv")
	}
	if m.patients, err = parsePatientsCSV(m.files[patientsDoc.RelPath]); err != nil {
		return nil, err
	}
	// The distractor seed must differ from the reference seed, so check
	// that refOpts really describes this set.
	want, err := PatientSet(ro)
	if err != nil {
		return nil, err
	}
	if len(want) != len(m.patients) {
		return nil, fmt.Errorf("synth: refOpts describe %d patients, %s has %d", len(want), patientsDoc.RelPath, len(m.patients))
	}
	for i, p := range want {
		if m.patients[i].NHI != p.NHI {
			return nil, fmt.Errorf("synth: refOpts (seed %d) do not describe the reference set: patient %d is %s, not %s",
				ro.Seed, i+1, m.patients[i].NHI, p.NHI)
		}
		m.refNHIs = append(m.refNHIs, p.NHI)
	}
	m.dist = newDistractorSet(ro.Seed, opts.Seed, m.patients)
	return m, nil
}

func parsePatientsCSV(data []byte) ([]Patient, error) {
	rows, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("synth: parse patients.csv: %w", err)
	}
	if len(rows) == 0 || len(rows[0]) != 6 || rows[0][0] != "nhi" {
		return nil, errors.New("synth: patients.csv lacks the expected header")
	}
	out := make([]Patient, 0, len(rows)-1)
	for i, r := range rows[1:] {
		dob, err := time.Parse(time.DateOnly, r[3])
		if err != nil {
			return nil, fmt.Errorf("synth: patients.csv row %d: %w", i+2, err)
		}
		out = append(out, Patient{NHI: r[0], GivenName: r[1], FamilyName: r[2], DOB: dob, Email: r[4], Phone: r[5]})
	}
	return out, nil
}

func (m *mixer) candidates(kinds []Kind) []Doc {
	if kinds == nil {
		return m.docs
	}
	var out []Doc
	for _, d := range m.docs {
		for _, k := range kinds {
			if d.Kind == k {
				out = append(out, d)
			}
		}
	}
	return out
}

// spread picks n sources from cands, visiting every patient before any
// patient's second document, in a seeded random order; it reuses sources
// only when n exceeds len(cands).
func spread(rng *rand.Rand, cands []Doc, n int) []Doc {
	var groups [][]Doc
	idx := map[string]int{}
	for _, d := range cands {
		g, ok := idx[d.NHI]
		if !ok {
			g = len(groups)
			idx[d.NHI] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], d)
	}
	for _, g := range groups {
		rng.Shuffle(len(g), func(i, j int) { g[i], g[j] = g[j], g[i] })
	}
	rng.Shuffle(len(groups), func(i, j int) { groups[i], groups[j] = groups[j], groups[i] })
	order := make([]Doc, 0, len(cands))
	for round := 0; len(order) < len(cands); round++ {
		for _, g := range groups {
			if round < len(g) {
				order = append(order, g[round])
			}
		}
	}
	out := make([]Doc, n)
	for i := range out {
		out[i] = order[i%len(order)]
	}
	return out
}

// postedPrefixes are file-name stems typical of reposted samples; names
// never reveal the class or the source.
var postedPrefixes = []string{
	"sample", "proof", "dump", "part", "file", "export", "scan", "record",
	"IMG_", "DOC", "data", "leak", "batch", "attachment",
}

func postedName(rng *rand.Rand, ext string) string {
	prefix := pick(rng, postedPrefixes)
	if prefix == "IMG_" && !slices.Contains([]string{".png", ".jpg"}, strings.ToLower(ext)) {
		prefix = "DOC"
	}
	sep := pick(rng, []string{"", "_", "-"})
	if strings.HasSuffix(prefix, "_") {
		sep = ""
	}
	return fmt.Sprintf("%s%s%d%s", prefix, sep, 1+rng.IntN(9999), ext)
}

// splitExt splits name into stem and extension, keeping ".tar.gz" whole.
func splitExt(name string) (string, string) {
	if strings.HasSuffix(strings.ToLower(name), ".tar.gz") {
		return name[:len(name)-7], name[len(name)-7:]
	}
	ext := path.Ext(name)
	return name[:len(name)-len(ext)], ext
}

// uniqueName returns a flat, safe version of name not yet in seen, adding
// "-2", "-3", … before the extension as needed, and records it.
func uniqueName(seen map[string]bool, name string) string {
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	if name == "." || name == "/" || name == ".." {
		name = "item"
	}
	out := name
	stem, ext := splitExt(name)
	for n := 2; seen[out]; n++ {
		out = fmt.Sprintf("%s-%d%s", stem, n, ext)
	}
	seen[out] = true
	return out
}

const labelsFile = "labels.json"

// Label is one entry of labels.json.
type Label struct {
	Name      string    `json:"name"`
	Transform Transform `json:"transform"`
	Source    string    `json:"source"`
	Variant   string    `json:"variant,omitempty"`
}

// WriteMix writes items into dir (created if needed) as flat files, making
// names unique, plus labels.json: one Label per item, in item order, naming
// the file as written.
func WriteMix(dir string, items []LeakItem) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("synth: create mix directory: %w", err)
	}
	seen := map[string]bool{labelsFile: true}
	labels := make([]Label, 0, len(items))
	for _, it := range items {
		name := uniqueName(seen, it.Name)
		if err := os.WriteFile(filepath.Join(dir, name), it.Data, 0o644); err != nil {
			return fmt.Errorf("synth: write mix item: %w", err)
		}
		labels = append(labels, Label{Name: name, Transform: it.Transform, Source: it.Source, Variant: it.Variant})
	}
	data, err := json.MarshalIndent(labels, "", "  ")
	if err != nil {
		return fmt.Errorf("synth: encode labels: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, labelsFile), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("synth: write labels: %w", err)
	}
	return nil
}

// exactItem posts the reference unchanged under a new name.
func (m *mixer) exactItem(rng *rand.Rand, i int, src Doc) (LeakItem, error) {
	ext := path.Ext(src.RelPath)
	variant := "renamed"
	if i%4 == 3 {
		// Uploaders sometimes lose or mangle the extension.
		ext, variant = strings.ToUpper(ext), "renamed-upper-ext"
	}
	return LeakItem{Name: postedName(rng, ext), Data: m.files[src.RelPath], Variant: variant}, nil
}
