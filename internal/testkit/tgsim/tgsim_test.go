package tgsim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotd/td/session"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/telegram/auth"
	"github.com/gotd/td/telegram/downloader"
	"github.com/gotd/td/telegram/query/messages"
	"github.com/gotd/td/telegram/updates"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

const (
	testPhone    = "+1 555 0100"
	testPassword = "correct horse battery staple"
)

func startSim(t *testing.T, o Options) *Sim {
	t.Helper()
	s := New(o)
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func newClient(s *Sim, storage telegram.SessionStorage, upd telegram.UpdateHandler) *telegram.Client {
	ep := s.Endpoint()
	if storage == nil {
		storage = &session.StorageMemory{}
	}
	return telegram.NewClient(17349, "tgsim-test", telegram.Options{
		DC:             ep.DC,
		DCList:         ep.DCList,
		Resolver:       ep.Resolver,
		PublicKeys:     ep.PublicKeys,
		SessionStorage: storage,
		NoUpdates:      upd == nil,
		UpdateHandler:  upd,
	})
}

// run runs f with a connected client and fails the test on any error.
func run(t *testing.T, c *telegram.Client, f func(ctx context.Context, api *tg.Client) error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.Run(ctx, func(ctx context.Context) error { return f(ctx, c.API()) }); err != nil {
		t.Fatal(err)
	}
}

func codeAuth(code string) auth.CodeAuthenticator {
	return auth.CodeAuthenticatorFunc(func(context.Context, *tg.AuthSentCode) (string, error) { return code, nil })
}

func login(ctx context.Context, c *telegram.Client, phone, password string) error {
	return c.Auth().IfNecessary(ctx, auth.NewFlow(auth.Constant(phone, password, codeAuth("12345")), auth.SendCodeOptions{}))
}

// wantRPCError returns an error unless err is the RPC error code/typ.
// Client callbacks run on their own goroutine, where t.Fatal must not be
// called: they return errors instead, and run fails the test.
func wantRPCError(err error, code int, typ string) error {
	rpcErr, ok := tgerr.As(err)
	if !ok {
		return fmt.Errorf("want RPC error %d %s, got %v", code, typ, err)
	}
	if rpcErr.Code != code || rpcErr.Type != typ {
		return fmt.Errorf("want RPC error %d %s, got %d %s", code, typ, rpcErr.Code, rpcErr.Type)
	}
	return nil
}

func TestLoginCodeAnd2FA(t *testing.T) {
	s := startSim(t, Options{})
	uid := s.AddUser(testPhone, testPassword, "Ann")
	storage := &session.StorageMemory{}

	c := newClient(s, storage, nil)
	run(t, c, func(ctx context.Context, api *tg.Client) error {
		// Not logged in yet.
		_, err := api.UpdatesGetState(ctx)
		if err := wantRPCError(err, 401, "AUTH_KEY_UNREGISTERED"); err != nil {
			return err
		}

		// Wrong code.
		sent, err := api.AuthSendCode(ctx, &tg.AuthSendCodeRequest{PhoneNumber: testPhone, APIID: 17349, APIHash: "tgsim-test"})
		if err != nil {
			return err
		}
		code := sent.(*tg.AuthSentCode)
		if _, ok := code.Type.(*tg.AuthSentCodeTypeApp); !ok {
			t.Errorf("sent code type %T, want app", code.Type)
		}
		_, err = api.AuthSignIn(ctx, &tg.AuthSignInRequest{PhoneNumber: testPhone, PhoneCodeHash: code.PhoneCodeHash, PhoneCode: "00000"})
		if err := wantRPCError(err, 400, "PHONE_CODE_INVALID"); err != nil {
			return err
		}

		// Right code, wrong password: the flow reports it, and the server's
		// answer to a proof computed from the wrong password is
		// PASSWORD_HASH_INVALID.
		err = login(ctx, c, testPhone, "wrong password")
		if !errors.Is(err, auth.ErrPasswordInvalid) {
			return fmt.Errorf("login with wrong password: %v, want ErrPasswordInvalid", err)
		}
		p, err := api.AccountGetPassword(ctx)
		if err != nil {
			return err
		}
		if !p.HasPassword || len(p.SRPB) != 256 || p.SRPID == 0 {
			return fmt.Errorf("account.getPassword: %+v", p)
		}
		proof, err := auth.PasswordHash([]byte("wrong password"), p.SRPID, p.SRPB, p.SecureRandom, p.CurrentAlgo)
		if err != nil {
			return err
		}
		_, err = api.AuthCheckPassword(ctx, proof)
		if err := wantRPCError(err, 400, "PASSWORD_HASH_INVALID"); err != nil {
			return err
		}
		// A proof can be checked once per srp_id.
		_, err = api.AuthCheckPassword(ctx, proof)
		if err := wantRPCError(err, 400, "SRP_ID_INVALID"); err != nil {
			return err
		}

		// Right password.
		return login(ctx, c, testPhone, testPassword)
	})
	// A new client on the same session storage is logged in.
	run(t, newClient(s, storage, nil), func(ctx context.Context, api *tg.Client) error {
		users, err := api.UsersGetUsers(ctx, []tg.InputUserClass{&tg.InputUserSelf{}})
		if err != nil {
			return err
		}
		me := users[0].(*tg.User)
		if me.ID != uid || !me.Self || me.FirstName != "Ann" {
			t.Errorf("self = %+v, want id %d", me, uid)
		}
		return nil
	})
	if n := s.Calls(tg.AuthCheckPasswordRequestTypeID); n != 4 {
		t.Errorf("auth.checkPassword calls = %d, want 4", n)
	}
}

func TestCodeOnlyLoginAndSessionRestore(t *testing.T) {
	s := startSim(t, Options{Code: "24680"})
	uid := s.AddUser("15550101", "", "Bob")
	storage := &session.StorageMemory{}
	c := newClient(s, storage, nil)
	run(t, c, func(ctx context.Context, api *tg.Client) error {
		flow := auth.NewFlow(auth.Constant("15550101", "", codeAuth("24680")), auth.SendCodeOptions{})
		if err := c.Auth().IfNecessary(ctx, flow); err != nil {
			return err
		}
		st, err := c.Auth().Status(ctx)
		if err != nil {
			return err
		}
		if !st.Authorized || st.User.ID != uid {
			t.Errorf("status after login: %+v", st)
		}
		return nil
	})
	signIns := s.Calls(tg.AuthSignInRequestTypeID)

	// A second client on the same session storage is still logged in.
	c2 := newClient(s, storage, nil)
	run(t, c2, func(ctx context.Context, api *tg.Client) error {
		st, err := c2.Auth().Status(ctx)
		if err != nil {
			return err
		}
		if !st.Authorized || st.User.ID != uid {
			t.Errorf("restored session not authorized: %+v", st)
		}
		return nil
	})
	if n := s.Calls(tg.AuthSignInRequestTypeID); n != signIns || n != 1 {
		t.Errorf("auth.signIn calls = %d (before restore %d), want 1", n, signIns)
	}
}

var phoneSeq atomic.Int64

// loggedIn runs f with a client logged in as a fresh code-only user.
func loggedIn(t *testing.T, s *Sim, upd telegram.UpdateHandler, f func(ctx context.Context, c *telegram.Client, api *tg.Client) error) {
	t.Helper()
	phone := fmt.Sprintf("1555%07d", phoneSeq.Add(1))
	s.AddUser(phone, "", "Watcher")
	c := newClient(s, nil, upd)
	run(t, c, func(ctx context.Context, api *tg.Client) error {
		if err := login(ctx, c, phone, ""); err != nil {
			return err
		}
		return f(ctx, c, api)
	})
}

func TestResolveAndHistoryPaging(t *testing.T) {
	s := startSim(t, Options{})
	ch := s.AddChannel("LeakDrops", "Leak drops")
	for i := 1; i <= 250; i++ {
		if id := s.Post(ch, Post{Text: "post", Date: time.Unix(1_700_000_000+int64(i), 0)}); id != i {
			t.Fatalf("post id %d, want %d", id, i)
		}
	}
	loggedIn(t, s, nil, func(ctx context.Context, _ *telegram.Client, api *tg.Client) error {
		res, err := api.ContactsResolveUsername(ctx, &tg.ContactsResolveUsernameRequest{Username: "leakdrops"})
		if err != nil {
			return err
		}
		got := res.Chats[0].(*tg.Channel)
		if got.ID != ch.ID || got.AccessHash != ch.AccessHash || !got.Broadcast || got.Username != "LeakDrops" {
			t.Errorf("resolved %+v, want %+v", got, ch)
		}
		if p, ok := res.Peer.(*tg.PeerChannel); !ok || p.ChannelID != ch.ID {
			t.Errorf("resolved peer %v", res.Peer)
		}
		_, err = api.ContactsResolveUsername(ctx, &tg.ContactsResolveUsernameRequest{Username: "nosuchchannel"})
		if err := wantRPCError(err, 400, "USERNAME_NOT_OCCUPIED"); err != nil {
			return err
		}

		// Raw paging with offset_id.
		peer := &tg.InputPeerChannel{ChannelID: got.ID, AccessHash: got.AccessHash}
		seen := map[int]int{}
		var order []int
		offset := 0
		for pages := 0; pages < 10; pages++ {
			r, err := api.MessagesGetHistory(ctx, &tg.MessagesGetHistoryRequest{Peer: peer, OffsetID: offset, Limit: 100})
			if err != nil {
				return err
			}
			cm := r.(*tg.MessagesChannelMessages)
			if cm.Count != 250 || cm.Pts != 251 {
				t.Errorf("count %d pts %d, want 250 and 251", cm.Count, cm.Pts)
			}
			if len(cm.Messages) == 0 {
				break
			}
			for _, m := range cm.Messages {
				seen[m.GetID()]++
				order = append(order, m.GetID())
			}
			offset = cm.Messages[len(cm.Messages)-1].GetID()
		}
		if len(seen) != 250 {
			t.Errorf("got %d distinct messages, want 250", len(seen))
		}
		for id, n := range seen {
			if n != 1 || id < 1 || id > 250 {
				t.Errorf("message %d seen %d times", id, n)
			}
		}
		for i := 1; i < len(order); i++ {
			if order[i] >= order[i-1] {
				return fmt.Errorf("history not newest first at %d: %v", i, order[i-1:i+1])
			}
		}

		// gotd's query iterator (what a client is likely to use).
		n := 0
		it := messages.NewQueryBuilder(api).GetHistory(peer).BatchSize(100).Iter()
		for it.Next(ctx) {
			n++
		}
		if err := it.Err(); err != nil {
			return err
		}
		if n != 250 {
			t.Errorf("iterator yielded %d messages, want 250", n)
		}

		// Edit and delete.
		s.Edit(ch, 10, "edited")
		s.Delete(ch, 11, 12)
		r, err := api.ChannelsGetMessages(ctx, &tg.ChannelsGetMessagesRequest{
			Channel: &tg.InputChannel{ChannelID: ch.ID, AccessHash: ch.AccessHash},
			ID:      []tg.InputMessageClass{&tg.InputMessageID{ID: 10}, &tg.InputMessageID{ID: 11}, &tg.InputMessageID{ID: 999}},
		})
		if err != nil {
			return err
		}
		ms := r.(*tg.MessagesChannelMessages).Messages
		if m, ok := ms[0].(*tg.Message); !ok || m.Message != "edited" || m.EditDate == 0 {
			t.Errorf("edited message: %+v", ms[0])
		}
		for _, m := range ms[1:] {
			if _, ok := m.(*tg.MessageEmpty); !ok {
				t.Errorf("deleted/unknown message is %T, want messageEmpty", m)
			}
		}
		h, err := api.MessagesGetHistory(ctx, &tg.MessagesGetHistoryRequest{Peer: peer, OffsetID: 14, Limit: 3})
		if err != nil {
			return err
		}
		var ids []int
		for _, m := range h.(*tg.MessagesChannelMessages).Messages {
			ids = append(ids, m.GetID())
		}
		if len(ids) != 3 || ids[0] != 13 || ids[1] != 10 || ids[2] != 9 {
			t.Errorf("history after delete = %v, want [13 10 9]", ids)
		}
		return nil
	})
}

func TestHistoryWindow(t *testing.T) {
	ch := &channel{}
	for i := 1; i <= 10; i++ {
		ch.msgs = append(ch.msgs, &message{id: i, date: 1000 + 10*i})
	}
	ch.msgs[6].deleted = true // id 7
	for _, tc := range []struct {
		name  string
		req   tg.MessagesGetHistoryRequest
		want  []int
		count int
	}{
		{"newest", tg.MessagesGetHistoryRequest{Limit: 3}, []int{10, 9, 8}, 9},
		{"default limit", tg.MessagesGetHistoryRequest{}, []int{10, 9, 8, 6, 5, 4, 3, 2, 1}, 9},
		{"offset_id", tg.MessagesGetHistoryRequest{OffsetID: 5, Limit: 2}, []int{4, 3}, 9},
		{"negative add_offset", tg.MessagesGetHistoryRequest{OffsetID: 5, AddOffset: -2, Limit: 4}, []int{6, 5, 4, 3}, 9},
		{"add_offset above the top", tg.MessagesGetHistoryRequest{OffsetID: 10, AddOffset: -2, Limit: 3}, []int{10, 9}, 9},
		{"window entirely above the top", tg.MessagesGetHistoryRequest{OffsetID: 10, AddOffset: -5, Limit: 3}, nil, 9},
		{"positive add_offset", tg.MessagesGetHistoryRequest{AddOffset: 2, Limit: 2}, []int{8, 6}, 9},
		{"min and max", tg.MessagesGetHistoryRequest{MaxID: 8, MinID: 3, Limit: 10}, []int{6, 5, 4}, 9},
		{"offset_date", tg.MessagesGetHistoryRequest{OffsetDate: 1055, Limit: 2}, []int{5, 4}, 9},
		{"past the end", tg.MessagesGetHistoryRequest{OffsetID: 1, Limit: 5}, nil, 9},
	} {
		got, count := history(ch, &tc.req)
		var ids []int
		for _, m := range got {
			ids = append(ids, m.id)
		}
		if count != tc.count || len(ids) != len(tc.want) {
			t.Errorf("%s: got %v (count %d), want %v (count %d)", tc.name, ids, count, tc.want, tc.count)
			continue
		}
		for i := range ids {
			if ids[i] != tc.want[i] {
				t.Errorf("%s: got %v, want %v", tc.name, ids, tc.want)
				break
			}
		}
	}
}

// refreshingClient is the FILE_REFERENCE_EXPIRED handling a monitor needs:
// on that error it refetches the message with channels.getMessages, takes
// the new file reference and retries the same part, so the download
// resumes where it stopped.
type refreshingClient struct {
	*tg.Client
	channel tg.InputChannelClass
	msgID   int

	mu        sync.Mutex
	loc       tg.InputFileLocationClass
	expiredAt []int64
}

func (r *refreshingClient) location() tg.InputFileLocationClass {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loc
}

func (r *refreshingClient) UploadGetFile(ctx context.Context, req *tg.UploadGetFileRequest) (tg.UploadFileClass, error) {
	for attempt := 0; ; attempt++ {
		q := *req
		q.Location = r.location()
		res, err := r.Client.UploadGetFile(ctx, &q)
		if attempt > 0 || !tgerr.Is(err, tg.ErrFileReferenceExpired) {
			return res, err
		}
		r.mu.Lock()
		r.expiredAt = append(r.expiredAt, req.Offset)
		r.mu.Unlock()
		loc, err := refetchLocation(ctx, r.Client, r.channel, r.msgID)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.loc = loc
		r.mu.Unlock()
	}
}

// refetchLocation gets a message's media location with a fresh file
// reference.
func refetchLocation(ctx context.Context, api *tg.Client, ch tg.InputChannelClass, msgID int) (tg.InputFileLocationClass, error) {
	r, err := api.ChannelsGetMessages(ctx, &tg.ChannelsGetMessagesRequest{
		Channel: ch,
		ID:      []tg.InputMessageClass{&tg.InputMessageID{ID: msgID}},
	})
	if err != nil {
		return nil, err
	}
	msgs := r.(*tg.MessagesChannelMessages).Messages
	if len(msgs) != 1 {
		return nil, errors.New("message not returned")
	}
	m, ok := msgs[0].(*tg.Message)
	if !ok {
		return nil, errors.New("message deleted")
	}
	return mediaLocation(m.Media)
}

func mediaLocation(media tg.MessageMediaClass) (tg.InputFileLocationClass, error) {
	switch md := media.(type) {
	case *tg.MessageMediaDocument:
		return md.Document.(*tg.Document).AsInputDocumentFileLocation(""), nil
	case *tg.MessageMediaPhoto:
		p := md.Photo.(*tg.Photo)
		size := p.Sizes[len(p.Sizes)-1].(*tg.PhotoSize)
		return p.AsInputPhotoFileLocation(size.Type), nil
	default:
		return nil, errors.New("no media")
	}
}

func randomData(n int) []byte {
	r := rand.New(rand.NewChaCha8([32]byte{1, 2, 3}))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func firstMessage(ctx context.Context, api *tg.Client, ch Channel, id int) (*tg.Message, error) {
	r, err := api.ChannelsGetMessages(ctx, &tg.ChannelsGetMessagesRequest{
		Channel: &tg.InputChannel{ChannelID: ch.ID, AccessHash: ch.AccessHash},
		ID:      []tg.InputMessageClass{&tg.InputMessageID{ID: id}},
	})
	if err != nil {
		return nil, err
	}
	m, ok := r.(*tg.MessagesChannelMessages).Messages[0].(*tg.Message)
	if !ok {
		return nil, errors.New("no message")
	}
	return m, nil
}

func TestDownloadWithExpiredFileReference(t *testing.T) {
	s := startSim(t, Options{})
	ch := s.AddChannel("dumps", "Dumps")
	doc := randomData(1_300_000)
	docID := s.Post(ch, Post{Text: "sample", File: &File{Name: "patients.zip", MIME: "application/zip", Data: doc}, ForwardedFrom: "Other leaks"})
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	img.Set(3, 3, color.RGBA{R: 200, A: 255})
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, img); err != nil {
		t.Fatal(err)
	}
	photoID := s.Post(ch, Post{File: &File{Name: "scan.png", MIME: "image/png", Data: pngBuf.Bytes(), Photo: true}})

	loggedIn(t, s, nil, func(ctx context.Context, _ *telegram.Client, api *tg.Client) error {
		in := &tg.InputChannel{ChannelID: ch.ID, AccessHash: ch.AccessHash}
		m, err := firstMessage(ctx, api, ch, docID)
		if err != nil {
			return err
		}
		d := m.Media.(*tg.MessageMediaDocument).Document.(*tg.Document)
		if d.Size != int64(len(doc)) || d.MimeType != "application/zip" || d.DCID != 1 || len(d.FileReference) == 0 {
			t.Errorf("document %+v", d)
		}
		if fn, ok := d.Attributes[0].(*tg.DocumentAttributeFilename); !ok || fn.FileName != "patients.zip" {
			t.Errorf("attributes %v", d.Attributes)
		}
		if m.FwdFrom.FromName != "Other leaks" || !m.Post {
			t.Errorf("fwd_from %+v post %v", m.FwdFrom, m.Post)
		}
		oldRef := d.FileReference

		s.ExpireFileReferenceOnce(ch, docID)
		getFiles := s.Calls(tg.UploadGetFileRequestTypeID)
		rc := &refreshingClient{Client: api, channel: in, msgID: docID, loc: d.AsInputDocumentFileLocation("")}
		var out bytes.Buffer
		if _, err := downloader.NewDownloader().Download(rc, rc.location()).Stream(ctx, &out); err != nil {
			return err
		}
		if !bytes.Equal(out.Bytes(), doc) {
			t.Errorf("downloaded %d bytes, not equal to the %d posted", out.Len(), len(doc))
		}
		if len(rc.expiredAt) != 1 || rc.expiredAt[0] != 512*1024 {
			t.Errorf("FILE_REFERENCE_EXPIRED at offsets %v, want [524288]", rc.expiredAt)
		}
		if n := s.Calls(tg.UploadGetFileRequestTypeID) - getFiles; n != 4 {
			t.Errorf("upload.getFile calls = %d, want 4 (3 parts + 1 expired)", n)
		}
		// The old reference stays expired; the new one is served.
		_, err = api.UploadGetFile(ctx, &tg.UploadGetFileRequest{
			Location: &tg.InputDocumentFileLocation{ID: d.ID, AccessHash: d.AccessHash, FileReference: oldRef},
			Limit:    512 * 1024,
		})
		if err := wantRPCError(err, 400, "FILE_REFERENCE_EXPIRED"); err != nil {
			return err
		}
		_, err = api.UploadGetFile(ctx, &tg.UploadGetFileRequest{Location: rc.location(), Offset: 1000, Limit: 4096})
		if err := wantRPCError(err, 400, "OFFSET_INVALID"); err != nil {
			return err
		}

		// A one-part photo fails on its first request, then downloads.
		pm, err := firstMessage(ctx, api, ch, photoID)
		if err != nil {
			return err
		}
		p := pm.Media.(*tg.MessageMediaPhoto).Photo.(*tg.Photo)
		size := p.Sizes[len(p.Sizes)-1].(*tg.PhotoSize)
		if size.Type != "y" || size.Size != pngBuf.Len() || size.W != 64 || size.H != 48 {
			t.Errorf("photo size %+v", size)
		}
		s.ExpireFileReferenceOnce(ch, photoID)
		prc := &refreshingClient{Client: api, channel: in, msgID: photoID, loc: p.AsInputPhotoFileLocation(size.Type)}
		out.Reset()
		if _, err := downloader.NewDownloader().Download(prc, prc.location()).Stream(ctx, &out); err != nil {
			return err
		}
		if !bytes.Equal(out.Bytes(), pngBuf.Bytes()) || len(prc.expiredAt) != 1 || prc.expiredAt[0] != 0 {
			t.Errorf("photo: %d bytes, expired at %v", out.Len(), prc.expiredAt)
		}
		// Verified download (upload.getFileHashes).
		out.Reset()
		if _, err := downloader.NewDownloader().Download(api, rc.location()).WithVerify(true).Stream(ctx, &out); err != nil {
			return err
		}
		if !bytes.Equal(out.Bytes(), doc) {
			t.Error("verified download differs")
		}
		return nil
	})
}

func TestFilesOnSecondDC(t *testing.T) {
	s := startSim(t, Options{FileDC: 2})
	ch := s.AddChannel("dc2files", "DC 2 files")
	doc := randomData(700_000)
	id := s.Post(ch, Post{File: &File{Name: "a.bin", Data: doc}})
	loggedIn(t, s, nil, func(ctx context.Context, _ *telegram.Client, api *tg.Client) error {
		m, err := firstMessage(ctx, api, ch, id)
		if err != nil {
			return err
		}
		d := m.Media.(*tg.MessageMediaDocument).Document.(*tg.Document)
		if d.DCID != 2 || d.MimeType != "application/octet-stream" {
			t.Errorf("document dc %d mime %q", d.DCID, d.MimeType)
		}
		var out bytes.Buffer
		if _, err := downloader.NewDownloader().Download(api, d.AsInputDocumentFileLocation("")).Stream(ctx, &out); err != nil {
			return err
		}
		if !bytes.Equal(out.Bytes(), doc) {
			t.Error("download through DC 2 differs")
		}
		return nil
	})
	if s.Calls(tg.AuthExportAuthorizationRequestTypeID) != 1 || s.Calls(tg.AuthImportAuthorizationRequestTypeID) != 1 {
		t.Errorf("auth export/import calls = %d/%d, want 1/1",
			s.Calls(tg.AuthExportAuthorizationRequestTypeID), s.Calls(tg.AuthImportAuthorizationRequestTypeID))
	}
}

func TestFloodWaitOnce(t *testing.T) {
	s := startSim(t, Options{})
	ch := s.AddChannel("floody", "Floody")
	s.Post(ch, Post{Text: "x"})
	loggedIn(t, s, nil, func(ctx context.Context, _ *telegram.Client, api *tg.Client) error {
		s.FloodWaitOnce(tg.MessagesGetHistoryRequestTypeID, 1)
		req := &tg.MessagesGetHistoryRequest{Peer: &tg.InputPeerChannel{ChannelID: ch.ID, AccessHash: ch.AccessHash}, Limit: 10}
		_, err := api.MessagesGetHistory(ctx, req)
		rpcErr, ok := tgerr.As(err)
		if !ok || rpcErr.Code != 420 || rpcErr.Type != "FLOOD_WAIT" || rpcErr.Argument != 1 {
			return fmt.Errorf("got %v, want 420 FLOOD_WAIT with argument 1", err)
		}
		if d, ok := tgerr.AsFloodWait(err); !ok || d != time.Second {
			t.Errorf("AsFloodWait = %v %v, want 1s", d, ok)
		}
		// Only once.
		if _, err := api.MessagesGetHistory(ctx, req); err != nil {
			return err
		}
		return nil
	})
	if n := s.Calls(tg.MessagesGetHistoryRequestTypeID); n != 2 {
		t.Errorf("getHistory calls = %d, want 2 (the flood-waited one counts)", n)
	}
}

func TestPushReachesUpdatesManager(t *testing.T) {
	s := startSim(t, Options{})
	ch := s.AddChannel("livefeed", "Live feed")
	s.Post(ch, Post{Text: "old"})

	got := make(chan *tg.UpdateNewChannelMessage, 16)
	d := tg.NewUpdateDispatcher()
	d.OnNewChannelMessage(func(ctx context.Context, e tg.Entities, u *tg.UpdateNewChannelMessage) error {
		got <- u
		return nil
	})
	mgr := updates.New(updates.Config{Handler: d})

	loggedIn(t, s, mgr, func(ctx context.Context, c *telegram.Client, api *tg.Client) error {
		self, err := c.Self(ctx)
		if err != nil {
			return err
		}
		if _, err := api.ChannelsJoinChannel(ctx, &tg.InputChannel{ChannelID: ch.ID, AccessHash: ch.AccessHash}); err != nil {
			return err
		}
		mctx, cancel := context.WithCancel(ctx)
		started := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- mgr.Run(mctx, api, self.ID, updates.AuthOptions{OnStart: func(context.Context) { close(started) }})
		}()
		defer func() {
			cancel()
			<-done
		}()
		select {
		case <-started:
		case <-ctx.Done():
			return ctx.Err()
		}

		wait := func(id int) (*tg.UpdateNewChannelMessage, error) {
			timeout := time.After(20 * time.Second)
			for {
				select {
				case u := <-got:
					if u.Message.GetID() == id {
						return u, nil
					}
				case <-timeout:
					return nil, fmt.Errorf("message %d not delivered", id)
				}
			}
		}

		// First push: the manager learns the channel (access hash from the
		// update's chats) and subscribes with getChannelDifference.
		id1 := s.Push(ch, Post{Text: "fresh leak"})
		u, err := wait(id1)
		if err != nil {
			return err
		}
		if m := u.Message.(*tg.Message); m.Message != "fresh leak" {
			t.Errorf("pushed text %q", m.Message)
		}
		diffs := s.Calls(tg.UpdatesGetChannelDifferenceRequestTypeID)
		if diffs == 0 {
			t.Error("manager never called updates.getChannelDifference")
		}
		// Second push: the channel is tracked, the update applies directly
		// (pts is contiguous), no difference needed.
		id2 := s.Push(ch, Post{Text: "second"})
		if u, err = wait(id2); err != nil {
			return err
		}
		if u.Pts != 4 || u.PtsCount != 1 {
			t.Errorf("second push pts %d count %d, want 4 and 1", u.Pts, u.PtsCount)
		}
		if n := s.Calls(tg.UpdatesGetChannelDifferenceRequestTypeID); n != diffs {
			t.Errorf("getChannelDifference calls went from %d to %d for a contiguous push", diffs, n)
		}
		// A Post without push is found through the channel difference.
		id3 := s.Post(ch, Post{Text: "quiet"})
		r, err := api.UpdatesGetChannelDifference(ctx, &tg.UpdatesGetChannelDifferenceRequest{
			Channel: &tg.InputChannel{ChannelID: ch.ID, AccessHash: ch.AccessHash},
			Filter:  &tg.ChannelMessagesFilterEmpty{},
			Pts:     4,
			Limit:   100,
		})
		if err != nil {
			return err
		}
		diff, ok := r.(*tg.UpdatesChannelDifference)
		if !ok || !diff.Final || diff.Pts != 5 || len(diff.NewMessages) != 1 || diff.NewMessages[0].GetID() != id3 {
			t.Errorf("channel difference %+v", r)
		}
		return nil
	})
}

