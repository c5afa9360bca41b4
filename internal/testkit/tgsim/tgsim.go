package tgsim

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gotd/log"
	"github.com/gotd/log/logslog"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/crypto"
	"github.com/gotd/td/exchange"
	"github.com/gotd/td/mt"
	"github.com/gotd/td/telegram/dcs"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
	"github.com/gotd/td/tgtest"
	"github.com/gotd/td/tgtest/services"
	"github.com/gotd/td/tgtest/services/config"
	"github.com/gotd/td/transport"
)

// Options configure a Sim.
type Options struct {
	// Code is the login code auth.sendCode "sends"; default "12345".
	Code string
	// Logger receives the MTProto servers' and the simulation's logs; nil
	// keeps them silent.
	Logger *slog.Logger
	// FileDC is the DC that stores media: 1 (default) or 2. With 2,
	// upload.getFile on DC 1 answers 303 FILE_MIGRATE_2 and the client has
	// to export its authorization to DC 2 (gotd does that by itself).
	FileDC int
}

// dcIDs are the simulated data centres. DC 1 is the home DC of every account.
var dcIDs = []int{1, 2}

const homeDC = 1

// Sim is a simulated Telegram network. Create it with New, populate it with
// AddUser/AddChannel/Post (before or after Start), Start it, and Close it.
// All methods are safe for concurrent use.
type Sim struct {
	opts Options
	log  log.Helper

	// Immutable after Start.
	servers  map[int]*tgtest.Server
	keys     []exchange.PublicKey
	dcOpts   []tg.DCOption
	cfg      tg.Config
	cdnCfg   tg.CDNConfig
	cfgSvc   *config.Service
	handlers map[uint32]handler

	runMu   sync.Mutex // guards the lifecycle fields below
	started bool
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	runErr  error

	mu         sync.Mutex // guards the simulated world below
	nextID     int64
	users      map[int64]*user
	byPhone    map[string]*user
	authKeys   map[[8]byte]*keyState
	codes      map[string]string // phone_code_hash -> phone
	exported   map[string]int64  // exported authorization bytes -> user id
	channels   map[int64]*channel
	byUsername map[string]*channel
	byInvite   map[string]*channel
	files      map[int64]*file
	calls      map[uint32]int
	floods     map[uint32][]int
	reports    []Report
}

// New returns a stopped Sim.
func New(o Options) *Sim {
	if o.Code == "" {
		o.Code = "12345"
	}
	if o.FileDC != 2 {
		o.FileDC = homeDC
	}
	var lg log.Logger = log.Nop
	if o.Logger != nil {
		lg = logslog.New(o.Logger)
	}
	s := &Sim{
		opts:       o,
		log:        log.For(lg).Named("tgsim"),
		nextID:     1000,
		users:      map[int64]*user{},
		byPhone:    map[string]*user{},
		authKeys:   map[[8]byte]*keyState{},
		codes:      map[string]string{},
		exported:   map[string]int64{},
		channels:   map[int64]*channel{},
		byUsername: map[string]*channel{},
		byInvite:   map[string]*channel{},
		files:      map[int64]*file{},
		calls:      map[uint32]int{},
		floods:     map[uint32][]int{},
	}
	s.handlers = s.routes()
	return s
}

// serverKeys caches one RSA key per DC for the whole process: generating a
// 2048-bit key costs up to a second on a busy 2-core machine, and test servers
// need no fresh key per Sim.
var serverKeys struct {
	sync.Mutex
	byDC map[int]*rsa.PrivateKey
}

func serverKey(dc int) (*rsa.PrivateKey, error) {
	serverKeys.Lock()
	defer serverKeys.Unlock()
	if k, ok := serverKeys.byDC[dc]; ok {
		return k, nil
	}
	k, err := rsa.GenerateKey(rand.Reader, crypto.RSAKeyBits)
	if err != nil {
		return nil, err
	}
	if serverKeys.byDC == nil {
		serverKeys.byDC = map[int]*rsa.PrivateKey{}
	}
	serverKeys.byDC[dc] = k
	return k, nil
}

