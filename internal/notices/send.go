package notices

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strconv"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/leakwatch/leakwatch/config"
)

// DefaultSendTimeout bounds one SMTP transaction when smtp.timeout is unset.
const DefaultSendTimeout = 60 * time.Second

// quitGrace bounds the QUIT after the relay accepted the message: the
// message is delivered by then, so a slow goodbye must not hold the caller.
const quitGrace = 5 * time.Second

// Mailer sends notices through the configured relay.
type Mailer struct {
	cfg      config.SMTPConfig
	password string
}

// NewMailer checks the SMTP settings and reads the password file if any.
func NewMailer(cfg config.SMTPConfig) (*Mailer, error) {
	pw, err := cfg.ResolvePassword()
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	return &Mailer{cfg: cfg, password: pw}, nil
}

// SendOptions are the caller's hooks into one Send.
type SendOptions struct {
	// BeforeData runs after the relay accepted sender and recipients and
	// just before the DATA command, so the caller can record durably that
	// transmission is starting. An error aborts the send before DATA (the
	// message is then certainly not delivered). ctx carries the send's
	// deadline.
	BeforeData func(ctx context.Context) error
}

// Receipt is the relay's acceptance of a message.
type Receipt struct {
	Code int // 250
	// Response is the relay's final reply to DATA with its code, e.g.
	// "250 2.0.0 Ok: queued as ABC"; multi-line replies are joined by
	// newlines.
	Response string
}

// PermanentError is a rejection that retrying will not fix (SMTP 5xx, or a
// message that cannot be built).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// UncertainError means the whole message reached the relay but its final
// reply did not come back (timeout, connection reset): the message may have
// been delivered. Resending risks a duplicate notice; the caller should
// record the uncertainty and let a person decide rather than retry blindly.
type UncertainError struct{ Err error }

func (e *UncertainError) Error() string { return "may have been delivered: " + e.Err.Error() }
func (e *UncertainError) Unwrap() error { return e.Err }

// errSendTimeout is the cause of the send's own deadline, so errors say
// which bound ended the transaction.
var errSendTimeout = errors.New("smtp.timeout reached")

