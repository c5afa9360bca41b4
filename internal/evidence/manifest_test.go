package evidence

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/internal/testkit/tsa"
)

// runWithManifest writes a small run, closes it and returns a sealed and
// time-stamped manifest.
func runWithManifest(t *testing.T, dir string) Manifest {
	t.Helper()
	w, err := NewWriter(dir, WriterOptions{RunID: "case-7", MaxFileSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	m := Manifest{Format: ManifestFormat, RunID: w.RunID(), CreatedAt: time.Date(2025, 3, 1, 13, 0, 0, 0, time.UTC)}
	for i := range 4 {
		ex := testExchange(fmt.Sprintf("https://example.test/t/%d", i), uint64(200+i), 30_000)
		rec, err := w.WriteExchange(context.Background(), ex)
		if err != nil {
			t.Fatal(err)
		}
		m.Captures = append(m.Captures, Capture{
			URL:       ex.TargetURI,
			FinalURL:  ex.TargetURI + "?final",
			StartedAt: ex.FetchTime.Add(-time.Second),
			Status:    ex.StatusCode,
			Record:    rec,
		})
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	root, err := m.ComputeRoot()
	if err != nil {
		t.Fatal(err)
	}
	m.TSAURL = tsa.Start(t)
	if m.TimestampToken, err = Stamp(context.Background(), m.TSAURL, root, nil); err != nil {
		t.Fatal(err)
	}
	if m.TimestampTime, err = VerifyToken(m.TimestampToken, root); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestBundleRoundTrip(t *testing.T) {
	dir := t.TempDir()
	m := runWithManifest(t, dir)
	if probs := VerifyManifest(dir, m); len(probs) != 0 {
		t.Fatalf("fresh run: %v", probs)
	}

	var buf bytes.Buffer
	if err := WriteBundle(&buf, dir, m); err != nil {
		t.Fatal(err)
	}

	// Unpack into a new directory.
	out := t.TempDir()
	names, contents := unpackBundle(t, &buf, out)

	var warcs []string
	for _, c := range m.Captures {
		if len(warcs) == 0 || warcs[len(warcs)-1] != c.File {
			warcs = append(warcs, c.File)
		}
	}
	if len(warcs) < 2 {
		t.Fatalf("want captures spread over several WARC files, got %v", warcs)
	}
	want := append(append([]string{BundleManifestName}, warcs...), BundleTokenName, BundleSumsName)
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("bundle holds %v, want %v", names, want)
	}
	for _, f := range warcs {
		orig, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f)))
		if !bytes.Equal(orig, contents[f]) {
			t.Errorf("%s differs in the bundle", f)
		}
	}
	if !bytes.Equal(contents[BundleTokenName], m.TimestampToken) {
		t.Error("token differs in the bundle")
	}

	// SHA256SUMS covers every other member.
	lines := strings.Split(strings.TrimSpace(string(contents[BundleSumsName])), "\n")
	if len(lines) != len(names)-1 {
		t.Errorf("SHA256SUMS has %d lines for %d files", len(lines), len(names)-1)
	}
	for _, l := range lines {
		sum, name, ok := strings.Cut(l, "  ")
		got := sha256.Sum256(contents[name])
		if !ok || sum != hex.EncodeToString(got[:]) {
			t.Errorf("SHA256SUMS line %q does not match", l)
		}
	}

	// The manifest round-trips and verifies against the unpacked copy.
	var back Manifest
	if err := json.Unmarshal(contents[BundleManifestName], &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, m) {
		t.Errorf("manifest changed in the round trip:\n got %+v\nwant %+v", back, m)
	}
	if probs := VerifyManifest(out, back); len(probs) != 0 {
		t.Errorf("unpacked bundle: %v", probs)
	}
	if !strings.Contains(string(contents[BundleManifestName]), `"timestamp_token": "`) {
		t.Error("token is not base64 in the manifest")
	}
}

func TestVerifyManifestDetectsChanges(t *testing.T) {
	dir := t.TempDir()
	m := runWithManifest(t, dir)

	// A capture's recorded digest is edited (say, to match a doctored
	// file): the record check and the Merkle root both object.
	edited := m
	edited.Captures = append([]Capture(nil), m.Captures...)
	edited.Captures[2].PayloadSHA256 = strings.Repeat("ab", 32)
	probs := VerifyManifest(dir, edited)
	k := kinds(probs)
	if !k[ProblemPayloadDigest] || !k[ProblemManifest] {
		t.Errorf("edited digest: %v", probs)
	}

	// ... and re-sealing the root does not help: the token is for the old root.
	if _, err := edited.ComputeRoot(); err != nil {
		t.Fatal(err)
	}
	probs = VerifyManifest(dir, edited)
	found := false
	for _, p := range probs {
		if p.Kind == ProblemManifest && strings.Contains(p.Detail, "time-stamp token is for digest") {
			found = true
		}
	}
	if !found {
		t.Errorf("re-sealed root not caught by the token: %v", probs)
	}

	// Dropping or reordering captures changes the root.
	reordered := m
	reordered.Captures = []Capture{m.Captures[1], m.Captures[0], m.Captures[2], m.Captures[3]}
	if !kinds(VerifyManifest(dir, reordered))[ProblemManifest] {
		t.Error("reordered captures not reported")
	}
	dropped := m
	dropped.Captures = m.Captures[:3]
	if !kinds(VerifyManifest(dir, dropped))[ProblemManifest] {
		t.Error("dropped capture not reported")
	}

	// A WARC file touched on disk.
	path := filepath.Join(dir, filepath.FromSlash(m.Captures[0].File))
	data, _ := os.ReadFile(path)
	data[m.Captures[0].Offset+m.Captures[0].Length/2] ^= 0x10
	os.WriteFile(path, data, 0o644)
	probs = VerifyManifest(dir, m)
	if len(probs) == 0 || probs[0].RecordID != m.Captures[0].RecordID || probs[0].File != m.Captures[0].File {
		t.Errorf("touched WARC file: %v", probs)
	}
}

func TestWriteBundleRejectsEscapingPaths(t *testing.T) {
	for _, f := range []string{"../secret.warc.gz", "/etc/passwd", "", BundleManifestName} {
		m := Manifest{RunID: "x", Captures: []Capture{{URL: "https://e.test/", Record: Record{File: f}}}}
		if err := WriteBundle(io.Discard, t.TempDir(), m); err == nil {
			t.Errorf("file %q accepted", f)
		}
	}
}
