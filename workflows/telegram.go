package workflows

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/crawlers/tgmonitor"
	"github.com/leakwatch/leakwatch/internal/tick"
	"github.com/leakwatch/leakwatch/storage"
)

// TelegramMonitorName is the live Telegram monitor's registered name.
const TelegramMonitorName = "TelegramMonitor"

// TelegramMonitorID is the one monitor workflow of an account.
func TelegramMonitorID(account string) string { return "telegram-monitor-" + account }

// liveSpell is how long one TelegramLive activity listens before it returns
// and the workflow starts the next: short enough that a worker upgrade
// takes over within the hour, long enough to keep the history small.
const liveSpell = time.Hour

// spellsPerRun is how many spells a workflow run holds before it continues
// as new, so its history never grows without bound.
const spellsPerRun = 24

// TelegramMonitor keeps one account listening for pushed posts in its
// watched channels, for ever: an activity per hour (heartbeating, so a
// crashed worker's spell resumes elsewhere within a minute), and a new run
// every day. A dead session ends it; `leakwatch up` starts it again once
// the account has logged in again.
func TelegramMonitor(ctx workflow.Context, account string) error {
	var a *TelegramActivities
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: liveSpell + 5*time.Minute,
		HeartbeatTimeout:    time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: 10 * time.Second, MaximumInterval: 10 * time.Minute,
			NonRetryableErrorTypes: []string{errTypePermanent},
		},
	})
	for range spellsPerRun {
		if err := workflow.ExecuteActivity(onQueue(ctx, config.QueueCrawl), a.TelegramLive, account).Get(ctx, nil); err != nil {
			var ae *temporal.ApplicationError
			if errors.As(err, &ae) && ae.Type() == errTypePermanent {
				workflow.GetLogger(ctx).Warn("telegram monitor stops", "account", account, "reason", ae.Error())
				return nil
			}
			return err
		}
	}
	return workflow.NewContinueAsNewError(ctx, TelegramMonitorName, account)
}

// TelegramActivities listen to Telegram and turn each pushed post into a
// crawl of its channel now: the crawl (tgmonitor.Watch) reads from the
// channel's saved cursor, so a push is only a prompt — nothing is recorded
// twice, and a push that never comes is caught by the source's scheduled
// crawls.
type TelegramActivities struct {
	Store     *storage.Store
	Monitor   *tgmonitor.Monitor
	Client    client.Client
	TaskQueue string
	Logger    *slog.Logger // nil discards
}

func (a *TelegramActivities) log() *slog.Logger { return orDiscard(a.Logger) }

// TelegramLive listens for a spell (liveSpell), heartbeating.
func (a *TelegramActivities) TelegramLive(ctx context.Context, account string) error {
	if a.Monitor == nil {
		err := errors.New("telegram is not configured in this worker")
		return temporal.NewNonRetryableApplicationError(err.Error(), errTypePermanent, err)
	}
	ctx, cancel := context.WithTimeout(ctx, liveSpell)
	defer cancel()
	stopBeat := tick.Every(ctx, 15*time.Second, func(ctx context.Context) { heartbeat(ctx) })
	defer stopBeat()
	var mu sync.Mutex
	last := map[int64]time.Time{}
	onNew := func(ctx context.Context, channelID int64) {
		// A burst of posts is one crawl.
		mu.Lock()
		if time.Since(last[channelID]) < 5*time.Second {
			mu.Unlock()
			return
		}
		last[channelID] = time.Now()
		mu.Unlock()
		if err := a.crawlChannel(ctx, channelID); err != nil {
			a.log().WarnContext(ctx, "cannot start a crawl for a pushed telegram post; the schedule will catch it", "channel", channelID, "err", err)
		}
	}
	err := a.Monitor.Live(ctx, account, a.watched, onNew)
	if err == nil || ctx.Err() != nil {
		return nil // the spell is over
	}
	if tgmonitor.IsPermanent(err) {
		return temporal.NewNonRetryableApplicationError(err.Error(), errTypePermanent, err)
	}
	return fmt.Errorf("telegram live %s: %w", account, err)
}

// watched returns the resolved channels of enabled telegram sources: id →
// access hash.
func (a *TelegramActivities) watched(ctx context.Context) (map[int64]int64, error) {
	srcs, err := a.Store.ListSources(ctx)
	if err != nil {
		return nil, err
	}
	out := map[int64]int64{}
	for _, s := range srcs {
		if s.Kind != storage.SourceTelegram || !s.Enabled {
			continue
		}
		ch, ok, err := a.Store.TelegramChannel(ctx, s.ID)
		if err != nil {
			return nil, err
		}
		if ok && ch.ChannelID != 0 && ch.Gone == "" {
			out[ch.ChannelID] = ch.AccessHash
		}
	}
	return out, nil
}

// crawlChannel starts a crawl of the source watching a channel: through
// its schedule (which skips it when a crawl is already running), or, for a
// manual-only source, as a workflow of its own.
func (a *TelegramActivities) crawlChannel(ctx context.Context, channelID int64) error {
	chs, err := a.Store.TelegramChannels(ctx)
	if err != nil {
		return err
	}
	for _, ch := range chs {
		if ch.ChannelID != channelID {
			continue
		}
		err := a.Client.ScheduleClient().GetHandle(ctx, ScheduleID(ch.SourceID)).
			Trigger(ctx, client.ScheduleTriggerOptions{Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP})
		var nf *serviceerror.NotFound
		if err == nil || !errors.As(err, &nf) {
			return err
		}
		_, err = a.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: fmt.Sprintf("crawl-pushed-%d", ch.SourceID), TaskQueue: a.TaskQueue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		}, CrawlSourceName, CrawlInput{SourceID: ch.SourceID})
		return err
	}
	return nil
}

// StartTelegramMonitors starts the monitor of every account that is logged
// in, not dead and not waiting out a flood wait, unless it runs already.
// A monitor that stopped for a flood wait is started again once it is over.
func StartTelegramMonitors(ctx context.Context, c client.Client, store *storage.Store, taskQueue string) error {
	accts, err := store.TelegramAccounts(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, acct := range accts {
		waiting := acct.Status == storage.TelegramFloodWait && acct.FloodUntil != nil && acct.FloodUntil.After(time.Now())
		if acct.Status == storage.TelegramDead || acct.Status == storage.TelegramLoggedOut || len(acct.Session) == 0 || waiting {
			continue
		}
		_, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: TelegramMonitorID(acct.Name), TaskQueue: taskQueue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		}, TelegramMonitorName, acct.Name)
		if err != nil && !strings.Contains(err.Error(), "already") {
			errs = append(errs, fmt.Errorf("start telegram monitor %s: %w", acct.Name, err))
		}
	}
	return errors.Join(errs...)
}
