package workflows

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/internal/temporalproc/temporaltest"
	"github.com/leakwatch/leakwatch/storage"
)

// Sources reads next runs from real schedules and starts crawls through
// them (or, for a manual-only source, as a workflow of its own).
func TestSourcesNextRunAndRunNow(t *testing.T) {
	ctx := context.Background()
	c, store := serverAndStore(t)
	svc := &Sources{Client: c, Store: store, TaskQueue: "sources-test", Logger: temporaltest.Logger(t)}
	add := func(name string, every time.Duration, enabled bool) storage.Source {
		src := storage.Source{Name: name, Kind: storage.SourceForum, URL: "http://127.0.0.1:1/" + name,
			EverySecs: int64(every / time.Second), Enabled: enabled}
		if err := store.CreateSource(ctx, &src); err != nil {
			t.Fatal(err)
		}
		return src
	}
	live := add("live", time.Hour, true)
	held := add("held", time.Hour, false)
	manual := add("manual", 0, true)
	if err := svc.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	before := time.Now()
	next, ok, err := svc.NextRun(ctx, live.ID)
	if err != nil || !ok || !next.After(before) || next.After(before.Add(time.Hour+time.Minute)) {
		t.Errorf("next run of an hourly source: %v, %v, %v", next, ok, err)
	}
	if _, ok, err := svc.NextRun(ctx, held.ID); err != nil || ok {
		t.Errorf("a paused source has a next run: %v, %v", ok, err)
	}
	if _, ok, err := svc.NextRun(ctx, manual.ID); err != nil || ok {
		t.Errorf("a manual-only source has a next run: %v, %v", ok, err)
	}

	// A manual-only source runs as a workflow of its own; asking twice
	// joins the running one.
	for range 2 {
		if err := svc.RunNow(ctx, manual.ID); err != nil {
			t.Fatal(err)
		}
	}
	d, err := c.DescribeWorkflowExecution(ctx, "crawl-manual-"+strconv.FormatUint(manual.ID, 10), "")
	if err != nil {
		t.Fatalf("the manual crawl was not started: %v", err)
	}
	if got := d.WorkflowExecutionInfo.Type.GetName(); got != CrawlSourceName {
		t.Errorf("started workflow type %q", got)
	}

	// A scheduled (here paused) source runs through its schedule.
	if err := svc.RunNow(ctx, held.ID); err != nil {
		t.Fatal(err)
	}
	h := c.ScheduleClient().GetHandle(ctx, ScheduleID(held.ID))
	var actions int
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		desc, err := h.Describe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		actions = desc.Info.NumActions
		if actions > 0 || time.Now().After(deadline) {
			break
		}
	}
	if actions != 1 {
		t.Errorf("the schedule took %d actions after run now; want 1", actions)
	}
}
