package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// benchTemporalBinary finds a built leakwatch-temporal: the one
// LEAKWATCH_TEMPORAL_BINARY names (relative paths from the module root),
// else the module's bin/leakwatch-temporal. It skips the test when there is
// none: building the server takes many minutes.
func benchTemporalBinary(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := wd
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			t.Fatalf("no go.mod above %s", wd)
		}
		root = parent
	}
	p := os.Getenv("LEAKWATCH_TEMPORAL_BINARY")
	if p == "" {
		p = filepath.Join("bin", "leakwatch-temporal")
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(root, p)
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("no leakwatch-temporal at %s (set LEAKWATCH_TEMPORAL_BINARY, or `go build -o bin/leakwatch-temporal ./cmd/leakwatch-temporal`)", p)
	}
	return p
}

// TestBenchCases runs `bench cases --n 20` end to end on the real embedded
// server: every case drafts exactly one notice, and the figures are there.
// It holds no timing to a threshold.
func TestBenchCases(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the embedded Temporal server")
	}
	bin := benchTemporalBinary(t)
	dir := filepath.Join(t.TempDir(), "bench")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	err := run(ctx, []string{"bench", "cases", "--n", "20", "--json", "--data", dir, "--temporal-binary", bin},
		strings.NewReader(""), &stdout, &stderr)
	if err != nil {
		t.Fatalf("bench cases: %v\nstderr:\n%s", err, stderr.String())
	}
	var b casesBench
	if err := json.Unmarshal(stdout.Bytes(), &b); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout.String())
	}
	if b.N != 20 || b.Items != 1 || b.Drafts != 20 {
		t.Errorf("n %d, items %d, drafts %d; want 20, 1, 20", b.N, b.Items, b.Drafts)
	}
	for name, v := range map[string]float64{
		"cases/s": b.CasesPerSec, "drafts/s": b.DraftsPerSec, "dispatch": b.DispatchMS, "latency min": b.LatencyMinMS,
		"latency p50": b.LatencyP50MS, "latency p99": b.LatencyP99MS, "latency max": b.LatencyMaxMS,
		"settled": b.SettledMS, "wall": b.WallMS, "history events": b.HistoryEvents,
		"peak RSS": float64(b.PeakRSS), "server peak RSS": float64(b.ServerPeakRSS), "CPUs": float64(b.CPUs),
	} {
		if !(v > 0) {
			t.Errorf("%s = %v, want positive", name, v)
		}
	}
	if !(b.LatencyMinMS <= b.LatencyP50MS && b.LatencyP50MS <= b.LatencyP99MS && b.LatencyP99MS <= b.LatencyMaxMS) {
		t.Errorf("latencies out of order: min %v p50 %v p99 %v max %v", b.LatencyMinMS, b.LatencyP50MS, b.LatencyP99MS, b.LatencyMaxMS)
	}
	if a := b.Activity["DraftNotice"]; a.Executions < 20 || a.Failures != 0 {
		t.Errorf("DraftNotice activity: %+v; want 20 executions, no failures", a)
	}
	if b.WorkflowInstances < 20 {
		t.Errorf("worker built %d case workflows, want at least 20", b.WorkflowInstances)
	}

	// The store the benchmark kept: one draft per case, to the default recipient.
	store, err := storage.Open(ctx, "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cases, err := store.ListCases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 20 {
		t.Fatalf("%d cases, want 20", len(cases))
	}
	for _, c := range cases {
		ns, err := store.NoticesForCase(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ns) != 1 || ns[0].State != storage.NoticeDraft || ns[0].Recipient != "abuse@bench.example" {
			var got []string
			for _, n := range ns {
				got = append(got, string(n.State)+" to "+n.Recipient)
			}
			t.Errorf("case %s: notices %q, want exactly one draft to abuse@bench.example", c.Target, got)
			continue
		}
		if c.State != storage.CaseDrafted {
			t.Errorf("case %s is %s, want drafted", c.Target, c.State)
		}
		if !strings.Contains(ns[0].BodyText, c.Target) || len(ns[0].PDF) == 0 {
			t.Errorf("case %s: the draft does not name the host or has no PDF", c.Target)
		}
	}
}
