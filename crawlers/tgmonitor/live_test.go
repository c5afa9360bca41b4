package tgmonitor_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gotd/td/tg"

	"github.com/leakwatch/leakwatch/crawlers/tgmonitor"
	"github.com/leakwatch/leakwatch/internal/testkit/tgsim"
	"github.com/leakwatch/leakwatch/storage"
	"github.com/leakwatch/leakwatch/storage/storagetest"
)

// liveCheck is the session check interval of the live tests: short, so
// that a revoked session shows within a second.
const liveCheck = 200 * time.Millisecond

// prompts counts onNew calls per channel.
type prompts struct {
	mu sync.Mutex
	n  map[int64]int
}

func (p *prompts) onNew(_ context.Context, channelID int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == nil {
		p.n = map[int64]int{}
	}
	p.n[channelID]++
}

func (p *prompts) count(channelID int64) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n[channelID]
}

// live is one running Live.
type live struct {
	cancel context.CancelFunc
	done   chan error
}

// startLive runs Live for the world's account with a fresh Monitor (a new
// process, as far as gotd is concerned: nothing but the database is
// shared), watching the given channels.
func startLive(t *testing.T, w *world, watched map[int64]int64, p *prompts) *live {
	t.Helper()
	o := w.monOpts
	o.LiveCheck = liveCheck
	mon, err := tgmonitor.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	l := &live{cancel: cancel, done: make(chan error, 1)}
	go func() {
		l.done <- mon.Live(ctx, account, func(context.Context) (map[int64]int64, error) { return watched, nil }, p.onNew)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-l.done:
		case <-time.After(10 * time.Second):
			t.Error("Live did not return after its context ended")
		}
	})
	return l
}

