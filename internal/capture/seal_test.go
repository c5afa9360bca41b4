package capture

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/internal/testkit/tsa"
	"github.com/leakwatch/leakwatch/storage"
)

// sealedRun is a finished crawl run whose exchanges were written as WARC
// the way the crawler writes them, on SQLite in a temporary data directory.
type sealedRun struct {
	store    *storage.Store
	dataDir  string
	run      storage.CrawlRun
	caps     []storage.Capture // with evidence, in capture order
	records  []evidence.Record
	payloads [][]byte
}

// newRun writes three fetched files and one failed fetch (no evidence) into
// a run.
func newRun(t *testing.T) *sealedRun {
	t.Helper()
	ctx := t.Context()
	r := &sealedRun{dataDir: t.TempDir()}
	var err error
	if r.store, err = storage.Open(ctx, "", r.dataDir, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.store.Close() })
	src := storage.Source{Name: "forum", Kind: storage.SourceWeb, URL: "http://leaks.test/", Enabled: true}
	if err := r.store.CreateSource(ctx, &src); err != nil {
		t.Fatal(err)
	}
	if r.run, err = r.store.StartRun(ctx, src.ID); err != nil {
		t.Fatal(err)
	}
	w, err := evidence.NewWriter(EvidenceDir(r.dataDir), evidence.WriterOptions{RunID: EvidenceRunID(r.run.ID)})
	if err != nil {
		t.Fatal(err)
	}
	fetched := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	for i := range 3 {
		// Incompressible payloads, so a byte flipped in the WARC file
		// lands in the payload.
		body := make([]byte, 12_000+100*i)
		rand.NewChaCha8([32]byte{byte(i)}).Read(body)
		url := fmt.Sprintf("http://leaks.test/files/%d.csv", i)
		at := fetched.Add(time.Duration(i) * time.Second)
		rec, err := w.WriteExchange(ctx, evidence.Exchange{
			TargetURI:      url,
			RequestHeader:  http.Header{"User-Agent": {"leakwatch-test"}},
			StatusCode:     200,
			ResponseHeader: http.Header{"Content-Type": {"text/csv"}},
			Payload:        bytes.NewReader(body),
			FetchTime:      at,
			RemoteIP:       netip.MustParseAddr("127.0.0.1"),
		})
		if err != nil {
			t.Fatal(err)
		}
		ev, _ := json.Marshal(rec)
		sum := sha256.Sum256(body)
		c := storage.Capture{RunID: r.run.ID, SourceID: src.ID, Kind: storage.CaptureFile, URL: url, FinalURL: url,
			Host: "leaks.test", FetchedAt: at, Status: 200, ContentType: "text/csv",
			SHA256: hex.EncodeToString(sum[:]), Size: int64(len(body)), Evidence: string(ev)}
		if _, err := r.store.SaveCapture(ctx, &c); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			// A failed fetch between them: a capture without evidence.
			failed := storage.Capture{RunID: r.run.ID, SourceID: src.ID, Kind: storage.CaptureFile,
				URL: "http://leaks.test/files/gone.csv", Host: "leaks.test", FetchedAt: at, Status: 404, Error: "HTTP 404"}
			if _, err := r.store.SaveCapture(ctx, &failed); err != nil {
				t.Fatal(err)
			}
		}
		r.caps = append(r.caps, c)
		r.records = append(r.records, rec)
		r.payloads = append(r.payloads, body)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r.run.Status = storage.RunOK
	if err := r.store.FinishRun(ctx, &r.run); err != nil {
		t.Fatal(err)
	}
	return r
}

// root is the Merkle root over the payloads, computed independently.
func (r *sealedRun) root() []byte {
	var ds [][]byte
	for _, p := range r.payloads {
		s := sha256.Sum256(p)
		ds = append(ds, s[:])
	}
	return evidence.MerkleRoot(ds)
}

