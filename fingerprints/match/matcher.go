package match

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/fingerprints/edm"
	"github.com/leakwatch/leakwatch/fingerprints/pdq"
	"github.com/leakwatch/leakwatch/fingerprints/text"
)

// Method names, as reported in matches.
const (
	MethodSHA256     = fingerprints.MethodSHA256
	MethodTextSHA256 = "text-sha256"
	MethodWinnow     = "winnow"
	MethodTLSH       = "tlsh"
	MethodPDQ        = "pdq"
	MethodEDM        = "edm"
	// MethodImageLayout matches low-texture images (flat designs PDQ rates
	// below PDQMinQuality) by their coarse layout (pdq.Flat).
	MethodImageLayout = "image-layout"
)

// Ref is a reference document as the index returns it.
type Ref struct {
	Key    uint64 // the index's key, for recording hits
	ID     string // opaque id shown to users
	Name   string
	Prints int // winnowing fingerprints the reference has
	TLSH   string
	// Trivial: the reference is no evidence by fingerprints.Trivial (an
	// index built before the rule may hold such references): it never
	// matches.
	Trivial bool
}

// Posting says reference Ref contains print Hash.
type Posting struct {
	Hash int64
	Ref  uint64
}

// FieldPosting says row Row of reference Ref has field Field with keyed Hash.
type FieldPosting struct {
	Field string
	Hash  string
	Ref   uint64
	Row   int64
}

// IndexedImage is one stored image fingerprint.
type IndexedImage struct {
	Ref     uint64
	Variant int // Image.Variants: which rotation, crop or trim (FlatVariant: Hash holds a pdq.Flat)
	Hash    pdq.Hash
	Quality int
}

// NearImage is an indexed image hash near a query's.
type NearImage struct {
	IndexedImage
	Distance int
	how      string // which of the query's hashes found it, for the why
}

// variantName describes an indexed image variant for a match's why.
func variantName(v int) string {
	switch {
	case v == pdq.Original:
		return ""
	case v < 8:
		return fmt.Sprintf(" to the reference %s", []string{"", "rotated 90°", "rotated 180°", "rotated 270°", "flipped top to bottom", "mirrored", "transposed", "anti-transposed"}[v])
	case v-8 < len(CropMargins):
		return fmt.Sprintf(" to the reference cropped %.1f%% on each edge", CropMargins[v-8]*100)
	case v == TrimVariant:
		return " to the reference with its border trimmed"
	case v >= WideCropVariant && v-WideCropVariant < len(WideCropMargins):
		return fmt.Sprintf(" to the reference cropped %.0f%% on each edge", WideCropMargins[v-WideCropVariant]*100)
	}
	return fmt.Sprintf(" to variant %d of the reference", v)
}

// Index is the reference index as the matcher reads it; storage provides it.
type Index interface {
	ByDigest(ctx context.Context, column, value string) ([]Ref, error) // column: sha256, md5, sha1, text_digest
	Refs(ctx context.Context, keys []uint64) ([]Ref, error)
	// PrintPostings and FieldPostings return at most max+1 postings per hash;
	// a hash with more is boilerplate and is dropped by the matcher. Each
	// hash's postings should come together (the matcher is fastest then).
	PrintPostings(ctx context.Context, hashes []int64, max int) ([]Posting, error)
	FieldPostings(ctx context.Context, hashes []string, max int) ([]FieldPosting, error)
	// NearImages returns the indexed image hashes within maxDist bits of h.
	NearImages(ctx context.Context, h pdq.Hash, maxDist int) ([]NearImage, error)
	// NearFlats returns the indexed low-texture signatures (variant
	// FlatVariant) that pdq.FlatMatch f.
	NearFlats(ctx context.Context, f pdq.Flat) ([]IndexedImage, error)
	Patients(ctx context.Context, keys []uint64) (map[uint64][]string, error)
	Count(ctx context.Context) (int64, error)
}

// Result is what one item matched.
type Result struct {
	Matches []fingerprints.Match
	// Review lists near-duplicates worth an analyst's look (TLSH distance
	// from TLSHAuto up to TLSHReview) with no match of their own. They
	// are not hits: they open no case and count no patients.
	Review []fingerprints.Match
	// Unmatchable says what in the item was looked at but could not be
	// matched (an image too flat for PDQ), so an analyst knows it was not
	// skipped. Not hits.
	Unmatchable []string
	Refs        int // distinct reference files matched
	Patients    int // distinct patients those references and records concern
	// RefKeys and PatientIDs (keyed) let callers count across many items.
	RefKeys    []uint64
	PatientIDs []string
}

