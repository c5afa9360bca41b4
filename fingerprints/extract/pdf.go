package extract

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/ascii85"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ledongthuc/pdf"
)

// PDF text comes from github.com/ledongthuc/pdf, used as an object-graph
// reader only. That library trusts numbers in the file (it allocates
// xref tables from /Size and subsection starts, PNG predictor rows from
// /Columns), loops on reference cycles, recurses without bound on
// compressed-object chains, and a Go stack overflow or failed huge
// allocation is fatal, not a recoverable panic. So before and around it:
//
//   - pdfPrescan checks, on the raw bytes, every number the library
//     allocates from and inflates every Flate stream with a cap, sending
//     bombs and absurd tables to the pdftotext fallback instead;
//   - pdfGuard, the io.ReaderAt the library reads through, panics (inside
//     the library, caught here) once the context is done or the call stack
//     is too deep, so a timed-out or cycling parse actually stops;
//   - checkObjectStreams refuses compressed objects whose container is
//     itself compressed (unbounded recursion with no read in between);
//   - content streams, fonts and ToUnicode maps are decoded by this
//     package with its own caps (pdfcontent.go, pdffont.go): the library's
//     GetPlainText and CMap reader allocate from counts in the file.
//
// Encrypted PDFs go straight to pdftotext (Extractor.PDFToText; without it
// they yield no text): their streams cannot be checked before the library
// decrypts them.

var (
	errPDFEncrypted = errors.New("encrypted PDF")
	errPDFTooDeep   = errors.New("PDF object graph recursion too deep")
	errPDFLayout    = errors.New("unexpected ledongthuc/pdf internals")
)

// maxPDFFrames bounds the call stack depth seen by pdfGuard. The library's
// own object nesting limit (1000 levels, a few frames each) stays below it.
const maxPDFFrames = 8192

// pdfAbort is the panic value pdfGuard raises inside the library.
type pdfAbort struct{ err error }

// pdfGuard serves the document to the library and stops it when asked.
type pdfGuard struct {
	data    []byte
	ctx     context.Context
	pcs     []uintptr
	tripped error
}

func newPDFGuard(ctx context.Context, data []byte) *pdfGuard {
	return &pdfGuard{data: data, ctx: ctx, pcs: make([]uintptr, maxPDFFrames)}
}

// ReadAt implements io.ReaderAt. Every object the library resolves, and
// every stream it inflates, passes through here, so cycles and runaway
// recursion hit this check on each turn.
func (g *pdfGuard) ReadAt(p []byte, off int64) (int, error) {
	if g.tripped == nil {
		if err := g.ctx.Err(); err != nil {
			g.tripped = err
		} else if runtime.Callers(1, g.pcs) >= len(g.pcs) {
			g.tripped = errPDFTooDeep
		}
	}
	if g.tripped != nil {
		panic(pdfAbort{g.tripped}) // sticky: every later read panics too
	}
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= int64(len(g.data)) {
		return 0, io.EOF
	}
	n := copy(p, g.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// extractPDF gets images by a raw scan, text through the library, and falls
// back to the pdftotext program at pdftotextPath (unless "") when the library
// fails or finds no text.
func extractPDF(d *doc, data []byte, pdftotextPath string) error {
	pdfJPEGs(d, data, false)
	err := pdfReadText(d, data, pdftotextPath)
	if d.err() != nil || strings.TrimSpace(d.text.String()) != "" {
		return err
	}
	// No text: a scan, whose lossless page images are all it holds. A PDF
	// with text keeps its Flate images undecoded, as before: they are mostly
	// logos and letterheads that unrelated letters share.
	n := len(d.images)
	pdfJPEGs(d, data, true)
	if err != nil && len(d.images) > n {
		d.warnf("pdf: no text: %v", err)
		return nil
	}
	return err
}

// pdfReadText reads the text through the library, then pdftotext.
func pdfReadText(d *doc, data []byte, pdftotextPath string) error {
	lib := newDoc(d.ctx, d.t, d.lim)
	libErr := pdfLibText(lib, data)
	d.warnings = append(d.warnings, lib.warnings...)
	if errors.Is(libErr, context.DeadlineExceeded) || errors.Is(libErr, context.Canceled) {
		return libErr
	}
	if libErr == nil && strings.TrimSpace(lib.text.String()) != "" {
		d.write(lib.text.String())
		return nil
	}

	if pdftotextPath != "" {
		if libErr != nil {
			d.warnf("pdf: library: %v; using pdftotext", libErr)
		} else {
			d.warnf("pdf: library found no text; using pdftotext")
		}
		ferr := pdftotext(d, pdftotextPath, data)
		if ferr == nil {
			return nil
		}
		d.warnf("pdf: %v", ferr)
		if libErr == nil {
			libErr = ferr
		}
	}
	if libErr != nil {
		if len(d.images) > 0 {
			d.warnf("pdf: no text: %v", libErr)
			return nil
		}
		return libErr
	}
	return nil // a PDF without text (a scan) is not an error
}

// pdfLibText extracts text with ledongthuc/pdf under the guards above.
func pdfLibText(d *doc, data []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if a, ok := r.(pdfAbort); ok {
				err = a.err
				return
			}
			err = fmt.Errorf("%w: %s", ErrPanic, pdfPanicSummary(r))
		}
	}()
	if !bytes.HasPrefix(data, []byte("%PDF-")) {
		return fmt.Errorf("header not at offset 0: %w", ErrCorrupt)
	}
	if err := pdfPrescan(d, data); err != nil {
		return fmt.Errorf("prescan: %w", err)
	}
	g := newPDFGuard(d.ctx, data)
	r, err := pdf.NewReader(g, int64(len(data)))
	if g.tripped != nil {
		return g.tripped
	}
	if err != nil {
		return fmt.Errorf("open: %s: %w", libErrSummary(err), ErrCorrupt)
	}
	if !r.Trailer().Key("Encrypt").IsNull() {
		return errPDFEncrypted
	}
	if err := checkObjectStreams(d, r, data); err != nil {
		return err
	}
	pages := pdfPages(d, r.Trailer().Key("Root").Key("Pages"))
	if len(pages) == 0 {
		return fmt.Errorf("no pages: %w", ErrCorrupt)
	}
	x := newPDFText(d)
	for i, pg := range pages {
		if err := d.err(); err != nil {
			return err
		}
		if d.full() {
			break
		}
		text, perr := x.page(pg)
		if g.tripped != nil {
			return g.tripped
		}
		if perr != nil {
			d.warnf("pdf page %d: %v", i+1, perr)
		}
		d.write(text)
		d.newline()
	}
	return nil
}

