// Package extract turns untrusted document bytes (what extortionists post)
// into plain text, tabular records, decoded images and embedded parts, so the
// fingerprint layers can hash them. Nothing here stores or logs content: the
// caller hashes the Result and drops it.
//
// Every input is hostile until proven otherwise. The type is sniffed from the
// bytes (never the file name), every parser runs under recover() and a
// per-document timeout, and sizes are checked before anything is allocated
// from a number the file declares.
package extract

import (
	"context"
	"errors"
	"fmt"
	"image"
	"os/exec"
	"runtime"
	"strings"
	"time"
	"unicode/utf8"
)

// Type is a content type sniffed from the bytes, never from a file name.
type Type string

// Types returned by Sniff and SniffAll.
const (
	TypePDF     Type = "pdf"
	TypeDOCX    Type = "docx"
	TypeXLSX    Type = "xlsx"
	TypePPTX    Type = "pptx"
	TypeODT     Type = "odt"
	TypeODS     Type = "ods"
	TypeODP     Type = "odp"
	TypeRTF     Type = "rtf"
	TypeHTML    Type = "html"
	TypeXML     Type = "xml"
	TypeText    Type = "text"
	TypeCSV     Type = "csv"
	TypeJSON    Type = "json"
	TypeSQL     Type = "sql"
	TypeEML     Type = "eml"
	TypeJPEG    Type = "jpeg"
	TypePNG     Type = "png"
	TypeGIF     Type = "gif"
	TypeWEBP    Type = "webp"
	TypeTIFF    Type = "tiff"
	TypeBMP     Type = "bmp"
	TypeZIP     Type = "zip"
	TypeTar     Type = "tar"
	TypeGzip    Type = "gzip"
	TypeBzip2   Type = "bzip2"
	TypeXZ      Type = "xz"
	TypeZstd    Type = "zstd"
	Type7z      Type = "7z"
	TypeRAR     Type = "rar"
	TypeOLE     Type = "ole" // legacy MS Office (CFB): .doc and .xls text read, others not
	TypeUnknown Type = "unknown"
)

// IsArchive reports whether t is a container the archive walker handles.
func (t Type) IsArchive() bool {
	switch t {
	case TypeZIP, TypeTar, TypeGzip, TypeBzip2, TypeXZ, TypeZstd, Type7z, TypeRAR:
		return true
	}
	return false
}

// IsImage reports whether t is a raster image format decoded by Extract.
func (t Type) IsImage() bool {
	switch t {
	case TypeJPEG, TypePNG, TypeGIF, TypeWEBP, TypeTIFF, TypeBMP:
		return true
	}
	return false
}

// Default limits applied by Extract for zero (or negative) Limits fields.
const (
	DefaultMaxBytes       int64         = 256 << 20
	DefaultMaxText        int           = 8 << 20
	DefaultMaxPages       int           = 2000
	DefaultMaxImages      int           = 64
	DefaultMaxImagePixels int64         = 50_000_000
	DefaultMaxRows        int           = 1_000_000
	DefaultTimeout        time.Duration = 30 * time.Second
)

