package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/leakwatch/leakwatch/internal/metrics"
	"github.com/leakwatch/leakwatch/storage"
)

// Takedown metrics: how long infringing items take from capture to hit,
// draft, approval, send and verified removal (see storage.Stage for what
// each stage's time is), exposure-hours, and items, notices and cases by
// state, per target (host or channel) and overall. They are served two ways:
//
//   - GET /api/metrics/cases, to any signed-in role, as JSON (durations in
//     seconds and as text);
//   - GET /metrics, in the Prometheus text format, to loopback clients and
//     signed-in admins only (see metricsAllowed).
//
// Labels carry target host names, stages and states only: never a URL,
// a reference's name or anything of a document.

// caseMetricsTimeout bounds one computation of the case metrics, for the
// API or a scrape.
const caseMetricsTimeout = 10 * time.Second

// stageJSON is how long items took to reach one stage from their first
// capture. The seconds are null when no item reached it.
type stageJSON struct {
	Count         int      `json:"count"`
	MedianSeconds *float64 `json:"median_seconds"`
	P90Seconds    *float64 `json:"p90_seconds"`
	Median        string   `json:"median"` // "3h 20m"; "" when no item reached it
	P90           string   `json:"p90"`
}

// targetMetricsJSON are one target's takedown metrics, or all targets'.
type targetMetricsJSON struct {
	Target         string                      `json:"target,omitempty"` // absent for the overall metrics
	Stages         map[storage.Stage]stageJSON `json:"stages"`
	ExposureHours  float64                     `json:"exposure_hours"`
	Items          int                         `json:"items"`
	Removed        int                         `json:"removed"`
	ItemsByState   map[storage.ItemState]int   `json:"items_by_state"`
	NoticesByState map[storage.NoticeState]int `json:"notices_by_state"`
	CasesByState   map[storage.CaseState]int   `json:"cases_by_state"`
}

// caseMetricsJSON is GET /api/metrics/cases.
type caseMetricsJSON struct {
	At         time.Time           `json:"at"`          // exposure is measured to here
	StageOrder []storage.Stage     `json:"stage_order"` // the stages, in takedown order
	Overall    targetMetricsJSON   `json:"overall"`
	Targets    []targetMetricsJSON `json:"targets"` // by target
}

func toTargetMetricsJSON(m storage.TargetMetrics) targetMetricsJSON {
	out := targetMetricsJSON{Target: m.Target, Stages: map[storage.Stage]stageJSON{}, ExposureHours: m.ExposureHours,
		Items: m.Items, Removed: m.Removed, ItemsByState: m.ItemsByState, NoticesByState: m.NoticesByState,
		CasesByState: m.CasesByState}
	for _, st := range storage.Stages() {
		ss := m.Stages[st]
		sj := stageJSON{Count: ss.Count}
		if ss.Count > 0 {
			med, p90 := ss.Median.Seconds(), ss.P90.Seconds()
			sj.MedianSeconds, sj.P90Seconds = &med, &p90
			sj.Median, sj.P90 = humanDuration(ss.Median), humanDuration(ss.P90)
		}
		out.Stages[st] = sj
	}
	return out
}

