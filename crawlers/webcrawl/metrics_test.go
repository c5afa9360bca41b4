package webcrawl

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/leakwatch/leakwatch/internal/metrics"
	"github.com/leakwatch/leakwatch/internal/testkit/leaksim"
)

// TestCrawlMetrics crawls the simulated forum with Options.Metrics set and
// checks the fetch counters against the crawl's own summary: every page
// and file captured is an "ok" fetch of its kind, the 404 and the refused
// 5 GB download are errors of their kinds, and the bytes are the bytes
// received.
func TestCrawlMetrics(t *testing.T) {
	site := sampleSite(leaksim.Options{})
	ts, _ := newServer(t, site)
	reg := prometheus.NewRegistry()
	sink := &memSink{}
	st, err := crawl(t, Options{MaxDepth: 10, Metrics: metrics.New(reg)}, ts.URL+"/", sink)
	if err != nil {
		t.Fatalf("Crawl: %v", err)
	}
	got := gathered(t, reg)
	t.Logf("stats %+v; metrics %v", st, got)
	if st.Pages == 0 || st.Files == 0 || st.Failed == 0 {
		t.Fatalf("the fixture crawl should have pages, files and failures: %+v", st)
	}
	checks := []struct {
		series  string
		want    float64
		atLeast bool
	}{
		{series: `leakwatch_fetches_total{kind="page",outcome="ok"}`, want: float64(st.Pages)},
		{series: `leakwatch_fetches_total{kind="file",outcome="ok"}`, want: float64(st.Files)},
		// Retried 429/503 answers are errors too, and not in the summary.
		{series: `leakwatch_fetch_errors_total{error="http 4xx",kind="file"}`, want: 1, atLeast: true},
		{series: `leakwatch_fetch_errors_total{error="too large",kind="file"}`, want: 1},
	}
	for _, c := range checks {
		v, ok := got[c.series]
		if !ok || (!c.atLeast && v != c.want) || (c.atLeast && v < c.want) {
			t.Errorf("%s = %v (present %v), want %v (at least: %v)", c.series, v, ok, c.want, c.atLeast)
		}
	}
	var errs, errKinds, bytes float64
	for k, v := range got {
		switch {
		case strings.HasPrefix(k, "leakwatch_fetches_total{") && strings.Contains(k, `outcome="error"`):
			errs += v
		case strings.HasPrefix(k, "leakwatch_fetch_errors_total{"):
			errKinds += v
		case strings.HasPrefix(k, "leakwatch_fetched_bytes_total{"):
			bytes += v
		}
	}
	if errs < float64(st.Failed) || errs != errKinds {
		t.Errorf("error fetches %v, by kind %v; the crawl failed %d", errs, errKinds, st.Failed)
	}
	if bytes < float64(st.Bytes) || bytes == 0 {
		t.Errorf("fetched bytes %v, the crawl received %d", bytes, st.Bytes)
	}
}

// gathered is every sample of reg's counters as "name{label="v",…}" → value
// (labels in name order).
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			key := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			if c := m.GetCounter(); c != nil {
				out[key] = c.GetValue()
			}
		}
	}
	return out
}
