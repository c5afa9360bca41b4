package evidence

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/gzip"
)

// Reasons for WARC-Truncated, as defined by WARC/1.1.
const (
	TruncatedLength      = "length"      // payload cut at a size cap
	TruncatedTime        = "time"        // fetch stopped by a time budget
	TruncatedDisconnect  = "disconnect"  // the peer or network dropped the connection
	TruncatedUnspecified = "unspecified" // any other reason
)

// Defaults for [WriterOptions].
const (
	DefaultMaxFileSize = 1 << 30 // 1 GiB
	DefaultSpoolMemory = 1 << 20 // 1 MiB
)

// warcSuffix ends every WARC file's name (before EncryptedSuffix).
const warcSuffix = ".warc.gz"

// ErrClosed is returned by WriteExchange after Close.
var ErrClosed = errors.New("evidence: writer is closed")

// WriterOptions configures a [Writer]. The zero value is usable.
type WriterOptions struct {
	// RunID names the run directory and the WARC files. It must match
	// [A-Za-z0-9][A-Za-z0-9._-]{0,127}. Empty means a new id of the form
	// 20060102T150405Z-<8 hex digits>.
	RunID string

	// MaxFileSize is the size (compressed bytes) at which a new WARC file
	// is started. Zero means DefaultMaxFileSize.
	MaxFileSize int64

	// SpoolMemory is how many bytes of one exchange are spooled in memory
	// before spilling to a temporary file. Zero means DefaultSpoolMemory.
	SpoolMemory int64

	// CompressionLevel is the gzip level; zero means gzip.DefaultCompression.
	CompressionLevel int

	// Sync makes every WriteExchange fsync the WARC file before returning.
	// Close always syncs.
	Sync bool

	// Software is written to each warcinfo record; empty means "leakwatch".
	Software string

	// Info holds extra warcinfo fields (for example "operator").
	Info map[string]string

	// Recipients, when set, encrypt the evidence at rest: each WARC file
	// is encrypted to them (age) as it is closed — on rotation and by
	// Close — and the plain file removed. The file being written stays
	// plain until then (at most MaxFileAge); EncryptRun encrypts what a
	// crash left.
	Recipients []age.Recipient

	// MaxFileAge, with Recipients, bounds how long a WARC file stays
	// plain: a file open that long is closed (and encrypted) even while
	// the writer is idle, and the next exchange starts a new one. Zero
	// means DefaultMaxFileAge.
	MaxFileAge time.Duration
}

// DefaultMaxFileAge is how long a WARC file of an encrypting Writer stays
// plain at most.
const DefaultMaxFileAge = 10 * time.Minute

// Exchange is one HTTP fetch as the crawler performed it.
// TruncatedError, returned by an Exchange's Payload, ends the payload there
// and marks the record truncated for Reason (one of the Truncated*
// constants): a fetcher that stops reading at a size cap or a time budget
// learns so only as it streams.
type TruncatedError struct{ Reason string }

func (e *TruncatedError) Error() string { return "payload truncated (" + e.Reason + ")" }

type Exchange struct {
	// TargetURI is the absolute URI that was requested.
	TargetURI string

	// Method is the request method; empty means GET.
	Method string
	// RequestProto is the request's protocol; empty means "HTTP/1.1".
	RequestProto string
	// RequestHeader holds the request headers as sent. A Host header is
	// added from TargetURI when missing.
	RequestHeader http.Header
	// RequestBody is the request body as sent (small; e.g. a form).
	RequestBody []byte

	// ResponseProto is the response's protocol, e.g. "HTTP/1.1" or
	// "HTTP/2.0"; empty means "HTTP/1.1".
	ResponseProto string
	// StatusCode is the response status code (100-999).
	StatusCode int
	// Status is the status text, either "200 OK" as in http.Response.Status
	// or just "OK". Empty means http.StatusText(StatusCode).
	Status string
	// ResponseHeader holds the response headers as received.
	ResponseHeader http.Header
	// Payload streams the response body exactly as received (see the
	// package documentation). It is read to EOF and not closed. Nil means
	// an empty body. If reading fails with an error other than the
	// context's, the bytes received so far are stored and the record is
	// marked WARC-Truncated: disconnect (unless Truncated is already set).
	Payload io.Reader
	// Truncated is empty, or one of the Truncated* reasons when the
	// payload was cut short.
	Truncated string

	// FetchTime is when the response was received; it becomes WARC-Date.
	// Zero means now.
	FetchTime time.Time
	// RemoteIP is the peer address, when known (WARC-IP-Address).
	RemoteIP netip.Addr
	// Via names the proxy or onion route used, e.g.
	// "socks5h://127.0.0.1:9050" (written as Leakwatch-Via).
	Via string
	// TLSCertSHA256 is the SHA-256 of the peer's leaf certificate (DER),
	// when the fetch used TLS.
	TLSCertSHA256 []byte
}

