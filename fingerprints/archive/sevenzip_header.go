package archive

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"unicode/utf16"

	"github.com/ulikunitz/xz/lzma"
)

// Why this file exists: github.com/bodgit/sevenzip allocates slices sized by
// counts read from the archive header (files, folders, streams, CRCs) before
// it knows the header holds that many records. A 45-byte 7z declaring 2^32-1
// files makes it allocate ~500 GB: "fatal error: runtime: out of memory",
// which recover() cannot catch. So before the library sees an archive we
// walk its header ourselves, with every count bounded by the bytes left,
// the coders' dictionaries bounded by dictCap, and the file count bounded by
// MaxEntries. Encoded (compressed, possibly AES-encrypted) headers are
// decoded here too, for the coders 7-Zip uses for headers.

// 7z property IDs.
const (
	szEnd                   = 0x00
	szHeader                = 0x01
	szArchiveProperties     = 0x02
	szAdditionalStreamsInfo = 0x03
	szMainStreamsInfo       = 0x04
	szFilesInfo             = 0x05
	szPackInfo              = 0x06
	szUnpackInfo            = 0x07
	szSubStreamsInfo        = 0x08
	szSize                  = 0x09
	szCRC                   = 0x0a
	szFolderID              = 0x0b
	szCodersUnpackSize      = 0x0c
	szNumUnpackStream       = 0x0d
	szEncodedHeader         = 0x17
)

var (
	szCopy  = []byte{0x00}
	szLZMA  = []byte{0x03, 0x01, 0x01}
	szLZMA2 = []byte{0x21}
	szPPMd  = []byte{0x03, 0x04, 0x01}
	szAES   = []byte{0x06, 0xf1, 0x07, 0x01}
)

var errSzHeader = errors.New("7z: malformed header")

// Bounds no legitimate archive comes near.
const (
	szMaxCoders      = 32
	szMaxCoderStream = 32
	szMaxKDFPower    = 24 // as the library: 2^24 SHA-256 rounds at most
)

type szCoder struct {
	id          []byte
	props       []byte
	inN, outN   uint64
	inBase, out uint64 // first in/out stream index of this coder
}

type szBindPair struct{ in, out uint64 }

type szFolder struct {
	coders   []szCoder
	binds    []szBindPair
	packed   []uint64 // in-stream indices fed by pack streams
	sizes    []uint64 // unpack size per out stream
	inTotal  uint64
	outTotal uint64
}

type szStreams struct {
	packPos     uint64
	packSizes   []uint64
	folders     []szFolder
	folderCRC   []uint32
	folderCRCOK []bool
}

// szParser reads a header held in memory; every count it hands out is
// bounded by the bytes left, so nothing it allocates can exceed the header.
type szParser struct {
	b       []byte
	off     int
	dictCap int64
}

func (p *szParser) left() int { return len(p.b) - p.off }

func (p *szParser) byte() (byte, error) {
	if p.off >= len(p.b) {
		return 0, fmt.Errorf("%w: truncated", errSzHeader)
	}
	c := p.b[p.off]
	p.off++
	return c, nil
}

func (p *szParser) bytes(n uint64) ([]byte, error) {
	if n > uint64(p.left()) {
		return nil, fmt.Errorf("%w: truncated", errSzHeader)
	}
	out := p.b[p.off : p.off+int(n)]
	p.off += int(n)
	return out, nil
}

// number reads a 7z variable-length integer.
func (p *szParser) number() (uint64, error) {
	first, err := p.byte()
	if err != nil {
		return 0, err
	}
	var v uint64
	mask := byte(0x80)
	for i := 0; i < 8; i++ {
		if first&mask == 0 {
			high := uint64(first & (mask - 1))
			return v | high<<(8*i), nil
		}
		c, err := p.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(c) << (8 * i)
		mask >>= 1
	}
	return v, nil
}

// count reads a number that sizes a table: each entry needs at least
// perEntry bytes of header (rounded down, so bit fields pass), and the
// library rejects zero for most counts.
func (p *szParser) count(what string, nonZero bool) (uint64, error) {
	n, err := p.number()
	if err != nil {
		return 0, err
	}
	if nonZero && n == 0 {
		return 0, fmt.Errorf("%w: zero %s", errSzHeader, what)
	}
	if n > uint64(p.left()) || n > 1<<31 {
		return 0, fmt.Errorf("%w: %d %s in %d header bytes", errSzHeader, n, what, p.left())
	}
	return n, nil
}

