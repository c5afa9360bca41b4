package tgsim

import (
	"context"
	"sort"
	"time"

	"github.com/gotd/log"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/proto"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

// commonPts is the common (non-channel) pts of every account: nothing here
// advances it.
const commonPts = 1

// pushTarget is one session to push to.
type pushTarget struct {
	ref  sessionRef
	user *user
	key  *keyState
}

// Push is Post followed by an Updates{UpdateNewChannelMessage} (with the
// message's pts, pts_count 1, the channel in chats) sent to the most recent
// session of every authorized auth key on the home DC — members only for
// private channels. A session whose connection is gone is skipped, as on
// Telegram; the client recovers through getDifference/getChannelDifference.
// Push returns the message id once every send has finished.
func (s *Sim) Push(ch Channel, p Post) int {
	s.mu.Lock()
	c, m := s.post(ch, p)
	pts := c.pts
	var targets []pushTarget
	for _, ks := range s.authKeys {
		u := s.users[ks.userID]
		if u == nil || ks.imported || len(ks.sessions) == 0 {
			continue
		}
		if c.username == "" && !u.joined[c.id] {
			continue
		}
		// Newest session first; older ones are fallbacks.
		for i := len(ks.sessions) - 1; i >= 0; i-- {
			ref := ks.sessions[i]
			if ref.srv != s.servers[homeDC] {
				continue
			}
			targets = append(targets, pushTarget{ref: ref, user: u, key: ks})
		}
	}
	// Build one Updates per target now, under the lock: encoding sets flag
	// fields, so TL objects are never shared between sends.
	msgs := make([]*tg.Updates, len(targets))
	for i, t := range targets {
		cl := &call{key: t.key}
		msgs[i] = &tg.Updates{
			Updates: []tg.UpdateClass{&tg.UpdateNewChannelMessage{
				Message: s.tgMessage(c, m), Pts: pts, PtsCount: 1,
			}},
			Chats: []tg.ChatClass{s.tgChannel(cl, c)},
			Date:  now(),
		}
	}
	id := m.id
	s.mu.Unlock()

	ctx := s.runContext()
	sent := map[*keyState]bool{}
	for i, t := range targets {
		if sent[t.key] {
			continue
		}
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := t.ref.srv.Send(sctx, t.ref.sess, proto.MessageFromServer, msgs[i])
		cancel()
		if err != nil {
			s.log.Debug(ctx, "Push to session failed", log.Int64("session_id", t.ref.sess.ID), log.Error(err))
			s.forgetSession(t.key, t.ref)
			continue
		}
		sent[t.key] = true
		s.mu.Lock()
		if t.user.seenPts[c.id] < pts {
			t.user.seenPts[c.id] = pts
		}
		s.mu.Unlock()
	}
	return id
}

func (s *Sim) runContext() context.Context {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.ctx == nil {
		return context.Background()
	}
	return s.ctx
}

func (s *Sim) forgetSession(ks *keyState, ref sessionRef) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, r := range ks.sessions {
		if r == ref {
			ks.sessions = append(ks.sessions[:i], ks.sessions[i+1:]...)
			return
		}
	}
}

func (s *Sim) updatesState() tg.UpdatesState {
	return tg.UpdatesState{Pts: commonPts, Qts: 0, Date: now(), Seq: 0}
}

func (s *Sim) updatesGetState(c *call) (bin.Encoder, error) {
	var r tg.UpdatesGetStateRequest
	if err := decode(c, &r); err != nil {
		return nil, err
	}
	st := s.updatesState()
	return &st, nil
}

// updatesGetDifference has no common updates to return; it reports every
// channel the user joined or polled whose pts moved past what the user's
// sessions were given, as updateChannelTooLong, so that the client fetches
// the channel difference.
func (s *Sim) updatesGetDifference(c *call) (bin.Encoder, error) {
	var r tg.UpdatesGetDifferenceRequest
	if err := decode(c, &r); err != nil {
		return nil, err
	}
	u := s.currentUser(c)
	var ids []int64
	for id, seen := range u.seenPts {
		ch := s.channels[id]
		if ch == nil || ch.deleted || ch.pts <= seen {
			continue
		}
		if ch.username == "" && !u.joined[id] {
			continue
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return &tg.UpdatesDifferenceEmpty{Date: now(), Seq: 0}, nil
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	out := &tg.UpdatesDifference{State: s.updatesState()}
	for _, id := range ids {
		ch := s.channels[id]
		tl := &tg.UpdateChannelTooLong{ChannelID: id}
		tl.SetPts(ch.pts)
		out.OtherUpdates = append(out.OtherUpdates, tl)
		out.Chats = append(out.Chats, s.tgChannel(c, ch))
	}
	return out, nil
}

// updatesGetChannelDifference returns the channel's events after the
// client's pts: new messages (in their current state) in new_messages,
// edits and deletions in other_updates, at most limit (default and maximum
// 100) pts steps per answer, final when it reaches the channel's pts.
func (s *Sim) updatesGetChannelDifference(c *call) (bin.Encoder, error) {
	var r tg.UpdatesGetChannelDifferenceRequest
	if err := decode(c, &r); err != nil {
		return nil, err
	}
	ch, err := s.inputChannel(c, r.Channel)
	if err != nil {
		return nil, err
	}
	if r.Pts > ch.pts {
		return nil, tgerr.New(400, "PERSISTENT_TIMESTAMP_INVALID")
	}
	u := s.currentUser(c)
	if r.Pts == ch.pts {
		if u.seenPts[ch.id] < ch.pts {
			u.seenPts[ch.id] = ch.pts
		}
		return &tg.UpdatesChannelDifferenceEmpty{Final: true, Pts: ch.pts}, nil
	}
	limit := r.Limit
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	i := sort.Search(len(ch.events), func(i int) bool { return ch.events[i].pts > r.Pts })
	out := &tg.UpdatesChannelDifference{
		Pts:   r.Pts,
		Chats: []tg.ChatClass{s.tgChannel(c, ch)},
	}
	steps := 0
	for ; i < len(ch.events) && steps < limit; i++ {
		ev := ch.events[i]
		steps += ev.count
		out.Pts = ev.pts
		switch ev.kind {
		case evNew:
			m := ch.msgs[ev.ids[0]-1]
			if !m.deleted {
				out.NewMessages = append(out.NewMessages, s.tgMessage(ch, m))
			}
		case evEdit:
			m := ch.msgs[ev.ids[0]-1]
			if !m.deleted {
				out.OtherUpdates = append(out.OtherUpdates, &tg.UpdateEditChannelMessage{
					Message: s.tgMessage(ch, m), Pts: ev.pts, PtsCount: ev.count,
				})
			}
		case evDelete:
			out.OtherUpdates = append(out.OtherUpdates, &tg.UpdateDeleteChannelMessages{
				ChannelID: ch.id, Messages: append([]int(nil), ev.ids...), Pts: ev.pts, PtsCount: ev.count,
			})
		}
	}
	out.Final = out.Pts == ch.pts
	if u.seenPts[ch.id] < out.Pts {
		u.seenPts[ch.id] = out.Pts
	}
	return out, nil
}