// Matcher compares features with the index.
type Matcher struct {
	idx  Index
	opts Options
}

// NewMatcher returns a matcher over idx.
func NewMatcher(idx Index, opts Options) *Matcher {
	opts.defaults()
	return &Matcher{idx: idx, opts: opts}
}

// precedence orders methods when several fire for one reference: the most
// specific evidence is reported.
var precedence = map[string]int{MethodSHA256: 7, MethodTextSHA256: 6, MethodEDM: 5, MethodPDQ: 4, MethodImageLayout: 3, MethodTLSH: 2, MethodWinnow: 1}

type found struct {
	method string
	score  float64
	why    string
}

// match reports fd as a match with reference r.
func (fd found) match(r Ref) fingerprints.Match {
	return fingerprints.Match{RefKey: r.Key, RefID: r.ID, RefName: r.Name, Method: fd.method, Score: round(fd.score), Why: fd.why}
}

// Match compares one item's features with the index.
func (m *Matcher) Match(ctx context.Context, f Features) (Result, error) {
	if f.Trivial != "" || f.SHA256 == fingerprints.EmptySHA256 {
		return Result{}, nil // an empty download or a one-line page is no evidence of anything
	}
	nrefs, err := m.idx.Count(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("count references: %w", err)
	}
	hits := map[uint64]found{}
	add := func(ref uint64, fd found) {
		if old, ok := hits[ref]; !ok || precedence[fd.method] > precedence[old.method] ||
			(fd.method == old.method && fd.score > old.score) {
			hits[ref] = fd
		}
	}
	groups := map[uint64][]uint64{} // holders of a passage several references share, by winnow match
	review := map[uint64]found{}
	addReview := func(ref uint64, fd found) {
		if old, ok := review[ref]; !ok || fd.score > old.score {
			review[ref] = fd
		}
	}
	var refs map[uint64]Ref // filled by lookups that return refs
	keep := func(rs []Ref) {
		if refs == nil {
			refs = map[uint64]Ref{}
		}
		for _, r := range rs {
			refs[r.Key] = r
		}
	}

	// Exact bytes, against full digests and imported hash lists.
	for _, d := range []struct{ col, val, why string }{
		{"sha256", f.SHA256, "identical bytes (SHA-256)"},
		{"md5", f.MD5, "identical bytes (MD5 from an imported hash list)"},
		{"sha1", f.SHA1, "identical bytes (SHA-1 from an imported hash list)"},
	} {
		if d.val == "" {
			continue
		}
		rs, err := m.idx.ByDigest(ctx, d.col, d.val)
		if err != nil {
			return Result{}, err
		}
		keep(rs)
		for _, r := range rs {
			add(r.Key, found{MethodSHA256, 1, d.why})
		}
	}
	// Same text, different bytes.
	if f.TextDigest != "" {
		rs, err := m.idx.ByDigest(ctx, "text_digest", f.TextDigest)
		if err != nil {
			return Result{}, err
		}
		keep(rs)
		for _, r := range rs {
			add(r.Key, found{MethodTextSHA256, 1, fmt.Sprintf("same text after normalisation (%d characters)", f.TextLen)})
		}
	}
	// Excerpts and near-duplicates.
	if len(f.Prints) > 0 {
		if err := m.winnow(ctx, f, nrefs, add, addReview, keep, groups); err != nil {
			return Result{}, err
		}
	}
	// Photos.
	var unmatchable []string
	for i, qi := range f.Images {
		if qi.Flat != nil && qi.Quality < FlatQualityBound {
			if err := m.flat(ctx, i, qi, add); err != nil {
				return Result{}, err
			}
		}
		if qi.Quality < m.opts.Thresholds.PDQMinQuality || len(qi.Hashes) == 0 {
			// PDQ cannot rate it. A layout with enough contrast went to the
			// layer above; otherwise say so, unless it is blank (trivial,
			// not worth a word).
			lowLayout := qi.Flat == nil || qi.FlatContrast < pdq.FlatMinContrast
			if lowLayout && qi.Quality >= fingerprints.BlankQuality && len(qi.Hashes) > 0 {
				unmatchable = append(unmatchable, fmt.Sprintf("image %d: not matchable (low quality: PDQ quality %d, below %d; layout contrast %d, below %d)", i+1, qi.Quality, m.opts.Thresholds.PDQMinQuality, qi.FlatContrast, pdq.FlatMinContrast))
			}
			continue
		}
		best := map[uint64]NearImage{}
		var near []NearImage
		for j, h := range qi.Hashes {
			n, err := m.idx.NearImages(ctx, h, m.opts.Thresholds.PDQMax)
			if err != nil {
				return Result{}, err
			}
			how := ""
			if j < len(qi.How) && qi.How[j] != "" {
				how = " " + qi.How[j]
			}
			for k := range n {
				n[k].how = how
			}
			near = append(near, n...)
		}
		for _, im := range near {
			if im.Quality < m.opts.Thresholds.PDQMinQuality || im.Variant == FlatVariant {
				continue
			}
			if old, ok := best[im.Ref]; !ok || im.Distance < old.Distance {
				best[im.Ref] = im
			}
		}
		for ref, n := range best {
			add(ref, found{MethodPDQ, 1 - float64(n.Distance)/256, fmt.Sprintf("PDQ distance %d%s%s (threshold %d)", n.Distance, n.how, variantName(n.Variant), m.opts.Thresholds.PDQMax)})
		}
	}
	// Record dumps.
	edmPatients, err := m.edm(ctx, f, nrefs, add)
	if err != nil {
		return Result{}, err
	}

	if len(hits) == 0 && len(edmPatients) == 0 && len(review) == 0 {
		return Result{Unmatchable: unmatchable}, nil // the common case when scanning: nothing to assemble
	}
	// Assemble, with names for every matched reference.
	keys := make([]uint64, 0, len(hits))
	for k := range hits {
		if hits[k].score >= m.opts.Thresholds.MinScore {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var missing []uint64
	for _, k := range keys {
		if _, ok := refs[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		rs, err := m.idx.Refs(ctx, missing)
		if err != nil {
			return Result{}, err
		}
		keep(rs)
	}
	keys = slices.DeleteFunc(keys, func(k uint64) bool { return refs[k].Trivial })
	if len(keys) == 0 && len(edmPatients) == 0 && len(review) == 0 {
		return Result{Unmatchable: unmatchable}, nil
	}
	res := Result{Refs: len(keys), Unmatchable: unmatchable}
	for _, k := range keys {
		res.Matches = append(res.Matches, hits[k].match(refs[k]))
	}
	slices.SortStableFunc(res.Matches, func(a, b fingerprints.Match) int {
		return cmp.Or(cmp.Compare(precedence[b.Method], precedence[a.Method]), cmp.Compare(b.Score, a.Score), cmp.Compare(a.RefID, b.RefID))
	})
	for k, fd := range review {
		if _, matched := hits[k]; matched || refs[k].Trivial {
			continue // it matched outright, or is no evidence
		}
		res.Review = append(res.Review, fd.match(refs[k])) // every review candidate came through keep
	}
	slices.SortFunc(res.Review, func(a, b fingerprints.Match) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.RefID, b.RefID))
	})
	// Patients exposed: every patient of a reference the item reproduces
	// whole; for partial matches only what the item shows. An EDM match
	// counts its matched records (a note quoting one patient's details also
	// matches that patient's row in a 100,000-row list, which it does not
	// expose), and an excerpt counts its reference's patients only when
	// that reference concerns a few patients (a note or a letter).
	var whole []uint64
	for _, k := range keys {
		switch hits[k].method {
		case MethodSHA256, MethodTextSHA256, MethodTLSH, MethodPDQ, MethodImageLayout, MethodWinnow:
			whole = append(whole, k)
		}
	}
	pats, err := m.idx.Patients(ctx, whole)
	if err != nil {
		return Result{}, err
	}
	set := map[string]bool{}
	for k, ps := range pats {
		if hits[k].method == MethodWinnow && (len(ps) > excerptPatients || len(groups[k]) > 1) {
			continue // group passages are counted below, once each
		}
		for _, p := range ps {
			set[p] = true
		}
	}
	for _, p := range passagePatients(keys, hits, groups, pats) {
		set[p] = true
	}
	for _, p := range edmPatients {
		set[p] = true
	}
	res.RefKeys = keys
	res.PatientIDs = make([]string, 0, len(set))
	for p := range set {
		res.PatientIDs = append(res.PatientIDs, p)
	}
	res.Patients = len(set)
	return res, nil
}

