package archive

import (
	"bytes"
	"strconv"
	"strings"
)

type format int

const (
	formatNone format = iota
	formatZip
	formatTar
	formatGzip
	formatBzip2
	formatXz
	formatZstd
	format7z
	formatRar
)

func (f format) String() string {
	return [...]string{"none", "zip", "tar", "gzip", "bzip2", "xz", "zstd", "7z", "rar"}[f]
}

var (
	magic7z    = []byte{'7', 'z', 0xbc, 0xaf, 0x27, 0x1c}
	magicRar4  = []byte("Rar!\x1a\x07\x00")
	magicRar5  = []byte("Rar!\x1a\x07\x01\x00")
	magicXz    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
	magicZstd  = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicGzip  = []byte{0x1f, 0x8b, 0x08}
	bz2Block   = []byte{0x31, 0x41, 0x59, 0x26, 0x53, 0x59}
	bz2EOS     = []byte{0x17, 0x72, 0x45, 0x38, 0x50, 0x90}
	zipLocal   = []byte("PK\x03\x04")
	zipEmpty   = []byte("PK\x05\x06")
	zipSpanned = []byte("PK\x07\x08PK\x03\x04")
)

// IsArchive reports whether data starts like a supported archive or
// compressed stream (zip, tar, gzip, bzip2, xz, zstd, 7z, rar), by content,
// never by name. A tar needs its first 512 bytes to be recognised. Office
// and e-book files (OOXML, ODF, EPUB) start like zips, so IsArchive is true
// for them; Walk recognises them from their directory and hands them over
// whole, as one member.
func IsArchive(head []byte) bool { return sniff(head) != formatNone }

func sniff(b []byte) format {
	switch {
	case bytes.HasPrefix(b, zipLocal), bytes.HasPrefix(b, zipEmpty), bytes.HasPrefix(b, zipSpanned):
		return formatZip
	case bytes.HasPrefix(b, magic7z):
		return format7z
	case bytes.HasPrefix(b, magicRar4), bytes.HasPrefix(b, magicRar5):
		return formatRar
	case bytes.HasPrefix(b, magicXz):
		return formatXz
	case bytes.HasPrefix(b, magicZstd):
		return formatZstd
	case bytes.HasPrefix(b, magicGzip):
		return formatGzip
	case len(b) >= 10 && b[0] == 'B' && b[1] == 'Z' && b[2] == 'h' && b[3] >= '1' && b[3] <= '9' &&
		(bytes.Equal(b[4:10], bz2Block) || bytes.Equal(b[4:10], bz2EOS)):
		return formatBzip2
	case isTar(b):
		return formatTar
	}
	return formatNone
}

// isTar checks the first header block: "ustar" magic, or failing that (V7
// archives) a valid header checksum and a plausible name.
func isTar(b []byte) bool {
	if len(b) < 512 {
		return false
	}
	h := b[:512]
	if bytes.Equal(h[257:262], []byte("ustar")) {
		return tarChecksumOK(h)
	}
	if h[0] == 0 {
		return false
	}
	return tarChecksumOK(h)
}

func tarChecksumOK(h []byte) bool {
	field := strings.TrimRight(strings.TrimSpace(string(bytes.TrimRight(h[148:156], "\x00 "))), "\x00")
	if field == "" {
		return false
	}
	want, err := strconv.ParseUint(field, 8, 32)
	if err != nil {
		return false
	}
	var unsigned, signed int64
	for i, c := range h {
		if i >= 148 && i < 156 {
			c = ' '
		}
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	return int64(want) == unsigned || int64(want) == signed
}
