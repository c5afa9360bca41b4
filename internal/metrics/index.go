package metrics

import (
	"context"
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/leakwatch/leakwatch/internal/references"
)

// Index is the reference index's state in one process, for the metrics and
// the "index" ready check: not needed (the process matches nothing),
// loading, or loaded (the scanner, whose snapshot it reports as it is at
// each scrape, reloads included). The zero value is "not needed".
type Index struct {
	mu      sync.Mutex
	needed  bool
	scanner IndexSource
	err     error
}

// IndexSource is what Index reads of a loaded index (*references.Scanner).
type IndexSource interface {
	LoadInfo() references.LoadInfo
}

// Loading says this process needs the index and is loading it.
func (x *Index) Loading() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.needed, x.scanner, x.err = true, nil, nil
}

// Loaded says the index is loaded into sc.
func (x *Index) Loaded(sc IndexSource) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.needed, x.scanner, x.err = true, sc, nil
}

// Failed says loading the index failed.
func (x *Index) Failed(err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.needed, x.scanner, x.err = true, nil, err
}

// state returns whether the index is needed and, when loaded, its info.
func (x *Index) state() (needed bool, info *references.LoadInfo, err error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.scanner != nil {
		li := x.scanner.LoadInfo()
		info = &li
	}
	return x.needed, info, x.err
}

// errIndexLoading: the index is still being loaded.
var errIndexLoading = errors.New("the reference index is still loading")

// ReadyCheck is the "index" ready check: ready when the index is loaded or
// this process does not need one; its detail says which, with the loaded
// snapshot's generation, size and load time.
func (x *Index) ReadyCheck() ReadyCheck {
	return ReadyCheck{
		Name: "index",
		Check: func(context.Context) error {
			needed, info, err := x.state()
			switch {
			case !needed || info != nil:
				return nil
			case err != nil:
				return err
			}
			return errIndexLoading
		},
		Detail: func() any {
			needed, info, err := x.state()
			d := map[string]any{"needed": needed, "loaded": info != nil}
			if info != nil {
				d["generation"] = info.Generation
				d["loaded_at"] = info.LoadedAt.UTC()
				d["load_seconds"] = info.Took.Seconds()
				d["references"] = info.Stats.References
			} else if err != nil {
				d["failed"] = true
			}
			return d
		},
	}
}

var (
	descIndexLoaded = prometheus.NewDesc("leakwatch_index_loaded",
		"1 when this process has the reference index loaded, 0 while it loads (or after it failed to); absent where the process matches nothing.",
		nil, nil)
	descIndexRefs = prometheus.NewDesc("leakwatch_index_references",
		"Reference files in the loaded index.", nil, nil)
	descIndexPrints = prometheus.NewDesc("leakwatch_index_fingerprints",
		"Fingerprints in the loaded index, by layer (text winnowing prints, images, record fields).",
		[]string{"layer"}, nil)
	descIndexSegments = prometheus.NewDesc("leakwatch_index_segment_files",
		"Segment files of text fingerprints mapped by this process.", nil, nil)
	descIndexSegmentBytes = prometheus.NewDesc("leakwatch_index_segment_bytes",
		"Bytes of the segment files mapped by this process (shared through the page cache, not heap).", nil, nil)
	descIndexGeneration = prometheus.NewDesc("leakwatch_index_generation",
		"Generation of the loaded index (it changes when references are added or compacted).", nil, nil)
	descIndexLoadSeconds = prometheus.NewDesc("leakwatch_index_load_seconds",
		"How long the last load (or reload) of the index took.", nil, nil)
	descIndexLoadedAt = prometheus.NewDesc("leakwatch_index_loaded_timestamp_seconds",
		"When the index was last loaded or reloaded (Unix time).", nil, nil)
)

// Collector returns the index's collector, to register once per process.
func (x *Index) Collector() prometheus.Collector { return indexCollector{x} }

type indexCollector struct{ x *Index }

func (c indexCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descIndexLoaded, descIndexRefs, descIndexPrints, descIndexSegments,
		descIndexSegmentBytes, descIndexGeneration, descIndexLoadSeconds, descIndexLoadedAt} {
		ch <- d
	}
}

func (c indexCollector) Collect(ch chan<- prometheus.Metric) {
	needed, info, _ := c.x.state()
	if !needed {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if info == nil {
		gauge(descIndexLoaded, 0)
		return
	}
	gauge(descIndexLoaded, 1)
	gauge(descIndexRefs, float64(info.Stats.References))
	gauge(descIndexPrints, float64(info.Stats.Prints), "text")
	gauge(descIndexPrints, float64(info.Stats.Images), "image")
	gauge(descIndexPrints, float64(info.Stats.Fields), "field")
	gauge(descIndexSegments, float64(info.Segments))
	gauge(descIndexSegmentBytes, float64(info.SegmentBytes))
	gauge(descIndexGeneration, float64(info.Generation))
	gauge(descIndexLoadSeconds, info.Took.Seconds())
	gauge(descIndexLoadedAt, float64(info.LoadedAt.UnixNano())/1e9)
}
