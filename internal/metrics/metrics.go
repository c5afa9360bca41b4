// Package metrics holds leakwatch's Prometheus metrics of the heavy work —
// fetching, matching, sending — and what a process serves to operators
// beside them: /metrics, /healthz and /readyz.
//
// There is no global registry: main makes one (NewRegistry) per process and
// hands it to New, to the Temporal SDK's handler (TemporalHandler) and to
// the web server, so one scrape of a process shows all of them. The hooks
// the crawlers, the capture pipeline and the case activities call are
// methods of *Metrics that do nothing on a nil receiver, so a process (or
// test) that keeps no metrics passes nil.
//
// Labels carry kinds, outcomes, methods and error kinds only: never a URL,
// a host, a reference's name or anything of a document.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Fetch outcomes (the outcome label of leakwatch_fetches_total).
const (
	OutcomeOK          = "ok"
	OutcomeNotModified = "not-modified"
	OutcomeError       = "error"
)

// NewRegistry returns a registry holding the Go runtime's and the
// process's collectors, for New and the other metrics of one process.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Metrics are the counters and histograms the work updates as it happens.
// Its methods are safe for concurrent use and do nothing on nil.
type Metrics struct {
	fetches      *prometheus.CounterVec
	fetchBytes   *prometheus.CounterVec
	fetchErrors  *prometheus.CounterVec
	scanned      *prometheus.CounterVec
	scanBytes    *prometheus.CounterVec
	scanErrors   *prometheus.CounterVec
	scanDuration *prometheus.HistogramVec
	hits         *prometheus.CounterVec
	noticeSends  *prometheus.CounterVec
}

// New makes the work's metrics and registers them with reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		fetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leakwatch_fetches_total",
			Help: "Fetches from sources by kind (page, file, message) and outcome (ok, not-modified, error): HTTP requests of crawls and removal re-checks, Telegram messages and downloads.",
		}, []string{"kind", "outcome"}),
		fetchBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leakwatch_fetched_bytes_total",
			Help: "Raw bytes received from sources, by kind of fetch.",
		}, []string{"kind"}),
		fetchErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leakwatch_fetch_errors_total",
			Help: "Failed fetches by kind of fetch and kind of error, as a crawl run's summary counts them (\"http 4xx\", \"timeout\", \"dns\", \"login wall\", …).",
		}, []string{"kind", "error"}),
		scanned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leakwatch_scanned_items_total",
			Help: "Captured items matched against the reference index, by capture kind.",
		}, []string{"kind"}),
		scanBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leakwatch_scanned_bytes_total",
			Help: "Bytes of content matched against the reference index, by capture kind (0 for items matched by digest only).",
		}, []string{"kind"}),
		scanErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leakwatch_scan_errors_total",
			Help: "Items whose matching failed (the index or the database, not the item's format), by capture kind.",
		}, []string{"kind"}),
		scanDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "leakwatch_scan_duration_seconds",
			Help:    "Time to fingerprint and match one captured item (and every member inside it), by capture kind.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"kind"}),
		hits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leakwatch_hits_total",
			Help: "New hits recorded, by matching method (sha256, winnow, tlsh, pdq, edm, crc32, keyword, …).",
		}, []string{"method"}),
		noticeSends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leakwatch_notice_sends_total",
			Help: "Notice send attempts by outcome: sent, already-sent, uncertain (may have been delivered; a person decides), refused (permanent SMTP error), failed (retried).",
		}, []string{"outcome"}),
	}
	reg.MustRegister(m.fetches, m.fetchBytes, m.fetchErrors, m.scanned, m.scanBytes, m.scanErrors, m.scanDuration,
		m.hits, m.noticeSends)
	// The outcomes an operator alerts on exist from the start, at 0, so
	// rate() and absent() work before the first failure.
	for _, o := range []string{"sent", "already-sent", "uncertain", "refused", "failed"} {
		m.noticeSends.WithLabelValues(o)
	}
	for _, k := range []string{"page", "file", "message"} {
		for _, o := range []string{OutcomeOK, OutcomeNotModified, OutcomeError} {
			m.fetches.WithLabelValues(k, o)
		}
	}
	return m
}

// ObserveFetch counts one fetch from a source: its kind (page, file,
// message), outcome (OutcomeOK, OutcomeNotModified, OutcomeError), the kind
// of error when it failed, and the raw bytes received.
func (m *Metrics) ObserveFetch(kind, outcome, errKind string, bytes int64) {
	if m == nil {
		return
	}
	m.fetches.WithLabelValues(kind, outcome).Inc()
	if bytes > 0 {
		m.fetchBytes.WithLabelValues(kind).Add(float64(bytes))
	}
	if outcome == OutcomeError {
		m.fetchErrors.WithLabelValues(kind, errKind).Inc()
	}
}

// ObserveScan counts one captured item matched against the index: its
// kind, the bytes of content matched, how long it took, and whether it
// failed.
func (m *Metrics) ObserveScan(kind string, bytes int, took time.Duration, err error) {
	if m == nil {
		return
	}
	m.scanned.WithLabelValues(kind).Inc()
	m.scanBytes.WithLabelValues(kind).Add(float64(bytes))
	m.scanDuration.WithLabelValues(kind).Observe(took.Seconds())
	if err != nil {
		m.scanErrors.WithLabelValues(kind).Inc()
	}
}

// ObserveHit counts a new hit found by method.
func (m *Metrics) ObserveHit(method string) {
	if m == nil {
		return
	}
	m.hits.WithLabelValues(method).Inc()
}

// ObserveNoticeSend counts one attempt to send a notice, by outcome.
func (m *Metrics) ObserveNoticeSend(outcome string) {
	if m == nil {
		return
	}
	m.noticeSends.WithLabelValues(outcome).Inc()
}