// stop ends Live's context and returns what Live returned.
func (l *live) stop(t *testing.T) error {
	t.Helper()
	l.cancel()
	select {
	case err := <-l.done:
		l.done <- err // for the cleanup
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Live did not return after its context ended")
		return nil
	}
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func userID(t *testing.T, w *world) int64 {
	t.Helper()
	acct, err := w.store.TelegramAccount(context.Background(), account)
	if err != nil || acct.UserID == 0 {
		t.Fatalf("account %+v: %v", acct, err)
	}
	return acct.UserID
}

// channelPts is the pts the database holds for a user in a channel (0:
// none).
func channelPts(t *testing.T, w *world, user, channelID int64) int {
	t.Helper()
	pts, _, err := w.store.TelegramUpdates().GetChannelPts(context.Background(), user, channelID)
	if err != nil {
		t.Fatal(err)
	}
	return pts
}

// waitFollowing waits until the live monitor follows the watched channel:
// its pts is seeded in the database and the updates manager has asked for
// the channel's difference (its subscription), so a push from now on
// reaches it either directly or through the difference.
func waitFollowing(t *testing.T, w *world, user int64, diffsBefore int) {
	t.Helper()
	waitFor(t, 20*time.Second, "the live monitor never followed the watched channel", func() bool {
		return channelPts(t, w, user, w.ch.ID) > 0 && w.sim.Calls(tg.UpdatesGetChannelDifferenceRequestTypeID) > diffsBefore
	})
}

// TestLivePushes: a push to a watched channel prompts onNew within
// seconds; a push to a channel nobody watches reaches the updates manager
// but prompts nothing.
func TestLivePushes(t *testing.T) {
	w := newWorld(t)
	w.login(t)
	user := userID(t, w)
	other := w.sim.AddChannel("other_chatter", "Someone else's channel")
	w.sim.Post(other, tgsim.Post{Text: "hello"})

	var p prompts
	diffs := w.sim.Calls(tg.UpdatesGetChannelDifferenceRequestTypeID)
	l := startLive(t, w, map[int64]int64{w.ch.ID: w.ch.AccessHash}, &p)
	waitFollowing(t, w, user, diffs)
	lastID := 0
	for id := range w.posts {
		lastID = max(lastID, id)
	}
	// Seeded with where the channel stands: its history is Watch's, not a
	// burst of prompts.
	if pts := channelPts(t, w, user, w.ch.ID); pts != lastID+1 {
		t.Errorf("seeded pts %d, want the channel's %d", pts, lastID+1)
	}

	otherID := w.sim.Push(other, tgsim.Post{Text: "not watched"})
	start := time.Now()
	pushed := w.sim.Push(w.ch, tgsim.Post{Text: "fresh leak"})
	// Usually milliseconds; up to a second when the push lands while the
	// manager's start-up getDifference still waits on the account's rate
	// limit (2 requests/s after a burst of 5).
	waitFor(t, 5*time.Second, "the push to the watched channel did not prompt onNew", func() bool { return p.count(w.ch.ID) > 0 })
	t.Logf("prompted %s after the push", time.Since(start).Round(time.Millisecond))
	// The unwatched channel's message went through the manager (which
	// saves a channel's pts after dispatching its messages) unprompted.
	waitFor(t, 10*time.Second, "the unwatched channel's push never reached the updates manager", func() bool {
		return channelPts(t, w, user, other.ID) >= otherID+1
	})
	if n := p.count(other.ID); n != 0 {
		t.Errorf("onNew called %d times for a channel nobody watches", n)
	}
	waitFor(t, 10*time.Second, "the watched channel's pts was not saved", func() bool {
		return channelPts(t, w, user, w.ch.ID) >= pushed+1
	})
	if n := p.count(w.ch.ID); n != 1 {
		t.Errorf("onNew called %d times for one push, want 1", n)
	}

	if err := l.stop(t); err != nil {
		t.Errorf("Live after its context ended: %v, want nil", err)
	}
	acct, err := w.store.TelegramAccount(context.Background(), account)
	if err != nil || acct.Status != storage.TelegramOK {
		t.Errorf("account after Live: %s %q, %v; want ok", acct.Status, acct.Detail, err)
	}
}

// TestLiveResumesFromStoredState: what is posted while Live is down —
// pushed to nobody, or posted without a push — prompts onNew when Live
// starts again on the same database, through getChannelDifference from
// the stored pts; what was prompted before is not prompted again.
func TestLiveResumesFromStoredState(t *testing.T) {
	w := newWorld(t)
	w.login(t)
	user := userID(t, w)
	watched := map[int64]int64{w.ch.ID: w.ch.AccessHash}

	var p1 prompts
	diffs := w.sim.Calls(tg.UpdatesGetChannelDifferenceRequestTypeID)
	l := startLive(t, w, watched, &p1)
	waitFollowing(t, w, user, diffs)
	first := w.sim.Push(w.ch, tgsim.Post{Text: "while listening"})
	waitFor(t, 5*time.Second, "the push did not prompt onNew", func() bool { return p1.count(w.ch.ID) == 1 })
	waitFor(t, 5*time.Second, "the pts of the push was not saved", func() bool { return channelPts(t, w, user, w.ch.ID) == first+1 })
	if err := l.stop(t); err != nil {
		t.Fatalf("first Live: %v", err)
	}

	// Down: a push that reaches no session, and a post without a push.
	w.sim.Push(w.ch, tgsim.Post{Text: "pushed while down"})
	last := w.sim.Post(w.ch, tgsim.Post{Text: "posted while down"})
	if pts := channelPts(t, w, user, w.ch.ID); pts != first+1 {
		t.Fatalf("stored pts moved to %d while Live was down", pts)
	}

	var p2 prompts
	l = startLive(t, w, watched, &p2)
	waitFor(t, 10*time.Second, "the messages posted while Live was down did not prompt onNew after the restart", func() bool {
		return p2.count(w.ch.ID) >= 2
	})
	waitFor(t, 5*time.Second, "the restarted Live did not save the channel's pts", func() bool {
		return channelPts(t, w, user, w.ch.ID) == last+1
	})
	if n := p2.count(w.ch.ID); n != 2 {
		t.Errorf("after the restart onNew was called %d times, want 2 (the two missed messages, not the one prompted before)", n)
	}
	if err := l.stop(t); err != nil {
		t.Errorf("second Live: %v", err)
	}
	st, found, err := w.store.TelegramUpdates().GetState(context.Background(), user)
	if err != nil || !found || st.Date == 0 {
		t.Errorf("stored common state %+v found=%v: %v", st, found, err)
	}
}

// TestLiveDeadSession: a session revoked while Live listens (Telegram
// pushes nothing more, and says nothing until asked) ends Live with a
// DeadError within a few session checks, marks the account dead, and
// leaves no client reconnecting; Live on a dead account does not even
// connect.
func TestLiveDeadSession(t *testing.T) {
	w := newWorld(t)
	w.login(t)
	user := userID(t, w)
	watched := map[int64]int64{w.ch.ID: w.ch.AccessHash}

	var p prompts
	diffs := w.sim.Calls(tg.UpdatesGetChannelDifferenceRequestTypeID)
	l := startLive(t, w, watched, &p)
	waitFollowing(t, w, user, diffs)

	w.sim.RevokeSessions(phone)
	revoked := time.Now()
	var err error
	select {
	case err = <-l.done:
		l.done <- err
	case <-time.After(10 * time.Second):
		t.Fatal("Live still runs 10 s after its session was revoked")
	}
	t.Logf("Live returned %s after the revocation: %v", time.Since(revoked).Round(time.Millisecond), err)
	var dead *tgmonitor.DeadError
	if !errors.As(err, &dead) || !tgmonitor.IsPermanent(err) || dead.Account != account {
		t.Fatalf("Live with a revoked session: %v, want a DeadError", err)
	}
	acct, _ := w.store.TelegramAccount(context.Background(), account)
	if acct.Status != storage.TelegramDead || acct.Detail == "" {
		t.Errorf("account %s %q, want dead with a reason", acct.Status, acct.Detail)
	}

	// Nothing keeps calling Telegram: no reconnect, no retry.
	methods := []uint32{tg.UpdatesGetStateRequestTypeID, tg.UsersGetUsersRequestTypeID,
		tg.UpdatesGetDifferenceRequestTypeID, tg.UpdatesGetChannelDifferenceRequestTypeID}
	calls := func() (n int) {
		for _, m := range methods {
			n += w.sim.Calls(m)
		}
		return n
	}
	after := calls()
	time.Sleep(5 * liveCheck)
	if n := calls(); n != after {
		t.Errorf("%d calls to Telegram after Live returned", n-after)
	}
	var p2 prompts
	l2 := startLive(t, w, watched, &p2)
	select {
	case err = <-l2.done:
		l2.done <- err
	case <-time.After(5 * time.Second):
		t.Fatal("Live on a dead account did not return")
	}
	if !errors.As(err, &dead) {
		t.Errorf("Live on a dead account: %v, want a DeadError", err)
	}
	if n := calls(); n != after {
		t.Errorf("Live on a dead account called Telegram %d times", n-after)
	}
}

// TestUpdateStateStorage: the updates manager's state in the database
// keeps gotd's contract — partial updates of a missing user state fail,
// pts and access hash of a channel are written separately and kept, 0
// means unknown — on SQLite and PostgreSQL.
func TestUpdateStateStorage(t *testing.T) {
	for _, tc := range []struct{ name, dsn string }{
		{storage.DialectSQLite, ""},
		{storage.DialectPostgres, "postgres"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn, dir := "", t.TempDir()
			if tc.dsn != "" {
				dsn, dir = storagetest.FreshPostgresDSN(t), ""
			}
			s, err := storage.Open(ctx, dsn, dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			u := s.TelegramUpdates()

			if _, found, err := u.GetState(ctx, 7); err != nil || found {
				t.Fatalf("state before any: found=%v, %v", found, err)
			}
			if err := u.SetPts(ctx, 7, 5); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("SetPts without a state: %v, want ErrNotFound", err)
			}
			if err := u.SetDateSeq(ctx, 7, 1, 1); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("SetDateSeq without a state: %v, want ErrNotFound", err)
			}
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(u.SetState(ctx, storage.TelegramUserState{UserID: 7, Pts: 1, Qts: 2, Date: 3, Seq: 4}))
			must(u.SetState(ctx, storage.TelegramUserState{UserID: 7, Pts: 10, Qts: 20, Date: 30, Seq: 40}))
			must(u.SetState(ctx, storage.TelegramUserState{UserID: 8, Pts: 99}))
			must(u.SetPts(ctx, 7, 11))
			must(u.SetQts(ctx, 7, 21))
			must(u.SetDate(ctx, 7, 31))
			must(u.SetSeq(ctx, 7, 41))
			must(u.SetDateSeq(ctx, 7, 32, 42))
			if st, found, err := u.GetState(ctx, 7); err != nil || !found || st != (storage.TelegramUserState{UserID: 7, Pts: 11, Qts: 21, Date: 32, Seq: 42}) {
				t.Errorf("state %+v found=%v: %v", st, found, err)
			}
			if st, _, _ := u.GetState(ctx, 8); st.Pts != 99 {
				t.Errorf("another user's state %+v", st)
			}

			// A channel known by its access hash only: not followed yet.
			must(u.SetChannelAccessHash(ctx, 7, 100, 555))
			if _, found, err := u.GetChannelPts(ctx, 7, 100); err != nil || found {
				t.Errorf("pts of a channel with only a hash: found=%v, %v", found, err)
			}
			// One known by its pts only: no access hash to use.
			must(u.SetChannelPts(ctx, 7, 200, 3))
			if _, found, err := u.GetChannelAccessHash(ctx, 7, 200); err != nil || found {
				t.Errorf("hash of a channel with only a pts: found=%v, %v", found, err)
			}
			must(u.SetChannelPts(ctx, 7, 100, 12))
			must(u.SetChannelAccessHash(ctx, 7, 200, 666))
			must(u.SetChannelPts(ctx, 7, 100, 13))         // the hash stays
			must(u.SetChannelAccessHash(ctx, 7, 200, 667)) // the pts stays
			must(u.SetChannelPts(ctx, 8, 100, 1000))
			for _, c := range []struct {
				ch   int64
				pts  int
				hash int64
			}{{100, 13, 555}, {200, 3, 667}} {
				pts, ok1, err1 := u.GetChannelPts(ctx, 7, c.ch)
				hash, ok2, err2 := u.GetChannelAccessHash(ctx, 7, c.ch)
				if pts != c.pts || hash != c.hash || !ok1 || !ok2 || err1 != nil || err2 != nil {
					t.Errorf("channel %d: pts %d (%v, %v) hash %d (%v, %v), want %d and %d", c.ch, pts, ok1, err1, hash, ok2, err2, c.pts, c.hash)
				}
			}
			// Only channels with a pts are followed; f may use the store.
			must(u.SetChannelAccessHash(ctx, 7, 300, 777))
			var got []int64
			must(u.ForEachChannels(ctx, 7, func(ctx context.Context, id int64, pts int) error {
				if p, _, err := u.GetChannelPts(ctx, 7, id); err != nil || p != pts {
					t.Errorf("channel %d: ForEachChannels says pts %d, GetChannelPts %d (%v)", id, pts, p, err)
				}
				got = append(got, id)
				return nil
			}))
			if len(got) != 2 || got[0] != 100 || got[1] != 200 {
				t.Errorf("ForEachChannels visited %v, want [100 200]", got)
			}
			stop := errors.New("stop")
			if err := u.ForEachChannels(ctx, 7, func(context.Context, int64, int) error { return stop }); !errors.Is(err, stop) {
				t.Errorf("ForEachChannels did not return f's error: %v", err)
			}
		})
	}
}
