// Command leakwatch finds the breach's documents where extortionists publish
// them and drives court-backed takedowns until the content is gone.
//
// Usage: leakwatch [--data-dir DIR] [--config FILE] COMMAND [ARGS]
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
	"sort"
	"strings"
	"syscall"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/crawlers/tgmonitor"
	"github.com/leakwatch/leakwatch/internal/logctx"
	"github.com/leakwatch/leakwatch/storage"
)

// command is one subcommand; each lives in its own file.
type command struct {
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"up":       {"run everything on this machine: Temporal, worker, web UI/API, schedules", runUp},
		"demo":     {"run up with a simulated leak site, synthetic references and demo users", runDemo},
		"worker":   {"run a worker only (scale-out: many workers on one Temporal cluster)", runWorker},
		"web":      {"run the web UI/API only (scale-out)", runWeb},
		"refs":     {"manage the reference set: refs add DIR | refs import-hashes FILE | refs migrate | refs compact | refs verify", runRefs},
		"scan":     {"match local files against the reference set: scan [--json] PATH...", runScan},
		"bench":    {"measure the fingerprint engine, crawler and case workflows: bench refs [--docs N] | bench scan DIR | bench crawl | bench cases [--n N]", runBench},
		"eval":     {"measure precision and recall per transform class on synthetic data", runEval},
		"sources":  {"manage monitored sources: sources add|list", runSources},
		"crawl":    {"crawl one source now: crawl SOURCE | crawl --url URL [--json]", runCrawl},
		"evidence": {"check and export the evidence kept of crawls: evidence verify RUN|capture-ID | evidence export CASE FILE", runEvidence},
		"cases":    {"takedown cases: cases list|show|metrics|triage|approve|request-changes|edit|pull|ack|recipient|resolve|close|recheck", runCases},
		"notices":  {"sent takedown notices: notices export --lumen [--out FILE]", runNotices},
		"users":    {"manage users: users add|list", runUsers},
		"tokens":   {"API tokens for automation: tokens create --user NAME --name LABEL [--expires 90d] | tokens list | tokens revoke ID", runTokens},
		"backup":   {"copy a running data directory consistently: backup DIR", runBackup},
		"doctor":   {"check a data directory (databases, keys, schema, stuck work, disk) read-only: doctor [--json]", runDoctor},
		"gc":       {"apply the retention policy to scraped content: gc [--dry-run] [--json]", runGC},
		"hold":     {"legal holds that keep evidence from retention: hold add|remove|list", runHold},
		"telegram": {"Telegram monitoring: telegram login|status | telegram watch add|list|pause|resume|remove", runTelegram},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode maps run's result to the process exit status: 0 on success, 2 for
// flag.ErrHelp (-h; the usage is already printed), else 1 after writing the
// error to stderr as one line, "leakwatch: <reason>", as scripts expect.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 2
	}
	fmt.Fprintln(stderr, "leakwatch: "+strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; "))
	return 1
}

// env is what every command shares: parsed global flags, I/O and, lazily,
// configuration and the database.
type env struct {
	dataDir    string
	configPath string
	logLevel   string
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer

	cfg   *config.Config
	log   *slog.Logger
	store *storage.Store
	// tgNetwork is where Telegram is: the zero value is Telegram itself;
	// the demo and tests point it at a simulated network on loopback.
	tgNetwork tgmonitor.Network
	// ocrWarned: the "no tesseract" warning is given once per process,
	// however many analyzers are built.
	ocrWarned bool
	// obs is the metrics of a long-running process (startStack); nil in
	// CLI commands.
	obs *observability
}

// globalFlags registers the flags every command accepts, before or after its name.
func (e *env) globalFlags(fs *flag.FlagSet) {
	fs.StringVar(&e.dataDir, "data-dir", e.dataDir, "data directory (default ./data, or data_dir from the config)")
	fs.StringVar(&e.configPath, "config", e.configPath, "config file (default ./leakwatch.yaml if present)")
	fs.StringVar(&e.logLevel, "log-level", e.logLevel, "debug|info|warn|error (overrides log.level)")
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	fs := flag.NewFlagSet("leakwatch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	e.globalFlags(fs)
	cmds := commands()
	fs.Usage = func() { usage(stderr, cmds) }
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		usage(stderr, cmds)
		return errors.New("no command given")
	}
	name := fs.Arg(0)
	if name == "help" {
		usage(stdout, cmds)
		return nil
	}
	cmd, ok := cmds[name]
	if !ok {
		return fmt.Errorf("unknown command %q (see leakwatch help)", name)
	}
	defer e.close()
	return cmd.run(ctx, e, fs.Args()[1:])
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: leakwatch [--data-dir DIR] [--config FILE] COMMAND [ARGS]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, cmds[n].summary)
	}
}

// parseFlags parses a command's flags, which may come before, between or
// after its positional arguments ("cases approve 3 --as ana").
func (e *env) parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(e.stderr)
	e.globalFlags(fs)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		// flag stops at "--" and drops it: everything after it is positional,
		// even what looks like a flag ("scan -- -odd-name").
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		args = rest
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// loadConfig reads the configuration once. requireInjunction is set by the
// commands that draft or send notices.
func (e *env) loadConfig(requireInjunction bool) (*config.Config, error) {
	if e.cfg != nil {
		return e.cfg, nil
	}
	path := e.configPath
	if path == "" {
		path = config.FindDefault(".")
	}
	cfg, err := config.Load(path, os.Getenv, config.RequireInjunction(requireInjunction))
	if err != nil {
		return nil, err
	}
	e.setConfig(cfg)
	return cfg, nil
}

// setConfig installs a configuration (loaded, or built by demo) and applies
// the command-line overrides.
func (e *env) setConfig(cfg *config.Config) {
	if e.dataDir != "" {
		cfg.DataDir = e.dataDir
	}
	if e.logLevel != "" {
		cfg.Log.Level = e.logLevel
	}
	e.cfg = cfg
	opts := &slog.HandlerOptions{Level: cfg.Log.SlogLevel()}
	var h slog.Handler = slog.NewTextHandler(e.stderr, opts)
	if strings.EqualFold(cfg.Log.Format, config.LogFormatJSON) {
		h = slog.NewJSONHandler(e.stderr, opts)
	}
	// Activities tag their context with run, source, case and workflow
	// ids (internal/logctx): every line logged with it carries them.
	e.log = slog.New(logctx.Handler(h))
}

// openStore opens the database named by the configuration.
func (e *env) openStore(ctx context.Context) (*storage.Store, error) {
	if e.store != nil {
		return e.store, nil
	}
	if e.cfg == nil {
		if _, err := e.loadConfig(false); err != nil {
			return nil, err
		}
	}
	st, err := storage.Open(ctx, e.cfg.Database.DSN, e.cfg.DataDir, e.log)
	if err != nil {
		return nil, err
	}
	e.store = st
	return st, nil
}

func (e *env) close() {
	e.obs.close()
	if e.store != nil {
		e.store.Close()
	}
}

// quiet is a logger for demo helpers whose chatter would bury the demo's output.
func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }
