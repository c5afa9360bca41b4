// Package match turns bytes into fingerprints — through archives, document
// formats and images — and compares them with the reference index, one layer
// per kind of change a leak makes to a document:
//
//	sha256       exact copy, renamed
//	text-sha256  re-encoded or re-saved with the same text
//	winnow       excerpt pasted into a post (a shared run of text, see Matcher.winnow)
//	tlsh         near-duplicate text
//	pdq          photo resized, re-compressed or cropped
//	edm          patient records re-formatted (CSV → JSON, SQL, text)
//
// Every text, field and image fingerprint is keyed with the fingerprint key;
// nothing here keeps content once an item has been fingerprinted.
package match

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"path"
	"slices"
	"strings"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/fingerprints/archive"
	"github.com/leakwatch/leakwatch/fingerprints/edm"
	"github.com/leakwatch/leakwatch/fingerprints/extract"
	"github.com/leakwatch/leakwatch/fingerprints/pdq"
	"github.com/leakwatch/leakwatch/fingerprints/text"
)

// Options configure analysis and matching. Zero values take the defaults.
type Options struct {
	Archive   archive.Limits
	Passwords []string // candidate passwords for encrypted archives
	Extract   extract.Limits
	// PDFToText is the path of poppler's pdftotext, run when the PDF library
	// cannot read a PDF; "" runs no external program (the zero value).
	// extract.ResolvePDFToText turns a setting such as "auto" into a path.
	PDFToText string
	// OCR reads scanned and photographed pages (extract.Extractor.OCR);
	// nil reads none, and such pages match by image only.
	OCR  extract.OCR
	Text text.Params
	// MinText is the normalised length below which text layers are skipped:
	// a few words match too much to mean anything.
	MinText int
	// HashLists also computes MD5 and SHA-1 (for references imported from
	// md5sum/hashdeep lists).
	HashLists  bool
	Thresholds Thresholds
}

// Thresholds decide what counts as a match.
type Thresholds struct {
	WinnowMinShared int     // shared fingerprints, each in at most max(1, refs/1000) references, that make a reference a TLSH candidate; default 3
	WinnowMinRun    int     // characters of normalised text a run shared with one reference must span for a winnow match; default 180
	WinnowMinUnique int     // disjoint stretches of that run each found in no other reference; default 2
	BoilerplateRefs int     // a fingerprint in more references than this is boilerplate (its postings are not fetched); default max(64, refs/1000)
	TLSHAuto        int     // TLSH distance below which near-duplicates match; default 30
	TLSHReview      int     // below this a near-duplicate is reported for review; default 100
	PDQMax          int     // default 31
	PDQMinQuality   int     // default 50
	EDMMinFields    int     // distinct fields a record must share (primary + corroboration); default 2
	MinScore        float64 // matches scoring below are dropped; default 0

	// WinnowMaxHolders: a run whose stretches are each held by at most this
	// many references together (a passage one document quotes from another)
	// matches every holder; the bound used is min(this, boilerplate
	// bound/8), so text many references hold stays boilerplate. Default 3;
	// 1 turns it off.
	WinnowMaxHolders int
}

func (o *Options) defaults() {
	if o.MinText <= 0 {
		o.MinText = 40
	}
	if o.Text.K <= 0 && o.Text.T <= 0 {
		// A print about every 9 characters (window T-K+1 = 16): a winnow
		// match is a run of consecutive shared prints, so a changed value
		// between two prints must break it, and a sparse sample loses up to
		// a window at each end of a run, which a shared passage of ~200
		// characters cannot spare against a 180-character threshold.
		o.Text = text.Params{K: 32, T: 47}
	}
	t := &o.Thresholds
	if t.WinnowMinShared <= 0 {
		t.WinnowMinShared = 3
	}
	if t.WinnowMinRun <= 0 {
		t.WinnowMinRun = 180
	}
	if t.WinnowMinUnique <= 0 {
		t.WinnowMinUnique = 2
	}
	if t.WinnowMaxHolders <= 0 {
		t.WinnowMaxHolders = 3
	}
	if t.TLSHAuto <= 0 {
		t.TLSHAuto = 30
	}
	if t.TLSHReview <= 0 {
		t.TLSHReview = 100
	}
	if t.PDQMax <= 0 {
		t.PDQMax = pdq.MatchThreshold
	}
	if t.PDQMinQuality <= 0 {
		t.PDQMinQuality = pdq.MinQuality
	}
	if t.EDMMinFields <= 0 {
		t.EDMMinFields = 2
	}
}

