package capture

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/storage"
)

// The case-level index of an exported bundle.
const (
	CaseIndexFormat = "leakwatch-case-evidence/1"
	CaseIndexName   = "case.json"
)

// CaseIndex is case.json: which captures the case is about, where their
// records are, and the runs (each with its own evidence manifest) they
// belong to. It names no reference data.
type CaseIndex struct {
	Format     string        `json:"format"`
	CaseID     uint64        `json:"case_id"`
	Target     string        `json:"target"`
	OpenedAt   time.Time     `json:"opened_at"`
	ExportedAt time.Time     `json:"exported_at"`
	Runs       []CaseRun     `json:"runs"`
	Captures   []CaseCapture `json:"captures"`
}

// CaseRun is one crawl run in the bundle. Its manifest lists every WARC
// record of the run (the Merkle root and token are over all of them), not
// only the case's; Records counts them, redirects included.
type CaseRun struct {
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
	// ContentRemoved is when retention removed the run's WARC files
	// (under RetentionPolicy): the manifest, digests and seal are in the
	// bundle, the content is not.
	ContentRemoved  *time.Time `json:"content_removed,omitempty"`
	RetentionPolicy string     `json:"retention_policy,omitempty"`
}

// CaseCapture is one capture behind the case's hits.
type CaseCapture struct {
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
	// Redirects are the redirects the fetch went through, oldest first,
	// each with its own record and leaf (of the same tree, MerkleSize
	// leaves) when it was kept.
	Redirects []CaseRedirect `json:"redirects,omitempty"`
}

// CaseRedirect is one redirect of a case's capture.
type CaseRedirect struct {
	URL            string           `json:"url"`
	Status         int              `json:"status,omitempty"`
	Location       string           `json:"location,omitempty"`
	WARC           *evidence.Record `json:"warc,omitempty"`
	MerkleIndex    *int             `json:"merkle_index,omitempty"`
	InclusionProof []string         `json:"inclusion_proof,omitempty"`
}

// runBundle is a run's manifest and where it goes in the bundle.
type runBundle struct {
	dir      string // bundle directory of the manifest and token, "run-N"
	manifest evidence.Manifest
	files    []string // WARC files, relative to the evidence directory
}