func TestChannelDifferenceEditsAndDeletes(t *testing.T) {
	s := startSim(t, Options{})
	ch := s.AddChannel("diffs", "Diffs")
	for i := 0; i < 5; i++ {
		s.Post(ch, Post{Text: "m"})
	}
	s.Edit(ch, 2, "m2")
	s.Delete(ch, 3, 4)
	loggedIn(t, s, nil, func(ctx context.Context, _ *telegram.Client, api *tg.Client) error {
		in := &tg.InputChannel{ChannelID: ch.ID, AccessHash: ch.AccessHash}
		r, err := api.UpdatesGetChannelDifference(ctx, &tg.UpdatesGetChannelDifferenceRequest{
			Channel: in, Filter: &tg.ChannelMessagesFilterEmpty{}, Pts: 1, Limit: 100,
		})
		if err != nil {
			return err
		}
		diff := r.(*tg.UpdatesChannelDifference)
		// pts: 1 creation, 2..6 posts, 7 edit, 8..9 delete.
		if !diff.Final || diff.Pts != 9 || len(diff.NewMessages) != 3 || len(diff.OtherUpdates) != 2 {
			t.Errorf("difference pts %d final %v: %d new, %d other", diff.Pts, diff.Final, len(diff.NewMessages), len(diff.OtherUpdates))
		}
		if del, ok := diff.OtherUpdates[1].(*tg.UpdateDeleteChannelMessages); !ok || del.Pts != 9 || del.PtsCount != 2 {
			t.Errorf("other updates %v", diff.OtherUpdates)
		}
		r, err = api.UpdatesGetChannelDifference(ctx, &tg.UpdatesGetChannelDifferenceRequest{
			Channel: in, Filter: &tg.ChannelMessagesFilterEmpty{}, Pts: 3, Limit: 2,
		})
		if err != nil {
			return err
		}
		if part := r.(*tg.UpdatesChannelDifference); part.Final || part.Pts != 5 {
			t.Errorf("limited difference pts %d final %v, want 5 and not final", part.Pts, part.Final)
		}
		r, err = api.UpdatesGetChannelDifference(ctx, &tg.UpdatesGetChannelDifferenceRequest{
			Channel: in, Filter: &tg.ChannelMessagesFilterEmpty{}, Pts: 9, Limit: 100,
		})
		if err != nil {
			return err
		}
		if e, ok := r.(*tg.UpdatesChannelDifferenceEmpty); !ok || e.Pts != 9 {
			t.Errorf("up-to-date difference %+v", r)
		}
		// Common difference flags the channel once it has news.
		s.Post(ch, Post{Text: "news"})
		st, err := api.UpdatesGetState(ctx)
		if err != nil {
			return err
		}
		dr, err := api.UpdatesGetDifference(ctx, &tg.UpdatesGetDifferenceRequest{Pts: st.Pts, Date: st.Date})
		if err != nil {
			return err
		}
		full, ok := dr.(*tg.UpdatesDifference)
		if !ok || len(full.OtherUpdates) != 1 {
			return fmt.Errorf("difference %+v", dr)
		}
		if tl, ok := full.OtherUpdates[0].(*tg.UpdateChannelTooLong); !ok || tl.ChannelID != ch.ID {
			t.Errorf("difference update %v", full.OtherUpdates[0])
		}
		return nil
	})
}

