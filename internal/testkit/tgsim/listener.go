package tgsim

import (
	"io"
	"net"
	"sync"
	"time"
)

// peekListener hands tgtest a connection only once its first 4 bytes have
// arrived. tgtest's accept loop stops the whole DC server when detecting the
// transport codec fails, which a client that connects and goes away (a
// cancelled dial, a port probe) would otherwise cause. It also tracks the
// connections so that Close can cut them: tgtest's reads ignore context
// cancellation.
type peekListener struct {
	inner net.Listener
	ready chan net.Conn
	done  chan struct{}
	once  sync.Once

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func newPeekListener(l net.Listener) *peekListener {
	p := &peekListener{
		inner: l,
		ready: make(chan net.Conn),
		done:  make(chan struct{}),
		conns: map[net.Conn]struct{}{},
	}
	go p.acceptLoop()
	return p
}

func (p *peekListener) acceptLoop() {
	for {
		c, err := p.inner.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		go p.peek(c)
	}
}

func (p *peekListener) peek(c net.Conn) {
	buf := make([]byte, 4)
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err := io.ReadFull(c, buf)
	_ = c.SetReadDeadline(time.Time{})
	pc := &peekedConn{Conn: c, head: buf, owner: p}
	if err != nil {
		_ = pc.Close()
		return
	}
	select {
	case p.ready <- pc:
	case <-p.done:
		_ = pc.Close()
	}
}

// Accept implements net.Listener.
func (p *peekListener) Accept() (net.Conn, error) {
	select {
	case c := <-p.ready:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting; established connections stay open.
func (p *peekListener) Close() error {
	var err error
	p.once.Do(func() {
		close(p.done)
		err = p.inner.Close()
	})
	return err
}

// Addr implements net.Listener.
func (p *peekListener) Addr() net.Addr { return p.inner.Addr() }

// closeConns closes every accepted connection and refuses new ones.
func (p *peekListener) closeConns() {
	p.mu.Lock()
	p.closed = true
	conns := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

func (p *peekListener) forget(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// peekedConn replays the peeked bytes before reading from the socket.
type peekedConn struct {
	net.Conn
	head  []byte
	owner *peekListener
	once  sync.Once
}

func (c *peekedConn) Read(b []byte) (int, error) {
	if len(c.head) > 0 {
		n := copy(b, c.head)
		c.head = c.head[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

func (c *peekedConn) Close() error {
	c.once.Do(func() { c.owner.forget(c.Conn) })
	return c.Conn.Close()
}
