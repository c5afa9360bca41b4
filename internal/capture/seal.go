package capture

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"

	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/storage"
)

// EvidenceDir is where a data directory keeps its WARC files.
func EvidenceDir(dataDir string) string { return filepath.Join(dataDir, "evidence") }

// EvidenceRunID names a crawl run's WARC files.
func EvidenceRunID(runID uint64) string { return fmt.Sprintf("run-%d", runID) }

// ParseEvidenceRunID is the run id of an evidence directory's name (see
// EvidenceRunID), and whether the name is one.
func ParseEvidenceRunID(name string) (uint64, bool) {
	id, ok := strings.CutPrefix(name, "run-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(id, 10, 64)
	return n, err == nil
}

// RunEvidence is a run's captures with their WARC records, in capture
// order.
type RunEvidence struct {
	Run      storage.CrawlRun
	Captures []storage.Capture
	// Entries are the run's WARC exchanges as its evidence manifest lists
	// them, in capture order: each capture's redirects, oldest first,
	// then its final exchange (a fetch that failed on its way has
	// redirects only). EntryOf[i] is the capture id of Entries[i], and
	// Records the entries' records, for evidence.Verify.
	Entries []evidence.Capture
	EntryOf []uint64
	Records []evidence.Record
	// Hops are the captures' redirects as their rows keep them, by
	// capture id.
	Hops map[uint64][]Hop
	// Removed is set when retention removed (or is removing) the run's
	// content: its WARC files are gone on purpose, and only the rows,
	// digests and seal remain to check.
	Removed *storage.EvidenceRemoval
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
	re := RunEvidence{Run: run, Captures: caps, Hops: map[uint64][]Hop{}}
	if rm, ok, err := store.EvidenceRemovalOf(ctx, runID); err != nil {
		return RunEvidence{}, err
	} else if ok {
		re.Removed = &rm
	}
	add := func(c storage.Capture, e evidence.Capture) {
		re.Entries = append(re.Entries, e)
		re.EntryOf = append(re.EntryOf, c.ID)
		re.Records = append(re.Records, e.Record)
	}
	for _, c := range caps {
		hops, err := ParseRedirects(c.Redirects)
		if err != nil {
			return re, fmt.Errorf("capture %d: redirects: %w", c.ID, err)
		}
		if len(hops) > 0 {
			re.Hops[c.ID] = hops
		}
		for _, h := range hops {
			if h.WARC != nil {
				add(c, evidence.Capture{URL: c.URL, StartedAt: c.FetchedAt.UTC(), Status: h.Status, Redirect: true, Record: *h.WARC})
			}
		}
		if c.Evidence == "" {
			continue
		}
		var r evidence.Record
		if err := json.Unmarshal([]byte(c.Evidence), &r); err != nil {
			return re, fmt.Errorf("capture %d: evidence record: %w", c.ID, err)
		}
		add(c, evidence.Capture{URL: c.URL, FinalURL: c.FinalURL, StartedAt: c.FetchedAt.UTC(), Status: c.Status, Record: r})
	}
	return re, nil
}

// ParseRedirects reads a capture's Redirects column: a JSON list of hops,
// or, in rows from before redirects were recorded, of their URLs.
func ParseRedirects(s string) ([]Hop, error) {
	if s == "" {
		return nil, nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return nil, fmt.Errorf("decode redirects: %w", err)
	}
	hops := make([]Hop, len(raw))
	for i, m := range raw {
		var err error
		if m = bytes.TrimSpace(m); len(m) > 0 && m[0] == '"' {
			err = json.Unmarshal(m, &hops[i].URL)
		} else {
			err = json.Unmarshal(m, &hops[i])
		}
		if err != nil {
			return nil, fmt.Errorf("decode redirect %d: %w", i+1, err)
		}
	}
	return hops, nil
}

// Root is the Merkle root over the entries' leaves (evidence.Capture.Leaf):
// payload digests of the final exchanges and, since redirects are
// recorded, block digests of the redirects. A redirect is part of the
// chain of custody — where the site sent the crawler, and what it said on
// the way — so the run's token covers it too. Runs from before have no
// redirect entries: their leaves, and roots, are what they were sealed
// with.
func (re RunEvidence) Root() []byte {
	leaves := make([][]byte, len(re.Entries))
	for i, e := range re.Entries {
		leaves[i] = e.Leaf()
	}
	return evidence.MerkleRoot(leaves)
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
// run's Merkle root and its timestamp token. Of a run whose content
// retention removed (re.Removed) only the rows, the root recomputed from
// their digests and the token are checked: the missing files are not a
// problem.
func VerifyRun(ctx context.Context, store *storage.Store, dataDir string, runID uint64, ids ...age.Identity) ([]Problem, RunEvidence, error) {
	re, err := LoadRunEvidence(ctx, store, runID)
	if err != nil {
		return nil, re, err
	}
	var probs []Problem
	if re.Removed == nil {
		probs = evidence.Verify(EvidenceDir(dataDir), re.Records, ids...)
	}
	for i := range re.Captures {
		probs = append(probs, re.checkCapture(i)...)
	}
	root := hex.EncodeToString(re.Root())
	switch {
	case re.Run.MerkleRoot == "":
		probs = append(probs, Problem{Kind: "seal", Detail: fmt.Sprintf("run %d was never sealed (no Merkle root)", runID)})
	case re.Run.MerkleRoot != root:
		probs = append(probs, Problem{Kind: "seal", Detail: fmt.Sprintf("run %d: Merkle root %s recorded, %s from its captures", runID, re.Run.MerkleRoot, root)})
	}
	probs = append(probs, verifyToken(re.Run)...)
	return probs, re, nil
}

// checkCapture holds the run's i-th capture row to its final record and
// its redirects to one chain.
func (re RunEvidence) checkCapture(i int) []Problem {
	c := re.Captures[i]
	var probs []Problem
	var end *evidence.Record
	for j, e := range re.Entries {
		if re.EntryOf[j] == c.ID && !e.Redirect {
			r := e.Record
			end = &r
		}
	}
	if end != nil && c.SHA256 != "" && !c.Truncated && end.PayloadSHA256 != c.SHA256 {
		probs = append(probs, Problem{File: end.File, Offset: end.Offset, RecordID: end.RecordID, Kind: "capture",
			Detail: fmt.Sprintf("capture %d (#%d of the run): recorded SHA-256 %s, WARC payload %s", c.ID, i+1, c.SHA256, end.PayloadSHA256)})
	}
	return append(probs, verifyChain(c, i, re.Hops[c.ID], end)...)
}

// CaptureEvidence is one capture's part of its run's sealed evidence.
type CaptureEvidence struct {
	Run     storage.CrawlRun
	Capture storage.Capture
	// Records are the capture's WARC exchanges (its redirects, then its
	// final exchange) and Leaves their indexes among the run's Merkle
	// leaves.
	Records []evidence.Record
	Leaves  []int
	// Removed: see RunEvidence.Removed.
	Removed *storage.EvidenceRemoval
}

// VerifyCapture checks one capture without re-hashing its whole run: its
// WARC records, its row against them, and that its leaves are in the run's
// recorded Merkle root (inclusion proofs over the run's leaves), with the
// run's timestamp token on that root. What a counsel asks about is usually
// one URL, and a run may hold thousands.
func VerifyCapture(ctx context.Context, store *storage.Store, dataDir string, captureID uint64, ids ...age.Identity) ([]Problem, CaptureEvidence, error) {
	c, err := store.CaptureByID(ctx, captureID)
	if err != nil {
		return nil, CaptureEvidence{}, err
	}
	re, err := LoadRunEvidence(ctx, store, c.RunID)
	if err != nil {
		return nil, CaptureEvidence{}, err
	}
	ce := CaptureEvidence{Run: re.Run, Capture: c}
	for j, id := range re.EntryOf {
		if id == c.ID {
			ce.Records = append(ce.Records, re.Records[j])
			ce.Leaves = append(ce.Leaves, j)
		}
	}
	if len(ce.Records) == 0 {
		return nil, ce, fmt.Errorf("capture %d has no WARC records (captured before evidence was kept, or nothing was received)", c.ID)
	}
	ce.Removed = re.Removed
	var probs []Problem
	if re.Removed == nil {
		probs = evidence.Verify(EvidenceDir(dataDir), ce.Records, ids...)
	}
	for i := range re.Captures {
		if re.Captures[i].ID == c.ID {
			probs = append(probs, re.checkCapture(i)...)
		}
	}
	root, err := hex.DecodeString(re.Run.MerkleRoot)
	switch {
	case re.Run.MerkleRoot == "":
		probs = append(probs, Problem{Kind: "seal", Detail: fmt.Sprintf("run %d was never sealed (no Merkle root)", re.Run.ID)})
	case err != nil:
		probs = append(probs, Problem{Kind: "seal", Detail: fmt.Sprintf("run %d: recorded Merkle root %q: %v", re.Run.ID, re.Run.MerkleRoot, err)})
	default:
		leaves := make([][]byte, len(re.Entries))
		for j, e := range re.Entries {
			leaves[j] = e.Leaf()
		}
		for k, j := range ce.Leaves {
			proof, err := evidence.InclusionProof(leaves, j)
			if err != nil || !evidence.VerifyInclusion(leaves[j], j, len(leaves), proof, root) {
				r := ce.Records[k]
				probs = append(probs, Problem{File: r.File, Offset: r.Offset, RecordID: r.RecordID, Kind: "seal",
					Detail: fmt.Sprintf("capture %d: leaf %d of %d is not in run %d's recorded Merkle root", c.ID, j, len(leaves), re.Run.ID)})
			}
		}
	}
	probs = append(probs, verifyToken(re.Run)...)
	return probs, ce, nil
}

// verifyToken checks a run's RFC 3161 token, when it has one, against its
// recorded Merkle root.
func verifyToken(run storage.CrawlRun) []Problem {
	if run.TSAToken == "" {
		return nil
	}
	tok, err := base64.StdEncoding.DecodeString(run.TSAToken)
	if err == nil {
		rootBytes, _ := hex.DecodeString(run.MerkleRoot)
		_, err = evidence.VerifyToken(tok, rootBytes)
	}
	if err != nil {
		return []Problem{{Kind: "timestamp", Detail: fmt.Sprintf("run %d: timestamp token: %v", run.ID, err)}}
	}
	return nil
}

// verifyChain checks that a capture's recorded redirects are one chain:
// the first asked for the capture's URL, each led (by its Location) to the
// next, and the last to the final exchange, when there is one; and that
// the row says of each what its record says. The records themselves are
// held to the WARC files by evidence.Verify; this catches a redirect
// dropped, added, reordered or rewritten in the row. Rows without redirect
// records (from before they were kept) are not checked.
func verifyChain(c storage.Capture, n int, hops []Hop, end *evidence.Record) []Problem {
	var probs []Problem
	for i, h := range hops {
		if h.WARC == nil {
			continue
		}
		r := h.WARC
		add := func(format string, args ...any) {
			probs = append(probs, Problem{File: r.File, Offset: r.Offset, RecordID: r.RecordID, Kind: "redirects",
				Detail: fmt.Sprintf("capture %d (#%d of the run), redirect %d: ", c.ID, n+1, i+1) + fmt.Sprintf(format, args...)})
		}
		if r.TargetURI != h.URL || r.StatusCode != h.Status || r.Location != h.Location {
			add("recorded as %s answering %d to %s, but its record says %s answered %d to %s",
				h.URL, h.Status, h.Location, r.TargetURI, r.StatusCode, r.Location)
		}
		if i == 0 && h.URL != c.URL {
			add("the fetch asked for %s, but the first redirect came from %s", c.URL, h.URL)
		}
		next := ""
		switch {
		case i+1 < len(hops):
			next = hops[i+1].URL
		case end != nil:
			next = end.TargetURI
		default:
			continue // the fetch stopped here (a loop, the cap, another host)
		}
		if r.Location != next {
			add("it leads to %s, but the next request was for %s", r.Location, next)
		}
	}
	return probs
}
