package match

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/leakwatch/leakwatch/fingerprints"
)

// TestAnalyzerPDFToText: Options.PDFToText reaches the extractor. A stand-in
// script plays pdftotext, so the test needs no poppler and is the same
// everywhere; the zero Options run no external program.
func TestAnalyzerPDFToText(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("needs /bin/sh")
	}
	key, err := fingerprints.NewKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	const said = "Text only the stand-in pdftotext can read, long enough to fingerprint."
	script := filepath.Join(t.TempDir(), "pdftotext")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ncat >/dev/null\necho '"+said+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A PDF header and nothing the library can open.
	broken := []byte("%PDF-1.4\nnot really a PDF\n%%EOF\n")

	analyze := func(opts Options) Features {
		t.Helper()
		var got []Features
		err := NewAnalyzer(key, opts).Analyze(context.Background(), "x.pdf", broken, Query, func(f Features) error {
			got = append(got, f)
			return nil
		})
		if err != nil || len(got) != 1 {
			t.Fatalf("Analyze: %v, %d items", err, len(got))
		}
		return got[0]
	}

	f := analyze(Options{PDFToText: script})
	if f.Err != nil || f.TextLen == 0 || f.TextDigest == "" {
		t.Errorf("with pdftotext: err %v, %d characters of text", f.Err, f.TextLen)
	}
	if !slices.ContainsFunc(f.Warnings, func(w string) bool { return strings.Contains(w, "using pdftotext") }) {
		t.Errorf("with pdftotext: warnings %q", f.Warnings)
	}

	f = analyze(Options{})
	if f.Err == nil || f.TextLen != 0 {
		t.Errorf("zero Options: err %v, %d characters of text; want the library's error and no text", f.Err, f.TextLen)
	}
	if slices.ContainsFunc(f.Warnings, func(w string) bool { return strings.Contains(w, "pdftotext") }) {
		t.Errorf("zero Options ran pdftotext: warnings %q", f.Warnings)
	}
}
