package tgmonitor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gotd/contrib/middleware/floodwait"
	"github.com/gotd/contrib/middleware/ratelimit"
	"github.com/gotd/td/bin"
	"github.com/gotd/td/clock"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/telegram/auth"
	"github.com/gotd/td/telegram/dcs"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
	"golang.org/x/time/rate"

	"github.com/leakwatch/leakwatch/storage"
)

// Network says where Telegram is. The zero value is Telegram's own data
// centres; tests and the demo point it at a simulated network on loopback.
type Network struct {
	DC         int
	DCList     dcs.List
	Resolver   dcs.Resolver
	PublicKeys []telegram.PublicKey
}

// Options configure a Monitor.
type Options struct {
	// AppID and AppHash identify the application to Telegram
	// (my.telegram.org).
	AppID   int
	AppHash string
	Network Network
	Store   *storage.Store
	Sealer  *Sealer
	// MaxFloodWait is the longest FLOOD_WAIT waited out inside a run
	// (default 5 minutes); a longer one ends the run, and the account
	// shows flood-wait until it is over.
	MaxFloodWait time.Duration
	// Rate is the requests per second one account sends (default 2).
	Rate float64
	// LiveCheck is how often Live asks Telegram whether the session still
	// works and re-reads the watched channels (default 1 minute): a revoked
	// session simply gets no more updates, so nothing else would notice.
	LiveCheck time.Duration
	// Clock times flood waits and the account's flood-wait status (nil:
	// the system clock); the request rate runs on real time.
	Clock  clock.Clock
	Logger *slog.Logger // nil discards
	// Metrics, if set, counts messages read and files downloaded, with
	// the same method as webcrawl.FetchObserver.
	Metrics interface {
		ObserveFetch(kind, outcome, errKind string, bytes int64)
	}
}

// Monitor reads watched Telegram channels through user accounts and hands
// what it reads to the capture pipeline. It is safe for concurrent use; each
// call connects with its own client (one session per account per process,
// never shared between processes).
type Monitor struct {
	o Options
}

// New checks o and returns a Monitor.
func New(o Options) (*Monitor, error) {
	switch {
	case o.AppID <= 0 || o.AppHash == "":
		return nil, errors.New("telegram: api_id and api_hash are required (from my.telegram.org)")
	case o.Store == nil || o.Sealer == nil:
		return nil, errors.New("telegram: a store and a session sealer are required")
	}
	if o.MaxFloodWait <= 0 {
		o.MaxFloodWait = 5 * time.Minute
	}
	if o.Rate <= 0 {
		o.Rate = 2
	}
	if o.Clock == nil {
		o.Clock = clock.System
	}
	return &Monitor{o: o}, nil
}

// observe tells Options.Metrics of a message read or a file downloaded
// (err: the download failed).
func (m *Monitor) observe(kind string, err error, bytes int64) {
	if m.o.Metrics == nil {
		return
	}
	if err != nil {
		m.o.Metrics.ObserveFetch(kind, "error", "telegram download", bytes)
		return
	}
	m.o.Metrics.ObserveFetch(kind, "ok", "", bytes)
}

func (m *Monitor) log() *slog.Logger {
	if m.o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.o.Logger
}

// device is how leakwatch describes itself to Telegram: fixed, so that the
// account's session list shows one recognisable device.
var device = telegram.DeviceConfig{
	DeviceModel:    "leakwatch monitor",
	SystemVersion:  "linux",
	AppVersion:     "leakwatch 1",
	SystemLangCode: "en",
	LangCode:       "en",
}

// DeadError means an account's session no longer works (revoked, key
// unregistered, user deactivated). The account stops until someone logs in
// again; retrying cannot help.
type DeadError struct {
	Account string
	Reason  string // Telegram's error type
}

func (e *DeadError) Error() string {
	return fmt.Sprintf("telegram account %s: session dead (%s); log in again with `leakwatch telegram login --account %s`", e.Account, e.Reason, e.Account)
}

// ErrNotLoggedIn means the account has no session yet.
var ErrNotLoggedIn = errors.New("not logged in")

// deadReasons are the errors after which a session never works again.
var deadReasons = []string{"AUTH_KEY_UNREGISTERED", "AUTH_KEY_INVALID", "SESSION_REVOKED", "SESSION_EXPIRED",
	"USER_DEACTIVATED", "USER_DEACTIVATED_BAN"}

