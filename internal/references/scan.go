package references

import (
	"bytes"
	"context"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/fingerprints/memindex"
	"github.com/leakwatch/leakwatch/storage"
)

// ItemResult is what one scanned item (a file, or a member inside one)
// matched. Its JSON is the `scan --json` line contract.
type ItemResult struct {
	Path     string               `json:"path"`
	SHA256   string               `json:"sha256,omitempty"`
	Type     string               `json:"type,omitempty"`
	Matches  []fingerprints.Match `json:"matches"`
	Review   []fingerprints.Match `json:"review,omitempty"` // near-duplicates for an analyst; not hits
	Refs     int                  `json:"refs"`             // reference files this item exposes
	Patients int                  `json:"patients"`         // patients they concern
	// Unmatchable: what was looked at but cannot be matched, e.g. "image 1:
	// not matchable (low quality …)"; not hits.
	Unmatchable []string `json:"unmatchable,omitempty"`
	Error       string   `json:"error,omitempty"`

	refKeys  []uint64
	patients []string
}

// Totals counts what a whole capture (all its items) exposes.
type Totals struct {
	Items, Matched, Errors int
	refs                   map[uint64]bool
	patients               map[string]bool
}

// Refs is the number of distinct reference files matched.
func (t *Totals) Refs() int { return len(t.refs) }

// Patients is the number of distinct patients concerned.
func (t *Totals) Patients() int { return len(t.patients) }

// Add counts one item.
func (t *Totals) Add(r ItemResult) {
	if t.refs == nil {
		t.refs, t.patients = map[uint64]bool{}, map[string]bool{}
	}
	t.Items++
	if r.Error != "" {
		t.Errors++
	}
	if len(r.Matches) > 0 {
		t.Matched++
	}
	for _, k := range r.refKeys {
		t.refs[k] = true
	}
	for _, p := range r.patients {
		t.patients[p] = true
	}
}

// Scanner matches files against the reference index. It is safe for
// concurrent use.
//
// It matches against an in-memory snapshot of the index (package
// memindex), loaded when it is made and reloaded when another process
// changes the index: at most every RefreshEvery it reads the database's
// index generation, one small query, and on a change one caller loads a
// new snapshot while the others go on with the old one.
type Scanner struct {
	an       *match.Analyzer
	opts     match.Options
	store    *storage.Store
	segs     *Segments
	maxBytes int64

	snap    atomic.Pointer[snapshot]
	checked atomic.Int64 // UnixNano of the last generation check
	reload  sync.Mutex   // one reload at a time
}

// RefreshEvery is how often a Scanner looks for index changes.
const RefreshEvery = 2 * time.Second

type snapshot struct {
	gen  int64
	idx  *memindex.Index
	m    *match.Matcher
	load LoadInfo
}

// LoadInfo describes the snapshot a Scanner matches against: its
// generation, when and how fast it was loaded, its size, and its segment
// files (mapped, not on the heap). Metrics and /readyz report it.
type LoadInfo struct {
	Generation   int64
	LoadedAt     time.Time
	Took         time.Duration
	Stats        memindex.Stats
	Segments     int
	SegmentBytes int64
}

// NewScanner checks the key against the index, loads the index and
// returns a scanner.
func NewScanner(ctx context.Context, store *storage.Store, key *fingerprints.Key, opts match.Options, maxBytes int64) (*Scanner, error) {
	if err := CheckKey(ctx, store, key); err != nil {
		return nil, err
	}
	if maxBytes <= 0 {
		maxBytes = 256 << 20
	}
	s := &Scanner{an: match.NewAnalyzer(key, opts), opts: opts, store: store, segs: OpenSegments(store, key), maxBytes: maxBytes}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Scanner) load(ctx context.Context) error {
	start := time.Now()
	idx, gen, err := LoadIndex(ctx, s.store, s.segs)
	if err != nil {
		return err
	}
	li := LoadInfo{Generation: gen, LoadedAt: time.Now(), Took: time.Since(start), Stats: idx.Stats()}
	li.Segments, li.SegmentBytes = s.segs.size()
	s.snap.Store(&snapshot{gen: gen, idx: idx, m: match.NewMatcher(idx, s.opts), load: li})
	s.checked.Store(time.Now().UnixNano())
	return nil
}

