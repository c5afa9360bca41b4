package e2e

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/internal/testkit/tsa"
)

// exportedCase is the part of case.json the test reads.
type exportedCase struct {
	Format string `json:"format"`
	CaseID uint64 `json:"case_id"`
	Target string `json:"target"`
	Runs   []struct {
		RunID          uint64     `json:"run_id"`
		Manifest       string     `json:"manifest"`
		Records        int        `json:"records"`
		MerkleRoot     string     `json:"merkle_root"`
		Sealed         bool       `json:"sealed"`
		TSAURL         string     `json:"tsa_url"`
		TimestampToken string     `json:"timestamp_token"`
		TimestampTime  *time.Time `json:"timestamp_time"`
		WARCFiles      []string   `json:"warc_files"`
	} `json:"runs"`
	Captures []struct {
		CaptureID      uint64           `json:"capture_id"`
		RunID          uint64           `json:"run_id"`
		URL            string           `json:"url"`
		Status         int              `json:"status"`
		SHA256         string           `json:"sha256"`
		Truncated      bool             `json:"truncated"`
		WARC           *evidence.Record `json:"warc"`
		MerkleIndex    *int             `json:"merkle_index"`
		MerkleSize     int              `json:"merkle_size"`
		InclusionProof []string         `json:"inclusion_proof"`
	} `json:"captures"`
}

