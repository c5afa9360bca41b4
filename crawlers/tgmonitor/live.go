package tgmonitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/gotd/td/telegram"
	"github.com/gotd/td/telegram/updates"
	"github.com/gotd/td/tg"
	"golang.org/x/sync/errgroup"

	"github.com/leakwatch/leakwatch/storage"
)

// defaultLiveCheck is Options.LiveCheck's default.
const defaultLiveCheck = time.Minute

// Live listens to what Telegram pushes to account and calls onNew with the
// channel's id for every new message of a watched channel, until ctx ends
// (then it returns nil) or the session dies (*DeadError; the account is
// marked dead). channels returns the watched, resolved channels (id →
// access hash); it is called at start and on every Options.LiveCheck tick,
// so a channel watched later is reported too.
//
// gotd's updates manager fills gaps with getDifference and
// getChannelDifference, and its state (per user, per channel pts) lives in
// the database: a restarted Live first delivers what was posted while it
// was down. A watched channel without a stored pts is followed from where
// it stands now: older posts are Watch's.
//
// onNew runs on the updates manager's goroutines, once per message: it
// should return quickly, and debouncing bursts is its business. A push is
// only a prompt; Watch, which reads from the saved cursors, records.
func (m *Monitor) Live(ctx context.Context, account string, channels func(ctx context.Context) (map[int64]int64, error),
	onNew func(ctx context.Context, channelID int64)) error {
	if channels == nil || onNew == nil {
		return errors.New("telegram live: channels and onNew are required")
	}
	watched, err := channels(ctx)
	if err != nil {
		return fmt.Errorf("telegram live %s: watched channels: %w", account, err)
	}
	w := &watchSet{ids: watched}
	st := updateStore{st: m.o.Store.TelegramUpdates(), log: m.log(), account: account}

	d := tg.NewUpdateDispatcher()
	d.OnNewChannelMessage(func(ctx context.Context, _ tg.Entities, u *tg.UpdateNewChannelMessage) error {
		// Service messages (pins, title changes) are no posts: Watch skips
		// them too.
		msg, ok := u.Message.(*tg.Message)
		if !ok {
			return nil
		}
		peer, ok := msg.PeerID.(*tg.PeerChannel)
		if !ok || !w.has(peer.ChannelID) {
			return nil
		}
		onNew(ctx, peer.ChannelID)
		return nil
	})
	// The manager's log goes nowhere: the errors that matter come out of
	// Run, and the state store logs its own failures.
	gaps := updates.New(updates.Config{Handler: d, Storage: st, AccessHasher: st})

	every := m.o.LiveCheck
	if every <= 0 {
		every = defaultLiveCheck
	}
	err = m.connectUpdates(ctx, account, false, gaps, func(cctx context.Context, c *telegram.Client) error {
		api := c.API()
		self, err := c.Self(cctx)
		if err != nil {
			return fmt.Errorf("self: %w", err)
		}
		if err := m.seedChannels(cctx, api, st, self.ID, w.snapshot()); err != nil {
			return err
		}
		g, gctx := errgroup.WithContext(cctx)
		g.Go(func() error {
			// Forget stays false: the stored state is the point. When the
			// check loop fails first, its error is the group's.
			err := gaps.Run(gctx, api, self.ID, updates.AuthOptions{})
			if err == nil {
				err = errors.New("stopped")
			}
			return fmt.Errorf("updates manager: %w", err)
		})
		g.Go(func() error { return m.liveCheck(gctx, api, account, channels, w, every) })
		err = g.Wait()
		if ctx.Err() != nil {
			// The spell is over; whatever the goroutines said about it is
			// noise. Returning nil lets connect record the account as fine.
			return nil
		}
		return err
	})
	var dead *DeadError
	var flood *FloodWaitError
	switch {
	case errors.As(err, &dead) || errors.As(err, &flood):
		return err
	case err != nil && ctx.Err() != nil:
		return nil
	case err != nil:
		return fmt.Errorf("telegram live %s: %w", account, err)
	}
	return nil
}

// liveCheck asks Telegram for the updates state every tick: a session
// revoked while idle gets no update and no error otherwise (the manager's
// own idle getDifference only logs its failure), so this is how Live
// learns that it died. It re-reads the watched channels at the same pace.
func (m *Monitor) liveCheck(ctx context.Context, api *tg.Client, account string,
	channels func(ctx context.Context) (map[int64]int64, error), w *watchSet, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if _, err := api.UpdatesGetState(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if _, dead := deadReason(err); dead {
				return fmt.Errorf("check session: %w", err)
			}
			// The client reconnects by itself; the next tick asks again.
			m.log().WarnContext(ctx, "telegram live: session check failed", "account", account, "err", err)
		}
		ids, err := channels(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			m.log().WarnContext(ctx, "telegram live: cannot re-read the watched channels; keeping the old list", "account", account, "err", err)
			continue
		}
		w.set(ids)
	}
}

