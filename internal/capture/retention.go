package capture

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// TombstoneName is the file left in a run's evidence directory once
// retention removed its content: what was removed, when, and under which
// policy. The database keeps the same (storage.EvidenceRemoval).
const TombstoneName = "REMOVED-BY-RETENTION.json"

// TombstoneFormat identifies the tombstone's layout.
const TombstoneFormat = "leakwatch-retention/1"

// Policy is how long scraped content is kept (config.RetentionConfig).
type Policy struct {
	// ContentDays after a run its content goes, unless it is evidence of
	// an open case or under legal hold; 0 keeps it for ever.
	ContentDays int
	// ClosedCaseDays after a case closed its evidence goes.
	ClosedCaseDays int
}

// String is the policy as recorded with each removal.
func (p Policy) String() string {
	return fmt.Sprintf("retention.content_days=%d retention.closed_case_days=%d", p.ContentDays, p.ClosedCaseDays)
}

// Why a run's content was kept.
const (
	KeptActive     = "running"     // the crawl is still running
	KeptYoung      = "young"       // younger than retention.content_days
	KeptOpenCase   = "open case"   // evidence of an open case, or of hits on their way to one
	KeptClosedCase = "closed case" // of a case closed less than retention.closed_case_days ago
	KeptHold       = "legal hold"  // the run, its source or one of its cases is held
	KeptForever    = "policy"      // retention.content_days is 0
	KeptNotHere    = "not here"    // its files are not in this data directory (another host's)
)

// GCOptions says how GC runs.
type GCOptions struct {
	Policy Policy
	Now    time.Time
	// DryRun reports what would go and changes nothing.
	DryRun bool
	// Actor is who the audit log names ("cli:ana", "system").
	Actor string
	// afterMark runs between marking a run and removing its files (tests
	// stop there, as a crash would).
	afterMark func(runID uint64) error
}

// RunRemoval is one run whose content GC removed (or, dry, would remove).
type RunRemoval struct {
	RunID  uint64 `json:"run_id"`
	Files  int    `json:"files"`
	Bytes  int64  `json:"bytes"`
	Reason string `json:"reason"`
	// Resumed: marked by an earlier gc that stopped before it was done.
	Resumed bool `json:"resumed,omitempty"`
}

// GCReport is what GC did (or, dry, would do).
type GCReport struct {
	Policy  string       `json:"policy"`
	DryRun  bool         `json:"dry_run"`
	Removed []RunRemoval `json:"removed"`
	Runs    int          `json:"runs"`
	Files   int          `json:"files"`
	Bytes   int64        `json:"bytes"`
	// Kept counts the runs whose content stays, by reason (Kept*).
	Kept map[string]int `json:"kept"`
	// Swept counts files found (and removed) in runs removed before: a
	// leftover encrypted by a concurrent pass, say.
	Swept int `json:"swept,omitempty"`
	// PlainFiles counts WARC files of kept runs stored unencrypted.
	PlainFiles int `json:"plain_files"`
	// SpoolPurged counts captures left in the scan spool (sealed content
	// no scan took: a source removed, or never crawled again) that were
	// older than content_days, and removed.
	SpoolPurged int64 `json:"spool_purged"`
}

func (r *GCReport) add(rm RunRemoval) {
	r.Removed = append(r.Removed, rm)
	r.Runs++
	r.Files += rm.Files
	r.Bytes += rm.Bytes
}

