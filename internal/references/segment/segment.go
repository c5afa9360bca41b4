// Package segment stores the reference index's winnowing postings — (keyed
// hash, reference id) pairs — in immutable files that every matching
// process memory-maps read-only.
//
// Loading ~232 million postings from SQL into each process took minutes and
// gigabytes; a mapped segment opens in milliseconds, costs no heap, and the
// processes of one host share one copy in the page cache. A segment is
// written once (Writer, or Merge for compaction) and replaced by rename,
// never rewritten in place: a process that has it mapped must not see it
// change or shrink under it.
//
// # Format (version 1)
//
// All integers are little-endian.
//
//	offset  size  header (64 bytes)
//	     0     8  magic "LWPOSTS\x00"
//	     8     4  format version (1)
//	    12     4  bucket bits B
//	    16    16  key id: the fingerprint key the hashes were made with
//	    32     8  postings N
//	    40     8  distinct reference ids
//	    48     8  directory offset (= 64 + 12·N)
//	    56     4  CRC-32C of body and directory
//	    60     4  CRC-32C of header bytes [0, 60)
//
//	body       N × 12 bytes: hash uint64, ref uint32; sorted by (hash, ref),
//	           no duplicates
//	directory  (2^B + 1) × uint32: entry b is the index of the first posting
//	           whose hash's top B bits are ≥ b; entry 2^B is N
//
// The file ends with the directory: its length is exactly
// 64 + 12·N + 4·(2^B + 1).
//
// Hashes are keyed PRF output, so uniformly distributed: the directory on
// their top B bits, with B = clamp(ceil(log2(N/128)), 8, 24), puts 64–128
// postings (about one page) in a bucket on average, and a lookup reads one
// directory entry pair and binary-searches one bucket — no search across
// gigabytes, about one body page touched. N is limited to 2^32−1 so that
// directory entries fit 32 bits (a 48 GB segment; split before that).
//
// Open checks only what is cheap (magic, version, header CRC, key id, file
// length, directory monotone and within bounds, first and last postings in
// their buckets) so that it stays fast on a multi-gigabyte file, yet a file
// truncated, of another version, made under another key, or with a damaged
// header fails with an error naming the file and the problem rather than
// answering as an empty index. Verify reads everything and checks the body
// checksum and order.
//
// The whole-file checksum reported in Info is the CRC-32C of the file's
// bytes as written (what a crc32c tool prints); it follows from the header
// alone, so an opened segment reports it without reading the body. CRC-32C
// detects accidental damage, not tampering.
package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/bits"
	"os"
	"slices"
	"sync"
)

