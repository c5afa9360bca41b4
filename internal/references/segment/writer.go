package segment

import (
	"bufio"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
)

// posting is one (hash, reference) pair; 16 bytes in memory, 12 on disk.
type posting struct {
	hash uint64
	ref  uint32
}

func cmpPosting(a, b posting) int {
	switch {
	case a.hash < b.hash:
		return -1
	case a.hash > b.hash:
		return 1
	case a.ref < b.ref:
		return -1
	case a.ref > b.ref:
		return 1
	}
	return 0
}

// sortPostings sorts ps by (hash, ref): in-place radix passes on the
// hash's top bytes (American flag sort) until buckets are small, then a
// comparison sort of each. Hashes are uniform, so two or three passes leave
// buckets of tens of postings: about twice as fast as sorting it all by
// comparison, with no second buffer (which would double a run's memory).
// A byte per pass keeps the 256 buckets' write positions in cache.
func sortPostings(ps []posting) { radixSort(ps, 56) }

func radixSort(ps []posting, shift int) {
	if len(ps) <= 64 || shift < 0 {
		slices.SortFunc(ps, cmpPosting)
		return
	}
	s := uint(shift)
	var next, end [256]int
	for _, p := range ps {
		end[byte(p.hash>>s)]++
	}
	sum := 0
	for d := range 256 {
		next[d] = sum
		sum += end[d]
		end[d] = sum
	}
	for d := range 256 {
		for next[d] < end[d] {
			// Carry the posting at next[d] to its bucket, and the one it
			// displaces to its own, until one belongs in d.
			v := ps[next[d]]
			for e := int(byte(v.hash >> s)); e != d; e = int(byte(v.hash >> s)) {
				ps[next[e]], v = v, ps[next[e]]
				next[e]++
			}
			ps[next[d]] = v
			next[d]++
		}
	}
	start := 0
	for d := range 256 {
		radixSort(ps[start:end[d]], shift-8)
		start = end[d]
	}
}

// Options configure a Writer or Merge.
type Options struct {
	// KeyID identifies the fingerprint key the hashes were made with; Open
	// refuses a segment made under another key.
	KeyID [16]byte
	// RunPostings is how many postings a Writer sorts in memory before it
	// spills them to a run file: 16 bytes each, so the default 8<<20 holds
	// 128 MB.
	RunPostings int
	// TempDir holds run files; default the destination's directory, so
	// that spilling needs no space on another file system.
	TempDir string
}

const defaultRunPostings = 8 << 20

// fanIn is the most run files one merge pass reads at once, bounding open
// descriptors and read buffers (fanIn × runBuf = 24 MB). More runs than
// that are first merged into fewer, larger ones.
const fanIn = 64

const runBuf = entrySize << 15 // 384 KB, whole postings

// Writer builds one segment from postings added in any order. Memory is
// bounded: postings are buffered up to Options.RunPostings, sorted, spilled
// to a run file, and the runs k-way merged into the segment on Close.
// Duplicate (hash, ref) pairs are written once. The segment is written to
// path+".tmp" and renamed to path when complete, so path holds either
// nothing or a whole segment; one Writer at a time may write a path.
// A Writer is not safe for concurrent use.
type Writer struct {
	path  string
	opts  Options
	out   *output
	buf   []posting
	runs  []string // run files not yet merged
	added uint64
	done  bool
}

// Create starts a segment to be written at path.
func Create(path string, opts Options) (*Writer, error) {
	if opts.RunPostings <= 0 {
		opts.RunPostings = defaultRunPostings
	}
	if opts.TempDir == "" {
		opts.TempDir = filepath.Dir(path)
	}
	out, err := createOutput(path)
	if err != nil {
		return nil, err
	}
	return &Writer{path: path, opts: opts, out: out}, nil
}

// Add adds a posting. ref must fit 32 bits (reference ids are database
// ids; the format stores 4 bytes).
func (w *Writer) Add(hash uint64, ref uint64) error {
	if w.done {
		return fmt.Errorf("segment %s: add after Close or Abort", w.path)
	}
	if ref > math.MaxUint32 {
		return fmt.Errorf("segment %s: reference id %d does not fit 32 bits", w.path, ref)
	}
	if len(w.buf) == cap(w.buf) {
		if len(w.buf) >= w.opts.RunPostings {
			if err := w.spill(); err != nil {
				return err
			}
		} else {
			// Grow to at most RunPostings, never past it as append
			// would: the bound is the point.
			nb := make([]posting, len(w.buf), min(max(2*cap(w.buf), 4096), w.opts.RunPostings))
			copy(nb, w.buf)
			w.buf = nb
		}
	}
	w.buf = append(w.buf, posting{hash, uint32(ref)})
	w.added++
	return nil
}