// Record locates a stored exchange and carries its digests. It is what the
// crawler keeps (e.g. in its database or the run [Manifest]) to find and
// verify the capture later.
type Record struct {
	// File is the WARC file, relative to the evidence directory, with
	// forward slashes.
	File string `json:"warc_file"`
	// Offset and Length locate the gzip member that holds the response
	// record: Length is its compressed size in bytes.
	Offset int64 `json:"offset"`
	Length int64 `json:"length"`
	// RecordID is the response record's WARC-Record-ID, e.g.
	// "<urn:uuid:...>".
	RecordID string `json:"record_id"`

	// RequestOffset, RequestLength and RequestRecordID locate the request
	// record of the same exchange (in the same file).
	RequestOffset   int64  `json:"request_offset"`
	RequestLength   int64  `json:"request_length"`
	RequestRecordID string `json:"request_record_id"`

	// TargetURI and Date repeat WARC-Target-URI and WARC-Date.
	TargetURI string    `json:"target_uri"`
	Date      time.Time `json:"date"`

	// PayloadSHA256 is the hex SHA-256 of the HTTP payload (body).
	PayloadSHA256 string `json:"payload_sha256"`
	// PayloadLength is the payload size in bytes.
	PayloadLength int64 `json:"payload_length"`
	// BlockDigest is the response record's WARC-Block-Digest
	// ("sha256:<hex>", over HTTP headers and payload).
	BlockDigest string `json:"block_digest"`
	// Truncated repeats WARC-Truncated, if any.
	Truncated string `json:"truncated,omitempty"`

	// StatusCode is the response's HTTP status code, and Location where
	// its Location header leads (empty when it has none): the header's
	// value resolved against TargetURI, as a client follows it — the
	// record itself holds the value as received. For a redirect they are
	// what it says. Records written before they were kept have StatusCode
	// 0, and Verify then checks neither.
	StatusCode int    `json:"status_code,omitempty"`
	Location   string `json:"location,omitempty"`
}

// resolveLocation is where a Location header value leads from target,
// after the header's own normalisation on writing (one line, trimmed, as
// http.Header.Write does). A value that does not resolve is kept as it
// is.
func resolveLocation(target, loc string) string {
	loc = textproto.TrimString(oneLine(loc))
	if loc == "" {
		return ""
	}
	base, err := url.Parse(target)
	if err != nil {
		return loc
	}
	u, err := base.Parse(loc)
	if err != nil {
		return loc
	}
	return u.String()
}

// PayloadDigest returns the payload SHA-256 as bytes (nil if malformed).
func (r Record) PayloadDigest() []byte {
	b, err := hex.DecodeString(r.PayloadSHA256)
	if err != nil || len(b) != sha256.Size {
		return nil
	}
	return b
}

// Writer appends exchanges to the WARC files of one run. It is safe for
// concurrent use by several goroutines.
type Writer struct {
	dir      string
	runID    string
	runDir   string
	spoolDir string
	opts     WriterOptions
	gzPool   sync.Pool

	inflight sync.WaitGroup

	mu        sync.Mutex // guards everything below
	closed    bool
	f         *os.File
	rel       string      // current file, relative to dir
	size      int64       // bytes in the current file
	exchanges int         // exchanges in the current file
	serial    int         // serial number of the current (or last) file
	aged      *time.Timer // closes (and encrypts) the current file at MaxFileAge
	agedErr   error       // what closing an aged file failed with, for the next call
}

var runIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// NewWriter creates the run directory <dir>/<RunID> (dir itself is created
// if needed) and returns a Writer for it. WARC files are created lazily on
// the first exchange.
func NewWriter(dir string, opts WriterOptions) (*Writer, error) {
	if dir == "" {
		return nil, errors.New("evidence: empty directory")
	}
	if opts.RunID == "" {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		opts.RunID = time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
	}
	if !runIDPattern.MatchString(opts.RunID) {
		return nil, fmt.Errorf("evidence: invalid run id %q", opts.RunID)
	}
	if opts.MaxFileSize <= 0 {
		opts.MaxFileSize = DefaultMaxFileSize
	}
	if opts.SpoolMemory <= 0 {
		opts.SpoolMemory = DefaultSpoolMemory
	}
	if opts.MaxFileAge <= 0 {
		opts.MaxFileAge = DefaultMaxFileAge
	}
	if opts.CompressionLevel == 0 {
		opts.CompressionLevel = gzip.DefaultCompression
	}
	if opts.CompressionLevel < gzip.HuffmanOnly || opts.CompressionLevel > gzip.BestCompression {
		return nil, fmt.Errorf("evidence: invalid compression level %d", opts.CompressionLevel)
	}
	if opts.Software == "" {
		opts.Software = "leakwatch"
	}
	runDir := filepath.Join(dir, opts.RunID)
	if err := os.MkdirAll(runDir, 0o750); err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	serial, err := lastSerial(runDir, opts.RunID)
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	spoolDir, err := os.MkdirTemp(runDir, ".spool-")
	if err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	w := &Writer{
		dir:      dir,
		runID:    opts.RunID,
		runDir:   runDir,
		spoolDir: spoolDir,
		opts:     opts,
		serial:   serial,
	}
	level := opts.CompressionLevel
	w.gzPool.New = func() any {
		zw, _ := gzip.NewWriterLevel(io.Discard, level) // level checked above
		return zw
	}
	return w, nil
}

// lastSerial returns the highest serial of the run's existing WARC files.
func lastSerial(runDir, runID string) (int, error) {
	entries, err := os.ReadDir(runDir)
	if err != nil {
		return 0, err
	}
	highest := 0
	prefix := runID + "-"
	for _, e := range entries {
		name := e.Name()
		name = strings.TrimSuffix(name, EncryptedSuffix)
		if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, warcSuffix) {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, prefix), warcSuffix))
		if err == nil && n > highest {
			highest = n
		}
	}
	return highest, nil
}

// RunID returns the run id (generated by NewWriter when none was given).
func (w *Writer) RunID() string { return w.runID }

// Dir returns the evidence directory that Record.File is relative to.
func (w *Writer) Dir() string { return w.dir }

