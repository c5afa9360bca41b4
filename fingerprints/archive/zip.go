package archive

import (
	"archive/zip"
	"bytes"
	"compress/bzip2"
	"compress/flate"
	"crypto/aes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/mikelolasagasti/xz"
)

// Zip compression methods beyond the stdlib's store and deflate.
const (
	zipMethodBzip2 = 12
	zipMethodZstd  = 93
	zipMethodXz    = 95
	zipMethodAES   = 99 // WinZip AES: the real method is in the 0x9901 extra field
)

const (
	zipFlagEncrypted       = 0x1
	zipFlagDataDescriptor  = 0x8
	zipFlagStrongEncrypted = 0x40
)

// openZip opens a zip held in memory. The entry count declared by the end
// of central directory is checked first, so a million-entry archive is
// refused before the stdlib allocates a header for each entry.
func (st *walk) openZip(data []byte) (*zip.Reader, error) {
	if n, ok := zipDeclaredEntries(data); ok && n > uint64(st.lim.MaxEntries-st.entries) {
		return nil, limitErr("MaxEntries", fmt.Sprintf("%d declared (after %d)", n, st.entries), st.lim.MaxEntries)
	}
	zr, err := zip.NewReader(st.input(data), int64(len(data)))
	// Names are only labels, cleaned by cleanLabel.
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, fmt.Errorf("zip: %w", err)
	}
	return zr, nil
}

// zipDeclaredEntries reads the total entry count from the (zip64) end of
// central directory record.
func zipDeclaredEntries(b []byte) (uint64, bool) {
	start := max(0, len(b)-(22+65535))
	i := bytes.LastIndex(b[start:], []byte("PK\x05\x06"))
	if i < 0 || start+i+22 > len(b) {
		return 0, false
	}
	eocd := start + i
	n := uint64(binary.LittleEndian.Uint16(b[eocd+10:]))
	if n != 0xffff {
		return n, true
	}
	loc := eocd - 20
	if loc < 0 || !bytes.Equal(b[loc:loc+4], []byte("PK\x06\x07")) {
		return n, true
	}
	off := binary.LittleEndian.Uint64(b[loc+8:])
	if off > uint64(len(b)) || uint64(len(b))-off < 56 || !bytes.Equal(b[off:off+4], []byte("PK\x06\x06")) {
		return n, true
	}
	return binary.LittleEndian.Uint64(b[off+32:]), true
}

// isDocumentDir reports whether an opened zip is an office document or
// e-book (OOXML, ODF, EPUB): those are documents to fingerprint whole. It
// wants the package's real structure, not just a marker file, so that a leak
// cannot hide its contents by adding a "[Content_Types].xml".
func isDocumentDir(zr *zip.Reader) bool {
	names := make(map[string]bool, len(zr.File))
	for _, f := range zr.File {
		names[f.Name] = true
	}
	if names["[Content_Types].xml"] && (names["word/document.xml"] || names["xl/workbook.xml"] || names["ppt/presentation.xml"]) {
		return true
	}
	// ODF and EPUB store a short "mimetype" first.
	if len(zr.File) > 0 && zr.File[0].Name == "mimetype" && zr.File[0].UncompressedSize64 < 100 {
		return names["content.xml"] || names["META-INF/container.xml"]
	}
	return false
}

// zip walks an opened zip archive.
func (st *walk) zip(a *arc, zr *zip.Reader, data []byte) error {
	// Per reader, not global: no shared mutable state across walks.
	for method, dec := range st.zipDecompressors() {
		zr.RegisterDecompressor(method, dec)
	}
	for _, f := range zr.File {
		if err := st.entry(); err != nil {
			return err
		}
		mode := f.Mode()
		if !mode.IsRegular() || strings.HasSuffix(f.Name, "/") {
			st.skip()
			continue
		}
		declared := int64(f.UncompressedSize64)
		if f.UncompressedSize64 > 1<<62 {
			declared = 1 << 62
		}
		if err := a.checkDeclared(declared); err != nil {
			if err := a.member(f.Name, declared, nil, err); err != nil {
				return err
			}
			continue
		}
		var (
			out  []byte
			rerr error
		)
		if f.Flags&zipFlagEncrypted != 0 || f.Method == zipMethodAES {
			out, rerr = st.zipEncrypted(a, f, data)
		} else {
			out, rerr = st.zipPlain(a, f)
		}
		if rerr != nil && !fatal(rerr) && !errors.Is(rerr, ErrLimit) {
			rerr = fmt.Errorf("zip: %w", rerr)
		}
		if err := a.member(f.Name, declared, out, rerr); err != nil {
			return err
		}
	}
	return nil
}

func (st *walk) zipPlain(a *arc, f *zip.File) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	// The stdlib checks the CRC and the declared size at EOF.
	return a.readMember(a.meter(rc), int64(f.UncompressedSize64))
}

// zipDecompressors are the extra methods seen in the wild, with the same
// dictionary caps as single streams.
func (st *walk) zipDecompressors() map[uint16]zip.Decompressor {
	dictCap := st.lim.dictCap()
	return map[uint16]zip.Decompressor{
		zipMethodBzip2: func(r io.Reader) io.ReadCloser { return io.NopCloser(bzip2.NewReader(r)) },
		zipMethodXz: func(r io.Reader) io.ReadCloser {
			zr, err := xz.NewReader(r, uint32(dictCap))
			if err != nil {
				return io.NopCloser(errReader{fmt.Errorf("xz: %w", err)})
			}
			return io.NopCloser(zr)
		},
		zipMethodZstd: func(r io.Reader) io.ReadCloser {
			zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxWindow(uint64(dictCap)), zstd.WithDecoderMaxMemory(uint64(dictCap)))
			if err != nil {
				return io.NopCloser(errReader{fmt.Errorf("zstd: %w", err)})
			}
			return zr.IOReadCloser()
		},
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// zipDecompress opens method over r for an entry whose bytes we decrypted
// ourselves.
func (st *walk) zipDecompress(method uint16, r io.Reader) (io.ReadCloser, error) {
	switch method {
	case zip.Store:
		return io.NopCloser(r), nil
	case zip.Deflate:
		return flate.NewReader(r), nil
	}
	if dec, ok := st.zipDecompressors()[method]; ok {
		return dec(r), nil
	}
	return nil, fmt.Errorf("%w: method %d", zip.ErrAlgorithm, method)
}

// errWrongPassword means a candidate did not decrypt an entry.
var errWrongPassword = errors.New("wrong password")

// zipEncrypted decrypts a ZipCrypto or WinZip AES entry with each candidate
// password (the last one that worked first).
func (st *walk) zipEncrypted(a *arc, f *zip.File, data []byte) ([]byte, error) {
	if f.Flags&zipFlagStrongEncrypted != 0 {
		return nil, fmt.Errorf("PKWARE strong encryption is not supported: %w", ErrEncrypted)
	}
	raw, err := f.OpenRaw()
	if err != nil {
		return nil, err
	}
	// The raw bytes are a slice of the archive, so this is bounded by it.
	ct, err := io.ReadAll(io.LimitReader(raw, int64(len(data))))
	if err != nil {
		return nil, err
	}
	var aesInfo *zipAESInfo
	if f.Method == zipMethodAES {
		if aesInfo, err = parseZipAESExtra(f.Extra); err != nil {
			return nil, err
		}
	}
	var lastErr error
	for _, pw := range st.passwordOrder() {
		var out []byte
		if aesInfo != nil {
			out, err = st.zipAES(a, f, aesInfo, ct, pw)
		} else {
			out, err = st.zipCrypto(a, f, ct, pw)
		}
		if err == nil {
			st.preferPassword(pw)
			return out, nil
		}
		if fatal(err) || errors.Is(err, ErrLimit) {
			return nil, err
		}
		if !errors.Is(err, errWrongPassword) {
			lastErr = err
		}
	}
	if lastErr != nil {
		return nil, fmt.Errorf("%w (last attempt: %v)", ErrEncrypted, lastErr)
	}
	return nil, ErrEncrypted
}

// passwordOrder is the candidate list with the last one that worked first.
func (st *walk) passwordOrder() []string {
	if st.preferred == "" {
		return st.passwords
	}
	out := make([]string, 0, len(st.passwords))
	out = append(out, st.preferred)
	for _, p := range st.passwords {
		if p != st.preferred {
			out = append(out, p)
		}
	}
	return out
}

func (st *walk) preferPassword(pw string) { st.preferred = pw }

// readVerified decompresses, meters and reads a decrypted entry, checking
// its CRC when the format carries one.
func (st *walk) readVerified(a *arc, method uint16, r io.Reader, size int64, crc uint32, checkCRC bool) ([]byte, error) {
	rc, err := st.zipDecompress(method, r)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	out, err := a.readMember(a.meter(rc), size)
	if err != nil {
		if fatal(err) || errors.Is(err, ErrLimit) {
			return nil, err
		}
		// Garbage from a wrong key usually fails to inflate.
		return nil, fmt.Errorf("%w: %v", errWrongPassword, err)
	}
	if checkCRC && crc32.ChecksumIEEE(out) != crc {
		return nil, fmt.Errorf("%w: %v", errWrongPassword, zip.ErrChecksum)
	}
	return out, nil
}

// zipCrypto decrypts traditional PKWARE encryption (APPNOTE 6.1).
func (st *walk) zipCrypto(a *arc, f *zip.File, ct []byte, pw string) ([]byte, error) {
	if len(ct) < 12 {
		return nil, fmt.Errorf("zipcrypto: entry shorter than its header")
	}
	k := newZipCryptoKeys(pw)
	var hdr [12]byte
	copy(hdr[:], ct[:12])
	k.decrypt(hdr[:])
	// The last header byte checks the password: the CRC's high byte, or the
	// DOS time's when a data descriptor follows. Accept either, since
	// writers differ; the CRC check below catches the rest.
	if hdr[11] != byte(f.CRC32>>24) && !(f.Flags&zipFlagDataDescriptor != 0 && hdr[11] == byte(f.ModifiedTime>>8)) {
		return nil, errWrongPassword
	}
	r := &zipCryptoReader{k: k, r: bytes.NewReader(ct[12:])}
	return st.readVerified(a, f.Method, r, int64(f.UncompressedSize64), f.CRC32, true)
}

type zipCryptoKeys struct{ k0, k1, k2 uint32 }

func newZipCryptoKeys(pw string) *zipCryptoKeys {
	k := &zipCryptoKeys{0x12345678, 0x23456789, 0x34567890}
	for i := 0; i < len(pw); i++ {
		k.update(pw[i])
	}
	return k
}

func crc32Update(crc uint32, b byte) uint32 {
	return crc32.IEEETable[byte(crc)^b] ^ (crc >> 8)
}

func (k *zipCryptoKeys) update(c byte) {
	k.k0 = crc32Update(k.k0, c)
	k.k1 = (k.k1+k.k0&0xff)*134775813 + 1
	k.k2 = crc32Update(k.k2, byte(k.k1>>24))
}

func (k *zipCryptoKeys) decrypt(b []byte) {
	for i, c := range b {
		t := k.k2 | 2
		p := c ^ byte((t*(t^1))>>8)
		k.update(p)
		b[i] = p
	}
}

type zipCryptoReader struct {
	k *zipCryptoKeys
	r io.Reader
}

func (z *zipCryptoReader) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	z.k.decrypt(p[:n])
	return n, err
}

