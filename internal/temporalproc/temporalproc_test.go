//go:build unix

package temporalproc_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/leakwatch/leakwatch/internal/temporalproc"
	"github.com/leakwatch/leakwatch/internal/temporalproc/temporaltest"
)

var (
	caseState  = temporal.NewSearchAttributeKeyKeyword("CaseState")
	caseTarget = temporal.NewSearchAttributeKeyKeyword("CaseTarget")
)

// greetWorkflow exercises what leakwatch relies on: an activity, and
// upserting the custom search attributes the server registers.
func greetWorkflow(ctx workflow.Context, name string) (string, error) {
	if err := workflow.UpsertTypedSearchAttributes(ctx, caseState.ValueSet("closed")); err != nil {
		return "", err
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	var greeting string
	err := workflow.ExecuteActivity(ctx, "Greet", name).Get(ctx, &greeting)
	return greeting, err
}

func greetActivity(_ context.Context, name string) (string, error) {
	return "hello " + name, nil
}

// runGreeting runs greetWorkflow with ID id on a worker polling its own task
// queue and returns the result.
func runGreeting(t *testing.T, c client.Client, id, name string) string {
	t.Helper()
	taskQueue := "test-" + id
	w := worker.New(c, taskQueue, worker.Options{})
	w.RegisterWorkflowWithOptions(greetWorkflow, workflow.RegisterOptions{Name: "GreetWorkflow"})
	w.RegisterActivityWithOptions(greetActivity, activity.RegisterOptions{Name: "Greet"})
	if err := w.Start(); err != nil {
		t.Fatalf("starting worker: %v", err)
	}
	defer w.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: taskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			caseState.ValueSet("detected"),
			caseTarget.ValueSet("leaks.example"),
		),
	}, "GreetWorkflow", name)
	if err != nil {
		t.Fatalf("starting workflow %s: %v", id, err)
	}
	var got string
	if err := run.Get(ctx, &got); err != nil {
		t.Fatalf("workflow %s: %v", id, err)
	}
	return got
}

// waitForVisible polls visibility (updated asynchronously) until query
// matches exactly the workflow wantID.
func waitForVisible(t *testing.T, c client.Client, namespace, query, wantID string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, Query: query})
		cancel()
		if err == nil && len(resp.GetExecutions()) == 1 && resp.GetExecutions()[0].GetExecution().GetWorkflowId() == wantID {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("query %q: want only %s, got %v (err %v)", query, wantID, resp.GetExecutions(), err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func dial(t *testing.T, srv *temporalproc.Server) client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: srv.Address(), Namespace: srv.Namespace(),
		Logger: sdklog.NewStructuredLogger(temporaltest.Logger(t))})
	if err != nil {
		t.Fatalf("dialing %s: %v", srv.Address(), err)
	}
	return c
}

func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func TestWorkflowSearchAttributesAndPersistence(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "data", "temporal.db") // "data" does not exist yet
	srv := temporaltest.StartAt(t, dbPath)
	if srv.Namespace() != temporalproc.DefaultNamespace {
		t.Errorf("namespace = %q, want %q", srv.Namespace(), temporalproc.DefaultNamespace)
	}
	if _, err := os.Stat(dbPath); err != nil {
		t.Fatalf("database file not created: %v", err)
	}

	c := dial(t, srv)
	if got := runGreeting(t, c, "greet-1", "leakwatch"); got != "hello leakwatch" {
		t.Fatalf("workflow result = %q, want %q", got, "hello leakwatch")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sas, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: srv.Namespace()})
	if err != nil {
		t.Fatalf("listing search attributes: %v", err)
	}
	for _, name := range []string{"CaseState", "CaseTarget", "CaseInjunction"} {
		if got := sas.GetCustomAttributes()[name]; got != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			t.Errorf("search attribute %s: type %v, want Keyword (all custom: %v)", name, got, sas.GetCustomAttributes())
		}
	}
	desc, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: srv.Namespace()})
	if err != nil {
		t.Fatalf("describing namespace: %v", err)
	}
	if got := desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != temporalproc.DefaultRetention {
		t.Errorf("retention = %s, want %s", got, temporalproc.DefaultRetention)
	}
	if _, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"}); err != nil {
		t.Errorf("default namespace: %v", err)
	}
	// The upsert inside the workflow and the start-time value both reach visibility.
	waitForVisible(t, c, srv.Namespace(), `CaseState = "closed" AND CaseTarget = "leaks.example"`, "greet-1")
	c.Close()

	oldPID := srv.PID()
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer stopCancel()
	if err := srv.Stop(stopCtx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	select {
	case <-srv.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}
	if !errors.Is(srv.Err(), temporalproc.ErrStopped) {
		t.Errorf("Err after Stop = %v, want ErrStopped", srv.Err())
	}
	if !processGone(oldPID) {
		t.Errorf("process %d still running after Stop", oldPID)
	}

	// Same database, new process: the completed workflow and its search attributes survive.
	srv2 := temporaltest.StartAt(t, dbPath)
	c2 := dial(t, srv2)
	defer c2.Close()
	wf, err := c2.DescribeWorkflowExecution(ctx, "greet-1", "")
	if err != nil {
		t.Fatalf("describing workflow after restart: %v", err)
	}
	if st := wf.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		t.Errorf("status after restart = %v, want COMPLETED", st)
	}
	var got string
	if err := c2.GetWorkflow(ctx, "greet-1", "").Get(ctx, &got); err != nil || got != "hello leakwatch" {
		t.Errorf("result after restart = %q, %v; want %q", got, err, "hello leakwatch")
	}
	waitForVisible(t, c2, srv2.Namespace(), `CaseTarget = "leaks.example"`, "greet-1")
	// And the restarted server still runs new work.
	if got := runGreeting(t, c2, "greet-2", "again"); got != "hello again" {
		t.Errorf("second workflow result = %q", got)
	}
}

