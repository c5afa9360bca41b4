package fingerprints

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestSum(t *testing.T) {
	data := []byte("%PDF-1.4\nsynthetic lab result for ZAC5361\n%%EOF\n")
	want := sha256.Sum256(data)
	d, err := Sum(bytes.NewReader(data), 0)
	if err != nil {
		t.Fatal(err)
	}
	if d.SHA256 != hex.EncodeToString(want[:]) || d.Size != int64(len(data)) || d.Truncated {
		t.Fatalf("Sum = %+v", d)
	}
	if d.Sniffed != "application/pdf" {
		t.Errorf("sniffed %q, want application/pdf", d.Sniffed)
	}
}

func TestSumCap(t *testing.T) {
	data := strings.Repeat("x", 1000)
	d, err := Sum(strings.NewReader(data), 100)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if !d.Truncated || d.Size != 101 {
		t.Fatalf("digest = %+v, want truncated after 101 bytes", d)
	}
	// Exactly at the cap is not truncation.
	d, err = Sum(strings.NewReader(data[:100]), 100)
	if err != nil || d.Truncated {
		t.Fatalf("at cap: %+v, %v", d, err)
	}
}

func BenchmarkSum(b *testing.B) {
	data := bytes.Repeat([]byte("synthetic clinical note "), 1<<16)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Sum(bytes.NewReader(data), 0); err != nil {
			b.Fatal(err)
		}
	}
}

// A read that fails part-way still yields the digest of what was read.
func TestSumReadErrorKeepsPrefixDigest(t *testing.T) {
	prefix := []byte("the first bytes of a download that stalled")
	d, err := Sum(io.MultiReader(bytes.NewReader(prefix), iotest.ErrReader(errors.New("stalled"))), 0)
	want := sha256.Sum256(prefix)
	if err == nil || d.Size != int64(len(prefix)) || d.SHA256 != hex.EncodeToString(want[:]) || d.Truncated {
		t.Fatalf("Sum = %+v, %v; want the prefix's digest and the error", d, err)
	}
}