// spill sorts the buffer and writes it to a new run file.
func (w *Writer) spill() error {
	sortPostings(w.buf)
	rw, err := w.newRun()
	if err != nil {
		return err
	}
	for _, p := range w.buf {
		if err := rw.add(p); err != nil {
			rw.f.Close()
			return err
		}
	}
	if err := rw.close(); err != nil {
		return err
	}
	w.buf = w.buf[:0]
	return nil
}

// newRun creates a run file, recorded at once so that Abort removes it
// whatever happens next.
func (w *Writer) newRun() (*runWriter, error) {
	f, err := os.CreateTemp(w.opts.TempDir, filepath.Base(w.path)+".run-*")
	if err != nil {
		return nil, fmt.Errorf("segment %s: create run file: %w", w.path, err)
	}
	w.runs = append(w.runs, f.Name())
	return &runWriter{f: f, bw: bufio.NewWriterSize(f, 1<<20)}, nil
}

// Close merges the runs and the buffer into the segment, syncs it, renames
// it into place and removes the run files. On error nothing is left behind.
func (w *Writer) Close() (Info, error) {
	if w.done {
		return Info{}, fmt.Errorf("segment %s: already closed", w.path)
	}
	w.done = true
	info, err := w.close()
	if err != nil {
		w.cleanup()
		return Info{}, err
	}
	return info, nil
}

func (w *Writer) close() (Info, error) {
	sortPostings(w.buf)
	for len(w.runs)+1 > fanIn {
		if err := w.mergeRuns(fanIn); err != nil {
			return Info{}, err
		}
	}
	srcs, err := openRuns(w.runs)
	if err != nil {
		return Info{}, err
	}
	srcs = append(srcs, &memSource{ps: w.buf})
	defer closeSources(srcs)
	w.out.begin(w.added)
	if err := merge(srcs, w.out.add); err != nil {
		return Info{}, err
	}
	info, err := w.out.finish(w.opts.KeyID)
	if err != nil {
		return Info{}, err
	}
	w.out, w.buf = nil, nil
	closeSources(srcs)
	return info, w.removeRuns()
}

// mergeRuns merges the k oldest runs into one new run.
func (w *Writer) mergeRuns(k int) error {
	old := w.runs[:k:k]
	srcs, err := openRuns(old)
	if err != nil {
		return err
	}
	defer closeSources(srcs)
	rw, err := w.newRun()
	if err != nil {
		return err
	}
	if err := merge(srcs, rw.add); err != nil {
		rw.f.Close()
		return err
	}
	if err := rw.close(); err != nil {
		return err
	}
	closeSources(srcs)
	for _, p := range old {
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("segment %s: remove run file: %w", w.path, err)
		}
	}
	w.runs = w.runs[k:]
	return nil
}

func (w *Writer) removeRuns() error {
	var errs []error
	for _, p := range w.runs {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("segment %s: remove run file: %w", w.path, err))
		}
	}
	w.runs = nil
	return errors.Join(errs...)
}

// Abort abandons the segment, removing its temporary file and run files.
// After a successful Close it does nothing: the segment is kept.
func (w *Writer) Abort() error {
	w.done = true
	return w.cleanup()
}

func (w *Writer) cleanup() error {
	var errs []error
	if w.out != nil {
		errs = append(errs, w.out.abort())
		w.out = nil
	}
	w.buf = nil
	errs = append(errs, w.removeRuns())
	return errors.Join(errs...)
}

// Merge writes a new segment at path holding the postings of srcs whose
// reference keep reports true (all when keep is nil): compaction drops the
// postings of deleted or replaced references. It streams a k-way merge over
// the mapped inputs and never holds them in memory. The sources must have
// been made under opts.KeyID and stay open until Merge returns; path may
// be one of theirs (the rename replaces the file, not the mapping).
func Merge(path string, srcs []*Segment, keep func(ref uint64) bool, opts Options) (Info, error) {
	var bound uint64
	ss := make([]source, len(srcs))
	for i, s := range srcs {
		if s.hdr.keyID != opts.KeyID {
			return Info{}, fmt.Errorf("merge into %s: %w", path, &FormatError{Path: s.path,
				Problem: fmt.Sprintf("made under fingerprint key id %x, the merge is for %x", s.hdr.keyID, opts.KeyID), Err: ErrKey})
		}
		bound += uint64(s.n)
		ss[i] = &segSource{s: s}
	}
	out, err := createOutput(path)
	if err != nil {
		return Info{}, err
	}
	out.begin(bound)
	emit := out.add
	if keep != nil {
		emit = func(p posting) error {
			if !keep(uint64(p.ref)) {
				return nil
			}
			return out.add(p)
		}
	}
	if err := merge(ss, emit); err != nil {
		out.abort()
		return Info{}, err
	}
	info, err := out.finish(opts.KeyID)
	if err != nil {
		out.abort()
		return Info{}, err
	}
	return info, nil
}

