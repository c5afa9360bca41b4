package tgmonitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gotd/td/telegram"
	"github.com/gotd/td/telegram/query/messages"
	"github.com/gotd/td/tg"

	"github.com/leakwatch/leakwatch/crawlers/tgmonitor/tme"
	"github.com/leakwatch/leakwatch/fingerprints"
	"github.com/leakwatch/leakwatch/internal/capture"
	"github.com/leakwatch/leakwatch/internal/evidence"
	"github.com/leakwatch/leakwatch/storage"
)

// Recorder takes what the monitor read: the capture pipeline's run.
type Recorder interface {
	Record(ctx context.Context, it capture.Item) (capture.Result, error)
}

// Request is one pass over one watched channel.
type Request struct {
	Source   storage.Source
	Recorder Recorder
	// Evidence, if not nil, receives every message and file as a WARC
	// record.
	Evidence *evidence.Writer
	// MaxFileBytes caps each download when the source sets none.
	MaxFileBytes int64
}

// Stats is what one pass did.
type Stats struct {
	Messages int   // messages recorded
	Files    int   // files recorded (downloaded, or known by id)
	Skipped  int   // files not downloaded: over the cap or of an unwatched media type
	Failed   int   // files whose download failed
	Bytes    int64 // bytes downloaded
	Backfill bool  // the history walk has reached its depth
}

// Defaults of a watch entry.
const (
	DefaultBackfill     = 1000
	DefaultMaxFileBytes = 512 << 20
	historyBatch        = 100
)

// Watch reads what is new in a source's channel since the last pass, then
// walks its history back toward the entry's backfill depth, and records
// every message and file. The channel's cursors are saved after each
// message, so a pass that dies resumes with no gap and no repeat.
func (m *Monitor) Watch(ctx context.Context, req Request) (Stats, error) {
	src := req.Source
	if src.Kind != storage.SourceTelegram {
		return Stats{}, permanentError{fmt.Errorf("source %s is not a telegram source", src.Name)}
	}
	topts := storage.TelegramOptions{}
	if src.Options.Telegram != nil {
		topts = *src.Options.Telegram
	}
	if topts.Account == "" {
		accts, err := m.o.Store.TelegramAccounts(ctx)
		if err != nil {
			return Stats{}, err
		}
		if len(accts) == 0 {
			return Stats{}, permanentError{errors.New("telegram: no account configured; run `leakwatch telegram login`")}
		}
		topts.Account = accts[0].Name
	}
	ch, _, err := m.o.Store.TelegramChannel(ctx, src.ID)
	if err != nil {
		return Stats{}, err
	}
	if ch.Gone != "" {
		return Stats{}, fmt.Errorf("%w: %s", ErrChannelGone, ch.Gone)
	}
	p := &pass{m: m, req: req, opts: topts, ch: &ch}
	p.maxFile = src.Options.MaxFileBytes
	if p.maxFile <= 0 {
		p.maxFile = req.MaxFileBytes
	}
	if p.maxFile <= 0 {
		p.maxFile = DefaultMaxFileBytes
	}
	err = m.connect(ctx, topts.Account, false, func(ctx context.Context, c *telegram.Client) error {
		p.api = c.API()
		in, err := m.resolve(ctx, p.api, src, p.ch)
		if err != nil {
			return err
		}
		p.peer = &tg.InputPeerChannel{ChannelID: in.ChannelID, AccessHash: in.AccessHash}
		p.input = in
		if err := p.catchUp(ctx); err != nil {
			return err
		}
		return p.backfill(ctx)
	})
	if isGone(err) {
		ch.Gone = err.Error()
		if serr := m.o.Store.SaveTelegramChannel(context.WithoutCancel(ctx), p.ch); serr != nil {
			return p.st, errors.Join(err, serr)
		}
		return p.st, fmt.Errorf("%w: %v", ErrChannelGone, err)
	}
	p.st.Backfill = p.ch.BackfillDone
	return p.st, err
}

// pass is one Watch of one channel.
type pass struct {
	m       *Monitor
	req     Request
	opts    storage.TelegramOptions
	ch      *storage.TelegramChannel
	api     *tg.Client
	peer    *tg.InputPeerChannel
	input   *tg.InputChannel
	maxFile int64
	st      Stats
}