// matcher returns the current snapshot's matcher, reloading first if the
// index changed since it was loaded.
func (s *Scanner) matcher(ctx context.Context) (*match.Matcher, error) {
	cur := s.snap.Load()
	last := s.checked.Load()
	now := time.Now().UnixNano()
	if now-last < int64(RefreshEvery) || !s.checked.CompareAndSwap(last, now) {
		return cur.m, nil
	}
	gen, err := s.store.IndexGeneration(ctx)
	if err != nil {
		return nil, err
	}
	if gen == cur.gen {
		return cur.m, nil
	}
	s.reload.Lock()
	defer s.reload.Unlock()
	if s.snap.Load() != cur { // someone else reloaded meanwhile
		return s.snap.Load().m, nil
	}
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	return s.snap.Load().m, nil
}

// Refresh reloads the index now if it changed (for callers that just
// changed it themselves and cannot wait for RefreshEvery).
func (s *Scanner) Refresh(ctx context.Context) error {
	s.checked.Store(0)
	_, err := s.matcher(ctx)
	return err
}

// Close unmaps the index's segment files. The scanner must not be used
// after.
func (s *Scanner) Close() error { return s.segs.Close() }

// Generation is the index generation the scanner matches against now.
func (s *Scanner) Generation() int64 { return s.snap.Load().gen }

// LoadInfo describes the index snapshot being matched against now.
func (s *Scanner) LoadInfo() LoadInfo { return s.snap.Load().load }

// IndexStats reports the size of the snapshot being matched against.
func (s *Scanner) IndexStats() memindex.Stats { return s.snap.Load().idx.Stats() }

// Scan fingerprints data and every member inside it and matches each item,
// calling fn per item (outer item first).
func (s *Scanner) Scan(ctx context.Context, name string, data []byte, fn func(ItemResult) error) error {
	return s.an.Analyze(ctx, name, data, match.Query, func(f match.Features) error {
		r, err := s.match(ctx, f)
		if err != nil {
			return err // the index failed, not the item
		}
		return fn(r)
	})
}

// match matches one item's features and reports it as an ItemResult.
func (s *Scanner) match(ctx context.Context, f match.Features) (ItemResult, error) {
	r := ItemResult{Path: f.Path, SHA256: f.SHA256, Type: string(f.Type), Matches: []fingerprints.Match{}}
	if f.Err != nil {
		r.Error = f.Err.Error()
	}
	m, err := s.matcher(ctx)
	if err != nil {
		return r, err
	}
	res, err := m.Match(ctx, f)
	if err != nil {
		return r, err
	}
	if len(res.Matches) > 0 {
		r.Matches = res.Matches
	}
	r.Review = res.Review
	r.Unmatchable = res.Unmatchable
	r.Refs, r.Patients, r.refKeys, r.patients = res.Refs, res.Patients, res.RefKeys, res.PatientIDs
	return r, nil
}

// ScanReader reads up to the analysis cap and scans it; a larger input is
// matched by SHA-256 only, streaming.
func (s *Scanner) ScanReader(ctx context.Context, name string, r io.Reader, fn func(ItemResult) error) error {
	buf, err := io.ReadAll(io.LimitReader(r, s.maxBytes+1))
	if err != nil {
		return fn(ItemResult{Path: name, Matches: []fingerprints.Match{}, Error: err.Error()})
	}
	if int64(len(buf)) <= s.maxBytes {
		return s.Scan(ctx, name, buf, fn)
	}
	d, err := fingerprints.Sum(io.MultiReader(bytes.NewReader(buf), r), 0)
	if err != nil {
		return fn(ItemResult{Path: name, Matches: []fingerprints.Match{}, Error: err.Error()})
	}
	return s.ScanDigest(ctx, name, d, fn)
}

// ScanDigest matches only a SHA-256 (inputs too large to analyse).
func (s *Scanner) ScanDigest(ctx context.Context, name string, d fingerprints.Digest, fn func(ItemResult) error) error {
	r, err := s.match(ctx, match.Features{Path: name, SHA256: d.SHA256, Size: d.Size})
	if err != nil {
		return err
	}
	return fn(r)
}