// TestEvidenceExport crawls the leak forum with a (local) time-stamping
// authority configured and leakwatch up running, so the hits open a case,
// exports the case's evidence for counsel and checks the bundle the way
// counsel would: every member against SHA256SUMS, each run's manifest with
// evidence.VerifyManifest (WARC records, Merkle root, RFC 3161 token), each
// of the case's captures by its inclusion proof; and that it names no
// reference data.
func TestEvidenceExport(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test starts the Temporal server")
	}
	h := newHarness(t, harnessOptions{})
	tsaURL := tsa.Start(t)
	f, err := os.OpenFile(h.cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Evidence is encrypted at rest to a key made by the CLI.
	keyFile := filepath.Join(h.dir, "evidence.key")
	if out := h.mustCLI("", "evidence", "keygen", keyFile); !strings.Contains(out, "public key: age1") {
		t.Fatalf("evidence keygen:\n%s", out)
	}
	fmt.Fprintf(f, "evidence:\n  tsa_url: %s\n  key_file: %s\n", tsaURL, keyFile)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	h.mustCLI("", "refs", "add", h.refsDir)
	h.mustCLI("", "sources", "add", "forum", h.siteURL, "--every", "0")
	// Without leakwatch up the hits stay queued and there is no case yet.
	if _, errOut, code := h.cli("", "evidence", "export", h.siteHost, filepath.Join(h.dir, "early.tar.gz")); code == 0 || !strings.Contains(errOut, "not found") {
		t.Fatalf("export before any case: exit %d, %q", code, errOut)
	}
	h.up()
	out := h.mustCLI("", "crawl", "forum")
	if n := delivered(t, out); n < len(h.leaked) {
		t.Fatalf("crawl delivered %d hits, want at least %d: %q", n, len(h.leaked), out)
	}
	// Delivering the hits opened the case.
	if list := h.mustCLI("", "cases", "list"); !strings.Contains(list, h.siteHost) {
		t.Fatalf("no case for %s after the crawl:\n%s", h.siteHost, list)
	}

	// At rest: only age files, none showing what was captured; without
	// the key nothing verifies, and says why.
	plain, _ := filepath.Glob(filepath.Join(h.dataDir, "evidence", "*", "*.warc.gz"))
	enc, _ := filepath.Glob(filepath.Join(h.dataDir, "evidence", "*", "*.warc.gz.age"))
	if len(plain) != 0 || len(enc) == 0 {
		t.Fatalf("evidence at rest: plain %v, encrypted %v", plain, enc)
	}
	for _, p := range enc {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("WARC/1.1")) || bytes.Contains(b, []byte(h.siteHost)) {
			t.Errorf("%s shows its content", p)
		}
	}
	noKey := h.cfgPath + ".nokey"
	cb, _ := os.ReadFile(h.cfgPath)
	os.WriteFile(noKey, bytes.ReplaceAll(cb, []byte("key_file: "+keyFile), []byte("key_file: \"\"")), 0o600)
	if stdout, _, code := h.cli("", "--config", noKey, "evidence", "verify", "1"); code == 0 || !strings.Contains(stdout, "no key") {
		t.Errorf("evidence verify without the key: exit %d\n%s", code, stdout)
	}

	bundle := filepath.Join(h.dir, "case.tar.gz")
	out = h.mustCLI("", "evidence", "export", h.siteHost, bundle)
	if !strings.Contains(out, "run 1: ") || !strings.Contains(out, "timestamped ") || !strings.Contains(out, "wrote "+bundle) {
		t.Fatalf("evidence export output:\n%s", out)
	}
	// Never over an existing file.
	if _, errOut, code := h.cli("", "evidence", "export", h.siteHost, bundle); code == 0 || !strings.Contains(errOut, "already exists") {
		t.Fatalf("second export to the same file: exit %d, %q", code, errOut)
	}
	b, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(b); !strings.Contains(out, hex.EncodeToString(sum[:])) {
		t.Errorf("export output does not give the bundle's SHA-256 %x:\n%s", sum, out)
	}

	dir := filepath.Join(h.dir, "unpacked")
	members := unpack(t, bundle, dir)
	t.Logf("evidence export:\n%sbundle members: %v", out, members)
	if members[0] != "case.json" || members[len(members)-1] != evidence.BundleSumsName {
		t.Errorf("bundle members %v: want case.json first and %s last", members, evidence.BundleSumsName)
	}
	checkSums(t, dir, members)

	var idx exportedCase
	readJSON(t, filepath.Join(dir, "case.json"), &idx)
	if idx.Format != "leakwatch-case-evidence/1" || idx.Target != h.siteHost || idx.CaseID == 0 || len(idx.Runs) != 1 || len(idx.Captures) == 0 {
		t.Fatalf("case.json: %+v", idx)
	}
	run := idx.Runs[0]
	if run.RunID != 1 || !run.Sealed || run.TSAURL != tsaURL || run.TimestampTime == nil || run.TimestampToken != "run-1/"+evidence.BundleTokenName || len(run.WARCFiles) == 0 {
		t.Fatalf("run in case.json: %+v", run)
	}
	var m evidence.Manifest
	readJSON(t, filepath.Join(dir, filepath.FromSlash(run.Manifest)), &m)
	if probs := evidence.VerifyManifest(dir, m); len(probs) != 0 {
		t.Fatalf("bundle does not verify: %v", probs)
	}
	if len(m.TimestampToken) == 0 || m.TSAURL != tsaURL || m.MerkleRoot != run.MerkleRoot || len(m.Captures) != run.Records {
		t.Fatalf("manifest: root %s, %d captures, tsa %q, %d-byte token; case.json says %+v", m.MerkleRoot, len(m.Captures), m.TSAURL, len(m.TimestampToken), run)
	}
	if tok, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(run.TimestampToken))); err != nil || string(tok) != string(m.TimestampToken) {
		t.Errorf("timestamp-token.der differs from the manifest's token (%v)", err)
	}
	// The run in the bundle is the run leakwatch sealed.
	if v := h.mustCLI("", "evidence", "verify", "1"); !strings.Contains(v, "Merkle root "+m.MerkleRoot) {
		t.Errorf("evidence verify 1 gives another root than the bundle's %s:\n%s", m.MerkleRoot, v)
	}
	// And one capture of it, on its own, under the same root.
	if c := idx.Captures[0]; true {
		v := h.mustCLI("", "evidence", "verify", fmt.Sprintf("capture-%d", c.CaptureID))
		if !strings.Contains(v, fmt.Sprintf("capture %d (run 1)", c.CaptureID)) || !strings.Contains(v, "Merkle root "+m.MerkleRoot) {
			t.Errorf("evidence verify capture-%d:\n%s", c.CaptureID, v)
		}
	}

	// Every case capture is in the stamped tree, and every leaked file is
	// among the case's captures with its WARC record.
	digests, err := m.Digests()
	if err != nil {
		t.Fatal(err)
	}
	root, _ := hex.DecodeString(m.MerkleRoot)
	bySHA := map[string]bool{}
	for _, c := range idx.Captures {
		if c.WARC == nil || c.MerkleIndex == nil || c.RunID != 1 {
			t.Errorf("capture %d (%s) has no WARC record in run 1: %+v", c.CaptureID, c.URL, c)
			continue
		}
		i := *c.MerkleIndex
		if i >= len(m.Captures) || m.Captures[i].Record != *c.WARC || m.Captures[i].URL != c.URL || c.MerkleSize != len(m.Captures) {
			t.Errorf("capture %d (%s): leaf %d of %d does not match the manifest", c.CaptureID, c.URL, i, c.MerkleSize)
			continue
		}
		var proof [][]byte
		for _, p := range c.InclusionProof {
			b, _ := hex.DecodeString(p)
			proof = append(proof, b)
		}
		if !evidence.VerifyInclusion(digests[i], i, c.MerkleSize, proof, root) {
			t.Errorf("capture %d (%s): inclusion proof does not lead to the run's root", c.CaptureID, c.URL)
		}
		if !c.Truncated && c.SHA256 != c.WARC.PayloadSHA256 {
			t.Errorf("capture %d: sha256 %s, WARC payload %s", c.CaptureID, c.SHA256, c.WARC.PayloadSHA256)
		}
		bySHA[c.SHA256] = true
	}
	for _, d := range h.leaked {
		if !bySHA[sha(h.read(d))] {
			t.Errorf("leaked file %s is not among the case's captures", d.RelPath)
		}
	}

	// No reference data: no reference's name or opaque id. The captured
	// URLs are quoted verbatim (the forum names its files after them), so
	// look past them.
	siteURLs := regexp.MustCompile(regexp.QuoteMeta(strings.TrimSuffix(h.siteURL, "/")) + `[^"]*`)
	for _, name := range []string{"case.json", run.Manifest} {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		text := siteURLs.ReplaceAllString(string(b), "<url>")
		if strings.Contains(text, `"ref_`) || strings.Contains(text, "ref_name") || strings.Contains(text, "reference") {
			t.Errorf("%s mentions references", name)
		}
		for _, d := range h.refs {
			if strings.Contains(text, d.RelPath) {
				t.Errorf("%s names reference %s", name, d.RelPath)
			}
		}
	}

	// A changed byte in the unpacked WARC evidence is caught. The byte is
	// in the middle of a capture's compressed response record: a byte
	// anywhere else in the file (a gzip header's MTIME, a warcinfo record)
	// is covered by SHA256SUMS, not by the manifest.
	warc := filepath.Join(dir, filepath.FromSlash(run.WARCFiles[0]))
	wb, err := os.ReadFile(warc)
	if err != nil {
		t.Fatal(err)
	}
	var target evidence.Record
	for _, c := range m.Captures {
		if c.Record.File == run.WARCFiles[0] && c.Record.Length > target.Length {
			target = c.Record
		}
	}
	if target.Length == 0 {
		t.Fatalf("no capture record in %s", run.WARCFiles[0])
	}
	at := target.Offset + target.Length/2
	wb[at] ^= 0x40
	if err := os.WriteFile(warc, wb, 0o600); err != nil {
		t.Fatal(err)
	}
	if probs := evidence.VerifyManifest(dir, m); len(probs) == 0 {
		t.Error("tampered bundle verifies")
	}

	// Evidence that no longer verifies is not exported (here by case id).
	orig := filepath.Join(h.dataDir, "evidence", filepath.FromSlash(run.WARCFiles[0])) + evidence.EncryptedSuffix
	ob, err := os.ReadFile(orig)
	if err != nil {
		t.Fatal(err)
	}
	ob[agePosition(int64(len(ob)), int64(len(wb)), at)] ^= 0x40
	if err := os.WriteFile(orig, ob, 0o600); err != nil {
		t.Fatal(err)
	}
	again := filepath.Join(h.dir, "again.tar.gz")
	stdout, stderr, code := h.cli("", "evidence", "export", fmt.Sprint(idx.CaseID), again)
	if code == 0 || !strings.Contains(stderr, "does not verify") || !strings.Contains(stdout, "FAIL run 1 ") {
		t.Fatalf("export of tampered evidence: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if _, err := os.Stat(again); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a bundle was written from tampered evidence: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(h.dir, ".again.tar.gz*")); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

// agePosition maps plaintext offset p of an age-encrypted file to the
// offset of its ciphertext byte: age writes a header, a 16-byte nonce, and
// the plaintext in 64 KiB chunks each followed by a 16-byte tag.
func agePosition(cipherSize, plainSize, p int64) int64 {
	const chunk, tag, nonce = 64 << 10, 16, 16
	chunks := max((plainSize+chunk-1)/chunk, 1)
	header := cipherSize - nonce - plainSize - chunks*tag
	return header + nonce + p/chunk*(chunk+tag) + p%chunk
}

// unpack extracts a tar.gz into dir and returns the member names in order.
func unpack(t *testing.T, archive, dir string) []string {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag != tar.TypeReg || !filepath.IsLocal(filepath.FromSlash(hdr.Name)) || path.Clean(hdr.Name) != hdr.Name {
			t.Fatalf("bundle member %q (type %c) is not a plain relative file", hdr.Name, hdr.Typeflag)
		}
		names = append(names, hdr.Name)
		p := filepath.Join(dir, filepath.FromSlash(hdr.Name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		out, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, tr); err != nil {
			t.Fatal(err)
		}
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// checkSums checks SHA256SUMS the way sha256sum -c would, and that it
// covers every other member.
func checkSums(t *testing.T, dir string, members []string) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, evidence.BundleSumsName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if !ok || err != nil {
			t.Errorf("SHA256SUMS line %q: %v", sc.Text(), err)
			continue
		}
		if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s: SHA-256 %x, SHA256SUMS says %s", name, got, sum)
		}
		listed[name] = true
	}
	for _, m := range members {
		if m != evidence.BundleSumsName && !listed[m] {
			t.Errorf("SHA256SUMS does not cover %s", m)
		}
	}
	if len(listed) != len(members)-1 {
		t.Errorf("SHA256SUMS lists %d files for %d members", len(listed), len(members)-1)
	}
}

func readJSON(t *testing.T, p string, v any) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
}
