// Package archive walks the archives and compressed streams that extortionists
// post (zip, tar, gzip, bzip2, xz, zstd, 7z, rar; nested, often
// password-protected) and hands every contained document to a callback, held
// in memory only: nothing is ever written to disk (DESIGN.md §3, archive
// policy).
//
// Everything in an input is hostile. Declared sizes are used only to refuse
// early; actual bytes are always read through io.LimitReader(max+1) so that an
// overrun is detected rather than trusted. Limits cover nesting depth, entry
// count, member size, total bytes, compression ratio and wall time, so a zip
// bomb yields an "archive limit exceeded: ..." result, never an OOM.
package archive

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits bounds one Walk. A zero field takes its default; no limit can be
// switched off, because every one of them guards memory or time.
type Limits struct {
	MaxDepth       int           // nesting (archive in archive); default 3
	MaxEntries     int           // members in total across the walk; default 100,000
	MaxMemberBytes int64         // one member's uncompressed size; default 256 MiB
	MaxTotalBytes  int64         // all uncompressed bytes of the walk; default 4 GiB
	MaxRatio       float64       // uncompressed/compressed per archive; default 200
	Timeout        time.Duration // whole walk; default 2m
}

// Defaults of Limits.
const (
	DefaultMaxDepth       = 3
	DefaultMaxEntries     = 100_000
	DefaultMaxMemberBytes = 256 << 20
	DefaultMaxTotalBytes  = 4 << 30
	DefaultMaxRatio       = 200
	DefaultTimeout        = 2 * time.Minute
)

// ratioGrace is the output an archive may produce before MaxRatio applies:
// small archives of very repetitive text legitimately exceed any ratio, and
// below this size they cannot hurt.
const ratioGrace = 1 << 20

// maxLabelSegment caps one path segment of a Member label (names in zip can
// be 64 KiB; labels end up in evidence records and notices).
const maxLabelSegment = 1024

func (l Limits) withDefaults() Limits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	if l.MaxMemberBytes <= 0 {
		l.MaxMemberBytes = DefaultMaxMemberBytes
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = DefaultMaxTotalBytes
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = DefaultMaxRatio
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	return l
}

// Member is one non-archive item found by Walk.
type Member struct {
	Path string // "outer.zip!/dir/inner.7z!/file.pdf" — each archive boundary is "!/"
	Size int64  // bytes in Data; when Err is set, the declared size (-1 if unknown)
	Data []byte // the member's bytes, held in memory (never written to disk); nil if Err
	Err  error  // per-member problem (corrupt, encrypted without a working password, over a limit)
}

// Stats counts what one Walk saw.
type Stats struct {
	Archives int   // archives and compressed streams opened (a .tar.gz counts once)
	Members  int   // members handed to fn without error
	Skipped  int   // directories, links, devices, FIFOs and other non-files
	Errors   int   // members handed to fn with Err set
	Bytes    int64 // uncompressed bytes produced, nested archives included (what MaxTotalBytes caps)
}

var (
	// ErrLimit is wrapped (via *LimitError) by every limit hit.
	ErrLimit = errors.New("archive limit exceeded")
	// ErrEncrypted marks an encrypted member or archive that no candidate
	// password opened (or whose encryption is not supported).
	ErrEncrypted = errors.New("encrypted archive: no password worked")
)

// LimitError tells which limit was exceeded and by how much. It wraps
// ErrLimit. Value is what was seen (at least Max+1 when read, or the declared
// size when refused early), Max is the limit.
type LimitError struct {
	Limit string // "MaxDepth", "MaxEntries", "MaxMemberBytes", "MaxTotalBytes", "MaxRatio", "Timeout"
	Value string
	Max   string
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%v: %s: %s > %s", ErrLimit, e.Limit, e.Value, e.Max)
}

func (e *LimitError) Unwrap() error { return ErrLimit }

// walkWide reports whether the limit ends the whole walk rather than one
// member or one archive.
func (e *LimitError) walkWide() bool {
	switch e.Limit {
	case "MaxEntries", "MaxTotalBytes", "Timeout":
		return true
	}
	return false
}