// pdfPanicSummary describes a panic from the PDF library. Its parse
// panics quote the bytes around the fault, which may be document text, so
// only runtime errors (which never carry input) are described.
func pdfPanicSummary(r any) string {
	if e, ok := r.(runtime.Error); ok {
		return "runtime error: " + e.Error()
	}
	return "malformed PDF"
}

// libErrSummary keeps a library error's message up to its second colon:
// "malformed PDF: xref table not found" without the token the library
// appends, which may quote a string from the document.
func libErrSummary(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ": "); i >= 0 {
		if j := strings.Index(msg[i+2:], ": "); j >= 0 {
			msg = msg[:i+2+j]
		}
	}
	return clip(msg, 120)
}

type pdfPage struct {
	v   pdf.Value
	res pdf.Value // Resources, inherited from the page tree
}

// pdfPages walks the page tree iteratively with a depth cap and a budget of
// visited nodes, so cycles in Kids end quickly (as duplicate pages at worst).
func pdfPages(d *doc, root pdf.Value) []pdfPage {
	type item struct {
		v, res pdf.Value
		depth  int
	}
	var pages []pdfPage
	stack := []item{{v: root}}
	budget := 4*d.lim.MaxPages + 1024
	for len(stack) > 0 {
		if d.err() != nil {
			break
		}
		if len(pages) >= d.lim.MaxPages {
			d.warnf("pdf: pages truncated at MaxPages (%d)", d.lim.MaxPages)
			break
		}
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if it.v.Kind() != pdf.Dict {
			continue
		}
		res := it.v.Key("Resources")
		if res.Kind() != pdf.Dict {
			res = it.res
		}
		kids := it.v.Key("Kids")
		if it.v.Key("Type").Name() == "Page" || kids.Kind() != pdf.Array {
			pages = append(pages, pdfPage{v: it.v, res: res})
			continue
		}
		if it.depth >= 64 {
			d.warnf("pdf: page tree deeper than 64 levels")
			continue
		}
		n := kids.Len()
		if n > budget {
			n = budget
			d.warnf("pdf: page tree larger than its budget")
		}
		budget -= n
		for i := n - 1; i >= 0; i-- {
			stack = append(stack, item{v: kids.Index(i), res: res, depth: it.depth + 1})
		}
		if budget <= 0 && len(stack) == 0 {
			break
		}
	}
	return pages
}

