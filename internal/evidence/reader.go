package evidence

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
)

// Limits applied when parsing stored records.
const (
	maxWARCHeaderBytes = 256 << 10
	maxHTTPHeaderBytes = 1 << 20
)

// Field is one WARC header field.
type Field struct {
	Name, Value string
}

// Fields is a WARC header in file order.
type Fields []Field

// Get returns the value of the first field named name (case-insensitive).
func (fs Fields) Get(name string) string {
	for _, f := range fs {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// Values returns the values of all fields named name (case-insensitive).
func (fs Fields) Values(name string) []string {
	var vs []string
	for _, f := range fs {
		if strings.EqualFold(f.Name, name) {
			vs = append(vs, f.Value)
		}
	}
	return vs
}

// StoredRecord is a WARC record read back from a file. Its Read method
// streams the record's payload (for HTTP records the body after the HTTP
// headers, otherwise the whole block) while recomputing the digests. Read
// returns io.EOF only after the whole record was consumed and its framing
// checked: the block is exactly Content-Length bytes, the record ends with
// CRLF CRLF, the gzip member ends there with a valid checksum, and the member
// is exactly Length compressed bytes long. Any other outcome is returned as
// an error from Read.
type StoredRecord struct {
	File          string // relative to the evidence directory
	Offset        int64
	Length        int64
	Version       string // e.g. "WARC/1.1"
	Header        Fields
	ContentLength int64

	// HTTPStartLine is the HTTP status line or request line, HTTPHeader the
	// parsed HTTP header, for records with an application/http block.
	HTTPStartLine string
	HTTPHeader    http.Header
	// StatusCode is the HTTP status of a response record.
	StatusCode int

	f       io.Closer       // the WARC file
	raw     *bufio.Reader   // compressed bytes of the member
	rawN    *countingReader // counts compressed bytes handed to raw
	gz      *gzip.Reader
	body    *bufio.Reader // decompressed record
	block   *io.LimitedReader
	blockBr *bufio.Reader // buffers block; the payload is read from here
	blockH  hash.Hash
	payH    hash.Hash
	payN    int64
	done    bool
	err     error
}

// ReadRecord opens the response record that r locates and parses its WARC
// and HTTP headers. It fails if the record there does not carry
// r.RecordID. The caller reads the payload from the returned record and
// must Close it. ids open evidence encrypted at rest (see OpenWARC).
func ReadRecord(dir string, r Record, ids ...age.Identity) (*StoredRecord, error) {
	s, err := openRecord(dir, r.File, r.Offset, r.Length, ids)
	if err != nil {
		return nil, err
	}
	if r.RecordID != "" {
		if id := s.Header.Get("WARC-Record-ID"); id != r.RecordID {
			s.Close()
			return nil, fmt.Errorf("evidence: %s@%d holds record %s, want %s", r.File, r.Offset, id, r.RecordID)
		}
	}
	return s, nil
}

func openRecord(dir, file string, offset, length int64, ids []age.Identity) (_ *StoredRecord, err error) {
	where := fmt.Sprintf("%s@%d", file, offset)
	if offset < 0 || length <= 0 {
		return nil, fmt.Errorf("evidence: %s: invalid offset/length %d/%d", where, offset, length)
	}
	f, size, c, err := OpenWARC(dir, file, ids...)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if size < offset+length {
		return nil, fmt.Errorf("evidence: %s: file is truncated: %d bytes, record needs %d", where, size, offset+length)
	}

	s := &StoredRecord{File: file, Offset: offset, Length: length, f: c}
	s.rawN = &countingReader{r: io.NewSectionReader(f, offset, length)}
	// bufio.Reader is an io.ByteReader, so gzip reads exactly the member's
	// bytes and s.raw.Buffered() tells how much lies beyond it.
	s.raw = bufio.NewReaderSize(s.rawN, 64<<10)
	s.gz, err = gzip.NewReader(s.raw)
	if err != nil {
		return nil, fmt.Errorf("evidence: %s: not a gzip member: %w", where, err)
	}
	s.gz.Multistream(false)
	s.body = bufio.NewReaderSize(s.gz, 64<<10)

	// WARC version line and header fields.
	line, err := readLine(s.body, maxWARCHeaderBytes)
	if err != nil {
		return nil, fmt.Errorf("evidence: %s: reading WARC header: %w", where, err)
	}
	if !strings.HasPrefix(line, "WARC/") {
		return nil, fmt.Errorf("evidence: %s: not a WARC record (starts %q)", where, truncateString(line, 20))
	}
	s.Version = line
	budget := maxWARCHeaderBytes
	for {
		line, err := readLine(s.body, budget)
		if err != nil {
			return nil, fmt.Errorf("evidence: %s: reading WARC header: %w", where, err)
		}
		budget -= len(line) + 2
		if line == "" {
			break
		}
		if (line[0] == ' ' || line[0] == '\t') && len(s.Header) > 0 {
			s.Header[len(s.Header)-1].Value += " " + strings.TrimSpace(line)
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !validToken(name) {
			return nil, fmt.Errorf("evidence: %s: malformed WARC header line %q", where, truncateString(line, 60))
		}
		s.Header = append(s.Header, Field{Name: name, Value: strings.TrimSpace(value)})
	}
	cl := s.Header.Get("Content-Length")
	s.ContentLength, err = strconv.ParseInt(cl, 10, 64)
	if err != nil || s.ContentLength < 0 {
		return nil, fmt.Errorf("evidence: %s: invalid Content-Length %q", where, cl)
	}

	s.blockH, s.payH = sha256.New(), sha256.New()
	s.block = &io.LimitedReader{R: s.body, N: s.ContentLength}
	s.blockBr = bufio.NewReaderSize(s.block, 64<<10)

	ct := strings.ToLower(s.Header.Get("Content-Type"))
	if strings.HasPrefix(ct, "application/http") {
		if err := s.readHTTPHead(strings.Contains(ct, "msgtype=request")); err != nil {
			return nil, fmt.Errorf("evidence: %s: %w", where, err)
		}
	}
	return s, nil
}

// readHTTPHead consumes the HTTP header of the block into blockH and parses it.
func (s *StoredRecord) readHTTPHead(request bool) error {
	var head bytes.Buffer
	for {
		line, err := s.blockBr.ReadSlice('\n')
		head.Write(line)
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) && head.Len() < maxHTTPHeaderBytes {
				continue
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("reading HTTP header: %w", err)
		}
		if head.Len() > maxHTTPHeaderBytes {
			return errors.New("HTTP header too long")
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break
		}
	}
	s.blockH.Write(head.Bytes())
	br := bufio.NewReader(bytes.NewReader(head.Bytes()))
	if request {
		req, err := http.ReadRequest(br)
		if err != nil {
			return fmt.Errorf("parsing HTTP request header: %w", err)
		}
		s.HTTPHeader = req.Header
	} else {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return fmt.Errorf("parsing HTTP response header: %w", err)
		}
		s.HTTPHeader = resp.Header
		s.StatusCode = resp.StatusCode
	}
	first, _, _ := bytes.Cut(head.Bytes(), []byte("\n"))
	s.HTTPStartLine = string(bytes.TrimRight(first, "\r"))
	return nil
}

// Read reads the payload.
func (s *StoredRecord) Read(p []byte) (int, error) {
	if s.done {
		return 0, s.err
	}
	n, err := s.blockBr.Read(p)
	if n > 0 {
		s.blockH.Write(p[:n])
		s.payH.Write(p[:n])
		s.payN += int64(n)
	}
	if err == nil {
		return n, nil
	}
	s.done = true
	if errors.Is(err, io.EOF) {
		err = s.finish()
	}
	if err == nil {
		err = io.EOF
	} else {
		err = fmt.Errorf("evidence: %s@%d: %w", s.File, s.Offset, err)
	}
	s.err = err
	return n, err
}

// finish checks the framing after the block.
func (s *StoredRecord) finish() error {
	if s.block.N != 0 {
		return fmt.Errorf("block truncated: %d of %d bytes: %w", s.ContentLength-s.block.N, s.ContentLength, io.ErrUnexpectedEOF)
	}
	var end [4]byte
	if _, err := io.ReadFull(s.body, end[:]); err != nil {
		return fmt.Errorf("missing end of record: %w", err)
	}
	if string(end[:]) != "\r\n\r\n" {
		return fmt.Errorf("bad end of record %q", end[:])
	}
	if _, err := s.body.ReadByte(); err == nil {
		return errors.New("data after the end of the record inside its gzip member")
	} else if !errors.Is(err, io.EOF) {
		return fmt.Errorf("gzip member: %w", err) // includes checksum errors
	}
	if used := s.rawN.n - int64(s.raw.Buffered()); used != s.Length {
		return fmt.Errorf("gzip member is %d bytes, record length is %d", used, s.Length)
	}
	return nil
}

// BlockDigest returns "sha256:<hex>" of the block read so far; it is the
// whole block's digest once Read has returned io.EOF.
func (s *StoredRecord) BlockDigest() string {
	return "sha256:" + hex.EncodeToString(s.blockH.Sum(nil))
}

// PayloadDigest returns "sha256:<hex>" of the payload read so far.
func (s *StoredRecord) PayloadDigest() string {
	return "sha256:" + hex.EncodeToString(s.payH.Sum(nil))
}

// PayloadLength returns the number of payload bytes read so far.
func (s *StoredRecord) PayloadLength() int64 { return s.payN }

// Close releases the file.
func (s *StoredRecord) Close() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// ProblemKind classifies a [Problem].
type ProblemKind string

// Kinds of problems reported by Verify and VerifyManifest.
const (
	// The record cannot be read: missing file, truncated file, bad gzip
	// member (including a checksum error), bad WARC framing or a length
	// that does not match.
	ProblemUnreadable ProblemKind = "unreadable"
	// A WARC header field disagrees with the Record (record id, type,
	// target URI, date, truncation).
	ProblemHeader ProblemKind = "header"
	// The block digest recomputed from the content disagrees with
	// WARC-Block-Digest or with Record.BlockDigest.
	ProblemBlockDigest ProblemKind = "block-digest"
	// The payload digest recomputed from the content disagrees with
	// WARC-Payload-Digest or with Record.PayloadSHA256.
	ProblemPayloadDigest ProblemKind = "payload-digest"
	// The payload length disagrees with Record.PayloadLength.
	ProblemLength ProblemKind = "length"
	// The request record of the exchange is unreadable or inconsistent.
	ProblemRequest ProblemKind = "request"
	// Run level: Merkle root or time-stamp token do not match (see
	// VerifyManifest).
	ProblemManifest ProblemKind = "manifest"
)

// Problem is one finding of Verify.
type Problem struct {
	File     string      `json:"file,omitempty"`
	Offset   int64       `json:"offset"`
	RecordID string      `json:"record_id,omitempty"`
	Kind     ProblemKind `json:"kind"`
	Detail   string      `json:"detail"`
}

func (p Problem) String() string {
	if p.File == "" {
		return fmt.Sprintf("%s: %s", p.Kind, p.Detail)
	}
	return fmt.Sprintf("%s@%d record %s: %s: %s", p.File, p.Offset, p.RecordID, p.Kind, p.Detail)
}

// Verify re-reads every record at its offset, recomputes the block and
// payload digests and compares them with the WARC headers and with the
// values in recs. It also checks each exchange's request record when recs
// locate it. It returns nil when everything matches. ids open evidence
// encrypted at rest (see OpenWARC).
func Verify(dir string, recs []Record, ids ...age.Identity) []Problem {
	var probs []Problem
	for _, r := range recs {
		probs = append(probs, verifyOne(dir, r, ids)...)
	}
	return probs
}

func verifyOne(dir string, r Record, ids []age.Identity) []Problem {
	var probs []Problem
	add := func(kind ProblemKind, format string, args ...any) {
		probs = append(probs, Problem{File: r.File, Offset: r.Offset, RecordID: r.RecordID, Kind: kind, Detail: fmt.Sprintf(format, args...)})
	}
	s, err := openRecord(dir, r.File, r.Offset, r.Length, ids)
	if err != nil {
		add(ProblemUnreadable, "%v", err)
		return probs
	}
	defer s.Close()
	if id := s.Header.Get("WARC-Record-ID"); id != r.RecordID {
		add(ProblemHeader, "WARC-Record-ID is %q, want %q", id, r.RecordID)
	}
	if t := s.Header.Get("WARC-Type"); t != "response" {
		add(ProblemHeader, "WARC-Type is %q, want response", t)
	}
	if r.TargetURI != "" {
		if u := s.Header.Get("WARC-Target-URI"); u != r.TargetURI {
			add(ProblemHeader, "WARC-Target-URI is %q, want %q", u, r.TargetURI)
		}
	}
	if !r.Date.IsZero() {
		d, err := time.Parse(time.RFC3339Nano, s.Header.Get("WARC-Date"))
		if err != nil || !d.Equal(r.Date) {
			add(ProblemHeader, "WARC-Date is %q, want %s", s.Header.Get("WARC-Date"), r.Date.UTC().Format(time.RFC3339Nano))
		}
	}
	if tr := s.Header.Get("WARC-Truncated"); tr != r.Truncated {
		add(ProblemHeader, "WARC-Truncated is %q, want %q", tr, r.Truncated)
	}
	if r.StatusCode != 0 {
		// A redirect's evidence is its status and Location as much as
		// its digests.
		if s.StatusCode != r.StatusCode {
			add(ProblemHeader, "HTTP status is %d, want %d", s.StatusCode, r.StatusCode)
		}
		loc := s.HTTPHeader.Get("Location")
		if to := resolveLocation(s.Header.Get("WARC-Target-URI"), loc); to != r.Location {
			add(ProblemHeader, "HTTP Location is %q (leading to %q), want %q", loc, to, r.Location)
		}
	}
	if _, err := io.Copy(io.Discard, s); err != nil {
		add(ProblemUnreadable, "%v", err)
		return probs
	}

	block := s.BlockDigest()
	if err := sameDigest(s.Header.Get("WARC-Block-Digest"), block); err != nil {
		add(ProblemBlockDigest, "WARC-Block-Digest: %v", err)
	}
	if r.BlockDigest != "" {
		if err := sameDigest(r.BlockDigest, block); err != nil {
			add(ProblemBlockDigest, "recorded block digest: %v", err)
		}
	}
	payload := s.PayloadDigest()
	if err := sameDigest(s.Header.Get("WARC-Payload-Digest"), payload); err != nil {
		add(ProblemPayloadDigest, "WARC-Payload-Digest: %v", err)
	}
	if err := sameDigest("sha256:"+r.PayloadSHA256, payload); err != nil {
		add(ProblemPayloadDigest, "recorded payload SHA-256: %v", err)
	}
	if s.PayloadLength() != r.PayloadLength {
		add(ProblemLength, "payload is %d bytes, recorded %d", s.PayloadLength(), r.PayloadLength)
	}

	if r.RequestRecordID != "" || r.RequestLength > 0 {
		if err := verifyRequest(dir, r, ids); err != nil {
			probs = append(probs, Problem{File: r.File, Offset: r.RequestOffset, RecordID: r.RequestRecordID, Kind: ProblemRequest, Detail: err.Error()})
		}
	}
	return probs
}

func verifyRequest(dir string, r Record, ids []age.Identity) error {
	s, err := openRecord(dir, r.File, r.RequestOffset, r.RequestLength, ids)
	if err != nil {
		return err
	}
	defer s.Close()
	if id := s.Header.Get("WARC-Record-ID"); id != r.RequestRecordID {
		return fmt.Errorf("WARC-Record-ID is %q, want %q", id, r.RequestRecordID)
	}
	if t := s.Header.Get("WARC-Type"); t != "request" {
		return fmt.Errorf("WARC-Type is %q, want request", t)
	}
	if !slices.Contains(s.Header.Values("WARC-Concurrent-To"), r.RecordID) {
		return fmt.Errorf("WARC-Concurrent-To does not name %s", r.RecordID)
	}
	if _, err := io.Copy(io.Discard, s); err != nil {
		return err
	}
	if err := sameDigest(s.Header.Get("WARC-Block-Digest"), s.BlockDigest()); err != nil {
		return fmt.Errorf("WARC-Block-Digest: %w", err)
	}
	if pd := s.Header.Get("WARC-Payload-Digest"); pd != "" {
		if err := sameDigest(pd, s.PayloadDigest()); err != nil {
			return fmt.Errorf("WARC-Payload-Digest: %w", err)
		}
	}
	return nil
}

// sameDigest compares a stated digest ("sha256:<hex or base32>") with a
// computed "sha256:<hex>".
func sameDigest(stated, computed string) error {
	want, err := parseDigest(stated)
	if err != nil {
		return err
	}
	got, _ := parseDigest(computed)
	if !bytes.Equal(want, got) {
		return fmt.Errorf("states %s, content hashes to %s", stated, computed)
	}
	return nil
}

// parseDigest decodes "sha256:<value>" with a hex or base32 value.
func parseDigest(s string) ([]byte, error) {
	alg, val, ok := strings.Cut(s, ":")
	if !ok {
		return nil, fmt.Errorf("malformed digest %q", s)
	}
	if a := strings.ToLower(alg); a != "sha256" && a != "sha-256" {
		return nil, fmt.Errorf("unsupported digest algorithm %q", alg)
	}
	var b []byte
	var err error
	switch len(val) {
	case 2 * sha256.Size:
		b, err = hex.DecodeString(val)
	case 52:
		b, err = base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(val))
	case 56:
		b, err = base32.StdEncoding.DecodeString(strings.ToUpper(val))
	default:
		err = errors.New("bad length")
	}
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("malformed digest %q", s)
	}
	return b, nil
}

// readLine reads a CRLF-terminated line of at most max bytes and returns it
// without the CRLF.
func readLine(r *bufio.Reader, max int) (string, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > max {
			return "", errors.New("header too long")
		}
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return "", err
	}
	if !bytes.HasSuffix(line, []byte("\r\n")) {
		return "", fmt.Errorf("line %q does not end in CRLF", truncateString(string(line), 40))
	}
	return string(line[:len(line)-2]), nil
}

func truncateString(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