// Limits bound the work and memory spent on one document. Zero or negative
// fields take the Default* values.
//
// Two budgets are derived rather than configured, so the struct stays small:
// decoded image pixels in total are capped at 2×MaxImagePixels (one Result
// holds every image at once), and records at 32 bytes × MaxText of cell text
// plus per-cell overhead (a tiny XLSX can declare millions of cells).
type Limits struct {
	MaxBytes       int64         // input cap
	MaxText        int           // runes of text kept
	MaxPages       int           // PDF pages read
	MaxImages      int           // images decoded (embedded or the file itself)
	MaxImagePixels int64         // per image, checked from the header before decoding
	MaxRows        int           // records kept
	Timeout        time.Duration // per document
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxText <= 0 {
		l.MaxText = DefaultMaxText
	}
	if l.MaxPages <= 0 {
		l.MaxPages = DefaultMaxPages
	}
	if l.MaxImages <= 0 {
		l.MaxImages = DefaultMaxImages
	}
	if l.MaxImagePixels <= 0 {
		l.MaxImagePixels = DefaultMaxImagePixels
	}
	if l.MaxRows <= 0 {
		l.MaxRows = DefaultMaxRows
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	return l
}

// Record is one row of tabular data. Columns are the header names when known
// (nil otherwise); several records may share one Columns slice, so treat it
// as read-only.
type Record struct {
	Columns []string
	Values  []string
}

// Part is an attachment or embedded file for the caller to extract in turn.
type Part struct {
	Name string
	Data []byte
}

// Result is what one document yielded.
type Result struct {
	Type     Type
	Text     string        // extracted plain text, not normalised; "" if none
	Images   []image.Image // the file itself if it is an image, or embedded images
	Records  []Record      // rows of CSV/TSV/XLSX/JSON/SQL data
	Parts    []Part        // e-mail attachments to process recursively
	Warnings []string      // non-fatal problems; never contain document text
}

// Errors callers may test with errors.Is.
var (
	// ErrTooLarge: the input, or a member it declares, exceeds a limit.
	ErrTooLarge = errors.New("exceeds size limit")
	// ErrTimeout: the parser did not finish within Limits.Timeout.
	ErrTimeout = errors.New("extraction timed out")
	// ErrPanic: a parser panicked on the input; the panic was recovered.
	ErrPanic = errors.New("parser panicked")
	// ErrCorrupt: the input is not a well-formed instance of its type.
	ErrCorrupt = errors.New("corrupt or unsupported input")
)

// Extractor extracts documents. Its fields are only read, so one Extractor
// may serve concurrent calls. The zero value applies the default limits and
// runs no external program.
type Extractor struct {
	Limits Limits
	// PDFToText is the path of poppler's pdftotext, run as a separate
	// process when the PDF library fails on a PDF or finds no text in it;
	// "" never runs it. ResolvePDFToText turns a setting such as "auto"
	// into a path, once, so the extractor itself never searches $PATH.
	PDFToText string
	// OCR reads the text of images that look like document pages (a scan,
	// a phone photo of a letter, an image-only PDF page) when the document
	// has no text of its own; nil reads none. The time it takes counts
	// against Limits.Timeout, of which OCR may use at most ocrShare.
	OCR OCR
}

// OCR recognises the text of a page image. It returns an error wrapping
// ocr.ErrNotDocument for an image that does not look like a page, which is
// skipped silently. *ocr.Engine implements it.
type OCR interface {
	Recognize(ctx context.Context, img image.Image) (string, error)
}

// Settings understood by ResolvePDFToText.
const (
	PDFToTextAuto = "auto" // pdftotext from $PATH when installed, else none
	PDFToTextOff  = "off"  // never run pdftotext
)

// ResolvePDFToText turns a pdftotext setting into a value for
// Extractor.PDFToText. PDFToTextAuto looks pdftotext up on $PATH and gives ""
// (the library alone) when it is not installed; PDFToTextOff and "" give "";
// anything else names the program, a path (or a bare name looked up on
// $PATH, as exec.LookPath does) that must be an executable file.
func ResolvePDFToText(setting string) (string, error) {
	switch setting {
	case "", PDFToTextOff:
		return "", nil
	case PDFToTextAuto:
		path, err := exec.LookPath("pdftotext")
		if err != nil {
			return "", nil // optional: PDFs are then read by the library alone
		}
		return path, nil
	}
	path, err := exec.LookPath(setting)
	if err != nil {
		return "", fmt.Errorf("pdftotext: %w", err)
	}
	return path, nil
}

// Extract is Extractor{Limits: lim}.Extract: it never runs external
// programs.
func Extract(ctx context.Context, data []byte, lim Limits) (Result, error) {
	return (&Extractor{Limits: lim}).Extract(ctx, data)
}

// Extract sniffs data and extracts what it can. Archive types return
// Result{Type: t} with no error: the archive walker owns them. Unsupported
// types return a warning and no error, since the raw-bytes hash still works.
//
// The parser runs in its own goroutine under recover() and Limits.Timeout. On
// timeout Extract returns ErrTimeout at once; the parser goroutine sees its
// context cancelled and stops at its next check (for the PDF library, at its
// next read). Code that never checks is abandoned; all loops here are bounded
// by input size, so an abandoned goroutine still finishes.
func (x *Extractor) Extract(ctx context.Context, data []byte) (Result, error) {
	lim := x.Limits.withDefaults()
	pdftotext := x.PDFToText // copied: an abandoned parser must not read x later
	reader := x.OCR
	head := data[:min(len(data), sniffLen)]
	if int64(len(data)) > lim.MaxBytes {
		t := Sniff(head)
		return Result{Type: t}, fmt.Errorf("extract %s: input of %d bytes over MaxBytes %d: %w", t, len(data), lim.MaxBytes, ErrTooLarge)
	}
	if err := ctx.Err(); err != nil {
		return Result{Type: Sniff(head)}, fmt.Errorf("extract: %w", err)
	}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, lim.Timeout)
	defer cancel()

	type outcome struct {
		res Result
		err error
	}
	done := make(chan outcome, 1) // buffered: an abandoned parser must not block forever
	go func() {
		var out outcome
		defer func() {
			if r := recover(); r != nil {
				out.err = fmt.Errorf("extract %s: %w: %s", out.res.Type, ErrPanic, panicSummary(r))
			}
			done <- out
		}()
		out.res.Type = SniffAll(data)
		out.res, out.err = extractTyped(ctx, out.res.Type, data, lim, pdftotext, reader)
	}()
	// stopped explains a done context: the caller's own cancellation or
	// deadline, else our per-document timeout.
	stopped := func(t Type) error {
		if err := parent.Err(); err != nil {
			return fmt.Errorf("extract %s: %w", t, err)
		}
		return fmt.Errorf("extract %s: %w after %s", t, ErrTimeout, lim.Timeout)
	}
	select {
	case out := <-done:
		if out.err != nil && ctx.Err() != nil && errors.Is(out.err, ctx.Err()) {
			return out.res, stopped(out.res.Type)
		}
		return out.res, out.err
	case <-ctx.Done():
		return Result{Type: Sniff(head)}, stopped(Sniff(head))
	}
}