func (p *szParser) expect(id byte) error {
	c, err := p.byte()
	if err != nil {
		return err
	}
	if c != id {
		return fmt.Errorf("%w: property %#x where %#x expected", errSzHeader, c, id)
	}
	return nil
}

// digests reads n optional CRCs as the library does.
func (p *szParser) digests(n uint64) ([]uint32, []bool, error) {
	all, err := p.byte()
	if err != nil {
		return nil, nil, err
	}
	defined := make([]bool, n)
	if all != 0 {
		for i := range defined {
			defined[i] = true
		}
	} else {
		bits, err := p.bytes((n + 7) / 8)
		if err != nil {
			return nil, nil, err
		}
		for i := range defined {
			defined[i] = bits[i/8]&(0x80>>(i%8)) != 0
		}
	}
	crcs := make([]uint32, n)
	for i, d := range defined {
		if d {
			b, err := p.bytes(4)
			if err != nil {
				return nil, nil, err
			}
			crcs[i] = binary.LittleEndian.Uint32(b)
		}
	}
	return crcs, defined, nil
}

func (p *szParser) packInfo(s *szStreams) error {
	var err error
	if s.packPos, err = p.number(); err != nil {
		return err
	}
	n, err := p.count("pack streams", true)
	if err != nil {
		return err
	}
	id, err := p.byte()
	if err != nil {
		return err
	}
	if id == szSize {
		s.packSizes = make([]uint64, n)
		for i := range s.packSizes {
			if s.packSizes[i], err = p.number(); err != nil {
				return err
			}
		}
		if id, err = p.byte(); err != nil {
			return err
		}
	}
	if id == szCRC {
		if _, _, err = p.digests(n); err != nil {
			return err
		}
		if id, err = p.byte(); err != nil {
			return err
		}
	}
	if id != szEnd {
		return fmt.Errorf("%w: pack info", errSzHeader)
	}
	return nil
}

func (p *szParser) folder() (szFolder, error) {
	var f szFolder
	n, err := p.count("coders", true)
	if err != nil {
		return f, err
	}
	if n > szMaxCoders {
		return f, fmt.Errorf("%w: %d coders in a folder", errSzHeader, n)
	}
	for range n {
		flag, err := p.byte()
		if err != nil {
			return f, err
		}
		c := szCoder{inN: 1, outN: 1, inBase: f.inTotal, out: f.outTotal}
		if c.id, err = p.bytes(uint64(flag & 0x0f)); err != nil {
			return f, err
		}
		if flag&0x10 != 0 {
			if c.inN, err = p.count("coder inputs", true); err != nil {
				return f, err
			}
			if c.outN, err = p.count("coder outputs", true); err != nil {
				return f, err
			}
			if c.inN > szMaxCoderStream || c.outN > szMaxCoderStream {
				return f, fmt.Errorf("%w: coder with %d/%d streams", errSzHeader, c.inN, c.outN)
			}
		}
		if flag&0x20 != 0 {
			size, err := p.count("property bytes", true)
			if err != nil {
				return f, err
			}
			if c.props, err = p.bytes(size); err != nil {
				return f, err
			}
		}
		if err := p.checkCoder(c); err != nil {
			return f, err
		}
		f.coders = append(f.coders, c)
		f.inTotal += c.inN
		f.outTotal += c.outN
	}
	if f.inTotal < f.outTotal {
		return f, fmt.Errorf("%w: bind pairs", errSzHeader)
	}
	for range f.outTotal - 1 {
		in, err := p.number()
		if err != nil {
			return f, err
		}
		out, err := p.number()
		if err != nil {
			return f, err
		}
		f.binds = append(f.binds, szBindPair{in: in, out: out})
	}
	packedN := f.inTotal - (f.outTotal - 1)
	if packedN == 1 {
		for i := range f.inTotal {
			if f.bindForIn(i) == nil {
				f.packed = append(f.packed, i)
			}
		}
	} else {
		for range packedN {
			v, err := p.number()
			if err != nil {
				return f, err
			}
			f.packed = append(f.packed, v)
		}
	}
	return f, nil
}

