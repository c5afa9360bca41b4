package web

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// ReadyCheck is one dependency GET /readyz checks: Check returns nil when
// it is usable.
type ReadyCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// readyTimeout bounds all of /readyz's checks: a load balancer's probe
// must get an answer, and a dependency this slow is not ready.
const readyTimeout = 3 * time.Second

// handleReady answers 200 when the database and every Options.Ready
// dependency answer, 503 otherwise, with each check's verdict as JSON.
// /healthz only says the process is alive. Failures are logged with their
// cause; the response names none (it is public, and causes carry internal
// addresses).
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	checks := append([]ReadyCheck{{Name: "database", Check: s.pingDatabase}}, s.ready...)
	out := map[string]string{}
	status := http.StatusOK
	for _, c := range checks {
		if err := c.Check(ctx); err != nil {
			out[c.Name] = "failing"
			status = http.StatusServiceUnavailable
			s.log.Warn("not ready", "check", c.Name, "err", err)
			continue
		}
		out[c.Name] = "ok"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"ready": status == http.StatusOK, "checks": out})
}

func (s *Server) pingDatabase(ctx context.Context) error {
	db, err := s.store.DB().WithContext(ctx).DB()
	if err != nil {
		return err
	}
	return db.PingContext(ctx)
}