// Start listens on 127.0.0.1 (one random port per DC), serves in background
// goroutines and returns once clients can connect. The servers stop when ctx
// ends or Close is called.
func (s *Sim) Start(ctx context.Context) error {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.started {
		return errors.New("tgsim: already started")
	}

	var gl log.Logger = log.Nop
	if s.opts.Logger != nil {
		gl = logslog.New(s.opts.Logger)
	}
	servers := map[int]*tgtest.Server{}
	var keys []exchange.PublicKey
	var opts []tg.DCOption
	var lns []*peekListener
	closeAll := func() {
		for _, l := range lns {
			_ = l.Close()
		}
	}
	for _, dc := range dcIDs {
		k, err := serverKey(dc)
		if err != nil {
			closeAll()
			return fmt.Errorf("tgsim: DC %d key: %w", dc, err)
		}
		srv := tgtest.NewServer(tgtest.NewPrivateKey(k), tgtest.UnpackInvoke(tgtest.HandlerFunc(s.onMessage)), tgtest.ServerOptions{
			DC:     dc,
			Logger: log.For(gl).Named("dc").With(log.Int("dc_id", dc)).Logger(),
			// gotd pings every minute with ping_delay_disconnect(75 s); the
			// tgtest default of 30 s would drop every idle client.
			ReadTimeout:  3 * time.Minute,
			WriteTimeout: 30 * time.Second,
		})
		var lc net.ListenConfig
		raw, err := lc.Listen(ctx, "tcp4", "127.0.0.1:0")
		if err != nil {
			closeAll()
			return fmt.Errorf("tgsim: DC %d listen: %w", dc, err)
		}
		l := newPeekListener(raw)
		lns = append(lns, l)
		addr := raw.Addr().(*net.TCPAddr)
		servers[dc] = srv
		keys = append(keys, srv.Key())
		opts = append(opts, tg.DCOption{ID: dc, IPAddress: addr.IP.String(), Port: addr.Port, Static: true})
	}

	t0 := time.Now()
	s.servers = servers
	s.keys = keys
	s.dcOpts = opts
	s.cfg = tg.Config{
		Date:                    int(t0.Unix()),
		Expires:                 int(t0.Add(time.Hour).Unix()),
		DCOptions:               append([]tg.DCOption(nil), opts...),
		ChatSizeMax:             200,
		MegagroupSizeMax:        200000,
		ForwardedCountMax:       100,
		OnlineUpdatePeriodMs:    210000,
		OfflineBlurTimeoutMs:    5000,
		OfflineIdleTimeoutMs:    30000,
		OnlineCloudTimeoutMs:    300000,
		NotifyCloudDelayMs:      30000,
		NotifyDefaultDelayMs:    1500,
		PushChatPeriodMs:        60000,
		PushChatLimit:           2,
		EditTimeLimit:           172800,
		RevokeTimeLimit:         2147483647,
		RevokePmTimeLimit:       2147483647,
		RatingEDecay:            2419200,
		StickersRecentLimit:     200,
		ChannelsReadMediaPeriod: 604800,
		CallReceiveTimeoutMs:    20000,
		CallRingTimeoutMs:       90000,
		CallConnectTimeoutMs:    30000,
		CallPacketTimeoutMs:     10000,
		MeURLPrefix:             "https://t.me/",
		CaptionLengthMax:        1024,
		MessageLengthMax:        4096,
		WebfileDCID:             homeDC,
	}
	s.cfgSvc = config.NewService(&s.cfg, &s.cdnCfg)

	runCtx, cancel := context.WithCancel(ctx)
	s.ctx, s.cancel = runCtx, cancel
	s.done = make(chan struct{})
	s.started = true

	var wg sync.WaitGroup
	errs := make([]error, len(dcIDs))
	for i, dc := range dcIDs {
		srv, l := servers[dc], lns[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = srv.Serve(runCtx, transport.ListenCodec(nil, l))
			if errs[i] != nil && runCtx.Err() == nil {
				s.log.Error(runCtx, "DC server stopped", log.Int("dc_id", dc), log.Error(errs[i]))
			}
		}()
	}
	go func() {
		<-runCtx.Done()
		// Serve closes the listeners; connections blocked in a read would
		// hold it for up to ReadTimeout, so close them too.
		for _, l := range lns {
			_ = l.Close()
			l.closeConns()
		}
	}()
	go func() {
		wg.Wait()
		s.runMu.Lock()
		s.runErr = errors.Join(errs...)
		s.runMu.Unlock()
		close(s.done)
	}()
	s.log.Info(ctx, "Simulated Telegram started", log.String("dc1", fmt.Sprintf("%s:%d", opts[0].IPAddress, opts[0].Port)))
	return nil
}

// Close stops the servers, closes every client connection and waits for the
// serving goroutines. It is safe to call more than once and without Start.
func (s *Sim) Close() error {
	s.runMu.Lock()
	cancel, done := s.cancel, s.done
	s.runMu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	<-done
	s.runMu.Lock()
	defer s.runMu.Unlock()
	return s.runErr
}

