// Package refeval measures the fingerprint engine on synthetic breaches:
// precision and recall per transform class (Evaluate, behind `leakwatch eval`)
// and index build, load and match figures (BenchRefs and BenchScan, behind
// `leakwatch bench`). It links the synthetic-data fixtures, so the product
// packages never do.
package refeval

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/internal/references"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
	"github.com/leakwatch/leakwatch/storage"
)

// EvalOptions size an evaluation run.
type EvalOptions struct {
	Dir      string // working directory (a fresh temporary one if empty)
	Docs     int    // reference documents; default 300
	Patients int    // default 60
	PerClass int    // leak items per transform class; default 20
	// PhotoWidth makes camera-size photos (synth.Options.PhotoWidth).
	PhotoWidth int
	// Photos is where real photographs for the real-* classes are found:
	// "" searches DefaultPhotoDirs, "off" leaves them out, anything else is
	// a comma-separated list of directories.
	Photos string
	Seed   int64
	Match  match.Options
	// Secret is the fingerprint key to use; empty means a fresh random one.
	// (Which k-grams winnowing selects depends on the key, so a fixed key
	// makes a run repeatable.)
	Secret []byte
}

// ClassResult is precision and recall for one transform class.
type ClassResult struct {
	Transform string         `json:"transform"`
	Items     int            `json:"items"`
	Found     int            `json:"found"`     // items whose source reference was matched
	Positives int            `json:"positives"` // items that matched anything
	Correct   int            `json:"correct"`   // positives whose matches include the source
	Recall    float64        `json:"recall"`
	Precision float64        `json:"precision"`
	Methods   map[string]int `json:"methods"` // which layer matched the source
	Misses    []string       `json:"misses,omitempty"`
}

// EvalReport is the outcome of Evaluate.
type EvalReport struct {
	Refs    int           `json:"refs"`
	Items   int           `json:"items"`
	Classes []ClassResult `json:"classes"`
	Skipped map[string]string
	// RealPhotos is how many real photographs were indexed (and as many
	// held out as distractors).
	RealPhotos int           `json:"real_photos"`
	Elapsed    time.Duration `json:"elapsed"`
}