// GC applies the retention policy to the evidence under dataDir. For each
// run whose content may go it records the decision first (a mark in the
// database, with the files' digests), then removes the files and leaves a
// tombstone, then records the removal done: a GC that stops part-way is
// finished by the next, and a run is never half-removed unrecorded. Runs
// still running, and runs whose evidence directory is not here, are left
// alone. Removal is per run: a run's WARC files mix its captures, and its
// seal is one Merkle root over all of them.
func GC(ctx context.Context, store *storage.Store, dataDir string, o GCOptions) (GCReport, error) {
	rep := GCReport{Policy: o.Policy.String(), DryRun: o.DryRun, Removed: []RunRemoval{}, Kept: map[string]int{}}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	dir := EvidenceDir(dataDir)

	// Removals an earlier pass decided and did not finish.
	marked, err := store.EvidenceRemovals(ctx, storage.RemovalMarked)
	if err != nil {
		return rep, err
	}
	pending := map[uint64]bool{}
	for _, m := range marked {
		pending[m.RunID] = true
		rm := RunRemoval{RunID: m.RunID, Files: int(m.Files), Bytes: m.Bytes, Reason: m.Reason, Resumed: true}
		if !o.DryRun {
			if err := removeContent(ctx, store, dir, m, o.Now); err != nil {
				return rep, err
			}
		}
		rep.add(rm)
	}
	if err := sweep(ctx, store, dir, o.DryRun, &rep); err != nil {
		return rep, err
	}

	runs, err := store.RunsWithContent(ctx)
	if err != nil {
		return rep, err
	}
	holds, err := activeHolds(ctx, store)
	if err != nil {
		return rep, err
	}
	for _, run := range runs {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if pending[run.ID] {
			continue
		}
		runDir := filepath.Join(dir, EvidenceRunID(run.ID))
		kept, reason, err := keep(ctx, store, o, holds, run)
		if err != nil {
			return rep, err
		}
		if kept == "" {
			if _, err := os.Stat(runDir); errors.Is(err, fs.ErrNotExist) {
				kept = KeptNotHere
			}
		}
		if kept != "" {
			rep.Kept[kept]++
			rep.PlainFiles += countPlain(runDir)
			continue
		}
		files, err := listContent(runDir)
		if err != nil {
			return rep, err
		}
		rm := RunRemoval{RunID: run.ID, Files: len(files), Reason: reason}
		for _, f := range files {
			rm.Bytes += f.size
		}
		if o.DryRun {
			rep.add(rm)
			continue
		}
		if run.MerkleRoot == "" {
			// A run whose crawler died was never sealed: seal what it
			// captured (without a timestamp) so its digests stay checkable
			// once the content is gone.
			if err := Seal(ctx, store, run.ID, "", nil); err != nil {
				return rep, fmt.Errorf("seal run %d before removing its content: %w", run.ID, err)
			}
		}
		if err := hashFiles(runDir, files); err != nil {
			return rep, err
		}
		m := storage.EvidenceRemoval{RunID: run.ID, Policy: o.Policy.String(), Reason: reason, MarkedAt: o.Now.UTC(),
			Files: int64(len(files)), Bytes: rm.Bytes, Sums: sums(files)}
		ok, err := store.MarkEvidenceRemoval(ctx, &m)
		if err != nil {
			return rep, err
		}
		if !ok {
			continue // another gc marked it first and removes it
		}
		if o.afterMark != nil {
			if err := o.afterMark(run.ID); err != nil {
				return rep, err
			}
		}
		if err := removeContent(ctx, store, dir, m, o.Now); err != nil {
			return rep, err
		}
		rep.add(rm)
	}
	if o.Policy.ContentDays > 0 {
		if rep.SpoolPurged, err = store.PurgeSpool(ctx, o.Now.Add(-days(o.Policy.ContentDays)), o.DryRun); err != nil {
			return rep, err
		}
	}
	if !o.DryRun {
		kept := make([]string, 0, len(rep.Kept))
		for k, n := range rep.Kept {
			kept = append(kept, fmt.Sprintf("%s %d", k, n))
		}
		sort.Strings(kept)
		detail := fmt.Sprintf("%s: removed the content of %d runs (%d files, %d bytes); kept %s", rep.Policy, rep.Runs, rep.Files, rep.Bytes, strings.Join(kept, ", "))
		if len(kept) == 0 {
			detail += "nothing"
		}
		if rep.Swept > 0 {
			detail += fmt.Sprintf("; %d leftover files of removed runs swept", rep.Swept)
		}
		if rep.SpoolPurged > 0 {
			detail += fmt.Sprintf("; %d unmatched spooled captures past the limit removed", rep.SpoolPurged)
		}
		if err := store.Audit(ctx, o.Actor, "retention.gc", "evidence", detail); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// holdSet is the active legal holds by scope.
type holdSet map[storage.HoldScope]map[uint64]bool

func activeHolds(ctx context.Context, store *storage.Store) (holdSet, error) {
	hs, err := store.LegalHolds(ctx, false)
	if err != nil {
		return nil, err
	}
	set := holdSet{storage.HoldCase: {}, storage.HoldSource: {}, storage.HoldRun: {}}
	for _, h := range hs {
		set[h.Scope][h.ObjectID] = true
	}
	return set, nil
}

// keep says why a run's content stays ("" when it may go) or, when it may
// go, why: no case, or the closed cases it was evidence of.
func keep(ctx context.Context, store *storage.Store, o GCOptions, holds holdSet, run storage.RetentionRun) (kept, reason string, err error) {
	if run.Status == storage.RunRunning {
		return KeptActive, "", nil
	}
	if o.Policy.ContentDays <= 0 {
		return KeptForever, "", nil
	}
	at := run.StartedAt
	if run.FinishedAt != nil {
		at = *run.FinishedAt
	}
	if o.Now.Sub(at) < days(o.Policy.ContentDays) {
		return KeptYoung, "", nil
	}
	if holds[storage.HoldRun][run.ID] || holds[storage.HoldSource][run.SourceID] {
		return KeptHold, "", nil
	}
	cases, pending, err := store.RunCases(ctx, run.ID)
	if err != nil {
		return "", "", err
	}
	var closed []string
	why := ""
	for _, c := range cases {
		switch {
		case holds[storage.HoldCase][c.ID]:
			return KeptHold, "", nil
		case why != "":
		case c.State.Open() || c.ClosedAt == nil:
			why = KeptOpenCase
		case o.Now.Sub(*c.ClosedAt) < days(o.Policy.ClosedCaseDays):
			why = KeptClosedCase
		default:
			closed = append(closed, fmt.Sprintf("case %d closed %s", c.ID, c.ClosedAt.UTC().Format("2006-01-02")))
		}
	}
	if why == "" && len(pending) > 0 {
		why = KeptOpenCase // hits not yet in a case: one is coming
	}
	if why != "" {
		return why, "", nil
	}
	reason = fmt.Sprintf("older than %d days, no case", o.Policy.ContentDays)
	if len(closed) > 0 {
		reason = fmt.Sprintf("older than %d days; %s", o.Policy.ContentDays, strings.Join(closed, ", "))
	}
	return "", reason, nil
}

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

// contentFile is one file of a run's evidence directory.
type contentFile struct {
	name   string // relative to the run directory, with forward slashes
	size   int64
	sha256 string
}

// listContent lists the files of a run's evidence directory (WARC files,
// encrypted or not, and whatever a dead writer left), tombstone aside.
func listContent(runDir string) ([]contentFile, error) {
	var out []contentFile
	err := filepath.WalkDir(runDir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(runDir, p)
		if err != nil || rel == TombstoneName {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, contentFile{name: filepath.ToSlash(rel), size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list evidence in %s: %w", runDir, err)
	}
	return out, nil
}

// hashFiles fills in the files' SHA-256: a copy of a removed file (in a
// backup, an export) can still be shown to be the one that was kept.
func hashFiles(runDir string, files []contentFile) error {
	for i := range files {
		f, err := os.Open(filepath.Join(runDir, filepath.FromSlash(files[i].name)))
		if err != nil {
			return fmt.Errorf("hash evidence file: %w", err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("hash evidence file %s: %w", files[i].name, err)
		}
		files[i].sha256 = hex.EncodeToString(h.Sum(nil))
	}
	return nil
}

// sums is the files in sha256sum(1) form.
func sums(files []contentFile) string {
	var b strings.Builder
	for _, f := range files {
		fmt.Fprintf(&b, "%s  %s\n", f.sha256, f.name)
	}
	return b.String()
}

// Tombstone is the JSON left in a removed run's directory.
type Tombstone struct {
	Format    string    `json:"format"`
	RunID     uint64    `json:"run_id"`
	MarkedAt  time.Time `json:"marked_at"`
	RemovedAt time.Time `json:"removed_at"`
	Policy    string    `json:"policy"`
	Reason    string    `json:"reason"`
	Files     int64     `json:"files"`
	Bytes     int64     `json:"bytes"`
	// SHA256SUMS lists the removed files in sha256sum(1) form.
	SHA256SUMS string `json:"sha256sums"`
	Note       string `json:"note"`
}

// removeContent removes a marked run's files, leaves the tombstone and
// records the removal done. Re-running it is harmless.
func removeContent(ctx context.Context, store *storage.Store, dir string, m storage.EvidenceRemoval, now time.Time) error {
	runDir := filepath.Join(dir, EvidenceRunID(m.RunID))
	n, err := removeContentFiles(runDir)
	if err != nil {
		return fmt.Errorf("remove content of run %d: %w", m.RunID, err)
	}
	if n > 0 || m.Files > 0 {
		ts := Tombstone{Format: TombstoneFormat, RunID: m.RunID, MarkedAt: m.MarkedAt.UTC(), RemovedAt: now.UTC(),
			Policy: m.Policy, Reason: m.Reason, Files: m.Files, Bytes: m.Bytes, SHA256SUMS: m.Sums,
			Note: "the scraped content of this run was removed by the retention policy; its capture rows, digests, hits and seal remain in the database"}
		if err := writeTombstone(runDir, ts); err != nil {
			return fmt.Errorf("remove content of run %d: %w", m.RunID, err)
		}
	}
	return store.FinishEvidenceRemoval(ctx, m.RunID, now)
}

// removeContentFiles removes everything in a run directory but its
// tombstone, and says how many entries it found there (a missing
// directory has none).
func removeContentFiles(runDir string) (int, error) {
	entries, err := os.ReadDir(runDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	for _, e := range entries {
		if e.Name() == TombstoneName {
			continue
		}
		if err := os.RemoveAll(filepath.Join(runDir, e.Name())); err != nil {
			return 0, err
		}
	}
	return len(entries), nil
}

func writeTombstone(runDir string, ts Tombstone) error {
	b, err := json.MarshalIndent(ts, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(runDir, 0o700); err != nil {
		return err
	}
	tmp := filepath.Join(runDir, "."+TombstoneName+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(runDir, TombstoneName))
}

// sweep removes files that appeared in runs already removed (a leftover
// a concurrent pass encrypted after the removal, a restored copy).
func sweep(ctx context.Context, store *storage.Store, dir string, dry bool, rep *GCReport) error {
	done, err := store.EvidenceRemovals(ctx, storage.RemovalRemoved)
	if err != nil {
		return err
	}
	for _, m := range done {
		runDir := filepath.Join(dir, EvidenceRunID(m.RunID))
		files, err := listContent(runDir)
		if err != nil || len(files) == 0 {
			continue
		}
		rep.Swept += len(files)
		if dry {
			continue
		}
		if _, err := removeContentFiles(runDir); err != nil {
			return fmt.Errorf("sweep run %d: %w", m.RunID, err)
		}
	}
	return nil
}

// countPlain counts the WARC files in a run directory kept unencrypted.
func countPlain(runDir string) int {
	entries, err := os.ReadDir(runDir)
	if err != nil {
		return 0
	}
	return len(slices.DeleteFunc(entries, func(e fs.DirEntry) bool { return !strings.HasSuffix(e.Name(), ".warc.gz") }))
}
