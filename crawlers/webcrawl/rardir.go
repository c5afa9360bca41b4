package webcrawl

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"strings"
	"unicode/utf16"
)

// A RAR archive has no directory: each member's header sits just before
// its data. Listing one means hopping header to header, reading a few
// hundred bytes each time and skipping the data between, so its ranged
// requests grow with its members (a member smaller than rarBlock often
// shares a block with the next header). github.com/nwaples/rardecode/v2
// v2.4.6 walks headers the same way but keeps a member's CRC-32 to itself,
// so the walk is done here, headers only, after the published formats:
// RAR5 (rarlab.com/technote.htm) and RAR 1.5–4.x (unrar's technote.txt).
// Solid archives list like any other: only data depends on earlier data.

const (
	rar5MaxHeader = 2 << 20               // the format's own limit
	rarMaxHeaders = 4 * archiveMaxMembers // headers walked, service ones included
)

var (
	rar4Signature = []byte("Rar!\x1a\x07\x00")
	rar5Signature = []byte("Rar!\x1a\x07\x01\x00")
)

// Why a RAR member is left out of the listing.
const (
	rarSkipLink     = "that are links"
	rarSkipSplit    = "continuing in the next volume"
	rarSkipUnknown  = "of unknown size"
	rarSkipKeyedCRC = "encrypted with checksums keyed to the password"
	rarSkipBLAKE2   = "with a BLAKE2 hash instead of a CRC-32"
)

// rarDirectory lists a RAR (1.5 to 5) from its file headers. A walk cut
// short after some members (the request cap, a corrupt or truncated
// header) still lists those: each header was checked by its own CRC.
func rarDirectory(r *rangeReader) (directory, error) {
	head := make([]byte, len(rar5Signature))
	n, err := r.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return directory{}, fmt.Errorf("RAR: read its signature: %w", err)
	}
	var d directory
	switch head = head[:n]; {
	case bytes.HasPrefix(head, rar5Signature):
		err = walkRAR5(r, &d)
	case bytes.HasPrefix(head, rar4Signature):
		err = walkRAR4(r, &d)
	case bytes.HasPrefix(head, []byte("RE~^")):
		err = errors.New("a RAR 1.4 archive, not read here")
	default:
		err = errors.New("not a RAR archive (no signature at its start)")
	}
	switch {
	case err == nil:
		return d, nil
	case len(d.Members) > 0 && !errors.Is(err, errEncryptedHeaders):
		d.stopped = err
		return d, nil
	}
	return directory{}, fmt.Errorf("RAR: %w", err)
}

// rarHeader is one header block as read, with where the next one starts.
type rarHeader struct {
	typ   uint64
	flags uint64
	body  []byte // RAR5: the type-specific fields; RAR4: the whole header
	extra []byte // RAR5: the extra area
	next  int64
	cut   error // the data runs past the archive's end: the header is good, the walk ends
}

// readHeaderAt reads n header bytes at pos, which the caller has checked
// lie within the archive.
func readHeaderAt(r *rangeReader, pos int64, n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := r.ReadAt(b, pos); err != nil {
		return nil, err
	}
	return b, nil
}

// setNext sets where the block after h, a header of hlen bytes at pos
// with data bytes of data, starts; or, if that is past the archive's end,
// why there is none.
func (h *rarHeader) setNext(r *rangeReader, pos, hlen int64, data uint64) {
	end := pos + hlen
	if data > uint64(r.size-end) {
		h.cut = fmt.Errorf("its data (%d bytes at %d) runs past the archive's end (%d bytes): truncated", data, end, r.size)
		return
	}
	h.next = end + int64(data)
}