// Scheme names what this build's fingerprints mean. Bump it whenever a
// change makes new fingerprints incomparable with stored ones (parameters,
// normalisation, image resampling, variants), so an old index is refused
// instead of silently matching nothing. 2: resampled PDQ and crop variants.
// 3: winnowing guarantee T 47 (was 100), for run-based winnow matching.
const Scheme = "3"

// CropMargins are the centre crops a reference image is also indexed at, as
// the share of each dimension cut from every edge: 0.5 % to 5 % in steps of
// 0.5 %. PDQ drifts about 13 bits per 0.5 % of crop, so a repost cropped by
// up to 10 % of its width and height lands within a quarter step (a few
// bits) of one of them.
var CropMargins = []float64{0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.045, 0.05}

// TrimVariant is the variant number of the hash of a reference image with
// its border trimmed (pdq.Prepared.Trim), when it had one.
var TrimVariant = 8 + len(CropMargins)

// WideCropMargins continue CropMargins to 10 % in 1 % steps (variants
// WideCropVariant on, numbered after TrimVariant so indexes built before
// them keep their meaning). They exist for one-sided crops: a query cut by
// c on one side is tried cut by the same share on the other three, which
// makes it the reference's centre crop by c; the
// wider grid costs at most 18 bits there (measured on real photographs),
// within PDQMax.
var WideCropMargins = []float64{0.06, 0.07, 0.08, 0.09, 0.10}

// WideCropVariant is the variant number of WideCropMargins[0].
var WideCropVariant = TrimVariant + 1

// FlatVariant is the variant number under which a low-texture reference
// image's keyed layout signature (pdq.Flat) is stored beside its PDQ
// hashes; it is not a PDQ hash and is matched by the image-layout layer.
var FlatVariant = WideCropVariant + len(WideCropMargins)

// FlatQualityBound is the PDQ quality below which an image also gets a
// layout signature (pdq.Flat): under PDQMinQuality PDQ cannot match it, and
// the margin up to this bound covers a copy whose re-compression noise
// lifts or lowers its quality across that threshold.
const FlatQualityBound = 70

// Image is one image's keyed fingerprints. For references: the PDQ hashes
// of the 8 rotations and flips (pdq.Dihedral order), one per CropMargins
// entry, the image with its border trimmed if it had one, one per
// WideCropMargins entry, each numbered in Variants. For queries: the image
// as it is, then without its frame, with thin strokes (a watermark's
// letters) removed, and as if cut on one side, each described in How.
// Quality is the better of whole and trimmed.
type Image struct {
	Hashes   []pdq.Hash
	Variants []int    // references: each hash's variant number
	How      []string // queries: how each hash was made ("" for the image as it is)
	Quality  int
	// Flat is the keyed layout signature of an image PDQ rates below
	// FlatQualityBound, with FlatContrast its plain contrast; nil when the
	// image is textured, or (references) too uniform to match.
	Flat         *pdq.Flat
	FlatContrast int
}

// despeckleRadius is the median filter's reach for the query hash without
// thin strokes: letters up to about 8 px wide on the (at most 512 px)
// luma plane vanish, shapes wider than 9 px stay.
const despeckleRadius = 4

