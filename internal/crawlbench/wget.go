package crawlbench

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// wgetTimeout bounds one wget mirror of the forum.
const wgetTimeout = 30 * time.Minute

func execLookPath(file string) (string, error) { return exec.LookPath(file) }

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// runWget mirrors the forum with wget, one connection, into a temporary
// directory, and counts what the server sent it. --mirror is -r -N -l inf
// --no-remove-listing; wget parses every page it saves for links.
func runWget(ctx context.Context, wget string, srv *server, f *forum) (CrawlResult, error) {
	c := CrawlResult{Tool: "wget", Workers: 1, AttachmentsWant: len(f.attachments)}
	dir, err := os.MkdirTemp("", "leakwatch-bench-wget-")
	if err != nil {
		return c, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(ctx, wgetTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, wget,
		// --adjust-extension saves /thread/x as thread/x.html, so the
		// directory thread/x/ can hold its later pages; without it wget
		// cannot save (nor follow) /thread/x/page/2.
		"--mirror", "--adjust-extension", "--no-parent", "--no-host-directories", "--directory-prefix="+dir,
		"--quiet", "-e", "robots=off", "--level=inf", "--tries=1", "--timeout=60",
		srv.url+"/")
	cmd.Env = append(os.Environ(), "no_proxy=*", "NO_PROXY=*", "http_proxy=", "HTTP_PROXY=")
	srv.count.reset()
	start, cpu := time.Now(), cpuTime()
	if err := cmd.Start(); err != nil {
		return c, fmt.Errorf("crawlbench: wget: %w", err)
	}
	// wget's peak RSS, sampled: the child's rusage would report this
	// process's, which the child shares until it executes wget.
	sampled := make(chan int64, 1)
	exited := make(chan struct{})
	go func() { sampled <- sampleHWM(cmd.Process.Pid, exited) }()
	err = cmd.Wait()
	c.Elapsed = time.Since(start)
	c.CPU = cpuTime() - cpu
	if cmd.ProcessState != nil {
		c.CPU += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	close(exited)
	c.PeakRSS = <-sampled
	c.Served = srv.count.snapshot()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return c, fmt.Errorf("crawlbench: wget: %w", context.Cause(ctx))
	case errors.As(err, &exit):
		c.ExitStatus = exit.ExitCode() // 8: some answer was an error; counted in Failed
	case err != nil:
		return c, fmt.Errorf("crawlbench: wget: %w", err)
	}
	c.Pages, c.Files, c.Failed, c.Bytes = c.Served.Pages, c.Served.Files, c.Served.Errors, c.Served.Bytes
	c.AttachmentsFound, c.Missing = found(f.attachments, srv.count.servedFiles())
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			c.FilesWritten++
		}
		return nil
	})
	return c, nil
}

// sampleHWM reads the peak RSS (VmHWM) of process pid every 10ms until
// exited closes, and returns the last reading: wget's own peak up to then
// (an early reading may still be this process's, before the exec).
func sampleHWM(pid int, exited <-chan struct{}) int64 {
	status := "/proc/" + strconv.Itoa(pid) + "/status"
	var last int64
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if n := StatusField(status, "VmHWM"); n > 0 {
			last = n
		}
		select {
		case <-exited:
			return last
		case <-t.C:
		}
	}
}
