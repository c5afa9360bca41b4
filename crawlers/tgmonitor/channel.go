package tgmonitor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"

	"github.com/leakwatch/leakwatch/crawlers/tgmonitor/tme"
	"github.com/leakwatch/leakwatch/storage"
)

// ErrChannelGone means the channel cannot be read any more: deleted,
// made private, or the account was removed from it.
var ErrChannelGone = errors.New("telegram channel gone")

// permanentError is an error retrying cannot fix (a username nobody holds,
// an invite the entry may not join).
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// IsPermanent reports whether err is one that retrying the run at once
// cannot fix: a dead or logged-out account, a channel gone, a bad channel
// name, or a flood wait longer than a run waits (the next scheduled run
// tries again).
func IsPermanent(err error) bool {
	var p permanentError
	var d *DeadError
	var f *FloodWaitError
	return errors.As(err, &p) || errors.As(err, &d) || errors.As(err, &f) || errors.Is(err, ErrChannelGone) || errors.Is(err, ErrNotLoggedIn)
}

// goneReasons are the errors that mean the channel is no longer readable.
var goneReasons = []string{"CHANNEL_PRIVATE", "CHANNEL_INVALID", "CHANNEL_PUBLIC_GROUP_NA", "CHAT_FORBIDDEN", "USER_BANNED_IN_CHANNEL"}

func isGone(err error) bool {
	e, ok := tgerr.As(err)
	return ok && e.IsOneOf(goneReasons...)
}

// resolve finds the channel of a source, once: its id and access hash are
// kept, because resolveUsername is rate limited for hours at a time.
func (m *Monitor) resolve(ctx context.Context, api *tg.Client, src storage.Source, ch *storage.TelegramChannel) (*tg.InputChannel, error) {
	if ch.ChannelID != 0 {
		return &tg.InputChannel{ChannelID: ch.ChannelID, AccessHash: ch.AccessHash}, nil
	}
	ref, err := tme.ParseChannel(src.URL)
	if err != nil {
		return nil, permanentError{err}
	}
	join := src.Options.Telegram != nil && src.Options.Telegram.Join
	var c *tg.Channel
	switch {
	case ref.Username != "":
		res, err := api.ContactsResolveUsername(ctx, &tg.ContactsResolveUsernameRequest{Username: ref.Username})
		if tgerr.Is(err, "USERNAME_NOT_OCCUPIED", "USERNAME_INVALID") {
			return nil, permanentError{fmt.Errorf("telegram: nobody holds the username @%s", ref.Username)}
		}
		if err != nil {
			return nil, fmt.Errorf("resolve @%s: %w", ref.Username, err)
		}
		c = findChannel(res.Chats, 0)
		if c == nil {
			return nil, permanentError{fmt.Errorf("telegram: @%s is not a channel or group", ref.Username)}
		}
		if c.Left && join {
			if _, err := api.ChannelsJoinChannel(ctx, c.AsInput()); err != nil {
				return nil, fmt.Errorf("join @%s: %w", ref.Username, err)
			}
		}
	default:
		inv, err := api.MessagesCheckChatInvite(ctx, ref.Invite)
		if tgerr.Is(err, "INVITE_HASH_EXPIRED", "INVITE_HASH_INVALID") {
			return nil, permanentError{fmt.Errorf("telegram: the invite link %s is expired or invalid", ref)}
		}
		if err != nil {
			return nil, fmt.Errorf("check invite: %w", err)
		}
		switch inv := inv.(type) {
		case *tg.ChatInviteAlready:
			c, _ = inv.Chat.(*tg.Channel)
		case *tg.ChatInvitePeek:
			c, _ = inv.Chat.(*tg.Channel)
		}
		if c == nil {
			if !join {
				return nil, permanentError{fmt.Errorf("telegram: reading %s needs joining it, and its watch entry does not allow joining", ref)}
			}
			upd, err := api.MessagesImportChatInvite(ctx, ref.Invite)
			if err != nil && !tgerr.Is(err, "USER_ALREADY_PARTICIPANT") {
				return nil, fmt.Errorf("join by invite: %w", err)
			}
			if ok, isOK := upd.(*tg.MessagesChatInviteJoinResultOk); isOK {
				if u, has := ok.Updates.(interface{ GetChats() []tg.ChatClass }); has {
					c = findChannel(u.GetChats(), 0)
				}
			}
			if c == nil {
				return nil, fmt.Errorf("join by invite: Telegram's answer names no channel")
			}
		}
	}
	now := time.Now().UTC()
	ch.ChannelID, ch.AccessHash, ch.Username, ch.Title, ch.ResolvedAt = c.ID, c.AccessHash, c.Username, c.Title, &now
	if err := m.o.Store.SaveTelegramChannel(ctx, ch); err != nil {
		return nil, err
	}
	m.log().InfoContext(ctx, "telegram channel resolved", "source", src.Name, "channel", c.ID)
	return c.AsInput(), nil
}

// findChannel returns the channel with id (any channel when id is 0).
func findChannel(chats []tg.ChatClass, id int64) *tg.Channel {
	for _, cc := range chats {
		if c, ok := cc.(*tg.Channel); ok && (id == 0 || c.ID == id) {
			return c
		}
	}
	return nil
}