// Features are the fingerprints of one item: a file, or a member of an
// archive or e-mail ("outer.zip!/dir/file.pdf").
type Features struct {
	Path   string
	Type   extract.Type
	Size   int64
	SHA256 string
	// CRC32 (IEEE) of the bytes, with Size: what an archive's directory
	// records of each member, so members can be matched before download.
	CRC32      uint32
	MD5, SHA1  string
	TextDigest string
	TextLen    int
	Prints     []text.Print
	TLSH       string
	Images     []Image
	Rows       []edm.Row
	Patients   []string // keyed NHIs the item mentions
	Container  bool     // an archive or e-mail whose members follow as their own items
	// Trivial says why the item is no evidence (fingerprints.Trivial), ""
	// if it is: trivial references are not indexed, trivial queries match
	// nothing.
	Trivial  fingerprints.TrivialReason
	Warnings []string
	Err      error // the item could not be (fully) read
}

// maxPartDepth bounds how deep attachments inside attachments are opened.
const maxPartDepth = 4

// Analyzer fingerprints bytes. It is safe for concurrent use.
type Analyzer struct {
	opts   Options
	text   *text.Hasher
	edm    *edm.Hasher
	pdq    *pdq.Keyer
	walker archive.Walker
	ex     extract.Extractor
}

// NewAnalyzer returns an analyzer keyed with k.
func NewAnalyzer(k *fingerprints.Key, opts Options) *Analyzer {
	opts.defaults()
	return &Analyzer{
		opts: opts, text: text.NewHasher(k, opts.Text), edm: edm.NewHasher(k), pdq: pdq.NewKeyer(k),
		walker: archive.Walker{Limits: opts.Archive, Passwords: opts.Passwords},
		ex:     extract.Extractor{Limits: opts.Extract, PDFToText: opts.PDFToText, OCR: opts.OCR},
	}
}

// Mode says whether features are for the reference index or for a query.
type Mode int

// Modes.
const (
	Query Mode = iota
	Reference
)

// Analyze fingerprints data (named name) and every member inside it, calling
// fn once per item, outer item first. Problems with one item are reported in
// its Features.Err; Analyze itself fails only when fn does or ctx ends.
func (a *Analyzer) Analyze(ctx context.Context, name string, data []byte, mode Mode, fn func(Features) error) error {
	return a.analyze(ctx, name, data, mode, 0, fn)
}

func (a *Analyzer) analyze(ctx context.Context, name string, data []byte, mode Mode, depth int, fn func(Features) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f := Features{Path: name, Size: int64(len(data))}
	a.digests(&f, data)
	if archive.IsArchive(data) {
		f.Container = true
		f.Type = extract.SniffAll(data)
		f.Trivial = fingerprints.Trivial(fingerprints.Content{Size: f.Size, SHA256: f.SHA256, Opaque: true})
		if err := fn(f); err != nil {
			return err
		}
		// The walker cleans the labels it builds; the outer name (a URL or a
		// local path) is ours, so it walks under a placeholder and the real
		// name is put back.
		const outer = "outer"
		_, err := a.walker.Walk(ctx, outer, data, func(m archive.Member) error {
			m.Path = name + strings.TrimPrefix(m.Path, outer)
			if m.Err != nil {
				mf := Features{Path: m.Path, Size: m.Size, Err: m.Err}
				mf.Trivial = fingerprints.Trivial(fingerprints.Content{Size: m.Size, Opaque: true})
				return wrapCallback(fn(mf))
			}
			mf := Features{Path: m.Path, Size: int64(len(m.Data))}
			a.digests(&mf, m.Data)
			return wrapCallback(a.leaf(ctx, mf, m.Data, mode, depth+1, fn))
		})
		var cb *callbackError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &cb):
			return cb.err
		case ctx.Err() != nil:
			return ctx.Err()
		}
		// The walk stopped early (a bomb, a corrupt archive): report it as an item.
		return fn(Features{Path: name + "!/", Err: fmt.Errorf("archive: %w", err)})
	}
	return a.leaf(ctx, f, data, mode, depth, fn)
}