func TestPrivateChannelInvite(t *testing.T) {
	s := startSim(t, Options{})
	ch := s.AddPrivateChannel("Private dump", "AbCdEf123")
	s.Post(ch, Post{Text: "members only"})
	loggedIn(t, s, nil, func(ctx context.Context, _ *telegram.Client, api *tg.Client) error {
		peer := &tg.InputPeerChannel{ChannelID: ch.ID, AccessHash: ch.AccessHash}
		_, err := api.MessagesGetHistory(ctx, &tg.MessagesGetHistoryRequest{Peer: peer, Limit: 10})
		if err := wantRPCError(err, 400, "CHANNEL_PRIVATE"); err != nil {
			return err
		}
		_, err = api.MessagesCheckChatInvite(ctx, "nope")
		if err := wantRPCError(err, 400, "INVITE_HASH_INVALID"); err != nil {
			return err
		}

		inv, err := api.MessagesCheckChatInvite(ctx, "AbCdEf123")
		if err != nil {
			return err
		}
		if ci, ok := inv.(*tg.ChatInvite); !ok || ci.Title != "Private dump" || !ci.Channel || !ci.Broadcast {
			t.Errorf("invite %+v", inv)
		}
		res, err := api.MessagesImportChatInvite(ctx, "AbCdEf123")
		if err != nil {
			return err
		}
		upd := res.(*tg.MessagesChatInviteJoinResultOk).Updates.(*tg.Updates)
		if c := upd.Chats[0].(*tg.Channel); c.ID != ch.ID || c.Left || c.AccessHash != ch.AccessHash {
			t.Errorf("joined channel %+v", c)
		}
		h, err := api.MessagesGetHistory(ctx, &tg.MessagesGetHistoryRequest{Peer: peer, Limit: 10})
		if err != nil {
			return err
		}
		if n := len(h.(*tg.MessagesChannelMessages).Messages); n != 1 {
			t.Errorf("history after join: %d messages", n)
		}
		inv, err = api.MessagesCheckChatInvite(ctx, "AbCdEf123")
		if err != nil {
			return err
		}
		if _, ok := inv.(*tg.ChatInviteAlready); !ok {
			t.Errorf("second check: %T, want chatInviteAlready", inv)
		}
		return nil
	})
}

