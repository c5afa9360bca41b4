// Package temporaltest gives tests a real leakwatch-temporal server.
//
// It builds ./cmd/leakwatch-temporal once per test process into a cache
// directory shared by all packages and runs (keyed by the module's go.mod,
// go.sum, the command's sources and the Go version), then starts it through
// temporalproc on a free port with a temporary database. It imports no
// go.temporal.io/server package, so tests that also link glebarez/sqlite may
// use it.
//
// Set LEAKWATCH_TEMPORAL_BINARY to use a prebuilt binary instead (CI builds
// ./cmd/... first); a relative path is taken from the module root, e.g.
// LEAKWATCH_TEMPORAL_BINARY=bin/leakwatch-temporal. A cold build of the server takes 10–20 minutes on two
// cores, longer than go test's default -timeout; after `go build ./cmd/...`
// the build cache makes it a link of well under a minute.
package temporaltest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/leakwatch/leakwatch/internal/filelock"
	"github.com/leakwatch/leakwatch/internal/temporalproc"
)

const (
	modulePath = "github.com/leakwatch/leakwatch"
	cmdDir     = "cmd/leakwatch-temporal"
	// BinaryEnv names a prebuilt leakwatch-temporal to use instead of building one.
	BinaryEnv = "LEAKWATCH_TEMPORAL_BINARY"
)

var build struct {
	once sync.Once
	path string
	err  error
}

// Binary returns the path of a leakwatch-temporal binary built from this
// module's current sources, building it at most once per test process (and
// only when the sources changed since any earlier run).
func Binary(tb testing.TB) string {
	tb.Helper()
	build.once.Do(func() {
		if p := os.Getenv(BinaryEnv); p != "" {
			// Relative to the module root: each package's tests run in their own directory.
			if !filepath.IsAbs(p) {
				root, err := moduleRoot()
				if err != nil {
					build.err = err
					return
				}
				p = filepath.Join(root, p)
			}
			build.path, build.err = temporalproc.FindBinary(p)
			return
		}
		build.path, build.err = buildCached()
	})
	if build.err != nil {
		tb.Fatalf("temporaltest: leakwatch-temporal binary: %v", build.err)
	}
	return build.path
}

// Start starts a server on a free port with a fresh database in a temporary
// directory, stopped when the test ends.
func Start(tb testing.TB) *temporalproc.Server {
	tb.Helper()
	return StartAt(tb, filepath.Join(tb.TempDir(), "temporal.db"))
}

// StartAt starts a server on the database at dbPath (created if missing), so a
// test can stop a server and start another on the same data.
func StartAt(tb testing.TB, dbPath string) *temporalproc.Server {
	tb.Helper()
	return StartWith(tb, temporalproc.Options{DBPath: dbPath})
}

// StartWith starts a server with opts, filling in Binary, Logger and DBPath
// (a temporary one) when unset. The server is stopped when the test ends.
func StartWith(tb testing.TB, opts temporalproc.Options) *temporalproc.Server {
	tb.Helper()
	if opts.Binary == "" {
		opts.Binary = Binary(tb)
	}
	if opts.DBPath == "" {
		opts.DBPath = filepath.Join(tb.TempDir(), "temporal.db")
	}
	if opts.Logger == nil {
		opts.Logger = Logger(tb)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := temporalproc.Start(ctx, opts)
	if err != nil {
		tb.Fatalf("temporaltest: starting server: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			tb.Errorf("temporaltest: stopping server: %v", err)
		}
	})
	return srv
}

// Dial returns an SDK client for srv's namespace, closed when the test ends.
func Dial(tb testing.TB, srv *temporalproc.Server) client.Client {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{
		HostPort:  srv.Address(),
		Namespace: srv.Namespace(),
		Logger:    sdklog.NewStructuredLogger(Logger(tb)),
	})
	if err != nil {
		tb.Fatalf("temporaltest: dialing %s: %v", srv.Address(), err)
	}
	tb.Cleanup(c.Close)
	return c
}