func TestSupervisorRestartsKilledServer(t *testing.T) {
	srv := temporaltest.Start(t)
	addr, pid := srv.Address(), srv.PID()

	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("killing server: %v", err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for srv.Restarts() < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("server not restarted; Err = %v", srv.Err())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if srv.PID() == pid {
		t.Errorf("PID unchanged after restart: %d", pid)
	}
	if srv.Address() != addr {
		t.Errorf("address changed across restart: %s -> %s", addr, srv.Address())
	}
	if err := srv.Err(); err != nil {
		t.Errorf("Err after restart = %v, want nil", err)
	}
	select {
	case <-srv.Done():
		t.Fatal("Done closed although the server was restarted")
	default:
	}

	// Clients reach the restarted server on the same address.
	c := dial(t, srv)
	defer c.Close()
	if got := runGreeting(t, c, "after-restart", "again"); got != "hello again" {
		t.Errorf("workflow after restart = %q", got)
	}
}

func TestSupervisorGivesUp(t *testing.T) {
	// A private copy of the binary that can be deleted to make restarts fail.
	bin := filepath.Join(t.TempDir(), temporalproc.BinaryName)
	copyFile(t, temporaltest.Binary(t), bin)
	srv := temporaltest.StartWith(t, temporalproc.Options{Binary: bin, MaxRestarts: 1, RestartWindow: time.Minute})

	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(srv.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-srv.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("supervisor did not give up")
	}
	err := srv.Err()
	if err == nil || errors.Is(err, temporalproc.ErrStopped) || !strings.Contains(err.Error(), "giving up") {
		t.Fatalf("Err = %v, want a giving-up error", err)
	}
	if !strings.Contains(err.Error(), "no such file") {
		t.Errorf("Err = %v, want it to name the failed restart", err)
	}
	if srv.Restarts() != 0 {
		t.Errorf("Restarts = %d, want 0", srv.Restarts())
	}
}

func TestStartFailureQuotesServerOutput(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "temporal.db")
	if err := os.WriteFile(dbPath, []byte("this is not an SQLite database, just text long enough"), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := temporalproc.Start(context.Background(), temporalproc.Options{
		Binary: temporaltest.Binary(t), DBPath: dbPath, Logger: temporaltest.Logger(t),
	})
	if err == nil {
		t.Fatal("Start succeeded on a corrupt database")
	}
	if !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), "leakwatch-temporal:") {
		t.Errorf("error does not quote the server's own message: %v", err)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("failing start took %s; a non-port error should not be retried", took)
	}
}

func TestStartOnTakenPortFails(t *testing.T) {
	srv := temporaltest.Start(t)
	_, portStr, err := net.SplitHostPort(srv.Address())
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(portStr)
	if err != nil {
		t.Fatal(err)
	}
	_, err = temporalproc.Start(context.Background(), temporalproc.Options{
		Binary: temporaltest.Binary(t), DBPath: filepath.Join(t.TempDir(), "other.db"), Port: p, Logger: temporaltest.Logger(t),
	})
	if err == nil || !strings.Contains(err.Error(), "not free") {
		t.Fatalf("Start on a taken port: err = %v, want 'not free'", err)
	}
}