// callbackError marks an error returned by fn, so it is passed through
// rather than reported as an archive problem.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }

func wrapCallback(err error) error {
	if err == nil {
		return nil
	}
	return &callbackError{err: err}
}

func (a *Analyzer) digests(f *Features, data []byte) {
	s := sha256.Sum256(data)
	f.SHA256 = hex.EncodeToString(s[:])
	f.CRC32 = crc32.ChecksumIEEE(data)
	if a.opts.HashLists {
		m := md5.Sum(data)
		f.MD5 = hex.EncodeToString(m[:])
		s1 := sha1.Sum(data)
		f.SHA1 = hex.EncodeToString(s1[:])
	}
}

// leaf extracts and fingerprints one non-archive item.
func (a *Analyzer) leaf(ctx context.Context, f Features, data []byte, mode Mode, depth int, fn func(Features) error) error {
	res, err := a.ex.Extract(ctx, data)
	f.Type = res.Type
	f.Warnings = res.Warnings
	if err != nil {
		f.Err = err
		f.Trivial = fingerprints.Trivial(fingerprints.Content{Size: f.Size, SHA256: f.SHA256, Opaque: true})
		return fn(f)
	}
	content := fingerprints.Content{Size: f.Size, SHA256: f.SHA256, Opaque: opaque(res.Type) || len(res.Parts) > 0}
	if norm := text.Normalize(res.Text); len([]rune(norm)) >= a.opts.MinText {
		f.TextLen = len([]rune(norm))
		f.TextDigest = a.text.TextDigest(norm)
		f.Prints = a.text.Winnow(norm)
		if d, err := a.text.TLSH(norm); err == nil {
			f.TLSH = d
		}
		content.Text = true
	}
	for _, img := range res.Images {
		pr, err := pdq.Prepare(img)
		if err != nil {
			f.Warnings = append(f.Warnings, "image: "+err.Error())
			if b := img.Bounds(); b.Dx() >= fingerprints.MinImageSide && b.Dy() >= fingerprints.MinImageSide {
				content.Opaque = true // a picture we could not hash: judged by its size, not dropped
			} else {
				content.TrivialImages++
			}
			continue
		}
		flat, contrast := pr.Flat()
		countImage := func(q int) {
			b := img.Bounds()
			if fingerprints.ImageCounts(b.Dx(), b.Dy(), q, contrast) {
				content.Images++
			} else {
				content.TrivialImages++
			}
		}
		if mode == Reference {
			hs, q := pr.Dihedral()
			countImage(q)
			im := Image{Quality: q}
			add := func(v int, h pdq.Hash) {
				im.Hashes = append(im.Hashes, a.pdq.Key(h))
				im.Variants = append(im.Variants, v)
			}
			for v, h := range hs {
				add(v, h)
			}
			for i, m := range CropMargins {
				h, _ := pr.Crop(m)
				add(8+i, h)
			}
			// A framed reference also matches its unframed copy.
			if tr, ok := pr.Trim(); ok {
				h, tq := tr.Hash()
				add(TrimVariant, h)
				im.Quality = max(im.Quality, tq)
			}
			for i, m := range WideCropMargins {
				h, _ := pr.Crop(m)
				add(WideCropVariant+i, h)
			}
			if q < FlatQualityBound && contrast >= pdq.FlatMinContrast {
				kf := a.pdq.KeyFlat(flat)
				im.Flat, im.FlatContrast = &kf, contrast
			}
			f.Images = append(f.Images, im)
		} else {
			h, q := pr.Hash()
			countImage(q)
			im := Image{Hashes: []pdq.Hash{a.pdq.Key(h)}, How: []string{""}, Quality: q}
			add := func(h pdq.Hash, how string) {
				im.Hashes = append(im.Hashes, a.pdq.Key(h))
				im.How = append(im.How, how)
			}
			// Reposts are framed and captioned: try the query without its
			// frame as well as whole (a framed reference is indexed whole).
			for _, tr := range pr.Trims() {
				th, tq := tr.Hash()
				add(th, "of the image with its border trimmed")
				im.Quality = max(im.Quality, tq)
			}
			if im.Quality >= a.opts.Thresholds.PDQMinQuality {
				// Leak channels stamp their name across what they post.
				dh, _ := pr.Despeckled(despeckleRadius).Hash()
				add(dh, "of the image with thin strokes (text) filtered out")
				// Reposts are cropped on one side (a screenshot, a banner
				// cut off): for each side and share c, cut the same share
				// of the reference's size from the other three sides,
				// which makes a one-sided crop a centre crop the index
				// holds.
				// One trial per centre crop the index holds: a trial
				// between two of them is no nearer to either.
				oneSided := func(p *pdq.Prepared, of string) {
					for side := range 4 {
						for _, c := range slices.Concat(CropMargins, WideCropMargins) {
							var cut [4]float64 // left, top, right, bottom of the query
							cut[(side+1)%4], cut[(side+3)%4] = c, c
							cut[(side+2)%4] = c / (1 - c) // the query side is 1-c of the reference's
							ch, _ := p.CropSides(cut[0], cut[1], cut[2], cut[3])
							add(ch, fmt.Sprintf("of the image%s taken as cropped %.1f%% on the %s", of, c*100, []string{"left", "top", "right", "bottom"}[side]))
						}
					}
				}
				oneSided(pr, "")
				// A frame close in colour to the picture's edge (a dark
				// border round a night sky) comes off with a strip of the
				// picture, and so can the last of a screenshot's frames:
				// that is a one-sided crop too.
				t1, ok := pr.Trim()
				if ok {
					oneSided(t1, " with its border trimmed")
				}
				if tf, ok := pr.TrimFrames(); ok && tf.Bounds() != t1.Bounds() {
					oneSided(tf, " with its frames trimmed")
				}
			}
			if q < FlatQualityBound {
				kf := a.pdq.KeyFlat(flat)
				im.Flat, im.FlatContrast = &kf, contrast
			}
			f.Images = append(f.Images, im)
		}
	}
	if len(res.Records) > 0 {
		recs := make([]edm.Record, len(res.Records))
		for i, r := range res.Records {
			recs[i] = edm.Record{Columns: r.Columns, Values: r.Values}
		}
		f.Rows = a.edm.Rows(recs)
	} else if res.Text != "" {
		f.Rows = a.edm.TextRows(res.Text)
	}
	f.Patients = patients(f.Rows)
	for _, r := range f.Rows {
		if len(r.Fields) >= 2 {
			content.Records++
		}
	}
	f.Trivial = fingerprints.Trivial(content)
	f.Container = len(res.Parts) > 0
	if f.Container && depth >= maxPartDepth {
		// Mail attached to mail attached to mail…: stop where archives stop.
		f.Warnings = append(f.Warnings, fmt.Sprintf("%d attachments not opened: nested deeper than %d", len(res.Parts), maxPartDepth))
		res.Parts = nil
	}
	if err := fn(f); err != nil {
		return err
	}
	for _, p := range res.Parts {
		if err := a.analyze(ctx, f.Path+"!/"+path.Base(p.Name), p.Data, mode, depth+1, fn); err != nil {
			return err
		}
	}
	return nil
}

// opaque reports whether t is a format whose content is not read into
// text, images or records, so the trivial rule judges it by size alone.
func opaque(t extract.Type) bool {
	return t == extract.TypeUnknown || t == extract.TypeOLE || t == extract.TypeEML || t == "" || t.IsArchive()
}

// patients lists the distinct keyed NHIs in rows.
func patients(rows []edm.Row) []string {
	var out []string
	for _, r := range rows {
		if n := r.Fields[edm.FieldNHI]; n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
