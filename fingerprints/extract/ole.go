package extract

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/richardlehane/mscfb"
)

// Legacy Office files (Word 97-2003 .doc, Excel 97-2003 .xls) are Compound
// File Binary containers: a small FAT file system inside one file. The
// container is read with github.com/richardlehane/mscfb, which checks its
// header counts and refuses cycles in the DIFAT, directory and mini-stream
// chains. What it leaves to callers is guarded here: a stream's declared
// size is checked against the file before anything is allocated, streams
// are read in small chunks (the library's per-read sector bookkeeping grows
// with the read size), and a cycle in a stream's own FAT chain, which the
// library would follow until the size is read, is caught by watching the
// reads it makes (cfbReads).

// errOLEEncrypted marks password-protected legacy Office documents: their
// streams are RC4- or XOR-encrypted, so parsing them would give garbage.
var errOLEEncrypted = fmt.Errorf("encrypted (password-protected) document, not decrypted: %w", ErrCorrupt)

// oleChunk is how many bytes one library Read asks for.
const oleChunk = 64 << 10

// cfbFile is an opened compound file: its streams that sit directly under
// the root storage. Streams inside sub-storages (embedded objects, e.g. an
// Excel chart inside a Word document) are not listed, so a document's own
// "WordDocument" or "Workbook" is never confused with an embedded one.
type cfbFile struct {
	size    int64
	streams []*mscfb.File
	reads   *cfbReads
}

// cfbReads is the io.ReaderAt the library reads through. While a stream is
// read it marks the 64-byte units (the mini-sector size, which divides the
// sector size) that reads cover whole: a stream's chain never holds a
// sector twice, so a unit read twice means a cycle or a cross-linked
// chain. Short reads (the library's 4-byte FAT look-ups, a stream's last
// few bytes) are not marked, so only repeated sector data counts.
type cfbReads struct {
	r     *bytes.Reader
	seen  []uint64 // bitset of units, allocated on first use
	track bool
	again bool
}

func (c *cfbReads) ReadAt(p []byte, off int64) (int, error) {
	if c.track && len(p) >= 64 && off >= 0 {
		last := min((off+int64(len(p)))/64, c.r.Size()/64)
		for u := (off + 63) / 64; u < last; u++ {
			bit := uint64(1) << (u % 64)
			if c.seen[u/64]&bit != 0 {
				c.again = true
			}
			c.seen[u/64] |= bit
		}
	}
	return c.r.ReadAt(p, off)
}

// start begins watching a new stream's reads.
func (c *cfbReads) start() {
	if c.seen == nil {
		c.seen = make([]uint64, c.r.Size()/64/64+1)
	} else {
		clear(c.seen)
	}
	c.track, c.again = true, false
}

// openCFB parses the container's header and directory.
func openCFB(data []byte) (*cfbFile, error) {
	reads := &cfbReads{r: bytes.NewReader(data)}
	r, err := mscfb.New(reads)
	if err != nil {
		return nil, err
	}
	c := &cfbFile{size: int64(len(data)), reads: reads}
	for _, f := range r.File {
		if len(f.Path) == 0 && !f.FileInfo().IsDir() {
			c.streams = append(c.streams, f)
		}
	}
	return c, nil
}

// stream finds a root-level stream; names compare case-insensitively, as
// in the format. A hostile directory may repeat a name: the first wins.
func (c *cfbFile) stream(name string) *mscfb.File {
	for _, f := range c.streams {
		if strings.EqualFold(f.Name, name) {
			return f
		}
	}
	return nil
}

// read returns a whole root-level stream. Its declared size must fit in the
// file (every sector, mini or not, is inside it), which bounds both the
// allocation and a read that follows a cyclic chain.
func (c *cfbFile) read(d *doc, name string) ([]byte, error) {
	f := c.stream(name)
	if f == nil {
		return nil, fmt.Errorf("no %s stream: %w", name, ErrCorrupt)
	}
	if f.Size > c.size {
		return nil, fmt.Errorf("%s stream declares %d bytes, more than the %d-byte file: %w", name, f.Size, c.size, ErrCorrupt)
	}
	buf := make([]byte, f.Size)
	n := 0
	c.reads.start()
	defer func() { c.reads.track = false }()
	for n < len(buf) {
		if err := d.err(); err != nil {
			return nil, err
		}
		k, err := f.Read(buf[n:min(len(buf), n+oleChunk)])
		n += k
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s stream at byte %d: %v: %w", name, n, err, ErrCorrupt)
		}
		if c.reads.again {
			return nil, fmt.Errorf("%s stream's sector chain revisits a sector (cycle or cross-link) before byte %d: %w", name, n, ErrCorrupt)
		}
		if k == 0 {
			break
		}
	}
	if n < len(buf) {
		return nil, fmt.Errorf("%s stream ends at byte %d of %d: %w", name, n, len(buf), ErrCorrupt)
	}
	return buf, nil
}

// extractOLE dispatches on the streams a compound file holds: WordDocument
// for Word, Workbook (BIFF8) or Book (BIFF5) for Excel. Anything else
// (Outlook .msg, PowerPoint .ppt, …) gets a warning, as does a container
// that cannot be read at all: its raw-bytes hash still works, as for any
// unsupported type.
func extractOLE(d *doc, data []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s", ErrPanic, panicSummary(r))
		}
	}()
	c, err := openCFB(data)
	if err != nil {
		d.warnf("%s: unreadable compound file (%v); no text extractor", d.t, err)
		return nil
	}
	switch {
	case c.stream("WordDocument") != nil:
		return extractDOC(d, c)
	case c.stream("Workbook") != nil:
		return extractXLS(d, c, "Workbook")
	case c.stream("Book") != nil:
		return extractXLS(d, c, "Book")
	case c.stream("EncryptedPackage") != nil:
		// A password-protected DOCX/XLSX/PPTX is a CFB holding the
		// encrypted zip.
		return fmt.Errorf("EncryptedPackage stream (protected OOXML): %w", errOLEEncrypted)
	}
	d.warnf("%s: no text extractor for this compound file (not Word or Excel)", d.t)
	return nil
}

func le16(b []byte, off int) uint16 { return binary.LittleEndian.Uint16(b[off:]) }
func le32(b []byte, off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