// Evaluate generates a synthetic breach and a labelled leak mix, indexes the
// breach and scans the mix, and reports per transform class:
//
//	recall    = items whose source document was matched / items
//	precision = positive items whose matches include their source / positive items
//
// where a distractor (which has no source) that matches anything is a false
// positive, and so is an item that matches but not its source.
func Evaluate(ctx context.Context, opts EvalOptions) (EvalReport, error) {
	start := time.Now()
	var rep EvalReport
	if opts.Docs <= 0 {
		opts.Docs = 300
	}
	if opts.Patients <= 0 {
		opts.Patients = 60
	}
	dir := opts.Dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "leakwatch-eval-")
		if err != nil {
			return rep, err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	refOpts := synth.Options{Seed: opts.Seed, Patients: opts.Patients, Docs: opts.Docs, PhotoWidth: opts.PhotoWidth}
	refsDir := filepath.Join(dir, "refs")
	docs, err := synth.Generate(refsDir, refOpts)
	if err != nil {
		return rep, fmt.Errorf("eval: generate references: %w", err)
	}
	items, stats, err := synth.LeakMix(refsDir, refOpts, docs, synth.MixOptions{Seed: opts.Seed + 1, PerClass: opts.PerClass})
	if err != nil {
		return rep, fmt.Errorf("eval: generate leak mix: %w", err)
	}
	if opts.Dir != "" {
		// Kept for inspection: `leakwatch scan DIR/mix` with the same index.
		if err := synth.WriteMix(filepath.Join(dir, "mix"), items); err != nil {
			return rep, err
		}
	}
	// Written after the mix, which draws only on synth's own documents.
	quotes, err := writeQuotes(refsDir, opts.Seed, opts.PerClass)
	if err != nil {
		return rep, err
	}
	perClass := opts.PerClass
	if perClass <= 0 {
		perClass = synth.DefaultPerClass
	}
	var photoDirs []string
	switch opts.Photos {
	case "":
		photoDirs = DefaultPhotoDirs
	case "off":
	default:
		photoDirs = strings.Split(opts.Photos, ",")
	}
	imgs, err := prepareImages(refsDir, docs, photoDirs, opts.Seed, perClass)
	if err != nil {
		return rep, err
	}
	imgItems, err := imageItems(imgs, opts.Seed, perClass)
	if err != nil {
		return rep, err
	}
	if opts.Dir != "" {
		if err := synth.WriteMix(filepath.Join(dir, "image-mix"), imgItems); err != nil {
			return rep, err
		}
	}
	items = append(items, imgItems...)
	rep.RealPhotos = len(imgs.real)
	rep.Skipped = map[string]string{}
	if imgs.note != "" {
		rep.Skipped[realPrefix+"*"] = imgs.note
	}
	for t, why := range stats.Skipped {
		rep.Skipped[string(t)] = why
	}
	if opts.Match.OCR == nil {
		// Without OCR a scanned page can only match by image, and the
		// reference is a text: the class measures nothing then.
		items = slices.DeleteFunc(items, func(it synth.LeakItem) bool { return it.Transform == synth.TScanned })
		rep.Skipped[string(synth.TScanned)] = "no OCR (tesseract not installed or fingerprints.ocr: off)"
	}
	secret := opts.Secret
	if len(secret) == 0 {
		secret = make([]byte, 32)
		rand.Read(secret)
	}
	key, err := fingerprints.NewKey(secret)
	if err != nil {
		return rep, err
	}
	if opts.Dir != "" {
		if err := os.WriteFile(filepath.Join(dir, "fingerprint.key"), []byte(hex.EncodeToString(secret)+"\n"), 0o600); err != nil {
			return rep, err
		}
	}
	store, err := storage.Open(ctx, "", filepath.Join(dir, "db"), nil)
	if err != nil {
		return rep, err
	}
	defer store.Close()
	st, err := references.Import(ctx, store, refsDir, references.Options{Key: key, Match: opts.Match})
	if err != nil {
		return rep, fmt.Errorf("eval: index: %w", err)
	}
	rep.Refs = st.Items
	sc, err := references.NewScanner(ctx, store, key, opts.Match, 0)
	if err != nil {
		return rep, err
	}
	classes := map[string]*ClassResult{}
	for _, it := range items {
		cr := classes[string(it.Transform)]
		if cr == nil {
			cr = &ClassResult{Transform: string(it.Transform), Methods: map[string]int{}}
			classes[string(it.Transform)] = cr
		}
		cr.Items++
		rep.Items++
		matched := map[string]string{} // reference name → best method
		err := sc.Scan(ctx, it.Name, it.Data, func(r references.ItemResult) error {
			for _, m := range r.Matches {
				if _, ok := matched[m.RefName]; !ok {
					matched[m.RefName] = m.Method
				}
			}
			return nil
		})
		if err != nil {
			return rep, fmt.Errorf("eval: scan %s: %w", it.Name, err)
		}
		if len(matched) > 0 {
			cr.Positives++
		}
		if method, ok := matched[it.Source]; ok && it.Source != "" {
			cr.Found++
			cr.Correct++
			cr.Methods[method]++
		} else if it.Source != "" {
			cr.Misses = append(cr.Misses, it.Name)
		} else if len(matched) > 0 {
			names := make([]string, 0, len(matched))
			for n := range matched {
				names = append(names, n)
			}
			slices.Sort(names)
			cr.Misses = append(cr.Misses, fmt.Sprintf("%s matched %v", it.Name, names))
		}
	}
	rep.Items += len(quotes)
	qcs, err := scoreQuotes(ctx, sc, quotes)
	if err != nil {
		return rep, err
	}
	rep.Classes = append(rep.Classes, qcs...)
	for _, cr := range classes {
		cr.score()
		rep.Classes = append(rep.Classes, *cr)
	}
	sort.Slice(rep.Classes, func(i, j int) bool { return rep.Classes[i].Transform < rep.Classes[j].Transform })
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// score sets recall and precision from the counts: a class of negatives
// (isDistractor) has nothing to find, so its recall is 1 and any positive
// lowers its precision.
func (c *ClassResult) score() {
	c.Recall = 1
	if !isDistractor(c.Transform) {
		c.Recall = 0
		if c.Items > 0 {
			c.Recall = float64(c.Found) / float64(c.Items)
		}
	}
	c.Precision = 1
	if c.Positives > 0 {
		c.Precision = float64(c.Correct) / float64(c.Positives)
	}
}

// isDistractor says whether class holds only items with no source, which
// must match nothing.
func isDistractor(class string) bool {
	return class == string(synth.TDistractor) || class == ClassQuotedFresh || strings.HasSuffix(class, "distractor")
}

// Merge adds up reports of several runs (seeds): counts per class are
// summed and recall and precision computed over the sum; Refs, Items and
// RealPhotos are totals, Elapsed the sum.
func Merge(reps []EvalReport) EvalReport {
	if len(reps) == 1 {
		return reps[0]
	}
	var out EvalReport
	out.Skipped = map[string]string{}
	classes := map[string]*ClassResult{}
	var order []string
	for _, r := range reps {
		out.Refs += r.Refs
		out.Items += r.Items
		out.RealPhotos += r.RealPhotos
		out.Elapsed += r.Elapsed
		for k, v := range r.Skipped {
			out.Skipped[k] = v
		}
		for _, c := range r.Classes {
			m := classes[c.Transform]
			if m == nil {
				m = &ClassResult{Transform: c.Transform, Methods: map[string]int{}}
				classes[c.Transform] = m
				order = append(order, c.Transform)
			}
			m.Items += c.Items
			m.Found += c.Found
			m.Positives += c.Positives
			m.Correct += c.Correct
			for k, v := range c.Methods {
				m.Methods[k] += v
			}
			m.Misses = append(m.Misses, c.Misses...)
		}
	}
	slices.Sort(order)
	for _, t := range order {
		m := classes[t]
		m.score()
		out.Classes = append(out.Classes, *m)
	}
	return out
}