// WriteExchange stores ex as a request record followed by a response
// record, adjacent in one file, and returns the location and digests of the
// response record (and of the request record). ex.Payload is streamed; see
// the package documentation for the memory bound. If ctx is cancelled while
// the payload is being read, nothing is written and the context's error is
// returned; other payload read errors are recorded as truncation (see
// Exchange.Payload). When an error is returned, no part of the exchange
// remains in any WARC file: a failed append is cut off again, and if even
// that fails the file is closed and the next exchange starts a new one.
func (w *Writer) WriteExchange(ctx context.Context, ex Exchange) (Record, error) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return Record{}, ErrClosed
	}
	w.inflight.Add(1)
	w.mu.Unlock()
	defer w.inflight.Done()

	p, err := w.prepare(ctx, &ex)
	if err != nil {
		return Record{}, err
	}
	defer p.spool.Close()

	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.agedErr; err != nil {
		w.agedErr = nil
		return Record{}, err
	}
	if w.f != nil && w.exchanges > 0 && w.size+p.spool.Size() > w.opts.MaxFileSize {
		if err := w.closeFile(); err != nil {
			return Record{}, err
		}
	}
	if w.f == nil {
		if err := w.openNext(); err != nil {
			return Record{}, err
		}
	}
	start := w.size
	n, err := p.spool.WriteTo(w.f)
	if err == nil && n != p.spool.Size() {
		err = io.ErrShortWrite
	}
	if err == nil && w.opts.Sync {
		err = w.f.Sync()
	}
	if err != nil {
		// Cut the partial exchange off again so the file stays a valid
		// sequence of records.
		if terr := w.f.Truncate(start); terr != nil {
			// The file may now end in a partial record: never append
			// to it again.
			err = errors.Join(err, terr)
			_ = w.closeFile()
		}
		return Record{}, fmt.Errorf("evidence: appending to %s: %w", w.rel, err)
	}
	w.size += n
	w.exchanges++

	rec := p.rec
	rec.File = w.rel
	rec.RequestOffset = start
	rec.Offset = start + rec.RequestLength
	return rec, nil
}

// Close waits for in-flight WriteExchange calls, then syncs and closes the
// current WARC file and removes the spool directory. Later WriteExchange
// calls return ErrClosed.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	w.inflight.Wait()

	w.mu.Lock()
	defer w.mu.Unlock()
	err := errors.Join(w.agedErr, w.closeFile())
	w.agedErr = nil
	if rerr := os.RemoveAll(w.spoolDir); rerr != nil {
		err = errors.Join(err, rerr)
	}
	return err
}

