package tgsim

import (
	"bytes"
	"fmt"
	"image"
	_ "image/gif"  // photo dimensions
	_ "image/jpeg" // photo dimensions
	_ "image/png"  // photo dimensions
	"mime"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

// File is a post's attachment. Photo sends it as a photo (one size, the
// largest, whose bytes are Data); otherwise it is a document carrying a
// DocumentAttributeFilename.
type File struct {
	Name, MIME string
	Data       []byte
	Photo      bool
}

// Post is a channel message to publish.
type Post struct {
	Text          string
	File          *File
	ForwardedFrom string    // optional: title of the channel it was forwarded from
	Date          time.Time // zero: now
}

// Channel identifies a simulated broadcast channel.
type Channel struct {
	ID, AccessHash  int64
	Username, Title string
}

type eventKind int

const (
	evNew eventKind = iota
	evEdit
	evDelete
)

// event is one pts step (or several, for deletions) of a channel.
type event struct {
	pts, count int
	kind       eventKind
	ids        []int
}

type channel struct {
	id, accessHash int64
	username       string // "" for private channels
	title          string
	invite         string // invite hash of private channels
	date           int
	deleted        bool
	msgs           []*message // msgs[i].id == i+1
	pts            int
	events         []event
}

type message struct {
	id, date, editDate int
	text               string
	fwdFrom            string
	file               *file
	deleted            bool
}

type file struct {
	id, accessHash int64
	photo          bool
	name, mime     string
	data           []byte
	w, h           int
	date           int
	ref            []byte
	oldRefs        [][]byte
	expireArmed    bool
	channel        *channel
	msgID          int
}

func (s *Sim) addChannel(username, title, invite string) Channel {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch := &channel{
		id:         1000000000 + s.newID(),
		accessHash: randInt64(),
		username:   username,
		title:      title,
		invite:     invite,
		date:       now(),
		pts:        1,
	}
	s.channels[ch.id] = ch
	if username != "" {
		if _, dup := s.byUsername[strings.ToLower(username)]; dup {
			panic(fmt.Sprintf("tgsim: username @%s is taken", username))
		}
		s.byUsername[strings.ToLower(username)] = ch
	}
	if invite != "" {
		s.byInvite[invite] = ch
	}
	return Channel{ID: ch.id, AccessHash: ch.accessHash, Username: username, Title: title}
}

// AddChannel creates a public broadcast channel resolvable by @username
// (case-insensitive, without the @).
func (s *Sim) AddChannel(username, title string) Channel {
	username = strings.TrimPrefix(username, "@")
	if username == "" {
		panic("tgsim: AddChannel needs a username")
	}
	return s.addChannel(username, title, "")
}

// AddPrivateChannel creates a private broadcast channel joinable through the
// invite link t.me/+<inviteHash>; an empty inviteHash gets a random one,
// readable from InviteHash. Non-members get CHANNEL_PRIVATE.
func (s *Sim) AddPrivateChannel(title, inviteHash string) Channel {
	if inviteHash == "" {
		inviteHash = fmt.Sprintf("%x", randBytes(12))
	}
	return s.addChannel("", title, inviteHash)
}

// InviteHash returns the invite hash of a private channel ("" for public
// ones).
func (s *Sim) InviteHash(ch Channel) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mustChannel(ch).invite
}

func (s *Sim) mustChannel(ch Channel) *channel {
	c, ok := s.channels[ch.ID]
	if !ok {
		panic(fmt.Sprintf("tgsim: unknown channel %d", ch.ID))
	}
	return c
}

func (s *Sim) mustMessage(ch Channel, id int) (*channel, *message) {
	c := s.mustChannel(ch)
	if id < 1 || id > len(c.msgs) {
		panic(fmt.Sprintf("tgsim: channel %d has no message %d", ch.ID, id))
	}
	return c, c.msgs[id-1]
}

// Post appends a message to the channel (ids 1, 2, 3… per channel) and
// returns its id. It advances the channel's pts, so
// updates.getChannelDifference returns it, but pushes nothing.
func (s *Sim) Post(ch Channel, p Post) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, m := s.post(ch, p)
	return m.id
}

