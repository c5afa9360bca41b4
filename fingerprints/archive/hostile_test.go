package archive

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// zeroDeflate writes a raw deflate stream of prefix followed by n MiB of
// zeros without ever holding them: once the window is all zeros, the
// compressed form of one more MiB is the same bytes every time.
func zeroDeflate(t testing.TB, w io.Writer, prefix []byte, mib int) {
	t.Helper()
	var b bytes.Buffer
	fw, err := flate.NewWriter(&b, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 1<<20)
	fw.Write(prefix)
	fw.Write(zeros)
	fw.Flush()
	w.Write(b.Bytes())
	b.Reset()
	fw.Write(zeros)
	fw.Flush()
	chunk := bytes.Clone(b.Bytes())
	b.Reset()
	for i := 2; i < mib; i++ {
		w.Write(chunk)
	}
	if mib >= 2 {
		w.Write(chunk)
	}
	fw.Close()
	w.Write(b.Bytes())
}

func zeroCRC(prefix []byte, mib int) uint32 {
	crc := crc32.ChecksumIEEE(prefix)
	zeros := make([]byte, 1<<20)
	for range mib {
		crc = crc32.Update(crc, crc32.IEEETable, zeros)
	}
	return crc
}

// zipBomb is a zip of one member of mib MiB of zeros (~1 KB per MiB).
// declared overrides the declared uncompressed size when >= 0.
func zipBomb(t testing.TB, mib int, declared int64) []byte {
	var raw bytes.Buffer
	zeroDeflate(t, &raw, nil, mib)
	size := uint64(mib) << 20
	if declared >= 0 {
		size = uint64(declared)
	}
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, err := zw.CreateRaw(&zip.FileHeader{
		Name: "zeros.bin", Method: zip.Deflate, CRC32: zeroCRC(nil, mib),
		CompressedSize64: uint64(raw.Len()), UncompressedSize64: size,
	})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(raw.Bytes())
	zw.Close()
	return b.Bytes()
}

// gzipBomb is a gzip stream of prefix + mib MiB of zeros.
func gzipBomb(t testing.TB, prefix []byte, mib int) []byte {
	var b bytes.Buffer
	b.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255})
	zeroDeflate(t, &b, prefix, mib)
	binary.Write(&b, binary.LittleEndian, zeroCRC(prefix, mib))
	binary.Write(&b, binary.LittleEndian, uint32(len(prefix)+mib<<20))
	return b.Bytes()
}