const (
	magic        = "LWPOSTS\x00"
	version      = 1
	headerSize   = 64
	entrySize    = 12
	minBits      = 8
	maxBits      = 24
	bucketTarget = 128 // postings per bucket the bucket bits aim at (at most)
	maxOpenBits  = 32  // largest bucket bits Open accepts (a 16 GB directory)
	maxPostings  = 1<<32 - 1
	coarseBits   = 16 // bits of the heap copy of the directory (see span)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var le = binary.LittleEndian

// Errors a segment that cannot be used wraps, for errors.Is.
var (
	// ErrCorrupt: the file is not a whole, well-formed segment (truncated,
	// damaged, or not a segment at all).
	ErrCorrupt = errors.New("corrupt postings segment")
	// ErrVersion: the segment is of a format version this build cannot read.
	ErrVersion = errors.New("unsupported postings segment version")
	// ErrKey: the segment was made under another fingerprint key; its
	// hashes would never match.
	ErrKey = errors.New("postings segment made under another fingerprint key")
)

// FormatError reports a segment file that cannot be used.
type FormatError struct {
	Path    string
	Problem string
	Err     error // ErrCorrupt, ErrVersion or ErrKey
}

func (e *FormatError) Error() string { return "segment " + e.Path + ": " + e.Problem }

func (e *FormatError) Unwrap() error { return e.Err }

func corrupt(path, format string, args ...any) error {
	return &FormatError{Path: path, Problem: fmt.Sprintf(format, args...), Err: ErrCorrupt}
}

// Info describes a segment file.
type Info struct {
	Path     string
	Postings int64
	Refs     int64  // distinct reference ids
	Bytes    int64  // file size
	Checksum string // hex CRC-32C of the whole file as written
}

// header is the decoded fixed-size header.
type header struct {
	bits     uint32
	keyID    [16]byte
	postings uint64
	refs     uint64
	dirOff   uint64
	bodyCRC  uint32
}

func (h *header) marshal() []byte {
	b := make([]byte, headerSize)
	copy(b, magic)
	le.PutUint32(b[8:], version)
	le.PutUint32(b[12:], h.bits)
	copy(b[16:32], h.keyID[:])
	le.PutUint64(b[32:], h.postings)
	le.PutUint64(b[40:], h.refs)
	le.PutUint64(b[48:], h.dirOff)
	le.PutUint32(b[56:], h.bodyCRC)
	le.PutUint32(b[60:], crc32.Checksum(b[:60], castagnoli))
	return b
}

// parseHeader checks the header in the order that gives the most useful
// message: a file of a future version may lay its header out differently,
// so its version is reported rather than a CRC mismatch.
func parseHeader(path string, b []byte, size int64) (header, error) {
	var h header
	if size < headerSize {
		return h, corrupt(path, "truncated: %d bytes, smaller than the %d-byte header", size, headerSize)
	}
	if string(b[:8]) != magic {
		return h, corrupt(path, "not a postings segment (magic %q, want %q)", b[:8], magic)
	}
	if v := le.Uint32(b[8:]); v != version {
		return h, &FormatError{Path: path, Problem: fmt.Sprintf("format version %d, this build reads version %d", v, version), Err: ErrVersion}
	}
	if got, want := crc32.Checksum(b[:60], castagnoli), le.Uint32(b[60:]); got != want {
		return h, corrupt(path, "header checksum mismatch (stored %08x, computed %08x): damaged header", want, got)
	}
	h.bits = le.Uint32(b[12:])
	copy(h.keyID[:], b[16:32])
	h.postings = le.Uint64(b[32:])
	h.refs = le.Uint64(b[40:])
	h.dirOff = le.Uint64(b[48:])
	h.bodyCRC = le.Uint32(b[56:])
	if h.bits > maxOpenBits {
		return h, corrupt(path, "bucket bits %d out of range", h.bits)
	}
	if h.postings > maxPostings {
		return h, corrupt(path, "%d postings, more than a segment can hold", h.postings)
	}
	if h.refs > h.postings {
		return h, corrupt(path, "%d distinct references in %d postings", h.refs, h.postings)
	}
	if h.dirOff != headerSize+entrySize*h.postings {
		return h, corrupt(path, "directory offset %d, want %d for %d postings", h.dirOff, headerSize+entrySize*h.postings, h.postings)
	}
	if want := h.length(); uint64(size) != want {
		if uint64(size) < want {
			return h, corrupt(path, "truncated: %d bytes, header says %d", size, want)
		}
		return h, corrupt(path, "%d bytes, header says %d: trailing data", size, want)
	}
	return h, nil
}

func (h *header) dirLen() uint64 { return 4 * (uint64(1)<<h.bits + 1) }

func (h *header) length() uint64 { return h.dirOff + h.dirLen() }

// Segment is an open, memory-mapped segment. Its methods are safe for
// concurrent use, except Close: nothing may use a segment once Close is
// called (its memory is unmapped).
type Segment struct {
	path  string
	data  []byte // the whole file
	body  []byte // N × 12-byte postings
	dir   []byte // (2^B + 1) × uint32
	shift uint   // 64 − B: a hash's bucket is hash >> shift
	// coarse is every 2^(B−cb)-th directory entry, cb = min(B, coarseBits),
	// copied to the heap at Open: what Lookup uses (see span).
	coarse   []uint32
	cbits    uint
	n        int
	hdr      header
	checksum string
	// mu keeps Close from unmapping while Populate works on the mapping.
	mu     sync.Mutex
	closed bool
}

// Open maps the segment at path, which must have been made under the
// fingerprint key keyID. It reads the header and the bucket directory,
// not the body.
func Open(path string, keyID [16]byte) (*Segment, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open segment: %w", err)
	}
	defer f.Close() // the mapping outlives the descriptor
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open segment: %w", err)
	}
	size := st.Size()
	hb := make([]byte, headerSize)
	if size >= headerSize {
		if _, err := f.ReadAt(hb, 0); err != nil {
			return nil, fmt.Errorf("segment %s: read header: %w", path, err)
		}
	}
	h, err := parseHeader(path, hb, size)
	if err != nil {
		return nil, err
	}
	if h.keyID != keyID {
		return nil, &FormatError{Path: path, Problem: fmt.Sprintf("made under fingerprint key id %x, this index uses %x", h.keyID, keyID), Err: ErrKey}
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("segment %s: %d bytes do not fit this platform's address space", path, size)
	}
	data, err := mapFile(f, int(size))
	if err != nil {
		return nil, fmt.Errorf("segment %s: map: %w", path, err)
	}
	s := &Segment{
		path:  path,
		data:  data,
		body:  data[headerSize:h.dirOff],
		dir:   data[h.dirOff:],
		shift: 64 - uint(h.bits),
		n:     int(h.postings),
		hdr:   h,
	}
	s.checksum = fmt.Sprintf("%08x", crc32Combine(crc32.Checksum(data[:headerSize], castagnoli), h.bodyCRC, int64(h.dirLen()+uint64(len(s.body)))))
	// Lookups land on random pages: read-ahead would only evict other
	// pages. The directory is read by every lookup: fetch it now.
	adviseRandom(data)
	adviseWillNeed(data, int(h.dirOff), len(data))
	if err := s.check(); err != nil {
		unmapFile(data)
		return nil, err
	}
	s.setCoarse(coarseBits)
	return s, nil
}