// output writes a segment from postings given in order, dropping
// duplicates, counting the directory and distinct references as it goes.
type output struct {
	path, tmp string
	f         *os.File
	bw        *bufio.Writer
	crc       hash.Hash32
	n         uint64
	bits      uint     // of counts: enough for any n up to the bound
	counts    []uint32 // postings per fine bucket
	refs      refSet
	last      posting
	rec       [entrySize]byte
}

func createOutput(path string) (*output, error) {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create segment: %w", err)
	}
	// The header is written last, when its counts and checksum are known.
	if _, err := f.Write(make([]byte, headerSize)); err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("segment %s: write: %w", tmp, err)
	}
	o := &output{path: path, tmp: tmp, f: f, crc: crc32.New(castagnoli)}
	o.bw = bufio.NewWriterSize(io.MultiWriter(f, o.crc), 1<<20)
	return o, nil
}

// begin prepares for at most bound postings. The bucket bits depend on the
// count after duplicates and dropped references, known only at the end, so
// postings are counted per bucket of the bits bound would need and the
// counts coarsened then.
func (o *output) begin(bound uint64) {
	o.bits = chooseBits(bound)
	o.counts = make([]uint32, 1<<o.bits)
}

func (o *output) add(p posting) error {
	if o.n > 0 {
		switch c := cmpPosting(p, o.last); {
		case c == 0:
			return nil
		case c < 0:
			return fmt.Errorf("segment %s: internal error: postings out of order", o.path)
		}
	}
	if o.n == maxPostings {
		return fmt.Errorf("segment %s: more than %d postings: split it", o.path, uint64(maxPostings))
	}
	le.PutUint64(o.rec[:], p.hash)
	le.PutUint32(o.rec[8:], p.ref)
	if _, err := o.bw.Write(o.rec[:]); err != nil {
		return fmt.Errorf("segment %s: write: %w", o.tmp, err)
	}
	o.counts[p.hash>>(64-o.bits)]++
	o.refs.add(p.ref)
	o.last = p
	o.n++
	return nil
}

// finish writes the directory and header, syncs and renames the file.
func (o *output) finish(keyID [16]byte) (Info, error) {
	bits := min(chooseBits(o.n), o.bits)
	group := 1 << (o.bits - bits)
	var sum uint32
	var e [4]byte
	for b := 0; b <= 1<<bits; b++ {
		le.PutUint32(e[:], sum)
		if _, err := o.bw.Write(e[:]); err != nil {
			return Info{}, fmt.Errorf("segment %s: write: %w", o.tmp, err)
		}
		if b < 1<<bits {
			for _, c := range o.counts[b*group : (b+1)*group] {
				sum += c
			}
		}
	}
	if err := o.bw.Flush(); err != nil {
		return Info{}, fmt.Errorf("segment %s: write: %w", o.tmp, err)
	}
	h := header{bits: uint32(bits), keyID: keyID, postings: o.n, refs: uint64(o.refs.n), dirOff: headerSize + entrySize*o.n, bodyCRC: o.crc.Sum32()}
	hb := h.marshal()
	if _, err := o.f.WriteAt(hb, 0); err != nil {
		return Info{}, fmt.Errorf("segment %s: write header: %w", o.tmp, err)
	}
	if err := o.f.Sync(); err != nil {
		return Info{}, fmt.Errorf("segment %s: sync: %w", o.tmp, err)
	}
	err := o.f.Close()
	o.f = nil
	if err != nil {
		return Info{}, fmt.Errorf("segment %s: close: %w", o.tmp, err)
	}
	if err := os.Rename(o.tmp, o.path); err != nil {
		return Info{}, fmt.Errorf("segment %s: rename into place: %w", o.path, err)
	}
	// Until the directory is synced the rename may not survive a crash,
	// and a caller recording the segment as ready must be able to rely
	// on it: fail, leaving nothing.
	if err := syncDir(filepath.Dir(o.path)); err != nil {
		os.Remove(o.path)
		return Info{}, fmt.Errorf("segment %s: sync directory: %w", o.path, err)
	}
	o.counts = nil
	return Info{
		Path:     o.path,
		Postings: int64(o.n),
		Refs:     o.refs.n,
		Bytes:    int64(h.length()),
		Checksum: fmt.Sprintf("%08x", crc32Combine(crc32.Checksum(hb, castagnoli), h.bodyCRC, int64(h.length()-headerSize))),
	}, nil
}

// abort removes the temporary file.
func (o *output) abort() error {
	if o.f != nil {
		o.f.Close()
		o.f = nil
	}
	if err := os.Remove(o.tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("segment %s: remove: %w", o.tmp, err)
	}
	return nil
}

