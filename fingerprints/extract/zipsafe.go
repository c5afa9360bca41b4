package extract

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// maxZipEntries bounds the central directory of an office file. archive/zip
// allocates a File per directory record before anything else can look at
// it, so the count is checked on the raw bytes first.
const maxZipEntries = 20000

// openZip opens an office container after checking that it cannot hold more
// than maxZipEntries directory records (each starts with PK\x01\x02, so
// counting that signature over-estimates safely).
func openZip(data []byte) (*zip.Reader, error) {
	if n := bytes.Count(data, []byte("PK\x01\x02")); n > maxZipEntries {
		return nil, fmt.Errorf("zip: %d directory records over %d: %w", n, maxZipEntries, ErrTooLarge)
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil && !(errors.Is(err, zip.ErrInsecurePath) && zr != nil) {
		return nil, fmt.Errorf("zip: %w", err)
	}
	return zr, nil
}

// memberCap is the most bytes one zip member may inflate to: MaxBytes, and
// no more than 200× the container (XML compresses well, but a bomb needs
// far more).
func (d *doc) memberCap(containerLen int) int64 {
	return min(d.lim.MaxBytes, max(int64(containerLen)*200, 1<<20))
}

// readZipMember reads a member fully after checking its declared size.
// archive/zip itself fails a member that inflates past its declared size,
// and the LimitReader holds even if that ever changes.
func readZipMember(f *zip.File, maxBytes int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(maxBytes) {
		return nil, fmt.Errorf("member %q declares %d bytes over %d: %w", clip(f.Name, 80), f.UncompressedSize64, maxBytes, ErrTooLarge)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("member %q: %w", clip(f.Name, 80), err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("member %q: %w", clip(f.Name, 80), err)
	}
	if int64(len(b)) > maxBytes {
		return nil, fmt.Errorf("member %q inflates past %d bytes: %w", clip(f.Name, 80), maxBytes, ErrTooLarge)
	}
	return b, nil
}

// openZipMember opens a member for streaming after the declared-size check;
// the reader stops at maxBytes.
func openZipMember(f *zip.File, maxBytes int64) (io.ReadCloser, error) {
	if f.UncompressedSize64 > uint64(maxBytes) {
		return nil, fmt.Errorf("member %q declares %d bytes over %d: %w", clip(f.Name, 80), f.UncompressedSize64, maxBytes, ErrTooLarge)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("member %q: %w", clip(f.Name, 80), err)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(rc, maxBytes), rc}, nil
}

// findZip returns the member with exactly this name, or nil.
func findZip(zr *zip.Reader, name string) *zip.File {
	for _, f := range zr.File {
		if f.Name == name {
			return f
		}
	}
	return nil
}