func deadReason(err error) (string, bool) {
	if e, ok := tgerr.As(err); ok && e.IsOneOf(deadReasons...) {
		return e.Type, true
	}
	return "", false
}

// FloodWaitError means Telegram asked the account to wait longer than
// Options.MaxFloodWait.
type FloodWaitError struct {
	Account string
	Until   time.Time
}

func (e *FloodWaitError) Error() string {
	return fmt.Sprintf("telegram account %s: flood wait until %s", e.Account, e.Until.UTC().Format(time.RFC3339))
}

// connect runs fn with a connected client of account. login is set for the
// login flow itself, which may start from no session.
func (m *Monitor) connect(ctx context.Context, account string, login bool, fn func(ctx context.Context, c *telegram.Client) error) error {
	return m.connectUpdates(ctx, account, login, nil, fn)
}

// connectUpdates is connect with updates passed to upd; a nil upd keeps
// the client in no-updates mode (Telegram pushes nothing to it), which is
// what every caller but Live wants.
func (m *Monitor) connectUpdates(ctx context.Context, account string, login bool, upd telegram.UpdateHandler,
	fn func(ctx context.Context, c *telegram.Client) error) error {
	acct, err := m.o.Store.TelegramAccount(ctx, account)
	if err != nil {
		return err
	}
	if !login {
		switch {
		case acct.Status == storage.TelegramDead:
			return &DeadError{Account: account, Reason: acct.Detail}
		case len(acct.Session) == 0:
			return fmt.Errorf("telegram account %s: %w; run `leakwatch telegram login --account %s`", account, ErrNotLoggedIn, account)
		case acct.Status == storage.TelegramFloodWait && acct.FloodUntil != nil && acct.FloodUntil.After(m.o.Clock.Now()):
			return &FloodWaitError{Account: account, Until: *acct.FloodUntil}
		}
	}
	// SimpleWaiter, not the scheduler-based Waiter: one client per account
	// per pass sends one request at a time, and SimpleWaiter times its
	// waits on Clock (v0.25.0's Waiter runs its scheduler on the system
	// clock whatever WithClock says), so tests can move time on.
	waiter := floodwait.NewSimpleWaiter().WithClock(m.o.Clock).WithMaxWait(m.o.MaxFloodWait).WithMaxRetries(5)
	// Beneath the waiter: a wait it is about to sit out shows as the
	// account's status while it lasts.
	observe := telegram.MiddlewareFunc(func(next tg.Invoker) telegram.InvokeFunc {
		return func(ctx context.Context, in bin.Encoder, out bin.Decoder) error {
			err := next.Invoke(ctx, in, out)
			if d, ok := tgerr.AsFloodWait(err); ok && d <= m.o.MaxFloodWait {
				until := m.o.Clock.Now().Add(d).UTC()
				m.log().WarnContext(ctx, "telegram flood wait", "account", account, "wait", d)
				if serr := m.o.Store.SetTelegramStatus(context.WithoutCancel(ctx), account, storage.TelegramFloodWait,
					fmt.Sprintf("waiting %s", d), &until, 0); serr != nil {
					m.log().WarnContext(ctx, "cannot record telegram flood wait", "account", account, "err", serr)
				}
			}
			return err
		}
	})
	// The request rate runs on real time whatever Clock is: a fake clock
	// would stall every request behind the limiter.
	limiter := ratelimit.New(rate.Limit(m.o.Rate), 5)
	n := m.o.Network
	client := telegram.NewClient(m.o.AppID, m.o.AppHash, telegram.Options{
		DC: n.DC, DCList: n.DCList, Resolver: n.Resolver, PublicKeys: n.PublicKeys,
		SessionStorage: &dbSession{store: m.o.Store, sealer: m.o.Sealer, account: account},
		Device:         device,
		NoUpdates:      upd == nil,
		UpdateHandler:  upd,
		Middlewares:    []telegram.Middleware{waiter, observe, limiter},
		// A dead session must stop the client, not loop reconnecting.
		OnSelfError: func(ctx context.Context, err error) error {
			if _, dead := deadReason(err); dead && !login {
				return err
			}
			return nil
		},
	})
	err = client.Run(ctx, func(ctx context.Context) error {
		if !login {
			st, err := client.Auth().Status(ctx)
			if err != nil {
				return fmt.Errorf("auth status: %w", err)
			}
			if !st.Authorized {
				return &tgerr.Error{Code: 401, Type: "AUTH_KEY_UNREGISTERED", Message: "AUTH_KEY_UNREGISTERED"}
			}
		}
		return fn(ctx, client)
	})
	bg := context.WithoutCancel(ctx)
	if reason, dead := deadReason(err); dead && !login {
		m.log().ErrorContext(ctx, "telegram session dead; the account stops until it logs in again", "account", account, "reason", reason)
		if serr := m.o.Store.SetTelegramStatus(bg, account, storage.TelegramDead, reason, nil, 0); serr != nil {
			return errors.Join(&DeadError{Account: account, Reason: reason}, serr)
		}
		return &DeadError{Account: account, Reason: reason}
	}
	if d, ok := tgerr.AsFloodWait(err); ok {
		until := m.o.Clock.Now().Add(d).UTC()
		if serr := m.o.Store.SetTelegramStatus(bg, account, storage.TelegramFloodWait, fmt.Sprintf("asked to wait %s", d), &until, 0); serr != nil {
			return errors.Join(err, serr)
		}
		return &FloodWaitError{Account: account, Until: until}
	}
	if err == nil && !login {
		// Whatever it was waiting for is over.
		if serr := m.o.Store.SetTelegramStatus(bg, account, storage.TelegramOK, "", nil, 0); serr != nil {
			return serr
		}
	}
	return err
}