// Send delivers one message in one SMTP transaction, from connect to QUIT,
// bounded as a whole by smtp.timeout (DefaultSendTimeout if unset) or ctx's
// deadline if earlier. The outcome is one of:
//
//   - a Receipt and nil: the relay accepted the message;
//   - *PermanentError: the relay refused with 5xx, or the message is invalid;
//   - *UncertainError: the transaction broke after the message's end was
//     sent and before the relay's reply, so it may have been delivered;
//   - any other error: temporary (4xx, or a failure before the message's
//     end was sent); the message was not delivered and a retry is safe.
func (m *Mailer) Send(ctx context.Context, msg Message, opt SendOptions) (Receipt, error) {
	raw, err := msg.Build()
	if err != nil {
		return Receipt{}, &PermanentError{Err: fmt.Errorf("build message: %w", err)}
	}
	from, _ := mail.ParseAddress(msg.From) // Build parsed both already
	to, _ := mail.ParseAddressList(msg.To)
	rcpts := make([]string, len(to))
	for i, a := range to {
		rcpts[i] = a.Address
	}
	addr := net.JoinHostPort(m.cfg.Host, strconv.Itoa(m.cfg.Port))
	timeout := m.cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultSendTimeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errSendTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	t := &transaction{ctx: ctx, deadline: deadline, addr: addr}

	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return Receipt{}, t.fail("connect", err)
	}
	// Two guards, because go-smtp replaces the connection's deadline with
	// its own before each command (CommandTimeout, SubmissionTimeout) and
	// clears it after, leaving the message body with none at all:
	// boundedConn caps every deadline it sets at ours, and closing the
	// connection when ctx ends covers whatever still blocks (and a caller's
	// cancellation).
	conn := &boundedConn{Conn: nc, limit: deadline}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		nc.Close()
		return Receipt{}, t.fail("connect", err)
	}
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	defer stop()
	defer nc.Close()

	c, err := m.client(conn)
	if err != nil {
		return Receipt{}, t.fail("starttls", err)
	}
	// Redundant with boundedConn, but keeps go-smtp's own timers from ever
	// exceeding ours should it stop going through SetDeadline.
	c.CommandTimeout, c.SubmissionTimeout = timeout, timeout
	if err := c.Hello("localhost"); err != nil {
		return Receipt{}, t.fail("greeting", err)
	}
	if m.cfg.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", m.cfg.Username, m.password)); err != nil {
			return Receipt{}, t.fail("auth", err)
		}
	}
	mailOpts := &smtp.MailOptions{Size: int64(len(raw))}
	if !ascii(from.Address) || !allASCII(rcpts) {
		mailOpts.UTF8 = true
	}
	if err := c.Mail(from.Address, mailOpts); err != nil {
		return Receipt{}, t.fail("MAIL FROM", err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return Receipt{}, t.fail("RCPT TO", err)
		}
	}
	if opt.BeforeData != nil {
		if err := opt.BeforeData(ctx); err != nil {
			return Receipt{}, fmt.Errorf("smtp %s: before DATA: %w", addr, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		// No body was sent: the relay cannot have accepted anything.
		return Receipt{}, t.fail("DATA", err)
	}
	if _, err := w.Write(raw); err != nil {
		// The end-of-data mark was never sent, so a conforming relay
		// discards what it got.
		return Receipt{}, t.fail("message body", err)
	}
	var rec Receipt
	resp, err := w.CloseWithResponse()
	var se *smtp.SMTPError
	switch {
	case err == nil:
		rec = Receipt{Code: 250, Response: "250 " + resp.StatusText}
	case errors.As(err, &se) && se.Code >= 200 && se.Code < 300:
		// go-smtp wants exactly 250; any 2xx is still an acceptance, and
		// calling it a failure would invite a duplicate.
		rec = Receipt{Code: se.Code, Response: replyText(se)}
	case errors.As(err, &se) && se.Code >= 400 && se.Code < 600:
		return Receipt{}, t.fail("end of DATA", err)
	default: // no reply, or one that says neither yes nor no
		return Receipt{}, &UncertainError{Err: t.wrap("waiting for the reply to the end of DATA", err)}
	}
	// The message is delivered; QUIT is a courtesy, briefly bounded and its
	// failure ignored.
	conn.tighten(time.Now().Add(quitGrace))
	_ = c.Quit()
	return rec, nil
}

// replyText puts a reply go-smtp parsed back together, e.g. "251 2.1.5 Ok".
func replyText(se *smtp.SMTPError) string {
	if se.EnhancedCode == (smtp.EnhancedCode{}) || se.EnhancedCode == smtp.NoEnhancedCode {
		return fmt.Sprintf("%d %s", se.Code, se.Message)
	}
	e := se.EnhancedCode
	return fmt.Sprintf("%d %d.%d.%d %s", se.Code, e[0], e[1], e[2], se.Message)
}

// client opens the SMTP session over conn as smtp.tls says.
func (m *Mailer) client(conn net.Conn) (*smtp.Client, error) {
	tlsCfg := &tls.Config{ServerName: m.cfg.Host, MinVersion: tls.VersionTLS12}
	switch m.cfg.TLS {
	case config.TLSImplicit:
		return smtp.NewClient(tls.Client(conn, tlsCfg)), nil
	case config.TLSNone:
		return smtp.NewClient(conn), nil
	default: // starttls: required, never silently plaintext
		return smtp.NewClientStartTLS(conn, tlsCfg)
	}
}

// transaction names the relay and the bound in errors.
type transaction struct {
	ctx      context.Context
	deadline time.Time // ctx's
	addr     string
}

func (t *transaction) wrap(stage string, err error) error {
	// The connection's deadline and ctx's timer are the same instant but
	// fire independently; when the I/O timed out at the bound, wait for the
	// (already due) timer so the error names which bound it was.
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && !time.Now().Before(t.deadline) {
		<-t.ctx.Done()
	}
	if cause := context.Cause(t.ctx); cause != nil {
		return fmt.Errorf("smtp %s: %s: %w (%w)", t.addr, stage, err, cause)
	}
	return fmt.Errorf("smtp %s: %s: %w", t.addr, stage, err)
}

// fail classifies an error before the message's end was sent: 5xx is
// permanent, anything else temporary.
func (t *transaction) fail(stage string, err error) error {
	err = t.wrap(stage, err)
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code >= 500 && se.Code < 600 {
		return &PermanentError{Err: err}
	}
	return err
}

// boundedConn caps every deadline set on it at limit; a zero deadline ("no
// deadline", which go-smtp sets after each command) becomes limit. It is used
// from one goroutine; closing it from another is safe.
type boundedConn struct {
	net.Conn
	limit time.Time
}

func (c *boundedConn) clamp(t time.Time) time.Time {
	if t.IsZero() || t.After(c.limit) {
		return c.limit
	}
	return t
}

func (c *boundedConn) SetDeadline(t time.Time) error      { return c.Conn.SetDeadline(c.clamp(t)) }
func (c *boundedConn) SetReadDeadline(t time.Time) error  { return c.Conn.SetReadDeadline(c.clamp(t)) }
func (c *boundedConn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(c.clamp(t)) }

// tighten lowers the limit (never raises it) and applies it now.
func (c *boundedConn) tighten(t time.Time) {
	if t.Before(c.limit) {
		c.limit = t
	}
	_ = c.Conn.SetDeadline(c.limit)
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func allASCII(ss []string) bool {
	for _, s := range ss {
		if !ascii(s) {
			return false
		}
	}
	return true
}