// passagePatients counts each passage held by a few references once: the
// patients its holders have in common (a later letter quoting an earlier
// one is about the same patient), or all of theirs when they share none,
// since the passage cannot be placed then. A holder concerning more than
// excerptPatients patients gives none, as for any excerpt.
func passagePatients(keys []uint64, hits map[uint64]found, groups map[uint64][]uint64, pats map[uint64][]string) []string {
	done := map[string]bool{}
	var out []string
	for _, k := range keys {
		group := groups[k]
		if hits[k].method != MethodWinnow || len(group) < 2 {
			continue
		}
		id := fmt.Sprint(group)
		if done[id] {
			continue
		}
		done[id] = true
		var common, union []string
		first := true
		for _, g := range group {
			ps, ok := pats[g]
			if !ok || hits[g].method != MethodWinnow || len(ps) > excerptPatients {
				continue // not matched by this passage, or a many-patient document
			}
			union = append(union, ps...)
			if first {
				common, first = slices.Clone(ps), false
			} else {
				common = slices.DeleteFunc(common, func(p string) bool { return !slices.Contains(ps, p) })
			}
		}
		if len(common) > 0 {
			out = append(out, common...)
		} else {
			out = append(out, union...)
		}
	}
	return out
}

// excerptPatients is how many patients a reference may concern for an
// excerpt of it to count them all.
const excerptPatients = 3