// Authenticator answers the login flow's questions: the phone number, the
// code Telegram sent, and the 2FA password.
type Authenticator struct {
	Phone    string
	Code     func(ctx context.Context) (string, error)
	Password func(ctx context.Context) (string, error)
}

type flowAuth struct {
	a Authenticator
}

func (f flowAuth) Phone(context.Context) (string, error) { return f.a.Phone, nil }
func (f flowAuth) Password(ctx context.Context) (string, error) {
	if f.a.Password == nil {
		return "", errors.New("the account has a 2FA password and none was given")
	}
	return f.a.Password(ctx)
}
func (f flowAuth) Code(ctx context.Context, _ *tg.AuthSentCode) (string, error) { return f.a.Code(ctx) }
func (f flowAuth) AcceptTermsOfService(context.Context, tg.HelpTermsOfService) error {
	return errors.New("the account must accept Telegram's terms of service in an official app first")
}
func (f flowAuth) SignUp(context.Context) (auth.UserInfo, error) {
	return auth.UserInfo{}, errors.New("the phone number has no Telegram account; sign up in an official app first")
}

// Login signs account in with a fresh session: phone, code and (if the
// account has one) 2FA password. A dead account comes back to life.
func (m *Monitor) Login(ctx context.Context, account string, a Authenticator) error {
	if a.Phone == "" || a.Code == nil {
		return errors.New("telegram login: a phone number and a way to read the code are required")
	}
	if err := m.o.Store.EnsureTelegramAccount(ctx, account, a.Phone); err != nil {
		return err
	}
	// A fresh auth key: the old one may be the revoked one.
	if err := m.o.Store.SaveTelegramSession(ctx, account, nil); err != nil {
		return err
	}
	var userID int64
	err := m.connect(ctx, account, true, func(ctx context.Context, c *telegram.Client) error {
		flow := auth.NewFlow(flowAuth{a}, auth.SendCodeOptions{})
		if err := flow.Run(ctx, c.Auth()); err != nil {
			return err
		}
		self, err := c.Self(ctx)
		if err != nil {
			return err
		}
		userID = self.ID
		// gotd reports the client ready before it stores the session it
		// made; returning now could close the client first and leave the
		// account signed in nowhere. Wait (briefly) until it is stored.
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		deadline := time.After(10 * time.Second)
		for {
			a, err := m.o.Store.TelegramAccount(ctx, account)
			if err != nil {
				return err
			}
			if len(a.Session) > 0 {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-deadline:
				return errors.New("signed in, but the session was not stored within 10s")
			case <-t.C:
			}
		}
	})
	if err != nil {
		return fmt.Errorf("telegram login %s: %w", account, err)
	}
	return m.o.Store.SetTelegramStatus(ctx, account, storage.TelegramOK, "", nil, userID)
}
