package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/api/workflowservice/v1"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/leakwatch/leakwatch/internal/temporalproc/temporaltest"
	"github.com/leakwatch/leakwatch/storage"
)

// The live Telegram monitor's workflow logic, under the test environment
// (the activity itself is tested against the simulated Telegram in
// crawlers/tgmonitor): it listens spell after spell, continues as new
// after a day of them, retries a failed spell, and stops for good on a
// dead session.

func telegramEnv(t *testing.T, live func(context.Context, string) error) (*testsuite.TestWorkflowEnvironment, *int) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	e := s.NewTestWorkflowEnvironment()
	e.RegisterWorkflowWithOptions(TelegramMonitor, workflow.RegisterOptions{Name: TelegramMonitorName})
	var a *TelegramActivities
	e.RegisterActivity(a)
	calls := 0
	e.OnActivity(a.TelegramLive, mock.Anything, "mon1").Return(func(ctx context.Context, acct string) error {
		calls++
		return live(ctx, acct)
	})
	return e, &calls
}

func TestTelegramMonitorContinuesAsNew(t *testing.T) {
	failed := false
	e, calls := telegramEnv(t, func(context.Context, string) error {
		if !failed { // one spell fails and is retried
			failed = true
			return errors.New("connection reset")
		}
		return nil
	})
	e.ExecuteWorkflow(TelegramMonitorName, "mon1")
	var can *workflow.ContinueAsNewError
	if err := e.GetWorkflowError(); !errors.As(err, &can) || can.WorkflowType.Name != TelegramMonitorName {
		t.Fatalf("monitor ended with %v, want continue-as-new", err)
	}
	if *calls != spellsPerRun+1 {
		t.Errorf("%d spells, want %d and one retry", *calls, spellsPerRun)
	}
}

func TestTelegramMonitorStopsOnDeadSession(t *testing.T) {
	e, calls := telegramEnv(t, func(context.Context, string) error {
		err := errors.New("telegram account mon1: session dead (SESSION_REVOKED)")
		return temporal.NewNonRetryableApplicationError(err.Error(), errTypePermanent, err)
	})
	e.ExecuteWorkflow(TelegramMonitorName, "mon1")
	if !e.IsWorkflowCompleted() || e.GetWorkflowError() != nil {
		t.Fatalf("monitor ended with %v, want a clean stop", e.GetWorkflowError())
	}
	if *calls != 1 {
		t.Errorf("%d spells after a dead session, want 1 (no reconnect loop)", *calls)
	}
}

// TestPushedPostStartsCrawl: against a real server, a pushed post starts
// its channel's crawl through the source's schedule (a second push while it
// runs is skipped by the schedule's overlap policy), and a manual-only
// source's through a workflow of its own.
func TestPushedPostStartsCrawl(t *testing.T) {
	ctx := context.Background()
	c, store := serverAndStore(t)
	const queue = "telegram-push-test" // no worker: started crawls stay open
	add := func(name string, interval time.Duration, channelID int64) storage.Source {
		src := storage.Source{Name: name, Kind: storage.SourceTelegram, URL: "https://t.me/" + name,
			EverySecs: int64(interval / time.Second), Enabled: true}
		if err := store.CreateSource(ctx, &src); err != nil {
			t.Fatal(err)
		}
		if err := store.SaveTelegramChannel(ctx, &storage.TelegramChannel{SourceID: src.ID, ChannelID: channelID, AccessHash: 7}); err != nil {
			t.Fatal(err)
		}
		return src
	}
	scheduled := add("scheduled_chan", time.Hour, 1001)
	manual := add("manual_chan", 0, 1002)
	if err := SyncSchedules(ctx, c, store, queue, temporaltest.Logger(t)); err != nil {
		t.Fatal(err)
	}
	a := &TelegramActivities{Store: store, Client: c, TaskQueue: queue}

	if err := a.crawlChannel(ctx, 1001); err != nil {
		t.Fatal(err)
	}
	h := c.ScheduleClient().GetHandle(ctx, ScheduleID(scheduled.ID))
	var actions int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		d, err := h.Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if actions = int(d.Info.NumActions); actions > 0 {
			break
		}
	}
	if actions != 1 {
		t.Fatalf("the schedule took %d actions after a push, want 1", actions)
	}

	if err := a.crawlChannel(ctx, 1002); err != nil {
		t.Fatal(err)
	}
	if err := a.crawlChannel(ctx, 1002); err != nil { // a second push: the same crawl
		t.Fatal(err)
	}
	d, err := c.DescribeWorkflowExecution(ctx, fmt.Sprintf("crawl-pushed-%d", manual.ID), "")
	if err != nil {
		t.Fatalf("no crawl started for the manual-only source: %v", err)
	}
	if typ := d.WorkflowExecutionInfo.Type.GetName(); typ != CrawlSourceName {
		t.Errorf("started %s, want %s", typ, CrawlSourceName)
	}
	// An unknown channel is not an error: the channel's source was removed.
	if err := a.crawlChannel(ctx, 4242); err != nil {
		t.Errorf("push for an unwatched channel: %v", err)
	}
}

// TestStartTelegramMonitors: against a real server, only accounts that can
// listen get a monitor — not a dead one, one never logged in, or one
// waiting out a flood wait (until it is over) — and starting again while
// one runs keeps the running one.
func TestStartTelegramMonitors(t *testing.T) {
	ctx := context.Background()
	c, store := serverAndStore(t)
	soon, past := time.Now().Add(time.Hour), time.Now().Add(-time.Minute)
	for _, a := range []struct {
		name    string
		st      storage.TelegramStatus
		until   *time.Time
		session bool
	}{
		{"ok", storage.TelegramOK, nil, true}, {"dead", storage.TelegramDead, nil, true},
		{"new", storage.TelegramLoggedOut, nil, false}, {"waiting", storage.TelegramFloodWait, &soon, true},
		{"waited", storage.TelegramFloodWait, &past, true},
	} {
		must(t, store.EnsureTelegramAccount(ctx, a.name, "+15550100"))
		if a.session {
			must(t, store.SaveTelegramSession(ctx, a.name, []byte("sealed")))
		}
		must(t, store.SetTelegramStatus(ctx, a.name, a.st, "", a.until, 0))
	}
	const queue = "telegram-monitors-test" // no worker: started monitors stay open
	for range 2 {
		if err := StartTelegramMonitors(ctx, c, store, queue); err != nil {
			t.Fatal(err)
		}
	}
	for name, want := range map[string]bool{"ok": true, "waited": true, "dead": false, "new": false, "waiting": false} {
		d, err := c.DescribeWorkflowExecution(ctx, TelegramMonitorID(name), "")
		if got := err == nil; got != want {
			t.Errorf("account %s: monitor started %v, want %v (%v)", name, got, want, err)
			continue
		}
		if want && d.WorkflowExecutionInfo.Type.GetName() != TelegramMonitorName {
			t.Errorf("account %s runs %s", name, d.WorkflowExecutionInfo.Type.GetName())
		}
	}
	// Started twice, one run each.
	resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: fmt.Sprintf("WorkflowId = '%s'", TelegramMonitorID("ok"))})
	if err == nil && len(resp.Executions) > 1 { // visibility may lag: none yet is not a failure
		t.Errorf("%d runs of the ok account's monitor, want 1", len(resp.Executions))
	}
}