// setCoarse copies every 2^(B−bits)-th directory entry (all of them when
// B ≤ bits) to the heap for span.
func (s *Segment) setCoarse(bits uint) {
	s.cbits = min(uint(s.hdr.bits), bits)
	step := 1 << (uint(s.hdr.bits) - s.cbits)
	s.coarse = make([]uint32, 1<<s.cbits+1)
	for i := range s.coarse {
		s.coarse[i] = le.Uint32(s.dir[4*i*step:])
	}
}

// check is Open's structural check: Lookup relies on the directory being
// monotone and within bounds, and the first and last postings catch a body
// shifted or swapped without reading it.
func (s *Segment) check() error {
	buckets := len(s.dir)/4 - 1
	prev := uint32(0)
	if first := le.Uint32(s.dir); first != 0 {
		return corrupt(s.path, "bucket directory starts at %d, want 0", first)
	}
	for b := 1; b <= buckets; b++ {
		v := le.Uint32(s.dir[4*b:])
		if v < prev {
			return corrupt(s.path, "bucket directory out of order at bucket %d (%d after %d)", b, v, prev)
		}
		prev = v
	}
	if prev != uint32(s.n) {
		return corrupt(s.path, "bucket directory ends at %d, want %d postings", prev, s.n)
	}
	if s.n == 0 {
		return nil
	}
	for _, i := range []int{0, s.n - 1} {
		b := s.hashAt(i) >> s.shift
		if lo, hi := s.bucket(b); i < lo || i >= hi {
			return corrupt(s.path, "posting %d (hash %016x) is outside its bucket %d [%d, %d)", i, s.hashAt(i), b, lo, hi)
		}
	}
	if first, last := s.at(0), s.at(s.n-1); s.n > 1 && cmpPosting(first, last) >= 0 {
		return corrupt(s.path, "first posting not before the last")
	}
	return nil
}

func (s *Segment) hashAt(i int) uint64 { return le.Uint64(s.body[entrySize*i:]) }

func (s *Segment) refAt(i int) uint32 { return le.Uint32(s.body[entrySize*i+8:]) }

func (s *Segment) at(i int) posting {
	e := s.body[entrySize*i : entrySize*i+entrySize]
	return posting{hash: le.Uint64(e), ref: le.Uint32(e[8:])}
}

// bucket returns bucket b's postings as [lo, hi).
func (s *Segment) bucket(b uint64) (lo, hi int) {
	return int(le.Uint32(s.dir[4*b:])), int(le.Uint32(s.dir[4*b+4:]))
}

// span returns the postings of hash's coarse bucket as [lo, hi).
//
// A lookup in the file's own directory costs a random page of the mapping
// (its 8 MB at the breach's size) before the random page of the body: two
// TLB and cache misses, which at 230 M postings were most of a match's
// time. The coarse copy (256 KB) stays in the CPU's cache and TLB, and
// interpolation still lands within a few cache lines of the hash in a
// coarse bucket's ~3,500 postings (uniform hashes: the error grows as the
// square root of the bucket), so a lookup touches one body page.
func (s *Segment) span(hash uint64) (lo, hi int) {
	b := hash >> (64 - s.cbits)
	return int(s.coarse[b]), int(s.coarse[b+1])
}