// extractTyped dispatches to the parser for t. It runs on the parser
// goroutine; ctx carries the deadline. pdftotext is Extractor.PDFToText and
// reader Extractor.OCR.
func extractTyped(ctx context.Context, t Type, data []byte, lim Limits, pdftotext string, reader OCR) (Result, error) {
	d := newDoc(ctx, t, lim)
	var err error
	switch {
	case t.IsArchive():
		return Result{Type: t}, nil
	case t.IsImage():
		err = d.addImage(data)
		if err != nil {
			err = fmt.Errorf("decode: %w", err)
		}
	default:
		switch t {
		case TypePDF:
			err = extractPDF(d, data, pdftotext)
		case TypeDOCX, TypePPTX:
			err = extractOOXMLText(d, data)
		case TypeXLSX:
			err = extractXLSX(d, data)
		case TypeODT, TypeODS, TypeODP:
			err = extractODF(d, data)
		case TypeRTF:
			err = extractRTF(d, data)
		case TypeHTML:
			err = extractHTML(d, data, "")
		case TypeXML:
			err = extractXML(d, data)
		case TypeText:
			err = extractText(d, data)
		case TypeCSV:
			err = extractCSV(d, data)
		case TypeJSON:
			err = extractJSON(d, data)
		case TypeSQL:
			err = extractSQL(d, data)
		case TypeEML:
			err = extractEML(d, data)
		case TypeOLE:
			err = extractOLE(d, data)
		default:
			d.warnf("%s: no text extractor for this type", t)
		}
	}
	if err == nil && reader != nil && (t.IsImage() || t == TypePDF) && strings.TrimSpace(d.text.String()) == "" {
		ocrImages(d, reader)
	}
	res := d.result()
	if err != nil {
		return res, fmt.Errorf("extract %s: %w", t, err)
	}
	return res, nil
}

// panicSummary describes a recovered panic without quoting document bytes at
// length: library panic messages sometimes embed a token from the input.
func panicSummary(r any) string {
	var msg string
	switch v := r.(type) {
	case runtime.Error:
		msg = "runtime error: " + v.Error()
	case error:
		msg = v.Error()
	default:
		msg = fmt.Sprint(v)
	}
	return clip(msg, 120)
}