// catchUp records the messages newer than the last pass's newest, oldest
// first. The first pass only notes where the channel stands: everything
// up to there is the history walk's.
func (p *pass) catchUp(ctx context.Context) error {
	if p.ch.TopID == 0 && p.ch.BackfillNext == 0 {
		res, err := p.api.MessagesGetHistory(ctx, &tg.MessagesGetHistoryRequest{Peer: p.peer, Limit: 1})
		if err != nil {
			return fmt.Errorf("read channel top: %w", err)
		}
		top := 0
		if mm, ok := res.(tg.ModifiedMessagesMessages); ok {
			for _, msg := range mm.GetMessages() {
				top = max(top, msg.GetID())
			}
		}
		p.ch.TopID, p.ch.BackfillNext = int64(top), int64(top)+1
		if top == 0 {
			p.ch.BackfillDone = true // an empty channel has no history to walk
		}
		return p.m.o.Store.SaveTelegramChannel(ctx, p.ch)
	}
	var newer []messages.Elem
	it := messages.NewQueryBuilder(p.api).GetHistory(p.peer).BatchSize(historyBatch).Iter()
	for it.Next(ctx) {
		e := it.Value()
		if int64(e.Msg.GetID()) <= p.ch.TopID {
			break
		}
		newer = append(newer, e)
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("read new messages: %w", err)
	}
	slices.Reverse(newer)
	for _, e := range newer {
		if err := p.record(ctx, e.Msg); err != nil {
			return err
		}
		p.ch.TopID = int64(e.Msg.GetID())
		if err := p.m.o.Store.SaveTelegramChannel(ctx, p.ch); err != nil {
			return err
		}
	}
	return nil
}

// backfill walks the history back from where it stopped, newest first,
// until the entry's depth or the channel's first message.
func (p *pass) backfill(ctx context.Context) error {
	if p.ch.BackfillDone {
		return nil
	}
	limit := int64(p.opts.BackfillCount)
	if limit <= 0 {
		limit = DefaultBackfill
	}
	it := messages.NewQueryBuilder(p.api).GetHistory(p.peer).OffsetID(int(p.ch.BackfillNext)).BatchSize(historyBatch).Iter()
	for p.ch.Backfilled < limit {
		if !it.Next(ctx) {
			if err := it.Err(); err != nil {
				return fmt.Errorf("read history: %w", err)
			}
			break // the channel's first message
		}
		msg := it.Value().Msg
		if int64(msg.GetID()) >= p.ch.BackfillNext {
			continue // the iterator's offset is inclusive on some servers
		}
		if s := p.opts.BackfillSince; s != nil {
			if m, ok := msg.(*tg.Message); ok && time.Unix(int64(m.Date), 0).Before(*s) {
				break
			}
		}
		if err := p.record(ctx, msg); err != nil {
			return err
		}
		p.ch.BackfillNext = int64(msg.GetID())
		p.ch.Backfilled++
		if err := p.m.o.Store.SaveTelegramChannel(ctx, p.ch); err != nil {
			return err
		}
	}
	p.ch.BackfillDone = true
	return p.m.o.Store.SaveTelegramChannel(ctx, p.ch)
}

// MessageEvidence is what is kept of a message: its WARC record's payload.
type MessageEvidence struct {
	ChannelID     int64          `json:"channel_id"`
	Username      string         `json:"username,omitempty"`
	Title         string         `json:"title"`
	MessageID     int            `json:"message_id"`
	Link          string         `json:"link"`
	Date          time.Time      `json:"date"`
	EditDate      *time.Time     `json:"edit_date,omitempty"`
	Sender        string         `json:"sender,omitempty"`
	ForwardedFrom string         `json:"forwarded_from,omitempty"`
	Text          string         `json:"text"`
	Media         *MediaEvidence `json:"media,omitempty"`
}

// MediaEvidence describes a message's file.
type MediaEvidence struct {
	Kind   string `json:"kind"`
	ID     int64  `json:"id"`
	Name   string `json:"name,omitempty"`
	MIME   string `json:"mime,omitempty"`
	Size   int64  `json:"size"`
	DC     int    `json:"dc"`
	SHA256 string `json:"sha256,omitempty"` // when downloaded
}