// walkRARHeaders hops from header to header from pos, handing each to
// visit (with its index), until visit reports the archive's end, the
// listing stops early, or a header is cut short. Reaching the archive's
// last byte without an end header is atEOF (nil when the format allows
// it). Both RAR versions chain their headers this way.
func walkRARHeaders(r *rangeReader, d *directory, pos int64, atEOF error,
	read func(*rangeReader, int64) (rarHeader, error), visit func(i int, pos int64, h rarHeader) (end bool, err error)) error {
	for i := range rarMaxHeaders {
		if pos == r.size {
			return atEOF
		}
		h, err := read(r, pos)
		if err != nil {
			return fmt.Errorf("header at offset %d: %w", pos, err)
		}
		if end, err := visit(i, pos, h); end || err != nil {
			return err
		}
		switch {
		case d.stopped != nil:
			return nil
		case h.cut != nil:
			return fmt.Errorf("header at offset %d: %w", pos, h.cut)
		}
		pos = h.next
	}
	return fmt.Errorf("more than %d headers", rarMaxHeaders)
}

func walkRAR5(r *rangeReader, d *directory) error {
	return walkRARHeaders(r, d, int64(len(rar5Signature)), errors.New("no end-of-archive header: truncated"), readRAR5Header,
		func(_ int, pos int64, h rarHeader) (bool, error) {
			switch h.typ {
			case 2: // file
				if err := addRAR5File(h, d); err != nil {
					return false, fmt.Errorf("file header at offset %d: %w", pos, err)
				}
			case 4: // archive encryption: every header after it is encrypted
				return false, errEncryptedHeaders
			case 5: // end of archive
				return true, nil
			}
			return false, nil
		})
}

// readRAR5Header reads a RAR5 block header: CRC32, header size (a vint of
// at most 3 bytes), then, counted by the size and covered by the CRC
// with it, type, flags, extra area size, data size, fields, extra area.
func readRAR5Header(r *rangeReader, pos int64) (rarHeader, error) {
	var h rarHeader
	if r.size-pos < 7 { // the smallest header
		return h, errors.New("truncated")
	}
	pre, err := readHeaderAt(r, pos, 7)
	if err != nil {
		return h, err
	}
	size, k := binary.Uvarint(pre[4:7])
	if k <= 0 || size < 2 || size > rar5MaxHeader {
		return h, errors.New("bad header size: corrupt")
	}
	total := int64(4 + k + int(size))
	if total > r.size-pos {
		return h, fmt.Errorf("the header (%d bytes) runs past the archive's end: truncated", total)
	}
	buf, err := readHeaderAt(r, pos, int(total))
	if err != nil {
		return h, err
	}
	if crc32.ChecksumIEEE(buf[4:]) != binary.LittleEndian.Uint32(buf) {
		return h, errors.New("header CRC mismatch: corrupt")
	}
	b := rarFields{b: buf[4+k:]}
	h.typ, h.flags = b.vint(), b.vint()
	var extra, data uint64
	if h.flags&0x0001 != 0 {
		extra = b.vint()
	}
	if h.flags&0x0002 != 0 {
		data = b.vint()
	}
	if b.bad || extra > uint64(len(b.b)) {
		return h, errors.New("bad header fields: corrupt")
	}
	h.body, h.extra = b.b[:uint64(len(b.b))-extra], b.b[uint64(len(b.b))-extra:]
	h.setNext(r, pos, total, data)
	return h, nil
}

// addRAR5File lists a RAR5 file header's member, or counts why not.
func addRAR5File(h rarHeader, d *directory) error {
	b := rarFields{b: h.body}
	flags, size := b.vint(), b.vint()
	b.vint() // attributes
	if flags&0x0002 != 0 {
		b.take(4) // mtime
	}
	var sum []byte
	if flags&0x0004 != 0 {
		sum = b.take(4)
	}
	b.vint() // compression information
	b.vint() // host OS
	name := b.take(b.vint())
	if b.bad || size > math.MaxInt64 {
		return errors.New("bad fields: corrupt")
	}
	var link, keyed, blake2 bool
	for e := h.extra; len(e) > 0; {
		n, k := binary.Uvarint(e)
		if k <= 0 || n > uint64(len(e)-k) {
			return errors.New("bad extra area: corrupt")
		}
		rec := rarFields{b: e[k : k+int(n)]}
		e = e[k+int(n):]
		switch rec.vint() {
		case 0x01: // encryption: version, flags; flag 0x02 turns the CRC into a MAC
			rec.vint()
			keyed = rec.vint()&0x02 != 0
		case 0x02: // file hash (BLAKE2sp)
			blake2 = true
		case 0x05: // redirection: a symlink, hard link or file copy
			link = true
		}
	}
	switch {
	case flags&0x0001 != 0:
		// a directory
	case link:
		d.skip(rarSkipLink)
	case h.flags&0x0010 != 0:
		// Its CRC covers this volume's packed part only.
		d.skip(rarSkipSplit)
	case flags&0x0008 != 0:
		d.skip(rarSkipUnknown)
	case keyed:
		d.skip(rarSkipKeyedCRC)
	case sum == nil && blake2:
		d.skip(rarSkipBLAKE2)
	default:
		var crc uint32
		if sum != nil {
			crc = binary.LittleEndian.Uint32(sum)
		}
		d.add(Member{Name: strings.ToValidUTF8(string(name), "\uFFFD"), CRC32: crc, Size: int64(size)}, sum != nil)
	}
	return nil
}