// Logger returns a logger that writes warnings and errors to the test log
// (run `go test -v` to see them next to the test) and drops the rest; it goes
// quiet once the test has finished, since testing panics on late logs.
func Logger(tb testing.TB) *slog.Logger {
	w := &testWriter{tb: tb}
	tb.Cleanup(func() { w.done.Store(true) })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct {
	tb   testing.TB
	done atomic.Bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	if !w.done.Load() {
		w.tb.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// buildCached returns the cached binary for the current sources, building it
// under an exclusive lock if it is missing so that parallel test processes
// build it once between them.
func buildCached() (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	key, err := sourceKey(root)
	if err != nil {
		return "", err
	}
	cacheDir, err := os.UserCacheDir()
	if err != nil {
		cacheDir = os.TempDir()
	}
	dir := filepath.Join(cacheDir, "leakwatch-test")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating binary cache %s: %w", dir, err)
	}
	final := filepath.Join(dir, temporalproc.BinaryName+"-"+key)
	if _, err := os.Stat(final); err == nil {
		markUsed(final)
		return final, nil
	}

	// Wait for other test processes building the same binary; the kernel
	// drops the lock if one dies, so a killed build never wedges the others.
	lock, err := filelock.Wait(filepath.Join(dir, ".lock"))
	if err != nil {
		return "", err
	}
	defer lock.Unlock()
	// Another process may have built it while we waited for the lock.
	if _, err := os.Stat(final); err == nil {
		return final, nil
	}

	tmpDir, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", fmt.Errorf("creating build directory: %w", err)
	}
	defer os.RemoveAll(tmpDir)
	out := filepath.Join(tmpDir, temporalproc.BinaryName)
	cmd := exec.Command(goTool(), "build", "-o", out, modulePath+"/"+cmdDir)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", cmdDir, err, b)
	}
	// Rename is atomic, so nobody ever sees a half-written binary under the final name.
	if err := os.Rename(out, final); err != nil {
		return "", fmt.Errorf("installing built binary: %w", err)
	}
	pruneStale(dir, final)
	return final, nil
}

// markUsed bumps the binary's mtime so pruneStale sees it is still in use.
func markUsed(p string) {
	now := time.Now()
	_ = os.Chtimes(p, now, now)
}

// pruneStale removes binaries built from other sources (about 200 MB each)
// that no test has used for an hour; every edit of the command makes one.
func pruneStale(dir, keep string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if p == keep || !strings.HasPrefix(e.Name(), temporalproc.BinaryName+"-") {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > time.Hour {
			_ = os.Remove(p)
		}
	}
}

// moduleRoot finds this module's directory from the working directory, which
// `go test` sets to the package under test.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding module root: %w", err)
	}
	for {
		if isModuleRoot(dir) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod for module %s above the working directory", modulePath)
		}
		dir = parent
	}
}

func isModuleRoot(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if mod, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(mod), `"`) == modulePath
		}
	}
	return false
}

// sourceKey hashes what the binary is built from: go.mod, go.sum, the
// command's files and the toolchain. (The command imports no other package of
// this module; if it ever does, hash those directories too.)
func sourceKey(root string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	files := []string{"go.mod", "go.sum"}
	var cmdFiles []string
	err := filepath.WalkDir(filepath.Join(root, cmdDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			cmdFiles = append(cmdFiles, rel)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("listing %s: %w", cmdDir, err)
	}
	slices.Sort(cmdFiles)
	for _, rel := range append(files, cmdFiles...) {
		b, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			return "", fmt.Errorf("hashing sources: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", filepath.ToSlash(rel), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// goTool is the go command of the toolchain running the tests, so the binary
// is built by the same Go that compiled them.
func goTool() string {
	name := "go"
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if p := filepath.Join(runtime.GOROOT(), "bin", name); fileExists(p) {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return name
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}