func (s *Sim) post(ch Channel, p Post) (*channel, *message) {
	c := s.mustChannel(ch)
	date := now()
	if !p.Date.IsZero() {
		date = int(p.Date.Unix())
	}
	m := &message{id: len(c.msgs) + 1, date: date, text: p.Text, fwdFrom: p.ForwardedFrom}
	if p.File != nil {
		m.file = s.newFile(c, m, *p.File, date)
	}
	c.msgs = append(c.msgs, m)
	c.pts++
	c.events = append(c.events, event{pts: c.pts, count: 1, kind: evNew, ids: []int{m.id}})
	return c, m
}

func (s *Sim) newFile(c *channel, m *message, in File, date int) *file {
	f := &file{
		id:         5000000000 + s.newID(),
		accessHash: randInt64(),
		photo:      in.Photo,
		name:       in.Name,
		mime:       in.MIME,
		data:       append([]byte(nil), in.Data...),
		date:       date,
		ref:        randBytes(16),
		channel:    c,
		msgID:      m.id,
	}
	if f.mime == "" {
		f.mime = mime.TypeByExtension(strings.ToLower(path.Ext(in.Name)))
		if i := strings.IndexByte(f.mime, ';'); i >= 0 {
			f.mime = f.mime[:i]
		}
	}
	if f.photo {
		if f.mime == "" {
			f.mime = "image/jpeg"
		}
		f.w, f.h = 1280, 960
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(f.data)); err == nil {
			f.w, f.h = cfg.Width, cfg.Height
		}
	}
	if f.mime == "" {
		f.mime = "application/octet-stream"
	}
	if f.name == "" && !f.photo {
		f.name = fmt.Sprintf("file_%d", f.id)
	}
	s.files[f.id] = f
	return f
}

// Edit replaces a message's text and sets its edit_date (one pts step, no
// push).
func (s *Sim) Edit(ch Channel, id int, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, m := s.mustMessage(ch, id)
	if m.deleted {
		return
	}
	m.text = text
	m.editDate = now()
	if m.editDate <= m.date {
		m.editDate = m.date + 1
	}
	c.pts++
	c.events = append(c.events, event{pts: c.pts, count: 1, kind: evEdit, ids: []int{id}})
}

// Delete deletes messages: channels.getMessages answers messageEmpty for
// them, getHistory omits them, their files stop downloading.
func (s *Sim) Delete(ch Channel, ids ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.mustChannel(ch)
	var done []int
	for _, id := range ids {
		if id < 1 || id > len(c.msgs) || c.msgs[id-1].deleted {
			continue
		}
		c.msgs[id-1].deleted = true
		done = append(done, id)
	}
	if len(done) == 0 {
		return
	}
	c.pts += len(done)
	c.events = append(c.events, event{pts: c.pts, count: len(done), kind: evDelete, ids: done})
}

// DeleteChannel makes the channel disappear: contacts.resolveUsername
// answers 400 CHANNEL_INVALID, every call addressing it by id and access hash
// answers 400 CHANNEL_PRIVATE, and its files stop downloading.
func (s *Sim) DeleteChannel(ch Channel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mustChannel(ch).deleted = true
}

// ExpireFileReferenceOnce arms the file of message msgID: the next
// upload.getFile for it at an offset > 0 (or any offset, when the requested
// part covers the whole file) answers 400 FILE_REFERENCE_EXPIRED, so a
// multi-part download gets its first part and fails later. At that moment
// the file reference changes: the old one keeps failing, and
// channels.getMessages / messages.getHistory return the new one.
func (s *Sim) ExpireFileReferenceOnce(ch Channel, msgID int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, m := s.mustMessage(ch, msgID)
	if m.file == nil {
		panic(fmt.Sprintf("tgsim: message %d of channel %d has no file", msgID, ch.ID))
	}
	m.file.expireArmed = true
}

// --- TL views -----------------------------------------------------------

func (s *Sim) isMember(c *call, ch *channel) bool {
	u := s.users[c.key.userID]
	return u != nil && u.joined[ch.id]
}