// peakHeap runs fn while sampling live heap objects and returns the peak
// growth over the starting heap.
func peakHeap(fn func()) uint64 {
	runtime.GC()
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	base := read()
	var peak atomic.Uint64
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			if v := read(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	fn()
	close(done)
	<-stopped
	if v := read(); v > peak.Load() {
		peak.Store(v)
	}
	if peak.Load() < base {
		return 0
	}
	return peak.Load() - base
}

const heapBudget = 600 << 20

func TestZipBomb(t *testing.T) {
	bomb := zipBomb(t, 1024, -1) // 1 GiB of zeros
	t.Logf("zip bomb: %d bytes for 1 GiB", len(bomb))
	if len(bomb) > 4<<20 {
		t.Fatalf("bomb too big: %d", len(bomb))
	}

	t.Run("declared size refused early", func(t *testing.T) {
		var got map[string]Member
		var st Stats
		var err error
		peak := peakHeap(func() { got, st, err = collect(t, &Walker{}, "bomb.zip", bomb) })
		if err != nil {
			t.Fatal(err)
		}
		m := got["bomb.zip!/zeros.bin"]
		var le *LimitError
		if !errors.As(m.Err, &le) || le.Limit != "MaxMemberBytes" || m.Data != nil {
			t.Fatalf("got %v", keys(got))
		}
		t.Logf("result: %v; peak heap +%d MiB; stats %+v", m.Err, peak>>20, st)
		if st.Bytes != 0 || peak > 64<<20 {
			t.Errorf("read %d bytes, peak heap %d", st.Bytes, peak)
		}
	})

	t.Run("read through the LimitReader", func(t *testing.T) {
		// Limits loose enough that the declared size passes: the actual
		// bytes must then be caught by the total budget while reading.
		w := &Walker{Limits: Limits{MaxMemberBytes: 2 << 30, MaxRatio: 1e9, MaxTotalBytes: 128 << 20}}
		var err error
		var st Stats
		peak := peakHeap(func() { _, st, err = collect(t, w, "bomb.zip", bomb) })
		var le *LimitError
		if !errors.As(err, &le) || le.Limit != "MaxTotalBytes" {
			t.Fatalf("err = %v", err)
		}
		t.Logf("result: %v; peak heap +%d MiB; stats %+v", err, peak>>20, st)
		if peak > heapBudget {
			t.Errorf("peak heap %d MiB", peak>>20)
		}
	})

	t.Run("lying declared size", func(t *testing.T) {
		liar := zipBomb(t, 1024, 1000)
		var got map[string]Member
		peak := peakHeap(func() {
			var err error
			if got, _, err = collect(t, &Walker{}, "liar.zip", liar); err != nil {
				t.Error(err)
			}
		})
		if m := got["liar.zip!/zeros.bin"]; m.Err == nil {
			t.Fatalf("no error: %v", keys(got))
		}
		if peak > 64<<20 {
			t.Errorf("peak heap %d MiB", peak>>20)
		}
	})
}

func TestGzipBomb(t *testing.T) {
	// Sanity of the construction on a small one: it really is zeros, with
	// a valid CRC and length.
	zr, _ := gzip.NewReader(bytes.NewReader(gzipBomb(t, nil, 8)))
	if n, err := io.Copy(io.Discard, zr); err != nil || n != 8<<20 {
		t.Fatalf("bomb decodes to %d, %v", n, err)
	}
	bomb := gzipBomb(t, nil, 1024) // 1 GiB of zeros
	var got map[string]Member
	var err error
	peak := peakHeap(func() { got, _, err = collect(t, &Walker{}, "zeros.gz", bomb) })
	if err != nil {
		t.Fatal(err)
	}
	m := got["zeros.gz!/zeros"]
	var le *LimitError
	if !errors.As(m.Err, &le) || le.Limit != "MaxRatio" {
		t.Fatalf("got %v", keys(got))
	}
	t.Logf("gzip bomb (%d bytes): %v; peak heap +%d MiB", len(bomb), m.Err, peak>>20)
	if peak > heapBudget {
		t.Errorf("peak heap %d MiB", peak>>20)
	}
}

// A tar member too big to read is skipped, but skipping decompresses it:
// that work is metered too, so the bomb trips MaxRatio while being skipped.
func TestTarGzBombSkippedThroughMeter(t *testing.T) {
	hdr := buildTar(t, file{"zeros.bin", nil})[:512]
	var h bytes.Buffer
	tw := tar.NewWriter(&h)
	tw.WriteHeader(&tar.Header{Name: "zeros.bin", Size: 1 << 30, Mode: 0o644, Typeflag: tar.TypeReg})
	hdr = h.Bytes()[:512]
	bomb := gzipBomb(t, hdr, 1025)
	got, st, err := collect(t, &Walker{}, "zeros.tar.gz", bomb)
	if err != nil {
		t.Fatal(err)
	}
	var le *LimitError
	if m := got["zeros.tar.gz!/zeros.bin"]; !errors.As(m.Err, &le) || le.Limit != "MaxMemberBytes" {
		t.Fatalf("member: %v", keys(got))
	}
	if m := got["zeros.tar.gz"]; !errors.As(m.Err, &le) || le.Limit != "MaxRatio" {
		t.Fatalf("archive: %v", keys(got))
	}
	if st.Bytes > 300<<20 {
		t.Errorf("decompressed %d bytes before stopping", st.Bytes)
	}
}

func TestRatioStopsArchive(t *testing.T) {
	var files []file
	for i := range 40 {
		files = append(files, file{fmt.Sprintf("f%02d", i), make([]byte, 1<<20)})
	}
	data := buildZip(t, files...) // 40 MiB of zeros in ~40 KB
	got, st, err := collect(t, &Walker{}, "r.zip", data)
	if err != nil {
		t.Fatal(err)
	}
	ratioErrs := 0
	for _, m := range got {
		if errors.Is(m.Err, ErrLimit) && strings.Contains(m.Err.Error(), "MaxRatio") {
			ratioErrs++
		}
	}
	if ratioErrs != 1 || st.Members == 0 || st.Members >= 40 {
		t.Fatalf("ratio errors %d, stats %+v", ratioErrs, st)
	}
}

func TestNestedDepth(t *testing.T) {
	data := buildZip(t, file{"deep.pdf", pdf})
	for i := 10; i >= 1; i-- {
		data = buildZip(t, file{fmt.Sprintf("l%d.zip", i), data})
	}
	got, st, err := collect(t, &Walker{}, "nest.zip", data)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := got["nest.zip!/l1.zip!/l2.zip!/l3.zip"]
	var le *LimitError
	if !ok || !errors.As(m.Err, &le) || le.Limit != "MaxDepth" || len(got) != 1 {
		t.Fatalf("got %v", keys(got))
	}
	if st.Archives != 3 {
		t.Errorf("opened %d archives, want 3", st.Archives)
	}
	got, _, err = collect(t, &Walker{Limits: Limits{MaxDepth: 11}}, "nest.zip", data)
	if err != nil {
		t.Fatal(err)
	}
	deep := "nest.zip"
	for i := 1; i <= 10; i++ {
		deep += fmt.Sprintf("!/l%d.zip", i)
	}
	wantMembers(t, got, map[string][]byte{deep + "!/deep.pdf": pdf})
}

// manyEntriesZip writes n empty stored entries by hand (zip.Writer would
// keep a header object per entry): ~90 bytes each, zip64 directory.
func manyEntriesZip(n int) []byte {
	const nameLen = 7
	b := make([]byte, 0, n*(30+46+2*nameLen)+200)
	le16 := func(v int) { b = binary.LittleEndian.AppendUint16(b, uint16(v)) }
	le32 := func(v uint32) { b = binary.LittleEndian.AppendUint32(b, v) }
	le64 := func(v uint64) { b = binary.LittleEndian.AppendUint64(b, v) }
	name := func(i int) { b = fmt.Appendf(b, "%07d", i) }
	for i := range n {
		le32(0x04034b50)
		le16(10)
		le16(0)
		le16(0)
		le32(0)
		le32(0)
		le32(0)
		le32(0)
		le16(nameLen)
		le16(0)
		name(i)
	}
	cdStart := len(b)
	for i := range n {
		le32(0x02014b50)
		le16(10)
		le16(10)
		le16(0)
		le16(0)
		le32(0)
		le32(0)
		le32(0)
		le32(0)
		le16(nameLen)
		le16(0)
		le16(0)
		le16(0)
		le16(0)
		le32(0)
		le32(uint32(i * (30 + nameLen)))
		name(i)
	}
	cdEnd := len(b)
	le32(0x06064b50) // zip64 end of central directory
	le64(44)
	le16(45)
	le16(45)
	le32(0)
	le32(0)
	le64(uint64(n))
	le64(uint64(n))
	le64(uint64(cdEnd - cdStart))
	le64(uint64(cdStart))
	le32(0x07064b50) // locator
	le32(0)
	le64(uint64(cdEnd))
	le32(1)
	le32(0x06054b50)
	le16(0)
	le16(0)
	le16(0xffff)
	le16(0xffff)
	le32(0xffffffff)
	le32(0xffffffff)
	le16(0)
	return b
}

func TestEntriesLimit(t *testing.T) {
	t.Run("zip with 1e6 entries", func(t *testing.T) {
		data := manyEntriesZip(1_000_000)
		var err error
		var st Stats
		peak := peakHeap(func() { _, st, err = collect(t, &Walker{}, "many.zip", data) })
		var le *LimitError
		if !errors.As(err, &le) || le.Limit != "MaxEntries" {
			t.Fatalf("err = %v", err)
		}
		t.Logf("%d-byte zip: %v; peak heap +%d MiB", len(data), err, peak>>20)
		if peak > 64<<20 || st.Members != 0 {
			t.Errorf("peak heap %d MiB, stats %+v", peak>>20, st)
		}
		// Under the limit the same shape walks fine.
		got, st, err := collect(t, &Walker{Limits: Limits{MaxEntries: 2000}}, "ok.zip", manyEntriesZip(2000))
		if err != nil || st.Members != 2000 || len(got) != 2000 {
			t.Fatalf("2000 entries: %v, %+v", err, st)
		}
	})
	t.Run("tar.gz streamed past the limit", func(t *testing.T) {
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
		tw := tar.NewWriter(zw)
		for i := range 150_000 {
			tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("f%06d", i), Typeflag: tar.TypeReg, Mode: 0o644})
		}
		tw.Close()
		zw.Close()
		n := 0
		_, err := (&Walker{}).Walk(context.Background(), "many.tgz", b.Bytes(), func(Member) error { n++; return nil })
		var le *LimitError
		if !errors.As(err, &le) || le.Limit != "MaxEntries" || n != DefaultMaxEntries {
			t.Fatalf("err = %v after %d members", err, n)
		}
	})
}

