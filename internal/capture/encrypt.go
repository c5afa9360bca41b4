package capture

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"filippo.io/age"

	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/storage"
)

// settle is how long after a run ended its WARC files are left to the
// writer that is closing (and encrypting) them.
const settle = 5 * time.Minute

// EncryptLeftovers encrypts, to recipients, the WARC files that runs left
// plain in the data directory: those of a worker that died mid-run, and
// evidence kept before encryption was configured. Runs still running, or
// that ended less than a few minutes ago, are left to their writer. It
// returns how many files it encrypted.
func EncryptLeftovers(ctx context.Context, store *storage.Store, dataDir string, recipients []age.Recipient, now time.Time) (int, error) {
	if len(recipients) == 0 {
		return 0, nil
	}
	dir := EvidenceDir(dataDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("encrypt evidence: %w", err)
	}
	total := 0
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		runID, ok := ParseEvidenceRunID(e.Name())
		if !e.IsDir() || !ok {
			continue
		}
		run, err := store.RunByID(ctx, runID)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			// Evidence of a run the database does not know (a restored
			// backup, say): it is evidence all the same.
		case err != nil:
			return total, fmt.Errorf("encrypt evidence: %w", err)
		case run.Status == storage.RunRunning:
			continue
		case run.FinishedAt != nil && now.Sub(*run.FinishedAt) < settle:
			continue
		}
		n, err := evidence.EncryptRun(dir, e.Name(), recipients...)
		total += n
		if err != nil {
			return total, fmt.Errorf("encrypt evidence of run %d: %w", runID, err)
		}
	}
	return total, nil
}
