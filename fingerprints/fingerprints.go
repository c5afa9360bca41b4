// Package fingerprints holds what every fingerprint layer shares: the secret
// key, streaming digests of raw bytes and the Match a scan reports. The
// layers live in its subpackages; match combines them.
//
// fingerprints and its subpackages are a public library on purpose: they
// recognise a known document set in untrusted bytes (exact copies,
// re-encoded and re-rendered documents, excerpts, resized photos, reformatted
// record dumps) and depend on nothing else in leakwatch, so other tools can
// fingerprint and match with the same rules. They keep no state: the
// reference index is built by their callers (leakwatch's is
// internal/references, persisted by storage) and held in memory by
// fingerprints/memindex.
package fingerprints

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Methods say which layer of the matcher fired.
const (
	MethodSHA256 = "sha256"
)

// ErrTooLarge is returned by Sum when the input exceeds the byte cap.
var ErrTooLarge = errors.New("input exceeds size cap")

// Digest describes a stream of bytes.
type Digest struct {
	SHA256    string `json:"sha256"` // hex
	Size      int64  `json:"size"`   // bytes hashed
	Sniffed   string `json:"sniffed_type"`
	Truncated bool   `json:"truncated,omitempty"` // the cap was hit; SHA256 covers the first Size bytes
}

// sniffLen is what http.DetectContentType looks at.
const sniffLen = 512

// Sum hashes r as it streams, sniffs its type from the leading bytes and stops
// after max bytes (max <= 0 means no cap). If the cap is hit, or reading
// fails part-way, the digest of the prefix read is returned together with the
// error (ErrTooLarge for the cap) so the caller can still record evidence of
// what was read.
func Sum(r io.Reader, max int64) (Digest, error) {
	h := sha256.New()
	head := &headBuffer{limit: sniffLen}
	w := io.MultiWriter(h, head)
	var (
		n   int64
		err error
	)
	if max > 0 {
		// Read one byte past the cap so truncation is detected, not silent.
		n, err = io.Copy(w, io.LimitReader(r, max+1))
	} else {
		n, err = io.Copy(w, r)
	}
	d := Digest{Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), Sniffed: http.DetectContentType(head.buf)}
	if err != nil {
		return d, fmt.Errorf("read after %d bytes: %w", n, err)
	}
	if max > 0 && n > max {
		// The digest covers the max+1 bytes read, so it is evidence of what
		// was fetched but never matches a reference.
		d.Truncated = true
	}
	if d.Truncated {
		return d, fmt.Errorf("more than %d bytes: %w", max, ErrTooLarge)
	}
	return d, nil
}

type headBuffer struct {
	buf   []byte
	limit int
}

func (b *headBuffer) Write(p []byte) (int, error) {
	if room := b.limit - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// Match is one reference a scanned item matched, and why.
type Match struct {
	RefKey  uint64  `json:"-"`
	RefID   string  `json:"ref_id"`
	RefName string  `json:"ref_name"`
	Method  string  `json:"method"`
	Score   float64 `json:"score"`
	Why     string  `json:"why,omitempty"`
}