func round(x float64) float64 { return float64(int(x*1000+0.5)) / 1000 }

// winnow matches excerpts by runs of text shared with one reference.
//
// The query's prints are taken in text order. Against a reference R each
// print either extends the current run (R holds it), ends it (R lacks it),
// or is boilerplate (held by more than BoilerplateRefs references, so its
// postings are not fetched and R's membership is unknown): template text
// next to or inside a run is presumed shared, so it lengthens the run, but
// it is no evidence and never makes a run alone. R matches when one run
// spans at least WinnowMinRun characters of the query's normalised text,
// from its first print to the end of its last, and splits into at least
// WinnowMinUnique disjoint stretches of consecutive shared prints each held
// by R alone. A run made only of template sentences is often held by a
// single reference when few are indexed (the combination is rare, not the
// text), but it rarely stays unique stretch by stretch; a pasted excerpt
// carries its own dates, names and values. Uniqueness only gets harder as
// the index grows, so the rule does not loosen with it.
//
// A passage a few references hold verbatim (a later letter quoting an
// earlier one) has no stretch in one reference alone, yet it is the
// breach's text whichever holds it. So a run of the same length whose
// stretches each close on at most "few" references together (WinnowMaxHolders,
// capped at an eighth of the boilerplate bound) matches every holder too,
// when at least half its prints are themselves held by that few: a rare
// combination of template sentences has rare joins but common text.
//
// References sharing WinnowMinShared prints found in at most
// max(1, refs/1000) references are also checked for near-duplicate text
// (TLSH).
func (m *Matcher) winnow(ctx context.Context, f Features, nrefs int64, add, addReview func(uint64, found), keep func([]Ref), groups map[uint64][]uint64) error {
	th := m.opts.Thresholds
	hashes := make([]int64, 0, len(f.Prints))
	for _, p := range f.Prints {
		hashes = append(hashes, int64(p.Hash))
	}
	slices.Sort(hashes)
	hashes = slices.Compact(hashes)
	limit := th.BoilerplateRefs
	if limit <= 0 {
		limit = max(64, int(nrefs/1000))
	}
	posts, err := m.idx.PrintPostings(ctx, hashes, limit)
	if err != nil {
		return err
	}
	// Sized up front: growing these maps was a tenth of a text file's scan.
	holders := make(map[int64][]uint64, len(hashes)) // sorted references per print, boilerplate removed
	all := make([]uint64, len(posts))                // backs holders: postings come grouped by hash
	for i := 0; i < len(posts); {
		h, j := posts[i].Hash, i
		for ; j < len(posts) && posts[j].Hash == h; j++ {
			all[j] = posts[j].Ref
		}
		if rs, ok := holders[h]; ok {
			holders[h] = append(rs, all[i:j]...) // not grouped after all
		} else {
			holders[h] = all[i:j:j]
		}
		i = j
	}
	rare := max(1, int(nrefs/1000))
	shared := make(map[uint64]int, len(posts)/2) // non-boilerplate prints each reference holds
	rareShared := map[uint64]int{}
	for h, rs := range holders {
		if len(rs) > limit {
			holders[h] = nil
			continue
		}
		slices.Sort(rs)
		rs = slices.Compact(rs)
		holders[h] = rs
		for _, r := range rs {
			shared[r]++
			if len(rs) <= rare {
				rareShared[r]++
			}
		}
	}
	boiler := func(h int64) bool { _, ok := holders[h]; return ok && holders[h] == nil }

	prints := slices.Clone(f.Prints)
	slices.SortStableFunc(prints, func(a, b text.Print) int { return cmp.Compare(a.Pos, b.Pos) })
	k := m.opts.Text.K
	if k <= 0 {
		k = text.DefaultK
	}
	// A passage held by a few references: "a few" stays well below the
	// boilerplate bound, so text held by many is never evidence.
	few := min(th.WinnowMaxHolders, limit/8)
	best := bestRuns(prints, holders, boiler, k, th.WinnowMinUnique, few, func(ref uint64) bool {
		return shared[ref] >= th.WinnowMinUnique // each unique stretch needs a print of its own
	})
	runs := map[uint64]run{}
	var cand []uint64
	for ref := range shared {
		if r := best[ref]; r.span >= th.WinnowMinRun && r.unique >= th.WinnowMinUnique {
			runs[ref] = r
			cand = append(cand, ref)
		} else if r := best[ref].group; r != nil && r.span >= th.WinnowMinRun && r.unique >= th.WinnowMinUnique {
			runs[ref] = *r
			cand = append(cand, ref)
		} else if rareShared[ref] >= th.WinnowMinShared && f.TLSH != "" {
			cand = append(cand, ref) // TLSH only
		}
	}
	if len(cand) == 0 {
		return nil
	}
	slices.Sort(cand)
	rs, err := m.idx.Refs(ctx, cand)
	if err != nil {
		return fmt.Errorf("winnow candidates: %w", err)
	}
	keep(rs)
	for _, r := range rs {
		n := shared[r.Key]
		containment := 1.0
		if r.Prints > 0 {
			containment = min(1, float64(n)/float64(r.Prints))
		}
		why := fmt.Sprintf("containment %.2f over %d shared fingerprints", containment, n)
		if run, ok := runs[r.Key]; ok {
			if len(run.holders) > 1 {
				groups[r.Key] = run.holders
				add(r.Key, found{MethodWinnow, containment, fmt.Sprintf("%s; shared run of %d characters, also held by %d other references (%d stretches of it held by these alone)",
					why, run.span, len(run.holders)-1, run.unique)})
			} else {
				add(r.Key, found{MethodWinnow, containment, fmt.Sprintf("%s; shared run of %d characters, %d stretches of it in no other reference",
					why, run.span, run.unique)})
			}
		}
		// Near-duplicate check on the same candidates.
		if f.TLSH != "" && r.TLSH != "" {
			d, err := text.TLSHDistance(f.TLSH, r.TLSH)
			score := max(0, 1-float64(d)/float64(th.TLSHReview))
			switch {
			case err != nil:
			case d < th.TLSHAuto:
				add(r.Key, found{MethodTLSH, score, fmt.Sprintf("TLSH distance %d; %s", d, why)})
			case d < th.TLSHReview:
				addReview(r.Key, found{MethodTLSH, score, fmt.Sprintf("TLSH distance %d, for review (a match below %d); %s", d, th.TLSHAuto, why)})
			}
		}
	}
	return nil
}