// RAR 1.5–4 block types.
const (
	rar4Archive = 0x73
	rar4File    = 0x74
	rar4Service = 0x7a
	rar4End     = 0x7b
)

func walkRAR4(r *rangeReader, d *directory) error {
	// These archives may end without an end block.
	return walkRARHeaders(r, d, int64(len(rar4Signature)), nil, readRAR4Header,
		func(i int, pos int64, h rarHeader) (bool, error) {
			switch {
			case i == 0 && h.typ != rar4Archive:
				return false, fmt.Errorf("block type %#x after the signature, not an archive header", h.typ)
			case h.typ == rar4Archive && h.flags&0x0080 != 0: // -hp: the headers after it are encrypted
				return false, errEncryptedHeaders
			case h.typ == rar4File:
				if err := addRAR4File(h, d); err != nil {
					return false, fmt.Errorf("file header at offset %d: %w", pos, err)
				}
			case h.typ == rar4End:
				return true, nil
			}
			return false, nil
		})
}

// readRAR4Header reads a RAR 1.5–4 block header: CRC16 (the low half of
// the CRC32 of what follows it), type, flags, header size; then, with flag
// 0x8000, a 32-bit data size (for files the packed size, widened by a
// high half with flag 0x100).
func readRAR4Header(r *rangeReader, pos int64) (rarHeader, error) {
	var h rarHeader
	if r.size-pos < 7 {
		return h, errors.New("truncated")
	}
	pre, err := readHeaderAt(r, pos, 7)
	if err != nil {
		return h, err
	}
	le := binary.LittleEndian
	h.typ, h.flags = uint64(pre[2]), uint64(le.Uint16(pre[3:]))
	size := int64(le.Uint16(pre[5:]))
	if h.typ == rar4Archive && h.flags&0x0002 != 0 {
		size = 13 // RAR 2.x: its comment follows as a block of its own
	}
	if size < 7 {
		return h, errors.New("bad header size: corrupt")
	}
	if size > r.size-pos {
		return h, fmt.Errorf("the header (%d bytes) runs past the archive's end: truncated", size)
	}
	if h.body, err = readHeaderAt(r, pos, int(size)); err != nil {
		return h, err
	}
	var data uint64
	if h.flags&0x8000 != 0 {
		if size < 11 {
			return h, errors.New("bad header size: corrupt")
		}
		data = uint64(le.Uint32(h.body[7:]))
	}
	if (h.typ == rar4File || h.typ == rar4Service) && h.flags&0x0100 != 0 {
		if size < 40 {
			return h, errors.New("bad header size: corrupt")
		}
		data |= uint64(le.Uint32(h.body[32:])) << 32
	}
	// Blocks of other types (old comments, signatures) have CRC quirks of
	// their own; so has a file header with an old-style comment (0x08).
	check := h.typ == rar4Archive || h.typ == rar4End ||
		((h.typ == rar4File || h.typ == rar4Service) && h.flags&0x0008 == 0)
	if check && uint16(crc32.ChecksumIEEE(h.body[2:])) != le.Uint16(h.body) {
		return h, errors.New("header CRC mismatch: corrupt")
	}
	h.setNext(r, pos, size, data)
	return h, nil
}