// closeFile syncs and closes the current file. Called with mu held.
func (w *Writer) closeFile() error {
	if w.f == nil {
		return nil
	}
	if w.aged != nil {
		w.aged.Stop()
		w.aged = nil
	}
	f := w.f
	w.f = nil
	w.exchanges = 0
	w.size = 0
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(w.runDir)
	}
	if err == nil && len(w.opts.Recipients) > 0 {
		err = EncryptFile(filepath.Join(w.dir, filepath.FromSlash(w.rel)), w.opts.Recipients...)
	}
	if err != nil {
		return fmt.Errorf("evidence: closing %s: %w", w.rel, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// openNext creates the next WARC file and writes its warcinfo record.
// Called with mu held.
func (w *Writer) openNext() error {
	var f *os.File
	var name string
	for tries := 0; ; tries++ {
		w.serial++
		name = fmt.Sprintf("%s-%05d%s", w.runID, w.serial, warcSuffix)
		if _, err := os.Stat(filepath.Join(w.runDir, name+EncryptedSuffix)); err == nil {
			continue // taken by an encrypted file
		}
		var err error
		f, err = os.OpenFile(filepath.Join(w.runDir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY|os.O_APPEND, 0o640)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) || tries > 1000 {
			return fmt.Errorf("evidence: %w", err)
		}
	}
	w.f = f
	w.rel = path.Join(w.runID, name)
	w.size = 0
	w.exchanges = 0

	cw := countingWriter{w: f}
	err := w.writeWarcinfo(&cw, name)
	w.size = cw.n
	if err == nil {
		err = syncDir(w.runDir)
	}
	if err != nil {
		_ = f.Close()
		w.f = nil
		return fmt.Errorf("evidence: starting %s: %w", w.rel, err)
	}
	if len(w.opts.Recipients) > 0 {
		serial := w.serial
		w.aged = time.AfterFunc(w.opts.MaxFileAge, func() { w.closeAged(serial) })
	}
	return nil
}

// closeAged closes (and so encrypts) file serial if it is still the
// current one: a plain file never outlives MaxFileAge, even while no
// exchange comes. A failure is returned by the next call.
func (w *Writer) closeAged(serial int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil || w.serial != serial {
		return
	}
	if err := w.closeFile(); err != nil {
		w.agedErr = err
	}
}

// writeWarcinfo writes the warcinfo record that starts each file.
func (w *Writer) writeWarcinfo(dst io.Writer, fileName string) error {
	var body bytes.Buffer
	field := func(k, v string) {
		body.WriteString(k + ": " + oneLine(v) + "\r\n")
	}
	field("software", w.opts.Software)
	field("format", "WARC File Format 1.1")
	field("conformsTo", "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/")
	field("isPartOf", w.runID)
	keys := make([]string, 0, len(w.opts.Info))
	for k := range w.opts.Info {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if validToken(k) {
			field(k, w.opts.Info[k])
		}
	}
	id, err := newRecordID()
	if err != nil {
		return err
	}
	h := header{
		{"WARC-Type", "warcinfo"},
		{"WARC-Record-ID", id},
		{"WARC-Date", time.Now().UTC().Format(time.RFC3339Nano)},
		{"WARC-Filename", fileName},
		{"Content-Type", "application/warc-fields"},
		{"WARC-Block-Digest", "sha256:" + hexSum(body.Bytes())},
	}
	_, err = w.writeRecord(dst, h, int64(body.Len()), &body)
	return err
}

// header is a WARC header under construction, in output order.
type header [][2]string

// writeRecord writes one WARC/1.1 record (header, Content-Length, block of
// blockLen bytes from block, CRLF CRLF) as a single gzip member to dst and
// returns the number of compressed bytes written.
func (w *Writer) writeRecord(dst io.Writer, h header, blockLen int64, block io.WriterTo) (int64, error) {
	cw := countingWriter{w: dst}
	zw := w.gzPool.Get().(*gzip.Writer)
	defer w.gzPool.Put(zw)
	zw.Reset(&cw)

	var head bytes.Buffer
	head.WriteString("WARC/1.1\r\n")
	for _, f := range h {
		head.WriteString(f[0] + ": " + oneLine(f[1]) + "\r\n")
	}
	head.WriteString("Content-Length: " + strconv.FormatInt(blockLen, 10) + "\r\n\r\n")
	if _, err := head.WriteTo(zw); err != nil {
		return cw.n, err
	}
	n, err := block.WriteTo(zw)
	if err != nil {
		return cw.n, err
	}
	if n != blockLen {
		return cw.n, fmt.Errorf("evidence: block has %d bytes, expected %d", n, blockLen)
	}
	if _, err := io.WriteString(zw, "\r\n\r\n"); err != nil {
		return cw.n, err
	}
	err = zw.Close()
	return cw.n, err
}

// prepared is an exchange serialised and compressed into a spool, ready to
// be appended.
type prepared struct {
	spool *spool
	rec   Record
}

func (w *Writer) prepare(ctx context.Context, ex *Exchange) (_ *prepared, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	u, err := url.Parse(ex.TargetURI)
	if err != nil {
		return nil, fmt.Errorf("evidence: target URI: %w", err)
	}
	if !u.IsAbs() || u.Host == "" {
		return nil, fmt.Errorf("evidence: target URI %q is not absolute", ex.TargetURI)
	}
	method := ex.Method
	if method == "" {
		method = http.MethodGet
	}
	if !validToken(method) {
		return nil, fmt.Errorf("evidence: invalid method %q", method)
	}
	reqProto, err := checkProto(ex.RequestProto)
	if err != nil {
		return nil, err
	}
	respProto, err := checkProto(ex.ResponseProto)
	if err != nil {
		return nil, err
	}
	if ex.StatusCode < 100 || ex.StatusCode > 999 {
		return nil, fmt.Errorf("evidence: invalid status code %d", ex.StatusCode)
	}
	switch ex.Truncated {
	case "", TruncatedLength, TruncatedTime, TruncatedDisconnect, TruncatedUnspecified:
	default:
		return nil, fmt.Errorf("evidence: invalid truncation reason %q", ex.Truncated)
	}
	if ex.TLSCertSHA256 != nil && len(ex.TLSCertSHA256) != sha256.Size {
		return nil, fmt.Errorf("evidence: TLS certificate digest has %d bytes, want %d", len(ex.TLSCertSHA256), sha256.Size)
	}
	date := ex.FetchTime
	if date.IsZero() {
		date = time.Now()
	}
	date = date.UTC()

	reqID, err := newRecordID()
	if err != nil {
		return nil, err
	}
	respID, err := newRecordID()
	if err != nil {
		return nil, err
	}
	common := func(typ, id, concurrent string) header {
		h := header{
			{"WARC-Type", typ},
			{"WARC-Record-ID", id},
			{"WARC-Date", date.Format(time.RFC3339Nano)},
			{"WARC-Target-URI", ex.TargetURI},
			{"WARC-Concurrent-To", concurrent},
		}
		if ex.RemoteIP.IsValid() {
			h = append(h, [2]string{"WARC-IP-Address", ex.RemoteIP.Unmap().WithZone("").String()})
		}
		if ex.Via != "" {
			h = append(h, [2]string{"Leakwatch-Via", ex.Via})
		}
		if ex.TLSCertSHA256 != nil {
			h = append(h, [2]string{"Leakwatch-Peer-Certificate", "sha256:" + hex.EncodeToString(ex.TLSCertSHA256)})
		}
		return h
	}

	// Response block: HTTP header, then the payload streamed into a spool
	// while both digests are computed.
	respHead := responseHead(respProto, ex.StatusCode, ex.Status, ex.ResponseHeader)
	blockH, payH := sha256.New(), sha256.New()
	blockH.Write(respHead)
	block := newSpool(w.spoolDir, w.opts.SpoolMemory)
	defer block.Close()
	if _, err := block.Write(respHead); err != nil {
		return nil, fmt.Errorf("evidence: spooling response: %w", err)
	}
	var payloadLen int64
	truncated := ex.Truncated
	if ex.Payload != nil {
		src := &payloadReader{ctx: ctx, r: ex.Payload}
		payloadLen, err = io.Copy(block, io.TeeReader(src, io.MultiWriter(blockH, payH)))
		if err != nil {
			return nil, fmt.Errorf("evidence: spooling payload of %s: %w", ex.TargetURI, err)
		}
		if src.err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return nil, cerr
			}
			// Keep what was received; the record says it is incomplete.
			var te *TruncatedError
			switch {
			case errors.As(src.err, &te):
				truncated = te.Reason
			case truncated == "":
				truncated = TruncatedDisconnect
			}
		}
	}
	blockDigest := formatDigest(blockH)
	payloadHex := hex.EncodeToString(payH.Sum(nil))

	// Serialise and compress both records into the output spool.
	out := newSpool(w.spoolDir, w.opts.SpoolMemory)
	defer func() {
		if err != nil {
			out.Close()
		}
	}()

	reqHead := requestHead(method, u, reqProto, ex.RequestHeader)
	reqBlock := append(reqHead, ex.RequestBody...)
	rh := common("request", reqID, respID)
	rh = append(rh, [2]string{"Content-Type", "application/http;msgtype=request"})
	rh = append(rh, [2]string{"WARC-Block-Digest", "sha256:" + hexSum(reqBlock)})
	if len(ex.RequestBody) > 0 {
		rh = append(rh, [2]string{"WARC-Payload-Digest", "sha256:" + hexSum(ex.RequestBody)})
	}
	reqLen, err := w.writeRecord(out, rh, int64(len(reqBlock)), bytes.NewBuffer(reqBlock))
	if err != nil {
		return nil, fmt.Errorf("evidence: writing request record: %w", err)
	}

	sh := common("response", respID, reqID)
	sh = append(sh, [2]string{"Content-Type", "application/http;msgtype=response"})
	sh = append(sh, [2]string{"WARC-Block-Digest", blockDigest})
	sh = append(sh, [2]string{"WARC-Payload-Digest", "sha256:" + payloadHex})
	if truncated != "" {
		sh = append(sh, [2]string{"WARC-Truncated", truncated})
	}
	respLen, err := w.writeRecord(out, sh, block.Size(), block)
	if err != nil {
		return nil, fmt.Errorf("evidence: writing response record: %w", err)
	}

	rec := Record{
		Length:          respLen,
		RecordID:        respID,
		RequestLength:   reqLen,
		RequestRecordID: reqID,
		TargetURI:       ex.TargetURI,
		Date:            date,
		PayloadSHA256:   payloadHex,
		PayloadLength:   payloadLen,
		BlockDigest:     blockDigest,
		Truncated:       truncated,
		StatusCode:      ex.StatusCode,
		Location:        resolveLocation(ex.TargetURI, ex.ResponseHeader.Get("Location")),
	}
	return &prepared{spool: out, rec: rec}, nil
}