func TestFindBinary(t *testing.T) {
	dir := t.TempDir()
	fake := filepath.Join(dir, temporalproc.BinaryName)
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}

	got, err := temporalproc.FindBinary(fake)
	if err != nil || got != fake {
		t.Errorf("FindBinary(configured) = %q, %v; want %q", got, err, fake)
	}
	if _, err := temporalproc.FindBinary(filepath.Join(dir, "missing")); err == nil {
		t.Error("FindBinary(missing configured path) succeeded")
	}
	notExec := filepath.Join(dir, "plain")
	if err := os.WriteFile(notExec, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := temporalproc.FindBinary(notExec); err == nil {
		t.Error("FindBinary(non-executable) succeeded")
	}

	t.Setenv("PATH", dir)
	if got, err := temporalproc.FindBinary(""); err != nil || got != fake {
		t.Errorf("FindBinary via PATH = %q, %v; want %q", got, err, fake)
	}
	t.Setenv("PATH", t.TempDir())
	_, err = temporalproc.FindBinary("")
	if !errors.Is(err, temporalproc.ErrBinaryNotFound) || !strings.Contains(err.Error(), "go build -o bin/ ./cmd/...") {
		t.Errorf("FindBinary with nothing found: err = %v", err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestNamespaceSettingsReconciledOnRestart(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "temporal.db")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	srv := temporaltest.StartWith(t, temporalproc.Options{DBPath: dbPath, Retention: 48 * time.Hour})
	c := dial(t, srv)
	if got := retention(ctx, t, c, srv.Namespace()); got != 48*time.Hour {
		t.Errorf("retention on a new namespace = %s, want 48h", got)
	}
	// A namespace made through the API has none of our search attributes,
	// like one created by an older leakwatch-temporal.
	if _, err := c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace: "bare", WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	}); err != nil {
		t.Fatalf("registering namespace: %v", err)
	}
	c.Close()
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	srv = temporaltest.StartWith(t, temporalproc.Options{DBPath: dbPath, Namespace: "bare", Retention: 72 * time.Hour})
	c = dial(t, srv)
	if got := retention(ctx, t, c, "bare"); got != 72*time.Hour {
		t.Errorf("retention of existing namespace after restart = %s, want 72h", got)
	}
	sas, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "bare"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"CaseState", "CaseTarget", "CaseInjunction"} {
		if got := sas.GetCustomAttributes()[name]; got != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			t.Errorf("search attribute %s on existing namespace: %v, want Keyword", name, got)
		}
	}
	// Usable at once, not only after a namespace-cache refresh.
	if got := runGreeting(t, c, "bare-1", "bare"); got != "hello bare" {
		t.Errorf("workflow in reconciled namespace = %q", got)
	}
	c.Close()
	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	srv = temporaltest.StartAt(t, dbPath)
	c = dial(t, srv)
	defer c.Close()
	if got := retention(ctx, t, c, temporalproc.DefaultNamespace); got != temporalproc.DefaultRetention {
		t.Errorf("retention after restart with the default = %s, want %s", got, temporalproc.DefaultRetention)
	}
}

func retention(ctx context.Context, t *testing.T, c client.Client, namespace string) time.Duration {
	t.Helper()
	desc, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	if err != nil {
		t.Fatalf("describing namespace %s: %v", namespace, err)
	}
	return desc.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration()
}

func TestSecondServerOnSameDatabaseRefused(t *testing.T) {
	srv := temporaltest.Start(t)
	_, err := temporalproc.Start(context.Background(), temporalproc.Options{
		Binary: temporaltest.Binary(t), DBPath: srv.DBPath(), Logger: temporaltest.Logger(t),
	})
	if err == nil || !strings.Contains(err.Error(), "in use by another leakwatch-temporal") {
		t.Fatalf("second server on the same database: err = %v, want 'in use'", err)
	}
	// The first one is unaffected.
	c := dial(t, srv)
	defer c.Close()
	if got := runGreeting(t, c, "still-serving", "first"); got != "hello first" {
		t.Errorf("first server after refused second = %q", got)
	}
}
