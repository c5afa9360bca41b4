package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkHooks is what the work pays per event for its metrics.
func BenchmarkHooks(b *testing.B) {
	m := New(prometheus.NewRegistry())
	b.Run("ObserveFetch", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.ObserveFetch("file", OutcomeOK, "", 4096)
			}
		})
	})
	b.Run("ObserveScan", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.ObserveScan("file", 4096, 3*time.Millisecond, nil)
			}
		})
	})
	b.Run("ObserveHit", func(b *testing.B) {
		for b.Loop() {
			m.ObserveHit("sha256")
		}
	})
}