func checkProto(p string) (string, error) {
	if p == "" {
		return "HTTP/1.1", nil
	}
	if _, _, ok := http.ParseHTTPVersion(p); !ok {
		return "", fmt.Errorf("evidence: invalid protocol %q", p)
	}
	return p, nil
}

func requestHead(method string, u *url.URL, proto string, h http.Header) []byte {
	var b bytes.Buffer
	b.WriteString(method + " " + u.RequestURI() + " " + proto + "\r\n")
	if h.Get("Host") == "" {
		b.WriteString("Host: " + u.Host + "\r\n")
	}
	_ = h.Write(&b) // nil-safe; sorts keys and strips CR/LF from values
	b.WriteString("\r\n")
	return b.Bytes()
}

func responseHead(proto string, code int, status string, h http.Header) []byte {
	codeStr := strconv.Itoa(code)
	status = oneLine(status)
	switch {
	case status == "":
		status = codeStr + " " + http.StatusText(code)
	case status == codeStr || strings.HasPrefix(status, codeStr+" "):
	default:
		status = codeStr + " " + status
	}
	var b bytes.Buffer
	b.WriteString(proto + " " + strings.TrimRight(status, " ") + "\r\n")
	_ = h.Write(&b)
	b.WriteString("\r\n")
	return b.Bytes()
}