// checkCoder bounds what a coder would allocate from its properties.
func (p *szParser) checkCoder(c szCoder) error {
	var dict int64
	switch {
	case bytes.Equal(c.id, szLZMA) && len(c.props) >= 5:
		dict = int64(binary.LittleEndian.Uint32(c.props[1:]))
	case bytes.Equal(c.id, szLZMA2) && len(c.props) >= 1:
		if c.props[0] > 40 {
			return fmt.Errorf("%w: lzma2 dictionary code %d", errSzHeader, c.props[0])
		}
		dict = int64(2|c.props[0]&1) << (c.props[0]/2 + 11)
	case bytes.Equal(c.id, szPPMd) && len(c.props) >= 5:
		dict = int64(binary.LittleEndian.Uint32(c.props[1:]))
	}
	if dict > p.dictCap {
		return fmt.Errorf("7z: dictionary of %d bytes exceeds the cap of %d", dict, p.dictCap)
	}
	return nil
}

func (f *szFolder) encrypted() bool {
	for _, c := range f.coders {
		if bytes.Equal(c.id, szAES) {
			return true
		}
	}
	return false
}

func (f *szFolder) bindForIn(i uint64) *szBindPair {
	for k := range f.binds {
		if f.binds[k].in == i {
			return &f.binds[k]
		}
	}
	return nil
}

func (f *szFolder) bindForOut(i uint64) *szBindPair {
	for k := range f.binds {
		if f.binds[k].out == i {
			return &f.binds[k]
		}
	}
	return nil
}

// unpackSize is the size of the folder's final (unbound) output.
func (f *szFolder) unpackSize() uint64 {
	for i := len(f.sizes) - 1; i >= 0; i-- {
		if f.bindForOut(uint64(i)) == nil {
			return f.sizes[i]
		}
	}
	if len(f.sizes) == 0 {
		return 0
	}
	return f.sizes[len(f.sizes)-1]
}

func (p *szParser) unpackInfo(s *szStreams) error {
	if err := p.expect(szFolderID); err != nil {
		return err
	}
	n, err := p.count("folders", true)
	if err != nil {
		return err
	}
	external, err := p.byte()
	if err != nil {
		return err
	}
	if external != 0 {
		return fmt.Errorf("%w: external folders", errSzHeader)
	}
	for range n {
		f, err := p.folder()
		if err != nil {
			return err
		}
		s.folders = append(s.folders, f)
	}
	if err := p.expect(szCodersUnpackSize); err != nil {
		return err
	}
	for i := range s.folders {
		f := &s.folders[i]
		if f.outTotal > uint64(p.left()) {
			return fmt.Errorf("%w: unpack sizes", errSzHeader)
		}
		f.sizes = make([]uint64, f.outTotal)
		for k := range f.sizes {
			if f.sizes[k], err = p.number(); err != nil {
				return err
			}
		}
	}
	id, err := p.byte()
	if err != nil {
		return err
	}
	if id == szCRC {
		if s.folderCRC, s.folderCRCOK, err = p.digests(n); err != nil {
			return err
		}
		if id, err = p.byte(); err != nil {
			return err
		}
	}
	if id != szEnd {
		return fmt.Errorf("%w: unpack info", errSzHeader)
	}
	return nil
}

func (p *szParser) subStreamsInfo(s *szStreams) error {
	id, err := p.byte()
	if err != nil {
		return err
	}
	streams := make([]uint64, len(s.folders))
	var total uint64
	if id == szNumUnpackStream {
		for i := range streams {
			if streams[i], err = p.count("substreams", false); err != nil {
				return err
			}
			total += streams[i]
			if total > uint64(p.left())+uint64(len(p.b)) {
				return fmt.Errorf("%w: %d substreams", errSzHeader, total)
			}
		}
		if id, err = p.byte(); err != nil {
			return err
		}
	} else {
		for i := range streams {
			streams[i] = 1
		}
		total = uint64(len(streams))
	}
	if id == szSize {
		for _, n := range streams {
			for j := uint64(1); j < n; j++ {
				if _, err := p.number(); err != nil {
					return err
				}
			}
		}
		if id, err = p.byte(); err != nil {
			return err
		}
	}
	if id == szCRC {
		if total == 0 || total > uint64(p.left())*8 {
			return fmt.Errorf("%w: %d substream digests", errSzHeader, total)
		}
		if _, _, err = p.digests(total); err != nil {
			return err
		}
		if id, err = p.byte(); err != nil {
			return err
		}
	}
	if id != szEnd {
		return fmt.Errorf("%w: substreams info", errSzHeader)
	}
	return nil
}

