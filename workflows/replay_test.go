package workflows

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
)

// Replay tests: the histories in testdata/ were recorded from real runs (see
// record_test.go). Replaying them against the current workflow code fails
// with a nondeterminism error when a change would break workflows already
// running with such a history; such a change needs workflow.GetVersion.

// recordedHistories lists the recorded histories and what each must still
// contain, so a re-recording that silently lost coverage fails here too.
var recordedHistories = []struct {
	file     string
	workflow string
	// minimum number of events with each summary (see eventSummary)
	want map[string]int
	last string
}{
	{
		file: historyCaseFollowUp, workflow: TakedownCaseName,
		want: map[string]int{
			"WorkflowExecutionSignaled " + SignalHit:           3, // signal-with-start, a re-delivery, the reappearance
			"WorkflowExecutionUpdateAccepted " + UpdateApprove: 1,
			"WorkflowExecutionUpdateCompleted":                 1,
			"ActivityTaskScheduled LoadCase":                   1,
			"ActivityTaskScheduled DraftNotice":                2, // revision 1, then the follow-up
			"ActivityTaskScheduled ApproveNotice":              1,
			"ActivityTaskScheduled SendNotice":                 1,
			"ActivityTaskScheduled SetCaseState":               4, // drafted, approved, sent, drafted
			"UpsertWorkflowSearchAttributes":                   4,
			"WorkflowExecutionCancelRequested":                 1,
		},
		last: "WorkflowExecutionCanceled",
	},
	{
		file: historyCaseSendRefuse, workflow: TakedownCaseName,
		want: map[string]int{
			"WorkflowExecutionStarted " + TakedownCaseName:     1,
			"WorkflowExecutionSignaled " + SignalHit:           1,
			"WorkflowExecutionUpdateAccepted " + UpdateApprove: 2, // the approval, then the re-approval
			"WorkflowExecutionUpdateCompleted":                 2,
			"ActivityTaskScheduled DraftNotice":                1,
			"ActivityTaskScheduled SendNotice":                 2,
			"ActivityTaskFailed":                               1, // the relay's permanent refusal
			"UpsertWorkflowSearchAttributes":                   4, // drafted, approved, send-failed, sent
		},
		last: "WorkflowExecutionCanceled",
	},
	{
		// The current version: the lifecycle with real activities.
		file: historyCaseLifecycle, workflow: TakedownCaseName,
		want: map[string]int{
			"MarkerRecorded":                                   1, // GetVersion(versionLifecycle) = 1
			"WorkflowExecutionSignaled " + SignalHit:           1,
			"WorkflowExecutionUpdateAccepted " + UpdateApprove: 2, // the notice, the follow-up
			"ActivityTaskScheduled TakeHits":                   1,
			"ActivityTaskScheduled DraftNotice":                2,
			"ActivityTaskScheduled SendNotice":                 2,
			"ActivityTaskScheduled CheckRemoval":               2, // still up, then gone
			"TimerFired":                                       2,
		},
		last: "WorkflowExecutionCanceled",
	},
	// Cases left open by release af3289f (record_release_test.go), as a
	// worker of a later release finds them after an upgrade.
	{
		file: historyReleaseAwaiting, workflow: TakedownCaseName,
		want: map[string]int{
			"MarkerRecorded":                         1,
			"WorkflowExecutionSignaled " + SignalHit: 1,
			"TimerFired":                             1, // the draft delay
			"ActivityTaskScheduled DraftNotice":      1,
			"ActivityTaskScheduled SetCaseState":     2, // triaged, drafted
		},
		last: "WorkflowTaskCompleted", // waiting for the approval
	},
	{
		file: historyReleaseSent, workflow: TakedownCaseName,
		want: map[string]int{
			"WorkflowExecutionUpdateAccepted " + UpdateApprove: 1,
			"ActivityTaskScheduled SendNotice":                 1,
			"ActivityTaskScheduled CheckRemoval":               1, // still up
			"TimerFired":                                       2, // the draft delay, the first re-check
		},
		last: "TimerStarted", // the next re-check
	},
	{
		file: historyReleaseRefused, workflow: TakedownCaseName,
		want: map[string]int{
			"WorkflowExecutionUpdateAccepted " + UpdateApprove: 1,
			"ActivityTaskScheduled SendNotice":                 1,
			"ActivityTaskFailed":                               1, // the relay's permanent refusal
			"UpsertWorkflowSearchAttributes":                   4, // triaged, drafted, approved, send-failed
		},
		last: "WorkflowTaskCompleted", // waiting for a new approval
	},
	{
		// Before versionScanSplit: crawl (matching inline), dispatch.
		file: historyCrawlSourceV0, workflow: CrawlSourceName,
		want: map[string]int{
			"WorkflowExecutionStarted " + CrawlSourceName: 1,
			"ActivityTaskScheduled StartCrawlRun":         1,
			"ActivityTaskScheduled CrawlRun":              1,
			"ActivityTaskScheduled DispatchHits":          1,
			"ActivityTaskCompleted":                       3,
		},
		last: "WorkflowExecutionCompleted",
	},
	{
		// The current version: crawl, match what was spooled, dispatch.
		file: historyCrawlSource, workflow: CrawlSourceName,
		want: map[string]int{
			"WorkflowExecutionStarted " + CrawlSourceName: 1,
			"MarkerRecorded":                      1, // GetVersion(versionScanSplit) = 1
			"ActivityTaskScheduled StartCrawlRun": 1,
			"ActivityTaskScheduled CrawlRun":      1,
			"ActivityTaskScheduled ScanRun":       1,
			"ActivityTaskScheduled DispatchHits":  1,
			"ActivityTaskCompleted":               4,
		},
		last: "WorkflowExecutionCompleted",
	},
}

