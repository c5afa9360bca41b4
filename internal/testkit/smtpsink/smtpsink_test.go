package smtpsink

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	netsmtp "net/smtp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func start(t *testing.T, opts Options) *Sink {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	s, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// send delivers raw with go-smtp's Client over plain TCP. (go-smtp's
// package-level SendMail insists on STARTTLS and verifies against the system
// roots, so it cannot talk to a plaintext or self-signed sink.)
func send(addr string, auth sasl.Client, from string, to []string, raw string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if auth != nil {
		if err := c.Auth(auth); err != nil {
			return err
		}
	}
	if err := c.SendMail(from, to, strings.NewReader(raw)); err != nil {
		return err
	}
	return c.Quit()
}

func message(subject, id, body string) string {
	return "From: Legal Team <legal@example.org>\r\n" +
		"To: abuse@example.net\r\n" +
		"Subject: " + subject + "\r\n" +
		"Message-ID: " + id + "\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" + body + "\r\n"
}

func TestSendAndRecord(t *testing.T) {
	sink := start(t, Options{})
	if !strings.HasPrefix(sink.Addr(), "127.0.0.1:") {
		t.Errorf("default address %s is not loopback", sink.Addr())
	}
	raw := message("=?utf-8?q?Takedown_notice_=E2=80=93_case_42?=", "<notice-42.1@leakwatch.example>", "Please remove the listed URLs.")
	to := []string{"abuse@example.net", "dmca@example.net"}
	before := time.Now()
	if err := send(sink.Addr(), nil, "legal@example.org", to, raw); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
	msgs, err := sink.Wait(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	m := msgs[0]
	if m.From != "legal@example.org" || strings.Join(m.To, ",") != strings.Join(to, ",") {
		t.Errorf("envelope: from %q to %v", m.From, m.To)
	}
	if string(m.Data) != raw {
		t.Errorf("Data differs:\n%q\nwant\n%q", m.Data, raw)
	}
	if m.Subject != "Takedown notice – case 42" {
		t.Errorf("Subject = %q", m.Subject)
	}
	if m.MessageID != "<notice-42.1@leakwatch.example>" {
		t.Errorf("MessageID = %q", m.MessageID)
	}
	if m.Received.Before(before) || m.AuthUser != "" || m.Helo == "" {
		t.Errorf("Received %v, AuthUser %q, Helo %q", m.Received, m.AuthUser, m.Helo)
	}
	if sink.Attempts() != 1 {
		t.Errorf("Attempts = %d", sink.Attempts())
	}

	// Messages returns a copy: changing it must not change the sink.
	got := sink.Messages()
	got[0].Data[0] = 'X'
	got[0].To[0] = "changed"
	if again := sink.Messages(); again[0].Data[0] != 'F' || again[0].To[0] != to[0] {
		t.Error("Messages() exposes internal state")
	}
}

func TestRefuseFirstThenRetry(t *testing.T) {
	sink := start(t, Options{RefuseFirst: 1})
	raw := message("Notice", "<n1@example.org>", "body")
	err := send(sink.Addr(), nil, "legal@example.org", []string{"abuse@example.net"}, raw)
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 451 || !se.Temporary() {
		t.Fatalf("first send: %v, want 451 temporary SMTPError", err)
	}
	if n := len(sink.Messages()); n != 0 || sink.Attempts() != 1 {
		t.Fatalf("after refusal: %d messages, %d attempts", n, sink.Attempts())
	}
	if err := send(sink.Addr(), nil, "legal@example.org", []string{"abuse@example.net"}, raw); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if n := len(sink.Messages()); n != 1 || sink.Attempts() != 2 {
		t.Errorf("after retry: %d messages, %d attempts", n, sink.Attempts())
	}
}

// The standard library client must see a 4xx too; it is what many senders
// use.
func TestRefuseFirstNetSMTP(t *testing.T) {
	sink := start(t, Options{RefuseFirst: 2})
	raw := []byte(message("Notice", "<n2@example.org>", "body"))
	for i := range 3 {
		err := netsmtp.SendMail(sink.Addr(), nil, "legal@example.org", []string{"abuse@example.net"}, raw)
		if i < 2 {
			if err == nil || !strings.HasPrefix(err.Error(), "451") {
				t.Errorf("attempt %d: %v, want 451", i+1, err)
			}
		} else if err != nil {
			t.Errorf("attempt %d: %v", i+1, err)
		}
	}
	if len(sink.Messages()) != 1 || sink.Attempts() != 3 {
		t.Errorf("%d messages, %d attempts", len(sink.Messages()), sink.Attempts())
	}
}

func TestAuthPlain(t *testing.T) {
	sink := start(t, Options{AllowInsecureAuth: true})
	raw := message("Auth", "<a1@example.org>", "body")
	auth := sasl.NewPlainClient("", "notices@example.org", "not-a-real-secret")
	if err := send(sink.Addr(), auth, "notices@example.org", []string{"abuse@example.net"}, raw); err != nil {
		t.Fatalf("SendMail with AUTH: %v", err)
	}
	// net/smtp.PlainAuth allows plaintext only to localhost, which this is.
	host, _, _ := net.SplitHostPort(sink.Addr())
	if err := netsmtp.SendMail(sink.Addr(), netsmtp.PlainAuth("", "second-user", "pw", host), "x@example.org", []string{"abuse@example.net"}, []byte(raw)); err != nil {
		t.Fatalf("net/smtp SendMail with AUTH: %v", err)
	}
	msgs := sink.Messages()
	if len(msgs) != 2 || msgs[0].AuthUser != "notices@example.org" || msgs[1].AuthUser != "second-user" {
		t.Errorf("AuthUser: %+v", msgs)
	}
}

func TestAuthRefusedWithoutInsecureAuth(t *testing.T) {
	sink := start(t, Options{})
	c, err := smtp.Dial(sink.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.SupportsAuth(sasl.Plain) {
		t.Error("AUTH advertised without TLS or AllowInsecureAuth")
	}
	if err := c.Auth(sasl.NewPlainClient("", "u", "p")); err == nil {
		t.Error("AUTH accepted without AllowInsecureAuth")
	}
}

func TestMessageTooLarge(t *testing.T) {
	sink := start(t, Options{MaxMessageBytes: 1024})
	raw := message("Big", "<big@example.org>", strings.Repeat("0123456789abcdef\r\n", 256))
	err := send(sink.Addr(), nil, "a@example.org", []string{"b@example.net"}, raw)
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 552 {
		t.Fatalf("oversized send: %v, want 552", err)
	}
	if len(sink.Messages()) != 0 {
		t.Error("oversized message recorded")
	}
}

func TestWaitAndSubscribe(t *testing.T) {
	sink := start(t, Options{})
	sub := sink.Subscribe(t.Context())

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if msgs, err := sink.Wait(ctx, 1); !errors.Is(err, context.DeadlineExceeded) || len(msgs) != 0 {
		t.Fatalf("Wait on empty sink: %d, %v; want deadline exceeded", len(msgs), err)
	}

	const n = 5
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range n {
			time.Sleep(10 * time.Millisecond)
			raw := message(fmt.Sprintf("msg %d", i), fmt.Sprintf("<m%d@example.org>", i), "body")
			if err := send(sink.Addr(), nil, "a@example.org", []string{"b@example.net"}, raw); err != nil {
				t.Errorf("send %d: %v", i, err)
			}
		}
	})
	wctx, wcancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer wcancel()
	msgs, err := sink.Wait(wctx, n)
	if err != nil || len(msgs) < n {
		t.Fatalf("Wait: %d, %v", len(msgs), err)
	}
	for i := range n {
		select {
		case m := <-sub:
			if want := fmt.Sprintf("msg %d", i); m.Subject != want {
				t.Errorf("subscription message %d: %q, want %q", i, m.Subject, want)
			}
		case <-wctx.Done():
			t.Fatalf("subscription delivered only %d messages", i)
		}
	}
	wg.Wait()

	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-sub; ok {
		t.Error("subscription channel not closed after Close")
	}
	if _, err := sink.Wait(t.Context(), n+1); !errors.Is(err, ErrClosed) {
		t.Errorf("Wait after Close: %v, want ErrClosed", err)
	}
	if err := sink.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestContextEndsSink(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	sink, err := Start(ctx, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	addr := sink.Addr()
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("sink still accepting 5s after ctx ended")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := sink.Close(); err != nil {
		t.Errorf("Close after ctx end: %v", err)
	}
}

func TestStartErrors(t *testing.T) {
	if _, err := Start(t.Context(), Options{RefuseFirst: -1}); err == nil {
		t.Error("negative RefuseFirst accepted")
	}
	sink := start(t, Options{})
	if _, err := Start(t.Context(), Options{Addr: sink.Addr()}); err == nil {
		t.Error("second sink on a busy address started")
	}
}

func TestStartTLS(t *testing.T) {
	sink := start(t, Options{StartTLS: true, Domain: "sink.test"})
	if sink.RootCAs() == nil {
		t.Fatal("RootCAs() = nil with StartTLS")
	}
	c, err := smtp.DialStartTLS(sink.Addr(), &tls.Config{RootCAs: sink.RootCAs(), ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatalf("DialStartTLS: %v", err)
	}
	defer c.Close()
	if _, ok := c.TLSConnectionState(); !ok {
		t.Fatal("connection is not TLS")
	}
	// Over TLS AUTH is offered even without AllowInsecureAuth.
	if err := c.Auth(sasl.NewPlainClient("", "tls-user", "pw")); err != nil {
		t.Fatalf("Auth over TLS: %v", err)
	}
	raw := message("TLS", "<tls@example.org>", "body")
	if err := c.SendMail("a@example.org", []string{"b@example.net"}, strings.NewReader(raw)); err != nil {
		t.Fatalf("SendMail over TLS: %v", err)
	}
	if err := c.Quit(); err != nil {
		t.Errorf("Quit: %v", err)
	}
	msgs := sink.Messages()
	if len(msgs) != 1 || msgs[0].AuthUser != "tls-user" || msgs[0].Subject != "TLS" {
		t.Errorf("messages over TLS: %+v", msgs)
	}
	if start(t, Options{}).RootCAs() != nil {
		t.Error("RootCAs() non-nil without StartTLS")
	}
}
