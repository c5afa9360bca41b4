package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// ReadyCheck is one dependency /readyz checks: Check returns nil when it is
// usable. Detail, if set, adds what the check knows (an index's
// generation, …) to the response under "details"; it must say nothing an
// unauthenticated client should not see.
type ReadyCheck struct {
	Name   string
	Check  func(ctx context.Context) error
	Detail func() any
}

// readyTimeout bounds all of /readyz's checks: a load balancer's probe
// must get an answer, and a dependency this slow is not ready.
const readyTimeout = 3 * time.Second

// ReadyHandler answers 200 when every check passes, 503 otherwise, with each
// check's verdict as JSON: {"ready":…, "checks":{name:"ok"|"failing"},
// "details":{name:…}}. Failures are logged with their cause; the response
// names none (it is public, and causes carry internal addresses).
func ReadyHandler(checks []ReadyCheck, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		out := map[string]string{}
		details := map[string]any{}
		status := http.StatusOK
		for _, c := range checks {
			if c.Detail != nil {
				details[c.Name] = c.Detail()
			}
			if err := c.Check(ctx); err != nil {
				out[c.Name] = "failing"
				status = http.StatusServiceUnavailable
				log.Warn("not ready", "check", c.Name, "err", err)
				continue
			}
			out[c.Name] = "ok"
		}
		body := map[string]any{"ready": status == http.StatusOK, "checks": out}
		if len(details) > 0 {
			body["details"] = details
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(body)
	})
}

// HealthHandler is /healthz: the process is alive and serving.
func HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
	})
}

// Handler serves reg in the Prometheus text format.
func Handler(reg *prometheus.Registry, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError,
		// Database-derived collectors run queries on each scrape: a few
		// at once are plenty, the rest get 503.
		MaxRequestsInFlight: 2,
	})
}

// Listener is the metrics listener of a process (metrics.listen): /metrics,
// /healthz and /readyz and nothing else, with no login — so it binds
// loopback unless the operator says otherwise (in a container, its own
// interface, for the Prometheus on the compose network).
type Listener struct {
	ln  net.Listener
	srv *http.Server
}

// Listen binds addr now, so a port in use fails the process at start, and
// returns the listener; Serve serves it.
func Listen(addr string, reg *prometheus.Registry, checks []ReadyCheck, log *slog.Logger) (*Listener, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", Handler(reg, log))
	mux.Handle("GET /healthz", HealthHandler())
	mux.Handle("GET /readyz", ReadyHandler(checks, log))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	return &Listener{ln: ln, srv: srv}, nil
}

// Addr is the address the listener is bound to.
func (l *Listener) Addr() string { return l.ln.Addr().String() }

// Serve serves until ctx ends.
func (l *Listener) Serve(ctx context.Context) error {
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = l.srv.Shutdown(sctx)
		case <-done:
		}
	}()
	if err := l.srv.Serve(l.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics listener: %w", err)
	}
	return nil
}
