package webcrawl

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Member is an archive member as the archive's directory records it:
// enough to match it against the reference index without its bytes.
type Member struct {
	Name  string
	CRC32 uint32
	Size  int64 // uncompressed
}

// archiveKind is an archive format whose directory can be read over
// ranged requests.
type archiveKind string

const (
	kindZip archiveKind = "zip"
	kind7z  archiveKind = "7z"
	kindRAR archiveKind = "RAR"
)

// Bounds on reading a directory over ranged requests.
const (
	archiveMaxRequests = 128 // a directory needing more is left unread (RAR: listed so far)
	archiveMaxMembers  = 2_000_000
	archiveMaxCache    = 16 << 20         // bytes of fetched blocks kept
	archiveListBudget  = 10 * time.Minute // for all of one archive's requests

	// Bytes per ranged request, by format. A zip's central directory is
	// read by archive/zip in 4 KiB pieces, so big blocks keep its requests
	// few; a 7z reads a few exact spans; a RAR is walked header to header
	// through the data between them, so its blocks are small.
	zipBlock = 1 << 20
	szBlock  = 64 << 10
	rarBlock = 16 << 10
)

var (
	errNoRanges   = errors.New("the server does not serve byte ranges")
	errRequestCap = fmt.Errorf("the directory needs more than %d ranged requests", archiveMaxRequests)
	// errEncryptedHeaders: the format hides its directory behind the
	// password, so nothing can be listed.
	errEncryptedHeaders = errors.New("its headers are encrypted: listing them needs the password")
)

// rarVolume is the old RAR volume naming: dump.rar, dump.r00, dump.r01, …
var rarVolume = regexp.MustCompile(`^\.r[0-9]{2}$`)

