package web

import (
	"context"
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
	checks := append([]ReadyCheck{{Name: "database", Check: s.pingDatabase}}, s.ready...)
	metrics.ReadyHandler(checks, s.log).ServeHTTP(w, r)
}

func (s *Server) pingDatabase(ctx context.Context) error {
	db, err := s.store.DB().WithContext(ctx).DB()
	if err != nil {
		return err
	}
	return db.PingContext(ctx)
}