// pdfPrescan rejects files the library cannot read safely. maxObj bounds
// object numbers (the PDF limit is 8,388,607; a file cannot hold more
// objects than about one per byte).
func pdfPrescan(d *doc, data []byte) error {
	maxObj := int64(min(8_388_607, len(data)+4096))
	if err := pdfCheckNames(data, maxObj); err != nil {
		return err
	}
	if err := pdfCheckXrefTables(data, maxObj); err != nil {
		return err
	}
	return pdfCheckStreams(d, data)
}

// pdfCheckNames looks at every name token in the file, wherever it is (the
// library may parse objects at any offset the xref table names, even inside
// another stream), and checks the values of keys the library allocates from.
// A value it cannot read completely within a small window is refused.
func pdfCheckNames(data []byte, maxObj int64) error {
	budget := 4*len(data) + 1<<16 // bytes examined by pdfParseValue in total
	for i := 0; i < len(data); i++ {
		if data[i] != '/' {
			continue
		}
		name, next := pdfReadName(data, i+1)
		switch name {
		case "Size", "N", "Columns", "W", "Index", "DecodeParms":
		case "Extends":
			// Object-stream chains: the library follows them without a
			// cycle check, lexing each with end-of-data allowed.
			return fmt.Errorf("/Extends (object stream chain) not supported: %w", ErrCorrupt)
		default:
			i = next - 1
			continue
		}
		v := pdfParseValue(data, next)
		if budget -= v.scanned; budget < 0 {
			return fmt.Errorf("names too costly to check: %w", ErrCorrupt)
		}
		if v.nested {
			if name != "W" {
				return fmt.Errorf("/%s holds a nested array: %w", name, ErrCorrupt)
			}
			i = next - 1
			continue
		}
		if v.unknown {
			return fmt.Errorf("/%s value unreadable: %w", name, ErrCorrupt)
		}
		switch name {
		case "Size", "N":
			if v.ref && name == "N" || v.isInt && (v.n < 0 || v.n > maxObj) {
				return fmt.Errorf("/%s %s out of range: %w", name, v, ErrCorrupt)
			}
		case "Columns":
			if v.ref || v.isInt && (v.n < 0 || v.n > 1<<20) {
				return fmt.Errorf("/Columns %s out of range: %w", v, ErrCorrupt)
			}
		case "W":
			// Xref streams allocate the sum of their widths per row. Fonts'
			// /W width arrays share the name; nested ones are skipped above
			// and flat ones hold small numbers, so only absurd values are
			// refused.
			for _, x := range v.ints {
				if x < 0 || x > 1<<20 {
					return fmt.Errorf("/W entry %d out of range: %w", x, ErrCorrupt)
				}
			}
		case "Index":
			for k := 0; k+1 < len(v.ints); k += 2 {
				s, n := v.ints[k], v.ints[k+1]
				if s < 0 || n < 0 || s > maxObj || n > maxObj || s+n > maxObj {
					return fmt.Errorf("/Index %d %d out of range: %w", s, n, ErrCorrupt)
				}
			}
		case "DecodeParms":
			if v.ref || v.refInArray {
				return fmt.Errorf("indirect /DecodeParms: %w", ErrCorrupt)
			}
		}
		i = next - 1
	}
	return nil
}

// pdfReadName decodes a name starting after '/', with #xx escapes as the
// library reads them, and returns it with the offset after it.
func pdfReadName(data []byte, i int) (string, int) {
	var b []byte
	for i < len(data) && !pdfIsDelim(data[i]) && !pdfIsSpace(data[i]) && len(b) < 64 {
		c := data[i]
		if c == '#' && i+2 < len(data) {
			if v, ok := hexByte(data[i+1], data[i+2]); ok {
				b = append(b, v)
				i += 3
				continue
			}
		}
		b = append(b, c)
		i++
	}
	return string(b), i
}

func pdfIsSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == 0
}