// archiveKindOf names the archive format of a download by the extension
// of any of names (URLs or file names; the first that has a known one
// wins) or else by its declared Content-Type; "" if neither says.
// archiveDirectory checks the magic bytes, so a wrong label costs little.
func archiveKindOf(contentType string, names ...string) archiveKind {
	for _, n := range names {
		if u, err := url.Parse(n); err == nil && u.Path != "" {
			n = u.Path
		}
		switch ext := strings.ToLower(path.Ext(n)); {
		case ext == ".zip" || ext == ".zipx":
			return kindZip
		case ext == ".7z":
			return kind7z
		case ext == ".rar" || rarVolume.MatchString(ext): // also dump.part1.rar
			return kindRAR
		}
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch mt {
	case "application/zip", "application/x-zip", "application/x-zip-compressed", "application/zip-compressed":
		return kindZip
	case "application/x-7z-compressed":
		return kind7z
	case "application/vnd.rar", "application/x-rar-compressed", "application/x-rar":
		return kindRAR
	}
	return ""
}

// attachmentName is the file name a Content-Disposition header gives, if
// any: downloads are often served from /get?id=… under their real name.
func attachmentName(h http.Header) string {
	_, params, err := mime.ParseMediaType(h.Get("Content-Disposition"))
	if err != nil {
		return ""
	}
	return path.Base(strings.ReplaceAll(params["filename"], `\`, "/"))
}

// directory is what an archive's directory lists.
type directory struct {
	Members []Member
	skipped map[string]int // members left out, by reason
	stopped error          // why the listing ended before the directory did
}

// add lists m, or counts it out when it has no CRC-32 to match by.
func (d *directory) add(m Member, hasCRC bool) {
	switch {
	case !hasCRC:
		d.skip("without a CRC-32")
	case len(d.Members) == archiveMaxMembers:
		if d.stopped == nil {
			d.stopped = fmt.Errorf("more than %d members", archiveMaxMembers)
		}
	default:
		d.Members = append(d.Members, m)
	}
}

func (d *directory) skip(reason string) {
	if d.skipped == nil {
		d.skipped = map[string]int{}
	}
	d.skipped[reason]++
}

// note says what the member count leaves out, for the fetch's error text:
// "" or " (2 left out: 2 without a CRC-32; listing stopped early: …)".
func (d directory) note() string {
	var parts []string
	if len(d.skipped) > 0 {
		n := 0
		var why []string
		for _, r := range slices.Sorted(maps.Keys(d.skipped)) {
			n += d.skipped[r]
			why = append(why, strconv.Itoa(d.skipped[r])+" "+r)
		}
		parts = append(parts, fmt.Sprintf("%d left out: %s", n, strings.Join(why, ", ")))
	}
	if d.stopped != nil {
		parts = append(parts, "listing stopped early: "+d.stopped.Error())
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// archiveDirectory lists a remote archive's members from its directory,
// read with ranged requests: a dump too big to download (the whole breach
// is 108 GB) can still be shown to hold the breach's documents. kind is
// what the URL or type says; the archive's magic bytes have the last word.
func (f *fetcher) archiveDirectory(ctx context.Context, rawURL string, size int64, kind archiveKind) (d directory, err error) {
	ctx, cancel := context.WithTimeout(ctx, archiveListBudget)
	defer cancel()
	r := &rangeReader{ctx: ctx, f: f, url: rawURL, size: size, block: blockFor(kind), blocks: map[int64][]byte{}}
	defer func() {
		f.opts.Logger.DebugContext(ctx, "archive directory read", "url", rawURL, "kind", kind, "size", size,
			"requests", r.requests, "bytes", r.received, "members", len(d.Members), "skipped", d.skipped, "err", err)
	}()
	if kind == kindZip {
		// A zip is read from its end, where its directory is; its start
		// is looked at only when that fails.
		d, err = zipDirectory(r)
		if !errors.Is(err, zip.ErrFormat) {
			return d, err
		}
		r.setBlock(rarBlock)
		if k := sniffArchive(r); k != "" && k != kindZip {
			return listArchive(r, k)
		}
		return d, err
	}
	if k := sniffArchive(r); k != "" {
		kind = k
	} else if r.err != nil {
		return directory{}, r.err
	}
	return listArchive(r, kind)
}

// listArchive lists r as a kind archive, with that kind's block size.
func listArchive(r *rangeReader, kind archiveKind) (directory, error) {
	r.setBlock(blockFor(kind))
	switch kind {
	case kindZip:
		return zipDirectory(r)
	case kind7z:
		return sevenZipDirectory(r)
	case kindRAR:
		return rarDirectory(r)
	}
	return directory{}, fmt.Errorf("no directory reader for %q archives", kind)
}

func blockFor(kind archiveKind) int64 {
	switch kind {
	case kindZip:
		return zipBlock
	case kind7z:
		return szBlock
	}
	return rarBlock
}

// sniffArchive names the format by the archive's first bytes; "" if they
// are no format listed here (or could not be read: see r.err).
func sniffArchive(r *rangeReader) archiveKind {
	head := make([]byte, 8)
	n, _ := r.ReadAt(head, 0)
	switch head = head[:n]; {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return kindZip
	case bytes.HasPrefix(head, sevenZipSignature):
		return kind7z
	case bytes.HasPrefix(head, []byte("Rar!\x1a\x07")):
		return kindRAR
	}
	return ""
}

// zipDirectory lists a zip from its central directory, at its end.
func zipDirectory(r *rangeReader) (directory, error) {
	zr, err := zip.NewReader(r, r.size)
	if errors.Is(err, zip.ErrInsecurePath) && zr != nil {
		err = nil // "../x" names are still members (GODEBUG=zipinsecurepath=0)
	}
	if err != nil {
		if r.err != nil {
			return directory{}, fmt.Errorf("read zip directory: %w", r.err)
		}
		return directory{}, fmt.Errorf("read zip directory: %w", err)
	}
	var d directory
	for _, zf := range zr.File {
		if zf.FileInfo().IsDir() {
			continue
		}
		// A zero CRC on a non-empty member means none was stored (AES
		// entries, "AE-2"), not a checksum.
		d.add(Member{Name: zf.Name, CRC32: zf.CRC32, Size: int64(zf.UncompressedSize64)},
			zf.CRC32 != 0 || zf.UncompressedSize64 == 0)
		if d.stopped != nil {
			break
		}
	}
	return d, nil
}

// rangeReader is an io.ReaderAt over HTTP byte ranges, fetched in blocks
// and kept, so an archive reader's small reads cost few requests. A read
// that needs several missing blocks in a row fetches them in one request.
type rangeReader struct {
	ctx      context.Context
	f        *fetcher
	url      string
	size     int64
	block    int64 // bytes per block
	blocks   map[int64][]byte
	cached   int64 // bytes in blocks
	requests int
	received int64 // body bytes of the ranged responses
	err      error // why a read failed, beyond what an archive reader says
}

// setBlock changes the block size; blocks fetched so far are dropped.
func (r *rangeReader) setBlock(n int64) {
	if r.block != n {
		r.block = n
		clear(r.blocks)
		r.cached = 0
	}
}

func (r *rangeReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read at negative offset %d", off)
	}
	if off >= r.size {
		return 0, io.EOF
	}
	end := off + min(int64(len(p)), r.size-off) // exclusive
	n := 0
	for pos := off; pos < end; {
		i := pos / r.block
		b, ok := r.blocks[i]
		if !ok {
			last, j := (end-1)/r.block, i
			for j < last {
				if _, ok := r.blocks[j+1]; ok {
					break
				}
				j++
			}
			var err error
			if b, err = r.fetch(i, j); err != nil {
				r.err = err
				return n, err
			}
		}
		c := copy(p[n:], b[pos-i*r.block:])
		n += c
		pos += int64(c)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// fetch requests blocks i through j in one ranged request, keeps them and
// returns block i.
func (r *rangeReader) fetch(i, j int64) ([]byte, error) {
	if r.requests >= archiveMaxRequests {
		return nil, errRequestCap
	}
	r.requests++
	if r.f.limiter != nil {
		if err := r.f.limiter.Wait(r.ctx); err != nil {
			return nil, err
		}
	}
	start := i * r.block
	end := min((j+1)*r.block, r.size) - 1
	ctx, cancel := context.WithCancelCause(r.ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", r.f.opts.UserAgent)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", start, end))
	resp, err := r.f.client.Do(req)
	if err != nil {
		return nil, causeOf(ctx, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
	case http.StatusRequestedRangeNotSatisfiable:
		return nil, fmt.Errorf("bytes %d-%d refused (HTTP 416): the archive is shorter than its declared %d bytes", start, end, r.size)
	default:
		return nil, fmt.Errorf("%w (HTTP %d to a range request)", errNoRanges, resp.StatusCode)
	}
	if cr := resp.Header.Get("Content-Range"); cr != "" && !strings.HasPrefix(cr, fmt.Sprintf("bytes %d-%d/", start, end)) {
		return nil, fmt.Errorf("asked for bytes %d-%d, got Content-Range %q", start, end, cr)
	}
	// The same stall and drip bounds as any body.
	body := newBody(resp.Body, r.f.opts, false, cancel)
	defer body.stop()
	b, err := io.ReadAll(io.LimitReader(body, end-start+1))
	r.received += int64(len(b))
	if err != nil {
		return nil, fmt.Errorf("range %d-%d: %w", start, end, causeOf(ctx, err))
	}
	if int64(len(b)) != end-start+1 {
		return nil, fmt.Errorf("range %d-%d: got %d bytes", start, end, len(b))
	}
	if r.cached+int64(len(b)) > archiveMaxCache {
		// Directories are read front to back: old blocks are done with.
		clear(r.blocks)
		r.cached = 0
	}
	for k := i; k <= j; k++ {
		off := (k - i) * r.block
		r.blocks[k] = b[off:min(off+r.block, int64(len(b))):min(off+r.block, int64(len(b)))]
	}
	r.cached += int64(len(b))
	return r.blocks[i], nil
}
