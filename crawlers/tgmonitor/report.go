package tgmonitor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gotd/td/telegram"
	"github.com/gotd/td/tg"

	"github.com/leakwatch/leakwatch/storage"
)

// ReportRequest asks Telegram's moderators, in-app, to act on messages of
// a watched channel (after a lawyer approved the takedown).
type ReportRequest struct {
	Account  string // empty: the source's account, or the first
	SourceID uint64
	Messages []int
	// Prefer lists words of the reason to choose, in order of preference,
	// among the options Telegram offers (they change over time and by
	// language): e.g. "personal", "private", "copyright", "illegal".
	Prefer []string
	// Comment is sent with the report: the injunction's citation.
	Comment string
}

// ReportResult records what was reported: the options chosen, step by step
// (messages.report is a dialogue: choose a reason, maybe a sub-reason, then
// a comment), and when Telegram confirmed it.
type ReportResult struct {
	Steps      []string  `json:"steps"`
	Comment    string    `json:"comment"`
	ReportedAt time.Time `json:"reported_at"`
}

// maxReportSteps bounds the dialogue; Telegram's has two or three steps.
const maxReportSteps = 6

// Report reports messages of a channel through MTProto's messages.report.
func (m *Monitor) Report(ctx context.Context, req ReportRequest) (ReportResult, error) {
	var res ReportResult
	if len(req.Messages) == 0 {
		return res, errors.New("telegram report: no messages")
	}
	ch, account, err := m.channelOf(ctx, req.SourceID, req.Account)
	if err != nil {
		return res, err
	}
	peer := &tg.InputPeerChannel{ChannelID: ch.ChannelID, AccessHash: ch.AccessHash}
	err = m.connect(ctx, account, false, func(ctx context.Context, c *telegram.Client) error {
		var option []byte
		for range maxReportSteps {
			r, err := c.API().MessagesReport(ctx, &tg.MessagesReportRequest{Peer: peer, ID: req.Messages, Option: option, Message: ""})
			if err != nil {
				return fmt.Errorf("messages.report: %w", err)
			}
			switch r := r.(type) {
			case *tg.ReportResultChooseOption:
				if len(r.Options) == 0 {
					return errors.New("messages.report offered no reason to choose")
				}
				pick := choose(r.Options, req.Prefer)
				res.Steps = append(res.Steps, pick.Text)
				option = pick.Option
			case *tg.ReportResultAddComment:
				res.Comment = req.Comment
				r2, err := c.API().MessagesReport(ctx, &tg.MessagesReportRequest{Peer: peer, ID: req.Messages, Option: r.Option, Message: req.Comment})
				if err != nil {
					return fmt.Errorf("messages.report comment: %w", err)
				}
				if _, ok := r2.(*tg.ReportResultReported); !ok {
					return fmt.Errorf("messages.report: after the comment Telegram answered %T, not reported", r2)
				}
				res.ReportedAt = time.Now().UTC()
				return nil
			case *tg.ReportResultReported:
				res.ReportedAt = time.Now().UTC()
				return nil
			default:
				return fmt.Errorf("messages.report: unexpected answer %T", r)
			}
		}
		return fmt.Errorf("messages.report did not finish in %d steps", maxReportSteps)
	})
	return res, err
}

// choose returns the first option whose text holds a preferred word, in
// the order of preference; else Telegram's first option.
func choose(opts []tg.MessageReportOption, prefer []string) tg.MessageReportOption {
	for _, p := range prefer {
		for _, o := range opts {
			if strings.Contains(strings.ToLower(o.Text), strings.ToLower(p)) {
				return o
			}
		}
	}
	return opts[0]
}

// Removal is what a check found of reported messages.
type Removal struct {
	Removed     []int // deleted, or the channel is gone
	Present     []int // still there
	ChannelGone string
}

// CheckRemoved reads messages of a channel again (channels.getMessages): a
// deleted message, or a channel that is gone, counts as removed.
func (m *Monitor) CheckRemoved(ctx context.Context, account string, sourceID uint64, ids []int) (Removal, error) {
	var out Removal
	ch, account, err := m.channelOf(ctx, sourceID, account)
	if err != nil {
		return out, err
	}
	err = m.connect(ctx, account, false, func(ctx context.Context, c *telegram.Client) error {
		in := make([]tg.InputMessageClass, len(ids))
		for i, id := range ids {
			in[i] = &tg.InputMessageID{ID: id}
		}
		r, err := c.API().ChannelsGetMessages(ctx, &tg.ChannelsGetMessagesRequest{
			Channel: &tg.InputChannel{ChannelID: ch.ChannelID, AccessHash: ch.AccessHash}, ID: in})
		if isGone(err) {
			out.ChannelGone = err.Error()
			out.Removed = slices.Clone(ids)
			return nil
		}
		if err != nil {
			return fmt.Errorf("channels.getMessages: %w", err)
		}
		mm, ok := r.(tg.ModifiedMessagesMessages)
		if !ok {
			return fmt.Errorf("channels.getMessages: unexpected %T", r)
		}
		present := map[int]bool{}
		for _, msg := range mm.GetMessages() {
			if _, empty := msg.(*tg.MessageEmpty); !empty {
				present[msg.GetID()] = true
			}
		}
		for _, id := range ids {
			if present[id] {
				out.Present = append(out.Present, id)
			} else {
				out.Removed = append(out.Removed, id)
			}
		}
		return nil
	})
	return out, err
}

// channelOf returns a source's resolved channel and the account to use.
func (m *Monitor) channelOf(ctx context.Context, sourceID uint64, account string) (storage.TelegramChannel, string, error) {
	ch, ok, err := m.o.Store.TelegramChannel(ctx, sourceID)
	if err != nil {
		return ch, "", err
	}
	if !ok || ch.ChannelID == 0 {
		return ch, "", permanentError{fmt.Errorf("telegram: the channel of source %d was never read", sourceID)}
	}
	if account == "" {
		src, err := m.o.Store.SourceByID(ctx, sourceID)
		if err != nil {
			return ch, "", err
		}
		if src.Options.Telegram != nil {
			account = src.Options.Telegram.Account
		}
	}
	if account == "" {
		accts, err := m.o.Store.TelegramAccounts(ctx)
		if err != nil {
			return ch, "", err
		}
		if len(accts) == 0 {
			return ch, "", permanentError{errors.New("telegram: no account")}
		}
		account = accts[0].Name
	}
	return ch, account, nil
}
