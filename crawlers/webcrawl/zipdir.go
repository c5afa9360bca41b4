package webcrawl

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"
)

// Member is an archive member as the archive's central directory records
// it: enough to match it against the reference index without its bytes.
type Member struct {
	Name  string
	CRC32 uint32
	Size  int64 // uncompressed
}

// Bounds on reading a directory over ranged requests.
const (
	zipBlock       = 1 << 20 // bytes per ranged request
	zipMaxRequests = 128     // a directory needing more is left unread
	zipMaxMembers  = 2_000_000
)

var errNoRanges = errors.New("the server does not serve byte ranges")

// looksZip reports whether a download is a zip by its URL or declared type.
func looksZip(rawURL, contentType string) bool {
	return strings.EqualFold(path.Ext(strings.SplitN(rawURL, "?", 2)[0]), ".zip") ||
		strings.Contains(strings.ToLower(contentType), "zip")
}

// zipDirectory lists a remote zip's members from its central directory,
// read with a few ranged requests at the archive's end: a dump too big to
// download (the whole breach is 108 GB) can still be shown to hold the
// breach's documents.
func (f *fetcher) zipDirectory(ctx context.Context, rawURL string, size int64) ([]Member, error) {
	ra := &rangeReader{ctx: ctx, f: f, url: rawURL, size: size, blocks: map[int64][]byte{}}
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		if ra.err != nil {
			return nil, ra.err
		}
		return nil, fmt.Errorf("read zip directory: %w", err)
	}
	out := make([]Member, 0, min(len(zr.File), zipMaxMembers))
	for _, zf := range zr.File {
		if len(out) == zipMaxMembers {
			break
		}
		if zf.FileInfo().IsDir() {
			continue
		}
		out = append(out, Member{Name: zf.Name, CRC32: zf.CRC32, Size: int64(zf.UncompressedSize64)})
	}
	return out, nil
}

// rangeReader is an io.ReaderAt over HTTP byte ranges, fetched in blocks
// and kept, so archive/zip's small reads cost few requests.
type rangeReader struct {
	ctx      context.Context
	f        *fetcher
	url      string
	size     int64
	blocks   map[int64][]byte
	requests int
	err      error // why a read failed, beyond what archive/zip says
}

func (r *rangeReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && off+int64(n) < r.size {
		pos := off + int64(n)
		b, err := r.block(pos / zipBlock)
		if err != nil {
			r.err = err
			return n, err
		}
		n += copy(p[n:], b[pos%zipBlock:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (r *rangeReader) block(i int64) ([]byte, error) {
	if b, ok := r.blocks[i]; ok {
		return b, nil
	}
	if r.requests >= zipMaxRequests {
		return nil, fmt.Errorf("zip directory needs more than %d ranged requests; not read", zipMaxRequests)
	}
	r.requests++
	start := i * zipBlock
	end := min(start+zipBlock, r.size) - 1
	req, err := http.NewRequestWithContext(r.ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", r.f.opts.UserAgent)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", start, end))
	resp, err := r.f.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent {
		return nil, fmt.Errorf("%w (HTTP %d to a range request)", errNoRanges, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, end-start+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != end-start+1 {
		return nil, fmt.Errorf("range %d-%d: got %d bytes", start, end, len(b))
	}
	if len(r.blocks) >= 8 {
		clear(r.blocks) // the directory is read front to back: old blocks are done with
	}
	r.blocks[i] = b
	return b, nil
}
