package webcrawl

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"

	"github.com/bodgit/sevenzip"
	"github.com/ulikunitz/xz/lzma"
)

// A 7z archive keeps its directory, the "header", at its end: the 32-byte
// start header at offset 0 gives the header's offset, size and CRC. The
// header is usually compressed ("encoded"): then it is a small raw header
// describing a packed stream, stored just before it, that decodes to the
// real one.
//
// github.com/bodgit/sevenzip parses headers well but allocates whatever a
// count in one says: a 41-byte header claiming 2^28 files is a fatal
// out-of-memory, which no recover catches. So the header is read and
// decoded here, its counts are checked against its length (scan7z, which
// walks it exactly as sevenzip will), and only then is it handed to
// sevenzip as an in-memory archive of the header alone: member data
// cannot be read because there is none.

const sevenZipMaxHeader = 64 << 20 // bytes, packed or decoded; a bigger header is left unread

var sevenZipSignature = []byte{'7', 'z', 0xbc, 0xaf, 0x27, 0x1c}

// Property IDs of the 7z header (7-Zip's DOC/7zFormat.txt).
const (
	szEnd               = 0x00
	szHeader            = 0x01
	szMainStreamsInfo   = 0x04
	szFilesInfo         = 0x05
	szPackInfo          = 0x06
	szUnpackInfo        = 0x07
	szSubStreamsInfo    = 0x08
	szSize              = 0x09
	szCRC               = 0x0a
	szFolder            = 0x0b
	szCodersUnpackSize  = 0x0c
	szNumUnpackStream   = 0x0d
	szEncodedHeader     = 0x17
	szMaxFolderStreams  = 64 // 7-Zip's own limits on a folder's coders and streams
	szMaxFolderCoders   = 64
	szStartHeaderLength = 32
)

// Coder IDs a header may be encoded with.
var (
	szCopy  = []byte{0x00}
	szLZMA  = []byte{0x03, 0x01, 0x01}
	szLZMA2 = []byte{0x21}
	szAES   = []byte{0x06, 0xf1, 0x07, 0x01}
)

// sevenZipDirectory lists a 7z from its header.
func sevenZipDirectory(r *rangeReader) (directory, error) {
	hdr, err := read7zHeader(r)
	if err != nil {
		return directory{}, fmt.Errorf("7z: %w", err)
	}
	var d directory
	if hdr == nil {
		return d, nil // an empty archive
	}
	s := scan7z{b: hdr[1:]}
	s.header()
	if s.err != nil {
		return directory{}, fmt.Errorf("7z header: %w", s.err)
	}
	files, err := parse7zHeader(hdr)
	if err != nil {
		return directory{}, fmt.Errorf("7z header: %w", err)
	}
	for _, f := range files {
		if f.FileInfo().IsDir() {
			continue
		}
		// sevenzip gives 0 for a CRC the header leaves undefined.
		d.add(Member{Name: f.Name, CRC32: f.CRC32, Size: int64(min(f.UncompressedSize, 1<<63-1))},
			f.CRC32 != 0 || f.UncompressedSize == 0)
		if d.stopped != nil {
			break
		}
	}
	return d, nil
}

// read7zHeader returns the archive's raw header (its first byte szHeader),
// decoded if need be; nil for an empty archive.
func read7zHeader(r *rangeReader) ([]byte, error) {
	var sh [szStartHeaderLength]byte
	if _, err := r.ReadAt(sh[:], 0); err != nil {
		return nil, fmt.Errorf("read the start header: %w", err)
	}
	if !bytes.Equal(sh[:6], sevenZipSignature) {
		return nil, errors.New("not a 7z archive (no signature at its start)")
	}
	if sh[6] != 0 {
		return nil, fmt.Errorf("format version %d.%d is not supported", sh[6], sh[7])
	}
	le := binary.LittleEndian
	if crc32.ChecksumIEEE(sh[12:]) != le.Uint32(sh[8:]) {
		return nil, errors.New("start header CRC mismatch: the archive is corrupt")
	}
	off, n, sum := le.Uint64(sh[12:]), le.Uint64(sh[20:]), le.Uint32(sh[28:])
	if n == 0 {
		return nil, nil
	}
	hdr, err := read7zSpan(r, off, n, "header")
	if err != nil {
		return nil, err
	}
	if crc32.ChecksumIEEE(hdr) != sum {
		return nil, errors.New("header CRC mismatch: the archive is corrupt")
	}
	if hdr[0] == szEncodedHeader {
		if hdr, err = decode7zHeader(r, hdr); err != nil {
			return nil, err
		}
	}
	if hdr[0] != szHeader {
		return nil, fmt.Errorf("the header starts with property %#x, not a header", hdr[0])
	}
	return hdr, nil
}