// newRecordID returns a new "<urn:uuid:...>" (random, version 4). It does
// not use github.com/google/uuid, whose global pool switch other libraries
// flip without synchronisation.
func newRecordID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("<urn:uuid:%x-%x-%x-%x-%x>", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

func formatDigest(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, s)
}

// validToken reports whether s is an RFC 9110 token.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// payloadReader reads the payload, stops when ctx is done, and turns a
// read error into EOF while remembering it, so that io.Copy reports only
// spool (write) errors.
type payloadReader struct {
	ctx context.Context
	r   io.Reader
	err error
}

func (p *payloadReader) Read(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		p.err = err
		return 0, io.EOF
	}
	n, err := p.r.Read(b)
	if err != nil && !errors.Is(err, io.EOF) {
		p.err = err
		err = io.EOF
	}
	return n, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// spool holds bytes in memory up to a limit and in a temporary file beyond.
type spool struct {
	dir   string
	limit int64
	buf   bytes.Buffer
	f     *os.File
	n     int64
}

func newSpool(dir string, limit int64) *spool { return &spool{dir: dir, limit: limit} }

func (s *spool) Write(p []byte) (int, error) {
	if s.f == nil && int64(s.buf.Len()+len(p)) <= s.limit {
		s.buf.Write(p)
		s.n += int64(len(p))
		return len(p), nil
	}
	if s.f == nil {
		f, err := os.CreateTemp(s.dir, "record-")
		if err != nil {
			return 0, err
		}
		s.f = f
		if _, err := s.buf.WriteTo(f); err != nil {
			return 0, err
		}
		s.buf = bytes.Buffer{}
	}
	n, err := s.f.Write(p)
	s.n += int64(n)
	return n, err
}

func (s *spool) Size() int64 { return s.n }

// WriteTo copies the spooled bytes to w (once).
func (s *spool) WriteTo(w io.Writer) (int64, error) {
	if s.f == nil {
		return s.buf.WriteTo(w)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	return io.Copy(w, s.f)
}

func (s *spool) Close() {
	if s.f != nil {
		name := s.f.Name()
		_ = s.f.Close()
		_ = os.Remove(name)
		s.f = nil
	}
	s.buf = bytes.Buffer{}
}