// tgChannel is the channel as the calling user sees it.
func (s *Sim) tgChannel(c *call, ch *channel) *tg.Channel {
	out := &tg.Channel{
		Broadcast:         true,
		Left:              !s.isMember(c, ch),
		ID:                ch.id,
		AccessHash:        ch.accessHash,
		Title:             ch.title,
		Username:          ch.username,
		Photo:             &tg.ChatPhotoEmpty{},
		Date:              ch.date,
		ParticipantsCount: s.participants(ch),
	}
	return out
}

func (s *Sim) participants(ch *channel) int {
	n := 1 // the owner
	for _, u := range s.users {
		if u.joined[ch.id] {
			n++
		}
	}
	return n
}

func (s *Sim) tgMessage(ch *channel, m *message) tg.MessageClass {
	peer := &tg.PeerChannel{ChannelID: ch.id}
	if m.deleted {
		return &tg.MessageEmpty{ID: m.id, PeerID: peer}
	}
	out := &tg.Message{
		Post:     true,
		ID:       m.id,
		PeerID:   peer,
		Date:     m.date,
		Message:  m.text,
		EditDate: m.editDate,
		Views:    1,
	}
	if m.fwdFrom != "" {
		out.FwdFrom = tg.MessageFwdHeader{FromName: m.fwdFrom, Date: m.date}
	}
	if f := m.file; f != nil {
		out.Media = s.tgMedia(f)
	}
	return out
}

func (s *Sim) tgMedia(f *file) tg.MessageMediaClass {
	if f.photo {
		return &tg.MessageMediaPhoto{Photo: &tg.Photo{
			ID:            f.id,
			AccessHash:    f.accessHash,
			FileReference: append([]byte(nil), f.ref...),
			Date:          f.date,
			Sizes: []tg.PhotoSizeClass{&tg.PhotoSize{
				Type: photoSizeType(f), W: f.w, H: f.h, Size: len(f.data),
			}},
			DCID: s.opts.FileDC,
		}}
	}
	return &tg.MessageMediaDocument{Document: &tg.Document{
		ID:            f.id,
		AccessHash:    f.accessHash,
		FileReference: append([]byte(nil), f.ref...),
		Date:          f.date,
		MimeType:      f.mime,
		Size:          int64(len(f.data)),
		DCID:          s.opts.FileDC,
		Attributes:    []tg.DocumentAttributeClass{&tg.DocumentAttributeFilename{FileName: f.name}},
	}}
}

// photoSizeType is "y" (up to 1280 px) or "w" (larger), Telegram's largest
// size letters.
func photoSizeType(f *file) string {
	if f.w > 1280 || f.h > 1280 {
		return "w"
	}
	return "y"
}

// --- Channel access -----------------------------------------------------

// channelByID resolves a channel id and access hash for the caller.
func (s *Sim) channelByID(c *call, id, hash int64) (*channel, error) {
	ch, ok := s.channels[id]
	if !ok || ch.accessHash != hash {
		return nil, tgerr.New(400, "CHANNEL_INVALID")
	}
	if ch.deleted {
		return nil, tgerr.New(400, "CHANNEL_PRIVATE")
	}
	if ch.username == "" && !s.isMember(c, ch) {
		return nil, tgerr.New(400, "CHANNEL_PRIVATE")
	}
	return ch, nil
}

func (s *Sim) inputChannel(c *call, in tg.InputChannelClass) (*channel, error) {
	ic, ok := in.(*tg.InputChannel)
	if !ok {
		return nil, tgerr.New(400, "CHANNEL_INVALID")
	}
	return s.channelByID(c, ic.ChannelID, ic.AccessHash)
}

func (s *Sim) inputPeerChannel(c *call, in tg.InputPeerClass) (*channel, error) {
	ip, ok := in.(*tg.InputPeerChannel)
	if !ok {
		return nil, tgerr.New(400, "PEER_ID_INVALID")
	}
	return s.channelByID(c, ip.ChannelID, ip.AccessHash)
}

// --- Handlers -----------------------------------------------------------