// read7zSpan reads n bytes at off past the start header.
func read7zSpan(r *rangeReader, off, n uint64, what string) ([]byte, error) {
	if n > sevenZipMaxHeader {
		return nil, fmt.Errorf("the %s is %d bytes, more than the %d read", what, n, sevenZipMaxHeader)
	}
	room := uint64(max(r.size-szStartHeaderLength, 0))
	if off > room || n > room-off {
		return nil, fmt.Errorf("the %s (%d bytes at %d) lies past the archive's end (%d bytes): truncated, or one volume of several",
			what, n, szStartHeaderLength+off, r.size)
	}
	b := make([]byte, n)
	if _, err := r.ReadAt(b, int64(szStartHeaderLength+off)); err != nil {
		return nil, fmt.Errorf("read the %s: %w", what, err)
	}
	return b, nil
}

// decode7zHeader decodes an encoded header: enc is szEncodedHeader and
// the streams info of the one packed stream that holds the real header.
func decode7zHeader(r *rangeReader, enc []byte) ([]byte, error) {
	s := scan7z{b: enc[1:]}
	si := s.streamsInfo()
	if s.err == nil && len(s.b) > 0 {
		s.fail("%d bytes after its end", len(s.b))
	}
	if s.err != nil {
		return nil, fmt.Errorf("encoded header: %w", s.err)
	}
	if si.folders != 1 || si.packStreams != 1 {
		return nil, fmt.Errorf("encoded header in %d folders and %d packed streams, not one", si.folders, si.packStreams)
	}
	for _, c := range si.coders {
		if bytes.Equal(c.id, szAES) {
			return nil, errEncryptedHeaders
		}
	}
	if len(si.coders) != 1 {
		return nil, fmt.Errorf("encoded header: a chain of %d coders is not decoded here", len(si.coders))
	}
	c := si.coders[0]
	size := si.unpackSize
	if size == 0 || size > sevenZipMaxHeader {
		return nil, fmt.Errorf("the decoded header would be %d bytes; at most %d are read", size, sevenZipMaxHeader)
	}
	packed, err := read7zSpan(r, si.packPos, si.packSize, "packed header")
	if err != nil {
		return nil, err
	}
	// The dictionary need not exceed the output: no match reaches further
	// back than its start. This bounds the decoder's memory.
	dict := max(int(size), lzma.MinDictCap)
	var dec io.Reader
	switch {
	case bytes.Equal(c.id, szCopy):
		dec = bytes.NewReader(packed)
	case bytes.Equal(c.id, szLZMA) && len(c.props) == 5:
		// The classic .lzma header: properties, dictionary size, size.
		h := make([]byte, 13)
		h[0] = c.props[0]
		binary.LittleEndian.PutUint32(h[1:], uint32(min(int(binary.LittleEndian.Uint32(c.props[1:])), dict)))
		binary.LittleEndian.PutUint64(h[5:], size)
		if dec, err = lzma.NewReader(io.MultiReader(bytes.NewReader(h), bytes.NewReader(packed))); err != nil {
			return nil, fmt.Errorf("decode the header: %w", err)
		}
	case bytes.Equal(c.id, szLZMA2) && len(c.props) == 1:
		if dec, err = (lzma.Reader2Config{DictCap: dict}).NewReader2(bytes.NewReader(packed)); err != nil {
			return nil, fmt.Errorf("decode the header: %w", err)
		}
	default:
		return nil, fmt.Errorf("the header is encoded with coder %x, not decoded here", c.id)
	}
	hdr := make([]byte, size)
	if _, err := io.ReadFull(dec, hdr); err != nil {
		return nil, fmt.Errorf("decode the header: %w", err)
	}
	if si.crcDefined && crc32.ChecksumIEEE(hdr) != si.crc {
		return nil, errors.New("decoded header CRC mismatch: the archive is corrupt")
	}
	return hdr, nil
}

