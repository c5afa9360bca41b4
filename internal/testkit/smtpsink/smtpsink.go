// Package smtpsink runs a real SMTP server (github.com/emersion/go-smtp) that
// accepts and records every message instead of delivering it. The demo uses
// it as the takedown-notice recipient, and integration tests use it to assert
// what was sent, including retries after temporary failures (RefuseFirst).
package smtpsink

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Defaults applied by Start when an Options field is zero.
const (
	DefaultAddr            = "127.0.0.1:0"
	DefaultDomain          = "sink.localhost"
	DefaultMaxMessageBytes = 25 << 20
	DefaultMaxRecipients   = 100
)

// ErrClosed is returned by Wait when the sink closes before enough messages
// arrived.
var ErrClosed = errors.New("smtpsink: closed")

// Options configures Start.
type Options struct {
	Addr   string // listen address; "" means DefaultAddr (loopback, free port)
	Domain string // name in the greeting; "" means DefaultDomain
	// RefuseFirst rejects the first N message attempts with 451 after the
	// client has sent DATA, to exercise a sender's retry path.
	RefuseFirst int
	// MaxMessageBytes caps one message (552 beyond it); 0 means
	// DefaultMaxMessageBytes.
	MaxMessageBytes int64
	// AllowInsecureAuth advertises and accepts AUTH PLAIN without TLS. The
	// sink never offers TLS, so without this clients cannot authenticate
	// (go-smtp answers AUTH with 523 "TLS is required"). Any credentials
	// are accepted; the username is recorded on each message.
	AllowInsecureAuth bool
	// StartTLS offers STARTTLS with an ephemeral self-signed certificate
	// for 127.0.0.1, ::1, localhost and Domain, so senders that insist on
	// TLS can be tested; trust it via (*Sink).RootCAs. AUTH is then
	// accepted after STARTTLS even without AllowInsecureAuth.
	StartTLS bool
	Logger   *slog.Logger // nil means slog.Default()
}

// Message is one accepted message.
type Message struct {
	From     string   // MAIL FROM
	To       []string // RCPT TO, in order
	Data     []byte   // raw RFC 5322 message as received (CRLF line endings)
	Received time.Time
	AuthUser string // AUTH PLAIN username, "" when the client did not authenticate
	Helo     string // name the client gave in EHLO/HELO

	// Parsed from Data with net/mail; empty when absent or unparseable.
	Subject   string // RFC 2047 encoded words decoded
	MessageID string // Message-ID header value as sent, angle brackets included
}

// Sink is a running SMTP server that records messages. It is safe for
// concurrent use.
type Sink struct {
	srv   *smtp.Server
	ln    net.Listener
	roots *x509.CertPool
	log   *slog.Logger
	opts  Options

	mu       sync.Mutex
	msgs     []Message
	attempts int
	changed  chan struct{} // closed and replaced whenever msgs grows
	closed   chan struct{}

	closeOnce sync.Once
	closeErr  error
	served    chan struct{} // closed when the accept loop has returned
}

// Start listens on opts.Addr and serves SMTP until Close is called or ctx
// ends.
func Start(ctx context.Context, opts Options) (*Sink, error) {
	if opts.RefuseFirst < 0 {
		return nil, fmt.Errorf("smtpsink: RefuseFirst must not be negative, got %d", opts.RefuseFirst)
	}
	opts.Addr = cmp.Or(opts.Addr, DefaultAddr)
	opts.Domain = cmp.Or(opts.Domain, DefaultDomain)
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = DefaultMaxMessageBytes
	}
	s := &Sink{
		log:     cmp.Or(opts.Logger, slog.Default()),
		opts:    opts,
		changed: make(chan struct{}),
		closed:  make(chan struct{}),
		served:  make(chan struct{}),
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtpsink: listen on %s: %w", opts.Addr, err)
	}
	s.ln = ln

	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = opts.Domain
	srv.MaxMessageBytes = opts.MaxMessageBytes
	srv.MaxRecipients = DefaultMaxRecipients
	srv.AllowInsecureAuth = opts.AllowInsecureAuth
	// Timeouts stop a stuck client from pinning a goroutine forever.
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	if opts.StartTLS {
		cert, roots, err := selfSigned(opts.Domain)
		if err != nil {
			_ = ln.Close()
			return nil, err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.roots = roots
	}
	s.srv = srv

	go func() {
		defer close(s.served)
		if err := srv.Serve(ln); err != nil {
			s.log.Error("smtpsink: serve stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.closed:
		}
	}()
	s.log.Info("smtpsink: listening", "addr", ln.Addr().String(), "refuse_first", opts.RefuseFirst)
	return s, nil
}

// Addr returns the listening address as host:port.
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// RootCAs returns a pool holding the STARTTLS certificate, for a client's
// tls.Config.RootCAs; nil unless Options.StartTLS is set.
func (s *Sink) RootCAs() *x509.CertPool { return s.roots }

// Close stops the server, dropping open connections, and waits for the
// accept loop to end. Further calls return the first result.
func (s *Sink) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		if err := s.srv.Close(); err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, smtp.ErrServerClosed) {
			s.closeErr = fmt.Errorf("smtpsink: close: %w", err)
		}
		// go-smtp's Close only closes listeners that Serve has registered;
		// when Close wins the race against the Serve goroutine, Accept would
		// block forever. Closing the listener here ends it either way.
		if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) && s.closeErr == nil {
			s.closeErr = fmt.Errorf("smtpsink: close listener: %w", err)
		}
		<-s.served
	})
	return s.closeErr
}