func peerName(p tg.PeerClass) string {
	switch p := p.(type) {
	case *tg.PeerUser:
		return "user " + strconv.FormatInt(p.UserID, 10)
	case *tg.PeerChannel:
		return "channel " + strconv.FormatInt(p.ChannelID, 10)
	case *tg.PeerChat:
		return "chat " + strconv.FormatInt(p.ChatID, 10)
	}
	return ""
}

// record records one message and its file.
func (p *pass) record(ctx context.Context, mc tg.NotEmptyMessage) error {
	msg, ok := mc.(*tg.Message)
	if !ok {
		return nil // a service message (joined, pinned): nothing posted
	}
	link := tme.MessageLink(p.ch.Username, p.ch.ChannelID, msg.ID)
	store := p.m.o.Store
	// A pass that died after recording a message but before saving the
	// cursor past it: recorded once is enough.
	msgDone, err := store.SourceCaptured(ctx, p.req.Source.ID, link, storage.CaptureMessage)
	if err != nil {
		return err
	}
	md, hasMedia := mediumOf(msg)
	furl := ""
	fileDone := false
	if hasMedia {
		furl = link + "#" + md.Kind + "-" + strconv.FormatInt(md.ID, 10)
		if fileDone, err = store.SourceCaptured(ctx, p.req.Source.ID, furl, storage.CaptureFile); err != nil {
			return err
		}
	}
	if msgDone && (!hasMedia || fileDone) {
		return nil
	}
	ev := MessageEvidence{ChannelID: p.ch.ChannelID, Username: p.ch.Username, Title: p.ch.Title, MessageID: msg.ID,
		Link: link, Date: time.Unix(int64(msg.Date), 0).UTC(), Text: msg.Message, Sender: msg.PostAuthor}
	if msg.EditDate != 0 {
		t := time.Unix(int64(msg.EditDate), 0).UTC()
		ev.EditDate = &t
	}
	if from, ok := msg.GetFromID(); ok && ev.Sender == "" {
		ev.Sender = peerName(from)
	}
	if fwd, ok := msg.GetFwdFrom(); ok {
		ev.ForwardedFrom = fwd.FromName
		if ev.ForwardedFrom == "" {
			if from, ok := fwd.GetFromID(); ok {
				ev.ForwardedFrom = peerName(from)
			}
		}
	}
	var data []byte
	var fileErr error
	var known *storage.TelegramMedia
	var fileDigest fingerprints.Digest // of data, when downloaded
	if hasMedia && !fileDone {
		ev.Media = &MediaEvidence{Kind: md.Kind, ID: md.ID, Name: md.Name, MIME: md.MIME, Size: md.Size, DC: md.DC}
		data, known, fileErr = p.fetch(ctx, msg.ID, md)
		if fileErr != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case known != nil:
			ev.Media.SHA256 = known.SHA256
		case data != nil:
			if fileDigest, err = fingerprints.Sum(bytes.NewReader(data), -1); err != nil {
				return err
			}
			ev.Media.SHA256 = fileDigest.SHA256
		}
	}
	now := time.Now().UTC()
	target := tme.Target(p.ch.Username, p.ch.ChannelID)
	if !msgDone {
		// The message: its text is matched and searched for watch terms.
		js, err := json.MarshalIndent(ev, "", "  ")
		if err != nil {
			return err
		}
		item := capture.Item{Kind: storage.CaptureMessage, URL: link, FinalURL: link, Target: target, FetchedAt: now,
			Status: http.StatusOK, ContentType: "application/json", Body: []byte(msg.Message)}
		if item.Digest, err = fingerprints.Sum(bytes.NewReader(js), -1); err != nil {
			return err
		}
		if item.Evidence, err = p.evidence(ctx, link, "application/json", js, now); err != nil {
			return err
		}
		if _, err := p.req.Recorder.Record(ctx, item); err != nil {
			return fmt.Errorf("record %s: %w", link, err)
		}
		p.st.Messages++
		p.ch.Messages++
		p.m.observe(string(storage.CaptureMessage), nil, int64(len(js)))
	}
	if !hasMedia || fileDone {
		return nil
	}
	// The file, as its own capture: matched by its bytes, or by digest
	// when this medium was downloaded before.
	fi := capture.Item{Kind: storage.CaptureFile, URL: furl, FinalURL: furl, Target: target, FetchedAt: now,
		Status: http.StatusOK, ContentType: md.MIME, Err: fileErr}
	switch {
	case known != nil:
		fi.Digest = fingerprints.Digest{SHA256: known.SHA256, Size: known.Size}
	case data != nil:
		fi.Digest, fi.Body = fileDigest, data
		if fi.Evidence, err = p.evidence(ctx, furl, md.MIME, data, now); err != nil {
			return err
		}
	default:
		fi.Status = 0
	}
	res, err := p.req.Recorder.Record(ctx, fi)
	if err != nil {
		return fmt.Errorf("record %s: %w", furl, err)
	}
	if data != nil {
		p.st.Files++
		p.st.Bytes += int64(len(data))
		if err := p.m.o.Store.AddTelegramMedia(ctx, storage.TelegramMedia{MediaID: md.ID, Kind: md.Kind,
			SHA256: fi.Digest.SHA256, Size: fi.Digest.Size, CaptureID: res.CaptureID}); err != nil {
			return err
		}
	} else if known != nil {
		p.st.Files++
	}
	return nil
}