// parse7zHeader has sevenzip parse a raw header, checked by scan7z, from
// an archive made of a start header and that header alone.
func parse7zHeader(hdr []byte) (files []*sevenzip.File, err error) {
	a := make([]byte, szStartHeaderLength+len(hdr))
	copy(a, sevenZipSignature)
	a[7] = 4 // format version 0.4
	le := binary.LittleEndian
	le.PutUint64(a[20:], uint64(len(hdr)))
	le.PutUint32(a[28:], crc32.ChecksumIEEE(hdr))
	le.PutUint32(a[8:], crc32.ChecksumIEEE(a[12:32]))
	copy(a[szStartHeaderLength:], hdr)
	defer func() {
		// sevenzip indexes by what the header says: an inconsistent one
		// panics. It is the archive's fault, not ours.
		if p := recover(); p != nil {
			files, err = nil, fmt.Errorf("inconsistent header (%v)", p)
		}
	}()
	zr, err := sevenzip.NewReader(bytes.NewReader(a), int64(len(a)))
	if err != nil {
		return nil, err
	}
	return zr.File, nil
}

// scan7z walks a raw 7z header the way github.com/bodgit/sevenzip v1.6.5
// parses it (types.go: readHeader and what it calls), to check, before
// sevenzip allocates by them, that its counts fit in its length. It keeps
// only what decoding an encoded header needs: the first folder's.
type scan7z struct {
	b   []byte // what is left
	err error

	packPos, packStreams, packSize uint64 // packSize: the first stream's
	folders                        uint64
	coders                         []coder7z // the first folder's
	unpackSize                     uint64    // the first folder's
	crc                            uint32    // the first folder's, if crcDefined
	crcDefined                     bool
}

type coder7z struct {
	id, props []byte
}

func (s *scan7z) fail(format string, a ...any) {
	if s.err == nil {
		s.err = fmt.Errorf(format, a...)
	}
	s.b = nil
}