// run is a stretch of query text whose prints one reference shares.
type run struct {
	span   int // normalised characters from the first shared print to the end of the last
	unique int // disjoint stretches of consecutive shared prints held by no other reference
	// group is the best run counted the same way when each stretch may be
	// held by up to a few references together (a passage one document
	// quotes from another); its holders are those references, sorted.
	group   *run
	holders []uint64
}

// bestRuns returns, for each reference holding one of the query's prints
// that consider accepts, its best run: the longest with at least want
// unique stretches, or else the one with the most (see winnow for runs and
// stretches). prints are in text order; holders gives each
// non-boilerplate print's references, sorted; boiler says whether a print
// is boilerplate. With few >= 2 it also finds each reference's best group
// run, whose stretches may be held by up to few references together.
//
// It walks each reference's own prints, not all prints per reference: a
// template sentence can be held by dozens of references, and their runs
// are decided by where the prints they lack fall, which two prefix tables
// answer (the nearest non-boilerplate print before and after each print).
func bestRuns(prints []text.Print, holders map[int64][]uint64, boiler func(int64) bool, k, want, few int, consider func(uint64) bool) map[uint64]run {
	n := len(prints)
	solid := make([]bool, n) // not boilerplate: it either extends a run or breaks it
	for i, p := range prints {
		solid[i] = !boiler(int64(p.Hash))
	}
	prev, next := make([]int32, n), make([]int32, n)
	last := int32(-1)
	for i := range n {
		prev[i] = last
		if solid[i] {
			last = int32(i)
		}
	}
	last = int32(n)
	for i := n - 1; i >= 0; i-- {
		next[i] = last
		if solid[i] {
			last = int32(i)
		}
	}
	held := map[uint64][]int32{} // each reference's prints, in text order
	fewHeld := map[uint64]bool{} // references sharing a print with a few others: only they can have a group run
	for i, p := range prints {
		if !solid[i] {
			continue
		}
		rs := holders[int64(p.Hash)]
		for _, r := range rs {
			if consider(r) {
				held[r] = append(held[r], int32(i))
				if len(rs) >= 2 && len(rs) <= few {
					fewHeld[r] = true
				}
			}
		}
	}
	out := make(map[uint64]run, len(held))
	for ref, idx := range held {
		var best, bestGroup run
		group := few >= 2 && fewHeld[ref]
		for s := 0; s < len(idx); {
			// A run goes on while no solid print lies between two of ref's.
			e := s
			for e+1 < len(idx) && next[idx[e]] == idx[e+1] {
				e++
			}
			// Boilerplate since the break before and up to the break after
			// lengthens it.
			first, end := prev[idx[s]]+1, next[idx[e]]-1
			cur := run{span: int(prints[end].Pos) + k - int(prints[first].Pos)}
			grp := run{span: cur.span}
			var common, gcommon []uint64 // references holding every print of the open stretch (alone, in a group)
			rare := 0                    // prints held by a few references at most
			for _, i := range idx[s : e+1] {
				rs := holders[int64(prints[i].Hash)]
				if common == nil {
					common = slices.Clone(rs)
				} else {
					common = intersect(common, rs)
				}
				if len(common) == 1 { // only ref: a stretch closes
					cur.unique++
					common = nil
				}
				if !group {
					continue
				}
				if len(rs) <= few {
					rare++
				}
				if gcommon == nil {
					gcommon = slices.Clone(rs)
				} else {
					gcommon = intersect(gcommon, rs)
				}
				if len(gcommon) <= few { // ref and a few others: a stretch closes
					grp.unique++
					grp.holders = union(grp.holders, gcommon)
					gcommon = nil
				}
			}
			if betterRun(cur, best, want) {
				best = cur
			}
			// A group run must be mostly text held by a few, not template
			// sentences whose combination happens to be rare.
			if group && 2*rare >= e+1-s && betterRun(grp, bestGroup, want) {
				bestGroup = grp
			}
			s = e + 1
		}
		if bestGroup.unique > 0 {
			best.group = &bestGroup
		}
		out[ref] = best
	}
	return out
}