// Lookup calls fn (if not nil) for up to max+1 postings of hash, in
// reference order, and returns how many postings hash has in all, so that
// a caller can tell a boilerplate hash (more than max) without fetching
// its postings. With max < 0 fn is not called.
func (s *Segment) Lookup(hash uint64, max int, fn func(ref uint64)) int {
	lo, end := s.span(hash)
	if lo == end {
		return 0
	}
	// Hashes are uniform within their bucket too: the bits below the
	// bucket's say where in it hash falls, give or take a few postings
	// (a cache line or two, where a binary search would miss on every
	// probe).
	guess, _ := bits.Mul64(hash<<s.cbits, uint64(end-lo))
	i := s.lowerBound(hash, lo, end, lo+int(guess))
	j := i
	for ; j < end && j-i <= max && s.hashAt(j) == hash; j++ {
		if fn != nil {
			fn(uint64(s.refAt(j)))
		}
	}
	if j < end && s.hashAt(j) == hash {
		// More than max+1: count the rest by search, not by a scan that
		// a hash in a million references would make long.
		if hash == math.MaxUint64 {
			j = end // the last bucket ends with the greatest hash
		} else {
			j = s.lowerBound(hash+1, j, end, j)
		}
	}
	return j - i
}

// Prefetch reads, for each hash, the body posting a Lookup would start
// from, and discards it: the loads do not depend on each other, so the CPU
// keeps many cache and TLB misses in flight at once, where Lookup after
// Lookup waits for each miss in turn. A matcher looking up a letter's ~500 prints calls it first; the
// Lookups that follow then find their lines in the cache. It returns a
// value made from what it read only so that the loads are not optimised
// away.
func (s *Segment) Prefetch(hashes []uint64) uint64 {
	var sink uint64
	for _, h := range hashes {
		lo, end := s.span(h)
		if lo == end {
			continue
		}
		guess, _ := bits.Mul64(h<<s.cbits, uint64(end-lo))
		sink += s.hashAt(lo + int(guess))
	}
	return sink
}

// lowerBound returns the first posting in [lo, hi) whose hash is ≥ target
// (hi if none), searching outwards from guess in doubling steps and then
// by bisection: O(log distance) from a good guess, O(log(hi-lo)) from any.
func (s *Segment) lowerBound(target uint64, lo, hi, guess int) int {
	a, b := lo, hi // postings before a are < target, from b on ≥ target
	if s.hashAt(guess) < target {
		a = guess + 1
		for step := 1; ; step <<= 1 {
			p := a + step - 1
			if p >= hi {
				break
			}
			if s.hashAt(p) >= target {
				b = p
				break
			}
			a = p + 1
		}
	} else {
		b = guess
		for step := 1; ; step <<= 1 {
			p := b - step
			if p < lo {
				break
			}
			if s.hashAt(p) < target {
				a = p + 1
				break
			}
			b = p
		}
	}
	for a < b {
		m := int(uint(a+b) >> 1)
		if s.hashAt(m) < target {
			a = m + 1
		} else {
			b = m
		}
	}
	return a
}

// Postings returns how many postings the segment holds.
func (s *Segment) Postings() int64 { return int64(s.n) }

// Info describes the segment. Its checksum comes from the header; Verify
// confirms the file still has it.
func (s *Segment) Info() Info {
	return Info{Path: s.path, Postings: int64(s.n), Refs: int64(s.hdr.refs), Bytes: int64(len(s.data)), Checksum: s.checksum}
}

// verifyChunk is how much of the body Verify asks the kernel to read ahead
// of it (the mapping is advised random access, which disables read-ahead).
const verifyChunk = entrySize << 18 // 3 MB