// fetch downloads a message's medium, unless it was downloaded whole
// before (then known is its record), it is over the cap or of a media type
// the entry does not want (an error saying so, and no bytes).
func (p *pass) fetch(ctx context.Context, msgID int, md medium) (data []byte, known *storage.TelegramMedia, err error) {
	if len(p.opts.Media) > 0 && !slices.Contains(p.opts.Media, md.Kind) {
		p.st.Skipped++
		return nil, nil, fmt.Errorf("%s not downloaded: the watch entry takes only %v", md.Kind, p.opts.Media)
	}
	if k, ok, err := p.m.o.Store.TelegramMediaByID(ctx, md.Kind, md.ID); err != nil {
		return nil, nil, err
	} else if ok {
		return nil, &k, nil
	}
	if md.Size > p.maxFile {
		p.st.Skipped++
		return nil, nil, fmt.Errorf("%s of %d bytes not downloaded: over the %d-byte cap", md.Kind, md.Size, p.maxFile)
	}
	data, err = download(ctx, p.api, md, p.maxFile, func(ctx context.Context) (tg.InputFileLocationClass, error) {
		return p.refetch(ctx, msgID, md)
	})
	if err != nil {
		p.st.Failed++
		p.m.log().WarnContext(ctx, "telegram download failed", "source", p.req.Source.Name, "message", msgID, "err", err)
		if ctx.Err() == nil {
			p.m.observe(string(storage.CaptureFile), err, 0)
		}
		return nil, nil, fmt.Errorf("download: %w", err)
	}
	p.m.observe(string(storage.CaptureFile), nil, int64(len(data)))
	return data, nil, nil
}

// refetch reads a message again for a fresh file reference.
func (p *pass) refetch(ctx context.Context, msgID int, md medium) (tg.InputFileLocationClass, error) {
	res, err := p.api.ChannelsGetMessages(ctx, &tg.ChannelsGetMessagesRequest{Channel: p.input, ID: []tg.InputMessageClass{&tg.InputMessageID{ID: msgID}}})
	if err != nil {
		return nil, err
	}
	mm, ok := res.(tg.ModifiedMessagesMessages)
	if !ok {
		return nil, fmt.Errorf("unexpected %T", res)
	}
	for _, mc := range mm.GetMessages() {
		if msg, ok := mc.(*tg.Message); ok && msg.ID == msgID {
			if fresh, ok := mediumOf(msg); ok && fresh.Kind == md.Kind && fresh.ID == md.ID {
				return fresh.Location, nil
			}
		}
	}
	return nil, fmt.Errorf("message %d no longer has the %s", msgID, md.Kind)
}

// evidence writes a payload as a WARC exchange.
func (p *pass) evidence(ctx context.Context, target, mime string, payload []byte, at time.Time) (*evidence.Record, error) {
	if p.req.Evidence == nil {
		return nil, nil
	}
	h := http.Header{}
	h.Set("Content-Type", mime)
	h.Set("Content-Length", strconv.Itoa(len(payload)))
	rec, err := p.req.Evidence.WriteExchange(ctx, evidence.Exchange{Method: http.MethodGet, TargetURI: target,
		StatusCode: http.StatusOK, ResponseHeader: h, Payload: bytes.NewReader(payload), FetchTime: at, Via: "telegram-mtproto"})
	if err != nil {
		return nil, fmt.Errorf("evidence of %s: %w", target, err)
	}
	return &rec, nil
}
