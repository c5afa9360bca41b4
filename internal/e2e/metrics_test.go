package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/leakwatch/leakwatch/internal/testkit/promscrape"
)

// TestMetricsAndJSONLogs runs `leakwatch up` with its metrics listener
// (LEAKWATCH_METRICS_LISTEN) and JSON logs (LEAKWATCH_LOG_FORMAT=json), lets
// the worker crawl the fixture forum on its schedule, approves the notice
// and, once it reached the SMTP sink, scrapes both /metrics: the work's
// counters match what happened (fetches, bytes, scans, hits by method, one
// notice sent), the index and queue gauges are there, the Temporal SDK's
// temporal_* series are on the same page, and /readyz reports the loaded
// index. The log is JSON throughout; the crawl's lines carry its run and
// source ids, the send's its case, notice and workflow ids, and no line
// holds text of the leaked documents.
func TestMetricsAndJSONLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test starts the Temporal server")
	}
	h := newHarness(t, harnessOptions{})
	h.mustCLI("", "refs", "add", h.refsDir)
	h.mustCLI(lawyerPW+"\n", "users", "add", "lawyer", "--role", "legal", "--password-stdin")
	// A schedule starts its first crawl at once, in the worker.
	h.mustCLI("", "sources", "add", "forum", h.siteURL, "--every", "1h")

	metricsAddr := freeAddr(t)
	t.Setenv("LEAKWATCH_METRICS_LISTEN", metricsAddr)
	t.Setenv("LEAKWATCH_LOG_FORMAT", "json")
	h.up()
	metricsURL := "http://" + metricsAddr

	lawyer := h.login("lawyer", lawyerPW)
	c := lawyer.waitCase("a drafted notice", func(c apiCase) bool { return c.State == "drafted" && len(c.Notices) > 0 })
	if code := lawyer.do("POST", fmt.Sprintf("/api/cases/%d/approve", c.ID), map[string]int{"revision": c.Notices[0].Revision}, nil); code != http.StatusOK {
		t.Fatalf("approve: HTTP %d", code)
	}
	lawyer.waitCase("the notice to be sent", func(c apiCase) bool { return c.State == "sent" })
	if n := len(h.sink.Messages()); n != 1 {
		t.Fatalf("sink has %d messages, want 1", n)
	}

	// The SDK hands its figures over every second: wait for them.
	var mfs map[string]*dto.MetricFamily
	h.eventually("Temporal SDK metrics on /metrics", time.Minute, func() (bool, error) {
		mfs = promscrape.Scrape(t, metricsURL+"/metrics")
		_, ok := mfs["temporal_activity_execution_latency_seconds"]
		return ok, nil
	})
	sum := func(name string, labels map[string]string) (float64, bool) {
		return sumSamples(mfs, name, labels)
	}
	// Three leaked files plus one unrelated, each on its thread page.
	for _, c := range []struct {
		name   string
		labels map[string]string
		min    float64
		max    float64
	}{
		{"leakwatch_fetches_total", map[string]string{"kind": "page", "outcome": "ok"}, 2, 1e6},
		{"leakwatch_fetches_total", map[string]string{"kind": "file", "outcome": "ok"}, 4, 1e6},
		{"leakwatch_fetched_bytes_total", map[string]string{"kind": "file"}, 1, 1e9},
		{"leakwatch_scanned_items_total", map[string]string{"kind": "file"}, 4, 1e6},
		{"leakwatch_scan_duration_seconds", map[string]string{"kind": "file"}, 4, 1e6},
		{"leakwatch_hits_total", map[string]string{"method": "sha256"}, float64(len(h.leaked)), 1e6},
		{"leakwatch_notice_sends_total", map[string]string{"outcome": "sent"}, 1, 1},
		{"leakwatch_notice_sends_total", map[string]string{"outcome": "uncertain"}, 0, 0},
		{"leakwatch_index_loaded", nil, 1, 1},
		{"leakwatch_index_references", nil, float64(len(h.refs)), float64(len(h.refs))},
		{"leakwatch_index_segment_bytes", nil, 1, 1e12},
		{"leakwatch_queue_up", map[string]string{"queue": "hits"}, 1, 1},
		{"leakwatch_queue_items", map[string]string{"queue": "hits"}, 0, 1e6},
		// Temporal's task-queue lag and work, from the SDK. (Activities
		// the worker runs eagerly, as here, skip the task queue and have
		// no schedule-to-start latency.)
		{"temporal_workflow_task_schedule_to_start_latency_seconds", nil, 1, 1e9},
		{"temporal_activity_execution_latency_seconds", nil, 1, 1e9},
		{"temporal_request_total", nil, 1, 1e9},
	} {
		if v, ok := sum(c.name, c.labels); !ok || v < c.min || v > c.max {
			t.Errorf("%s%v = %v (present %v), want %v..%v", c.name, c.labels, v, ok, c.min, c.max)
		}
	}
	if t.Failed() {
		t.Logf("families: %v", familyNames(mfs))
	}

	// The web listener serves the same registry (to loopback), with the
	// case metrics from the database beside it.
	web := promscrape.Scrape(t, h.webURL+"/metrics")
	for _, name := range []string{"leakwatch_cases", "leakwatch_fetches_total", "temporal_request_total"} {
		if _, ok := web[name]; !ok {
			t.Errorf("web /metrics has no %s", name)
		}
	}

	// /readyz on the metrics listener: every check ok, the index loaded.
	resp, err := http.Get(metricsURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var ready struct {
		Ready   bool              `json:"ready"`
		Checks  map[string]string `json:"checks"`
		Details struct {
			Index struct {
				Loaded      bool    `json:"loaded"`
				Generation  int64   `json:"generation"`
				LoadSeconds float64 `json:"load_seconds"`
				References  int     `json:"references"`
			} `json:"index"`
		} `json:"details"`
	}
	err = json.NewDecoder(resp.Body).Decode(&ready)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !ready.Ready || ready.Checks["database"] != "ok" ||
		ready.Checks["temporal"] != "ok" || ready.Checks["index"] != "ok" || !ready.Details.Index.Loaded ||
		ready.Details.Index.Generation == 0 || ready.Details.Index.References != len(h.refs) {
		t.Errorf("readyz: HTTP %d %+v (%v)", resp.StatusCode, ready, err)
	}

	h.checkJSONLog()
}

