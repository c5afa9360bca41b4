// Command leakwatch-temporal runs an embedded single-node Temporal server with
// SQLite persistence for leakwatch.
//
// It lives in its own binary because Temporal's SQLite plugin (modernc.org/sqlite)
// and the app's glebarez/sqlite register the same database/sql driver name and
// cannot be linked together (see DESIGN.md §2). The app starts and supervises
// this binary through package temporalproc.
//
// stdout carries exactly one line, "leakwatch-temporal ready on HOST:PORT", once
// the frontend answers and the namespaces are set up; all logs go to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		// One line on stderr: the supervisor quotes the last lines in its errors.
		fmt.Fprintf(os.Stderr, "leakwatch-temporal: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		os.Exit(1)
	}
}

// options are the parsed command-line flags.
type options struct {
	dbPath       string
	ip           string
	port         int
	historyPort  int
	matchingPort int
	workerPort   int
	httpPort     int
	namespace    string
	retention    time.Duration
	logLevel     slog.Level
	logFormat    string
	readyTimeout time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("leakwatch-temporal", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dbPath, "db", "", "SQLite database file (created with the Temporal schema if missing)")
	fs.StringVar(&o.ip, "ip", "127.0.0.1", "IP address to bind all services to")
	fs.IntVar(&o.port, "port", 7233, "frontend gRPC port (0 = pick a free port)")
	fs.IntVar(&o.historyPort, "history-port", 0, "history service gRPC port (0 = pick a free port)")
	fs.IntVar(&o.matchingPort, "matching-port", 0, "matching service gRPC port (0 = pick a free port)")
	fs.IntVar(&o.workerPort, "worker-port", 0, "worker service gRPC port (0 = pick a free port)")
	fs.IntVar(&o.httpPort, "http-port", 0, "frontend HTTP API port (0 = disabled)")
	fs.StringVar(&o.namespace, "namespace", "leakwatch", "namespace to create (the \"default\" namespace is always created too)")
	fs.DurationVar(&o.retention, "retention", 720*time.Hour, "workflow retention of the namespace (at least 1h)")
	logLevel := fs.String("log-level", "warn", "server log level: debug, info, warn, error")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format on stderr: text or json")
	fs.DurationVar(&o.readyTimeout, "ready-timeout", 60*time.Second, "how long to wait for the frontend to answer after start")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.dbPath == "" {
		return o, errors.New("--db is required")
	}
	if o.namespace == "" {
		return o, errors.New("--namespace must not be empty")
	}
	// The frontend rejects shorter retention for local namespaces
	// (system.namespaceMinRetentionLocal); catch it here instead of at update time.
	if o.retention < time.Hour {
		return o, fmt.Errorf("--retention %s is below the server minimum of 1h", o.retention)
	}
	if err := o.logLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		return o, fmt.Errorf("invalid --log-level %q: %w", *logLevel, err)
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return o, fmt.Errorf("invalid --log-format %q (want text or json)", o.logFormat)
	}
	for name, p := range map[string]int{"port": o.port, "history-port": o.historyPort, "matching-port": o.matchingPort, "worker-port": o.workerPort, "http-port": o.httpPort} {
		if p < 0 || p > 65535 {
			return o, fmt.Errorf("invalid --%s %d", name, p)
		}
	}
	if o.ip == "localhost" {
		// The server needs an IP to broadcast for membership, not a name.
		o.ip = "127.0.0.1"
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}

	logger := newLogger(stderr, opts.logFormat, opts.logLevel)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	srv, err := startServer(ctx, opts, logger)
	if err != nil {
		if ctx.Err() != nil {
			return nil // signalled while starting: a requested stop, not a failure
		}
		return err
	}

	address := joinHostPort(opts.ip, srv.frontendPort)
	err = waitReady(ctx, address, opts, logger)
	if err != nil || ctx.Err() != nil {
		stopServer(srv, logger)
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if _, err := fmt.Fprintf(stdout, "leakwatch-temporal ready on %s\n", address); err != nil {
		stopServer(srv, logger)
		return fmt.Errorf("writing ready line: %w", err)
	}

	<-ctx.Done()
	// Restore default signal handling so a second Ctrl-C kills a stuck shutdown.
	stop()
	logger.Info("signal received, stopping server")
	stopServer(srv, logger)
	return nil
}

func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	ho := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, ho))
	}
	return slog.New(slog.NewTextHandler(w, ho))
}
