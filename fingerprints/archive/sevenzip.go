package archive

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/bodgit/sevenzip"
)

// sevenZip walks a 7z archive. The header is validated first
// (check7zHeader); the library runs under recover(), since it panics on some
// malformed input. Files in encrypted folders are retried with each
// candidate password and accepted only when their CRC matches: with the
// "copy" method a wrong key yields garbage, not an error.
func (st *walk) sevenZip(a *arc, data []byte) error {
	headerPw, encFolders, err := st.check7zHeader(data)
	if err != nil {
		return err
	}
	readers := map[string]*sevenzip.Reader{}
	open := func(pw string) (r *sevenzip.Reader, err error) {
		if r, ok := readers[pw]; ok {
			return r, nil
		}
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("7z: library panic: %v", p)
			}
		}()
		r, err = sevenzip.NewReaderWithPassword(st.input(data), int64(len(data)), pw)
		if err != nil {
			return nil, fmt.Errorf("7z: %w", err)
		}
		readers[pw] = r
		return r, nil
	}
	main, err := open(headerPw)
	if err != nil {
		return err
	}
	for i, f := range main.File {
		if err := st.entry(); err != nil {
			return err
		}
		if !f.FileInfo().Mode().IsRegular() {
			st.skip()
			continue
		}
		declared := int64(min(f.UncompressedSize, 1<<62))
		if err := a.checkDeclared(declared); err != nil {
			if err := a.member(f.Name, declared, nil, err); err != nil {
				return err
			}
			continue
		}
		out, rerr := st.read7z(a, f)
		var re *sevenzip.ReadError
		encrypted := f.Stream >= 0 && f.Stream < len(encFolders) && encFolders[f.Stream]
		if rerr != nil && !fatal(rerr) && !errors.Is(rerr, ErrLimit) && (encrypted || errors.As(rerr, &re) && re.Encrypted) {
			// Encrypted content: try the candidates, each through its own
			// reader (the library takes the password per reader).
			rerr = fmt.Errorf("7z: %w", ErrEncrypted)
			for _, pw := range st.passwordOrder() {
				if pw == headerPw {
					continue
				}
				r, err := open(pw)
				if err != nil || i >= len(r.File) {
					continue
				}
				o, err := st.read7z(a, r.File[i])
				if err == nil {
					st.preferPassword(pw)
					out, rerr = o, nil
					break
				}
				if fatal(err) || errors.Is(err, ErrLimit) {
					out, rerr = nil, err
					break
				}
			}
		}
		if rerr != nil && !fatal(rerr) && !errors.Is(rerr, ErrLimit) && !errors.Is(rerr, ErrEncrypted) {
			rerr = fmt.Errorf("7z: %w", rerr)
		}
		if err := a.member(f.Name, declared, out, rerr); err != nil {
			return err
		}
	}
	return nil
}

var errSzChecksum = errors.New("checksum mismatch")

// read7z reads one file, verifying its CRC when the archive records one.
func (st *walk) read7z(a *arc, f *sevenzip.File) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("7z: library panic: %v", p)
		}
	}()
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	out, err = a.readMember(a.meter(rc), int64(min(f.UncompressedSize, 1<<62)))
	if err != nil {
		return nil, err
	}
	if uint64(len(out)) != f.UncompressedSize {
		return nil, fmt.Errorf("%w: %d of %d bytes", io.ErrUnexpectedEOF, len(out), f.UncompressedSize)
	}
	if f.CRC32 != 0 && crc32.ChecksumIEEE(out) != f.CRC32 {
		return nil, errSzChecksum
	}
	return out, nil
}