// clip shortens s to about n bytes of printable text for error messages.
func clip(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= n {
			b.WriteString("…")
			break
		}
		if r < 0x20 || r == utf8.RuneError {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// doc accumulates one document's Result under its limits. It is owned by the
// parser goroutine and never shared.
type doc struct {
	ctx context.Context
	lim Limits
	t   Type

	text      strings.Builder
	runes     int
	truncated bool
	lastNL    bool // last byte written was '\n' (or nothing written yet)

	images      []image.Image
	pixels      int64
	imagesFull  bool
	records     []Record
	recBytes    int64
	recordsFull bool
	parts       []Part
	partBytes   int64
	warnings    []string
}

func newDoc(ctx context.Context, t Type, lim Limits) *doc {
	return &doc{ctx: ctx, lim: lim, t: t, lastNL: true}
}

func (d *doc) result() Result {
	text := d.text.String()
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	return Result{
		Type:     d.t,
		Text:     text,
		Images:   d.images,
		Records:  d.records,
		Parts:    d.parts,
		Warnings: d.warnings,
	}
}

// maxWarnings keeps a hostile file from filling memory with warnings.
const maxWarnings = 100

// warnf records a non-fatal problem. Callers must not pass document text.
func (d *doc) warnf(format string, args ...any) {
	switch {
	case len(d.warnings) < maxWarnings:
		d.warnings = append(d.warnings, clip(fmt.Sprintf(format, args...), 200))
	case len(d.warnings) == maxWarnings:
		d.warnings = append(d.warnings, "further warnings suppressed")
	}
}

// err reports the context's error; parsers call it in their loops.
func (d *doc) err() error { return d.ctx.Err() }

// full reports whether the text budget is used up.
func (d *doc) full() bool { return d.truncated }

// write appends s to the text, stopping at MaxText runes.
func (d *doc) write(s string) {
	if d.truncated || s == "" {
		return
	}
	n := utf8.RuneCountInString(s)
	if d.runes+n > d.lim.MaxText {
		keep := d.lim.MaxText - d.runes
		i := 0
		for k := 0; k < keep && i < len(s); k++ {
			_, size := utf8.DecodeRuneInString(s[i:])
			i += size
		}
		s = s[:i]
		n = keep
		d.truncated = true
		d.warnf("text truncated at MaxText (%d runes)", d.lim.MaxText)
	}
	if s == "" {
		return
	}
	d.text.WriteString(s)
	d.runes += n
	d.lastNL = s[len(s)-1] == '\n'
}

// newline ends the current line unless it is already ended, so block
// boundaries never pile up blank lines.
func (d *doc) newline() {
	if !d.lastNL {
		d.write("\n")
	}
}

// space separates words unless the text already ends in white space.
func (d *doc) space() {
	if d.text.Len() == 0 || d.lastNL {
		return
	}
	s := d.text.String()
	if c := s[len(s)-1]; c == ' ' || c == '\t' {
		return
	}
	d.write(" ")
}

// recordBudget is the cap on record memory: cell text plus a fixed overhead
// per cell and per row (string and slice headers).
func (d *doc) recordBudget() int64 { return 32 * int64(d.lim.MaxText) }

// addRecord keeps a record unless a limit is reached; it reports whether the
// caller should go on producing records.
func (d *doc) addRecord(cols, vals []string) bool {
	if d.recordsFull {
		return false
	}
	if len(d.records) >= d.lim.MaxRows {
		d.recordsFull = true
		d.warnf("records truncated at MaxRows (%d)", d.lim.MaxRows)
		return false
	}
	cost := int64(48)
	for _, v := range vals {
		cost += 16 + int64(len(v))
	}
	if d.recBytes+cost > d.recordBudget() {
		d.recordsFull = true
		d.warnf("records truncated at memory budget (%d bytes)", d.recordBudget())
		return false
	}
	d.recBytes += cost
	d.records = append(d.records, Record{Columns: cols, Values: vals})
	return true
}

// addPart keeps an attachment for the caller, within MaxBytes in total.
func (d *doc) addPart(name string, data []byte) bool {
	if d.partBytes+int64(len(data)) > d.lim.MaxBytes {
		d.warnf("attachment dropped: parts exceed MaxBytes (%d)", d.lim.MaxBytes)
		return false
	}
	if len(d.parts) >= maxParts {
		d.warnf("attachment dropped: more than %d parts", maxParts)
		return false
	}
	d.partBytes += int64(len(data))
	d.parts = append(d.parts, Part{Name: name, Data: data})
	return true
}

// maxParts caps attachments per message.
const maxParts = 1000