// Verify reads the whole segment and checks the body checksum, the order
// of postings, that each is in its directory bucket, and the count of
// distinct references: what Open does not, for `refs verify` and after a
// copy.
func (s *Segment) Verify() error {
	crc := uint32(0)
	var orderErr error
	var refs refSet
	buckets := uint64(len(s.dir)/4 - 1)
	b := uint64(0)
	_, next := s.bucket(0)
	var prev posting
	for from := 0; from < s.n; from += verifyChunk / entrySize {
		to := min(from+verifyChunk/entrySize, s.n)
		adviseWillNeed(s.data, headerSize+entrySize*to, headerSize+entrySize*min(to+verifyChunk/entrySize, s.n))
		crc = crc32.Update(crc, castagnoli, s.body[entrySize*from:entrySize*to])
		if orderErr != nil {
			continue
		}
		for i := from; i < to; i++ {
			p := s.at(i)
			if i > 0 && cmpPosting(prev, p) >= 0 {
				orderErr = fmt.Errorf("posting %d (%016x, %d) not after posting %d (%016x, %d)", i, p.hash, p.ref, i-1, prev.hash, prev.ref)
				break
			}
			for i >= next && b+1 < buckets {
				b++
				_, next = s.bucket(b)
			}
			if p.hash>>s.shift != b {
				orderErr = fmt.Errorf("posting %d (hash %016x) is in directory bucket %d, belongs in %d", i, p.hash, b, p.hash>>s.shift)
				break
			}
			refs.add(p.ref)
			prev = p
		}
	}
	crc = crc32.Update(crc, castagnoli, s.dir)
	if crc != s.hdr.bodyCRC {
		msg := fmt.Sprintf("body checksum mismatch (stored %08x, computed %08x): the file is damaged", s.hdr.bodyCRC, crc)
		if orderErr != nil {
			msg += "; " + orderErr.Error()
		}
		return corrupt(s.path, "%s", msg)
	}
	if orderErr != nil {
		return corrupt(s.path, "%v", orderErr)
	}
	if uint64(refs.n) != s.hdr.refs {
		return corrupt(s.path, "%d distinct references, header says %d", refs.n, s.hdr.refs)
	}
	return nil
}

// All calls fn for every posting in (hash, ref) order, stopping at and
// returning fn's first error.
func (s *Segment) All(fn func(hash uint64, ref uint64) error) error {
	for i := 0; i < s.n; i++ {
		if err := fn(s.hashAt(i), uint64(s.refAt(i))); err != nil {
			return err
		}
	}
	return nil
}

// populateChunk is how much Populate maps per step: Close waits for at
// most one step.
const populateChunk = 64 << 20

// Populate maps the whole segment into this process's page tables,
// reading from disk what the page cache lacks, so that lookups take no
// page faults. Lookups are random, so without it every first touch of a
// 4 KB page is a fault (tens of microseconds on a VM), and a 4.7 KB letter
// touches a couple of thousand pages: a process matches at full speed only
// once its mapping is populated. It works in steps and returns early when
// the segment is closed; call it in the background after Open.
func (s *Segment) Populate() error {
	for off := 0; ; off += populateChunk {
		s.mu.Lock()
		if s.closed || off >= len(s.data) {
			s.mu.Unlock()
			return nil
		}
		err := populate(s.data[off:min(off+populateChunk, len(s.data))])
		s.mu.Unlock()
		if err != nil {
			return fmt.Errorf("segment %s: populate: %w", s.path, err)
		}
	}
}

// Close unmaps the segment. Calling it again does nothing.
func (s *Segment) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	data := s.data
	s.data, s.body, s.dir = nil, nil, nil
	if err := unmapFile(data); err != nil {
		return fmt.Errorf("segment %s: unmap: %w", s.path, err)
	}
	return nil
}

// chooseBits is the bucket bits for n postings: the fewest that keep the
// average bucket at most bucketTarget postings, within [minBits, maxBits].
func chooseBits(n uint64) uint {
	b := uint(minBits)
	for b < maxBits && uint64(bucketTarget)<<b < n {
		b++
	}
	return b
}

// refSet counts distinct 32-bit reference ids, roaring-bitmap style: per
// 65,536-id range, a sorted array of the low 16 bits while the range has
// few ids, an 8 KB bitmap once an array would be larger. Reference ids are
// database ids, dense in a few ranges: that is a few bitmaps, where a map
// would take tens of bytes per id; scattered ids cost 2 bytes each, where
// bitmaps alone would take 8 KB per id.
type refSet struct {
	chunks []refChunk
	n      int64
}

type refChunk struct {
	small []uint16 // sorted, while bits is nil
	bits  *[1024]uint64
}

func (s *refSet) add(r uint32) {
	if s.chunks == nil {
		s.chunks = make([]refChunk, 1<<16)
	}
	c, lo := &s.chunks[r>>16], uint16(r)
	if c.bits == nil {
		i, found := slices.BinarySearch(c.small, lo)
		if found {
			return
		}
		if len(c.small) < 4096 {
			c.small = slices.Insert(c.small, i, lo)
			s.n++
			return
		}
		c.bits = new([1024]uint64)
		for _, v := range c.small {
			c.bits[v>>6] |= 1 << (v & 63)
		}
		c.small = nil
	}
	w, bit := lo>>6, uint64(1)<<(lo&63)
	if c.bits[w]&bit == 0 {
		c.bits[w] |= bit
		s.n++
	}
}
