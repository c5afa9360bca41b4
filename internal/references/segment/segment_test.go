package segment

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

var testKey = [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}

// corpus is a set of postings and the answer each hash should get.
type corpus struct {
	adds []posting           // in the order added, duplicates included
	want map[uint64][]uint32 // hash → sorted distinct refs
	refs map[uint32]bool     // distinct refs
	all  []posting           // sorted distinct
	miss []uint64            // hashes not in the corpus
}

// newCorpus makes n postings over random hashes: most hashes have one or a
// few references, some have hundreds (boilerplate), a tenth of the adds
// repeat an earlier posting, and the extreme hashes 0 and 2^64−1 appear.
func newCorpus(seed uint64, n int) *corpus {
	r := rand.New(rand.NewPCG(seed, 99))
	c := &corpus{want: map[uint64][]uint32{}, refs: map[uint32]bool{}}
	add := func(h uint64, ref uint32) { c.adds = append(c.adds, posting{h, ref}) }
	add(0, 7)
	add(math.MaxUint64, 8)
	add(math.MaxUint64, 3)
	for len(c.adds) < n {
		switch k := r.IntN(100); {
		case k < 10 && len(c.adds) > 0: // duplicate
			p := c.adds[r.IntN(len(c.adds))]
			add(p.hash, p.ref)
		case k < 11: // boilerplate hash
			h := r.Uint64()
			for range 50 + r.IntN(500) {
				add(h, r.Uint32N(5000))
			}
		default:
			h := r.Uint64()
			for range 1 + r.IntN(4) {
				add(h, r.Uint32())
			}
		}
	}
	for _, p := range c.adds {
		c.want[p.hash] = append(c.want[p.hash], p.ref)
		c.refs[p.ref] = true
	}
	for h, refs := range c.want {
		slices.Sort(refs)
		refs = slices.Compact(refs)
		c.want[h] = refs
		for _, ref := range refs {
			c.all = append(c.all, posting{h, ref})
		}
	}
	slices.SortFunc(c.all, cmpPosting)
	for len(c.miss) < 1000 {
		if h := r.Uint64(); c.want[h] == nil {
			c.miss = append(c.miss, h)
		}
	}
	return c
}

