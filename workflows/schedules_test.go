package workflows

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/leakwatch/leakwatch/internal/temporalproc/temporaltest"
	"github.com/leakwatch/leakwatch/storage"
)

// Sources and their Temporal schedules stay in step against a real
// server: one schedule per scheduled source, paused while the source is
// paused and unpaused on resume, its interval following the source's,
// deleted when the source becomes manual-only or is removed.
func TestSyncSchedules(t *testing.T) {
	ctx := context.Background()
	c, store := serverAndStore(t)
	log := temporaltest.Logger(t)
	add := func(name string, every time.Duration, enabled bool) storage.Source {
		src := storage.Source{Name: name, Kind: storage.SourceForum, URL: "http://127.0.0.1:1/" + name,
			EverySecs: int64(every / time.Second), Enabled: enabled}
		if err := store.CreateSource(ctx, &src); err != nil {
			t.Fatal(err)
		}
		return src
	}
	sync := func() {
		t.Helper()
		if err := SyncSchedules(ctx, c, store, "schedules-test", log); err != nil {
			t.Fatal(err)
		}
	}
	// state is the schedule's interval and pause, or ok false when there
	// is none.
	state := func(src storage.Source) (every time.Duration, paused, ok bool) {
		t.Helper()
		d, err := c.ScheduleClient().GetHandle(ctx, ScheduleID(src.ID)).Describe(ctx)
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return 0, false, false
		}
		if err != nil {
			t.Fatal(err)
		}
		if d.Schedule.Spec != nil && len(d.Schedule.Spec.Intervals) == 1 {
			every = d.Schedule.Spec.Intervals[0].Every
		}
		return every, d.Schedule.State != nil && d.Schedule.State.Paused, true
	}
	want := func(step string, src storage.Source, every time.Duration, paused, exists bool) {
		t.Helper()
		// A schedule applies changes asynchronously: what Describe shows
		// may lag the request by a moment.
		var e time.Duration
		var p, ok bool
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			e, p, ok = state(src)
			if (ok == exists && (!ok || (e == every && p == paused))) || time.Now().After(deadline) {
				break
			}
		}
		if ok != exists || (ok && (e != every || p != paused)) {
			t.Errorf("%s: %s's schedule: exists %v, every %s, paused %v; want exists %v, every %s, paused %v",
				step, src.Name, ok, e, p, exists, every, paused)
		}
	}

	live := add("live", time.Hour, true)
	held := add("held", time.Hour, false)
	manual := add("manual", 0, true)
	sync()
	want("first sync", live, time.Hour, false, true)
	want("first sync", held, time.Hour, true, true)
	want("first sync", manual, 0, false, false)

	// Pause one, resume the other, change an interval, schedule the manual one.
	live.Enabled, live.EverySecs = false, int64((2 * time.Hour).Seconds())
	held.Enabled = true
	manual.EverySecs = int64((30 * time.Minute).Seconds())
	for _, s := range []*storage.Source{&live, &held, &manual} {
		if err := store.UpdateSource(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	sync()
	want("after edits", live, 2*time.Hour, true, true)
	want("after edits", held, time.Hour, false, true)
	want("after edits", manual, 30*time.Minute, false, true)
	sync() // a sync with nothing to change changes nothing
	want("second sync", live, 2*time.Hour, true, true)

	// Manual-only again: its schedule goes. Removed: its schedule goes
	// (the listing it is found by is eventually consistent).
	manual.EverySecs = 0
	if err := store.UpdateSource(ctx, &manual); err != nil {
		t.Fatal(err)
	}
	if err := store.DeleteSource(ctx, held.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		sync()
		_, _, heldLeft := state(held)
		if !heldLeft || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	want("after removal", manual, 0, false, false)
	want("after removal", held, 0, false, false)
	want("after removal", live, 2*time.Hour, true, true)
}

// serverAndStore starts the Temporal server, dials it, and opens a new
// database; it skips the test under -short.
func serverAndStore(t *testing.T) (client.Client, *storage.Store) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the Temporal server")
	}
	c := temporaltest.Dial(t, temporaltest.Start(t))
	store, err := storage.Open(context.Background(), "", filepath.Join(t.TempDir(), "db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return c, store
}