func TestDeleteChannel(t *testing.T) {
	s := startSim(t, Options{})
	ch := s.AddChannel("gone", "Gone")
	s.Post(ch, Post{Text: "x"})
	s.DeleteChannel(ch)
	loggedIn(t, s, nil, func(ctx context.Context, _ *telegram.Client, api *tg.Client) error {
		_, err := api.ContactsResolveUsername(ctx, &tg.ContactsResolveUsernameRequest{Username: "gone"})
		if err := wantRPCError(err, 400, "CHANNEL_INVALID"); err != nil {
			return err
		}
		_, err = api.ChannelsGetMessages(ctx, &tg.ChannelsGetMessagesRequest{
			Channel: &tg.InputChannel{ChannelID: ch.ID, AccessHash: ch.AccessHash},
			ID:      []tg.InputMessageClass{&tg.InputMessageID{ID: 1}},
		})
		if err := wantRPCError(err, 400, "CHANNEL_PRIVATE"); err != nil {
			return err
		}
		return nil
	})
}

func TestReports(t *testing.T) {
	s := startSim(t, Options{})
	ch := s.AddChannel("reportme", "Report me")
	id := s.Post(ch, Post{Text: "stolen records"})
	loggedIn(t, s, nil, func(ctx context.Context, _ *telegram.Client, api *tg.Client) error {
		peer := &tg.InputPeerChannel{ChannelID: ch.ID, AccessHash: ch.AccessHash}
		r, err := api.MessagesReport(ctx, &tg.MessagesReportRequest{Peer: peer, ID: []int{id}})
		if err != nil {
			return err
		}
		choose, ok := r.(*tg.ReportResultChooseOption)
		if !ok || len(choose.Options) < 2 || len(choose.Options) > 3 {
			return fmt.Errorf("step 1: %+v", r)
		}
		var option []byte
		for _, o := range choose.Options {
			if o.Text == "Personal data" {
				option = o.Option
			}
		}
		if option == nil {
			return fmt.Errorf("no personal data option in %+v", choose.Options)
		}
		r, err = api.MessagesReport(ctx, &tg.MessagesReportRequest{Peer: peer, ID: []int{id}, Option: option})
		if err != nil {
			return err
		}
		comment, ok := r.(*tg.ReportResultAddComment)
		if !ok {
			return fmt.Errorf("step 2: %+v", r)
		}
		if len(s.Reports()) != 0 {
			t.Error("report recorded before completion")
		}
		r, err = api.MessagesReport(ctx, &tg.MessagesReportRequest{Peer: peer, ID: []int{id}, Option: comment.Option, Message: "Injunction HC-2026-01"})
		if err != nil {
			return err
		}
		if _, ok := r.(*tg.ReportResultReported); !ok {
			return fmt.Errorf("step 3: %+v", r)
		}
		_, err = api.MessagesReport(ctx, &tg.MessagesReportRequest{Peer: peer, ID: []int{id}, Option: []byte("bogus")})
		if err := wantRPCError(err, 400, "OPTION_INVALID"); err != nil {
			return err
		}

		ok2, err := api.AccountReportPeer(ctx, &tg.AccountReportPeerRequest{Peer: peer, Reason: &tg.InputReportReasonCopyright{}, Message: "dmca"})
		if err != nil || !ok2 {
			return fmt.Errorf("account.reportPeer: %v %v", ok2, err)
		}
		return nil
	})
	reps := s.Reports()
	if len(reps) != 2 {
		t.Fatalf("reports %+v", reps)
	}
	if r := reps[0]; r.Channel != ch.ID || len(r.MsgIDs) != 1 || r.MsgIDs[0] != id || r.Option != "personal_details" ||
		r.Comment != "Injunction HC-2026-01" || r.Method != "messages.report" {
		t.Errorf("report %+v", r)
	}
	if r := reps[1]; r.Channel != ch.ID || r.Option != "inputReportReasonCopyright" || r.Comment != "dmca" || r.Method != "account.reportPeer" {
		t.Errorf("report %+v", r)
	}
}

