package notices

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/leakwatch/leakwatch/config"
)

// Message is one e-mail.
type Message struct {
	From, To  string
	Subject   string
	Text      string
	HTML      string
	MessageID string // stable per notice revision, so a resend can be de-duplicated
	Date      time.Time
	// Attachment is a file to attach (the sealed order); empty for none.
	Attachment string
}

// Build renders the message as RFC 5322 bytes: multipart/alternative text and
// HTML, wrapped in multipart/mixed when there is an attachment.
func (m Message) Build() ([]byte, error) {
	var buf bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&buf, "%s: %s\r\n", k, v) }
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return nil, fmt.Errorf("from address: %w", err)
	}
	to, err := mail.ParseAddressList(m.To)
	if err != nil {
		return nil, fmt.Errorf("to address: %w", err)
	}
	tos := make([]string, len(to))
	for i, a := range to {
		tos[i] = a.String()
	}
	h("From", from.String())
	h("To", strings.Join(tos, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	h("Date", m.Date.Format(time.RFC1123Z))
	h("Message-ID", m.MessageID)
	h("MIME-Version", "1.0")
	h("Auto-Submitted", "auto-generated")

	alt, err := alternative(m.Text, m.HTML)
	if err != nil {
		return nil, err
	}
	if m.Attachment == "" {
		h("Content-Type", alt.contentType)
		buf.WriteString("\r\n")
		buf.Write(alt.body)
		return buf.Bytes(), nil
	}
	pdf, err := os.ReadFile(m.Attachment)
	if err != nil {
		return nil, fmt.Errorf("read attachment: %w", err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	h("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	buf.WriteString("\r\n")
	pw, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {alt.contentType}})
	if err != nil {
		return nil, err
	}
	pw.Write(alt.body)
	aw, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"application/pdf"},
		"Content-Transfer-Encoding": {"base64"},
		"Content-Disposition":       {mime.FormatMediaType("attachment", map[string]string{"filename": filepath.Base(m.Attachment)})},
	})
	if err != nil {
		return nil, err
	}
	if err := writeBase64Lines(aw, pdf); err != nil {
		return nil, err
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	buf.Write(body.Bytes())
	return buf.Bytes(), nil
}

type part struct {
	contentType string
	body        []byte
}

func alternative(text, html string) (part, error) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range []struct{ ct, s string }{{"text/plain; charset=utf-8", text}, {"text/html; charset=utf-8", html}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{"Content-Type": {p.ct}, "Content-Transfer-Encoding": {"quoted-printable"}})
		if err != nil {
			return part{}, err
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(p.s)); err != nil {
			return part{}, err
		}
		if err := qp.Close(); err != nil {
			return part{}, err
		}
	}
	if err := mw.Close(); err != nil {
		return part{}, err
	}
	return part{contentType: "multipart/alternative; boundary=" + mw.Boundary(), body: b.Bytes()}, nil
}

// writeBase64Lines wraps base64 at 76 characters, as RFC 2045 requires.
func writeBase64Lines(w io.Writer, data []byte) error {
	const line = 57 // bytes per 76-character line
	enc := make([]byte, base64.StdEncoding.EncodedLen(line), base64.StdEncoding.EncodedLen(line)+2)
	for len(data) > 0 {
		n := min(line, len(data))
		m := base64.StdEncoding.EncodedLen(n)
		base64.StdEncoding.Encode(enc[:m], data[:n])
		if _, err := w.Write(append(enc[:m], '\r', '\n')); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// Mailer sends notices through the configured relay.
type Mailer struct {
	cfg      config.SMTPConfig
	password string
}

// NewMailer checks the SMTP settings and reads the password file if any.
func NewMailer(cfg config.SMTPConfig) (*Mailer, error) {
	pw, err := cfg.ResolvePassword()
	if err != nil {
		return nil, err
	}
	return &Mailer{cfg: cfg, password: pw}, nil
}

// PermanentError is a rejection that retrying will not fix (SMTP 5xx).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return "permanent: " + e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Send delivers one message. Errors the relay marks permanent (5xx) come back
// as *PermanentError; everything else is worth retrying.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	raw, err := msg.Build()
	if err != nil {
		return &PermanentError{Err: fmt.Errorf("build message: %w", err)}
	}
	addr := net.JoinHostPort(m.cfg.Host, strconv.Itoa(m.cfg.Port))
	timeout := m.cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect to smtp %s: %w", addr, err)
	}
	deadline := time.Now().Add(timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	conn.SetDeadline(deadline)
	tlsCfg := &tls.Config{ServerName: m.cfg.Host, MinVersion: tls.VersionTLS12}
	var c *smtp.Client
	switch m.cfg.TLS {
	case "implicit":
		tc := tls.Client(conn, tlsCfg)
		c = smtp.NewClient(tc)
	case "none":
		c = smtp.NewClient(conn)
	default: // starttls: required, never silently plaintext
		c, err = smtp.NewClientStartTLS(conn, tlsCfg)
		if err != nil {
			conn.Close()
			return fmt.Errorf("smtp %s: starttls: %w", addr, err)
		}
	}
	defer c.Close()
	if m.cfg.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", m.cfg.Username, m.password)); err != nil {
			return classify(fmt.Errorf("smtp auth: %w", err))
		}
	}
	from, _ := mail.ParseAddress(msg.From)
	to, _ := mail.ParseAddressList(msg.To) // Build parsed it already
	rcpts := make([]string, len(to))
	for i, a := range to {
		rcpts[i] = a.Address
	}
	if err := c.SendMail(from.Address, rcpts, bytes.NewReader(raw)); err != nil {
		return classify(fmt.Errorf("smtp send to %s: %w", addr, err))
	}
	if err := c.Quit(); err != nil {
		// The message was accepted at the end of DATA; a failed QUIT loses nothing.
		return nil
	}
	return nil
}

func classify(err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code >= 500 && se.Code < 600 {
		return &PermanentError{Err: err}
	}
	return err
}