// union returns the sorted union of sorted a and b.
func union(a, b []uint64) []uint64 {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// betterRun prefers a run with enough unique stretches, then the longer,
// then the one with more stretches.
func betterRun(a, b run, want int) bool {
	if (a.unique >= want) != (b.unique >= want) {
		return a.unique >= want
	}
	return a.span > b.span || (a.span == b.span && a.unique > b.unique)
}

// intersect returns the elements of sorted a that are also in sorted b,
// reusing a.
func intersect(a, b []uint64) []uint64 {
	out := a[:0]
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// edm matches record dumps: a row matches a reference row when they share at
// least EDMMinFields distinct fields, one of them the NHI or e-mail (the
// NHI's checksum is weak, so it is never enough alone).
//
// The work is linear in the postings fetched, whatever the dump's size: the
// reference rows holding each query value are grouped by row once, and
// each query row then looks only at the rows its NHI or e-mail names (a
// leaked list of 100,000 patients is one item).
func (m *Matcher) edm(ctx context.Context, f Features, nrefs int64, add func(uint64, found)) ([]string, error) {
	if len(f.Rows) == 0 {
		return nil, nil
	}
	var hashes []string
	for _, r := range f.Rows {
		for _, h := range r.Fields {
			hashes = append(hashes, h)
		}
	}
	slices.Sort(hashes)
	hashes = slices.Compact(hashes)
	// A value in many reference rows is not one patient's: a practice's
	// e-mail or phone in every letterhead would otherwise tie all its
	// letters together. A patient's own NHI appears in each of their
	// documents, hence a bound that grows with the index, up to 1,000.
	limit := max(25, min(1000, int(nrefs/50)))
	posts, err := m.idx.FieldPostings(ctx, hashes, limit)
	if err != nil {
		return nil, err
	}
	type refRow struct {
		ref uint64
		row int64
	}
	type value struct{ field, hash string }
	df := map[string]int{}
	for _, p := range posts {
		df[p.Hash]++
	}
	held := map[refRow][]value{}   // the query's values each reference row holds
	named := map[string][]refRow{} // reference rows holding each primary value
	for _, p := range posts {
		if df[p.Hash] > limit {
			continue
		}
		k := refRow{p.Ref, p.Row}
		held[k] = append(held[k], value{p.Field, p.Hash})
		if p.Field == string(edm.FieldNHI) || p.Field == string(edm.FieldEmail) {
			named[p.Hash] = append(named[p.Hash], k)
		}
	}
	matchedRows := map[uint64]int{}
	var pats []string
	for _, qr := range f.Rows {
		var cands []refRow
		for _, field := range []edm.Field{edm.FieldNHI, edm.FieldEmail} {
			if h := qr.Fields[field]; h != "" {
				cands = append(cands, named[h]...)
			}
		}
		seen := map[uint64]bool{}
		for _, k := range cands {
			if seen[k.ref] {
				continue
			}
			var fields []string
			for _, v := range held[k] {
				if qr.Fields[edm.Field(v.field)] == v.hash && !slices.Contains(fields, v.field) {
					fields = append(fields, v.field)
				}
			}
			if len(fields) >= m.opts.Thresholds.EDMMinFields {
				seen[k.ref] = true
				matchedRows[k.ref]++
				if n := qr.Fields[edm.FieldNHI]; n != "" {
					pats = append(pats, n)
				}
			}
		}
	}
	for ref, n := range matchedRows {
		// A patient list also shares one row with each of those patients'
		// letters; only a reference holding a real share of the dump's records
		// (or many of them) is its source. Patients are counted either way.
		if frac := float64(n) / float64(len(f.Rows)); frac < 0.3 && n < 20 {
			continue
		}
		add(ref, found{MethodEDM, min(1, float64(n)/float64(len(f.Rows))), fmt.Sprintf("%d of %d records match (NHI or e-mail plus another field)", n, len(f.Rows))})
	}
	return pats, nil
}

// flat matches image i of an item by its layout signature. Only images with enough contrast take
// part: a near-uniform one shares its layout with every other.
func (m *Matcher) flat(ctx context.Context, i int, qi Image, add func(uint64, found)) error {
	if qi.FlatContrast < pdq.FlatMinContrast {
		return nil
	}
	near, err := m.idx.NearFlats(ctx, *qi.Flat)
	if err != nil {
		return err
	}
	best := map[uint64]float64{}
	for _, n := range near {
		_, mean := pdq.FlatDistance(*qi.Flat, pdq.Flat(n.Hash))
		if old, ok := best[n.Ref]; !ok || mean < old {
			best[n.Ref] = mean
		}
	}
	for ref, mean := range best {
		add(ref, found{MethodImageLayout, 1 - mean/255, fmt.Sprintf("image %d: low-texture layout within %.1f luma levels of the reference's (%dx%d cells; at most %d per cell, %d on average)", i+1, mean, pdq.FlatCols, pdq.FlatRows, pdq.FlatMaxCellDiff, pdq.FlatMaxMeanDiff)})
	}
	return nil
}