// zipAESInfo is the WinZip AES extra field (0x9901).
type zipAESInfo struct {
	version  uint16 // 1 = AE-1 (CRC kept), 2 = AE-2 (CRC zero)
	keyLen   int
	saltLen  int
	method   uint16
	strength byte
}

func parseZipAESExtra(extra []byte) (*zipAESInfo, error) {
	for len(extra) >= 4 {
		id := binary.LittleEndian.Uint16(extra)
		size := int(binary.LittleEndian.Uint16(extra[2:]))
		extra = extra[4:]
		if size > len(extra) {
			break
		}
		if id == 0x9901 && size >= 7 {
			d := extra[:size]
			info := &zipAESInfo{version: binary.LittleEndian.Uint16(d), strength: d[4], method: binary.LittleEndian.Uint16(d[5:])}
			switch info.strength {
			case 1:
				info.keyLen, info.saltLen = 16, 8
			case 2:
				info.keyLen, info.saltLen = 24, 12
			case 3:
				info.keyLen, info.saltLen = 32, 16
			default:
				return nil, fmt.Errorf("winzip aes: unknown strength %d", info.strength)
			}
			return info, nil
		}
		extra = extra[size:]
	}
	return nil, errors.New("winzip aes: missing 0x9901 extra field")
}

// zipAES decrypts WinZip AES (AE-1/AE-2): PBKDF2-HMAC-SHA1 (1000 rounds)
// derives the AES key, the HMAC key and a 2-byte password verifier; the data
// is AES-CTR with a little-endian counter from 1, authenticated by a 10-byte
// HMAC-SHA1 of the ciphertext.
func (st *walk) zipAES(a *arc, f *zip.File, info *zipAESInfo, raw []byte, pw string) ([]byte, error) {
	if len(raw) < info.saltLen+2+10 {
		return nil, errors.New("winzip aes: entry shorter than its header")
	}
	salt := raw[:info.saltLen]
	verifier := raw[info.saltLen : info.saltLen+2]
	ct := raw[info.saltLen+2 : len(raw)-10]
	mac := raw[len(raw)-10:]
	dk, err := pbkdf2.Key(sha1.New, pw, salt, 1000, 2*info.keyLen+2)
	if err != nil {
		return nil, fmt.Errorf("winzip aes: %w", err)
	}
	if !bytes.Equal(dk[2*info.keyLen:], verifier) {
		return nil, errWrongPassword
	}
	h := hmac.New(sha1.New, dk[info.keyLen:2*info.keyLen])
	h.Write(ct)
	if !hmac.Equal(h.Sum(nil)[:10], mac) {
		return nil, fmt.Errorf("%w: authentication code mismatch", errWrongPassword)
	}
	block, err := aes.NewCipher(dk[:info.keyLen])
	if err != nil {
		return nil, fmt.Errorf("winzip aes: %w", err)
	}
	plain := make([]byte, len(ct))
	var ctr, ks [aes.BlockSize]byte
	for off, i := 0, uint64(1); off < len(ct); off, i = off+aes.BlockSize, i+1 {
		binary.LittleEndian.PutUint64(ctr[:], i)
		block.Encrypt(ks[:], ctr[:])
		end := min(off+aes.BlockSize, len(ct))
		for j := off; j < end; j++ {
			plain[j] = ct[j] ^ ks[j-off]
		}
	}
	return st.readVerified(a, info.method, bytes.NewReader(plain), int64(f.UncompressedSize64), f.CRC32, info.version == 1)
}