// A 45-byte 7z declaring 2^31 files: bodgit/sevenzip alone would allocate
// hundreds of GB and die with an unrecoverable "out of memory".
func Test7zHeaderCountBomb(t *testing.T) {
	build := func(hdr []byte) []byte {
		var start [20]byte
		binary.LittleEndian.PutUint64(start[8:], uint64(len(hdr)))
		binary.LittleEndian.PutUint32(start[16:], crc32.ChecksumIEEE(hdr))
		var b bytes.Buffer
		b.Write(magic7z)
		b.Write([]byte{0, 4})
		binary.Write(&b, binary.LittleEndian, crc32.ChecksumIEEE(start[:]))
		b.Write(start[:])
		b.Write(hdr)
		return b.Bytes()
	}
	bombs := map[string][]byte{
		"files":       build([]byte{szHeader, szFilesInfo, 0xf0, 0xff, 0xff, 0xff, 0x7f, 0}),
		"packstreams": build([]byte{szHeader, szMainStreamsInfo, szPackInfo, 0, 0xf0, 0xff, 0xff, 0xff, 0x7f, szCRC, 1, 0}),
		"folders":     build([]byte{szHeader, szMainStreamsInfo, szUnpackInfo, szFolderID, 0xf0, 0xff, 0xff, 0xff, 0x7f, 0, 0}),
		"coderprops":  build([]byte{szHeader, szMainStreamsInfo, szUnpackInfo, szFolderID, 1, 0, 1, 0x21, 0x21, 0xf0, 0xff, 0xff, 0xff, 0x7f}),
		"lzma2dict":   build([]byte{szHeader, szMainStreamsInfo, szUnpackInfo, szFolderID, 1, 0, 1, 0x21, 0x21, 1, 40, szCodersUnpackSize, 5, 0, 0, 0}),
		"encoded":     build([]byte{szEncodedHeader, szPackInfo, 0, 1, szSize, 0xf0, 0xff, 0xff, 0xff, 0x7f, 0}),
	}
	for name, data := range bombs {
		t.Run(name, func(t *testing.T) {
			got, st, err := collect(t, &Walker{}, name+".7z", data)
			if err != nil {
				t.Fatal(err)
			}
			if st.Errors != 1 || got[name+".7z"].Err == nil {
				t.Fatalf("got %v", keys(got))
			}
			t.Logf("%v", got[name+".7z"].Err)
		})
	}
}

func TestWalkDoesNotRetainAcrossCalls(t *testing.T) {
	// One Walker, concurrent walks: no shared mutable state (run with -race).
	w := &Walker{Passwords: []string{"x"}}
	data := buildZip(t, file{"a.pdf", pdf}, file{"in.tgz", gz(t, buildTar(t, file{"b", csv}))})
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			_, err := w.Walk(context.Background(), "x.zip", data, func(Member) error { return nil })
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
