// Package badrelay runs a misbehaving SMTP relay on loopback for tests of a
// sender's failure handling: one that never greets, stalls or hangs up after
// the message, or refuses at a chosen step. It speaks just enough SMTP over a
// raw net.Listener to misbehave exactly where asked, which a well-behaved
// server library cannot be made to do (go-smtp greets before any backend
// code runs), and counts what it saw, so a test can assert that a message
// was transmitted exactly once.
package badrelay

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strings"
	"sync"
)

// Fault is where the relay misbehaves.
type Fault int

const (
	// Accept behaves: every message gets "250 2.0.0 Ok: queued as <id>".
	Accept Fault = iota
	// StallGreeting accepts the connection and never says anything.
	StallGreeting
	// StallInData answers DATA with 354 and then stops reading, so a large
	// message fills the socket buffers and the sender's writes block.
	StallInData
	// StallAfterData reads the whole message, end-of-data mark included, and
	// never replies.
	StallAfterData
	// ResetAfterData reads the whole message and resets the connection
	// without replying.
	ResetAfterData
	// RejectRcpt answers every RCPT with 554 5.7.1.
	RejectRcpt
	// TempFailData reads the whole message and answers 451 4.3.0.
	TempFailData
	// AcceptOddCode accepts the message with 252 instead of 250: still a
	// yes, if an unusual one.
	AcceptOddCode
)

// DefaultAddr is where Start listens when Options.Addr is empty.
const DefaultAddr = "127.0.0.1:0"

// Options configures Start.
type Options struct {
	Addr   string // "" means DefaultAddr (loopback, free port)
	Fault  Fault
	Domain string // in the greeting; "" means "badrelay.localhost"
}

// Stats counts what the relay saw, over all connections.
type Stats struct {
	Conns    int // connections accepted
	Mails    int // MAIL commands
	Rcpts    int // RCPT commands
	Data     int // DATA commands
	Messages int // messages read through their end-of-data mark
	Hangups  int // sessions that ended without QUIT: client gone, or a stall dropped by Close
}

// Relay is a running misbehaving relay. It is safe for concurrent use.
type Relay struct {
	ln     net.Listener
	opts   Options
	closed chan struct{}
	wg     sync.WaitGroup

	mu    sync.Mutex
	stats Stats
	conns map[net.Conn]struct{}
	last  []byte // the last message read, dot-unstuffed

	closeOnce sync.Once
}

// Start listens and serves until Close is called or ctx ends.
func Start(ctx context.Context, opts Options) (*Relay, error) {
	opts.Addr = cmp.Or(opts.Addr, DefaultAddr)
	opts.Domain = cmp.Or(opts.Domain, "badrelay.localhost")
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("badrelay: listen on %s: %w", opts.Addr, err)
	}
	r := &Relay{ln: ln, opts: opts, closed: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	r.wg.Add(2)
	go func() {
		defer r.wg.Done()
		r.accept()
	}()
	go func() {
		defer r.wg.Done()
		select {
		case <-ctx.Done():
			r.shut()
		case <-r.closed:
		}
	}()
	return r, nil
}

// Addr is the listening address, host:port.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Stats returns the counts so far.
func (r *Relay) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// LastMessage returns the last message read through its end-of-data mark,
// nil if none.
func (r *Relay) LastMessage() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.last...)
}

// Close stops listening, drops every connection (ending any stall) and waits
// for the relay's goroutines.
func (r *Relay) Close() error {
	r.shut()
	r.wg.Wait()
	return nil
}

func (r *Relay) shut() {
	r.closeOnce.Do(func() {
		close(r.closed)
		r.ln.Close()
		r.mu.Lock()
		for c := range r.conns {
			c.Close()
		}
		r.mu.Unlock()
	})
}

func (r *Relay) accept() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return // closed
		}
		r.mu.Lock()
		select {
		case <-r.closed:
			r.mu.Unlock()
			c.Close()
			return
		default:
		}
		if tc, ok := c.(*net.TCPConn); ok && r.opts.Fault == StallInData {
			// A fixed, small receive buffer (no autotuning) so that a
			// few MiB fill the path and block the sender.
			_ = tc.SetReadBuffer(4 << 10)
		}
		r.conns[c] = struct{}{}
		r.stats.Conns++
		r.mu.Unlock()
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer func() {
				r.mu.Lock()
				delete(r.conns, c)
				r.mu.Unlock()
				c.Close()
			}()
			if err := r.serve(c); err != nil {
				r.count(func(s *Stats) { s.Hangups++ })
			}
		}()
	}
}

