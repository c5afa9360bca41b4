package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// A Queue is work waiting in the database between two stages, read at
// each scrape: Backlog returns how many items wait and when the oldest was
// queued (zero when none). Its lag is now minus that time. Temporal's own
// queues are in the SDK's metrics (temporal_activity_schedule_to_start_latency_seconds,
// temporal_workflow_task_schedule_to_start_latency_seconds).
type Queue struct {
	Name    string // the queue label: "hits" (matched, not yet delivered to a case), "scan_spool", …
	Backlog func(ctx context.Context) (items int64, oldest time.Time, err error)
}

// Queues reports database-backed queues. Every process that reads the same
// database reports the same figures: aggregate them with max, not sum.
type Queues struct {
	mu     sync.Mutex
	queues []Queue
	now    func() time.Time
	log    *slog.Logger
}

// NewQueues returns an empty set of queues; log gets read failures.
func NewQueues(log *slog.Logger) *Queues {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Queues{now: time.Now, log: log}
}

// Add reports q from the next scrape on. (The capture spool of the
// fetch/scan split adds itself here as "scan_spool".)
func (qs *Queues) Add(q Queue) {
	qs.mu.Lock()
	defer qs.mu.Unlock()
	qs.queues = append(qs.queues, q)
}

// queueTimeout bounds reading every queue for one scrape.
const queueTimeout = 5 * time.Second

var (
	descQueueItems = prometheus.NewDesc("leakwatch_queue_items",
		"Items waiting in a database-backed queue (hits: matched but not yet delivered to their case).",
		[]string{"queue"}, nil)
	descQueueLag = prometheus.NewDesc("leakwatch_queue_lag_seconds",
		"Age of the oldest item waiting in the queue; 0 when it is empty.",
		[]string{"queue"}, nil)
	descQueueUp = prometheus.NewDesc("leakwatch_queue_up",
		"1 if the queue was read for this scrape, 0 if reading it failed (see the log).",
		[]string{"queue"}, nil)
)

func (qs *Queues) Describe(ch chan<- *prometheus.Desc) {
	ch <- descQueueItems
	ch <- descQueueLag
	ch <- descQueueUp
}

func (qs *Queues) Collect(ch chan<- prometheus.Metric) {
	qs.mu.Lock()
	queues := append([]Queue(nil), qs.queues...)
	qs.mu.Unlock()
	// Collect has no request context: the timeout bounds the queries.
	ctx, cancel := context.WithTimeout(context.Background(), queueTimeout)
	defer cancel()
	for _, q := range queues {
		n, oldest, err := q.Backlog(ctx)
		if err != nil {
			qs.log.WarnContext(ctx, "metrics: read queue", "queue", q.Name, "err", err)
			ch <- prometheus.MustNewConstMetric(descQueueUp, prometheus.GaugeValue, 0, q.Name)
			continue
		}
		lag := 0.0
		if n > 0 && !oldest.IsZero() {
			lag = max(0, qs.now().Sub(oldest).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(descQueueUp, prometheus.GaugeValue, 1, q.Name)
		ch <- prometheus.MustNewConstMetric(descQueueItems, prometheus.GaugeValue, float64(n), q.Name)
		ch <- prometheus.MustNewConstMetric(descQueueLag, prometheus.GaugeValue, lag, q.Name)
	}
}