// addRAR4File lists a RAR 1.5–4 file header's member, or counts why not.
// Its fields after the common 7 bytes and the packed size: unpacked size,
// host OS, file CRC, time, version, method, name size, attributes, [high
// packed and unpacked sizes], name. An encrypted member's CRC is plain.
func addRAR4File(h rarHeader, d *directory) error {
	b, le := h.body, binary.LittleEndian
	if h.flags&0x8000 == 0 || len(b) < 32 {
		return errors.New("too short: corrupt")
	}
	size, crc, nameLen := uint64(le.Uint32(b[11:])), le.Uint32(b[16:]), int(le.Uint16(b[26:]))
	unknown, off := size == math.MaxUint32, 32
	if h.flags&0x0100 != 0 {
		size |= uint64(le.Uint32(b[36:])) << 32
		unknown, off = size == math.MaxUint64, 40
	}
	if off+nameLen > len(b) || (!unknown && size > math.MaxInt64) {
		return errors.New("bad fields: corrupt")
	}
	name := b[off : off+nameLen]
	switch {
	case h.flags&0x00e0 == 0x00e0:
		// a directory
	case h.flags&0x0002 != 0:
		// Its CRC covers this volume's packed part only.
		d.skip(rarSkipSplit)
	case unknown:
		d.skip(rarSkipUnknown)
	default:
		n := string(name)
		if h.flags&0x0200 != 0 {
			n = rar4Name(name)
		}
		n = strings.ReplaceAll(strings.ToValidUTF8(n, "\uFFFD"), `\`, "/")
		d.add(Member{Name: n, CRC32: crc, Size: int64(size)}, true)
	}
	return nil
}

// rar4Name decodes a name stored with flag 0x200: an OEM-codepage name, a
// NUL, then the UTF-16 name encoded against the OEM one (unrar's
// EncodeFileName::Decode). Without the NUL the name is UTF-8.
func rar4Name(b []byte) string {
	oem, enc, ok := bytes.Cut(b, []byte{0})
	if !ok {
		return string(b)
	}
	if len(enc) == 0 {
		return string(oem)
	}
	high := uint16(enc[0]) << 8
	enc = enc[1:]
	var out []uint16
	var flags byte
	for flagBits := 0; len(out) < len(oem) && len(enc) > 0; flagBits -= 2 {
		if flagBits == 0 {
			flags, enc, flagBits = enc[0], enc[1:], 8
			if len(enc) == 0 {
				break
			}
		}
		switch flags >> 6 {
		case 0: // a byte
			out, enc = append(out, uint16(enc[0])), enc[1:]
		case 1: // a byte in the high byte's page
			out, enc = append(out, uint16(enc[0])|high), enc[1:]
		case 2: // a whole UTF-16 unit
			if len(enc) < 2 {
				return string(utf16.Decode(out))
			}
			out, enc = append(out, binary.LittleEndian.Uint16(enc)), enc[2:]
		case 3: // a run of the OEM name's bytes, corrected into the high page
			n := enc[0]
			enc = enc[1:]
			var corr byte
			if n&0x80 != 0 {
				if len(enc) == 0 {
					return string(utf16.Decode(out))
				}
				corr, enc = enc[0], enc[1:]
			}
			for range int(n&0x7f) + 2 {
				if len(out) == len(oem) {
					break
				}
				if c := oem[len(out)]; n&0x80 != 0 {
					out = append(out, uint16(c+corr)|high)
				} else {
					out = append(out, uint16(c))
				}
			}
		}
		flags <<= 2
	}
	return string(utf16.Decode(out))
}

// rarFields reads a header's fields; a read past its end sets bad.
type rarFields struct {
	b   []byte
	bad bool
}

func (f *rarFields) vint() uint64 {
	v, k := binary.Uvarint(f.b)
	if k <= 0 {
		f.bad, f.b = true, nil
		return 0
	}
	f.b = f.b[k:]
	return v
}

func (f *rarFields) take(n uint64) []byte {
	if n > uint64(len(f.b)) {
		f.bad, f.b = true, nil
		return nil
	}
	b := f.b[:n]
	f.b = f.b[n:]
	return b
}
