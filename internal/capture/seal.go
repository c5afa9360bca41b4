package capture

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/storage"
)

// EvidenceDir is where a data directory keeps its WARC files.
func EvidenceDir(dataDir string) string { return filepath.Join(dataDir, "evidence") }

// EvidenceRunID names a crawl run's WARC files.
func EvidenceRunID(runID uint64) string { return fmt.Sprintf("run-%d", runID) }

// RunEvidence is a run's captures with their WARC records, in capture order.
type RunEvidence struct {
	Run      storage.CrawlRun
	Captures []storage.Capture
	Records  []evidence.Record // of the captures that have one, in order
}

// LoadRunEvidence reads a run's captures and decodes their evidence.
func LoadRunEvidence(ctx context.Context, store *storage.Store, runID uint64) (RunEvidence, error) {
	run, err := store.RunByID(ctx, runID)
	if err != nil {
		return RunEvidence{}, err
	}
	caps, err := store.CapturesOfRun(ctx, runID)
	if err != nil {
		return RunEvidence{}, err
	}
	re := RunEvidence{Run: run, Captures: caps}
	for _, c := range caps {
		if c.Evidence == "" {
			continue
		}
		var r evidence.Record
		if err := json.Unmarshal([]byte(c.Evidence), &r); err != nil {
			return re, fmt.Errorf("capture %d: evidence record: %w", c.ID, err)
		}
		re.Records = append(re.Records, r)
	}
	return re, nil
}

// Root is the Merkle root over the records' payload digests.
func (re RunEvidence) Root() []byte {
	digests := make([][]byte, len(re.Records))
	for i, r := range re.Records {
		digests[i] = r.PayloadDigest()
	}
	return evidence.MerkleRoot(digests)
}

// Seal computes a finished run's Merkle root and, when tsaURL is set, has
// it timestamped (RFC 3161), and records both. A TSA that cannot be
// reached leaves the run sealed without a token, and says so.
func Seal(ctx context.Context, store *storage.Store, runID uint64, tsaURL string, client *http.Client) error {
	re, err := LoadRunEvidence(ctx, store, runID)
	if err != nil {
		return err
	}
	root := re.Root()
	var token string
	var stamped *time.Time
	var stampErr error
	if tsaURL != "" && len(re.Records) > 0 {
		tok, err := evidence.Stamp(ctx, tsaURL, root, client)
		if err == nil {
			var at time.Time
			if at, err = evidence.VerifyToken(tok, root); err == nil {
				token, stamped = base64.StdEncoding.EncodeToString(tok), &at
			}
		}
		if err != nil {
			stampErr = fmt.Errorf("timestamp run %d at %s: %w", runID, tsaURL, err)
			tsaURL = ""
		}
	}
	if err := store.SealRun(ctx, runID, hex.EncodeToString(root), tsaURL, token, stamped); err != nil {
		return errors.Join(stampErr, err)
	}
	return stampErr
}

// Problem is one thing wrong with a run's evidence.
type Problem = evidence.Problem

// VerifyRun re-reads every WARC record of a run and checks its digests, the
// run's Merkle root and its timestamp token.
func VerifyRun(ctx context.Context, store *storage.Store, dataDir string, runID uint64) ([]Problem, RunEvidence, error) {
	re, err := LoadRunEvidence(ctx, store, runID)
	if err != nil {
		return nil, re, err
	}
	probs := evidence.Verify(EvidenceDir(dataDir), re.Records)
	for i, c := range re.Captures {
		if c.Evidence == "" {
			continue
		}
		var r evidence.Record
		_ = json.Unmarshal([]byte(c.Evidence), &r)
		if c.SHA256 != "" && !c.Truncated && r.PayloadSHA256 != c.SHA256 {
			probs = append(probs, Problem{File: r.File, Offset: r.Offset, RecordID: r.RecordID, Kind: "capture",
				Detail: fmt.Sprintf("capture %d (#%d of the run): recorded SHA-256 %s, WARC payload %s", c.ID, i+1, c.SHA256, r.PayloadSHA256)})
		}
	}
	root := hex.EncodeToString(re.Root())
	switch {
	case re.Run.MerkleRoot == "":
		probs = append(probs, Problem{Kind: "seal", Detail: fmt.Sprintf("run %d was never sealed (no Merkle root)", runID)})
	case re.Run.MerkleRoot != root:
		probs = append(probs, Problem{Kind: "seal", Detail: fmt.Sprintf("run %d: Merkle root %s recorded, %s from its captures", runID, re.Run.MerkleRoot, root)})
	}
	if re.Run.TSAToken != "" {
		tok, err := base64.StdEncoding.DecodeString(re.Run.TSAToken)
		if err == nil {
			rootBytes, _ := hex.DecodeString(re.Run.MerkleRoot)
			_, err = evidence.VerifyToken(tok, rootBytes)
		}
		if err != nil {
			probs = append(probs, Problem{Kind: "timestamp", Detail: fmt.Sprintf("run %d: timestamp token: %v", runID, err)})
		}
	}
	return probs, re, nil
}
