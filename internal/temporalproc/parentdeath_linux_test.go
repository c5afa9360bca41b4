package temporalproc_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/internal/temporalproc"
	"github.com/leakwatch/leakwatch/internal/temporalproc/temporaltest"
)

const helperEnv = "TEMPORALPROC_TEST_PARENT"

// TestParentDeathStopsServer runs a parent process that starts a server, kills
// that parent with SIGKILL (no chance to clean up) and expects the server to go
// too, through the parent-death signal.
func TestParentDeathStopsServer(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		return // running as the helper's test binary, handled by TestHelperParent
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperParent$", "-test.timeout=5m")
	cmd.Env = append(os.Environ(),
		helperEnv+"=1",
		temporaltest.BinaryEnv+"="+temporaltest.Binary(t),
		"TEMPORALPROC_TEST_DB="+filepath.Join(t.TempDir(), "temporal.db"),
	)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	childPID := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "server pid "); ok {
			childPID, _ = strconv.Atoi(v)
			break
		}
	}
	if childPID == 0 {
		t.Fatalf("helper did not report the server pid (scan err %v)", sc.Err())
	}
	if processGone(childPID) {
		t.Fatalf("server %d not running while its parent lives", childPID)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(30 * time.Second)
	for !processGone(childPID) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(-childPID, syscall.SIGKILL)
			t.Fatalf("server %d still running 30s after its parent was killed", childPID)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestHelperParent is the parent process of TestParentDeathStopsServer.
func TestHelperParent(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("helper for TestParentDeathStopsServer")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := temporalproc.Start(ctx, temporalproc.Options{
		Binary: os.Getenv(temporaltest.BinaryEnv),
		DBPath: os.Getenv("TEMPORALPROC_TEST_DB"),
		Logger: temporaltest.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("server pid %d\n", srv.PID())
	<-ctx.Done() // killed by the test long before this
}
