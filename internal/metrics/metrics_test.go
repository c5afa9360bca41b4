package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/leakwatch/leakwatch/fingerprints/memindex"
	"github.com/leakwatch/leakwatch/internal/references"
	"github.com/leakwatch/leakwatch/internal/testkit/promscrape"
)

// value is the sample of family name whose labels include want (nil: the
// first), and whether there is one.
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

// loadedIndex reports a fixed snapshot, as a loaded Scanner would.
type loadedIndex struct{ li references.LoadInfo }

func (x loadedIndex) LoadInfo() references.LoadInfo { return x.li }

// TestListener serves a registry with the work's metrics, a queue and the
// index on a loopback listener and checks /metrics, /healthz and /readyz
// through the index's states: loading (503), loaded (200, with its
// generation), failed (503).
func TestListener(t *testing.T) {
	reg := NewRegistry()
	m := New(reg)
	var idx Index
	queueErr := error(nil)
	oldest := time.Now().Add(-90 * time.Second)
	qs := NewQueues(nil)
	qs.Add(Queue{Name: "hits", Backlog: func(context.Context) (int64, time.Time, error) { return 3, oldest, queueErr }})
	reg.MustRegister(idx.Collector(), qs)

	m.ObserveFetch("file", OutcomeOK, "", 1000)
	m.ObserveFetch("page", OutcomeError, "http 5xx", 20)
	m.ObserveScan("file", 1000, 30*time.Millisecond, nil)
	m.ObserveScan("file", 0, 2*time.Millisecond, errors.New("index gone"))
	m.ObserveHit("sha256")
	m.ObserveHit("sha256")
	m.ObserveNoticeSend("sent")
	var none *Metrics // a process without metrics: hooks do nothing
	none.ObserveFetch("file", OutcomeOK, "", 1)
	none.ObserveHit("x")

	dbUp := true
	checks := []ReadyCheck{{Name: "database", Check: func(context.Context) error {
		if !dbUp {
			return errors.New("dial tcp 10.9.9.9:5432: refused")
		}
		return nil
	}}, idx.ReadyCheck()}
	l, err := Listen("127.0.0.1:0", reg, checks, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	base := "http://" + l.Addr()

	ready := func() (int, map[string]any) {
		t.Helper()
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	indexDetail := func(body map[string]any) map[string]any {
		d, _ := body["details"].(map[string]any)
		x, _ := d["index"].(map[string]any)
		return x
	}

	// A process that matches nothing: ready, index not needed.
	code, body := ready()
	if d := indexDetail(body); code != http.StatusOK || d["needed"] != false {
		t.Errorf("index not needed: %d %v", code, body)
	}
	idx.Loading()
	code, body = ready()
	checksOut, _ := body["checks"].(map[string]any)
	if code != http.StatusServiceUnavailable || checksOut["index"] != "failing" || checksOut["database"] != "ok" ||
		indexDetail(body)["loaded"] != false {
		t.Errorf("index loading: %d %v", code, body)
	}
	at := time.Now().Add(-time.Minute)
	idx.Loaded(loadedIndex{references.LoadInfo{Generation: 7, LoadedAt: at, Took: 1500 * time.Millisecond,
		Stats: memindex.Stats{References: 201, Prints: 5000, Images: 12, Fields: 40}, Segments: 2, SegmentBytes: 81920}})
	code, body = ready()
	if d := indexDetail(body); code != http.StatusOK || body["ready"] != true || d["loaded"] != true ||
		d["generation"] != float64(7) || d["load_seconds"] != 1.5 || d["references"] != float64(201) {
		t.Errorf("index loaded: %d %v", code, body)
	}
	dbUp = false
	code, raw := ready()
	if code != http.StatusServiceUnavailable || strings.Contains(func() string { b, _ := json.Marshal(raw); return string(b) }(), "10.9.9.9") {
		t.Errorf("database down: %d %v (the cause must not be served)", code, raw)
	}
	dbUp = true

	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()

	mfs := promscrape.Scrape(t, base+"/metrics")
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"leakwatch_fetches_total", map[string]string{"kind": "file", "outcome": "ok"}, 1},
		{"leakwatch_fetches_total", map[string]string{"kind": "page", "outcome": "error"}, 1},
		{"leakwatch_fetches_total", map[string]string{"kind": "message", "outcome": "ok"}, 0},
		{"leakwatch_fetch_errors_total", map[string]string{"kind": "page", "error": "http 5xx"}, 1},
		{"leakwatch_fetched_bytes_total", map[string]string{"kind": "file"}, 1000},
		{"leakwatch_scanned_items_total", map[string]string{"kind": "file"}, 2},
		{"leakwatch_scanned_bytes_total", map[string]string{"kind": "file"}, 1000},
		{"leakwatch_scan_errors_total", map[string]string{"kind": "file"}, 1},
		{"leakwatch_scan_duration_seconds", map[string]string{"kind": "file"}, 2},
		{"leakwatch_hits_total", map[string]string{"method": "sha256"}, 2},
		{"leakwatch_notice_sends_total", map[string]string{"outcome": "sent"}, 1},
		{"leakwatch_notice_sends_total", map[string]string{"outcome": "refused"}, 0},
		{"leakwatch_queue_items", map[string]string{"queue": "hits"}, 3},
		{"leakwatch_queue_up", map[string]string{"queue": "hits"}, 1},
		{"leakwatch_index_loaded", nil, 1},
		{"leakwatch_index_references", nil, 201},
		{"leakwatch_index_fingerprints", map[string]string{"layer": "text"}, 5000},
		{"leakwatch_index_segment_bytes", nil, 81920},
		{"leakwatch_index_generation", nil, 7},
		{"leakwatch_index_load_seconds", nil, 1.5},
	} {
		if v, ok := value(mfs, c.name, c.labels); !ok || v != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, v, ok, c.want)
		}
	}
	if lag, ok := value(mfs, "leakwatch_queue_lag_seconds", map[string]string{"queue": "hits"}); !ok || lag < 89 || lag > 300 {
		t.Errorf("hits queue lag %v (present %v), want about 90 s", lag, ok)
	}
	if _, ok := mfs["go_goroutines"]; !ok {
		t.Error("the registry has no Go runtime metrics")
	}

	// A queue that cannot be read says so instead of reporting 0.
	queueErr = errors.New("database gone")
	mfs = promscrape.Scrape(t, base+"/metrics")
	if up, ok := value(mfs, "leakwatch_queue_up", map[string]string{"queue": "hits"}); !ok || up != 0 {
		t.Errorf("failing queue: up %v (present %v)", up, ok)
	}
	if _, ok := value(mfs, "leakwatch_queue_items", map[string]string{"queue": "hits"}); ok {
		t.Error("failing queue still reports items")
	}
}