// Messages returns a copy of the accepted messages in arrival order.
func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cloneMessages(s.msgs)
}

// Attempts returns how many messages reached the end of DATA, refused ones
// included.
func (s *Sink) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Wait blocks until at least n messages have been accepted and returns
// them all. It returns early with the messages so far and an error when ctx
// ends or the sink closes.
func (s *Sink) Wait(ctx context.Context, n int) ([]Message, error) {
	for {
		s.mu.Lock()
		if len(s.msgs) >= n {
			out := cloneMessages(s.msgs)
			s.mu.Unlock()
			return out, nil
		}
		changed, have := s.changed, len(s.msgs)
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return s.Messages(), fmt.Errorf("smtpsink: waiting for %d messages, have %d: %w", n, have, context.Cause(ctx))
		case <-s.closed:
			return s.Messages(), fmt.Errorf("smtpsink: waiting for %d messages, have %d: %w", n, have, ErrClosed)
		}
	}
}

// Subscribe returns a channel that delivers every message accepted after the
// call, in order, without dropping any and without slowing the SMTP
// sessions down. The channel is closed when ctx ends or the sink closes.
func (s *Sink) Subscribe(ctx context.Context) <-chan Message {
	out := make(chan Message)
	s.mu.Lock()
	next := len(s.msgs)
	s.mu.Unlock()
	go func() {
		defer close(out)
		for {
			s.mu.Lock()
			if next >= len(s.msgs) {
				changed := s.changed
				s.mu.Unlock()
				select {
				case <-changed:
					continue
				case <-ctx.Done():
					return
				case <-s.closed:
					return
				}
			}
			m := cloneMessage(s.msgs[next])
			s.mu.Unlock()
			select {
			case out <- m:
				next++
			case <-ctx.Done():
				return
			case <-s.closed:
				return
			}
		}
	}()
	return out
}

// attempt counts one message attempt and reports whether it must be
// refused.
func (s *Sink) attempt() (n int, refuse bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	return s.attempts, s.attempts <= s.opts.RefuseFirst
}

func (s *Sink) record(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, m)
	close(s.changed)
	s.changed = make(chan struct{})
}

func cloneMessage(m Message) Message {
	m.To = append([]string(nil), m.To...)
	m.Data = bytes.Clone(m.Data)
	return m
}

func cloneMessages(ms []Message) []Message {
	out := make([]Message, len(ms))
	for i, m := range ms {
		out[i] = cloneMessage(m)
	}
	return out
}

// session is one SMTP connection.
type session struct {
	sink     *Sink
	helo     string
	remote   string
	authUser string
	from     string
	to       []string
}

func (s *Sink) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{sink: s, helo: c.Hostname(), remote: c.Conn().RemoteAddr().String()}, nil
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		// A sink accepts any credentials; only the name is kept, never the
		// password.
		ss.authUser = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	ss.to = nil
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	// Read the whole message before deciding, so a refusal arrives at the
	// end of DATA as a real server's queue failure would.
	data, err := io.ReadAll(r)
	if err != nil {
		if errors.Is(err, smtp.ErrDataTooLarge) {
			ss.sink.log.Warn("smtpsink: message too large", "from", ss.from, "remote", ss.remote)
			return smtp.ErrDataTooLarge
		}
		return fmt.Errorf("smtpsink: read message: %w", err)
	}
	n, refuse := ss.sink.attempt()
	if refuse {
		ss.sink.log.Info("smtpsink: refusing message (RefuseFirst)", "attempt", n, "from", ss.from)
		return &smtp.SMTPError{
			Code:         451,
			EnhancedCode: smtp.EnhancedCode{4, 3, 0},
			Message:      fmt.Sprintf("Temporary failure (test sink refuses attempt %d of first %d), try again later", n, ss.sink.opts.RefuseFirst),
		}
	}
	m := Message{
		From:     ss.from,
		To:       append([]string(nil), ss.to...),
		Data:     data,
		Received: time.Now(),
		AuthUser: ss.authUser,
		Helo:     ss.helo,
	}
	if parsed, err := mail.ReadMessage(bytes.NewReader(data)); err != nil {
		ss.sink.log.Warn("smtpsink: message headers do not parse", "from", ss.from, "err", err)
	} else {
		m.Subject = decodeHeader(parsed.Header.Get("Subject"))
		m.MessageID = strings.TrimSpace(parsed.Header.Get("Message-ID"))
	}
	ss.sink.record(m)
	ss.sink.log.Info("smtpsink: message received", "from", m.From, "to", m.To, "bytes", len(data), "message_id", m.MessageID)
	return nil
}

// decodeHeader decodes RFC 2047 encoded words; on failure the raw value is
// kept rather than lose the header.
func decodeHeader(v string) string {
	dec := mime.WordDecoder{}
	if d, err := dec.DecodeHeader(v); err == nil {
		return d
	}
	return v
}

func (ss *session) Reset() {
	ss.from = ""
	ss.to = nil
}

func (ss *session) Logout() error { return nil }

// selfSigned makes a short-lived certificate for a loopback test server. It
// is its own CA, so a pool holding it verifies it.
func selfSigned(domain string) (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("smtpsink: generate TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("smtpsink: certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: domain, Organization: []string{"leakwatch smtpsink (test only)"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{domain, "localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("smtpsink: create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("smtpsink: parse certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}
