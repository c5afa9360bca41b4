package capture

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/crawlers/webcrawl"
	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
	"github.com/leakwatch/leakwatch/internal/testkit/tsa"
	"github.com/leakwatch/leakwatch/storage"
	"github.com/leakwatch/leakwatch/storage/storagetest"
)

// redirectRun is a sealed run of a crawl, through the pipeline with WARC
// evidence, of a loopback site where a leaked file is reached through a
// 301 and a 302 (/go/lab → /mirror/lab → /files/lab.pdf) and a mirror
// redirects to itself (/loop).
type redirectRun struct {
	*fixture
	dataDir string
	base    string
	lab     []byte
}

func crawlRedirects(t *testing.T, dsn string) *redirectRun {
	t.Helper()
	ctx := context.Background()
	r := &redirectRun{fixture: newFixture(t, dsn), dataDir: t.TempDir()}
	r.lab = r.doc(t, synth.KindLabResult)
	mux := http.NewServeMux()
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	r.base = ts.URL
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<html><body><a href="/go/lab">lab results</a> <a href="/loop">mirror</a></body></html>`))
	})
	redirect := func(code int, to string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Location", to)
			w.WriteHeader(code)
			_, _ = w.Write([]byte("<p>moved</p>"))
		}
	}
	mux.HandleFunc("/go/lab", redirect(http.StatusMovedPermanently, "/mirror/lab"))
	mux.HandleFunc("/mirror/lab", redirect(http.StatusFound, "/files/lab.pdf"))
	mux.HandleFunc("/loop", redirect(http.StatusMovedPermanently, "/loop"))
	mux.HandleFunc("/files/lab.pdf", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/pdf")
		_, _ = w.Write(r.lab)
	})

	run, err := r.p.ForRun(r.run)
	if err != nil {
		t.Fatal(err)
	}
	w, err := evidence.NewWriter(EvidenceDir(r.dataDir), evidence.WriterOptions{RunID: EvidenceRunID(r.run.ID)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := webcrawl.New(webcrawl.Options{Evidence: w, MaxRedirects: 3, KeepBody: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := c.Crawl(cctx, r.base+"/", WebSink{Run: run}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r.run.Status = storage.RunOK
	if err := r.store.FinishRun(ctx, &r.run); err != nil {
		t.Fatal(err)
	}
	if err := Seal(ctx, r.store, r.run.ID, tsa.Start(t), nil); err != nil {
		t.Fatal(err)
	}
	return r
}

// capture returns the run's capture of url and its redirects.
func (r *redirectRun) capture(t *testing.T, url string) (storage.Capture, []Hop) {
	t.Helper()
	caps, err := r.store.CapturesOfRun(context.Background(), r.run.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range caps {
		if c.URL == url {
			hops, err := ParseRedirects(c.Redirects)
			if err != nil {
				t.Fatalf("capture of %s: %v", url, err)
			}
			return c, hops
		}
	}
	t.Fatalf("no capture of %s", url)
	return storage.Capture{}, nil
}

func (r *redirectRun) verify(t *testing.T) []Problem {
	t.Helper()
	probs, _, err := VerifyRun(context.Background(), r.store, r.dataDir, r.run.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range probs {
		t.Log(p)
	}
	return probs
}

// TestRedirectEvidence: the capture's evidence row lists its redirects
// with their WARC records, the run's seal covers them, VerifyRun and the
// case export check and carry them, and a failed redirect loop keeps its
// hops.
func TestRedirectEvidence(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { testRedirectEvidence(t, "") })
	t.Run("postgres", func(t *testing.T) { testRedirectEvidence(t, storagetest.FreshPostgresDSN(t)) })
}

func testRedirectEvidence(t *testing.T, dsn string) {
	ctx := context.Background()
	r := crawlRedirects(t, dsn)

	c, hops := r.capture(t, r.base+"/go/lab")
	if c.FinalURL != r.base+"/files/lab.pdf" || c.Evidence == "" || c.Error != "" || c.Refs == 0 {
		t.Fatalf("capture through redirects: %+v", c)
	}
	want := []Hop{
		{URL: r.base + "/go/lab", Status: http.StatusMovedPermanently, Location: r.base + "/mirror/lab"},
		{URL: r.base + "/mirror/lab", Status: http.StatusFound, Location: r.base + "/files/lab.pdf"},
	}
	if len(hops) != len(want) {
		t.Fatalf("redirects %s; want %d hops", c.Redirects, len(want))
	}
	for i, h := range hops {
		if h.URL != want[i].URL || h.Status != want[i].Status || h.Location != want[i].Location || h.WARC == nil ||
			h.WARC.TargetURI != h.URL || h.WARC.StatusCode != h.Status || h.WARC.Location != h.Location {
			t.Errorf("hop %d: %+v (record %+v); want %+v with its record", i, h, h.WARC, want[i])
		}
	}
	if probs := r.verify(t); len(probs) != 0 {
		t.Fatalf("fresh run does not verify: %v", probs)
	}

	// The loop failed at the cap and says so; its hops are kept.
	loop, loopHops := r.capture(t, r.base+"/loop")
	if !strings.Contains(loop.Error, "more than 3 redirects") || loop.Evidence != "" || len(loopHops) != 4 {
		t.Fatalf("loop: error %q, evidence %q, %d hops; want the cap, no final record, 4 hops", loop.Error, loop.Evidence, len(loopHops))
	}
	for i, h := range loopHops {
		if h.WARC == nil || h.URL != r.base+"/loop" || h.Location != r.base+"/loop" {
			t.Errorf("loop hop %d: %+v", i, h)
		}
	}

	// The seal: every exchange a leaf in capture order — a redirect's by
	// its block digest (its status and Location), a final exchange's by
	// its payload — computed here from the rows.
	caps, err := r.store.CapturesOfRun(ctx, r.run.ID)
	if err != nil {
		t.Fatal(err)
	}
	var leaves [][]byte
	var hopRecords int
	for _, c := range caps {
		hs, _ := ParseRedirects(c.Redirects)
		for _, h := range hs {
			d, _ := hex.DecodeString(strings.TrimPrefix(h.WARC.BlockDigest, "sha256:"))
			leaves = append(leaves, d)
			hopRecords++
		}
		if c.Evidence != "" {
			var rec evidence.Record
			if err := json.Unmarshal([]byte(c.Evidence), &rec); err != nil {
				t.Fatal(err)
			}
			leaves = append(leaves, rec.PayloadDigest())
		}
	}
	run, err := r.store.RunByID(ctx, r.run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if hopRecords != 6 || run.MerkleRoot != hex.EncodeToString(evidence.MerkleRoot(leaves)) {
		t.Errorf("run sealed with root %s over %d hop records; want %x over 6", run.MerkleRoot, hopRecords, evidence.MerkleRoot(leaves))
	}

	// The case export: the hops are in the run's manifest and the case's
	// capture, each with an inclusion proof to the stamped root.
	cs, err := r.store.EnsureCase(ctx, c.Host, "case-redirects")
	if err != nil {
		t.Fatal(err)
	}
	ofCase, err := r.store.CapturesForCase(ctx, cs.ID)
	if err != nil {
		t.Fatal(err)
	}
	x, bad, err := BuildCaseExport(ctx, r.store, r.dataDir, cs, ofCase, time.Now().UTC())
	if err != nil {
		t.Fatalf("export: %v %v", err, bad)
	}
	m := x.runs[0].manifest
	if probs := evidence.VerifyManifest(EvidenceDir(r.dataDir), m); len(probs) != 0 {
		t.Fatalf("manifest does not verify: %v", probs)
	}
	digests, err := m.Digests()
	if err != nil {
		t.Fatal(err)
	}
	root, _ := hex.DecodeString(m.MerkleRoot)
	if m.MerkleRoot != run.MerkleRoot || x.Index.Runs[0].Records != len(leaves) {
		t.Errorf("manifest root %s over %d records; the run's is %s over %d", m.MerkleRoot, x.Index.Runs[0].Records, run.MerkleRoot, len(leaves))
	}
	var found bool
	for _, cc := range x.Index.Captures {
		if cc.CaptureID != c.ID {
			continue
		}
		found = true
		if len(cc.Redirects) != 2 || cc.WARC == nil || cc.MerkleIndex == nil {
			t.Fatalf("case capture: %+v", cc)
		}
		for i, cr := range cc.Redirects {
			if cr.WARC == nil || cr.MerkleIndex == nil || cr.URL != want[i].URL || cr.Location != want[i].Location {
				t.Fatalf("case capture's redirect %d: %+v", i, cr)
			}
			n := *cr.MerkleIndex
			e := m.Captures[n]
			if !e.Redirect || e.Record != *cr.WARC || e.URL != c.URL {
				t.Errorf("redirect %d: manifest entry %d is %+v", i, n, e)
			}
			if !evidence.VerifyInclusion(digests[n], n, cc.MerkleSize, unhex(t, cr.InclusionProof), root) {
				t.Errorf("redirect %d: inclusion proof does not lead to the root", i)
			}
		}
		if n := *cc.MerkleIndex; n != *cc.Redirects[1].MerkleIndex+1 || !evidence.VerifyInclusion(digests[n], n, cc.MerkleSize, unhex(t, cc.InclusionProof), root) {
			t.Errorf("final exchange: leaf %d, not right after its redirects, or its proof fails", n)
		}
	}
	if !found {
		t.Fatalf("the capture behind the hits is not in the case export")
	}
	var bundle bytes.Buffer
	if err := x.WriteBundle(&bundle, EvidenceDir(r.dataDir)); err != nil {
		t.Fatal(err)
	}
}

func unhex(t *testing.T, ps []string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, p := range ps {
		b, err := hex.DecodeString(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// A byte flipped in a redirect's gzip member fails verification, naming
// that record and no other.
func TestRedirectTamperedInWARC(t *testing.T) {
	r := crawlRedirects(t, "")
	_, hops := r.capture(t, r.base+"/go/lab")
	hop := hops[1].WARC
	path := filepath.Join(EvidenceDir(r.dataDir), filepath.FromSlash(hop.File))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[hop.Offset+hop.Length/2] ^= 0x40
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	probs := r.verify(t)
	if len(probs) == 0 {
		t.Fatal("a tampered redirect record verifies")
	}
	for _, p := range probs {
		if p.RecordID != hop.RecordID || p.File != hop.File || p.Offset != hop.Offset {
			t.Errorf("problem %v does not name the tampered record %s", p, hop.RecordID)
		}
	}
}

// A redirect dropped from a capture's row breaks the chain and the seal;
// one rewritten in the row (where it led) contradicts its record.
func TestRedirectChangedInRow(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(r *redirectRun, hops []Hop) []Hop
		want   []string
	}{
		{"dropped", func(_ *redirectRun, hops []Hop) []Hop { return hops[1:] }, []string{"redirects", "seal"}},
		{"rewritten", func(r *redirectRun, hops []Hop) []Hop {
			hops[1].Location = r.base + "/files/other.pdf"
			return hops
		}, []string{"redirects"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := crawlRedirects(t, "")
			c, hops := r.capture(t, r.base+"/go/lab")
			b, _ := json.Marshal(tc.change(r, hops))
			if err := r.store.DB().Model(&storage.Capture{}).Where("id = ?", c.ID).Update("redirects", string(b)).Error; err != nil {
				t.Fatal(err)
			}
			got := kindsOf(r.verify(t))
			for _, k := range tc.want {
				if got[evidence.ProblemKind(k)] == 0 {
					t.Errorf("no %q problem", k)
				}
				delete(got, evidence.ProblemKind(k))
			}
			if len(got) != 0 {
				t.Errorf("unexpected problems %v", got)
			}
		})
	}
}

// Runs from before redirects were recorded — their rows list redirect URLs
// only, and their roots have no redirect leaves — still verify.
func TestRedirectsOldRows(t *testing.T) {
	hops, err := ParseRedirects(`["http://leaks.test/go/1", "http://leaks.test/mirror/1"]`)
	if err != nil || len(hops) != 2 || hops[1].URL != "http://leaks.test/mirror/1" || hops[1].WARC != nil {
		t.Fatalf("old row: %+v, %v", hops, err)
	}
	r := newRun(t)
	if err := r.store.DB().Model(&storage.Capture{}).Where("id = ?", r.caps[0].ID).
		Update("redirects", `["http://leaks.test/go/0"]`).Error; err != nil {
		t.Fatal(err)
	}
	// Sealed the old way: the captures' payload digests only.
	if err := r.store.SealRun(t.Context(), r.run.ID, hex.EncodeToString(r.root()), "", "", nil); err != nil {
		t.Fatal(err)
	}
	if probs := r.verify(t); len(probs) != 0 {
		t.Fatalf("old run: %v", probs)
	}
}
