package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/leakwatch/leakwatch/internal/capture"
	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/storage"
)

const evidenceUsage = "usage: leakwatch evidence verify RUN | evidence export CASE FILE"

// runEvidence checks the evidence kept of crawls and exports it for counsel.
func runEvidence(ctx context.Context, e *env, args []string) error {
	fset := flag.NewFlagSet("evidence", flag.ContinueOnError)
	pos, err := e.parseFlags(fset, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 2 && pos[0] == "verify":
		return verifyEvidence(ctx, e, pos[1])
	case len(pos) == 3 && pos[0] == "export":
		return exportEvidence(ctx, e, pos[1], pos[2])
	}
	return errors.New(evidenceUsage)
}

// verifyEvidence re-checks one run's WARC records, Merkle root and token.
func verifyEvidence(ctx context.Context, e *env, arg string) error {
	runID, err := strconv.ParseUint(strings.TrimPrefix(arg, "run-"), 10, 64)
	if err != nil || runID == 0 {
		return fmt.Errorf("evidence verify: %q is not a run number", arg)
	}
	if _, err := e.loadConfig(false); err != nil {
		return err
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	probs, re, err := capture.VerifyRun(ctx, store, e.cfg.DataDir, runID)
	if err != nil {
		return fmt.Errorf("evidence verify: %w", err)
	}
	printProblems(e, "", probs)
	stamp := "no timestamp"
	if re.Run.StampedAt != nil {
		stamp = fmt.Sprintf("timestamped %s by %s", re.Run.StampedAt.UTC().Format("2006-01-02T15:04:05Z"), re.Run.TSAURL)
	}
	if len(probs) > 0 {
		return fmt.Errorf("evidence of run %d does not verify: %d problems", runID, len(probs))
	}
	fmt.Fprintf(e.stdout, "run %d: %d captures, %d WARC records verified; Merkle root %s (%s)\n",
		runID, len(re.Captures), len(re.Records), re.Run.MerkleRoot, stamp)
	return nil
}

func printProblems(e *env, prefix string, probs []capture.Problem) {
	for _, p := range probs {
		where := p.File
		if p.RecordID != "" {
			where = fmt.Sprintf("%s@%d %s", p.File, p.Offset, p.RecordID)
		}
		fmt.Fprintf(e.stdout, "FAIL %s%s: %s %s\n", prefix, p.Kind, where, p.Detail)
	}
}

// The case-level index of an exported bundle.
const (
	caseIndexFormat = "leakwatch-case-evidence/1"
	caseIndexName   = "case.json"
)

// caseIndex is case.json: which captures the case is about, where their
// records are, and the runs (each with its own evidence manifest) they
// belong to. It names no reference data.
type caseIndex struct {
	Format     string        `json:"format"`
	CaseID     uint64        `json:"case_id"`
	Target     string        `json:"target"`
	OpenedAt   time.Time     `json:"opened_at"`
	ExportedAt time.Time     `json:"exported_at"`
	Runs       []caseRun     `json:"runs"`
	Captures   []caseCapture `json:"captures"`
}

// caseRun is one crawl run in the bundle. Its manifest lists every WARC
// record of the run (the Merkle root and token are over all of them), not
// only the case's.
type caseRun struct {
	RunID      uint64     `json:"run_id"`
	SourceID   uint64     `json:"source_id"`
	StartedAt  time.Time  `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Manifest   string     `json:"manifest"`
	Records    int        `json:"records"`
	MerkleRoot string     `json:"merkle_root"`
	// Sealed is false for a run that was never sealed (still running, or
	// crawled without evidence sealing): its root was computed at export.
	Sealed         bool       `json:"sealed"`
	TSAURL         string     `json:"tsa_url,omitempty"`
	TimestampToken string     `json:"timestamp_token,omitempty"`
	TimestampTime  *time.Time `json:"timestamp_time,omitempty"`
	WARCFiles      []string   `json:"warc_files"`
}

// caseCapture is one capture behind the case's hits.
type caseCapture struct {
	CaptureID uint64    `json:"capture_id"`
	RunID     uint64    `json:"run_id"`
	URL       string    `json:"url"`
	FinalURL  string    `json:"final_url,omitempty"`
	FetchedAt time.Time `json:"fetched_at"`
	Status    int       `json:"status"`
	SHA256    string    `json:"sha256"`
	Size      int64     `json:"size"`
	Truncated bool      `json:"truncated,omitempty"`
	// WARC locates the response record (nil: no record was kept).
	WARC *evidence.Record `json:"warc,omitempty"`
	// MerkleIndex is the record's leaf in its run's tree (its position in
	// the run manifest's captures), of MerkleSize leaves; InclusionProof is
	// the RFC 6962 audit path (hex) from that leaf to the run's root.
	MerkleIndex    *int     `json:"merkle_index,omitempty"`
	MerkleSize     int      `json:"merkle_size,omitempty"`
	InclusionProof []string `json:"inclusion_proof,omitempty"`
}

// exportRun is a run's manifest and where it goes in the bundle.
type exportRun struct {
	dir      string // bundle directory of the manifest and token, "run-N"
	manifest evidence.Manifest
	files    []string // WARC files, relative to the evidence directory
}

// exportEvidence writes the evidence behind a case to a tar.gz for counsel.
func exportEvidence(ctx context.Context, e *env, ref, out string) error {
	if _, err := e.loadConfig(false); err != nil {
		return err
	}
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("evidence export: %s already exists; not overwriting it", out)
	}
	store, err := e.openStore(ctx)
	if err != nil {
		return err
	}
	cs, err := store.CaseByRef(ctx, ref)
	if err != nil {
		return fmt.Errorf("evidence export: %w", err)
	}
	caps, err := store.CapturesForCase(ctx, cs.ID)
	if err != nil {
		return fmt.Errorf("evidence export: %w", err)
	}
	if len(caps) == 0 {
		return fmt.Errorf("evidence export: case %d has no hits", cs.ID)
	}
	now := time.Now().UTC().Truncate(time.Second)
	idx, runs, err := buildCaseExport(ctx, e, store, cs, caps, now)
	if err != nil {
		return err
	}
	sum, err := writeFileAtomic(out, func(w io.Writer) error {
		return writeCaseBundle(w, capture.EvidenceDir(e.cfg.DataDir), idx, runs, now)
	})
	if err != nil {
		return fmt.Errorf("evidence export: %w", err)
	}
	var withRecord int
	for _, c := range idx.Captures {
		if c.WARC != nil {
			withRecord++
		}
	}
	detail := fmt.Sprintf("%d captures (%d with WARC records) from %d runs; bundle sha256 %s", len(idx.Captures), withRecord, len(runs), sum)
	if err := store.Audit(ctx, cliActor(), "evidence.export", fmt.Sprintf("case:%d", cs.ID), detail); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "case %d (%s): %d captures, %d with WARC records, from %d run(s)\n", cs.ID, cs.Target, len(idx.Captures), withRecord, len(runs))
	for _, r := range idx.Runs {
		stamp := "not timestamped"
		switch {
		case !r.Sealed:
			stamp = "NOT SEALED: root computed now, not timestamped"
		case r.TimestampTime != nil:
			stamp = fmt.Sprintf("timestamped %s by %s", r.TimestampTime.Format("2006-01-02T15:04:05Z"), r.TSAURL)
		}
		fmt.Fprintf(e.stdout, "  run %d: %d WARC records in %d files, Merkle root %s (%s)\n", r.RunID, r.Records, len(r.WARCFiles), r.MerkleRoot, stamp)
	}
	if n := len(idx.Captures) - withRecord; n > 0 {
		fmt.Fprintf(e.stdout, "  %d captures have no WARC record (captured before evidence was kept)\n", n)
	}
	fmt.Fprintf(e.stdout, "wrote %s (sha256 %s)\n", out, sum)
	return nil
}

// buildCaseExport verifies the runs of the case's captures and builds the
// case index and one manifest per run that kept WARC records.
func buildCaseExport(ctx context.Context, e *env, store *storage.Store, cs storage.Case, caps []storage.Capture, now time.Time) (caseIndex, []exportRun, error) {
	idx := caseIndex{Format: caseIndexFormat, CaseID: cs.ID, Target: cs.Target, OpenedAt: cs.OpenedAt.UTC(), ExportedAt: now,
		Runs: []caseRun{}, Captures: []caseCapture{}}
	var runs []exportRun
	var failed int
	for i := 0; i < len(caps); {
		runID := caps[i].RunID
		j := i
		for j < len(caps) && caps[j].RunID == runID {
			j++
		}
		ofRun := caps[i:j]
		i = j

		probs, re, err := capture.VerifyRun(ctx, store, e.cfg.DataDir, runID)
		if err != nil {
			return idx, nil, fmt.Errorf("evidence export: %w", err)
		}
		sealed := re.Run.MerkleRoot != ""
		if !sealed {
			probs = dropNeverSealed(probs)
		}
		if len(probs) > 0 {
			printProblems(e, fmt.Sprintf("run %d ", runID), probs)
			failed += len(probs)
			continue
		}

		// The run's manifest: all its records, in capture order.
		m := evidence.Manifest{Format: evidence.ManifestFormat, RunID: capture.EvidenceRunID(runID), CreatedAt: now, Captures: []evidence.Capture{}}
		leaf := map[uint64]int{}
		k := 0
		for _, c := range re.Captures {
			if c.Evidence == "" {
				continue
			}
			leaf[c.ID] = k
			m.Captures = append(m.Captures, evidence.Capture{URL: c.URL, FinalURL: c.FinalURL, StartedAt: c.FetchedAt.UTC(), Status: c.Status, Record: re.Records[k]})
			k++
		}
		for _, c := range ofRun {
			cc := caseCapture{CaptureID: c.ID, RunID: runID, URL: c.URL, FinalURL: c.FinalURL, FetchedAt: c.FetchedAt.UTC(),
				Status: c.Status, SHA256: c.SHA256, Size: c.Size, Truncated: c.Truncated}
			if n, ok := leaf[c.ID]; ok {
				rec := m.Captures[n].Record
				cc.WARC, cc.MerkleIndex, cc.MerkleSize = &rec, &n, len(m.Captures)
			}
			idx.Captures = append(idx.Captures, cc)
		}
		if len(m.Captures) == 0 {
			continue // nothing of this run was kept as WARC
		}
		root, err := m.ComputeRoot()
		if err != nil {
			return idx, nil, fmt.Errorf("evidence export: run %d: %w", runID, err)
		}
		digests, _ := m.Digests()
		for n := range idx.Captures {
			cc := &idx.Captures[n]
			if cc.RunID != runID || cc.MerkleIndex == nil {
				continue
			}
			proof, err := evidence.InclusionProof(digests, *cc.MerkleIndex)
			if err != nil {
				return idx, nil, fmt.Errorf("evidence export: run %d: %w", runID, err)
			}
			cc.InclusionProof = []string{}
			for _, p := range proof {
				cc.InclusionProof = append(cc.InclusionProof, hex.EncodeToString(p))
			}
		}
		er := exportRun{dir: capture.EvidenceRunID(runID), manifest: m}
		cr := caseRun{RunID: runID, SourceID: re.Run.SourceID, StartedAt: re.Run.StartedAt.UTC(), FinishedAt: re.Run.FinishedAt,
			Manifest: path.Join(er.dir, evidence.BundleManifestName), Records: len(m.Captures), MerkleRoot: m.MerkleRoot, Sealed: sealed}
		if re.Run.TSAToken != "" {
			// VerifyRun checked the token; its own time is the one that counts.
			tok, err := base64.StdEncoding.DecodeString(re.Run.TSAToken)
			if err != nil {
				return idx, nil, fmt.Errorf("evidence export: run %d: timestamp token: %w", runID, err)
			}
			at, err := evidence.VerifyToken(tok, root)
			if err != nil {
				return idx, nil, fmt.Errorf("evidence export: run %d: %w", runID, err)
			}
			er.manifest.TimestampToken, er.manifest.TSAURL, er.manifest.TimestampTime = tok, re.Run.TSAURL, at
			cr.TSAURL, cr.TimestampTime = re.Run.TSAURL, &at
			cr.TimestampToken = path.Join(er.dir, evidence.BundleTokenName)
		}
		seen := map[string]bool{}
		for _, c := range m.Captures {
			if !seen[c.File] {
				seen[c.File] = true
				er.files = append(er.files, c.File)
			}
		}
		cr.WARCFiles = er.files
		if cr.FinishedAt != nil {
			t := cr.FinishedAt.UTC()
			cr.FinishedAt = &t
		}
		idx.Runs = append(idx.Runs, cr)
		runs = append(runs, er)
	}
	if failed > 0 {
		return idx, nil, fmt.Errorf("evidence export: the evidence of case %d does not verify: %d problems; nothing exported", cs.ID, failed)
	}
	if len(runs) == 0 {
		return idx, nil, fmt.Errorf("evidence export: no WARC evidence was kept of case %d's %d captures", cs.ID, len(caps))
	}
	return idx, runs, nil
}

// dropNeverSealed removes VerifyRun's "never sealed" finding.
func dropNeverSealed(probs []capture.Problem) []capture.Problem {
	var out []capture.Problem
	for _, p := range probs {
		if p.Kind == "seal" && strings.Contains(p.Detail, "never sealed") {
			continue
		}
		out = append(out, p)
	}
	return out
}

// writeCaseBundle writes the tar.gz: case.json; per run, <run>/manifest.json
// (an evidence.Manifest), the WARC files under their paths relative to the
// evidence directory (so the unpacked bundle is an evidence directory for
// evidence.VerifyManifest) and <run>/timestamp-token.der; and SHA256SUMS
// over all of them, in sha256sum(1) format, last.
func writeCaseBundle(w io.Writer, evDir string, idx caseIndex, runs []exportRun, now time.Time) error {
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	var sums bytes.Buffer
	names := map[string]bool{evidence.BundleSumsName: true}
	claim := func(name string) error {
		if names[name] {
			return fmt.Errorf("two bundle members named %s", name)
		}
		names[name] = true
		return nil
	}
	addBytes := func(name string, b []byte) error {
		if err := claim(name); err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: now, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
		s := sha256.Sum256(b)
		fmt.Fprintf(&sums, "%x  %s\n", s, name)
		return nil
	}
	addJSON := func(name string, v any) error {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false) // record ids are <urn:uuid:…>
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			return err
		}
		return addBytes(name, b.Bytes())
	}

	if err := addJSON(caseIndexName, idx); err != nil {
		return err
	}
	for _, r := range runs {
		if err := addJSON(path.Join(r.dir, evidence.BundleManifestName), r.manifest); err != nil {
			return err
		}
		for _, f := range r.files {
			if f == "" || !filepath.IsLocal(filepath.FromSlash(f)) || path.Clean(f) != f {
				return fmt.Errorf("run %s names invalid WARC file %q", r.manifest.RunID, f)
			}
			if err := claim(f); err != nil {
				return err
			}
			sum, err := addFile(tw, filepath.Join(evDir, filepath.FromSlash(f)), f)
			if err != nil {
				return err
			}
			fmt.Fprintf(&sums, "%s  %s\n", sum, f)
		}
		if len(r.manifest.TimestampToken) > 0 {
			if err := addBytes(path.Join(r.dir, evidence.BundleTokenName), r.manifest.TimestampToken); err != nil {
				return err
			}
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: evidence.BundleSumsName, Mode: 0o644, Size: int64(sums.Len()), ModTime: now, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
		return err
	}
	if _, err := tw.Write(sums.Bytes()); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// addFile streams one file into the tar and returns its hex SHA-256. A WARC
// file still being appended to is copied up to its size when opened, which
// holds every record already in the database.
func addFile(tw *tar.Writer, src, name string) (string, error) {
	f, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file", src)
	}
	hdr := &tar.Header{Name: name, Mode: 0o644, Size: st.Size(), ModTime: st.ModTime().UTC().Truncate(time.Second), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return "", err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tw, h), io.LimitReader(f, st.Size()))
	if err != nil {
		return "", err
	}
	if n != st.Size() {
		return "", fmt.Errorf("%s shrank while being bundled", src)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeFileAtomic writes path through a temporary file in its directory
// (mode 0600) and renames it into place once complete, so a failed export
// leaves no partial bundle. It returns the file's hex SHA-256.
func writeFileAtomic(dst string, write func(io.Writer) error) (string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return "", err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	if err := write(io.MultiWriter(tmp, h)); err != nil {
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if _, err := os.Lstat(dst); err == nil {
		return "", fmt.Errorf("%s appeared while exporting; not overwriting it", dst)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", err
	}
	done = true
	return hex.EncodeToString(h.Sum(nil)), nil
}