func (s *scan7z) byte() byte {
	if len(s.b) == 0 {
		s.fail("it ends early")
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

func (s *scan7z) bytes(n uint64) []byte {
	if n > uint64(len(s.b)) {
		s.fail("it ends early")
		return nil
	}
	b := s.b[:n]
	s.b = s.b[n:]
	return b
}

// number reads a 7z UINT64: the first byte's leading 1 bits count the
// little-endian bytes that follow, its other bits are the high part.
func (s *scan7z) number() uint64 {
	first := s.byte()
	n := bits.LeadingZeros8(^first)
	var v uint64
	if n < 7 {
		v = uint64(first&(0x7f>>n)) << (8 * n)
	}
	for i := range n {
		v |= uint64(s.byte()) << (8 * i)
	}
	return v
}

// count reads a count of things that each take at least per bytes of
// what follows: one that cannot fit is a lie meant to make the parser
// allocate. sevenzip also refuses 0 where nonZero.
func (s *scan7z) count(what string, per uint64, nonZero bool) uint64 {
	n := s.number()
	switch {
	case s.err != nil:
		return 0
	case nonZero && n == 0:
		s.fail("0 %s", what)
	case n > uint64(len(s.b))/per:
		s.fail("%d %s cannot fit in the %d bytes left", n, what, len(s.b))
		return 0
	}
	return n
}

func (s *scan7z) expect(id byte, where string) {
	if got := s.byte(); s.err == nil && got != id {
		s.fail("property %#x where %s expects %#x", got, where, id)
	}
}

// digests skips n optional CRCs and returns the first.
func (s *scan7z) digests(n uint64) (first uint32, defined bool) {
	defs := n
	all := s.byte()
	var mask []byte
	if all == 0 {
		mask = s.bytes((n + 7) / 8)
		defs = 0
		for i := range n {
			if mask != nil && mask[i/8]&(0x80>>(i%8)) != 0 {
				defs++
			}
		}
	}
	crcs := s.bytes(4 * defs)
	if defs > 0 && (all != 0 || mask[0]&0x80 != 0) && crcs != nil {
		return binary.LittleEndian.Uint32(crcs), true
	}
	return 0, false
}

func (s *scan7z) header() {
	id := s.byte()
	if id == szMainStreamsInfo {
		s.streamsInfo()
		id = s.byte()
	}
	if id == szFilesInfo {
		s.filesInfo()
		id = s.byte()
	}
	if s.err == nil && id != szEnd {
		s.fail("unexpected property %#x in the header", id) // sevenzip reads no other
	}
}

// streamsInfo returns s, holding what it read of the first folder.
func (s *scan7z) streamsInfo() *scan7z {
	id := s.byte()
	if id == szPackInfo {
		s.packInfo()
		id = s.byte()
	}
	unpack := false
	if id == szUnpackInfo {
		s.unpackInfo()
		unpack = true
		id = s.byte()
	}
	if id == szSubStreamsInfo {
		if !unpack {
			s.fail("substreams without folders")
		}
		s.subStreamsInfo()
		id = s.byte()
	}
	if s.err == nil && id != szEnd {
		s.fail("unexpected property %#x in streams info", id)
	}
	return s
}

func (s *scan7z) packInfo() {
	s.packPos = s.number()
	s.packStreams = s.count("packed streams", 1, true)
	id := s.byte()
	if id == szSize {
		for i := range s.packStreams {
			if size := s.number(); i == 0 {
				s.packSize = size
			}
		}
		id = s.byte()
	}
	if id == szCRC {
		s.digests(s.packStreams)
		id = s.byte()
	}
	if s.err == nil && id != szEnd {
		s.fail("unexpected property %#x in pack info", id)
	}
}

func (s *scan7z) unpackInfo() {
	s.expect(szFolder, "unpack info")
	s.folders = s.count("folders", 2, true)
	if ext := s.byte(); ext != 0 {
		s.fail("external folders are not supported")
	}
	outs := make([]uint64, 0, min(s.folders, 1024))
	for i := range s.folders {
		outs = append(outs, s.folder(i == 0))
		if s.err != nil {
			return
		}
	}
	s.expect(szCodersUnpackSize, "unpack info")
	for i, out := range outs {
		for j := range out {
			if size := s.number(); i == 0 && j == 0 {
				s.unpackSize = size // (sevenzip takes size[coders-1]; one coder here)
			}
		}
	}
	id := s.byte()
	if id == szCRC {
		s.crc, s.crcDefined = s.digests(s.folders)
		id = s.byte()
	}
	if s.err == nil && id != szEnd {
		s.fail("unexpected property %#x in unpack info", id)
	}
}

// folder reads a folder's coders and bindings and returns its number of
// output streams.
func (s *scan7z) folder(keep bool) uint64 {
	coders := s.count("coders", 1, true)
	if coders > szMaxFolderCoders {
		s.fail("a folder of %d coders", coders)
		return 0
	}
	var in, out uint64
	for range coders {
		flag := s.byte()
		c := coder7z{id: s.bytes(uint64(flag & 0x0f))}
		ci, co := uint64(1), uint64(1)
		if flag&0x10 != 0 {
			ci, co = s.number(), s.number()
		}
		if flag&0x20 != 0 {
			c.props = s.bytes(s.count("property bytes", 1, true))
		}
		in, out = in+min(ci, szMaxFolderStreams+1), out+min(co, szMaxFolderStreams+1)
		if ci == 0 || co == 0 || in > szMaxFolderStreams || out > szMaxFolderStreams {
			s.fail("a folder of %d+ input and %d+ output streams", in, out)
			return 0
		}
		if keep {
			s.coders = append(s.coders, c)
		}
	}
	if s.err != nil {
		return 0
	}
	if in < out {
		s.fail("a folder with more outputs than inputs")
		return 0
	}
	for range out - 1 { // bind pairs
		s.number()
		s.number()
	}
	if packed := in - (out - 1); packed > 1 {
		for range packed {
			s.number()
		}
	}
	return out
}

func (s *scan7z) subStreamsInfo() {
	id := s.byte()
	files, sized := s.folders, s.folders // streams; folders holding any
	if id == szNumUnpackStream {
		files, sized = 0, 0
		for range s.folders {
			// Each stream past a folder's first needs its size below.
			n := s.number()
			if s.err == nil && n > uint64(len(s.b))+1 {
				s.fail("%d substreams cannot fit in the %d bytes left", n, len(s.b))
			}
			if n > 0 {
				sized++
			}
			files += n
		}
		id = s.byte()
	}
	if s.err == nil && files > uint64(len(s.b))+s.folders {
		s.fail("%d substreams cannot fit in the %d bytes left", files, len(s.b))
	}
	if s.err != nil {
		return
	}
	if id == szSize {
		for range files - sized { // all but each folder's last
			s.number()
		}
		id = s.byte()
	}
	if id == szCRC {
		s.digests(files) // sevenzip reads one per stream (7-Zip fewer)
		id = s.byte()
	}
	if s.err == nil && id != szEnd {
		s.fail("unexpected property %#x in substreams info", id)
	}
}

func (s *scan7z) filesInfo() {
	// A file takes at least its name's terminator, two bytes.
	files := s.count("files", 2, true)
	if files > archiveMaxMembers {
		s.fail("%d files, more than the %d listed", files, archiveMaxMembers)
	}
	// Every property's arrays are sized by the file count, now bounded:
	// the properties themselves are only stepped over.
	for s.err == nil {
		if s.byte() == szEnd {
			return
		}
		s.bytes(s.number())
	}
}