func limitErr(name string, value, max any) *LimitError {
	return &LimitError{Limit: name, Value: fmt.Sprint(value), Max: fmt.Sprint(max)}
}

// Walker walks archives. Its fields are only read, so one Walker may serve
// concurrent Walks.
type Walker struct {
	Limits    Limits
	Passwords []string // candidates tried for encrypted zip/7z/rar
}

// errStopArchive unwinds one archive (after a per-archive limit such as
// MaxRatio was reported) without ending the walk.
var errStopArchive = errors.New("archive stopped")

// walk is the state of one Walk call.
type walk struct {
	ctx       context.Context
	lim       Limits
	passwords []string
	fn        func(Member) error
	stats     Stats
	entries   int
	preferred string // the candidate password that last worked
}

// Walk calls fn for every non-archive member of data, recursing into nested
// archives up to Limits.MaxDepth. name is the outer item's name, the first
// segment of every Member.Path. A single compressed stream is one member
// named after name minus its extension (or "data"); if it decompresses to a
// tar, the tar is walked. Links, devices, FIFOs and directories are skipped
// and counted in Stats.Skipped. Per-member problems (corrupt, encrypted,
// MaxMemberBytes, MaxRatio, MaxDepth) reach fn as a Member with Err set;
// walk-wide limits (MaxEntries, MaxTotalBytes, Timeout), cancellation and an
// error from fn end the walk and are returned.
func (w *Walker) Walk(ctx context.Context, name string, data []byte, fn func(Member) error) (Stats, error) {
	lim := w.Limits.withDefaults()
	ctx, cancel := context.WithTimeoutCause(ctx, lim.Timeout, limitErr("Timeout", "elapsed", lim.Timeout))
	defer cancel()
	st := &walk{ctx: ctx, lim: lim, passwords: w.Passwords, fn: fn}
	label := cleanLabel(name)
	if label == "" {
		label = "data"
	}
	err := st.item(label, data, 0)
	if errors.Is(err, errStopArchive) {
		err = nil
	}
	return st.stats, err
}

// ctxErr returns the walk's context error, the Timeout LimitError when the
// walk's own deadline fired.
func (st *walk) ctxErr() error {
	if st.ctx.Err() == nil {
		return nil
	}
	return context.Cause(st.ctx)
}

// item handles one item: an archive is opened (depth permitting), anything
// else is emitted.
func (st *walk) item(label string, data []byte, depth int) error {
	if err := st.ctxErr(); err != nil {
		return err
	}
	f := sniff(data)
	var zr *zip.Reader
	if f == formatZip && depth < st.lim.MaxDepth {
		var err error
		if zr, err = st.openZip(data); err != nil {
			if fatal(err) {
				return err
			}
			return st.emit(Member{Path: label, Size: int64(len(data)), Err: err})
		}
		if isDocumentDir(zr) {
			f = formatNone
		}
	}
	if f == formatNone {
		return st.emit(Member{Path: label, Size: int64(len(data)), Data: data})
	}
	if depth >= st.lim.MaxDepth {
		return st.emit(Member{Path: label, Size: int64(len(data)), Err: limitErr("MaxDepth", depth+1, st.lim.MaxDepth)})
	}
	st.stats.Archives++
	a := &arc{st: st, label: label, compressed: int64(len(data)), depth: depth + 1}
	var err error
	switch f {
	case formatZip:
		err = st.zip(a, zr, data)
	case formatTar:
		err = st.tar(a, st.input(data), false)
	case formatGzip, formatBzip2, formatXz, formatZstd:
		err = st.stream(a, f, data)
	case format7z:
		err = st.sevenZip(a, data)
	case formatRar:
		err = st.rar(a, data)
	}
	return st.archiveDone(a, err)
}

// archiveDone turns the error that ended one archive into the walk's
// outcome: walk-wide problems propagate, anything else is reported as a
// Member error on the archive and the walk goes on.
func (st *walk) archiveDone(a *arc, err error) error {
	if err == nil || errors.Is(err, errStopArchive) {
		return nil
	}
	if fatal(err) {
		return err
	}
	return st.emit(Member{Path: a.label, Size: a.compressed, Err: err})
}

