package references

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/internal/filelock"
	"github.com/leakwatch/leakwatch/internal/references/segment"
	"github.com/leakwatch/leakwatch/storage"
)

// The index's winnowing prints live in immutable segment files in the
// store's IndexDir (package segment), memory-mapped by every process that
// matches: start-up reads no prints at all, and the processes of one host
// share one copy in the page cache. An import writes new segments (a new
// one every segmentPostings prints, so a long import becomes usable, and
// loses little to a crash, as it goes); a compaction merges them.

// segmentPostings is how many prints an import writes to one segment
// before it starts another: ~770 MB files at breach scale.
const segmentPostings = 64 << 20

// compactOver is how many segments an import leaves before it merges them.
const compactOver = 8

// segmentKeyID names the fingerprint key in segment headers: a segment
// written under another key is refused, never silently unmatched.
func segmentKeyID(key *fingerprints.Key) [16]byte {
	var id [16]byte
	copy(id[:], key.MAC("segment-key-id", nil))
	return id
}

// Segments are the open segment files of one process. Segments are
// immutable, so a reload keeps those still in the index open and opens
// only new ones; one merged away is closed a while later, when no match
// can still be using it.
type Segments struct {
	dir   string
	keyID [16]byte
	mu    sync.Mutex
	open  map[string]*segment.Segment
	// NoPopulate leaves new segments' pages to be faulted in by lookups
	// (benchmarks of a cold cache); by default each is populated in the
	// background (segment.Populate).
	NoPopulate bool
	populating sync.WaitGroup
	fresh      []*segment.Segment // opened by the last sync, not yet populated
	log        *slog.Logger
}

// populate starts populating the segments the last sync opened, in the
// background: after the load, which it would otherwise slow by competing
// for the CPUs and the disk.
func (s *Segments) populate() {
	s.mu.Lock()
	fresh := s.fresh
	s.fresh = nil
	s.mu.Unlock()
	if s.NoPopulate {
		return
	}
	for _, seg := range fresh {
		s.populating.Add(1)
		go func() {
			defer s.populating.Done()
			if err := seg.Populate(); err != nil && s.log != nil {
				// Only slower: lookups fault the pages in.
				s.log.Warn("reference index segment not populated", "err", err)
			}
		}()
	}
}

// OpenSegments returns the (so far empty) set of store's segment files.
func OpenSegments(store *storage.Store, key *fingerprints.Key) *Segments {
	return &Segments{dir: store.IndexDir(), keyID: segmentKeyID(key), open: map[string]*segment.Segment{}}
}

// closeAfter is how long a segment merged away stays mapped for matches
// that started before the reload.
const closeAfter = time.Minute

// sync opens the ready segments and returns them, oldest first.
func (s *Segments) sync(ctx context.Context, store *storage.Store) ([]*segment.Segment, error) {
	if has, err := store.HasLegacyPrints(ctx); err != nil {
		return nil, err
	} else if has {
		return nil, storage.ErrLegacyPrints
	}
	ready, err := store.ReadySegments(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*segment.Segment, 0, len(ready))
	keep := map[string]bool{}
	for _, rs := range ready {
		seg, ok := s.open[rs.Name]
		if !ok {
			if seg, err = segment.Open(filepath.Join(s.dir, rs.Name), s.keyID); err != nil {
				return nil, fmt.Errorf("reference index segment %d: %w", rs.ID, err)
			}
			if seg.Postings() != rs.Postings {
				seg.Close()
				return nil, fmt.Errorf("reference index segment %s holds %d prints, the database says %d: it is not the file that was written",
					rs.Name, seg.Postings(), rs.Postings)
			}
			s.open[rs.Name] = seg
			s.fresh = append(s.fresh, seg)
		}
		keep[rs.Name] = true
		out = append(out, seg)
	}
	for name, seg := range s.open {
		if !keep[name] {
			delete(s.open, name)
			time.AfterFunc(closeAfter, func() { seg.Close() })
		}
	}
	return out, nil
}

// size is how many segment files are open and their bytes.
func (s *Segments) size() (n int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, seg := range s.open {
		bytes += seg.Info().Bytes
	}
	return len(s.open), bytes
}

// Populated waits until every open segment is populated: lookups from here
// on take no page faults (benchmarks use it to measure a warm process).
func (s *Segments) Populated() { s.populating.Wait() }

// Close unmaps every segment.
func (s *Segments) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for name, seg := range s.open {
		errs = append(errs, seg.Close())
		delete(s.open, name)
	}
	return errors.Join(errs...)
}

