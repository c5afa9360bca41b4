package metrics

import (
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
)

// temporalReportEvery is how often the SDK's tally scope hands its
// counters to the Prometheus registry: a scrape sees them at most this
// late.
const temporalReportEvery = time.Second

// temporalBuckets are the SDK timers' histogram buckets, in seconds: from
// a local poll to a long activity's schedule-to-start wait.
var temporalBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900}

// TemporalHandler returns the Temporal SDK's metrics handler
// (client.Options.MetricsHandler) reporting into reg, so the SDK's
// temporal_* series — requests, polls, schedule-to-start latencies (the
// task queues' lag), activity and workflow task latencies and failures,
// sticky cache — are on the same /metrics as leakwatch's. Close the
// returned closer when the client is closed. Names follow the SDK's
// Prometheus naming (as in Temporal's samples): timers become
// *_seconds histograms, counters *_total.
func TemporalHandler(reg *prometheus.Registry, log *slog.Logger) (client.MetricsHandler, io.Closer) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:              reg,
		DefaultTimerType:        tallyprom.HistogramTimerType,
		DefaultHistogramBuckets: temporalBuckets,
		// A series the SDK reports with other tags than before cannot be
		// registered again: that loses the series, not the process.
		OnRegisterError: func(err error) { log.Debug("temporal SDK metric not registered", "err", err) },
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, temporalReportEvery)
	return sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)), closer
}
