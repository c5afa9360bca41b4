// Package references builds the reference index — the keyed fingerprints of
// the breach's known documents — and matches files against it. Content is
// read, fingerprinted and dropped; only fingerprints reach the database.
package references

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/storage"
)

// ErrKeyMismatch means the index was built with another fingerprint key.
var ErrKeyMismatch = errors.New("fingerprint key does not match the index")

// ErrSchemeMismatch means the index was built by a leakwatch whose
// fingerprints mean something else (see match.Scheme).
var ErrSchemeMismatch = errors.New("fingerprint index is from another version of leakwatch")

// CheckKey binds the index to key and to match.Scheme on first use and
// refuses any other key or scheme afterwards: fingerprints made with two
// keys, or by two versions of a hasher, never match each other, so mixing
// them would silently blind the matcher.
func CheckKey(ctx context.Context, store *storage.Store, key *fingerprints.Key) error {
	scheme, err := store.Setting(ctx, storage.SettingFingerprintScheme)
	if err != nil {
		return err
	}
	got, err := store.ClaimSetting(ctx, storage.SettingFingerprintKeyID, key.ID())
	if err != nil {
		return err
	}
	if got != key.ID() {
		return fmt.Errorf("%w: the index was built with key %s but this key is %s; use the original key (or rebuild the index into a new database)", ErrKeyMismatch, got, key.ID())
	}
	if scheme == "" {
		var n int64
		if n, err = store.CountReferences(ctx); err != nil {
			return err
		}
		if n > 0 {
			scheme = "1" // indexes from before the scheme was recorded
		} else if scheme, err = store.ClaimSetting(ctx, storage.SettingFingerprintScheme, match.Scheme); err != nil {
			return err
		}
	}
	if scheme != match.Scheme {
		return fmt.Errorf("%w: it holds fingerprint scheme %s and this build makes scheme %s; index the references again into a new database", ErrSchemeMismatch, scheme, match.Scheme)
	}
	return nil
}

// Options control an import.
type Options struct {
	Key      *fingerprints.Key
	NoNames  bool // store no file names (only keyed path MACs, for resuming)
	Workers  int  // 0 = one per CPU
	MaxBytes int64
	Match    match.Options
	// Progress, if set, is called from one goroutine as files complete.
	Progress func(Progress)
	// Report, if set, is told about each file that could not be read.
	Report func(path string, err error)
	// Trivial, if set, is told about each file or archive member skipped
	// as no evidence (fingerprints.Trivial), one call at a time. name is
	// the path under the directory, or with NoNames the file's keyed path
	// MAC.
	Trivial func(name string, reason fingerprints.TrivialReason)
	// SegmentPrints is how many prints go to one segment file before the
	// import starts another; 0 is segmentPostings.
	SegmentPrints int64
}

// Progress is a running count.
type Progress struct {
	Files, Done, Skipped, Failed int
	Bytes, DoneBytes             int64
}

// Stats summarise an import.
type Stats struct {
	Files     int // regular files found
	Added     int // files fingerprinted now
	Unchanged int // skipped: same path, size and modification time as before
	Failed    int // unreadable files
	// Trivial counts files skipped as no evidence, by reason
	// (fingerprints.Trivial); TrivialMembers, archive members and
	// attachments skipped inside files that were indexed.
	Trivial, TrivialMembers map[fingerprints.TrivialReason]int
	Items                   int // references stored, including archive members
	Bytes                   int64
	Elapsed                 time.Duration
}

type file struct {
	path, rel string
	size      int64
	mtime     int64
}

type result struct {
	f       file
	batch   []storage.NewReference
	err     error
	skip    bool
	trivial fingerprints.TrivialReason   // the whole file was skipped, why
	members []fingerprints.TrivialReason // members skipped
}