// segmentWriter writes an import's prints into segments, a new one every
// segmentPostings prints, each made part of the index when complete.
type segmentWriter struct {
	store  *storage.Store
	keyID  [16]byte
	cur    storage.RefSegment
	w      *segment.Writer
	n      int64
	onDone func(id uint64) // a segment became ready
}

// next makes sure a segment is open and returns its id.
func (sw *segmentWriter) next(ctx context.Context) (uint64, error) {
	if sw.w != nil {
		return sw.cur.ID, nil
	}
	if err := os.MkdirAll(sw.store.IndexDir(), 0o700); err != nil {
		return 0, fmt.Errorf("create index directory: %w", err)
	}
	seg, err := sw.store.StartSegment(ctx)
	if err != nil {
		return 0, err
	}
	w, err := segment.Create(filepath.Join(sw.store.IndexDir(), seg.Name), segment.Options{KeyID: sw.keyID})
	if err != nil {
		return 0, fmt.Errorf("create print segment: %w", err)
	}
	sw.cur, sw.w, sw.n = seg, w, 0
	return seg.ID, nil
}

// add writes a saved batch's prints.
func (sw *segmentWriter) add(batch []storage.NewReference) error {
	for _, nr := range batch {
		for _, h := range nr.FP.Prints {
			if err := sw.w.Add(uint64(h), nr.Ref.ID); err != nil {
				return fmt.Errorf("write print segment: %w", err)
			}
		}
		sw.n += int64(len(nr.FP.Prints))
	}
	return nil
}

// finish completes the open segment, if any, and has record make it part
// of the index (Store.FinishSegment, or AdoptLegacyPrints).
func (sw *segmentWriter) finish(ctx context.Context, record func(context.Context, storage.RefSegment) error) error {
	if sw.w == nil {
		return nil
	}
	w := sw.w
	sw.w = nil
	info, err := w.Close()
	if err != nil {
		return fmt.Errorf("write print segment: %w", err)
	}
	sw.cur = withInfo(sw.cur, info)
	if err := record(ctx, sw.cur); err != nil {
		return err
	}
	if sw.onDone != nil {
		sw.onDone(sw.cur.ID)
	}
	return nil
}

// abort drops the open segment's file; its row stays "writing", so the
// references saved into it are fingerprinted again by the next import.
func (sw *segmentWriter) abort() {
	if sw.w != nil {
		sw.w.Abort()
		sw.w = nil
	}
}

// MigrateLegacyPrints moves an older index's prints from the database
// table into a segment, once: nothing to do when there are none.
func MigrateLegacyPrints(ctx context.Context, store *storage.Store, key *fingerprints.Key, log *slog.Logger) (int64, error) {
	unlock, err := lockIndexDir(store.IndexDir())
	if err != nil {
		return 0, err
	}
	defer unlock()
	return migrateLegacy(ctx, store, key, log)
}

