package main

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/leakwatch/leakwatch/fingerprints"
)

// refs add says what it skipped as no evidence and why: counts by reason on
// stdout, each file at debug level, by path MAC under --no-names.
func TestRefsAddReportsTrivialFiles(t *testing.T) {
	dir := isolate(t)
	t.Setenv(fingerprints.KeyEnv, testFingerprintKey)
	refs := filepath.Join(dir, "refs")
	if err := os.MkdirAll(refs, 0o700); err != nil {
		t.Fatal(err)
	}
	img := image.NewGray(image.Rect(0, 0, 200, 100))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	var blank bytes.Buffer
	if err := png.Encode(&blank, img); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"empty-download.txt": nil,
		"ten-bytes.bin":      {0x8f, 1, 2, 3, 4, 5, 6, 7, 8, 9},
		"blank-scan.png":     blank.Bytes(),
		"referral.txt": []byte("Referral for Ms Hine Walker (NHI ZQR4417): persistent microcytic anaemia, ferritin 6 ug/L, " +
			"no response to oral iron over three months; please assess for coeliac disease and arrange gastroscopy."),
	} {
		if err := os.WriteFile(filepath.Join(refs, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := runCLI(t, "", dd("--log-level", "debug", "refs", "add", "--no-names", "refs")...)
	if r.code != 0 {
		t.Fatalf("refs add: code %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"indexed 4 files (1 new,", "skipped as no evidence", "3 files (1 empty, 1 too small, 1 blank or tiny image)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if n := strings.Count(r.stderr, "skipped, no evidence"); n != 3 {
		t.Errorf("%d debug lines for skipped files, want 3:\n%s", n, r.stderr)
	}
	for _, name := range []string{"empty-download", "ten-bytes", "blank-scan"} {
		if strings.Contains(r.stderr, name) {
			t.Errorf("--no-names, yet the log names %s:\n%s", name, r.stderr)
		}
	}
}