func TestReplayRecordedHistories(t *testing.T) {
	for _, rh := range recordedHistories {
		t.Run(strings.TrimSuffix(rh.file, ".json"), func(t *testing.T) {
			path := filepath.Join("testdata", rh.file)
			h := loadHistory(t, path)
			sums := eventSummaries(h)
			if got := strings.TrimPrefix(sums[0], "WorkflowExecutionStarted "); got != rh.workflow {
				t.Errorf("%s starts with %q, want a %s", path, sums[0], rh.workflow)
			}
			if got := sums[len(sums)-1]; got != rh.last {
				t.Errorf("%s ends with %q, want %s", path, got, rh.last)
			}
			for sum, n := range rh.want {
				if got := count(sums, sum); got < n {
					t.Errorf("%s has %d %q events, want at least %d: re-recorded without them?", path, got, sum, n)
				}
			}
			if err := replay(path); err != nil {
				t.Errorf("replaying %s: %v", path, err)
			}
		})
	}
}

// Every history in testdata/ replays, also ones recorded for an earlier
// version of a workflow and kept while such runs may still be open.
func TestReplayAllTestdata(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, rh := range recordedHistories {
		if !slices.Contains(paths, filepath.Join("testdata", rh.file)) {
			t.Errorf("testdata/%s is missing; record it with -record (see record_test.go)", rh.file)
		}
	}
	for _, path := range paths {
		if err := replay(path); err != nil {
			t.Errorf("replaying %s: %v", path, err)
		}
	}
}

// replay replays one history file on a replayer holding exactly the
// workflows a worker registers.
func replay(path string) error {
	r := worker.NewWorkflowReplayer()
	RegisterWorkflows(r)
	return r.ReplayWorkflowHistoryFromJSONFile(sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)), path)
}

func loadHistory(t *testing.T, path string) *historypb.History {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (record it with -record, see record_test.go)", err)
	}
	defer f.Close()
	h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
	if err != nil {
		t.Fatalf("parsing %s: %v", path, err)
	}
	if len(h.Events) == 0 {
		t.Fatalf("%s holds no events", path)
	}
	return h
}

// eventSummaries names each event by its type and, where it has one, the
// workflow, activity, signal or update it concerns.
func eventSummaries(h *historypb.History) []string {
	out := make([]string, len(h.Events))
	for i, ev := range h.Events {
		s := ev.GetEventType().String()
		var detail string
		switch {
		case ev.GetWorkflowExecutionStartedEventAttributes() != nil:
			detail = ev.GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()
		case ev.GetActivityTaskScheduledEventAttributes() != nil:
			detail = ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
		case ev.GetWorkflowExecutionSignaledEventAttributes() != nil:
			detail = ev.GetWorkflowExecutionSignaledEventAttributes().GetSignalName()
		case ev.GetWorkflowExecutionUpdateAcceptedEventAttributes() != nil:
			detail = ev.GetWorkflowExecutionUpdateAcceptedEventAttributes().GetAcceptedRequest().GetInput().GetName()
		}
		if detail != "" {
			s += " " + detail
		}
		out[i] = s
	}
	return out
}

func count(sums []string, sum string) int {
	n := 0
	for _, s := range sums {
		if s == sum {
			n++
		}
	}
	return n
}

// describeHistory lists a history's events, one a line, for the recorder's log.
func describeHistory(h *historypb.History) string {
	var b strings.Builder
	for i, s := range eventSummaries(h) {
		fmt.Fprintf(&b, "%3d %s\n", h.Events[i].GetEventId(), s)
	}
	return b.String()
}
