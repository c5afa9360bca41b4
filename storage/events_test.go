package storage_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leakwatch/leakwatch/storage"
)

// Changes append their webhook events in the same transaction: opening a
// case, each real state change (not a repeated one), and each TakeHits
// batch that creates items — exactly one event per batch, none for a batch
// that changes nothing.
func TestWebhookEventsWrittenWithChanges(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		src, run := forumRun(t, s)
		ref := storage.Reference{OpaqueID: "r0", Name: "Z1234567 discharge.pdf", SHA256: "01"}
		must(t, s.DB().Create(&ref).Error)
		var hitIDs []uint64
		for _, u := range []string{"http://leaks.example/a", "http://leaks.example/b"} {
			c := storage.Capture{RunID: run.ID, SourceID: src.ID, Kind: storage.CaptureFile, URL: u, Host: "leaks.example",
				FetchedAt: time.Now().UTC(), SHA256: "ab"}
			_, err := s.SaveCapture(ctx, &c)
			must(t, err)
			h := storage.Hit{CaptureID: c.ID, ReferenceID: ref.ID, Method: "sha256", Target: "leaks.example"}
			_, err = s.AddHit(ctx, &h)
			must(t, err)
			hitIDs = append(hitIDs, h.ID)
		}

		cs, err := s.EnsureCase(ctx, "leaks.example", "case-leaks")
		must(t, err)
		_, err = s.EnsureCase(ctx, "leaks.example", "case-leaks") // exists: no event
		must(t, err)
		res, err := s.TakeHits(ctx, cs.ID, hitIDs, false)
		must(t, err)
		_, err = s.TakeHits(ctx, cs.ID, hitIDs, false) // nothing new: no event
		must(t, err)
		must(t, s.SetCaseState(ctx, cs.ID, storage.CaseDrafted, ""))
		must(t, s.SetCaseState(ctx, cs.ID, storage.CaseDrafted, "")) // retried: no event
		must(t, s.SetCaseState(ctx, cs.ID, storage.CaseClosed, ""))

		evs, err := s.WebhookEventsAfter(ctx, 0, 100)
		must(t, err)
		var kinds []string
		for _, e := range evs {
			kinds = append(kinds, e.Kind)
			if e.CaseID != cs.ID {
				t.Errorf("event %d has case %d, want %d", e.ID, e.CaseID, cs.ID)
			}
		}
		want := []string{storage.EventCaseState, storage.EventItemNew, storage.EventCaseState, storage.EventCaseState}
		if !slices.Equal(kinds, want) {
			t.Fatalf("events %v, want %v", kinds, want)
		}
		var items storage.ItemsEvent
		must(t, json.Unmarshal([]byte(evs[1].Payload), &items))
		if !slices.Equal(items.NewItems, res.New) || items.Hits != 2 || items.Target != "leaks.example" || items.CaseID != cs.ID {
			t.Errorf("item.new payload %+v, want items %v, 2 hits", items, res.New)
		}
		for _, e := range evs {
			if slices.ContainsFunc([]string{"Z1234567", "discharge", "http://"}, func(s string) bool { return strings.Contains(e.Payload, s) }) {
				t.Errorf("event %d payload carries a reference name or URL: %s", e.ID, e.Payload)
			}
		}
		var opened, closed storage.CaseStateEvent
		must(t, json.Unmarshal([]byte(evs[0].Payload), &opened))
		must(t, json.Unmarshal([]byte(evs[3].Payload), &closed))
		if opened.From != "" || opened.To != storage.CaseDetected || closed.From != storage.CaseDrafted || closed.To != storage.CaseClosed {
			t.Errorf("state events %+v, %+v", opened, closed)
		}
		last, err := s.LastWebhookEventID(ctx)
		must(t, err)
		if last != evs[3].ID {
			t.Errorf("last event id %d, want %d", last, evs[3].ID)
		}
	})
}

