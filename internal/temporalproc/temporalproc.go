// Package temporalproc starts the leakwatch-temporal binary (an embedded
// single-node Temporal server on SQLite) as a child process and keeps it running.
//
// The server runs in its own process because its SQLite driver cannot be linked
// into the app binary alongside glebarez/sqlite (duplicate "sqlite" driver
// panic), so this package must never import go.temporal.io/server; it talks to
// the child only through flags, its stdout ready line and the Temporal SDK.
package temporalproc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults for zero-valued Options fields.
const (
	DefaultNamespace     = "leakwatch"
	DefaultRetention     = 720 * time.Hour
	DefaultLogLevel      = "warn"
	DefaultStartTimeout  = 60 * time.Second
	DefaultStopGrace     = 15 * time.Second
	DefaultMaxRestarts   = 5
	DefaultRestartWindow = 10 * time.Minute

	loopback = "127.0.0.1"

	// Restart backoff: first retry soon (a crash is usually one-off), then slower.
	restartBackoffMin = 500 * time.Millisecond
	restartBackoffMax = 30 * time.Second

	// How many times Start tries a new free port when the chosen one is taken
	// between picking it and the child binding it.
	portAttempts = 3
)

// ErrStopped is what Err reports after Stop.
var ErrStopped = errors.New("temporal server stopped")

// Options configures Start. Only DBPath is required.
type Options struct {
	// Binary is the leakwatch-temporal executable; empty means FindBinary("").
	Binary string
	// DBPath is the server's SQLite file, created (with its directory) if missing.
	DBPath string
	// Namespace is created on every start if missing; default DefaultNamespace.
	Namespace string
	// Retention of closed workflows in Namespace; default DefaultRetention.
	Retention time.Duration
	// Logger receives supervision events, and the child's output at debug level;
	// default slog.Default().
	Logger *slog.Logger
	// Port is the frontend gRPC port on 127.0.0.1; 0 picks a free one. Restarts
	// reuse the same port so clients reconnect without being told.
	Port int

	// LogLevel is the child's own --log-level; default DefaultLogLevel.
	LogLevel string
	// StartTimeout bounds each start until the frontend answers; default
	// DefaultStartTimeout (a first start also creates the schema).
	StartTimeout time.Duration
	// StopGrace is how long Stop waits after SIGTERM before SIGKILL; default DefaultStopGrace.
	StopGrace time.Duration
	// MaxRestarts unexpected exits within RestartWindow are restarted; one more
	// and the supervisor gives up (Done closes). Defaults DefaultMaxRestarts and
	// DefaultRestartWindow.
	MaxRestarts   int
	RestartWindow time.Duration
}

func (o *Options) setDefaults() error {
	if o.DBPath == "" {
		return errors.New("temporalproc: Options.DBPath is required")
	}
	if o.Binary == "" {
		b, err := FindBinary("")
		if err != nil {
			return err
		}
		o.Binary = b
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.Retention == 0 {
		o.Retention = DefaultRetention
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.LogLevel == "" {
		o.LogLevel = DefaultLogLevel
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.StopGrace <= 0 {
		o.StopGrace = DefaultStopGrace
	}
	if o.MaxRestarts <= 0 {
		o.MaxRestarts = DefaultMaxRestarts
	}
	if o.RestartWindow <= 0 {
		o.RestartWindow = DefaultRestartWindow
	}
	if o.Port < 0 || o.Port > 65535 {
		return fmt.Errorf("temporalproc: invalid port %d", o.Port)
	}
	abs, err := filepath.Abs(o.DBPath)
	if err != nil {
		return fmt.Errorf("resolving temporal database path %q: %w", o.DBPath, err)
	}
	o.DBPath = abs
	return nil
}

// Server is a supervised leakwatch-temporal child process.
type Server struct {
	opts Options
	log  *slog.Logger
	port int

	stopCh       chan struct{} // closed by Stop
	stopOnce     sync.Once
	cancelLaunch context.CancelFunc // aborts a restart in progress when Stop is called
	launchCtx    context.Context
	done         chan struct{} // closed when the supervisor ends

	mu       sync.Mutex
	cur      *proc // the newest child: running, starting, or last exited
	err      error // set before done closes
	restarts int
}

// Start launches the server, waits until it answers on its frontend and has
// the namespace, and supervises it from then on: unexpected exits are restarted
// on the same port with backoff. ctx bounds only the start; the child runs
// until Stop so the app can shut down in order (workers first, server last).
func Start(ctx context.Context, opts Options) (*Server, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(opts.DBPath), 0o750); err != nil {
		return nil, fmt.Errorf("creating directory for temporal database: %w", err)
	}
	launchCtx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:         opts,
		log:          opts.Logger.With("component", "temporalproc"),
		stopCh:       make(chan struct{}),
		cancelLaunch: cancel,
		launchCtx:    launchCtx,
		done:         make(chan struct{}),
	}

	for attempt := 1; ; attempt++ {
		port := opts.Port
		if port == 0 {
			p, err := freePort()
			if err != nil {
				cancel()
				return nil, err
			}
			port = p
		}
		started := time.Now()
		p, err := s.launch(ctx, port)
		if err == nil {
			s.port = port
			s.log.Info("temporal server ready", "address", s.Address(), "pid", p.pid,
				"db", opts.DBPath, "took", time.Since(started).Round(time.Millisecond))
			go s.supervise(p)
			return s, nil
		}
		// A port picked free can be taken before the child binds it; only then
		// is another port worth a try, and only if the caller did not fix one.
		if opts.Port != 0 || attempt >= portAttempts || ctx.Err() != nil || !p.portConflict() {
			cancel()
			return nil, err
		}
		s.log.Info("temporal server port taken, trying another", "port", port, "error", err)
	}
}

// Address is the frontend's host:port; it stays the same across restarts.
func (s *Server) Address() string { return net.JoinHostPort(loopback, strconv.Itoa(s.port)) }

// Namespace is the namespace the server was started with.
func (s *Server) Namespace() string { return s.opts.Namespace }

// DBPath is the absolute path of the server's SQLite file.
func (s *Server) DBPath() string { return s.opts.DBPath }

// PID is the process id of the current child (it changes on restart).
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur.pid
}