func write(t testing.TB, path string, ps []posting, opts Options) Info {
	t.Helper()
	w, err := Create(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if err := w.Add(p.hash, uint64(p.ref)); err != nil {
			t.Fatal(err)
		}
	}
	info, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func open(t testing.TB, path string) *Segment {
	t.Helper()
	s, err := Open(path, testKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func all(t testing.TB, s *Segment) []posting {
	t.Helper()
	var out []posting
	if err := s.All(func(h, ref uint64) error {
		out = append(out, posting{h, uint32(ref)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func fileCRC(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%08x", crc32.Checksum(b, castagnoli))
}

// checkLookups compares every lookup with the corpus, at several caps.
func checkLookups(t *testing.T, s *Segment, c *corpus) {
	t.Helper()
	bad := 0
	for h, want := range c.want {
		for _, m := range []int{-1, 0, 1, 3, 10, 100, 1 << 30} {
			var got []uint32
			n := s.Lookup(h, m, func(ref uint64) { got = append(got, uint32(ref)) })
			wantCalls := want[:min(len(want), max(m+1, 0))]
			if n != len(want) || !slices.Equal(got, wantCalls) {
				if bad++; bad < 10 {
					t.Errorf("Lookup(%016x, %d) = %d, %v; want %d, %v", h, m, n, got, len(want), wantCalls)
				}
			}
		}
	}
	for _, h := range c.miss {
		if n := s.Lookup(h, 5, func(uint64) { t.Fatalf("Lookup(%016x) called fn for a missing hash", h) }); n != 0 {
			t.Errorf("Lookup(missing %016x) = %d", h, n)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	c := newCorpus(1, 300_000)
	path := filepath.Join(t.TempDir(), "a.seg")
	info := write(t, path, c.adds, Options{KeyID: testKey})
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	want := Info{Path: path, Postings: int64(len(c.all)), Refs: int64(len(c.refs)), Bytes: st.Size(), Checksum: fileCRC(t, path)}
	if info != want {
		t.Errorf("Close() = %+v, want %+v", info, want)
	}
	if len(c.all) == len(c.adds) {
		t.Fatal("corpus has no duplicates")
	}
	s := open(t, path)
	if got := s.Info(); got != want {
		t.Errorf("Info() = %+v, want %+v", got, want)
	}
	if s.Postings() != int64(len(c.all)) {
		t.Errorf("Postings() = %d, want %d", s.Postings(), len(c.all))
	}
	if s.hdr.bits != uint32(chooseBits(uint64(len(c.all)))) {
		t.Errorf("bucket bits %d, want %d", s.hdr.bits, chooseBits(uint64(len(c.all))))
	}
	checkLookups(t, s, c)
	if got := all(t, s); !slices.Equal(got, c.all) {
		t.Errorf("All() differs from the sorted distinct postings (%d vs %d)", len(got), len(c.all))
	}
	if err := s.Verify(); err != nil {
		t.Errorf("Verify() = %v", err)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.All(func(uint64, uint64) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("All stopping at the first posting: %v after %d", err, n)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("directory holds %d files, want the segment alone", len(entries))
	}
}

func TestConcurrentLookups(t *testing.T) {
	c := newCorpus(2, 50_000)
	path := filepath.Join(t.TempDir(), "a.seg")
	write(t, path, c.adds, Options{KeyID: testKey})
	s := open(t, path)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for h, want := range c.want {
				if uint64(g)&1 == h&1 {
					continue
				}
				if n := s.Lookup(h, 2, nil); n != len(want) {
					errs <- fmt.Sprintf("Lookup(%016x) = %d, want %d", h, n, len(want))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func runFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.run-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSpill(t *testing.T) {
	c := newCorpus(3, 200_000)
	dir, tmp := t.TempDir(), t.TempDir()
	path := filepath.Join(dir, "a.seg")
	w, err := Create(path, Options{KeyID: testKey, RunPostings: 1000, TempDir: tmp})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range c.adds {
		if err := w.Add(p.hash, uint64(p.ref)); err != nil {
			t.Fatal(err)
		}
	}
	// 200 runs: more than one merge pass reads at once.
	if n := len(runFiles(t, tmp)); n < fanIn+1 {
		t.Fatalf("%d run files before Close, want over %d", n, fanIn)
	}
	if n := len(runFiles(t, dir)); n != 0 {
		t.Fatalf("%d run files outside TempDir", n)
	}
	info, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if info.Postings != int64(len(c.all)) || info.Refs != int64(len(c.refs)) || info.Checksum != fileCRC(t, path) {
		t.Errorf("Close() = %+v; want %d postings, %d refs", info, len(c.all), len(c.refs))
	}
	for _, d := range []string{dir, tmp} {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			if e.Name() != "a.seg" {
				t.Errorf("%s left behind after Close", e.Name())
			}
		}
	}
	s := open(t, path)
	if got := all(t, s); !slices.Equal(got, c.all) {
		t.Errorf("All() differs from the sorted distinct postings (%d vs %d)", len(got), len(c.all))
	}
	checkLookups(t, s, c)
	if err := s.Verify(); err != nil {
		t.Error(err)
	}
	if _, err := w.Close(); err == nil {
		t.Error("second Close succeeded")
	}
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after Close = %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("Abort after Close removed the segment: %v", err)
	}
}

func TestAbort(t *testing.T) {
	c := newCorpus(4, 20_000)
	dir := t.TempDir()
	path := filepath.Join(dir, "a.seg")
	w, err := Create(path, Options{KeyID: testKey, RunPostings: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range c.adds {
		if err := w.Add(p.hash, uint64(p.ref)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(runFiles(t, dir)); n == 0 {
		t.Fatal("no run files before Abort")
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("Abort left %v", entries)
	}
	if err := w.Add(1, 1); err == nil {
		t.Error("Add after Abort succeeded")
	}
	if _, err := w.Close(); err == nil {
		t.Error("Close after Abort succeeded")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("segment exists after Abort: %v", err)
	}
}

func TestRefTooLarge(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(filepath.Join(dir, "a.seg"), Options{KeyID: testKey})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if err := w.Add(1, math.MaxUint32); err != nil {
		t.Errorf("Add(ref 2^32-1) = %v", err)
	}
	for _, ref := range []uint64{1 << 32, math.MaxUint64} {
		if err := w.Add(1, ref); err == nil || !strings.Contains(err.Error(), "32 bits") {
			t.Errorf("Add(ref %d) = %v, want an error", ref, err)
		}
	}
	info, err := w.Close()
	if err != nil || info.Postings != 1 {
		t.Fatalf("Close() = %+v, %v", info, err)
	}
	var got []uint64
	open(t, info.Path).Lookup(1, 5, func(ref uint64) { got = append(got, ref) })
	if !slices.Equal(got, []uint64{math.MaxUint32}) {
		t.Errorf("Lookup = %v", got)
	}
}

func TestMerge(t *testing.T) {
	dir := t.TempDir()
	a, b := newCorpus(5, 60_000), newCorpus(6, 40_000)
	// Share postings between the sources: they must come out once.
	b.adds = append(b.adds, a.adds[:5000]...)
	var srcs []*Segment
	for i, c := range []*corpus{a, b} {
		path := filepath.Join(dir, fmt.Sprintf("src%d.seg", i))
		write(t, path, c.adds, Options{KeyID: testKey, RunPostings: 7000})
		srcs = append(srcs, open(t, path))
	}
	keep := func(ref uint64) bool { return ref%3 != 0 }
	var want []posting
	refs := map[uint32]bool{}
	for _, c := range []*corpus{a, b} {
		for _, p := range c.adds {
			if keep(uint64(p.ref)) {
				want = append(want, p)
				refs[p.ref] = true
			}
		}
	}
	slices.SortFunc(want, cmpPosting)
	want = slices.Compact(want)
	path := filepath.Join(dir, "merged.seg")
	info, err := Merge(path, srcs, keep, Options{KeyID: testKey})
	if err != nil {
		t.Fatal(err)
	}
	if info.Postings != int64(len(want)) || info.Refs != int64(len(refs)) || info.Checksum != fileCRC(t, path) {
		t.Errorf("Merge() = %+v; want %d postings, %d refs, checksum %s", info, len(want), len(refs), fileCRC(t, path))
	}
	m := open(t, path)
	if got := all(t, m); !slices.Equal(got, want) {
		t.Errorf("merged segment differs: %d postings, want %d", len(got), len(want))
	}
	if err := m.Verify(); err != nil {
		t.Error(err)
	}
	if m.Info() != info {
		t.Errorf("Info() = %+v, Merge said %+v", m.Info(), info)
	}
	// Bucket bits follow what was kept, not the sources' total.
	if m.hdr.bits != uint32(chooseBits(uint64(len(want)))) {
		t.Errorf("bucket bits %d, want %d", m.hdr.bits, chooseBits(uint64(len(want))))
	}

	// keep nil keeps everything; dropping everything gives a valid empty segment.
	infoAll, err := Merge(filepath.Join(dir, "all.seg"), srcs, nil, Options{KeyID: testKey})
	if err != nil || infoAll.Postings != int64(len(a.all))+int64(len(b.all))-int64(countShared(a, b)) {
		t.Errorf("Merge(keep nil) = %+v, %v", infoAll, err)
	}
	none, err := Merge(filepath.Join(dir, "none.seg"), srcs, func(uint64) bool { return false }, Options{KeyID: testKey})
	if err != nil || none.Postings != 0 || none.Refs != 0 {
		t.Errorf("Merge(keep none) = %+v, %v", none, err)
	}
	if err := open(t, none.Path).Verify(); err != nil {
		t.Error(err)
	}

	// Sources of another key are refused.
	other := [16]byte{9}
	if _, err := Merge(filepath.Join(dir, "x.seg"), srcs, nil, Options{KeyID: other}); !errors.Is(err, ErrKey) {
		t.Errorf("Merge under another key = %v, want ErrKey", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "x.seg.tmp")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("refused merge left a file: %v", err)
	}
}

func countShared(a, b *corpus) int {
	set := map[posting]bool{}
	for _, p := range a.all {
		set[p] = true
	}
	n := 0
	for _, p := range b.all {
		if set[p] {
			n++
		}
	}
	return n
}

func TestEmpty(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.seg")
	info := write(t, path, nil, Options{KeyID: testKey})
	if info.Postings != 0 || info.Refs != 0 || info.Bytes != headerSize+4*(1<<minBits+1) || info.Checksum != fileCRC(t, path) {
		t.Errorf("Close() = %+v", info)
	}
	s := open(t, path)
	if s.Postings() != 0 || s.Info() != info {
		t.Errorf("Postings() = %d, Info() = %+v", s.Postings(), s.Info())
	}
	if n := s.Lookup(0, 10, func(uint64) { t.Error("fn called") }); n != 0 {
		t.Errorf("Lookup = %d", n)
	}
	if err := s.Verify(); err != nil {
		t.Error(err)
	}
	if got := all(t, s); len(got) != 0 {
		t.Errorf("All() = %v", got)
	}
	// An empty file is not an empty segment.
	bad := filepath.Join(t.TempDir(), "zero.seg")
	os.WriteFile(bad, nil, 0o600)
	if _, err := Open(bad, testKey); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("Open(empty file) = %v", err)
	}
}

func TestCorruption(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "good.seg")
	c := newCorpus(7, 50_000)
	write(t, path, c.adds, Options{KeyID: testKey})
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var h header
	if h, err = parseHeader(path, good, int64(len(good))); err != nil {
		t.Fatal(err)
	}
	fixCRC := func(b []byte) { le.PutUint32(b[60:], crc32.Checksum(b[:60], castagnoli)) }
	n := int(h.postings)
	tests := []struct {
		name  string
		edit  func([]byte) []byte
		key   [16]byte
		is    error
		words string
	}{
		{"truncated by a byte", func(b []byte) []byte { return b[:len(b)-1] }, testKey, ErrCorrupt, "truncated"},
		{"truncated in the body", func(b []byte) []byte { return b[:len(b)/2] }, testKey, ErrCorrupt, "truncated"},
		{"truncated in the header", func(b []byte) []byte { return b[:30] }, testKey, ErrCorrupt, "truncated"},
		{"trailing bytes", func(b []byte) []byte { return append(b, 0) }, testKey, ErrCorrupt, "trailing"},
		{"flipped header byte", func(b []byte) []byte { b[33] ^= 1; return b }, testKey, ErrCorrupt, "header checksum"},
		{"flipped header checksum", func(b []byte) []byte { b[61] ^= 0x80; return b }, testKey, ErrCorrupt, "header checksum"},
		{"wrong magic", func(b []byte) []byte { copy(b, "PK\x03\x04"); return b }, testKey, ErrCorrupt, "not a postings segment"},
		{"other version", func(b []byte) []byte { le.PutUint32(b[8:], 2); fixCRC(b); return b }, testKey, ErrVersion, "format version 2"},
		{"other version, other layout", func(b []byte) []byte { le.PutUint32(b[8:], 2); return b }, testKey, ErrVersion, "format version 2"},
		{"other key", func(b []byte) []byte { return b }, [16]byte{0xaa}, ErrKey, "fingerprint key id 0102"},
		{"postings count too large", func(b []byte) []byte {
			le.PutUint64(b[32:], h.postings+1)
			le.PutUint64(b[48:], h.dirOff+12)
			fixCRC(b)
			return b
		}, testKey, ErrCorrupt, "truncated"},
		{"directory out of order", func(b []byte) []byte {
			e := b[h.dirOff+4*10:]
			le.PutUint32(e, le.Uint32(e[4:])+1)
			return b
		}, testKey, ErrCorrupt, "directory out of order"},
		{"directory past the end", func(b []byte) []byte {
			le.PutUint32(b[len(b)-4:], uint32(n+1))
			return b
		}, testKey, ErrCorrupt, "directory ends"},
		{"first posting in the wrong bucket", func(b []byte) []byte {
			b[headerSize+7] ^= 0x40 // the top bits of the first hash
			return b
		}, testKey, ErrCorrupt, "outside its bucket"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "bad.seg")
			if err := os.WriteFile(p, tc.edit(bytes.Clone(good)), 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(p, tc.key)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.words) || !strings.Contains(err.Error(), p) {
				t.Errorf("Open() = %v; want %v naming the file and saying %q", err, tc.is, tc.words)
			}
		})
	}

	// Damage in the body passes Open's cheap checks; Verify finds it.
	for _, at := range []int{headerSize + entrySize*(n/2) + 3, headerSize + entrySize*(n/3) + 9, int(h.dirOff) + 4*5 + 1} {
		b := bytes.Clone(good)
		b[at] ^= 0x10
		p := filepath.Join(t.TempDir(), "body.seg")
		os.WriteFile(p, b, 0o600)
		s, err := Open(p, testKey)
		if err != nil {
			if at >= int(h.dirOff) {
				continue // a directory flip may be caught already
			}
			t.Fatalf("Open with a flipped body byte: %v", err)
		}
		err = s.Verify()
		s.Close()
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "checksum") || !strings.Contains(err.Error(), p) {
			t.Errorf("Verify with byte %d flipped = %v", at, err)
		}
	}

	if _, err := Open(filepath.Join(dir, "missing.seg"), testKey); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(missing) = %v", err)
	}
}

// A segment whose checksum matches but whose postings are out of order (a
// writer bug, not damage) fails Verify on order.
func TestVerifyOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.seg")
	c := newCorpus(8, 5000)
	write(t, path, c.adds, Options{KeyID: testKey})
	b, _ := os.ReadFile(path)
	h, _ := parseHeader(path, b, int64(len(b)))
	// Swap two postings in the middle of one bucket and re-seal.
	i := int(h.postings) / 2
	x, y := b[headerSize+entrySize*i:], b[headerSize+entrySize*(i+1):]
	var tmp [entrySize]byte
	copy(tmp[:], x[:entrySize])
	copy(x[:entrySize], y[:entrySize])
	copy(y[:entrySize], tmp[:])
	h.bodyCRC = crc32.Checksum(b[headerSize:], castagnoli)
	copy(b, h.marshal())
	os.WriteFile(path, b, 0o600)
	s := open(t, path)
	if err := s.Verify(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "not after") {
		t.Errorf("Verify() = %v", err)
	}
}

func TestCRC32Combine(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, 3, 7, 64, 1000, 1 << 20} {
		a, b := make([]byte, 1+r.IntN(100)), make([]byte, n)
		for i := range a {
			a[i] = byte(r.Uint32())
		}
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		want := crc32.Checksum(append(a, b...), castagnoli)
		if got := crc32Combine(crc32.Checksum(a, castagnoli), crc32.Checksum(b, castagnoli), int64(n)); got != want {
			t.Errorf("combine with %d bytes = %08x, want %08x", n, got, want)
		}
	}
}

func TestChooseBits(t *testing.T) {
	for _, tc := range []struct {
		n    uint64
		bits uint
	}{{0, 8}, {1, 8}, {128 << 8, 8}, {128<<8 + 1, 9}, {10_000_000, 17}, {232_000_000, 21}, {1 << 40, 24}} {
		if got := chooseBits(tc.n); got != tc.bits {
			t.Errorf("chooseBits(%d) = %d, want %d", tc.n, got, tc.bits)
		}
	}
}

func TestRefSet(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var s refSet
	want := map[uint32]bool{}
	add := func(v uint32) {
		s.add(v)
		want[v] = true
	}
	for range 20000 { // dense: turns one range into a bitmap
		add(70000 + r.Uint32N(9000))
	}
	for range 20000 { // scattered
		add(r.Uint32())
	}
	add(0)
	add(math.MaxUint32)
	add(0)
	if s.n != int64(len(want)) {
		t.Errorf("refSet counts %d, want %d", s.n, len(want))
	}
	if s.chunks[70000>>16].bits == nil && s.chunks[79000>>16].bits == nil {
		t.Error("dense range not a bitmap")
	}
}

func TestSortPostings(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 100, 1000, 5000, 100_000, 3_000_000} {
		ps := make([]posting, n)
		for i := range ps {
			switch r.IntN(4) {
			case 0: // a shared hash
				ps[i] = posting{0x8000_0000_0000_0001, r.Uint32N(100)}
			case 1: // a copy of an earlier one
				if i > 0 {
					ps[i] = ps[r.IntN(i)]
					continue
				}
				fallthrough
			default:
				ps[i] = posting{r.Uint64(), r.Uint32()}
			}
		}
		want := slices.Clone(ps)
		slices.SortFunc(want, cmpPosting)
		sortPostings(ps)
		if !slices.Equal(ps, want) {
			t.Errorf("sortPostings of %d postings differs from a comparison sort", n)
		}
	}
}

// Populate maps the segment without changing what lookups answer, and a
// Close while it runs waits for it rather than unmapping under it.
func TestPopulate(t *testing.T) {
	c := newCorpus(5, 200_000)
	path := filepath.Join(t.TempDir(), "p.seg")
	write(t, path, c.adds, Options{KeyID: testKey})
	s := open(t, path)
	if err := s.Populate(); err != nil {
		t.Fatal(err)
	}
	checkLookups(t, s, c)
	for range 20 {
		s2, err := Open(path, testKey)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s2.Populate() }()
		if err := s2.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Populate during Close: %v", err)
		}
		if err := s2.Populate(); err != nil {
			t.Fatalf("Populate after Close: %v", err)
		}
	}
}

// TestCoarseDirectory looks up through coarse directories of every width
// down to 2 bits (at the breach's size the 16-bit one spans 32 file
// buckets; a small test segment's would span one), with and without a
// Prefetch first: the same postings as the file's own directory gives.
func TestCoarseDirectory(t *testing.T) {
	c := newCorpus(5, 60_000)
	path := filepath.Join(t.TempDir(), "coarse.seg")
	write(t, path, c.adds, Options{KeyID: testKey})
	s := open(t, path)
	if s.hdr.bits < 9 {
		t.Fatalf("segment has %d bucket bits; the test wants more than 8", s.hdr.bits)
	}
	hashes := slices.Collect(maps.Keys(c.want))
	for bits := uint(s.hdr.bits); bits >= 2; bits -= 3 {
		s.setCoarse(bits)
		if got := len(s.coarse); got != 1<<bits+1 {
			t.Fatalf("%d coarse bits: %d entries", bits, got)
		}
		if bits%2 == 0 {
			s.Prefetch(append(hashes, c.miss...))
		}
		checkLookups(t, s, c)
	}
}