// runWriter writes a sorted run file: bare 12-byte postings, duplicates
// dropped.
type runWriter struct {
	f    *os.File
	bw   *bufio.Writer
	last posting
	n    int
	rec  [entrySize]byte
}

func (r *runWriter) add(p posting) error {
	if r.n > 0 && p == r.last {
		return nil
	}
	le.PutUint64(r.rec[:], p.hash)
	le.PutUint32(r.rec[8:], p.ref)
	if _, err := r.bw.Write(r.rec[:]); err != nil {
		return fmt.Errorf("write run file %s: %w", r.f.Name(), err)
	}
	r.last = p
	r.n++
	return nil
}

// close flushes and closes the run; it is read back at once, so it is
// not synced.
func (r *runWriter) close() error {
	err := r.bw.Flush()
	if cerr := r.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write run file %s: %w", r.f.Name(), err)
	}
	return nil
}

// source is a sorted stream of postings to merge.
type source interface {
	next() (posting, bool)
	err() error
	close()
}

type memSource struct {
	ps []posting
	i  int
}

func (m *memSource) next() (posting, bool) {
	if m.i == len(m.ps) {
		return posting{}, false
	}
	m.i++
	return m.ps[m.i-1], true
}

func (m *memSource) err() error { return nil }

func (m *memSource) close() {}

type runSource struct {
	f        *os.File
	buf      []byte
	pos, end int
	eof      bool
	e        error
}

func openRuns(paths []string) ([]source, error) {
	srcs := make([]source, 0, len(paths)+1)
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			closeSources(srcs)
			return nil, fmt.Errorf("open run file: %w", err)
		}
		srcs = append(srcs, &runSource{f: f, buf: make([]byte, runBuf)})
	}
	return srcs, nil
}

func closeSources(srcs []source) {
	for _, s := range srcs {
		s.close()
	}
}

func (r *runSource) next() (posting, bool) {
	if r.pos == r.end {
		if r.eof || r.e != nil {
			return posting{}, false
		}
		n, err := io.ReadFull(r.f, r.buf)
		switch {
		case err == io.EOF:
			r.eof = true
			return posting{}, false
		case err == io.ErrUnexpectedEOF:
			r.eof = true
		case err != nil:
			r.e = fmt.Errorf("read run file: %w", err)
			return posting{}, false
		}
		if n%entrySize != 0 {
			r.e = fmt.Errorf("run file %s is truncated", r.f.Name())
			return posting{}, false
		}
		r.pos, r.end = 0, n
	}
	e := r.buf[r.pos : r.pos+entrySize]
	r.pos += entrySize
	return posting{hash: le.Uint64(e), ref: le.Uint32(e[8:])}, true
}

func (r *runSource) err() error { return r.e }

func (r *runSource) close() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}

// segSource streams a mapped segment, asking the kernel to read ahead of
// it: the mapping is advised random access, which turns read-ahead off.
type segSource struct {
	s *Segment
	i int
}

func (g *segSource) next() (posting, bool) {
	if g.i == g.s.n {
		return posting{}, false
	}
	if g.i%(verifyChunk/entrySize) == 0 {
		from := headerSize + entrySize*g.i
		adviseWillNeed(g.s.data, from, min(from+verifyChunk, headerSize+entrySize*g.s.n))
	}
	g.i++
	return g.s.at(g.i - 1), true
}

func (g *segSource) err() error { return nil }

func (g *segSource) close() {}

// merge emits the postings of srcs in order (duplicates included; the
// receiver drops them), through a binary heap of source indexes.
func merge(srcs []source, emit func(posting) error) error {
	heads := make([]posting, len(srcs))
	h := make([]int, 0, len(srcs))
	for i, s := range srcs {
		if p, ok := s.next(); ok {
			heads[i] = p
			h = append(h, i)
		} else if err := s.err(); err != nil {
			return err
		}
	}
	less := func(a, b int) bool { return cmpPosting(heads[h[a]], heads[h[b]]) < 0 }
	down := func(i int) {
		for {
			l := 2*i + 1
			if l >= len(h) {
				return
			}
			m := l
			if r := l + 1; r < len(h) && less(r, l) {
				m = r
			}
			if !less(m, i) {
				return
			}
			h[i], h[m] = h[m], h[i]
			i = m
		}
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		down(i)
	}
	for len(h) > 0 {
		top := h[0]
		if err := emit(heads[top]); err != nil {
			return err
		}
		if p, ok := srcs[top].next(); ok {
			heads[top] = p
		} else {
			if err := srcs[top].err(); err != nil {
				return err
			}
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
		}
		down(0)
	}
	return nil
}