// BuildCaseExport verifies the runs of a case's captures (caps, ordered by
// run; storage.Store.CapturesForCase) and builds the case index and one
// manifest per run that kept WARC records. When a run does not verify,
// nothing is built and the problems are returned by run.
func BuildCaseExport(ctx context.Context, store *storage.Store, dataDir string, cs storage.Case, caps []storage.Capture, now time.Time, ids ...age.Identity) (*CaseExport, map[uint64][]Problem, error) {
	idx := CaseIndex{Format: CaseIndexFormat, CaseID: cs.ID, Target: cs.Target, OpenedAt: cs.OpenedAt.UTC(), ExportedAt: now,
		Runs: []CaseRun{}, Captures: []CaseCapture{}}
	var runs []runBundle
	var failed int
	bad := map[uint64][]Problem{}
	for i := 0; i < len(caps); {
		runID := caps[i].RunID
		j := i
		for j < len(caps) && caps[j].RunID == runID {
			j++
		}
		ofRun := caps[i:j]
		i = j

		probs, re, err := VerifyRun(ctx, store, dataDir, runID, ids...)
		if err != nil {
			return nil, nil, fmt.Errorf("%w", err)
		}
		sealed := re.Run.MerkleRoot != ""
		if !sealed {
			probs = dropNeverSealed(probs)
		}
		if len(probs) > 0 {
			bad[runID] = probs
			failed += len(probs)
			continue
		}

		// The run's manifest: all its records, in capture order, each
		// capture's redirects before its final exchange.
		m := evidence.Manifest{Format: evidence.ManifestFormat, RunID: EvidenceRunID(runID), CreatedAt: now, Captures: []evidence.Capture{}}
		m.Captures = append(m.Captures, re.Entries...)
		finalLeaf, hopLeaves := map[uint64]int{}, map[uint64][]int{}
		for n, e := range re.Entries {
			if id := re.EntryOf[n]; e.Redirect {
				hopLeaves[id] = append(hopLeaves[id], n)
			} else {
				finalLeaf[id] = n
			}
		}
		for _, c := range ofRun {
			cc := CaseCapture{CaptureID: c.ID, RunID: runID, URL: c.URL, FinalURL: c.FinalURL, FetchedAt: c.FetchedAt.UTC(),
				Status: c.Status, SHA256: c.SHA256, Size: c.Size, Truncated: c.Truncated}
			if n, ok := finalLeaf[c.ID]; ok {
				rec := m.Captures[n].Record
				cc.WARC, cc.MerkleIndex = &rec, &n
			}
			leaves := hopLeaves[c.ID] // in order, one per hop that kept a record
			for _, h := range re.Hops[c.ID] {
				cr := CaseRedirect{URL: h.URL, Status: h.Status, Location: h.Location, WARC: h.WARC}
				if h.WARC != nil && len(leaves) > 0 {
					n := leaves[0]
					leaves = leaves[1:]
					cr.MerkleIndex = &n
				}
				cc.Redirects = append(cc.Redirects, cr)
			}
			if _, ok := finalLeaf[c.ID]; ok || len(hopLeaves[c.ID]) > 0 {
				cc.MerkleSize = len(m.Captures)
			}
			idx.Captures = append(idx.Captures, cc)
		}
		if len(m.Captures) == 0 {
			continue // nothing of this run was kept as WARC
		}
		root, err := m.ComputeRoot()
		if err != nil {
			return nil, nil, fmt.Errorf("run %d: %w", runID, err)
		}
		digests, _ := m.Digests()
		proofOf := func(n int) ([]string, error) {
			proof, err := evidence.InclusionProof(digests, n)
			if err != nil {
				return nil, fmt.Errorf("run %d: %w", runID, err)
			}
			out := []string{}
			for _, p := range proof {
				out = append(out, hex.EncodeToString(p))
			}
			return out, nil
		}
		for n := range idx.Captures {
			cc := &idx.Captures[n]
			if cc.RunID != runID {
				continue
			}
			if cc.MerkleIndex != nil {
				if cc.InclusionProof, err = proofOf(*cc.MerkleIndex); err != nil {
					return nil, nil, err
				}
			}
			for k := range cc.Redirects {
				if cr := &cc.Redirects[k]; cr.MerkleIndex != nil {
					if cr.InclusionProof, err = proofOf(*cr.MerkleIndex); err != nil {
						return nil, nil, err
					}
				}
			}
		}
		er := runBundle{dir: EvidenceRunID(runID), manifest: m}
		cr := CaseRun{RunID: runID, SourceID: re.Run.SourceID, StartedAt: re.Run.StartedAt.UTC(), FinishedAt: re.Run.FinishedAt,
			Manifest: path.Join(er.dir, evidence.BundleManifestName), Records: len(m.Captures), MerkleRoot: m.MerkleRoot, Sealed: sealed}
		if re.Run.TSAToken != "" {
			// VerifyRun checked the token; its own time is the one that counts.
			tok, err := base64.StdEncoding.DecodeString(re.Run.TSAToken)
			if err != nil {
				return nil, nil, fmt.Errorf("run %d: timestamp token: %w", runID, err)
			}
			at, err := evidence.VerifyToken(tok, root)
			if err != nil {
				return nil, nil, fmt.Errorf("run %d: %w", runID, err)
			}
			er.manifest.TimestampToken, er.manifest.TSAURL, er.manifest.TimestampTime = tok, re.Run.TSAURL, at
			cr.TSAURL, cr.TimestampTime = re.Run.TSAURL, &at
			cr.TimestampToken = path.Join(er.dir, evidence.BundleTokenName)
		}
		seen := map[string]bool{}
		if rm := re.Removed; rm != nil {
			at := rm.MarkedAt.UTC()
			if rm.RemovedAt != nil {
				at = rm.RemovedAt.UTC()
			}
			cr.ContentRemoved, cr.RetentionPolicy = &at, rm.Policy
		}
		for _, c := range m.Captures {
			if !seen[c.File] && re.Removed == nil { // removed: the manifest goes, no file
				seen[c.File] = true
				er.files = append(er.files, c.File)
			}
		}
		cr.WARCFiles = append([]string{}, er.files...)
		if cr.FinishedAt != nil {
			t := cr.FinishedAt.UTC()
			cr.FinishedAt = &t
		}
		idx.Runs = append(idx.Runs, cr)
		runs = append(runs, er)
	}
	if failed > 0 {
		return nil, bad, fmt.Errorf("the evidence of case %d does not verify: %d problems; nothing exported", cs.ID, failed)
	}
	if len(runs) == 0 {
		return nil, nil, fmt.Errorf("no WARC evidence was kept of case %d's %d captures", cs.ID, len(caps))
	}
	return &CaseExport{Index: idx, runs: runs}, nil, nil
}

// dropNeverSealed removes VerifyRun's "never sealed" finding.
func dropNeverSealed(probs []Problem) []Problem {
	var out []Problem
	for _, p := range probs {
		if p.Kind == "seal" && strings.Contains(p.Detail, "never sealed") {
			continue
		}
		out = append(out, p)
	}
	return out
}

// CaseExport is the evidence behind one case, ready to bundle.
type CaseExport struct {
	Index CaseIndex
	runs  []runBundle
}

// WriteBundle writes the tar.gz: case.json; per run, <run>/manifest.json
// (an evidence.Manifest), the WARC files under their paths relative to the
// evidence directory (so the unpacked bundle is an evidence directory for
// evidence.VerifyManifest; decrypted with ids if encrypted at rest) and
// <run>/timestamp-token.der; and SHA256SUMS over all of them, last.
func (x *CaseExport) WriteBundle(w io.Writer, evidenceDir string, ids ...age.Identity) error {
	b := evidence.NewBundle(w, x.Index.ExportedAt)
	if err := b.AddJSON(CaseIndexName, x.Index); err != nil {
		return err
	}
	for _, r := range x.runs {
		if err := b.AddJSON(path.Join(r.dir, evidence.BundleManifestName), r.manifest); err != nil {
			return err
		}
		for _, f := range r.files {
			if err := b.AddWARC(evidenceDir, f, f, ids...); err != nil {
				return err
			}
		}
		if len(r.manifest.TimestampToken) > 0 {
			if err := b.AddBytes(path.Join(r.dir, evidence.BundleTokenName), r.manifest.TimestampToken); err != nil {
				return err
			}
		}
	}
	return b.Close()
}
