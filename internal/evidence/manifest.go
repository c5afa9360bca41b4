package evidence

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"filippo.io/age"
)

// ManifestFormat identifies the manifest layout.
const ManifestFormat = "leakwatch-evidence-manifest/1"

// Names of the fixed members of a bundle.
const (
	BundleManifestName = "manifest.json"
	BundleTokenName    = "timestamp-token.der"
	BundleSumsName     = "SHA256SUMS"
)

// Manifest describes one run's evidence. Its JSON form is what WriteBundle
// stores as manifest.json.
type Manifest struct {
	Format    string    `json:"format"`
	RunID     string    `json:"run_id"`
	CreatedAt time.Time `json:"created_at"`
	Captures  []Capture `json:"captures"`

	// MerkleRoot is the hex MerkleRoot of the captures' leaves in order
	// (see Capture.Leaf and ComputeRoot).
	MerkleRoot string `json:"merkle_root,omitempty"`
	// TimestampToken is the RFC 3161 token over the Merkle root (base64 in
	// JSON), TSAURL where it came from and TimestampTime the time it
	// asserts.
	TimestampToken []byte    `json:"timestamp_token,omitempty"`
	TSAURL         string    `json:"tsa_url,omitempty"`
	TimestampTime  time.Time `json:"timestamp_time,omitzero"`
}

// Capture is one exchange of a fetched URL in a manifest: the final one,
// or (Redirect) one of the redirects the fetch went through, listed before
// it in the order they were followed. The embedded Record holds the WARC
// location, record ids, fetch time (Date) and digests; for a redirect,
// Record.TargetURI is the URL that answered with it and URL the one the
// fetch asked for. A fetch that failed during its redirects (a loop, the
// cap) has redirects and no final exchange.
type Capture struct {
	URL       string    `json:"url"`
	FinalURL  string    `json:"final_url,omitempty"`
	StartedAt time.Time `json:"started_at,omitzero"`
	Status    int       `json:"status"`
	Redirect  bool      `json:"redirect,omitempty"`
	Record
}

// Leaf is the capture's digest in its run's Merkle tree: the payload
// SHA-256 of a final exchange, and the block digest of a redirect — a
// redirect says what it says in its status line and Location header, and
// its body is usually empty, so its payload digest would be the same for
// every hop and seal nothing. Runs from before redirects were recorded
// have no redirect leaves, so their roots are unchanged. Nil when the
// digest is malformed.
func (c Capture) Leaf() []byte {
	if !c.Redirect {
		return c.PayloadDigest()
	}
	d, err := parseDigest(c.BlockDigest)
	if err != nil {
		return nil
	}
	return d
}

// Records returns the captures' records, for Verify.
func (m *Manifest) Records() []Record {
	recs := make([]Record, len(m.Captures))
	for i, c := range m.Captures {
		recs[i] = c.Record
	}
	return recs
}

// Digests returns the captures' leaves (see Capture.Leaf) in order.
func (m *Manifest) Digests() ([][]byte, error) {
	ds := make([][]byte, len(m.Captures))
	for i, c := range m.Captures {
		if ds[i] = c.Leaf(); ds[i] == nil {
			if c.Redirect {
				return nil, fmt.Errorf("evidence: capture %d (redirect of %s): malformed block_digest %q", i, c.URL, c.BlockDigest)
			}
			return nil, fmt.Errorf("evidence: capture %d (%s): malformed payload_sha256 %q", i, c.URL, c.PayloadSHA256)
		}
	}
	return ds, nil
}

// ComputeRoot computes the Merkle root over the captures, stores it in
// m.MerkleRoot and returns it (the value to pass to Stamp).
func (m *Manifest) ComputeRoot() ([]byte, error) {
	ds, err := m.Digests()
	if err != nil {
		return nil, err
	}
	root := MerkleRoot(ds)
	m.MerkleRoot = hex.EncodeToString(root)
	return root, nil
}

// VerifyManifest runs Verify over the manifest's captures and checks that
// MerkleRoot matches them and that TimestampToken, if present, is a valid
// token over that root. Run-level problems have Kind ProblemManifest and no
// File. ids open evidence encrypted at rest.
func VerifyManifest(dir string, m Manifest, ids ...age.Identity) []Problem {
	probs := Verify(dir, m.Records(), ids...)
	add := func(format string, args ...any) {
		probs = append(probs, Problem{Kind: ProblemManifest, Detail: fmt.Sprintf(format, args...)})
	}
	ds, err := m.Digests()
	if err != nil {
		add("%v", err)
		return probs
	}
	root := MerkleRoot(ds)
	if m.MerkleRoot != hex.EncodeToString(root) {
		add("merkle_root is %q, captures give %x", m.MerkleRoot, root)
		return probs
	}
	if len(m.TimestampToken) > 0 {
		t, err := VerifyToken(m.TimestampToken, root)
		if err != nil {
			add("%v", err)
		} else if !m.TimestampTime.IsZero() && !t.Equal(m.TimestampTime) {
			add("timestamp_time is %s, token says %s", m.TimestampTime.Format(time.RFC3339Nano), t.Format(time.RFC3339Nano))
		}
	}
	return probs
}

// WriteBundle writes a tar.gz for counsel holding manifest.json, every WARC
// file the manifest references (under its path relative to dir, so the
// extracted bundle is itself an evidence directory for VerifyManifest), the
// time-stamp token as timestamp-token.der (if any), and SHA256SUMS over all
// of these in sha256sum(1) format. WARC files are streamed, not loaded;
// call it after the run's Writer is closed. Files encrypted at rest are
// decrypted into the bundle with ids.
func WriteBundle(w io.Writer, dir string, manifest Manifest, ids ...age.Identity) error {
	if manifest.Format == "" {
		manifest.Format = ManifestFormat
	}
	mj, err := json.MarshalIndent(manifest, "", "  ")
	if err != nil {
		return fmt.Errorf("evidence: encoding manifest: %w", err)
	}
	mj = append(mj, '\n')

	var files []string
	seen := map[string]bool{}
	for _, c := range manifest.Captures {
		if seen[c.File] {
			continue
		}
		if c.File == "" || !filepath.IsLocal(filepath.FromSlash(c.File)) {
			return fmt.Errorf("evidence: manifest names invalid WARC file %q", c.File)
		}
		switch c.File {
		case BundleManifestName, BundleTokenName, BundleSumsName:
			return fmt.Errorf("evidence: manifest names reserved file %q", c.File)
		}
		seen[c.File] = true
		files = append(files, c.File)
	}

	b := NewBundle(w, time.Now())
	if err := b.AddBytes(BundleManifestName, mj); err != nil {
		return err
	}
	for _, name := range files {
		if err := b.AddWARC(dir, name, name, ids...); err != nil {
			return err
		}
	}
	if len(manifest.TimestampToken) > 0 {
		if err := b.AddBytes(BundleTokenName, manifest.TimestampToken); err != nil {
			return err
		}
	}
	return b.Close()
}