// fatal reports whether err must end the walk: walk-wide limits,
// cancellation, and errors returned by fn (wrapped in fnError).
func fatal(err error) bool {
	var le *LimitError
	if errors.As(err, &le) {
		return le.walkWide()
	}
	var fe *fnError
	if errors.As(err, &fe) {
		return true
	}
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// fnError carries an error returned by fn through the format readers, so it
// is never mistaken for a per-member problem.
type fnError struct{ err error }

func (e *fnError) Error() string { return e.err.Error() }
func (e *fnError) Unwrap() error { return e.err }

// emit hands one member to fn and counts it.
func (st *walk) emit(m Member) error {
	if m.Err != nil {
		m.Data = nil
		st.stats.Errors++
	} else {
		if m.Data == nil {
			m.Data = []byte{}
		}
		st.stats.Members++
	}
	if err := st.fn(m); err != nil {
		return &fnError{err}
	}
	return nil
}

// entry counts one archive entry (file, directory or link) against
// MaxEntries and checks the deadline.
func (st *walk) entry() error {
	if err := st.ctxErr(); err != nil {
		return err
	}
	st.entries++
	if st.entries > st.lim.MaxEntries {
		return limitErr("MaxEntries", st.entries, st.lim.MaxEntries)
	}
	return nil
}

// skip counts an entry that is not a regular file.
func (st *walk) skip() { st.stats.Skipped++ }

// arc is the accounting of one open archive.
type arc struct {
	st         *walk
	label      string
	compressed int64 // bytes of the archive itself, the ratio's denominator
	produced   int64 // uncompressed bytes read out of it
	depth      int   // nesting level of this archive (outermost is 1)
}

// child is the label of a member of a.
func (a *arc) child(name string) string {
	return a.label + "!/" + cleanLabel(name)
}

// ratioLeft is how many more bytes a may produce before MaxRatio trips.
func (a *arc) ratioLeft() int64 {
	allowed := a.st.lim.MaxRatio * float64(a.compressed)
	if allowed < ratioGrace {
		allowed = ratioGrace
	}
	if allowed > float64(1<<62) {
		return 1 << 62
	}
	return int64(allowed) - a.produced
}

// account adds n produced bytes and reports the first limit passed.
func (a *arc) account(n int64) error {
	a.produced += n
	a.st.stats.Bytes += n
	if a.st.stats.Bytes > a.st.lim.MaxTotalBytes {
		return limitErr("MaxTotalBytes", a.st.stats.Bytes, a.st.lim.MaxTotalBytes)
	}
	if a.ratioLeft() < 0 {
		return limitErr("MaxRatio", fmt.Sprintf("%d/%d", a.produced, a.compressed), a.st.lim.MaxRatio)
	}
	return nil
}

// meter wraps a decompressor's output: it counts produced bytes against the
// archive's ratio and the walk's total, and checks the deadline.
type meter struct {
	a   *arc
	r   io.Reader
	err error
}

func (m *meter) Read(p []byte) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	if err := m.a.st.ctxErr(); err != nil {
		m.err = err
		return 0, err
	}
	n, err := m.r.Read(p)
	if lerr := m.a.account(int64(n)); lerr != nil {
		m.err = lerr
		return n, lerr
	}
	return n, err
}

func (a *arc) meter(r io.Reader) io.Reader { return &meter{a: a, r: r} }

// checkDeclared refuses a member early from its declared size (untrusted,
// but honest bombs announce themselves). size < 0 means unknown.
func (a *arc) checkDeclared(size int64) error {
	if size < 0 {
		return nil
	}
	if size > a.st.lim.MaxMemberBytes {
		return limitErr("MaxMemberBytes", size, a.st.lim.MaxMemberBytes)
	}
	if size > a.ratioLeft() {
		return limitErr("MaxRatio", fmt.Sprintf("%d/%d", a.produced+size, a.compressed), a.st.lim.MaxRatio)
	}
	return nil
}

