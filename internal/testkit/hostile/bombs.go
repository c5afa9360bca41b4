package hostile

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/crc32"
	"strings"
	"sync"
	"time"
)

// Sizes of the decompression bombs.
const (
	// GzipBombMinInflated is the least the gzip bomb page inflates to; its
	// compressed body is about a thousandth of that (1.1 MB).
	GzipBombMinInflated int64 = 1 << 30
	// ZipBombMemberSize is the least inflated size of each big member of
	// the zip bomb (it is rounded up to whole 1 MiB blocks); the outer zip
	// has ZipBombMembers of them.
	ZipBombMemberSize int64 = 256 << 20
	// ZipBombMembers is the number of big members in the zip bomb and in
	// the zip nested inside it (nested.zip, stored).
	ZipBombMembers = 4
	// ZipBombNestedMemberSize is the least inflated size of each big
	// member of nested.zip.
	ZipBombNestedMemberSize int64 = 64 << 20
	// ZipBombMinInflated is what the outer zip's big members inflate to,
	// not counting nested.zip. The whole zip is about 1.3 MB.
	ZipBombMinInflated = ZipBombMembers * ZipBombMemberSize
)

// repeatUnit is the least size of the block repeated in a bomb; above the
// 32 KiB DEFLATE window, so each repetition decodes the same way.
const repeatUnit = 1 << 20

// deflated is a raw DEFLATE stream with what its trailer needs.
type deflated struct {
	data []byte
	crc  uint32 // CRC-32 (IEEE) of the inflated bytes
	size int64  // inflated size
}

// repeatDeflate returns a DEFLATE stream of head, then pat repeated until the
// whole is at least total bytes, then tail, without compressing more than two
// repetition units. The stream is built from three flushed segments of one
// compressor run: A (head and a unit), R (the next unit) and Z (the tail).
// Each segment starts byte-aligned and R only refers back into the 32 KiB
// before it, which is the end of a unit wherever R is placed, so
// A + R×(n-1) + Z is a valid stream of head + unit×n + tail.
func repeatDeflate(head, pat []byte, total int64, tail []byte) deflated {
	unit := bytes.Repeat(pat, (repeatUnit+len(pat)-1)/len(pat))
	n := max(1, (total-int64(len(head))-int64(len(tail))+int64(len(unit))-1)/int64(len(unit)))

	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		panic(err) // only for an invalid level
	}
	write := func(p []byte) []byte {
		start := buf.Len()
		_, _ = fw.Write(p) // writes to a bytes.Buffer do not fail
		_ = fw.Flush()
		return bytes.Clone(buf.Bytes()[start:])
	}
	a := write(append(bytes.Clone(head), unit...))
	r := write(unit)
	start := buf.Len()
	_, _ = fw.Write(tail)
	_ = fw.Close()
	z := bytes.Clone(buf.Bytes()[start:])

	out := make([]byte, 0, len(a)+int(n-1)*len(r)+len(z))
	out = append(out, a...)
	crc := crc32.Update(0, crc32.IEEETable, head)
	for i := int64(0); i < n; i++ {
		if i > 0 {
			out = append(out, r...)
		}
		crc = crc32.Update(crc, crc32.IEEETable, unit)
	}
	out = append(out, z...)
	crc = crc32.Update(crc, crc32.IEEETable, tail)
	return deflated{data: out, crc: crc, size: int64(len(head)) + n*int64(len(unit)) + int64(len(tail))}
}

// gzipWrap frames a DEFLATE stream as a gzip member (RFC 1952).
func gzipWrap(d deflated) []byte {
	out := make([]byte, 0, len(d.data)+18)
	out = append(out, 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 255) // deflate, no flags, no mtime, best compression, unknown OS
	out = append(out, d.data...)
	out = binary.LittleEndian.AppendUint32(out, d.crc)
	return binary.LittleEndian.AppendUint32(out, uint32(d.size)) // ISIZE is the size mod 2^32
}

// The bombs repeat one byte: DEFLATE then reaches its best ratio (about
// 1:1000); multi-byte periods compress only half as well with compress/flate.
var (
	// bombHead opens the page with some 4,000 paragraphs, so a parser that
	// stops at a decompression cap still has real work, then a comment of
	// NUL bytes that never ends before 1 GiB.
	bombHead = "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Full dump index</title></head><body>\n" +
		"<h1>Full dump index</h1>\n" + strings.Repeat("<p>archive</p>\n", 4096) + "<!--"
	bombTail = "-->\n</body></html>\n"

	csvHead = "nhi,given,family,dob,note\nZZZ0016,Test,Patient,1970-01-01,synthetic\n"
)

// gzipBomb is the gzip bomb page body, built once per process.
var gzipBomb = sync.OnceValue(func() []byte {
	return gzipWrap(repeatDeflate([]byte(bombHead), []byte{0}, GzipBombMinInflated, []byte(bombTail)))
})

// zipBomb is the zip bomb attachment, built once per process: a small
// readme, ZipBombMembers CSV members of ZipBombMemberSize each (a header,
// one row, then NUL bytes), and nested.zip (stored) holding ZipBombMembers
// of ZipBombNestedMemberSize.
var zipBomb = sync.OnceValue(func() []byte {
	inner := bombZip(repeatDeflate([]byte(csvHead), []byte{0}, ZipBombNestedMemberSize, nil), nil)
	return bombZip(repeatDeflate([]byte(csvHead), []byte{0}, ZipBombMemberSize, nil), inner)
})

func bombZip(member deflated, nested []byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	mod := time.Date(2026, 1, 15, 3, 0, 0, 0, time.UTC)
	add := func(fh *zip.FileHeader, data []byte) {
		fh.Modified = mod
		w, err := zw.CreateRaw(fh)
		if err != nil {
			panic(err) // in-memory writer: only a programming error
		}
		_, _ = w.Write(data)
	}
	readme := []byte("Synthetic test archive for leakwatch. Every record is fictional.\n")
	add(&zip.FileHeader{Name: "README.txt", Method: zip.Store, CRC32: crc32.ChecksumIEEE(readme),
		CompressedSize64: uint64(len(readme)), UncompressedSize64: uint64(len(readme))}, readme)
	for i := range ZipBombMembers {
		add(&zip.FileHeader{
			Name: "patients_" + string(rune('0'+i)) + ".csv", Method: zip.Deflate, CRC32: member.crc,
			CompressedSize64: uint64(len(member.data)), UncompressedSize64: uint64(member.size),
		}, member.data)
	}
	if nested != nil {
		add(&zip.FileHeader{Name: "nested.zip", Method: zip.Store, CRC32: crc32.ChecksumIEEE(nested),
			CompressedSize64: uint64(len(nested)), UncompressedSize64: uint64(len(nested))}, nested)
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}
