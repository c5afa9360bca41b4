package webcrawl

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ulikunitz/xz/lzma"
)

// sevenZipTree writes the files a 7z test archives: a directory, nested
// names, an empty file and members no compressor shrinks (so the archive
// is big and its header small). It returns the regular files by name.
func sevenZipTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	want := map[string][]byte{"dump/empty.txt": {}}
	for i := range 10 {
		want[fmt.Sprintf("dump/lab/patient-%02d.pdf", i)] = noise(uint64(i), 150_000+i*10_000)
	}
	want["dump/index.csv"] = []byte("nhi,name\nZZZ0016,Test Patient One\nZZZ0024,Test Patient Two\n")
	for name, data := range want {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "dump", "no-files-here"), 0o755); err != nil {
		t.Fatal(err)
	}
	return want
}

// make7z archives dir's "dump" tree with the real 7z and the given
// switches, and returns the archive.
func make7z(t *testing.T, bin, dir string, switches ...string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "a.7z")
	args := append([]string{"a", "-t7z", "-bd", "-y"}, switches...)
	cmd := exec.Command(bin, append(args, out, "dump")...)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("7z %s: %v\n%s", strings.Join(switches, " "), err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Real 7z archives, their header compressed (7-Zip's default) or not,
// solid or not, data encrypted or not: the members with their CRC-32 and
// size, from a few ranged requests and a small part of the bytes.
func TestSevenZipDirectory(t *testing.T) {
	bin := need7z(t)
	src := t.TempDir()
	want := sevenZipTree(t, src)
	site := newArchiveSite()
	variants := map[string][]string{
		"/compressed-header.7z":   nil,
		"/plain-header.7z":        {"-mhc=off"},
		"/non-solid.7z":           {"-ms=off"},
		"/lzma-data.7z":           {"-m0=lzma", "-mx=1"},
		"/encrypted-data-only.7z": {"-psynthetic-test-password", "-mhe=off"},
	}
	for p, sw := range variants {
		site.add(p, make7z(t, bin, src, sw...))
	}
	// Both header forms are exercised: 7-Zip's default encodes it.
	for p, want := range map[string]byte{"/compressed-header.7z": szEncodedHeader, "/plain-header.7z": szHeader} {
		a := site.files[p]
		if got := a[szStartHeaderLength+binary.LittleEndian.Uint64(a[12:])]; got != want {
			t.Fatalf("%s: header type %#x, want %#x", p, got, want)
		}
	}
	// 7-Zip encodes headers with LZMA; other writers may use LZMA2. The
	// plain header, re-encoded both ways, in front of noise for data.
	plain := site.files["/plain-header.7z"]
	hdr := plain[szStartHeaderLength+binary.LittleEndian.Uint64(plain[12:]):]
	site.add("/reencoded-lzma.7z", encoded7z(t, hdr, len(plain), false))
	site.add("/reencoded-lzma2.7z", encoded7z(t, hdr, len(plain), true))
	for p, f := range site.crawl(t) {
		t.Run(strings.TrimPrefix(p, "/"), func(t *testing.T) {
			checkMembers(t, f, want)
			n, served := site.counts(p)
			size := len(site.files[p])
			t.Logf("%s: %d bytes; directory read in %d ranged requests, %d bytes (%.1f%%)", p, size, n, served, 100*float64(served)/float64(size))
			if n > 4 || served > size/8 {
				t.Errorf("%d requests and %d of the archive's %d bytes to list it", n, served, size)
			}
		})
	}
}

// A 7z whose header is encrypted (-mhe) cannot be listed without the
// password; it says so rather than failing obscurely.
func TestSevenZipDirectoryEncryptedHeader(t *testing.T) {
	bin := need7z(t)
	src := t.TempDir()
	sevenZipTree(t, src)
	site := newArchiveSite()
	site.add("/sealed.7z", make7z(t, bin, src, "-psynthetic-test-password", "-mhe=on"))
	f := site.crawl(t)["/sealed.7z"]
	if !errors.Is(f.Err, errEncryptedHeaders) || f.Members != nil ||
		!strings.Contains(f.Err.Error(), "its directory could not be read: 7z: its headers are encrypted") {
		t.Errorf("err %v, %d members; want the encrypted-header error", f.Err, len(f.Members))
	}
	if n, _ := site.counts("/sealed.7z"); n > 3 {
		t.Errorf("%d range requests", n)
	}
}

// fake7z is a 7z of pad bytes of noise followed by the raw header hdr.
func fake7z(t *testing.T, hdr []byte, pad int) []byte {
	t.Helper()
	a := make([]byte, szStartHeaderLength, szStartHeaderLength+pad+len(hdr))
	copy(a, sevenZipSignature)
	a[7] = 4
	le := binary.LittleEndian
	le.PutUint64(a[12:], uint64(pad))
	le.PutUint64(a[20:], uint64(len(hdr)))
	le.PutUint32(a[28:], crc32.ChecksumIEEE(hdr))
	le.PutUint32(a[8:], crc32.ChecksumIEEE(a[12:32]))
	a = append(a, noise(99, pad)...)
	return append(a, hdr...)
}

// encoded7z is a 7z whose header hdr is stored LZMA-compressed, as 7-Zip
// stores it (or LZMA2-compressed), after pad bytes of noise.
func encoded7z(t *testing.T, hdr []byte, pad int, lzma2 bool) []byte {
	t.Helper()
	var lz bytes.Buffer
	var w io.WriteCloser
	var err error
	if lzma2 {
		w, err = lzma.Writer2Config{}.NewWriter2(&lz)
	} else {
		w, err = lzma.WriterConfig{SizeInHeader: true, Size: int64(len(hdr))}.NewWriter(&lz)
	}
	if err != nil {
		t.Fatal(err)
	}
	w.Write(hdr)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// The coder: ID and properties (LZMA: those of the classic header's
	// first 5 bytes; LZMA2: a dictionary size byte, 8 MiB).
	coder := []byte{0x23, 3, 1, 1, 5}
	stream := lz.Bytes()
	if lzma2 {
		coder = append(coder[:0], 0x21, 0x21, 1, 22)
	} else {
		coder = append(coder, stream[:5]...)
		stream = stream[13:] // after properties, dictionary size, size
	}
	n := func(v uint64) []byte { // a 7z UINT64, for values below 2^56
		var b [9]byte
		b[0] = 0xff
		binary.LittleEndian.PutUint64(b[1:], v)
		return b[:]
	}
	enc := []byte{szEncodedHeader, szPackInfo}
	enc = append(enc, n(uint64(pad))...) // the packed stream starts after the noise
	enc = append(enc, 1, szSize)
	enc = append(enc, n(uint64(len(stream)))...)
	enc = append(enc, szEnd, szUnpackInfo, szFolder, 1, 0, 1)
	enc = append(enc, coder...)
	enc = append(enc, szCodersUnpackSize)
	enc = append(enc, n(uint64(len(hdr)))...)
	enc = append(enc, szCRC, 1)
	enc = binary.LittleEndian.AppendUint32(enc, crc32.ChecksumIEEE(hdr))
	enc = append(enc, szEnd, szEnd)
	a := fake7z(t, enc, pad+len(stream))
	copy(a[szStartHeaderLength+pad:], stream)
	return a
}

// Hostile and broken 7z archives: each gets a clear error from a few
// requests, and none takes the crawler down. sevenzip alone would
// allocate 32 GB for the first (a fatal error, not a panic).
func TestSevenZipDirectoryHostile(t *testing.T) {
	// numFiles = 2^28 and nothing else.
	bomb := []byte{szHeader, szFilesInfo, 0xf0, 0x00, 0x00, 0x00, 0x10, szEnd, szEnd}
	// One folder of 2 substreams without their sizes, 2 files: sevenzip
	// indexes a slice it never made.
	inconsistent := []byte{szHeader, szMainStreamsInfo,
		szPackInfo, 0, 1, szSize, 10, szEnd,
		szUnpackInfo, szFolder, 1, 0, 1, 0x01, 0x00, szCodersUnpackSize, 10, szEnd,
		szSubStreamsInfo, szNumUnpackStream, 2, szEnd,
		szEnd,
		szFilesInfo, 2, 0x11, 9, 0, 'a', 0, 0, 0, 'b', 0, 0, 0, szEnd,
		szEnd}
	good := fake7z(t, []byte{szHeader, szEnd}, 200_000)
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-1] ^= 0xff
	cases := map[string]struct {
		archive []byte
		want    string
	}{
		"/bomb.7z":         {fake7z(t, bomb, 200_000), "268435456 files cannot fit in the 2 bytes left"},
		"/encoded-bomb.7z": {encoded7z(t, bomb, 200_000, false), "268435456 files cannot fit"},
		"/inconsistent.7z": {fake7z(t, inconsistent, 200_000), "inconsistent header"},
		"/bad-crc.7z":      {badCRC, "header CRC mismatch"},
		"/truncated.7z":    {good[:150_000], "lies past the archive's end (150000 bytes): truncated"},
		"/noise.7z":        {noise(5, 200_000), "not a 7z archive"},
	}
	site := newArchiveSite()
	for p, c := range cases {
		site.add(p, c.archive)
	}
	// An encoded header that decodes to a good one lists (zero members):
	// the decoding path itself works.
	site.add("/encoded-empty.7z", encoded7z(t, []byte{szHeader, szEnd}, 200_000, true))
	got := site.crawl(t)
	for p, c := range cases {
		f := got[p]
		if f.Err == nil || !strings.Contains(f.Err.Error(), "its directory could not be read: 7z") ||
			!strings.Contains(f.Err.Error(), c.want) || f.Members != nil {
			t.Errorf("%s: err %v; want %q", p, f.Err, c.want)
		}
		if n, _ := site.counts(p); n > 3 {
			t.Errorf("%s: %d range requests", p, n)
		}
	}
	if f := got["/encoded-empty.7z"]; f.Err == nil || !strings.Contains(f.Err.Error(), "its directory lists 0 members") {
		t.Errorf("encoded empty header: err %v", f.Err)
	}
}