// readMember reads one member's bytes from r (already metered) through
// io.LimitReader(MaxMemberBytes+1). The buffer never grows past what the
// limits still allow (+1 byte to detect the overrun), so a bomb costs at
// most that much memory. sizeHint (untrusted; -1 if unknown) only sizes the
// first buffer.
func (a *arc) readMember(r io.Reader, sizeHint int64) ([]byte, error) {
	limit := a.st.lim.MaxMemberBytes
	// The meter trips ratio/total a little later than this reader sees
	// bytes (decoders and bufio read ahead), hence the slack.
	const slack = 1 << 20
	bound := min(limit, a.ratioLeft()+slack, a.st.lim.MaxTotalBytes-a.st.stats.Bytes+slack) + 1
	if bound < 1 {
		bound = 1
	}
	initial := int64(64 << 10)
	if sizeHint >= 0 {
		// Trust a declared size only up to a few MiB for the first buffer:
		// a lying header must not make us allocate.
		initial = min(sizeHint+1, 4<<20)
	}
	buf := make([]byte, 0, min(initial, bound))
	lr := io.LimitReader(r, limit+1)
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) >= bound {
				// Full at the bound: one more read to see whether the
				// member really goes on (the meter reports ratio/total).
				var probe [1]byte
				n, err := lr.Read(probe[:])
				switch {
				case err != nil && err != io.EOF:
					return nil, err
				case n > 0:
					if oerr := a.overrun(); oerr != nil {
						return nil, oerr
					}
					// Read-ahead beyond the slack: no limit is passed yet,
					// so let the buffer grow up to the member limit.
					buf = append(buf, probe[0])
					bound = limit + 1
				case err == io.EOF:
					return buf, nil
				}
				continue
			}
			grown := make([]byte, len(buf), min(max(2*int64(cap(buf)), 64<<10), bound))
			copy(grown, buf)
			buf = grown
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, limitErr("MaxMemberBytes", fmt.Sprintf("more than %d", limit), limit)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// overrun reports a walk or archive limit already passed, nil if none.
func (a *arc) overrun() error {
	return a.account(0)
}

// member handles one regular file of archive a: its bytes were read
// (data, err). Archives recurse, documents are emitted, errors are reported
// per member unless they are walk-wide, and a MaxRatio hit stops a.
func (a *arc) member(name string, size int64, data []byte, err error) error {
	label := a.child(name)
	if err != nil {
		if fatal(err) {
			return err
		}
		if eerr := a.st.emit(Member{Path: label, Size: size, Err: err}); eerr != nil {
			return eerr
		}
		var le *LimitError
		if errors.As(err, &le) && le.Limit == "MaxRatio" {
			return errStopArchive
		}
		return nil
	}
	return a.st.item(label, data, a.depth)
}

// input wraps an archive's own bytes so that library code decoding from it
// (also while skipping members internally) notices the deadline.
func (st *walk) input(data []byte) *ctxReader {
	return &ctxReader{st: st, r: bytes.NewReader(data)}
}

// ctxReader is a bytes.Reader that fails once the walk's context is done.
type ctxReader struct {
	st *walk
	r  *bytes.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.st.ctxErr(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

func (c *ctxReader) ReadAt(p []byte, off int64) (int, error) {
	if err := c.st.ctxErr(); err != nil {
		return 0, err
	}
	return c.r.ReadAt(p, off)
}

// cleanLabel makes an archive entry name safe as a label: forward slashes,
// no drive letter, no "..", not absolute, no control characters, valid
// UTF-8, and no "!/" that could be mistaken for an archive boundary.
func cleanLabel(name string) string {
	name = strings.ToValidUTF8(name, "\uFFFD")
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '_'
		}
		return r
	}, name)
	name = strings.ReplaceAll(name, `\`, "/")
	if len(name) >= 2 && name[1] == ':' && ((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z')) {
		name = name[2:]
	}
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	if name == "" {
		return "_"
	}
	segs := strings.Split(name, "/")
	for i, s := range segs {
		if len(s) > maxLabelSegment {
			s = s[:maxLabelSegment]
			for !utf8.ValidString(s) {
				s = s[:len(s)-1]
			}
			segs[i] = s
		}
	}
	name = strings.Join(segs, "/")
	return strings.ReplaceAll(name, "!/", "%21/")
}