func TestRevokeSessions(t *testing.T) {
	s := startSim(t, Options{})
	s.AddUser("15550199", "", "Eve")
	c := newClient(s, nil, nil)
	run(t, c, func(ctx context.Context, api *tg.Client) error {
		if err := login(ctx, c, "15550199", ""); err != nil {
			return err
		}
		if _, err := c.Self(ctx); err != nil {
			return err
		}
		s.RevokeSessions("+1 555 0199")
		_, err := c.Self(ctx)
		if err := wantRPCError(err, 401, "AUTH_KEY_UNREGISTERED"); err != nil {
			return err
		}
		if !auth.IsUnauthorized(err) {
			t.Error("not recognised as unauthorized")
		}

		// The key can log in again; the SESSION_REVOKED variant.
		if err := login(ctx, c, "15550199", ""); err != nil {
			return err
		}
		s.RevokeSessionsWith("15550199", "SESSION_REVOKED")
		_, err = api.UpdatesGetState(ctx)
		if err := wantRPCError(err, 401, "SESSION_REVOKED"); err != nil {
			return err
		}
		return nil
	})
}

func TestCloseCutsConnectedClients(t *testing.T) {
	s := startSim(t, Options{})
	s.AddUser("15550177", "", "Idle")
	c := newClient(s, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, func(ctx context.Context) error {
			if err := login(ctx, c, "15550177", ""); err != nil {
				return err
			}
			close(ready)
			<-ctx.Done()
			return nil
		})
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("client stopped: %v", err)
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close with a connected client took %v", d)
	}
	cancel()
	<-done
}