// Import fingerprints every regular file under dir into the index, in
// parallel, resuming where an earlier run stopped: unchanged files are
// skipped, changed ones replaced.
func Import(ctx context.Context, store *storage.Store, dir string, opts Options) (Stats, error) {
	start := time.Now()
	st := Stats{Trivial: map[fingerprints.TrivialReason]int{}, TrivialMembers: map[fingerprints.TrivialReason]int{}}
	if opts.Key == nil {
		return st, errors.New("refs add: no fingerprint key")
	}
	if err := CheckKey(ctx, store, opts.Key); err != nil {
		return st, err
	}
	// One import at a time writes segments here; what a crashed one left
	// half-written is swept first.
	unlock, err := lockIndexDir(store.IndexDir())
	if err != nil {
		return st, err
	}
	defer unlock()
	// An index from before segments is moved into one first: the new
	// prints go to segments, and one index is never in two forms.
	if _, err := migrateLegacy(ctx, store, opts.Key, nil); err != nil {
		return st, err
	}
	ready, err := readySet(ctx, store)
	if err != nil {
		return st, err
	}
	info, err := os.Stat(dir)
	if err != nil {
		return st, fmt.Errorf("refs add: %w", err)
	}
	if !info.IsDir() {
		return st, fmt.Errorf("refs add: %s is not a directory", dir)
	}
	report := opts.Report
	if report == nil {
		report = func(string, error) {}
	}
	var files []file
	var total int64
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			st.Failed++
			report(p, err)
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			st.Failed++
			report(p, err)
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		files = append(files, file{path: p, rel: filepath.ToSlash(rel), size: fi.Size(), mtime: fi.ModTime().UnixNano()})
		total += fi.Size()
		return ctx.Err()
	})
	if err != nil {
		return st, fmt.Errorf("refs add %s: %w", dir, err)
	}
	st.Files = len(files)

	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	an := match.NewAnalyzer(opts.Key, opts.Match)
	if report := opts.Trivial; report != nil {
		// Files are fingerprinted in parallel; the caller's func is not
		// expected to be safe for that.
		var mu sync.Mutex
		opts.Trivial = func(name string, why fingerprints.TrivialReason) {
			mu.Lock()
			defer mu.Unlock()
			report(name, why)
		}
	}

	// g runs fingerprinting and saving beside the writer loop below. A failed
	// save cancels gctx, which stops the fingerprinting; the files still in
	// flight come back (as failed) and are drained unsaved.
	g, gctx := errgroup.WithContext(ctx)
	results := make(chan result, workers*2)
	g.Go(func() error {
		defer close(results)
		var work errgroup.Group // bounds and waits only: per-file errors travel in results
		work.SetLimit(workers)
		for _, f := range files {
			if gctx.Err() != nil {
				break
			}
			work.Go(func() error {
				results <- fingerprintFile(gctx, store, an, f, opts, ready)
				return nil
			})
		}
		return work.Wait()
	})

	// One writer batches many files per transaction: SQLite has one writer
	// anyway, and per-file transactions would dominate the import. Saving
	// runs on its own goroutine so fingerprinting goes on while a batch is
	// saved.
	saves := make(chan []storage.NewReference, 1)
	var written []uint64 // segments this import made
	sw := &segmentWriter{store: store, keyID: segmentKeyID(opts.Key), onDone: func(id uint64) {
		ready.add(id)
		written = append(written, id)
	}}
	g.Go(func() error {
		for b := range saves {
			// Every reference of a file goes to the segment its prints
			// are written to: it counts as indexed (is skipped by the next
			// import) only once that segment is complete.
			seg, err := sw.next(gctx)
			if err != nil {
				sw.abort()
				return err
			}
			for i := range b {
				b[i].Ref.Segment = seg
			}
			if err := store.SaveReferences(gctx, b); err != nil {
				sw.abort()
				return fmt.Errorf("save: %w", err)
			}
			if err := sw.add(b); err != nil {
				sw.abort()
				return err
			}
			if limit := opts.SegmentPrints; sw.n >= segmentPostings || (limit > 0 && sw.n >= limit) {
				if err := sw.finish(gctx, store.FinishSegment); err != nil {
					sw.abort()
					return err
				}
			}
		}
		if err := sw.finish(gctx, store.FinishSegment); err != nil {
			sw.abort()
			return err
		}
		return nil
	})
	save := func(b []storage.NewReference) {
		select {
		case saves <- b:
		case <-gctx.Done(): // the saver may be gone (it failed, or ctx ended): drop the batch
		}
	}
	prog := Progress{Files: len(files), Bytes: total, Failed: st.Failed}
	var pending []storage.NewReference
	for r := range results {
		prog.Done++
		prog.DoneBytes += r.f.size
		switch {
		case r.skip:
			st.Unchanged++
			prog.Skipped++
		case r.err != nil:
			st.Failed++
			prog.Failed++
			report(r.f.path, r.err)
		case r.trivial != "":
			st.Trivial[r.trivial]++
		default:
			for _, why := range r.members {
				st.TrivialMembers[why]++
			}
			st.Added++
			st.Bytes += r.f.size
			st.Items += len(r.batch)
			// Parent indexes are relative to the file's own entries.
			base := len(pending)
			for _, nr := range r.batch {
				if nr.ParentIndex >= 0 {
					nr.ParentIndex += base
				}
				pending = append(pending, nr)
			}
			if len(pending) >= 500 {
				save(pending)
				pending = nil
			}
		}
		if opts.Progress != nil {
			opts.Progress(prog)
		}
	}
	if len(pending) > 0 {
		save(pending)
	}
	close(saves)
	err = g.Wait()
	if err == nil && ctx.Err() == nil && len(written) > 1 {
		// A big import wrote several segments so that it was usable, and
		// lost little to a crash, as it went; merged, every print is one
		// lookup instead of one per segment (lookups are what matching
		// spends its time on at breach scale).
		_, err = mergeSegments(ctx, store, opts.Key, written)
	}
	if err == nil && ctx.Err() == nil {
		if segs, serr := store.ReadySegments(ctx); serr != nil {
			err = serr
		} else if len(segs) > compactOver {
			_, err = compact(ctx, store, opts.Key)
		}
	}
	st.Elapsed = time.Since(start)
	if err != nil && ctx.Err() == nil {
		return st, fmt.Errorf("refs add: %w", err)
	}
	return st, ctx.Err()
}

