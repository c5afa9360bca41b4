package temporalproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
)

// readyPrefix starts the one line leakwatch-temporal prints on stdout when serving.
const readyPrefix = "leakwatch-temporal ready on "

// tailLines is how much child output is kept for error messages.
const tailLines = 20

// proc is one run of the child process.
type proc struct {
	pid     int
	ready   chan string   // receives the address from the ready line
	exited  chan struct{} // closed after the process is reaped
	exitErr error         // why it exited; valid once exited is closed
	tail    *ringBuffer
}

func (p *proc) portConflict() bool { return p != nil && isPortConflict(p.tail.String()) }

// launch starts the child on port and waits until it is serving. On failure
// the child (if any) has been stopped and the returned proc, when non-nil,
// holds its last output.
func (s *Server) launch(ctx context.Context, port int) (*proc, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.StartTimeout)
	defer cancel()

	cmd := exec.Command(s.opts.Binary,
		"--db", s.opts.DBPath,
		"--ip", loopback,
		"--port", strconv.Itoa(port),
		"--namespace", s.opts.Namespace,
		"--retention", s.opts.Retention.String(),
		"--log-level", s.opts.LogLevel,
		// The child checks readiness itself before printing its ready line;
		// give it our whole budget so our timeout is the one that fires.
		"--ready-timeout", s.opts.StartTimeout.String(),
	)
	cmd.SysProcAttr = sysProcAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("temporal server stdout: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("temporal server stderr: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", s.opts.Binary, err)
	}

	p := &proc{
		pid:    cmd.Process.Pid,
		ready:  make(chan string, 1),
		exited: make(chan struct{}),
		tail:   newRingBuffer(tailLines),
	}
	// Record it at once so Stop can kill a child that is still starting.
	s.mu.Lock()
	s.cur = p
	s.mu.Unlock()
	childLog := s.opts.Logger.With("component", "leakwatch-temporal", "pid", p.pid)
	var readers sync.WaitGroup
	readers.Go(func() { p.pump(stdout, childLog.With("stream", "stdout"), true) })
	readers.Go(func() { p.pump(stderr, childLog.With("stream", "stderr"), false) })
	go func() {
		// exec requires all pipe reads to finish before Wait.
		readers.Wait()
		p.exitErr = cmd.Wait()
		close(p.exited)
	}()

	if err := s.awaitServing(ctx, p, port); err != nil {
		s.shutdown(p)
		return p, err
	}
	return p, nil
}

// awaitServing waits for the child's ready line, then checks from this side
// that the frontend answers and knows the namespace.
func (s *Server) awaitServing(ctx context.Context, p *proc, port int) error {
	want := net.JoinHostPort(loopback, strconv.Itoa(port))
	select {
	case addr := <-p.ready:
		if addr != want {
			return fmt.Errorf("temporal server reported address %s, expected %s", addr, want)
		}
	case <-p.exited:
		return fmt.Errorf("temporal server exited before it was ready: %w%s", p.exitErr, formatTail(p.tail.String()))
	case <-ctx.Done():
		return fmt.Errorf("temporal server on port %d not ready: %w%s", port, ctx.Err(), formatTail(p.tail.String()))
	}
	if err := checkServing(ctx, want, s.opts.Namespace, s.opts.Logger); err != nil {
		return fmt.Errorf("temporal server on %s not serving: %w%s", want, err, formatTail(p.tail.String()))
	}
	return nil
}

// checkServing dials the frontend with the SDK, checks health and describes
// the namespace, retrying briefly: the child already checked, so this mainly
// proves the port we will hand out is the one answering.
func checkServing(ctx context.Context, address, namespace string, logger *slog.Logger) error {
	var lastErr error
	for {
		lastErr = checkOnce(ctx, address, namespace, logger)
		if lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(lastErr, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func checkOnce(ctx context.Context, address, namespace string, logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  address,
		Namespace: namespace,
		Logger:    sdklog.NewStructuredLogger(logger.With("component", "temporal-client")),
	})
	if err != nil {
		return fmt.Errorf("dialing: %w", err)
	}
	defer c.Close()
	if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("health check: %w", err)
	}
	if _, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace}); err != nil {
		return fmt.Errorf("describing namespace %q: %w", namespace, err)
	}
	return nil
}

// pump logs each line of r at debug level and keeps the last ones; on stdout
// it also watches for the ready line.
func (p *proc) pump(r io.Reader, logger *slog.Logger, watchReady bool) {
	br := bufio.NewReaderSize(r, 64*1024)
	for {
		line, err := br.ReadString('\n')
		if line = strings.TrimRight(line, "\r\n"); line != "" {
			p.tail.Add(line)
			logger.Debug(line)
			if watchReady {
				if addr, ok := strings.CutPrefix(line, readyPrefix); ok {
					select {
					case p.ready <- strings.TrimSpace(addr):
					default:
					}
				}
			}
		}
		if err != nil {
			// EOF when the child exits; anything else also ends the stream, and
			// Wait reports the real outcome.
			return
		}
	}
}

// ringBuffer keeps the last n lines.
type ringBuffer struct {
	mu    sync.Mutex
	lines []string
	n     int
}

func newRingBuffer(n int) *ringBuffer { return &ringBuffer{n: n} }

func (b *ringBuffer) Add(line string) {
	const maxLine = 2000 // one huge stack-trace line must not drown the rest
	if len(line) > maxLine {
		line = line[:maxLine] + "…"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.lines) == b.n {
		copy(b.lines, b.lines[1:])
		b.lines = b.lines[:b.n-1]
	}
	b.lines = append(b.lines, line)
}

func (b *ringBuffer) String() string {
	if b == nil {
		return ""
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}