// TestListenPortInUse: a port another process holds fails at once.
func TestListenPortInUse(t *testing.T) {
	l, err := Listen("127.0.0.1:0", NewRegistry(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.ln.Close()
	if _, err := Listen(l.Addr(), NewRegistry(), nil, nil); err == nil || !strings.Contains(err.Error(), l.Addr()) {
		t.Fatalf("second listener on %s: %v", l.Addr(), err)
	}
}

// TestTemporalHandler: what the SDK records through the handler reaches
// the registry under Prometheus names (counters *_total, timers *_seconds
// histograms), with its tags as labels.
func TestTemporalHandler(t *testing.T) {
	reg := NewRegistry()
	h, closer := TemporalHandler(reg, nil)
	h = h.WithTags(map[string]string{"namespace": "leakwatch", "task_queue": "leakwatch"})
	h.Counter("temporal_request").Inc(3)
	h.Timer("temporal_activity_schedule_to_start_latency").Record(250 * time.Millisecond)
	h.Gauge("temporal_worker_task_slots_available").Update(5)
	if err := closer.Close(); err != nil { // reports what is pending
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	labels := map[string]string{"namespace": "leakwatch", "task_queue": "leakwatch"}
	if v, ok := value(byName, "temporal_request_total", labels); !ok || v != 3 {
		t.Errorf("temporal_request_total = %v (present %v); have %v", v, ok, names(byName))
	}
	if v, ok := value(byName, "temporal_activity_schedule_to_start_latency_seconds", labels); !ok || v != 1 {
		t.Errorf("schedule-to-start histogram count = %v (present %v); have %v", v, ok, names(byName))
	}
	if v, ok := value(byName, "temporal_worker_task_slots_available", labels); !ok || v != 5 {
		t.Errorf("slots gauge = %v (present %v); have %v", v, ok, names(byName))
	}
}

func names(mfs map[string]*dto.MetricFamily) []string {
	var out []string
	for n := range mfs {
		if strings.HasPrefix(n, "temporal_") {
			out = append(out, n)
		}
	}
	return out
}