// Endpoint is what a client needs to connect (fields map onto
// telegram.Options).
type Endpoint struct {
	DC         int
	DCList     dcs.List
	Resolver   dcs.Resolver
	PublicKeys []exchange.PublicKey
}

// Endpoint returns the connection parameters; valid after Start.
func (s *Sim) Endpoint() Endpoint {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	return Endpoint{
		DC:         homeDC,
		DCList:     dcs.List{Options: append([]tg.DCOption(nil), s.dcOpts...)},
		Resolver:   dcs.Plain(dcs.PlainOptions{Protocol: transport.Intermediate}),
		PublicKeys: append([]exchange.PublicKey(nil), s.keys...),
	}
}

// FloodWaitOnce makes the next call of the RPC with that TL type id (e.g.
// tg.MessagesGetHistoryRequestTypeID) answer 420 FLOOD_WAIT_<seconds>.
// Calls queue: two FloodWaitOnce calls fail the next two calls.
func (s *Sim) FloodWaitOnce(method uint32, seconds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.floods[method] = append(s.floods[method], seconds)
}

// Calls returns how many times the RPC with that TL type id was called,
// counting calls answered with an injected error. Wrappers such as
// invokeWithLayer and initConnection are looked through.
func (s *Sim) Calls(method uint32) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

// call is one RPC being served.
type call struct {
	srv *tgtest.Server
	req *tgtest.Request
	key *keyState
}

func (c *call) dc() int { return c.req.DC }

// handler serves one method with s.mu held. It decodes its request from
// c.req.Buf and returns the result to send, or a *tgerr.Error.
type handler struct {
	auth bool // needs an authorized key
	fn   func(s *Sim, c *call) (bin.Encoder, error)
}

var errBadRequest = tgerr.New(400, "INPUT_REQUEST_INVALID")

// onMessage is the tgtest handler of every DC. It runs on the connection's
// read goroutine, so it never blocks and answers every request with a
// result or an RPC error: any other error would drop the connection.
func (s *Sim) onMessage(srv *tgtest.Server, req *tgtest.Request) error {
	id, err := req.Buf.PeekID()
	if err != nil {
		return errBadRequest
	}
	if id == mt.MsgsAckTypeID {
		// Acknowledgements get no answer, as on Telegram.
		return nil
	}

	s.mu.Lock()
	s.calls[id]++
	ks := s.keyFor(srv, req)
	if q := s.floods[id]; len(q) > 0 {
		sec := q[0]
		s.floods[id] = q[1:]
		s.mu.Unlock()
		return &tgerr.Error{Code: 420, Message: fmt.Sprintf("FLOOD_WAIT_%d", sec), Type: "FLOOD_WAIT", Argument: sec}
	}
	h, ok := s.handlers[id]
	if !ok {
		s.mu.Unlock()
		switch id {
		case tg.HelpGetConfigRequestTypeID, tg.HelpGetCDNConfigRequestTypeID:
			return s.cfgSvc.OnMessage(srv, req)
		}
		s.log.Debug(req.RequestCtx, "Method not implemented", log.String("type", fmt.Sprintf("%#x", id)))
		return services.ErrMethodNotImplemented
	}
	if h.auth && ks.userID == 0 {
		msg := ks.unauthErr
		if msg == "" {
			msg = "AUTH_KEY_UNREGISTERED"
		}
		s.mu.Unlock()
		return tgerr.New(401, msg)
	}
	c := &call{srv: srv, req: req, key: ks}
	res, err := h.fn(s, c)
	s.mu.Unlock()
	if err != nil {
		var rpcErr *tgerr.Error
		if errors.As(err, &rpcErr) {
			return rpcErr
		}
		s.log.Warn(req.RequestCtx, "Bad request", log.String("type", fmt.Sprintf("%#x", id)), log.Error(err))
		return errBadRequest
	}
	if res == nil {
		return nil
	}
	if err := srv.SendResult(req, res); err != nil {
		// The client went away; tgtest drops the connection anyway.
		return err
	}
	return nil
}

// decode decodes the request into r, mapping failures to an RPC error.
func decode(c *call, r bin.Decoder) error {
	if err := r.Decode(c.req.Buf); err != nil {
		return errBadRequest
	}
	return nil
}

// randInt64 returns a random positive int64.
func randInt64() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.LittleEndian.Uint64(b[:]) >> 1)
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func (s *Sim) newID() int64 {
	s.nextID++
	return s.nextID
}

func now() int { return int(time.Now().Unix()) }