// readyIDs are the ids of the ready segments, as an import sees them grow
// (not to be confused with Segments, the files a scanner maps).
type readyIDs struct {
	mu  sync.Mutex
	ids map[uint64]bool
}

func readySet(ctx context.Context, store *storage.Store) (*readyIDs, error) {
	segs, err := store.ReadySegments(ctx)
	if err != nil {
		return nil, err
	}
	s := &readyIDs{ids: map[uint64]bool{}}
	for _, rs := range segs {
		s.ids[rs.ID] = true
	}
	return s, nil
}

func (s *readyIDs) add(id uint64) {
	s.mu.Lock()
	s.ids[id] = true
	s.mu.Unlock()
}

// has reports whether id is ready; 0 (no segment) always is.
func (s *readyIDs) has(id uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return id == 0 || s.ids[id]
}

// fingerprintFile reads one file and turns it (and its members) into
// references, or reports that it is unchanged since the last import.
func fingerprintFile(ctx context.Context, store *storage.Store, an *match.Analyzer, f file, opts Options, ready *readyIDs) result {
	mac := hex.EncodeToString(opts.Key.MAC("ref-path", []byte(f.rel)))
	old, ok, err := store.ReferenceByPathMAC(ctx, mac)
	if err != nil {
		return result{f: f, err: err}
	}
	// Unchanged, and its prints are in a complete segment (an import that
	// died mid-segment left its references without theirs).
	if ok && old.Size == f.size && old.MTime == f.mtime && ready.has(old.Segment) {
		return result{f: f, skip: true}
	}
	maxBytes := opts.MaxBytes
	if maxBytes <= 0 {
		maxBytes = 256 << 20
	}
	name := f.rel
	if opts.NoNames {
		name = ""
	}
	if f.size > maxBytes {
		// Too big to parse in memory: exact-copy matching only.
		d, err := digestFile(f.path)
		if err != nil {
			return result{f: f, err: err}
		}
		ref := storage.Reference{Name: name, Size: f.size, SHA256: d.SHA256, Kind: "large", PathMAC: mac, MTime: f.mtime,
			Error: fmt.Sprintf("larger than %d bytes: matched by SHA-256 only", maxBytes)}
		return result{f: f, batch: []storage.NewReference{{Ref: ref, ParentIndex: -1}}}
	}
	data, err := os.ReadFile(f.path)
	if err != nil {
		return result{f: f, err: err}
	}
	var (
		batch   []storage.NewReference
		outer   fingerprints.TrivialReason
		members []fingerprints.TrivialReason
	)
	trivial := func(label string, why fingerprints.TrivialReason) {
		if opts.Trivial == nil {
			return
		}
		if opts.NoNames {
			label = mac
		}
		opts.Trivial(label, why)
	}
	err = an.Analyze(ctx, f.rel, data, match.Reference, func(ft match.Features) error {
		switch {
		case outer != "":
			return nil // the file itself is no evidence: nothing in it is indexed
		case ft.Trivial != "" && len(batch) == 0:
			outer = ft.Trivial
			trivial(f.rel, ft.Trivial)
			return nil
		case ft.Trivial != "":
			members = append(members, ft.Trivial)
			trivial(ft.Path, ft.Trivial)
			return nil
		}
		nr := storage.NewReference{Ref: toReference(ft), FP: toFingerprints(ft), ParentIndex: -1}
		if len(batch) == 0 {
			nr.Ref.PathMAC, nr.Ref.MTime = mac, f.mtime
		} else {
			nr.ParentIndex = 0
		}
		if opts.NoNames {
			nr.Ref.Name = ""
		}
		batch = append(batch, nr)
		return nil
	})
	if err != nil {
		return result{f: f, err: err}
	}
	if outer != "" {
		return result{f: f, trivial: outer}
	}
	return result{f: f, batch: batch, members: members}
}