func (p *szParser) streamsInfo() (*szStreams, error) {
	s := new(szStreams)
	id, err := p.byte()
	if err != nil {
		return nil, err
	}
	if id == szPackInfo {
		if err := p.packInfo(s); err != nil {
			return nil, err
		}
		if id, err = p.byte(); err != nil {
			return nil, err
		}
	}
	if id == szUnpackInfo {
		if err := p.unpackInfo(s); err != nil {
			return nil, err
		}
		if id, err = p.byte(); err != nil {
			return nil, err
		}
	}
	if id == szSubStreamsInfo {
		if s.folders == nil {
			return nil, fmt.Errorf("%w: substreams without folders", errSzHeader)
		}
		if err := p.subStreamsInfo(s); err != nil {
			return nil, err
		}
		if id, err = p.byte(); err != nil {
			return nil, err
		}
	}
	if id != szEnd {
		return nil, fmt.Errorf("%w: streams info", errSzHeader)
	}
	return s, nil
}

// header checks a plain header (after its szHeader byte) and reports which
// folders are encrypted.
func (p *szParser) header(maxFiles int) ([]bool, error) {
	enc, err := p.headerBody(maxFiles)
	return enc, err
}

func (p *szParser) headerBody(maxFiles int) (enc []bool, err error) {
	id, err := p.byte()
	if err != nil {
		return nil, err
	}
	if id == szArchiveProperties || id == szAdditionalStreamsInfo {
		return nil, fmt.Errorf("%w: unsupported property %#x", errSzHeader, id)
	}
	if id == szMainStreamsInfo {
		s, err := p.streamsInfo()
		if err != nil {
			return nil, err
		}
		for _, f := range s.folders {
			enc = append(enc, f.encrypted())
		}
		if id, err = p.byte(); err != nil {
			return nil, err
		}
	}
	if id == szFilesInfo {
		files, err := p.number()
		if err != nil {
			return nil, err
		}
		// Every file needs a name of at least one UTF-16 NUL.
		if files > uint64(p.left())/2 {
			return nil, fmt.Errorf("%w: %d files in %d header bytes", errSzHeader, files, p.left())
		}
		if files > uint64(max(maxFiles, 0)) {
			return nil, limitErr("MaxEntries", fmt.Sprintf("%d declared", files), maxFiles)
		}
		for {
			prop, err := p.byte()
			if err != nil {
				return nil, err
			}
			if prop == szEnd {
				break
			}
			size, err := p.number()
			if err != nil {
				return nil, err
			}
			if _, err := p.bytes(size); err != nil {
				return nil, err
			}
		}
		if id, err = p.byte(); err != nil {
			return nil, err
		}
	}
	if id != szEnd {
		return nil, fmt.Errorf("%w: header", errSzHeader)
	}
	return enc, nil
}

