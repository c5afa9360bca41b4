package capture

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/internal/testkit/tsa"
	"github.com/leakwatch/leakwatch/storage"
)

// One capture is checked on its own: its record re-hashed, its leaf proven
// in the run's stamped root. Tampering with another capture's record does
// not make it fail; tampering with its own, or with the root, does.
func TestVerifyCapture(t *testing.T) {
	url := tsa.Start(t)
	r := newRun(t)
	if err := Seal(t.Context(), r.store, r.run.ID, url, nil); err != nil {
		t.Fatal(err)
	}
	check := func(i int) ([]Problem, CaptureEvidence) {
		t.Helper()
		probs, ce, err := VerifyCapture(t.Context(), r.store, r.dataDir, r.caps[i].ID)
		if err != nil {
			t.Fatal(err)
		}
		return probs, ce
	}
	for i := range r.caps {
		probs, ce := check(i)
		if len(probs) != 0 || len(ce.Records) != 1 || ce.Records[0] != r.records[i] || len(ce.Leaves) != 1 || ce.Leaves[0] != i {
			t.Fatalf("capture %d: problems %v, records %+v, leaves %v", i, probs, ce.Records, ce.Leaves)
		}
	}
	// A capture that has no record is an error, not a pass.
	caps, err := r.store.CapturesOfRun(t.Context(), r.run.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range caps {
		if c.Evidence == "" {
			if _, _, err := VerifyCapture(t.Context(), r.store, r.dataDir, c.ID); err == nil {
				t.Errorf("capture %d without evidence verified", c.ID)
			}
		}
	}

	// Flip a byte of capture 1's record.
	rec := r.records[1]
	path := filepath.Join(EvidenceDir(r.dataDir), filepath.FromSlash(rec.File))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[rec.Offset+rec.Length*2/3] ^= 0x40
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if probs, _ := check(0); len(probs) != 0 {
		t.Errorf("capture 0 fails after capture 1's record was tampered with: %v", probs)
	}
	if probs, _ := check(1); kindsOf(probs)[evidence.ProblemUnreadable] == 0 {
		t.Errorf("capture 1 passes with its record tampered with: %v", probs)
	}

	// Another root recorded for the run: no capture is in it.
	other := sha256.Sum256([]byte("another root"))
	if err := r.store.DB().Model(&storage.CrawlRun{}).Where("id = ?", r.run.ID).
		Update("merkle_root", hex.EncodeToString(other[:])).Error; err != nil {
		t.Fatal(err)
	}
	probs, _ := check(2)
	if k := kindsOf(probs); k["seal"] != 1 || k["timestamp"] != 1 {
		t.Errorf("capture 2 under another root: %v; want a seal and a timestamp problem", probs)
	}
}