func (s *Sim) contactsResolveUsername(c *call) (bin.Encoder, error) {
	var r tg.ContactsResolveUsernameRequest
	if err := decode(c, &r); err != nil {
		return nil, err
	}
	name := strings.ToLower(strings.TrimPrefix(r.Username, "@"))
	if name == "" {
		return nil, tgerr.New(400, "USERNAME_INVALID")
	}
	ch, ok := s.byUsername[name]
	if !ok {
		return nil, tgerr.New(400, "USERNAME_NOT_OCCUPIED")
	}
	if ch.deleted {
		return nil, tgerr.New(400, "CHANNEL_INVALID")
	}
	return &tg.ContactsResolvedPeer{
		Peer:  &tg.PeerChannel{ChannelID: ch.id},
		Chats: []tg.ChatClass{s.tgChannel(c, ch)},
	}, nil
}

func (s *Sim) join(c *call, ch *channel) *tg.Updates {
	u := s.currentUser(c)
	if !u.joined[ch.id] {
		u.joined[ch.id] = true
		u.seenPts[ch.id] = ch.pts
	}
	return &tg.Updates{
		Updates: []tg.UpdateClass{&tg.UpdateChannel{ChannelID: ch.id}},
		Chats:   []tg.ChatClass{s.tgChannel(c, ch)},
		Date:    now(),
	}
}

func (s *Sim) channelsJoinChannel(c *call) (bin.Encoder, error) {
	var r tg.ChannelsJoinChannelRequest
	if err := decode(c, &r); err != nil {
		return nil, err
	}
	ch, err := s.inputChannel(c, r.Channel)
	if err != nil {
		return nil, err
	}
	return &tg.MessagesChatInviteJoinResultOk{Updates: s.join(c, ch)}, nil
}

func (s *Sim) channelsLeaveChannel(c *call) (bin.Encoder, error) {
	var r tg.ChannelsLeaveChannelRequest
	if err := decode(c, &r); err != nil {
		return nil, err
	}
	ch, err := s.inputChannel(c, r.Channel)
	if err != nil {
		return nil, err
	}
	u := s.currentUser(c)
	if !u.joined[ch.id] {
		return nil, tgerr.New(400, "USER_NOT_PARTICIPANT")
	}
	delete(u.joined, ch.id)
	return &tg.Updates{
		Updates: []tg.UpdateClass{&tg.UpdateChannel{ChannelID: ch.id}},
		Chats:   []tg.ChatClass{s.tgChannel(c, ch)},
		Date:    now(),
	}, nil
}

func (s *Sim) inviteChannel(hash string) (*channel, error) {
	ch, ok := s.byInvite[hash]
	if !ok || hash == "" {
		return nil, tgerr.New(400, "INVITE_HASH_INVALID")
	}
	if ch.deleted {
		return nil, tgerr.New(400, "INVITE_HASH_EXPIRED")
	}
	return ch, nil
}

func (s *Sim) messagesCheckChatInvite(c *call) (bin.Encoder, error) {
	var r tg.MessagesCheckChatInviteRequest
	if err := decode(c, &r); err != nil {
		return nil, err
	}
	ch, err := s.inviteChannel(r.Hash)
	if err != nil {
		return nil, err
	}
	if s.isMember(c, ch) {
		return &tg.ChatInviteAlready{Chat: s.tgChannel(c, ch)}, nil
	}
	return &tg.ChatInvite{
		Channel:           true,
		Broadcast:         true,
		Title:             ch.title,
		Photo:             &tg.PhotoEmpty{},
		ParticipantsCount: s.participants(ch),
	}, nil
}

func (s *Sim) messagesImportChatInvite(c *call) (bin.Encoder, error) {
	var r tg.MessagesImportChatInviteRequest
	if err := decode(c, &r); err != nil {
		return nil, err
	}
	ch, err := s.inviteChannel(r.Hash)
	if err != nil {
		return nil, err
	}
	if s.isMember(c, ch) {
		return nil, tgerr.New(400, "USER_ALREADY_PARTICIPANT")
	}
	return &tg.MessagesChatInviteJoinResultOk{Updates: s.join(c, ch)}, nil
}