func (r *sealedRun) reload(t *testing.T) storage.CrawlRun {
	t.Helper()
	run, err := r.store.RunByID(t.Context(), r.run.ID)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

func (r *sealedRun) verify(t *testing.T) []Problem {
	t.Helper()
	probs, re, err := VerifyRun(t.Context(), r.store, r.dataDir, r.run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(re.Captures) != 4 || len(re.Records) != 3 {
		t.Errorf("VerifyRun saw %d captures and %d records, want 4 and 3", len(re.Captures), len(re.Records))
	}
	return probs
}

func kindsOf(probs []Problem) map[evidence.ProblemKind]int {
	m := map[evidence.ProblemKind]int{}
	for _, p := range probs {
		m[p.Kind]++
	}
	return m
}

func TestSealWithTSA(t *testing.T) {
	r := newRun(t)
	url := tsa.Start(t)
	before := time.Now().Add(-time.Second)
	if err := Seal(t.Context(), r.store, r.run.ID, url, nil); err != nil {
		t.Fatal(err)
	}
	run := r.reload(t)
	if run.MerkleRoot != hex.EncodeToString(r.root()) {
		t.Errorf("Merkle root %q, want %x", run.MerkleRoot, r.root())
	}
	if run.TSAURL != url || run.TSAToken == "" || run.StampedAt == nil {
		t.Fatalf("run not timestamped: tsa_url %q, token %d chars, stamped_at %v", run.TSAURL, len(run.TSAToken), run.StampedAt)
	}
	if run.StampedAt.Before(before) || run.StampedAt.After(time.Now().Add(time.Second)) {
		t.Errorf("stamped_at %v, want now", run.StampedAt)
	}
	tok, err := base64.StdEncoding.DecodeString(run.TSAToken)
	if err != nil {
		t.Fatal(err)
	}
	at, err := evidence.VerifyToken(tok, r.root())
	if err != nil {
		t.Fatalf("stored token: %v", err)
	}
	if !at.Equal(*run.StampedAt) {
		t.Errorf("stamped_at %v, token says %v", run.StampedAt, at)
	}
	if probs := r.verify(t); len(probs) != 0 {
		t.Fatalf("fresh sealed run: %v", probs)
	}
}

func TestVerifyRunDetectsTampering(t *testing.T) {
	url := tsa.Start(t)
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, r *sealedRun)
		want   []evidence.ProblemKind // kinds that must be reported; no others
	}{
		{"capture SHA-256 changed in the database", func(t *testing.T, r *sealedRun) {
			other := sha256.Sum256([]byte("another file"))
			err := r.store.DB().Model(&storage.Capture{}).Where("id = ?", r.caps[1].ID).
				Update("sha256", hex.EncodeToString(other[:])).Error
			if err != nil {
				t.Fatal(err)
			}
		}, []evidence.ProblemKind{"capture"}},
		{"byte flipped in a WARC file", func(t *testing.T, r *sealedRun) {
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
		}, []evidence.ProblemKind{evidence.ProblemUnreadable}}, // the gzip member fails its CRC
		{"Merkle root changed", func(t *testing.T, r *sealedRun) {
			other := sha256.Sum256([]byte("another root"))
			if err := r.store.DB().Model(&storage.CrawlRun{}).Where("id = ?", r.run.ID).
				Update("merkle_root", hex.EncodeToString(other[:])).Error; err != nil {
				t.Fatal(err)
			}
			// The token is over the real root, so it no longer fits either.
		}, []evidence.ProblemKind{"seal", "timestamp"}},
		{"token replaced", func(t *testing.T, r *sealedRun) {
			if err := r.store.DB().Model(&storage.CrawlRun{}).Where("id = ?", r.run.ID).
				Update("tsa_token", base64.StdEncoding.EncodeToString([]byte("not a token"))).Error; err != nil {
				t.Fatal(err)
			}
		}, []evidence.ProblemKind{"timestamp"}},
		{"capture dropped from the run", func(t *testing.T, r *sealedRun) {
			if err := r.store.DB().Delete(&storage.Capture{}, r.caps[0].ID).Error; err != nil {
				t.Fatal(err)
			}
		}, []evidence.ProblemKind{"seal"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRun(t)
			if err := Seal(t.Context(), r.store, r.run.ID, url, nil); err != nil {
				t.Fatal(err)
			}
			tc.tamper(t, r)
			probs, _, err := VerifyRun(t.Context(), r.store, r.dataDir, r.run.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range probs {
				t.Log(p)
			}
			got := kindsOf(probs)
			for _, k := range tc.want {
				if got[k] == 0 {
					t.Errorf("no %q problem; got %v", k, probs)
				}
				delete(got, k)
			}
			if len(got) != 0 {
				t.Errorf("unexpected problems %v", got)
			}
			for _, p := range probs {
				if p.RecordID != "" && (p.RecordID != r.records[1].RecordID || p.File != r.records[1].File) {
					t.Errorf("problem %v names a record that was not touched", p)
				}
			}
		})
	}
}

func TestSealUnsealed(t *testing.T) {
	r := newRun(t)
	probs := r.verify(t)
	if len(probs) != 1 || probs[0].Kind != "seal" || !strings.Contains(probs[0].Detail, "never sealed") {
		t.Fatalf("unsealed run: %v; want one seal problem", probs)
	}
	// Without a TSA the run is sealed with its root alone.
	if err := Seal(t.Context(), r.store, r.run.ID, "", nil); err != nil {
		t.Fatal(err)
	}
	if run := r.reload(t); run.MerkleRoot != hex.EncodeToString(r.root()) || run.TSAToken != "" || run.StampedAt != nil {
		t.Fatalf("sealed without TSA: %+v", run)
	}
	if probs := r.verify(t); len(probs) != 0 {
		t.Fatalf("run sealed without TSA: %v", probs)
	}
}

func TestSealTSAFailure(t *testing.T) {
	r := newRun(t)
	srv := tsa.StartServer(t, tsa.Options{})
	srv.Fail(http.StatusInternalServerError)
	err := Seal(context.Background(), r.store, r.run.ID, srv.URL, nil)
	if err == nil || !strings.Contains(err.Error(), "timestamp") || !strings.Contains(err.Error(), "HTTP 500") {
		t.Fatalf("Seal with a failing TSA: %v; want an error about the timestamp", err)
	}
	if srv.Requests() != 1 {
		t.Errorf("TSA asked %d times, want once", srv.Requests())
	}
	run := r.reload(t)
	if run.MerkleRoot != hex.EncodeToString(r.root()) {
		t.Errorf("Merkle root %q, want %x: the run must be sealed anyway", run.MerkleRoot, r.root())
	}
	if run.TSAURL != "" || run.TSAToken != "" || run.StampedAt != nil {
		t.Errorf("run claims a timestamp: tsa_url %q, token %q, stamped_at %v", run.TSAURL, run.TSAToken, run.StampedAt)
	}
	if probs := r.verify(t); len(probs) != 0 {
		t.Fatalf("run sealed without its token: %v", probs)
	}

	// Once the TSA is back, sealing again adds the token.
	srv.Fail(0)
	if err := Seal(context.Background(), r.store, r.run.ID, srv.URL, nil); err != nil {
		t.Fatal(err)
	}
	if run := r.reload(t); run.TSAToken == "" || run.TSAURL != srv.URL || run.MerkleRoot != hex.EncodeToString(r.root()) {
		t.Errorf("resealed run: %+v", run)
	}
}

func TestParseEvidenceRunID(t *testing.T) {
	for name, want := range map[string]struct {
		id uint64
		ok bool
	}{
		EvidenceRunID(42): {42, true},
		"run-0":           {0, true},
		"run-":            {0, false},
		"run-4x":          {0, false},
		"run--1":          {0, false},
		"42":              {0, false},
		"SHA256SUMS":      {0, false},
	} {
		if id, ok := ParseEvidenceRunID(name); id != want.id || ok != want.ok {
			t.Errorf("ParseEvidenceRunID(%q) = %d, %v; want %d, %v", name, id, ok, want.id, want.ok)
		}
	}
}