// seedChannels gives the updates manager the watched channels before it
// starts: their access hashes, and, for a channel it has no pts of yet,
// the channel's current pts. The manager then follows every watched
// channel from start-up, so after a restart it fetches what was posted
// while Live was down, even in a channel that pushed nothing last time.
func (m *Monitor) seedChannels(ctx context.Context, api *tg.Client, st updateStore, self int64, watched map[int64]int64) error {
	for _, id := range slices.Sorted(maps.Keys(watched)) {
		hash := watched[id]
		if err := st.SetChannelAccessHash(ctx, self, id, hash); err != nil {
			return err
		}
		if _, found, err := st.GetChannelPts(ctx, self, id); err != nil {
			return err
		} else if found {
			continue
		}
		res, err := api.MessagesGetHistory(ctx, &tg.MessagesGetHistoryRequest{
			Peer: &tg.InputPeerChannel{ChannelID: id, AccessHash: hash}, Limit: 1})
		if isGone(err) {
			// Watch marks it gone on its next pass; the others still count.
			m.log().WarnContext(ctx, "telegram live: watched channel cannot be read", "channel", id, "err", err)
			continue
		}
		if err != nil {
			return fmt.Errorf("read channel %d pts: %w", id, err)
		}
		cm, ok := res.(*tg.MessagesChannelMessages)
		if !ok || cm.Pts <= 0 {
			// The manager starts following it with its first push.
			m.log().WarnContext(ctx, "telegram live: no pts for a watched channel", "channel", id, "answer", fmt.Sprintf("%T", res))
			continue
		}
		if err := st.SetChannelPts(ctx, self, id, cm.Pts); err != nil {
			return err
		}
	}
	return nil
}

// watchSet is the watched channels, read by the updates handlers while
// the check loop replaces it.
type watchSet struct {
	mu  sync.Mutex
	ids map[int64]int64
}

func (w *watchSet) has(id int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, ok := w.ids[id]
	return ok
}

func (w *watchSet) set(ids map[int64]int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ids = ids
}

func (w *watchSet) snapshot() map[int64]int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.ids)
}

// updateStore adapts the database's update state to gotd's
// updates.StateStorage and updates.ChannelAccessHasher.
//
// Writes do not end with the caller's context: the manager saves the pts
// right after dispatching, often as Live stops, and a lost save means
// prompting again for messages already prompted.
type updateStore struct {
	st      *storage.TelegramUpdateState
	log     *slog.Logger
	account string
}

var (
	_ updates.StateStorage        = updateStore{}
	_ updates.ChannelAccessHasher = updateStore{}
)

// logged logs a failed write: gotd's manager only logs storage errors,
// to a logger Live does not give it.
func (u updateStore) logged(ctx context.Context, err error) error {
	if err != nil {
		u.log.WarnContext(ctx, "telegram live: cannot save the updates state", "account", u.account, "err", err)
	}
	return err
}

func (u updateStore) GetState(ctx context.Context, userID int64) (updates.State, bool, error) {
	s, found, err := u.st.GetState(ctx, userID)
	return updates.State{Pts: s.Pts, Qts: s.Qts, Date: s.Date, Seq: s.Seq}, found, err
}

func (u updateStore) SetState(ctx context.Context, userID int64, s updates.State) error {
	return u.logged(ctx, u.st.SetState(context.WithoutCancel(ctx),
		storage.TelegramUserState{UserID: userID, Pts: s.Pts, Qts: s.Qts, Date: s.Date, Seq: s.Seq}))
}

func (u updateStore) SetPts(ctx context.Context, userID int64, pts int) error {
	return u.logged(ctx, u.st.SetPts(context.WithoutCancel(ctx), userID, pts))
}

func (u updateStore) SetQts(ctx context.Context, userID int64, qts int) error {
	return u.logged(ctx, u.st.SetQts(context.WithoutCancel(ctx), userID, qts))
}

func (u updateStore) SetDate(ctx context.Context, userID int64, date int) error {
	return u.logged(ctx, u.st.SetDate(context.WithoutCancel(ctx), userID, date))
}

func (u updateStore) SetSeq(ctx context.Context, userID int64, seq int) error {
	return u.logged(ctx, u.st.SetSeq(context.WithoutCancel(ctx), userID, seq))
}

func (u updateStore) SetDateSeq(ctx context.Context, userID int64, date, seq int) error {
	return u.logged(ctx, u.st.SetDateSeq(context.WithoutCancel(ctx), userID, date, seq))
}

func (u updateStore) GetChannelPts(ctx context.Context, userID, channelID int64) (int, bool, error) {
	return u.st.GetChannelPts(ctx, userID, channelID)
}

func (u updateStore) SetChannelPts(ctx context.Context, userID, channelID int64, pts int) error {
	return u.logged(ctx, u.st.SetChannelPts(context.WithoutCancel(ctx), userID, channelID, pts))
}

func (u updateStore) ForEachChannels(ctx context.Context, userID int64, f func(ctx context.Context, channelID int64, pts int) error) error {
	return u.st.ForEachChannels(ctx, userID, f)
}

func (u updateStore) SetChannelAccessHash(ctx context.Context, userID, channelID, accessHash int64) error {
	return u.logged(ctx, u.st.SetChannelAccessHash(context.WithoutCancel(ctx), userID, channelID, accessHash))
}

func (u updateStore) GetChannelAccessHash(ctx context.Context, userID, channelID int64) (int64, bool, error) {
	return u.st.GetChannelAccessHash(ctx, userID, channelID)
}
