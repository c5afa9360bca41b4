package notices

import (
	"context"
	"errors"
	"io"
	"net"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/leakwatch/leakwatch/config"
	"github.com/leakwatch/leakwatch/internal/testkit/smtpsink"
)

func injunction() config.InjunctionConfig {
	return config.InjunctionConfig{
		Court: "High Court of New Zealand", FileNumber: "CIV-2026-404-000123", DateOfOrders: "2026-01-05",
		Claimant: "Example Health Portal Limited", Defendants: "Unknown Defendants",
		Terms:   "Any person must immediately delete and take down links or publications of the data.",
		Contact: config.ContactConfig{Name: "Legal", Email: "legal@claimant.example"},
	}
}

func data() Data {
	at := time.Date(2026, 11, 25, 20, 0, 0, 0, time.UTC)
	return Data{
		Injunction: injunction(), CaseID: 3, Revision: 1, Target: "leaks.example", Recipient: "abuse@leaks.example",
		DraftedAt: at, Deadline: at.Add(48 * time.Hour),
		Items: []Item{{URL: "http://leaks.example/files/1/a.pdf?x=<script>", CapturedAt: at, SHA256: strings.Repeat("ab", 32)}},
	}
}

func TestRender(t *testing.T) {
	tm, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	r, err := tm.Render(data())
	if err != nil {
		t.Fatal(err)
	}
	for _, part := range []string{r.Text, r.HTML} {
		for _, want := range []string{"High Court of New Zealand", "CIV-2026-404-000123", "2026-01-05", "Unknown Defendants",
			"immediately delete and take down", strings.Repeat("ab", 32), "2026-11-27 20:00:00 UTC", "legal@claimant.example"} {
			if !strings.Contains(part, want) {
				t.Errorf("notice lacks %q", want)
			}
		}
	}
	if !strings.Contains(r.Text, "<script>") || strings.Contains(r.HTML, "<script>") {
		t.Error("the HTML notice must escape what came from the leak site")
	}
	if !strings.Contains(r.Subject, "CIV-2026-404-000123") || !strings.Contains(r.Subject, "leaks.example") {
		t.Errorf("subject %q", r.Subject)
	}

	d := data()
	d.Injunction.FileNumber, d.Injunction.Terms = "", ""
	if _, err := tm.Render(d); err == nil || !strings.Contains(err.Error(), "injunction.file_number") {
		t.Errorf("render without file number: %v", err)
	}
	d = data()
	d.Items = nil
	if _, err := tm.Render(d); err == nil {
		t.Error("render with no items succeeded")
	}
}

func message(t *testing.T) Message {
	tm, _ := Load()
	r, err := tm.Render(data())
	if err != nil {
		t.Fatal(err)
	}
	return Message{From: "Takedowns <t@claimant.example>", To: "abuse@leaks.example", Subject: r.Subject, Text: r.Text,
		HTML: r.HTML, MessageID: "<notice-3-1@leakwatch>", Date: time.Now()}
}

func mailer(t *testing.T, addr string) *Mailer {
	host, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	m, err := NewMailer(config.SMTPConfig{Host: host, Port: p, TLS: "none", Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A relay's temporary refusal is retryable; the retry delivers one message
// whose Message-ID is the notice's.
func TestSendRetryable(t *testing.T) {
	ctx := context.Background()
	sink, err := smtpsink.Start(ctx, smtpsink.Options{RefuseFirst: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	m := mailer(t, sink.Addr())
	msg := message(t)
	err = m.Send(ctx, msg)
	var perm *PermanentError
	if err == nil || errors.As(err, &perm) {
		t.Fatalf("first send: %v; want a temporary error", err)
	}
	if err := m.Send(ctx, msg); err != nil {
		t.Fatal(err)
	}
	got := sink.Messages()
	if len(got) != 1 || got[0].MessageID != msg.MessageID || got[0].To[0] != "abuse@leaks.example" {
		t.Fatalf("sink got %+v", got)
	}
	parsed, err := mail.ReadMessage(strings.NewReader(string(got[0].Data)))
	if err != nil {
		t.Fatal(err)
	}
	if ct := parsed.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/alternative") {
		t.Errorf("content type %q", ct)
	}
}

// A notice may go to several addresses (Telegram's abuse and DMCA desks):
// one message, every address in To and in the envelope.
func TestSendToSeveral(t *testing.T) {
	ctx := context.Background()
	sink, err := smtpsink.Start(ctx, smtpsink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	msg := message(t)
	msg.To = "abuse@telegram.example, DMCA Desk <dmca@telegram.example>"
	if err := mailer(t, sink.Addr()).Send(ctx, msg); err != nil {
		t.Fatal(err)
	}
	got := sink.Messages()
	if len(got) != 1 || !slices.Equal(got[0].To, []string{"abuse@telegram.example", "dmca@telegram.example"}) {
		t.Fatalf("sink got %+v", got)
	}
	parsed, err := mail.ReadMessage(strings.NewReader(string(got[0].Data)))
	if err != nil {
		t.Fatal(err)
	}
	if to := parsed.Header.Get("To"); !strings.Contains(to, "<abuse@telegram.example>") || !strings.Contains(to, "<dmca@telegram.example>") {
		t.Errorf("To header %q", to)
	}
	msg.To = "abuse@telegram.example, not an address"
	if _, err := msg.Build(); err == nil {
		t.Error("a list with a bad address was accepted")
	}
}

// A 5xx refusal is permanent: retrying will not help.
func TestSendPermanent(t *testing.T) {
	be := smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return refusingSession{}, nil })
	srv := smtp.NewServer(be)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	err = mailer(t, ln.Addr().String()).Send(context.Background(), message(t))
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
	ctx := context.Background()
	sink, err := smtpsink.Start(ctx, smtpsink.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	host, port, _ := net.SplitHostPort(sink.Addr())
	p, _ := strconv.Atoi(port)
	m, err := NewMailer(config.SMTPConfig{Host: host, Port: p, TLS: "starttls", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(ctx, message(t)); err == nil || !strings.Contains(err.Error(), "starttls") {
		t.Fatalf("send without STARTTLS: %v", err)
	}
	if n := len(sink.Messages()); n != 0 {
		t.Fatalf("%d messages delivered in plain text", n)
	}
}