// handleAPICaseMetrics is GET /api/metrics/cases.
func (s *Server) handleAPICaseMetrics(w http.ResponseWriter, r *http.Request, _ *authed) {
	ctx, cancel := context.WithTimeout(r.Context(), caseMetricsTimeout)
	defer cancel()
	m, err := s.store.CaseMetrics(ctx, s.now())
	if err != nil {
		s.log.ErrorContext(r.Context(), "case metrics", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	out := caseMetricsJSON{At: m.At, StageOrder: storage.Stages(), Overall: toTargetMetricsJSON(m.Overall),
		Targets: make([]targetMetricsJSON, 0, len(m.Targets))}
	for _, t := range m.Targets {
		out.Targets = append(out.Targets, toTargetMetricsJSON(t))
	}
	writeJSON(w, http.StatusOK, out)
}

// humanDuration shows a duration in its two largest units: "45s", "12m 30s",
// "5h 48m", "3d 4h".
func humanDuration(d time.Duration) string {
	d = max(d, 0).Round(time.Second)
	const day = 24 * time.Hour
	units := []struct {
		size time.Duration
		name string
	}{{day, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}}
	for i, u := range units {
		if d < u.size && u.size != time.Second {
			continue
		}
		s := fmt.Sprintf("%d%s", d/u.size, u.name)
		if i+1 < len(units) {
			if rest := (d % u.size) / units[i+1].size; rest > 0 {
				s += fmt.Sprintf(" %d%s", rest, units[i+1].name)
			}
		}
		return s
	}
	return "0s"
}

// metricsHandler is GET /metrics: a registry of this Server's own (no
// global state), holding the case metrics collector and the Go runtime's
// and process's, behind metricsAllowed.
func (s *Server) metricsHandler() http.Handler {
	reg := s.reg
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	// Each scrape reads every case, item, hit and notice; the handler
	// lets a few scrapes run at once, the rest get 503.
	if err := reg.Register(&caseCollector{store: s.store, now: s.now, log: s.log}); err != nil {
		s.log.Error("metrics: case metrics not registered", "err", err)
	}
	prom := metrics.Handler(reg, s.log)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, err := s.metricsAllowed(r)
		if err != nil {
			s.log.ErrorContext(r.Context(), "metrics: load session", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		if !ok { // the access log has the refusal
			http.Error(w, "metrics are served only to clients on this machine (loopback) and to signed-in admins",
				http.StatusForbidden)
			return
		}
		prom.ServeHTTP(w, r)
	})
}

// metricsAllowed decides who may read /metrics. There is no scrape token
// to configure, and the metrics (targets, how fast takedowns go) must not
// reach the internet, so it is served only
//
//   - to a local scraper: a loopback peer that names the server by a
//     loopback name or address (so a page in a local browser that
//     rebinds its own domain to 127.0.0.1 does not count), with no
//     X-Forwarded-For, Forwarded or X-Real-IP header (so a reverse proxy
//     on the same host does not make every internet client local; a
//     proxy that adds none of them must not forward /metrics);
//   - to a signed-in admin, from anywhere (a session cookie, as for the
//     UI).
func (s *Server) metricsAllowed(r *http.Request) (bool, error) {
	if localRequest(r) {
		return true, nil
	}
	a, err := s.authenticate(r)
	if err != nil {
		if errors.Is(err, errNoSession) {
			return false, nil
		}
		return false, err
	}
	// An admin who has not enrolled in MFA yet is only half signed in.
	return a.user.Role == storage.RoleAdmin && !a.mfaPending(), nil
}

// localRequest reports a request straight from this machine: see
// metricsAllowed.
func localRequest(r *http.Request) bool {
	if !parseAddr(r.RemoteAddr).IsLoopback() {
		return false
	}
	for _, h := range []string{"X-Forwarded-For", "Forwarded", "X-Real-Ip"} {
		if len(r.Header.Values(h)) > 0 {
			return false
		}
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// The case metrics' series. Per-target families add up to the overall
// figure (sum without (target)); percentiles do not, so the overall ones
// have a family of their own.
var (
	descStageSeconds = prometheus.NewDesc("leakwatch_case_stage_seconds",
		"Time from an item's first capture to reaching the stage (hit, draft, approval, send, removal), "+
			"median (quantile 0.5) and 90th percentile (0.9) over the target's items that reached it.",
		[]string{"target", "stage", "quantile"}, nil)
	descStageItems = prometheus.NewDesc("leakwatch_case_stage_items",
		"Items of the target (dismissed ones left out) that reached the stage.",
		[]string{"target", "stage"}, nil)
	descStageOverallSeconds = prometheus.NewDesc("leakwatch_case_stage_overall_seconds",
		"Time from an item's first capture to reaching the stage, median (0.5) and 90th percentile (0.9) over every target's items.",
		[]string{"stage", "quantile"}, nil)
	descExposure = prometheus.NewDesc("leakwatch_case_exposure_hours",
		"Hours the target's confirmed and removed items were up: first capture to verified removal, or to now.",
		[]string{"target"}, nil)
	descItems = prometheus.NewDesc("leakwatch_case_items",
		"Infringing items (URLs, messages) of the target's case by state.",
		[]string{"target", "state"}, nil)
	descNotices = prometheus.NewDesc("leakwatch_notices",
		"Notice revisions of the target's case by state.",
		[]string{"target", "state"}, nil)
	descCases = prometheus.NewDesc("leakwatch_cases",
		"Takedown cases by state.",
		[]string{"state"}, nil)
	descUp = prometheus.NewDesc("leakwatch_case_metrics_up",
		"1 if the case metrics were read from the database for this scrape, 0 if that failed (see the server log).",
		nil, nil)
)

// The states always exported (as 0 when none), so a state's absence never
// hides in a missing series; states found in the data are added.
var (
	metricItemStates   = []storage.ItemState{storage.ItemNew, storage.ItemConfirmed, storage.ItemDismissed, storage.ItemRemoved}
	metricNoticeStates = []storage.NoticeState{storage.NoticeDraft, storage.NoticeChangesRequested, storage.NoticeApproved,
		storage.NoticeSending, storage.NoticeUncertain, storage.NoticeRefused, storage.NoticeSent, storage.NoticeSuperseded}
)

// caseCollector reads the case metrics on every scrape.
type caseCollector struct {
	store *storage.Store
	now   func() time.Time
	log   *slog.Logger
}

func (c *caseCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descStageSeconds, descStageItems, descStageOverallSeconds, descExposure,
		descItems, descNotices, descCases, descUp} {
		ch <- d
	}
}

func (c *caseCollector) Collect(ch chan<- prometheus.Metric) {
	// Collect has no request context: the timeout bounds the queries.
	ctx, cancel := context.WithTimeout(context.Background(), caseMetricsTimeout)
	defer cancel()
	m, err := c.store.CaseMetrics(ctx, c.now())
	if err != nil {
		c.log.ErrorContext(ctx, "metrics: case metrics", "err", err)
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, 1)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, st := range storage.Stages() {
		if ss := m.Overall.Stages[st]; ss.Count > 0 {
			gauge(descStageOverallSeconds, ss.Median.Seconds(), string(st), "0.5")
			gauge(descStageOverallSeconds, ss.P90.Seconds(), string(st), "0.9")
		}
	}
	for _, t := range m.Targets {
		for _, st := range storage.Stages() {
			ss := t.Stages[st]
			gauge(descStageItems, float64(ss.Count), t.Target, string(st))
			if ss.Count > 0 {
				gauge(descStageSeconds, ss.Median.Seconds(), t.Target, string(st), "0.5")
				gauge(descStageSeconds, ss.P90.Seconds(), t.Target, string(st), "0.9")
			}
		}
		gauge(descExposure, t.ExposureHours, t.Target)
		for _, st := range withSeen(metricItemStates, t.ItemsByState) {
			gauge(descItems, float64(t.ItemsByState[st]), t.Target, string(st))
		}
		for _, st := range withSeen(metricNoticeStates, t.NoticesByState) {
			gauge(descNotices, float64(t.NoticesByState[st]), t.Target, string(st))
		}
	}
	for _, st := range withSeen(storage.CaseStates(), m.Overall.CasesByState) {
		gauge(descCases, float64(m.Overall.CasesByState[st]), string(st))
	}
}

// withSeen is known plus any other keys of seen, sorted after them.
func withSeen[K ~string](known []K, seen map[K]int) []K {
	out := slices.Clone(known)
	var extra []K
	for k := range seen {
		if !slices.Contains(out, k) {
			extra = append(extra, k)
		}
	}
	slices.Sort(extra)
	return append(out, extra...)
}