// checkJSONLog reads up's log: every line JSON, the crawl's lines tagged
// with its run and source, the send's with its case, notice and workflow,
// and none with text of a leaked document.
func (h *harness) checkJSONLog() {
	t := h.t
	raw, err := os.ReadFile(filepath.Join(h.dir, "up.log"))
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for _, d := range h.leaked {
		for _, line := range strings.Split(string(h.read(d)), "\n") {
			// Distinctive lines of the documents (names, NHI numbers, results).
			if line = strings.TrimSpace(line); len(line) >= 16 && !strings.HasPrefix(line, "%") {
				secrets = append(secrets, line)
			}
		}
	}
	found := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "{") {
			continue // the "leakwatch is up" banner on stdout
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("log line holds document text %q: %s", s, line)
			}
		}
		has := func(keys ...string) bool {
			for _, k := range keys {
				if _, ok := rec[k]; !ok {
					return false
				}
			}
			return true
		}
		switch rec["msg"] {
		case "crawl started", "crawl finished":
			if !has("run_id", "source_id", "workflow_id") {
				t.Errorf("crawl line without its ids: %s", line)
			}
			found["crawl"] = true
		case "capture matches the breach":
			if !has("run_id", "source_id") {
				t.Errorf("match line without the run's ids: %s", line)
			}
			found["match"] = true
		case "notice sent":
			if !has("case_id", "notice_id", "workflow_id") {
				t.Errorf("send line without its ids: %s", line)
			}
			found["send"] = true
		}
	}
	for _, k := range []string{"crawl", "match", "send"} {
		if !found[k] {
			t.Errorf("no %s line in the log:\n%s", k, tail(string(raw), 40))
		}
	}
}

// sumSamples adds up family name's samples whose labels include labels:
// counters' and gauges' values, histograms' counts.
func sumSamples(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
	total, any := 0.0, false
next:
	for _, m := range mf.GetMetric() {
		for k, v := range labels {
			ok := false
			for _, l := range m.GetLabel() {
				ok = ok || (l.GetName() == k && l.GetValue() == v)
			}
			if !ok {
				continue next
			}
		}
		any = true
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Histogram != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total, any
}

func familyNames(mfs map[string]*dto.MetricFamily) []string {
	out := make([]string, 0, len(mfs))
	for n := range mfs {
		out = append(out, n)
	}
	return out
}

// TestWorkerMetricsListener runs `leakwatch worker` alone (it has no web
// listener) with metrics.listen set: its listener answers /healthz, its
// /readyz checks the database, Temporal and the loaded index, and its
// /metrics holds the index's size and the Temporal SDK's series. A second
// worker told to use the same port fails at start, saying why.
func TestWorkerMetricsListener(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test starts the Temporal server")
	}
	h := newHarness(t, harnessOptions{})
	h.mustCLI("", "refs", "add", h.refsDir)
	addr := freeAddr(t)
	t.Setenv("LEAKWATCH_METRICS_LISTEN", addr)

	cmd := exec.Command(h.leakwatch, "--config", h.cfgPath, "worker")
	logf, err := os.Create(filepath.Join(h.dir, "up.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	base := "http://" + addr
	h.eventually("the worker is ready", 2*time.Minute, func() (bool, error) {
		select {
		case <-done:
			return false, fmt.Errorf("worker exited early:\n%s", h.log())
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if resp, err := http.Get(base + "/healthz"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	var mfs map[string]*dto.MetricFamily
	h.eventually("Temporal SDK metrics on the worker's /metrics", time.Minute, func() (bool, error) {
		mfs = promscrape.Scrape(t, base+"/metrics")
		_, ok := mfs["temporal_request_total"]
		return ok, nil
	})
	if v, ok := sumSamples(mfs, "leakwatch_index_references", nil); !ok || v != float64(len(h.refs)) {
		t.Errorf("leakwatch_index_references = %v (present %v), want %d", v, ok, len(h.refs))
	}
	if v, ok := sumSamples(mfs, "leakwatch_index_load_seconds", nil); !ok || v <= 0 {
		t.Errorf("leakwatch_index_load_seconds = %v (present %v)", v, ok)
	}
	// The worker serves no UI: nothing but the three paths.
	if resp, err := http.Get(base + "/api/cases"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /api/cases on the metrics listener: %v %v, want 404", resp, err)
	}

	// Another process on the same port: refused at start, naming it. (In
	// a data directory of its own: this one's lock is taken, and the lock
	// comes first.)
	_, errOut, code := h.cli("", "--data-dir", t.TempDir(), "worker")
	if code == 0 || !strings.Contains(errOut, addr) {
		t.Errorf("second worker on %s: exit %d, %q", addr, code, errOut)
	}
}