// Restarts counts how many times the supervisor restarted the child.
func (s *Server) Restarts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restarts
}

// Done is closed when the server is no longer supervised: after Stop, or when
// the supervisor gave up restarting it. Err then says which.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err is nil while the server is supervised, ErrStopped after Stop, or the
// reason the supervisor gave up.
func (s *Server) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Stop ends supervision and the child: SIGTERM, then SIGKILL after
// Options.StopGrace or when ctx ends, whichever is first. It returns once the
// child has exited; calling it again is harmless.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		close(s.stopCh)
		s.cancelLaunch()
	})
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
	}
	// Out of patience: kill now, then wait for the supervisor to reap it.
	s.mu.Lock()
	p := s.cur
	s.mu.Unlock()
	if err := kill(p.pid); err != nil {
		s.log.Warn("killing temporal server", "pid", p.pid, "error", err)
	}
	<-s.done
	return fmt.Errorf("stopping temporal server: %w", ctx.Err())
}

// supervise waits for the child to exit. An exit not caused by Stop is
// restarted on the same port; too many within RestartWindow and it gives up.
func (s *Server) supervise(p *proc) {
	defer close(s.done)
	var exits []time.Time
	for {
		select {
		case <-s.stopCh:
			s.shutdown(p)
			s.finish(ErrStopped)
			return
		case <-p.exited:
		}
		s.log.Warn("temporal server exited unexpectedly", "pid", p.pid, "error", p.exitErr,
			"output", p.tail.String())
		lastErr := fmt.Errorf("exited: %w", p.exitErr)
		lastTail := p.tail.String()

		// Restart, counting failed restarts as exits too.
		for {
			now := time.Now()
			exits = append(pruneBefore(exits, now.Add(-s.opts.RestartWindow)), now)
			if len(exits) > s.opts.MaxRestarts {
				s.log.Error("temporal server keeps failing; giving up", "exits", len(exits),
					"window", s.opts.RestartWindow, "error", lastErr)
				s.finish(fmt.Errorf("temporal server failed %d times within %s, giving up; last: %w%s",
					len(exits), s.opts.RestartWindow, lastErr, formatTail(lastTail)))
				return
			}
			delay := backoff(len(exits))
			select {
			case <-s.stopCh:
				s.finish(ErrStopped)
				return
			case <-time.After(delay):
			}
			s.log.Info("restarting temporal server", "port", s.port, "attempt", len(exits), "after", delay)
			np, err := s.launch(s.launchCtx, s.port)
			if err == nil {
				s.mu.Lock()
				s.restarts++
				s.mu.Unlock()
				s.log.Info("temporal server restarted", "address", s.Address(), "pid", np.pid)
				p = np
				break
			}
			if s.launchCtx.Err() != nil {
				s.finish(ErrStopped)
				return
			}
			s.log.Warn("restarting temporal server failed", "error", err)
			lastErr, lastTail = err, ""
		}
	}
}

func (s *Server) finish(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

// shutdown stops a running child: SIGTERM, then SIGKILL after the grace period.
func (s *Server) shutdown(p *proc) {
	select {
	case <-p.exited:
		return
	default:
	}
	if err := terminate(p.pid); err != nil {
		s.log.Warn("terminating temporal server", "pid", p.pid, "error", err)
	}
	grace := time.NewTimer(s.opts.StopGrace)
	defer grace.Stop()
	select {
	case <-p.exited:
		s.log.Debug("temporal server stopped", "pid", p.pid, "status", p.exitErr)
		return
	case <-grace.C:
	}
	s.log.Warn("temporal server ignored SIGTERM; killing it", "pid", p.pid, "grace", s.opts.StopGrace)
	if err := kill(p.pid); err != nil {
		s.log.Warn("killing temporal server", "pid", p.pid, "error", err)
	}
	<-p.exited
}

func backoff(n int) time.Duration {
	d := restartBackoffMin
	for i := 1; i < n && d < restartBackoffMax; i++ {
		d *= 2
	}
	return min(d, restartBackoffMax)
}

func pruneBefore(ts []time.Time, cutoff time.Time) []time.Time {
	out := ts[:0]
	for _, t := range ts {
		if t.After(cutoff) {
			out = append(out, t)
		}
	}
	return out
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
	if err != nil {
		return 0, fmt.Errorf("finding a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func formatTail(tail string) string {
	if tail == "" {
		return ""
	}
	return "; last output:\n" + tail
}

// isPortConflict reports whether child output shows a port already in use.
func isPortConflict(out string) bool {
	return strings.Contains(out, "address already in use") || strings.Contains(out, "is not free")
}
