package badrelay

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

func start(t *testing.T, f Fault) *Relay {
	t.Helper()
	r, err := Start(t.Context(), Options{Fault: f})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if !strings.HasPrefix(r.Addr(), "127.0.0.1:") {
		t.Errorf("listening on %s, not loopback", r.Addr())
	}
	return r
}

// client dials r with go-smtp and short timeouts.
func client(t *testing.T, r *Relay) *smtp.Client {
	t.Helper()
	conn, err := net.Dial("tcp", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClient(conn)
	c.CommandTimeout, c.SubmissionTimeout = 500*time.Millisecond, 500*time.Millisecond
	t.Cleanup(func() { c.Close() })
	return c
}

const raw = "From: a@example.org\r\nTo: b@example.org\r\nSubject: x\r\n\r\n.leading dot\r\nbody\r\n"

func send(c *smtp.Client) (string, error) {
	if err := c.Mail("a@example.org", nil); err != nil {
		return "", err
	}
	if err := c.Rcpt("b@example.org", nil); err != nil {
		return "", err
	}
	w, err := c.Data()
	if err != nil {
		return "", err
	}
	if _, err := w.Write([]byte(raw)); err != nil {
		return "", err
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", err
	}
	return resp.StatusText, nil
}

func TestAccept(t *testing.T) {
	r := start(t, Accept)
	c := client(t, r)
	for i, want := range []string{"2.0.0 Ok: queued as BAD0001", "2.0.0 Ok: queued as BAD0002"} {
		got, err := send(c)
		if err != nil || got != want {
			t.Fatalf("message %d: %q, %v; want %q", i+1, got, err, want)
		}
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
	if got := string(r.LastMessage()); got != raw {
		t.Errorf("last message %q, want %q (dot-unstuffed)", got, raw)
	}
	waitStats(t, r, Stats{Conns: 1, Mails: 2, Rcpts: 2, Data: 2, Messages: 2})
}

func TestFaults(t *testing.T) {
	tests := []struct {
		fault    Fault
		wantCode int // 0: no reply (timeout or reset)
		want     Stats
	}{
		{StallGreeting, 0, Stats{Conns: 1, Hangups: 1}},
		{StallAfterData, 0, Stats{Conns: 1, Mails: 1, Rcpts: 1, Data: 1, Messages: 1, Hangups: 1}},
		{ResetAfterData, 0, Stats{Conns: 1, Mails: 1, Rcpts: 1, Data: 1, Messages: 1}},
		{RejectRcpt, 554, Stats{Conns: 1, Mails: 1, Rcpts: 1, Hangups: 1}},
		{TempFailData, 451, Stats{Conns: 1, Mails: 1, Rcpts: 1, Data: 1, Messages: 1, Hangups: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.fault.String(), func(t *testing.T) {
			r := start(t, tt.fault)
			c := client(t, r)
			_, err := send(c)
			var se *smtp.SMTPError
			switch {
			case err == nil:
				t.Fatal("the faulty relay accepted the message")
			case tt.wantCode == 0 && errors.As(err, &se):
				t.Fatalf("got reply %v, want none", err)
			case tt.wantCode != 0 && (!errors.As(err, &se) || se.Code != tt.wantCode):
				t.Fatalf("got %v, want %d", err, tt.wantCode)
			}
			c.Close()
			waitStats(t, r, tt.want)
		})
	}
}

// StallInData stops reading after 354: a large enough message blocks the
// writer.
func TestStallInData(t *testing.T) {
	r := start(t, StallInData)
	conn, err := net.Dial("tcp", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := smtp.NewClient(conn)
	if err := c.Mail("a@example.org", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@example.org", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, err = w.Write(make([]byte, 16<<20))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("writing 16 MiB to a relay that stopped reading: %v; want a timeout", err)
	}
}

// Close ends stalled sessions instead of waiting for the clients.
func TestCloseEndsStalls(t *testing.T) {
	r, err := Start(t.Context(), Options{Fault: StallGreeting})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	waitStats(t, r, Stats{Conns: 1})
	done := make(chan struct{})
	go func() { r.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close waits for a stalled client")
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Error("the stalled connection is still open")
	}
}

// waitStats waits for the relay's goroutines to count what the client
// already saw (a hang-up is noticed asynchronously).
func waitStats(t *testing.T, r *Relay, want Stats) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.Stats() != want {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v, want %+v", r.Stats(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