// check7zHeader validates the archive's header before the library parses
// it. It returns the password that decodes an encrypted header ("" when the
// header is not encrypted) and which folders hold encrypted streams.
func (st *walk) check7zHeader(data []byte) (string, []bool, error) {
	if len(data) < 32 {
		return "", nil, fmt.Errorf("%w: shorter than its signature header", errSzHeader)
	}
	if crc32.ChecksumIEEE(data[12:32]) != binary.LittleEndian.Uint32(data[8:]) {
		return "", nil, fmt.Errorf("%w: start header checksum", errSzHeader)
	}
	off := binary.LittleEndian.Uint64(data[12:])
	size := binary.LittleEndian.Uint64(data[20:])
	if off > uint64(len(data)-32) || size > uint64(len(data)-32)-off || size == 0 {
		return "", nil, fmt.Errorf("%w: header outside the file", errSzHeader)
	}
	hdr := data[32+off : 32+off+size]
	if crc32.ChecksumIEEE(hdr) != binary.LittleEndian.Uint32(data[28:]) {
		return "", nil, fmt.Errorf("%w: header checksum", errSzHeader)
	}
	maxFiles := st.lim.MaxEntries - st.entries
	p := &szParser{b: hdr, dictCap: st.lim.dictCap()}
	switch id, _ := p.byte(); id {
	case szHeader:
		enc, err := p.header(maxFiles)
		return "", enc, err
	case szEncodedHeader:
	default:
		return "", nil, fmt.Errorf("%w: unknown header type %#x", errSzHeader, id)
	}
	s, err := p.streamsInfo()
	if err != nil {
		return "", nil, err
	}
	if len(s.folders) != 1 || len(s.packSizes) < 1 {
		return "", nil, fmt.Errorf("%w: encoded header layout", errSzHeader)
	}
	encrypted := false
	for _, c := range s.folders[0].coders {
		encrypted = encrypted || bytes.Equal(c.id, szAES)
	}
	candidates := []string{""}
	if encrypted {
		candidates = st.passwordOrder()
	}
	var lastErr error
	for _, pw := range candidates {
		plain, err := st.decodeSzHeader(data, s, pw)
		if err != nil {
			if fatal(err) {
				return "", nil, err
			}
			lastErr = err
			continue
		}
		hp := &szParser{b: plain, dictCap: p.dictCap}
		if err := hp.expect(szHeader); err != nil {
			lastErr = err
			continue
		}
		if encrypted {
			st.preferPassword(pw)
		}
		enc, err := hp.header(maxFiles)
		return pw, enc, err
	}
	if encrypted {
		if lastErr != nil {
			return "", nil, fmt.Errorf("7z: header: %w (last attempt: %v)", ErrEncrypted, lastErr)
		}
		return "", nil, fmt.Errorf("7z: header: %w", ErrEncrypted)
	}
	return "", nil, lastErr
}

// maxSzHeader bounds a decoded header: 7-Zip headers are tens of bytes per
// file, so this allows millions of files.
const maxSzHeader = 256 << 20

// decodeSzHeader decodes an encoded header: a chain of single-stream coders
// (copy, LZMA, LZMA2, AES) from one pack stream.
func (st *walk) decodeSzHeader(data []byte, s *szStreams, pw string) ([]byte, error) {
	f := &s.folders[0]
	if len(f.packed) != 1 {
		return nil, fmt.Errorf("%w: encoded header with %d pack streams", errSzHeader, len(f.packed))
	}
	start := 32 + s.packPos
	if s.packPos > uint64(len(data)) || start > uint64(len(data)) || s.packSizes[0] > uint64(len(data))-start {
		return nil, fmt.Errorf("%w: encoded header outside the file", errSzHeader)
	}
	var r io.Reader = st.input(data[start : start+s.packSizes[0]])
	for _, c := range f.coders {
		if c.inN != 1 || c.outN != 1 {
			return nil, fmt.Errorf("%w: encoded header coder with several streams", errSzHeader)
		}
	}
	// Follow the chain from the coder fed by the pack stream to the one
	// whose output is not bound.
	in := f.packed[0]
	var out []byte
	for steps := 0; ; steps++ {
		if steps >= len(f.coders) || in >= uint64(len(f.coders)) {
			return nil, fmt.Errorf("%w: encoded header coder chain", errSzHeader)
		}
		c := f.coders[in]
		size := f.sizes[c.out]
		if size > maxSzHeader {
			return nil, fmt.Errorf("%w: encoded header of %d bytes", errSzHeader, size)
		}
		dec, err := st.szCoderReader(c, r, size, pw)
		if err != nil {
			return nil, err
		}
		next := f.bindForOut(c.out)
		if next == nil {
			buf := bytes.NewBuffer(make([]byte, 0, min(size, 1<<20)))
			n, err := buf.ReadFrom(io.LimitReader(dec, int64(size)))
			if err != nil {
				return nil, fmt.Errorf("7z: decoding header: %w", err)
			}
			if uint64(n) != size {
				return nil, fmt.Errorf("7z: decoding header: %d of %d bytes", n, size)
			}
			out = buf.Bytes()
			break
		}
		r = io.LimitReader(dec, int64(size))
		in = next.in
	}
	if len(s.folderCRCOK) > 0 && s.folderCRCOK[0] && crc32.ChecksumIEEE(out) != s.folderCRC[0] {
		return nil, fmt.Errorf("7z: decoded header checksum mismatch")
	}
	return out, nil
}