func (r *Relay) count(f func(*Stats)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(&r.stats)
}

// errDropped ends a stalled session that Close dropped.
var errDropped = errors.New("badrelay: closed")

// serve runs one session; it returns nil after QUIT and an error when the
// client went away first.
func (r *Relay) serve(c net.Conn) error {
	if r.opts.Fault == StallGreeting {
		return stall(c)
	}
	tr := textproto.NewReader(bufio.NewReader(c))
	say := func(lines ...string) error {
		_, err := io.WriteString(c, strings.Join(lines, "\r\n")+"\r\n")
		return err
	}
	if err := say("220 " + r.opts.Domain + " ESMTP badrelay"); err != nil {
		return err
	}
	queued := 0
	for {
		line, err := tr.ReadLine()
		if err != nil {
			return err
		}
		verb, _, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			err = say("250-"+r.opts.Domain, "250-8BITMIME", "250-ENHANCEDSTATUSCODES", "250 SIZE 104857600")
		case "HELO":
			err = say("250 " + r.opts.Domain)
		case "MAIL":
			r.count(func(s *Stats) { s.Mails++ })
			err = say("250 2.1.0 Ok")
		case "RCPT":
			r.count(func(s *Stats) { s.Rcpts++ })
			if r.opts.Fault == RejectRcpt {
				err = say("554 5.7.1 Relay access denied")
			} else {
				err = say("250 2.1.5 Ok")
			}
		case "DATA":
			r.count(func(s *Stats) { s.Data++ })
			if err := say("354 End data with <CR><LF>.<CR><LF>"); err != nil {
				return err
			}
			if r.opts.Fault == StallInData {
				<-r.closed // read nothing more, whatever the client does
				return errDropped
			}
			msg, err := readData(tr)
			if err != nil {
				return err
			}
			r.mu.Lock()
			r.stats.Messages++
			r.last = msg
			r.mu.Unlock()
			switch r.opts.Fault {
			case StallAfterData:
				return stall(c)
			case ResetAfterData:
				if tc, ok := c.(*net.TCPConn); ok {
					_ = tc.SetLinger(0) // close sends RST, not FIN
				}
				return nil
			case TempFailData:
				err = say("451 4.3.0 Temporary failure, try again later")
			case AcceptOddCode:
				queued++
				err = say(fmt.Sprintf("252 2.0.0 Ok: queued as ODD%04d", queued))
			default:
				queued++
				err = say(fmt.Sprintf("250 2.0.0 Ok: queued as BAD%04d", queued))
			}
		case "RSET", "NOOP":
			err = say("250 2.0.0 Ok")
		case "QUIT":
			_ = say("221 2.0.0 Bye")
			return nil
		default:
			err = say("502 5.5.2 Command not implemented")
		}
		if err != nil {
			return err
		}
	}
}

// readData reads a message through its end-of-data mark, undoing dot
// stuffing and keeping CRLF line ends as they came (textproto's DotReader
// would turn them into LF).
func readData(tr *textproto.Reader) ([]byte, error) {
	var msg []byte
	for {
		line, err := tr.ReadLine()
		if err != nil {
			return nil, err
		}
		if line == "." {
			return msg, nil
		}
		line = strings.TrimPrefix(line, ".")
		msg = append(append(msg, line...), '\r', '\n')
	}
}

// stall holds the connection without a word until the client or Close ends
// it, discarding whatever arrives (so a client that gives up is seen at
// once as EOF).
func stall(c net.Conn) error {
	_, err := io.Copy(io.Discard, c)
	if err == nil {
		err = io.EOF
	}
	return err
}

// String names a fault in test output.
func (f Fault) String() string {
	switch f {
	case Accept:
		return "accept"
	case StallGreeting:
		return "stall-greeting"
	case StallInData:
		return "stall-in-data"
	case StallAfterData:
		return "stall-after-data"
	case ResetAfterData:
		return "reset-after-data"
	case RejectRcpt:
		return "reject-rcpt"
	case TempFailData:
		return "tempfail-data"
	case AcceptOddCode:
		return "accept-odd-code"
	default:
		return fmt.Sprintf("fault(%d)", int(f))
	}
}
