package capture

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/leakwatch/leakwatch/internal/metrics"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
	"github.com/leakwatch/leakwatch/storage"
)

// TestPipelineMetrics records items through a pipeline with Metrics set:
// each matched item is one scan of its kind with its bytes and duration,
// each new hit counts once by its method (a re-recorded item adds none),
// and an item that failed to fetch is not a scan.
func TestPipelineMetrics(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "")
	reg := prometheus.NewRegistry()
	f.p.Metrics = metrics.New(reg)
	run, err := f.p.ForRun(f.run)
	if err != nil {
		t.Fatal(err)
	}
	lab := fileItem("http://leaks.test/files/lab.pdf", f.doc(t, synth.KindLabResult))
	res, err := run.Record(ctx, lab)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := run.Record(ctx, lab); err != nil { // unchanged: not matched again
		t.Fatal(err)
	}
	other := fileItem("http://leaks.test/files/other.txt", []byte("nothing of the breach here, only a teaser\n"))
	if _, err := run.Record(ctx, other); err != nil {
		t.Fatal(err)
	}
	failed := fileItem("http://leaks.test/files/gone.pdf", nil)
	failed.Err, failed.Status, failed.Body = errGone, 404, nil
	if _, err := run.Record(ctx, failed); err != nil {
		t.Fatal(err)
	}

	if got := counterOf(t, reg, "leakwatch_scanned_items_total", "file"); got != 2 {
		t.Errorf("scanned files %v, want 2 (the lab result once, the other file)", got)
	}
	if got, want := counterOf(t, reg, "leakwatch_scanned_bytes_total", "file"), float64(len(lab.Body)+len(other.Body)); got != want {
		t.Errorf("scanned bytes %v, want %v", got, want)
	}
	var hits float64
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "leakwatch_hits_total":
			for _, m := range mf.GetMetric() {
				hits += m.GetCounter().GetValue()
			}
		case "leakwatch_scan_duration_seconds":
			if n := mf.GetMetric()[0].GetHistogram().GetSampleCount(); n != 2 {
				t.Errorf("scan duration samples %d, want 2", n)
			}
		}
	}
	if hits != float64(res.NewHits) || hits == 0 {
		t.Errorf("hits counted %v, the pipeline recorded %d new", hits, res.NewHits)
	}
	var stored []storage.Hit
	if err := f.store.DB().Find(&stored).Error; err != nil {
		t.Fatal(err)
	}
	for _, h := range stored {
		if v := counterOf(t, reg, "leakwatch_hits_total", h.Method); v == 0 {
			t.Errorf("hit by %s not counted", h.Method)
		}
	}
}

var errGone = errorString("HTTP 404")

type errorString string

func (e errorString) Error() string { return string(e) }

// counterOf is the value of counter name{label}, one label.
func counterOf(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("%s{%s} not found", name, label)
	return 0
}