// A failed change leaves no event behind: the event is part of its
// transaction.
func TestWebhookEventRolledBackWithChange(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		if err := s.SetCaseState(ctx, 999, storage.CaseClosed, ""); err == nil {
			t.Fatal("setting the state of a missing case succeeded")
		}
		if evs, err := s.WebhookEventsAfter(ctx, 0, 10); err != nil || len(evs) != 0 {
			t.Fatalf("events after a failed change: %v, %v", evs, err)
		}
	})
}

// Cursors start where they are first created, only move forward, and
// the lease has one holder until it expires or is released.
func TestWebhookCursorsAndLease(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		c, err := s.WebhookCursor(ctx, "siem", 7)
		must(t, err)
		if c.LastEventID != 7 {
			t.Fatalf("new cursor at %d, want 7", c.LastEventID)
		}
		must(t, s.WebhookFailed(ctx, "siem", 2, time.Now().Add(time.Minute), "HTTP 500"))
		must(t, s.AdvanceWebhookCursor(ctx, "siem", 9))
		must(t, s.AdvanceWebhookCursor(ctx, "siem", 8)) // never back
		c, err = s.WebhookCursor(ctx, "siem", 0)
		must(t, err)
		if c.LastEventID != 9 || c.Attempts != 0 || c.NextAttemptAt != nil {
			t.Fatalf("cursor %+v, want at 9 with no retry state", c)
		}

		now := time.Now()
		for _, tc := range []struct {
			holder string
			at     time.Time
			want   bool
		}{
			{"a", now, true},
			{"b", now.Add(10 * time.Second), false},
			{"a", now.Add(20 * time.Second), true}, // renewed until +50s
			{"b", now.Add(40 * time.Second), false},
			{"b", now.Add(51 * time.Second), true}, // a's lease expired
		} {
			got, err := s.AcquireWebhookLease(ctx, tc.holder, tc.at, 30*time.Second)
			must(t, err)
			if got != tc.want {
				t.Fatalf("%s at +%s: got lease %v, want %v", tc.holder, tc.at.Sub(now), got, tc.want)
			}
		}
		must(t, s.ReleaseWebhookLease(ctx, "b"))
		got, err := s.AcquireWebhookLease(ctx, "a", now.Add(52*time.Second), 30*time.Second)
		must(t, err)
		if !got {
			t.Fatal("lease not free after release")
		}
	})
}

// Events appended by concurrent transactions become visible in id order:
// a reader following a cursor while they commit (as the webhook
// dispatcher does) sees every one of them.
func TestWebhookEventsVisibleInOrder(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, s *storage.Store) {
		ctx := t.Context()
		// Under 50 rows a table: more wakes autoanalyze, whose worker the
		// test database's FORCE drop may not end.
		const writers, perWriter = 4, 5
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Go(func() {
				for i := range perWriter {
					c, err := s.EnsureCase(ctx, fmt.Sprintf("w%d-%d.example", w, i), fmt.Sprintf("case-w%d-%d", w, i))
					if err == nil {
						err = s.SetCaseState(ctx, c.ID, storage.CaseDrafted, "")
					}
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		seen := map[uint64]bool{}
		var cursor uint64
		read := func() {
			evs, err := s.WebhookEventsAfter(ctx, cursor, 1000)
			must(t, err)
			for _, e := range evs {
				seen[e.ID] = true
				cursor = e.ID
			}
		}
		for finished := false; !finished; {
			select {
			case <-done:
				finished = true
			default:
			}
			read()
		}
		read()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		all, err := s.WebhookEventsAfter(ctx, 0, 10000)
		must(t, err)
		if len(all) != 2*writers*perWriter {
			t.Fatalf("%d events, want %d", len(all), 2*writers*perWriter)
		}
		for _, e := range all {
			if !seen[e.ID] {
				t.Errorf("event %d was committed behind a later one and skipped by the reader", e.ID)
			}
		}
	})
}