// migrateLegacy is MigrateLegacyPrints with the index directory locked.
func migrateLegacy(ctx context.Context, store *storage.Store, key *fingerprints.Key, log *slog.Logger) (int64, error) {
	has, err := store.HasLegacyPrints(ctx)
	if err != nil || !has {
		return 0, err
	}
	if err := CheckKey(ctx, store, key); err != nil {
		return 0, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	start := time.Now()
	sw := &segmentWriter{store: store, keyID: segmentKeyID(key)}
	if _, err := sw.next(ctx); err != nil {
		return 0, err
	}
	err = store.WalkLegacyPrints(ctx, func(h int64, ref uint64) error {
		sw.n++
		return sw.w.Add(uint64(h), ref)
	})
	if err != nil {
		sw.abort()
		return 0, fmt.Errorf("migrate prints: %w", err)
	}
	if err := sw.finish(ctx, store.AdoptLegacyPrints); err != nil {
		return 0, fmt.Errorf("migrate prints: %w", err)
	}
	log.InfoContext(ctx, "reference index prints moved from the database into a segment",
		"segment", sw.cur.Name, "prints", sw.cur.Postings, "bytes", sw.cur.Bytes, "took", time.Since(start).Round(time.Millisecond))
	return sw.cur.Postings, nil
}

// withInfo is seg with what its written file holds.
func withInfo(seg storage.RefSegment, info segment.Info) storage.RefSegment {
	seg.Postings, seg.Refs, seg.Bytes, seg.Checksum = info.Postings, info.Refs, info.Bytes, info.Checksum
	return seg
}

// Compact merges the index's segments into one, dropping the prints of
// references that were replaced or retired. Processes that have the old
// files mapped keep using them until they reload.
func Compact(ctx context.Context, store *storage.Store, key *fingerprints.Key) (storage.RefSegment, error) {
	unlock, err := lockIndexDir(store.IndexDir())
	if err != nil {
		return storage.RefSegment{}, err
	}
	defer unlock()
	return compact(ctx, store, key)
}

// compact is Compact with the index directory locked.
func compact(ctx context.Context, store *storage.Store, key *fingerprints.Key) (storage.RefSegment, error) {
	return mergeSegments(ctx, store, key, nil)
}

// mergeSegments merges the ready segments named by ids (all, when nil)
// into one.
func mergeSegments(ctx context.Context, store *storage.Store, key *fingerprints.Key, ids []uint64) (storage.RefSegment, error) {
	all, err := store.ReadySegments(ctx)
	if err != nil {
		return storage.RefSegment{}, err
	}
	ready := all
	if ids != nil {
		want := map[uint64]bool{}
		for _, id := range ids {
			want[id] = true
		}
		ready = nil
		for _, rs := range all {
			if want[rs.ID] {
				ready = append(ready, rs)
			}
		}
	}
	if len(ready) < 2 {
		return storage.RefSegment{}, nil
	}
	live, err := store.LiveReferenceIDs(ctx)
	if err != nil {
		return storage.RefSegment{}, err
	}
	keyID := segmentKeyID(key)
	var srcs []*segment.Segment
	defer func() {
		for _, s := range srcs {
			s.Close()
		}
	}()
	old := make([]uint64, len(ready))
	for i, rs := range ready {
		s, err := segment.Open(filepath.Join(store.IndexDir(), rs.Name), keyID)
		if err != nil {
			return storage.RefSegment{}, fmt.Errorf("compact: segment %s: %w", rs.Name, err)
		}
		srcs = append(srcs, s)
		old[i] = rs.ID
	}
	seg, err := store.StartSegment(ctx)
	if err != nil {
		return seg, err
	}
	info, err := segment.Merge(filepath.Join(store.IndexDir(), seg.Name), srcs, func(ref uint64) bool { return live[ref] },
		segment.Options{KeyID: keyID})
	if err != nil {
		return seg, fmt.Errorf("compact: %w", err)
	}
	seg = withInfo(seg, info)
	if err := store.MergeSegments(ctx, seg, old); err != nil {
		return seg, err
	}
	for _, rs := range ready {
		// Mapped copies stay valid until unmapped (POSIX unlink semantics).
		os.Remove(filepath.Join(store.IndexDir(), rs.Name))
	}
	return seg, nil
}

// VerifySegments re-reads every segment of the index against its
// checksum and the database's record of it, and says which is wrong.
func VerifySegments(ctx context.Context, store *storage.Store, key *fingerprints.Key) (int, error) {
	ready, err := store.ReadySegments(ctx)
	if err != nil {
		return 0, err
	}
	keyID := segmentKeyID(key)
	for i, rs := range ready {
		s, err := segment.Open(filepath.Join(store.IndexDir(), rs.Name), keyID)
		if err != nil {
			return i, fmt.Errorf("segment %s: %w", rs.Name, err)
		}
		err = s.Verify()
		if err == nil && (s.Postings() != rs.Postings || s.Info().Checksum != rs.Checksum) {
			err = fmt.Errorf("holds %d prints with checksum %s; the database recorded %d and %s",
				s.Postings(), s.Info().Checksum, rs.Postings, rs.Checksum)
		}
		s.Close()
		if err != nil {
			return i, fmt.Errorf("segment %s: %w", rs.Name, err)
		}
	}
	return len(ready), nil
}

// lockIndexDir takes the index directory's import lock (waiting for an
// import already running) and removes what a crashed import left behind:
// segment files never renamed into place, and sort runs.
func lockIndexDir(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create index directory: %w", err)
	}
	l, err := filelock.Wait(filepath.Join(dir, ".import.lock"))
	if err != nil {
		return nil, fmt.Errorf("lock index directory: %w", err)
	}
	for _, pat := range []string{"*.tmp", "*.run-*"} {
		leftovers, _ := filepath.Glob(filepath.Join(dir, pat))
		for _, p := range leftovers {
			os.Remove(p)
		}
	}
	return func() { l.Unlock() }, nil
}