func (st *walk) szCoderReader(c szCoder, r io.Reader, size uint64, pw string) (io.Reader, error) {
	dictCap := st.lim.dictCap()
	switch {
	case bytes.Equal(c.id, szCopy):
		return r, nil
	case bytes.Equal(c.id, szLZMA):
		if len(c.props) != 5 {
			return nil, fmt.Errorf("%w: lzma properties", errSzHeader)
		}
		var h [13]byte
		copy(h[:], c.props)
		binary.LittleEndian.PutUint64(h[5:], size)
		zr, err := lzma.ReaderConfig{DictCap: int(dictCap)}.NewReader(io.MultiReader(bytes.NewReader(h[:]), r))
		if err != nil {
			return nil, fmt.Errorf("7z: header lzma: %w", err)
		}
		return zr, nil
	case bytes.Equal(c.id, szLZMA2):
		if len(c.props) != 1 || c.props[0] > 40 {
			return nil, fmt.Errorf("%w: lzma2 properties", errSzHeader)
		}
		dict := int64(2|c.props[0]&1) << (c.props[0]/2 + 11)
		// A dictionary beyond the output is never used.
		dict = max(min(dict, int64(size)), lzma.MinDictCap)
		zr, err := lzma.Reader2Config{DictCap: int(dict)}.NewReader2(r)
		if err != nil {
			return nil, fmt.Errorf("7z: header lzma2: %w", err)
		}
		return zr, nil
	case bytes.Equal(c.id, szAES):
		return sz7zAESReader(c.props, r, pw)
	}
	return nil, fmt.Errorf("7z: unsupported header coder %x", c.id)
}

// sz7zAESReader decrypts 7-Zip's AES-256-CBC: the key is SHA-256 over
// 2^cycles rounds of salt + UTF-16LE password + round counter.
func sz7zAESReader(props []byte, r io.Reader, pw string) (io.Reader, error) {
	if len(props) < 2 || props[0]&0xc0 == 0 {
		return nil, fmt.Errorf("%w: aes properties", errSzHeader)
	}
	saltN := int(props[0]>>7&1 + props[1]>>4)
	ivN := int(props[0]>>6&1 + props[1]&0x0f)
	if len(props) != 2+saltN+ivN {
		return nil, fmt.Errorf("%w: aes properties", errSzHeader)
	}
	cycles := int(props[0] & 0x3f)
	salt := props[2 : 2+saltN]
	var iv [aes.BlockSize]byte
	copy(iv[:], props[2+saltN:])
	var secret []byte
	secret = append(secret, salt...)
	for _, u := range utf16.Encode([]rune(pw)) {
		secret = binary.LittleEndian.AppendUint16(secret, u)
	}
	key := make([]byte, sha256.Size)
	if cycles == 0x3f {
		copy(key, secret)
	} else {
		if cycles > szMaxKDFPower {
			return nil, fmt.Errorf("7z: aes key derivation of 2^%d rounds refused", cycles)
		}
		h := sha256.New()
		round := append(secret, make([]byte, 8)...)
		ctr := round[len(secret):]
		for i := uint64(0); i < 1<<cycles; i++ {
			binary.LittleEndian.PutUint64(ctr, i)
			h.Write(round)
		}
		key = h.Sum(key[:0])
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("7z: aes: %w", err)
	}
	return &cbcReader{mode: cipher.NewCBCDecrypter(block, iv[:]), r: r}, nil
}

// cbcReader decrypts whole blocks as they arrive; trailing bytes that do
// not fill a block are dropped.
type cbcReader struct {
	mode cipher.BlockMode
	r    io.Reader
	buf  []byte
	out  []byte
	err  error
}

func (c *cbcReader) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.err != nil {
			return 0, c.err
		}
		chunk := make([]byte, 32<<10)
		n, err := io.ReadFull(c.r, chunk)
		c.buf = append(c.buf, chunk[:n]...)
		whole := len(c.buf) / aes.BlockSize * aes.BlockSize
		if whole > 0 {
			c.mode.CryptBlocks(c.buf[:whole], c.buf[:whole])
			c.out = append(c.out[:0], c.buf[:whole]...)
			c.buf = append(c.buf[:0], c.buf[whole:]...)
		}
		if err != nil {
			c.err = io.EOF
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
				c.err = err
			}
		}
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}