func pdfIsDelim(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

// pdfValue is what pdfParseValue saw after a key.
type pdfValue struct {
	isInt      bool
	n          int64
	ref        bool    // "n g R"
	ints       []int64 // integers of an array
	refInArray bool
	unknown    bool // the value did not end within the window
	nested     bool // an array holding an array
	scanned    int  // bytes examined
}

func (v pdfValue) String() string {
	switch {
	case v.ref:
		return "(indirect)"
	case v.isInt:
		return strconv.FormatInt(v.n, 10)
	}
	return "(other)"
}

// pdfValueWindow is how far pdfParseValue reads past a key.
const pdfValueWindow = 64 << 10

// pdfParseValue reads an integer, a reference or an array (its integers
// and whether it holds a reference) at i, skipping white space and
// comments, within pdfValueWindow bytes.
func pdfParseValue(all []byte, i int) pdfValue {
	data := all[:min(len(all), i+pdfValueWindow)]
	windowed := len(data) < len(all)
	start := i
	var v pdfValue
	i = pdfSkipSpace(data, i)
	if i < len(data) && data[i] == '[' {
		i++
		closed := false
		for i < len(data) {
			i = pdfSkipSpace(data, i)
			if i >= len(data) {
				break
			}
			if data[i] == ']' {
				closed = true
				i++
				break
			}
			if data[i] == '[' {
				// A nested array: a font's /W widths, never a value the
				// library allocates from (it rejects non-integers there).
				v.nested = true
				v.scanned = i - start
				return v
			}
			if data[i] == 'R' && (i+1 == len(data) || pdfIsDelim(data[i+1]) || pdfIsSpace(data[i+1])) {
				v.refInArray = true
				i++
				continue
			}
			n, next, ok := pdfReadInt(data, i)
			if !ok {
				// A nested dict, name or real: step over one byte and go on,
				// so "[null 5 0 R]" is still seen.
				i++
				continue
			}
			v.ints = append(v.ints, n)
			i = next
		}
		v.unknown = !closed && windowed
		v.scanned = i - start
		return v
	}
	v.scanned = i - start
	if i >= len(data) {
		v.unknown = windowed
		return v
	}
	n, next, ok := pdfReadInt(data, i)
	if !ok {
		return v
	}
	v.isInt, v.n = true, n
	j := pdfSkipSpace(data, next)
	if _, next2, ok := pdfReadInt(data, j); ok {
		k := pdfSkipSpace(data, next2)
		if k < len(data) && data[k] == 'R' && (k+1 == len(data) || pdfIsDelim(data[k+1]) || pdfIsSpace(data[k+1])) {
			v.ref, v.isInt = true, false
		}
		v.scanned = k - start
		if k >= len(data) && windowed {
			v.unknown = true
		}
	} else {
		v.scanned = j - start
	}
	return v
}

func pdfSkipSpace(data []byte, i int) int {
	for i < len(data) {
		switch {
		case pdfIsSpace(data[i]):
			i++
		case data[i] == '%':
			for i < len(data) && data[i] != '\n' && data[i] != '\r' {
				i++
			}
		default:
			return i
		}
	}
	return i
}

// pdfReadInt reads an optionally signed integer the way the library's
// lexer would (a token that is all digits), saturating instead of
// overflowing.
func pdfReadInt(data []byte, i int) (int64, int, bool) {
	start := i
	neg := false
	if i < len(data) && (data[i] == '-' || data[i] == '+') {
		neg = data[i] == '-'
		i++
	}
	var n int64
	digits := 0
	for i < len(data) && data[i] >= '0' && data[i] <= '9' {
		if n < 1<<50 {
			n = n*10 + int64(data[i]-'0')
		}
		digits++
		i++
	}
	if digits == 0 || i < len(data) && !pdfIsDelim(data[i]) && !pdfIsSpace(data[i]) {
		return 0, start, false
	}
	if neg {
		n = -n
	}
	return n, i, true
}

// pdfCheckXrefTables checks every cross-reference subsection header
// ("start count") after each "xref" keyword: the library grows its table to
// start+count entries.
func pdfCheckXrefTables(data []byte, maxObj int64) error {
	// Bytes walked across all occurrences are budgeted: "xref" hidden in
	// comments or entries must not make the scan quadratic.
	budget := 4*len(data) + 1<<16
	for off := 0; ; {
		i := bytes.Index(data[off:], []byte("xref"))
		if i < 0 {
			return nil
		}
		i += off
		off = i + 4
		if i >= 5 && string(data[i-5:i]) == "start" {
			continue
		}
		j := off
		spend := func(to int) bool {
			budget -= to - j + 1
			j = to
			return budget >= 0
		}
		for sections := 0; sections < 1<<16; sections++ {
			start, next, ok := pdfReadInt(data, pdfSkipSpace(data, j))
			if !ok {
				break
			}
			n, next2, ok := pdfReadInt(data, pdfSkipSpace(data, next))
			if !ok {
				break
			}
			if start < 0 || n < 0 || start > maxObj || n > maxObj || start+n > maxObj {
				return fmt.Errorf("xref subsection %d %d out of range: %w", start, n, ErrCorrupt)
			}
			if !spend(next2) {
				return fmt.Errorf("xref tables too costly to check: %w", ErrCorrupt)
			}
			// Step over the entries: three tokens each.
			for e := int64(0); e < n; e++ {
				ok := true
				for t := 0; t < 3 && ok; t++ {
					k := pdfSkipSpace(data, j)
					tok := k
					for k < len(data) && !pdfIsSpace(data[k]) && !pdfIsDelim(data[k]) {
						k++
					}
					ok = k > tok
					if !spend(k) {
						return fmt.Errorf("xref tables too costly to check: %w", ErrCorrupt)
					}
				}
				if !ok {
					break
				}
			}
		}
	}
}

// pdfStreamStarts calls fn for every "stream" keyword (the library's stream
// offsets all follow one) with the end of the previous keyword, the
// keyword's offset and the data offset, until fn returns false. Callers
// look back no further than prev, which keeps every scan linear.
func pdfStreamStarts(data []byte, fn func(prev, kw, start int) bool) {
	prev := 0
	for off := 0; ; {
		i := bytes.Index(data[off:], []byte("stream"))
		if i < 0 {
			return
		}
		i += off
		off = i + 6
		if i >= 3 && string(data[i-3:i]) == "end" {
			continue
		}
		p := i + 6
		switch {
		case p < len(data) && data[p] == '\r':
			p++
			if p < len(data) && data[p] == '\n' {
				p++
			}
		case p < len(data) && data[p] == '\n':
			p++
		default:
			continue
		}
		if !fn(prev, i, p) {
			return
		}
		prev = p
	}
}

// pdfInflateCaps returns the per-stream and per-document caps on inflated
// bytes.
func (d *doc) pdfInflateCaps(n int) (perStream, total int64) {
	perStream = min(64<<20, max(1<<20, 4*d.lim.MaxBytes))
	total = min(4<<30, max(256<<20, 16*int64(n)), 64*d.lim.MaxBytes)
	return perStream, total
}

// pdfCheckStreams inflates every zlib stream (also through ASCII85 and a
// second Flate layer) into io.Discard, refusing decompression bombs before
// the library ever buffers one.
func pdfCheckStreams(d *doc, data []byte) error {
	perStream, totalCap := d.pdfInflateCaps(len(data))
	var total int64
	var err error
	// Compressed input read is budgeted too, so streams overlapping each
	// other cannot make the scan quadratic.
	input := &countingReaderBudget{left: 8*int64(len(data)) + 1<<20}
	pdfStreamStarts(data, func(prev, kw, start int) bool {
		if err = d.err(); err != nil {
			return false
		}
		var src io.Reader = input.wrap(bytes.NewReader(data[start:]))
		if !zlibHeader(data[start:]) {
			lookback := data[max(prev, kw-2048):kw]
			if !bytes.Contains(lookback, []byte("ASCII85")) && !bytes.Contains(lookback, []byte("/A85")) {
				return true
			}
			src = ascii85.NewDecoder(&ascii85Cut{r: src})
		}
		var n int64
		n, err = inflatedSize(d.ctx, src, perStream)
		if err == nil && input.left < 0 {
			err = fmt.Errorf("streams overlap: compressed input read past %d bytes: %w", 8*len(data), ErrTooLarge)
		}
		if err != nil {
			err = fmt.Errorf("stream at %d: %w", start, err)
			return false
		}
		total += n
		if total > totalCap {
			err = fmt.Errorf("streams inflate past %d bytes: %w", totalCap, ErrTooLarge)
			return false
		}
		return true
	})
	return err
}

// countingReaderBudget counts bytes read through any of the readers it
// wraps against one shared budget.
type countingReaderBudget struct{ left int64 }

func (c *countingReaderBudget) wrap(r io.Reader) io.Reader {
	return readerFunc(func(p []byte) (int, error) {
		if c.left < 0 {
			return 0, io.ErrUnexpectedEOF
		}
		n, err := r.Read(p)
		c.left -= int64(n)
		return n, err
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// inflatedSize counts what a zlib stream (and a nested one inside it)
// inflates to, up to limit. Damaged streams count what came out.
func inflatedSize(ctx context.Context, src io.Reader, limit int64) (int64, error) {
	buf := make([]byte, 2)
	head, _ := io.ReadFull(src, buf)
	if head < 2 || !zlibHeader(buf) {
		return 0, nil
	}
	zr, err := zlib.NewReader(io.MultiReader(bytes.NewReader(buf), src))
	if err != nil {
		return 0, nil
	}
	defer zr.Close()
	// Peek at the inflated head: a second Flate layer gets counted too.
	inner := make([]byte, 2)
	k, _ := io.ReadFull(zr, inner)
	out := io.MultiReader(bytes.NewReader(inner[:k]), zr)
	var n int64
	if k == 2 && zlibHeader(inner) {
		zr2, err := zlib.NewReader(out)
		if err == nil {
			defer zr2.Close()
			out = zr2
		}
	}
	n, _ = io.Copy(io.Discard, &ctxReader{ctx: ctx, r: io.LimitReader(out, limit+1)})
	if err := ctx.Err(); err != nil {
		return n, err
	}
	if n > limit {
		return n, fmt.Errorf("inflates past %d bytes: %w", limit, ErrTooLarge)
	}
	return n, nil
}

// zlibHeader reports whether b starts with a valid zlib header using
// deflate (the only kind the library reads).
func zlibHeader(b []byte) bool {
	return len(b) >= 2 && b[0]&0x0f == 8 && b[0]>>4 <= 7 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0
}

// ascii85Cut ends ASCII85 input at its "~>" marker and drops white space.
type ascii85Cut struct {
	r    io.Reader
	done bool
	tail byte
}

func (a *ascii85Cut) Read(p []byte) (int, error) {
	if a.done {
		return 0, io.EOF
	}
	n, err := a.r.Read(p)
	k := 0
	for _, c := range p[:n] {
		if a.tail == '~' && c == '>' {
			a.done = true
			if k > 0 && p[k-1] == '~' {
				k--
			}
			return k, nil
		}
		a.tail = c
		if pdfIsSpace(c) {
			continue
		}
		p[k] = c
		k++
	}
	return k, err
}

// ctxReader stops a long copy when the context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// maxObjStmInflate caps an object stream's inflated size: the library
// buffers the tokens of any object it reads from one.
const maxObjStmInflate = 16 << 20

// checkObjectStreams reads the library's xref table by reflection (it is
// unexported) and refuses (1) a compressed object whose container is itself
// compressed: resolve() would recurse into itself with no read in between,
// overflowing the stack; (2) object streams that inflate past
// maxObjStmInflate. If the library's layout changes, the reflection fails
// closed (pdftotext takes over) and TestPDFReflectionLayout fails.
func checkObjectStreams(d *doc, r *pdf.Reader, data []byte) error {
	rv := reflect.ValueOf(r).Elem()
	xr := rv.FieldByName("xref")
	if !xr.IsValid() || xr.Kind() != reflect.Slice {
		return errPDFLayout
	}
	et := xr.Type().Elem()
	fIn, ok1 := et.FieldByName("inStream")
	fStream, ok2 := et.FieldByName("stream")
	fOffset, ok3 := et.FieldByName("offset")
	if !ok1 || !ok2 || !ok3 || fIn.Type.Kind() != reflect.Bool || fOffset.Type.Kind() != reflect.Int64 {
		return errPDFLayout
	}
	fID, ok := fStream.Type.FieldByName("id")
	if !ok || fID.Type.Kind() != reflect.Uint32 {
		return errPDFLayout
	}
	n := xr.Len()
	checked := map[int]bool{}
	for i := 0; i < n; i++ {
		e := xr.Index(i)
		if !e.FieldByIndex(fIn.Index).Bool() {
			continue
		}
		c := int(e.FieldByIndex(fStream.Index).FieldByIndex(fID.Index).Uint())
		if c >= n || checked[c] {
			continue
		}
		checked[c] = true
		ce := xr.Index(c)
		if ce.FieldByIndex(fIn.Index).Bool() {
			return fmt.Errorf("object stream %d is itself compressed: %w", c, ErrCorrupt)
		}
		off := ce.FieldByIndex(fOffset.Index).Int()
		if off <= 0 || off >= int64(len(data)) {
			continue
		}
		if err := checkObjStm(d, data, int(off)); err != nil {
			return fmt.Errorf("object stream %d: %w", c, err)
		}
	}
	return nil
}

// checkObjStm vets the object stream at off before the library reads
// objects from it: a single FlateDecode filter without parameters (so the
// bytes inflated here are the bytes the library will lex), at most
// maxObjStmInflate bytes, and no hex string left open at its end. The
// library lexes object streams with end-of-data allowed, and its hex-string
// reader then spins forever on the '\n' it returns at EOF, reading nothing
// a guard could catch.
func checkObjStm(d *doc, data []byte, off int) error {
	window := data[off:min(len(data), off+64<<10)]
	kw, start := -1, -1
	pdfStreamStarts(window, func(_, k, s int) bool {
		kw, start = k, s
		return false
	})
	if start < 0 {
		return nil // no stream: the library fails on it cleanly
	}
	dict := window[:kw]
	if bytes.Contains(dict, []byte("/DecodeParms")) || !onlyFilter(dict, "FlateDecode", "Fl") {
		return fmt.Errorf("object stream needs a plain FlateDecode filter: %w", ErrCorrupt)
	}
	zr, err := zlib.NewReader(bytes.NewReader(data[off+start:]))
	if err != nil {
		return nil // the library fails on it cleanly
	}
	defer zr.Close()
	var buf bytes.Buffer
	_, err = io.Copy(&buf, &ctxReader{ctx: d.ctx, r: io.LimitReader(zr, maxObjStmInflate+1)})
	if cerr := d.err(); cerr != nil {
		return cerr
	}
	if buf.Len() > maxObjStmInflate {
		return fmt.Errorf("inflates past %d bytes: %w", maxObjStmInflate, ErrTooLarge)
	}
	if err != nil {
		return nil // a damaged stream ends in an error, not EOF: safe
	}
	if openHexAtEnd(buf.Bytes()) {
		return fmt.Errorf("unterminated hex string: %w", ErrCorrupt)
	}
	// The library reads /N header pairs for every lookup, spinning on at
	// end of data without reading: /N must fit the stream (each pair takes
	// at least four bytes).
	for i := 0; i < len(dict); i++ {
		if dict[i] != '/' {
			continue
		}
		if name, next := pdfReadName(dict, i+1); name == "N" {
			if v := pdfParseValue(dict, next); v.isInt && v.n > int64(buf.Len()/4+1) {
				return fmt.Errorf("/N %d does not fit %d bytes: %w", v.n, buf.Len(), ErrCorrupt)
			}
		}
	}
	return nil
}

// openHexAtEnd reports whether the library's hex-string reader, started
// at any '<' in b, would reach the end of b. It reads pairs of non-space
// bytes and stops only at '>' or at a pair that is not hex (a panic), so a
// string cut off by the end hangs it. Every '<' is tried, including those
// inside literal strings and "<<": a superset of where the lexer can be.
// Each walk ends at its first non-hex byte, so the scan is linear.
func openHexAtEnd(b []byte) bool {
	skip := func(i int) int {
		for i < len(b) && pdfIsSpace(b[i]) {
			i++
		}
		return i
	}
	for at := bytes.IndexByte(b, '<'); at >= 0; {
		i := at + 1
		for {
			if i = skip(i); i >= len(b) {
				return true
			}
			c := b[i]
			i++
			if c == '>' {
				break
			}
			if i = skip(i); i >= len(b) {
				return true
			}
			c2 := b[i]
			i++
			_, ok1 := hexVal(c)
			_, ok2 := hexVal(c2)
			if !ok1 || !ok2 {
				break
			}
		}
		next := bytes.IndexByte(b[at+1:], '<')
		if next < 0 {
			break
		}
		at += 1 + next
	}
	return false
}

// valuePtr returns the object number a library Value came from (its own for
// an indirect object, its container's for a direct one), read by
// reflection for use as a cache key.
func valuePtr(v pdf.Value) (uint32, uint16, bool) {
	rv := reflect.ValueOf(v)
	p := rv.FieldByName("ptr")
	if !p.IsValid() || p.Kind() != reflect.Struct {
		return 0, 0, false
	}
	id, gen := p.FieldByName("id"), p.FieldByName("gen")
	if !id.IsValid() || !gen.IsValid() || id.Kind() != reflect.Uint32 || gen.Kind() != reflect.Uint16 {
		return 0, 0, false
	}
	return uint32(id.Uint()), uint16(gen.Uint()), true
}

// pdfJPEGs finds DCTDecode image XObjects by a raw scan (the library cannot
// hand out a stream's raw bytes: its Reader panics on DCTDecode) and decodes
// them, and FlateDecode ones in 8-bit grey or RGB or 1-bit grey without a
// predictor (what scanners write for lossless pages; pdfFlateImage). Streams
// with a filter chain (Flate over DCT), CCITT, JBIG2 and JPX images and
// encrypted files (no JPEG marker at the start of the data) are skipped.
// flate chooses the pass: DCT images, or Flate ones.
func pdfJPEGs(d *doc, data []byte, flate bool) {
	k, tried := 0, 0
	nextEnd := -1 // first "endstream" at or after the current start
	pdfStreamStarts(data, func(prev, kw, start int) bool {
		if d.imagesFull || d.err() != nil || tried >= 4*d.lim.MaxImages {
			return false
		}
		dict := data[max(prev, kw-4096):kw]
		if o := bytes.LastIndex(dict, []byte("obj")); o >= 0 {
			dict = dict[o:]
		}
		if !bytes.Contains(dict, []byte("/Image")) {
			return true
		}
		if flate && !onlyFilter(dict, "FlateDecode", "Fl") || !flate && !onlyDCTFilter(dict) {
			return true
		}
		if !flate && !bytes.HasPrefix(data[start:], []byte("\xff\xd8")) {
			return true
		}
		tried++
		end := -1
		if i := bytes.Index(dict, []byte("/Length")); i >= 0 {
			v := pdfParseValue(dict, i+7)
			if v.isInt && v.n > 0 && int64(start)+v.n <= int64(len(data)) {
				end = start + int(v.n)
			}
		}
		if end < 0 {
			if nextEnd < start {
				e := bytes.Index(data[start:], []byte("endstream"))
				if e < 0 {
					nextEnd = len(data)
				} else {
					nextEnd = start + e
				}
			}
			end = nextEnd
		}
		if end-start > maxEmbeddedImageBytes {
			d.warnf("pdf image skipped: over %d bytes", maxEmbeddedImageBytes)
			return true
		}
		k++
		if flate {
			pdfFlateImage(d, "pdf image "+strconv.Itoa(k), dict, data[start:end])
			return true
		}
		d.addEmbeddedImage("pdf image "+strconv.Itoa(k), data[start:end])
		return true
	})
}

// onlyDCTFilter reports whether a stream dictionary's /Filter is exactly
// DCTDecode (alone or as a one-element array).
func onlyDCTFilter(dict []byte) bool { return onlyFilter(dict, "DCTDecode", "DCT") }

// onlyFilter reports whether a stream dictionary's /Filter is exactly the
// named filter (full or abbreviated name; alone or in a one-element array).
func onlyFilter(dict []byte, name, abbrev string) bool {
	i := bytes.Index(dict, []byte("/Filter"))
	if i < 0 {
		return false
	}
	j := pdfSkipSpace(dict, i+len("/Filter"))
	inArray := j < len(dict) && dict[j] == '['
	if inArray {
		j = pdfSkipSpace(dict, j+1)
	}
	if j >= len(dict) || dict[j] != '/' {
		return false
	}
	got, next := pdfReadName(dict, j+1)
	if got != name && got != abbrev {
		return false
	}
	if inArray {
		k := pdfSkipSpace(dict, next)
		return k < len(dict) && dict[k] == ']'
	}
	return true
}

// pdftotext runs poppler's pdftotext on data via stdin with the document's
// deadline and a cap on output. It is a separate process, so a crash or
// runaway allocation there cannot take this one down; its memory should be
// bounded by the deployment (cgroup).
func pdftotext(d *doc, path string, data []byte) error {
	cmd := exec.CommandContext(d.ctx, path, "-layout", "-enc", "UTF-8", "-q", "-", "-")
	cmd.Stdin = bytes.NewReader(data)
	out := &cappedBuffer{max: 4*d.lim.MaxText + 4}
	cmd.Stdout = out
	cmd.Stderr = &cappedBuffer{max: 0} // may echo document bytes: dropped
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	if cerr := d.err(); cerr != nil {
		return cerr
	}
	if err != nil {
		return fmt.Errorf("pdftotext: %w", err)
	}
	s := strings.ReplaceAll(out.buf.String(), "\f", "\n")
	if out.truncated {
		d.warnf("pdf: pdftotext output capped at %d bytes", out.max)
	}
	d.write(s)
	return nil
}

// cappedBuffer keeps the first max bytes written and discards the rest
// without failing the writer (a failing pipe would stall the child).
type cappedBuffer struct {
	buf       bytes.Buffer
	max       int
	truncated bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	room := c.max - c.buf.Len()
	if room < len(p) {
		c.truncated = true
		if room > 0 {
			c.buf.Write(p[:room])
		}
		return len(p), nil
	}
	c.buf.Write(p)
	return len(p), nil
}