func (s *Sim) channelsGetFullChannel(c *call) (bin.Encoder, error) {
	var r tg.ChannelsGetFullChannelRequest
	if err := decode(c, &r); err != nil {
		return nil, err
	}
	ch, err := s.inputChannel(c, r.Channel)
	if err != nil {
		return nil, err
	}
	top := s.topID(ch)
	return &tg.MessagesChatFull{
		FullChat: &tg.ChannelFull{
			ID:                ch.id,
			About:             "",
			ParticipantsCount: s.participants(ch),
			ReadInboxMaxID:    top,
			ReadOutboxMaxID:   top,
			ChatPhoto:         &tg.PhotoEmpty{},
			Pts:               ch.pts,
		},
		Chats: []tg.ChatClass{s.tgChannel(c, ch)},
	}, nil
}

func (s *Sim) topID(ch *channel) int {
	for i := len(ch.msgs) - 1; i >= 0; i-- {
		if !ch.msgs[i].deleted {
			return ch.msgs[i].id
		}
	}
	return 0
}

// history applies messages.getHistory's paging to the channel's live
// messages: newest first; max_id/min_id bound the list (exclusive); the
// window starts at the first message older than offset_id (or, without
// offset_id, older than offset_date), moved by add_offset (negative values
// reach newer messages), and holds at most limit (≤ 100, default 20)
// messages.
func history(ch *channel, r *tg.MessagesGetHistoryRequest) (list []*message, count int) {
	var live []*message // newest first
	for i := len(ch.msgs) - 1; i >= 0; i-- {
		m := ch.msgs[i]
		if m.deleted {
			continue
		}
		count++
		if r.MaxID > 0 && m.id >= r.MaxID {
			continue
		}
		if r.MinID > 0 && m.id <= r.MinID {
			continue
		}
		live = append(live, m)
	}
	start := 0
	switch {
	case r.OffsetID > 0:
		start = sort.Search(len(live), func(i int) bool { return live[i].id < r.OffsetID })
	case r.OffsetDate > 0:
		start = len(live)
		for i, m := range live {
			if m.date < r.OffsetDate {
				start = i
				break
			}
		}
	}
	limit := r.Limit
	if limit <= 0 {
		limit = 20
	}
	if limit > 100 {
		limit = 100
	}
	start += r.AddOffset
	end := start + limit
	if start < 0 {
		start = 0
	}
	if end > len(live) {
		end = len(live)
	}
	if start >= end {
		return nil, count
	}
	return live[start:end], count
}

func (s *Sim) messagesGetHistory(c *call) (bin.Encoder, error) {
	var r tg.MessagesGetHistoryRequest
	if err := decode(c, &r); err != nil {
		return nil, err
	}
	ch, err := s.inputPeerChannel(c, r.Peer)
	if err != nil {
		return nil, err
	}
	list, count := history(ch, &r)
	out := &tg.MessagesChannelMessages{
		Pts:   ch.pts,
		Count: count,
		Chats: []tg.ChatClass{s.tgChannel(c, ch)},
	}
	for _, m := range list {
		out.Messages = append(out.Messages, s.tgMessage(ch, m))
	}
	return out, nil
}

func (s *Sim) channelsGetMessages(c *call) (bin.Encoder, error) {
	var r tg.ChannelsGetMessagesRequest
	if err := decode(c, &r); err != nil {
		return nil, err
	}
	ch, err := s.inputChannel(c, r.Channel)
	if err != nil {
		return nil, err
	}
	out := &tg.MessagesChannelMessages{
		Pts:   ch.pts,
		Chats: []tg.ChatClass{s.tgChannel(c, ch)},
	}
	for _, in := range r.ID {
		id := 0
		if v, ok := in.(*tg.InputMessageID); ok {
			id = v.ID
		}
		if id < 1 || id > len(ch.msgs) {
			out.Messages = append(out.Messages, &tg.MessageEmpty{ID: id, PeerID: &tg.PeerChannel{ChannelID: ch.id}})
			continue
		}
		out.Messages = append(out.Messages, s.tgMessage(ch, ch.msgs[id-1]))
	}
	out.Count = len(out.Messages)
	return out, nil
}