func toReference(f match.Features) storage.Reference {
	r := storage.Reference{Name: f.Path, Size: f.Size, SHA256: f.SHA256, CRC32: int64(f.CRC32), Kind: string(f.Type),
		TextDigest: f.TextDigest, TextLen: int64(f.TextLen), TLSH: f.TLSH}
	if f.Err != nil {
		r.Error = f.Err.Error()
	}
	return r
}

func toFingerprints(f match.Features) storage.RefFingerprints {
	var fp storage.RefFingerprints
	seen := make(map[uint64]bool, len(f.Prints))
	for _, p := range f.Prints {
		if !seen[p.Hash] { // a repeated passage selects the same print twice
			seen[p.Hash] = true
			fp.Prints = append(fp.Prints, int64(p.Hash))
		}
	}
	for i, im := range f.Images {
		for j, h := range im.Hashes {
			fp.Images = append(fp.Images, storage.RefImage{Image: i, Variant: im.Variants[j], Hash: h.String(), Quality: im.Quality})
		}
		if im.Flat != nil {
			fp.Images = append(fp.Images, storage.RefImage{Image: i, Variant: match.FlatVariant, Hash: im.Flat.String(), Quality: im.Quality})
		}
	}
	for i, row := range f.Rows {
		for field, h := range row.Fields {
			fp.Fields = append(fp.Fields, storage.RefField{Field: string(field), Hash: h, RowNo: int64(i)})
		}
	}
	fp.Patients = f.Patients
	return fp
}

func digestFile(path string) (fingerprints.Digest, error) {
	f, err := os.Open(path)
	if err != nil {
		return fingerprints.Digest{}, err
	}
	defer f.Close()
	return fingerprints.Sum(f, 0)
}
