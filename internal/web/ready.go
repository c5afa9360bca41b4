package web

import (
	"net/http"

	"github.com/leakwatch/leakwatch/internal/metrics"
)

// ReadyCheck is one dependency GET /readyz checks: Check returns nil when
// it is usable (see metrics.ReadyCheck; workers serve the same checks on
// their metrics listener).
type ReadyCheck = metrics.ReadyCheck

// handleReady answers 200 when the database and every Options.Ready
// dependency answer, 503 otherwise, with each check's verdict as JSON
// (metrics.ReadyHandler). /healthz only says the process is alive.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	checks := append([]ReadyCheck{{Name: "database", Check: s.store.Ping}}, s.ready...)
	metrics.ReadyHandler(checks, s.log).ServeHTTP(w, r)
}
