package notices

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/internal/testkit/smtpsink"
	"github.com/leakwatch/leakwatch/internal/testkit/smtpsink/badrelay"
)

// message is follow-up LW-12-2 as the caller would send it: rendered, with
// its PDF and threading.
func message(t *testing.T) Message {
	t.Helper()
	r := render(t, followUp())
	return Message{
		From: "Takedowns <t@claimant.example>", To: "abuse@leaks.example", ReplyTo: "legal@claimant.example",
		Subject: r.Subject, Text: r.Text, HTML: r.HTML, MessageID: "<notice-12-2@leakwatch>", Date: time.Now(),
		InReplyTo: r.InReplyTo, References: r.References,
		Attachments: []Attachment{PDFAttachment("LW-12-2", r.PDF)},
	}
}

func mailer(t *testing.T, addr string, timeout time.Duration) *Mailer {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	m, err := NewMailer(config.SMTPConfig{Host: host, Port: p, TLS: config.TLSNone, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sink(t *testing.T, opts smtpsink.Options) *smtpsink.Sink {
	t.Helper()
	opts.Logger = slog.New(slog.DiscardHandler)
	s, err := smtpsink.Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func relay(t *testing.T, f badrelay.Fault) *badrelay.Relay {
	t.Helper()
	r, err := badrelay.Start(t.Context(), badrelay.Options{Fault: f})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// hook counts BeforeData calls.
type hook struct{ calls atomic.Int32 }

func (h *hook) opts() SendOptions {
	return SendOptions{BeforeData: func(context.Context) error { h.calls.Add(1); return nil }}
}

// isTemporary: neither permanent nor uncertain.
func isTemporary(err error) bool {
	var perm *PermanentError
	var unc *UncertainError
	return err != nil && !errors.As(err, &perm) && !errors.As(err, &unc)
}

// The message arrives once, threaded, with the notice PDF and the sealed
// order attached, and the relay's acceptance comes back as the receipt.
func TestSendDelivers(t *testing.T) {
	s := sink(t, smtpsink.Options{})
	order := filepath.Join(t.TempDir(), "sealed-order.pdf")
	if err := os.WriteFile(order, []byte("%PDF-1.4 sealed order"), 0o600); err != nil {
		t.Fatal(err)
	}
	msg := message(t)
	msg.OrderPDF = order
	var before int
	opt := SendOptions{BeforeData: func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			t.Error("BeforeData's ctx has no deadline")
		}
		before = s.Attempts() // DATA has not begun: nothing arrived yet
		return nil
	}}
	rec, err := mailer(t, s.Addr(), 10*time.Second).Send(t.Context(), msg, opt)
	if err != nil {
		t.Fatal(err)
	}
	if before != 0 {
		t.Errorf("BeforeData ran after %d messages arrived", before)
	}
	if rec.Code != 250 || rec.Response != "250 2.0.0 OK: queued" {
		t.Errorf("receipt %+v", rec)
	}
	got := s.Messages()
	if len(got) != 1 || got[0].MessageID != msg.MessageID || !slices.Equal(got[0].To, []string{"abuse@leaks.example"}) {
		t.Fatalf("sink got %+v", got)
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(got[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"In-Reply-To": "<notice-12-1@leakwatch>", "References": "<notice-12-1@leakwatch>",
		"Reply-To": "<legal@claimant.example>", "Auto-Submitted": "auto-generated",
	} {
		if v := parsed.Header.Get(k); v != want {
			t.Errorf("%s: %q, want %q", k, v, want)
		}
	}
	if ct := parsed.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/mixed") {
		t.Errorf("content type %q", ct)
	}
	if got[0].Subject != msg.Subject {
		t.Errorf("subject %q", got[0].Subject)
	}
	if !strings.Contains(got[0].TextBody(), "LW-12-2") {
		t.Error("text body lacks the reference")
	}
	atts, err := got[0].Attachments()
	if err != nil {
		t.Fatal(err)
	}
	if len(atts) != 2 {
		t.Fatalf("%d attachments", len(atts))
	}
	if a := atts[0]; a.Name != "LW-12-2.pdf" || a.ContentType != "application/pdf" || !bytes.Equal(a.Data, msg.Attachments[0].Data) {
		t.Errorf("notice PDF attachment %q %q, %d bytes", a.Name, a.ContentType, len(a.Data))
	}
	if a := atts[1]; a.Name != "sealed-order.pdf" || string(a.Data) != "%PDF-1.4 sealed order" {
		t.Errorf("order attachment %q %q", a.Name, a.Data)
	}
}

// The relay's final reply, queue ID and all, is the receipt.
func TestSendReceipt(t *testing.T) {
	r := relay(t, badrelay.Accept)
	rec, err := mailer(t, r.Addr(), 10*time.Second).Send(t.Context(), message(t), SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Response != "250 2.0.0 Ok: queued as BAD0001" {
		t.Errorf("receipt %q", rec.Response)
	}
	if !bytes.Contains(r.LastMessage(), []byte("Message-ID: <notice-12-2@leakwatch>")) {
		t.Error("relay did not get the message")
	}
}

// Any 2xx at the end of DATA is an acceptance, even where go-smtp wants 250:
// calling it a failure would invite a duplicate.
func TestSendOddAcceptance(t *testing.T) {
	r := relay(t, badrelay.AcceptOddCode)
	rec, err := mailer(t, r.Addr(), 10*time.Second).Send(t.Context(), message(t), SendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Code != 252 || rec.Response != "252 2.0.0 Ok: queued as ODD0001" {
		t.Errorf("receipt %+v", rec)
	}
}

// The incident: a relay that stalls after the message. Send gives up at
// smtp.timeout, says the message may have been delivered, and the relay
// saw one DATA.
func TestSendStallAfterData(t *testing.T) {
	r := relay(t, badrelay.StallAfterData)
	const timeout = 2 * time.Second
	var h hook
	start := time.Now()
	_, err := mailer(t, r.Addr(), timeout).Send(t.Context(), message(t), h.opts())
	elapsed := time.Since(start)
	var unc *UncertainError
	if !errors.As(err, &unc) {
		t.Fatalf("send to a stalled relay: %v; want *UncertainError", err)
	}
	if elapsed > 10*timeout {
		t.Errorf("returned after %s with smtp.timeout %s", elapsed, timeout)
	}
	if !strings.Contains(err.Error(), "smtp.timeout reached") {
		t.Errorf("error does not name the bound: %v", err)
	}
	if st := r.Stats(); st.Data != 1 || st.Messages != 1 {
		t.Errorf("relay saw %+v; want exactly one DATA and message", st)
	}
	if n := h.calls.Load(); n != 1 {
		t.Errorf("BeforeData ran %d times", n)
	}
}

// The caller's deadline bounds the send when it is earlier than smtp.timeout.
func TestSendCallerDeadline(t *testing.T) {
	r := relay(t, badrelay.StallAfterData)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	start := time.Now()
	_, err := mailer(t, r.Addr(), time.Hour).Send(ctx, message(t), SendOptions{})
	var unc *UncertainError
	if !errors.As(err, &unc) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("send: %v; want *UncertainError from the caller's deadline", err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("returned after %s with a 1s deadline", elapsed)
	}
}

// Cancelling the caller's ctx ends a stalled send at once.
func TestSendCancel(t *testing.T) {
	r := relay(t, badrelay.StallGreeting)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := mailer(t, r.Addr(), time.Hour).Send(ctx, message(t), SendOptions{})
	if !isTemporary(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("send: %v; want a temporary error naming the cancellation", err)
	}
	if elapsed := time.Since(start); elapsed > 10*time.Second {
		t.Errorf("returned after %s", elapsed)
	}
}

// A connection reset after the message is as uncertain as a stall.
func TestSendResetAfterData(t *testing.T) {
	r := relay(t, badrelay.ResetAfterData)
	_, err := mailer(t, r.Addr(), 10*time.Second).Send(t.Context(), message(t), SendOptions{})
	var unc *UncertainError
	if !errors.As(err, &unc) {
		t.Fatalf("send: %v; want *UncertainError", err)
	}
	if st := r.Stats(); st.Data != 1 {
		t.Errorf("relay saw %d DATA", st.Data)
	}
}

// A relay that never greets: temporary, and the caller was never told that
// transmission started.
func TestSendStallGreeting(t *testing.T) {
	r := relay(t, badrelay.StallGreeting)
	const timeout = 2 * time.Second
	var h hook
	start := time.Now()
	_, err := mailer(t, r.Addr(), timeout).Send(t.Context(), message(t), h.opts())
	if !isTemporary(err) {
		t.Fatalf("send: %v; want a temporary error", err)
	}
	if elapsed := time.Since(start); elapsed > 10*timeout {
		t.Errorf("returned after %s with smtp.timeout %s", elapsed, timeout)
	}
	if n := h.calls.Load(); n != 0 {
		t.Errorf("BeforeData ran %d times", n)
	}
}

// A relay that stops reading in the middle of the message: go-smtp sets no
// deadline while the body is written, so only our bound ends it; the end of
// the message never went out, so this is temporary, not uncertain.
func TestSendStallInData(t *testing.T) {
	r := relay(t, badrelay.StallInData)
	const timeout = 2 * time.Second
	msg := message(t)
	// More than the socket buffers hold (the relay keeps its own small), so
	// the writes block.
	msg.Attachments = append(msg.Attachments, Attachment{Name: "big.bin", Data: make([]byte, 8<<20)})
	// Building the message comes before the bound; leave it out of the
	// allowance (it is slow under -race).
	start := time.Now()
	if _, err := msg.Build(); err != nil {
		t.Fatal(err)
	}
	build := time.Since(start)
	start = time.Now()
	_, err := mailer(t, r.Addr(), timeout).Send(t.Context(), msg, SendOptions{})
	if !isTemporary(err) || !strings.Contains(err.Error(), "message body") {
		t.Fatalf("send: %v; want a temporary error while writing the body", err)
	}
	if elapsed := time.Since(start) - build; elapsed > 10*timeout {
		t.Errorf("returned after %s with smtp.timeout %s", elapsed, timeout)
	}
}

// 554 to RCPT is permanent, and DATA never starts.
func TestSendRejectRcpt(t *testing.T) {
	r := relay(t, badrelay.RejectRcpt)
	var h hook
	_, err := mailer(t, r.Addr(), 10*time.Second).Send(t.Context(), message(t), h.opts())
	var perm *PermanentError
	var se *smtp.SMTPError
	if !errors.As(err, &perm) || !errors.As(err, &se) || se.Code != 554 {
		t.Fatalf("send: %v; want *PermanentError with 554", err)
	}
	if st := r.Stats(); st.Data != 0 || h.calls.Load() != 0 {
		t.Errorf("DATA started after a refused recipient: %+v", st)
	}
}

// 451 at the end of DATA is a definite refusal for now: temporary.
func TestSendTempFailData(t *testing.T) {
	r := relay(t, badrelay.TempFailData)
	_, err := mailer(t, r.Addr(), 10*time.Second).Send(t.Context(), message(t), SendOptions{})
	var se *smtp.SMTPError
	if !isTemporary(err) || !errors.As(err, &se) || se.Code != 451 {
		t.Fatalf("send: %v; want a temporary 451", err)
	}
	if st := r.Stats(); st.Messages != 1 {
		t.Errorf("relay saw %+v", st)
	}
}

// An error from BeforeData stops the send before DATA.
func TestSendBeforeDataFails(t *testing.T) {
	r := relay(t, badrelay.Accept)
	boom := errors.New("database is locked")
	_, err := mailer(t, r.Addr(), 10*time.Second).Send(t.Context(), message(t),
		SendOptions{BeforeData: func(context.Context) error { return boom }})
	if !errors.Is(err, boom) || !isTemporary(err) {
		t.Fatalf("send: %v; want the hook's error", err)
	}
	if st := r.Stats(); st.Data != 0 || st.Mails != 1 {
		t.Errorf("relay saw %+v; want MAIL and no DATA", st)
	}
}

// A relay's temporary refusal is retryable; the retry delivers one message
// whose Message-ID is the notice's.
func TestSendRetryable(t *testing.T) {
	s := sink(t, smtpsink.Options{RefuseFirst: 1})
	m := mailer(t, s.Addr(), 10*time.Second)
	msg := message(t)
	if _, err := m.Send(t.Context(), msg, SendOptions{}); !isTemporary(err) {
		t.Fatalf("first send: %v; want a temporary error", err)
	}
	if _, err := m.Send(t.Context(), msg, SendOptions{}); err != nil {
		t.Fatal(err)
	}
	got := s.Messages()
	if len(got) != 1 || got[0].MessageID != msg.MessageID {
		t.Fatalf("sink got %+v", got)
	}
}

// A notice may go to several addresses (Telegram's abuse and DMCA desks):
// one message, every address in To and in the envelope.
func TestSendToSeveral(t *testing.T) {
	s := sink(t, smtpsink.Options{})
	msg := message(t)
	msg.To = "abuse@telegram.example, DMCA Desk <dmca@telegram.example>"
	if _, err := mailer(t, s.Addr(), 10*time.Second).Send(t.Context(), msg, SendOptions{}); err != nil {
		t.Fatal(err)
	}
	got := s.Messages()
	if len(got) != 1 || !slices.Equal(got[0].To, []string{"abuse@telegram.example", "dmca@telegram.example"}) {
		t.Fatalf("sink got %+v", got)
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(got[0].Data))
	if err != nil {
		t.Fatal(err)
	}
	if to := parsed.Header.Get("To"); !strings.Contains(to, "<abuse@telegram.example>") || !strings.Contains(to, "<dmca@telegram.example>") {
		t.Errorf("To header %q", to)
	}
}

// A 5xx refusal from a real go-smtp server is permanent.
func TestSendPermanent(t *testing.T) {
	be := smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return refusingSession{}, nil })
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	_, err = mailer(t, ln.Addr().String(), 10*time.Second).Send(t.Context(), message(t), SendOptions{})
	var perm *PermanentError
	if !errors.As(err, &perm) {
		t.Fatalf("send to a refusing relay: %v; want *PermanentError", err)
	}
}

type refusingSession struct{}

func (refusingSession) Mail(string, *smtp.MailOptions) error { return nil }
func (refusingSession) Rcpt(string, *smtp.RcptOptions) error {
	return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
}
func (refusingSession) Data(io.Reader) error { return nil }
func (refusingSession) Reset()               {}
func (refusingSession) Logout() error        { return nil }

// STARTTLS is required by default: a relay without it is refused rather than
// sent to in plain text.
func TestSendRequiresStartTLS(t *testing.T) {
	s := sink(t, smtpsink.Options{})
	host, port, _ := net.SplitHostPort(s.Addr())
	p, _ := strconv.Atoi(port)
	m, err := NewMailer(config.SMTPConfig{Host: host, Port: p, TLS: config.TLSStartTLS, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Send(t.Context(), message(t), SendOptions{}); err == nil || !strings.Contains(err.Error(), "starttls") {
		t.Fatalf("send without STARTTLS: %v", err)
	}
	if n := len(s.Messages()); n != 0 {
		t.Fatalf("%d messages delivered in plain text", n)
	}
}

// What cannot be sent is refused before connecting, as permanent.
func TestBuildRefuses(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Message)
	}{
		{"bad To", func(m *Message) { m.To = "abuse@telegram.example, not an address" }},
		{"no Message-ID", func(m *Message) { m.MessageID = "" }},
		{"header injection in Message-ID", func(m *Message) { m.MessageID = "<a@b>\r\nBcc: x@y" }},
		{"bad In-Reply-To", func(m *Message) { m.InReplyTo = "notice 1" }},
		{"bad References", func(m *Message) { m.References = []string{"<a@b>", "<c@d> <e@f>"} }},
		{"missing order file", func(m *Message) { m.OrderPDF = "/nonexistent/order.pdf" }},
		{"nameless attachment", func(m *Message) { m.Attachments = []Attachment{{Data: []byte("x")}} }},
		{"bad content type", func(m *Message) { m.Attachments = []Attachment{{Name: "a", ContentType: "not a type"}} }},
	}
	m := mailer(t, "127.0.0.1:9", time.Second) // discard port: must never be dialled
	for _, tt := range tests {
		msg := message(t)
		tt.change(&msg)
		if _, err := msg.Build(); err == nil {
			t.Errorf("%s: built", tt.name)
		}
		_, err := m.Send(t.Context(), msg, SendOptions{})
		var perm *PermanentError
		if !errors.As(err, &perm) {
			t.Errorf("%s: send: %v; want *PermanentError", tt.name, err)
		}
	}
	// A subject cannot add headers either: it is encoded.
	msg := message(t)
	msg.Subject = "Notice\r\nBcc: x@y"
	raw, err := msg.Build()
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("\r\nBcc:")) {
		t.Error("subject injected a header")
	}
}
