package workflows

import (
	"fmt"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/leakwatch/leakwatch/config"
)

// Heavy work runs on task queues of its own beside the base queue (the one
// workflows are started on, which every worker polls for workflow tasks and
// database-only activities), so fetching, matching and sending scale apart:
//
//   - <base>-crawl: fetching — CrawlRun and TelegramLive;
//   - <base>-scan: matching against the reference index — ScanRun, and
//     CheckRemoval, whose verdict needs a match of what it re-fetched now
//     (so it runs where the index is, not on a crawl-only worker);
//   - <base>-notify: SendNotice (SMTP, and the in-app Telegram report).
//
// The queue of an activity is derived from the workflow's own task queue,
// so a deployment's workflows and workers agree through
// temporal.task_queue alone. Routing an activity to another queue does not
// change the workflow's commands: histories recorded before still replay.

// QueueName is the task queue of a worker queue (config.QueueCrawl, …).
func QueueName(base, queue string) string { return base + "-" + queue }

// onQueue routes the activities run with the returned context to a queue
// of heavy work.
func onQueue(ctx workflow.Context, queue string) workflow.Context {
	return workflow.WithTaskQueue(ctx, QueueName(workflow.GetInfo(ctx).TaskQueueName, queue))
}

// WorkerSlots bound the activities one worker runs at once per queue.
type WorkerSlots struct {
	Crawl int // 0: 4
	Scan  int // 0: 2
}

// registration is one activity and the name workflows call it by.
type registration struct {
	name string
	fn   any
}

// baseActivities are the cheap, database-only activities every worker runs.
func (acts Activities) baseActivities() []registration {
	var out []registration
	if a := acts.Crawl; a != nil {
		out = append(out, registration{"StartCrawlRun", a.StartCrawlRun})
	}
	if d := acts.Dispatch; d != nil {
		out = append(out, registration{"DispatchHits", d.DispatchHits})
	}
	if a := acts.Cases; a != nil {
		out = append(out,
			registration{"LoadCase", a.LoadCase}, registration{"SetCaseState", a.SetCaseState},
			registration{"TakeHits", a.TakeHits}, registration{"Triage", a.Triage},
			registration{"DraftNotice", a.DraftNotice}, registration{"ApproveNotice", a.ApproveNotice},
			registration{"RequestChanges", a.RequestChanges}, registration{"ResolveSend", a.ResolveSend},
			registration{"Acknowledge", a.Acknowledge}, registration{"SetRecipient", a.SetRecipient},
			registration{"CloseCase", a.CloseCase})
	}
	return out
}

// queueActivities are the activities of one queue of heavy work that acts
// can run.
func (acts Activities) queueActivities(queue string) []registration {
	var out []registration
	switch queue {
	case config.QueueCrawl:
		if a := acts.Crawl; a != nil && a.Pipeline != nil {
			out = append(out, registration{"CrawlRun", a.CrawlRun})
		}
		if t := acts.Telegram; t != nil {
			out = append(out, registration{"TelegramLive", t.TelegramLive})
		}
	case config.QueueScan:
		if s := acts.Scan; s != nil {
			out = append(out, registration{"ScanRun", s.ScanRun})
		}
		if a := acts.Cases; a != nil && a.Checker != nil {
			out = append(out, registration{"CheckRemoval", a.CheckRemoval})
		}
	case config.QueueNotify:
		if a := acts.Cases; a != nil {
			out = append(out, registration{"SendNotice", a.SendNotice})
		}
	}
	return out
}

// NewWorkers makes the workers of one process: one on the base task queue
// with every workflow and the database-only activities, and one per queue
// of heavy work it serves, each with only that queue's activities. acts
// holds what the served queues need (a notify-only process has no scanner
// and no crawler). Unknown queue names are an error.
func NewWorkers(c client.Client, base string, queues []string, acts Activities, slots WorkerSlots) ([]worker.Worker, error) {
	// More pollers than the SDK's 2: under a burst of new cases (one
	// crawl finding many hosts) the workflow tasks otherwise queue for
	// minutes (`bench cases`: p99 detection→draft 66 s with 4, 1.1 s with
	// 16, at the same throughput).
	bw := worker.New(c, base, worker.Options{MaxConcurrentWorkflowTaskPollers: 16, MaxConcurrentActivityTaskPollers: 8})
	RegisterWorkflows(bw)
	reg := func(w worker.ActivityRegistry, rs []registration) {
		for _, r := range rs {
			w.RegisterActivityWithOptions(r.fn, activity.RegisterOptions{Name: r.name})
		}
	}
	reg(bw, acts.baseActivities())
	ws := []worker.Worker{bw}
	for _, q := range queues {
		rs := acts.queueActivities(q)
		var opts worker.Options
		switch q {
		case config.QueueCrawl:
			n := slots.Crawl
			if n <= 0 {
				n = 4
			}
			opts = worker.Options{MaxConcurrentActivityExecutionSize: n, MaxConcurrentActivityTaskPollers: min(n, 4)}
		case config.QueueScan:
			n := slots.Scan
			if n <= 0 {
				n = 2
			}
			opts = worker.Options{MaxConcurrentActivityExecutionSize: n, MaxConcurrentActivityTaskPollers: min(n, 4)}
		case config.QueueNotify:
			opts = worker.Options{MaxConcurrentActivityExecutionSize: 8, MaxConcurrentActivityTaskPollers: 2}
		default:
			return nil, fmt.Errorf("unknown worker queue %q (want %v)", q, config.WorkerQueues)
		}
		if len(rs) == 0 {
			return nil, fmt.Errorf("worker queue %s: this process has none of its activities", q)
		}
		opts.DisableWorkflowWorker = true
		w := worker.New(c, QueueName(base, q), opts)
		reg(w, rs)
		// Activities scheduled on the base queue by workflows started
		// before the queues were split (a rolling upgrade) are served by
		// the workers that have them.
		reg(bw, rs)
		ws = append(ws, w)
	}
	return ws, nil
}
