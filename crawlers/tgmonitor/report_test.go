package tgmonitor_test

import (
	"context"
	"slices"
	"testing"

	"github.com/leakwatch/leakwatch/crawlers/tgmonitor"
)

// TestReportAndCheckRemoved: after approval a channel's infringing
// messages are reported in-app (the multi-step messages.report, recorded by
// the server), and a later check tells deleted messages, and a deleted
// channel, from those still up.
func TestReportAndCheckRemoved(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.login(t)
	if _, _, err := w.pass(t, nil); err != nil {
		t.Fatal(err)
	}
	var refMsgs []int
	for id, what := range w.posts {
		if _, ok := w.refs[what]; ok {
			refMsgs = append(refMsgs, id)
		}
	}
	slices.Sort(refMsgs)
	const comment = "Posted in breach of the High Court's orders in CIV-2026-404-000123; please remove."
	res, err := w.mon.Report(ctx, tgmonitor.ReportRequest{SourceID: w.src.ID, Messages: refMsgs,
		Prefer: []string{"personal", "copyright"}, Comment: comment})
	if err != nil {
		t.Fatal(err)
	}
	if res.ReportedAt.IsZero() || len(res.Steps) == 0 || res.Steps[0] != "Personal data" {
		t.Errorf("report result %+v, want the personal-data reason and a time", res)
	}
	reps := w.sim.Reports()
	if len(reps) != 1 || reps[0].Channel != w.ch.ID || !slices.Equal(reps[0].MsgIDs, refMsgs) ||
		reps[0].Comment != comment || reps[0].Option == "" {
		t.Fatalf("server recorded %+v, want one report of %v with the comment", reps, refMsgs)
	}

	// One message taken down, the rest still up.
	w.sim.Delete(w.ch, refMsgs[0])
	rm, err := w.mon.CheckRemoved(ctx, "", w.src.ID, refMsgs)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rm.Removed, refMsgs[:1]) || !slices.Equal(rm.Present, refMsgs[1:]) || rm.ChannelGone != "" {
		t.Errorf("after one deletion: %+v", rm)
	}
	// The whole channel gone: everything counts as removed.
	w.sim.DeleteChannel(w.ch)
	rm, err = w.mon.CheckRemoved(ctx, "", w.src.ID, refMsgs)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rm.Removed, refMsgs) || len(rm.Present) != 0 || rm.ChannelGone == "" {
		t.Errorf("after the channel was deleted: %+v", rm)
	}
}
