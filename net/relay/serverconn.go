package relay

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

const (
	handshakeTimeout = 5 * time.Second
	// idleTimeout: a sender pings every heartbeat; this much silence is a
	// dead sender (the listener's side of the heartbeat).
	idleTimeout  = 5 * time.Second
	writeTimeout = 5 * time.Second
)

// serverConn is one sender's connection to a listener.
type serverConn struct {
	l   *Listener
	nc  net.Conn
	out chan []byte // frames to write; full means the sender stopped reading
	// pending holds checked batches for the committer, so that reading
	// (and answering pings) goes on while the committer is busy; a sender
	// keeps at most its window in flight, so full is a broken sender.
	pending chan *job
	done    chan struct{}
	once    sync.Once
	peer    atomic.Pointer[Peer]
}

func (c *serverConn) close() {
	c.once.Do(func() {
		close(c.done)
		c.nc.Close()
	})
}

// send queues a frame; a sender that does not read what it is sent is
// disconnected rather than waited for.
func (c *serverConn) send(f *frame) {
	select {
	case c.out <- appendFrame(nil, f):
	case <-c.done:
	default:
		c.l.log.Warn("sender stopped reading: disconnected", "remote", c.nc.RemoteAddr().String())
		c.close()
	}
}

func (c *serverConn) ack(j *job, dup bool) {
	f := &frame{typ: typeAck, stream: j.stream, first: j.first, last: j.last}
	if dup {
		f.flags = ackDuplicate
	}
	c.send(f)
}

func (c *serverConn) serve() {
	l := c.l
	defer l.wg.Done()
	defer func() {
		c.close()
		l.mu.Lock()
		delete(l.conns, c)
		l.mu.Unlock()
	}()
	remote := c.nc.RemoteAddr().String()
	tc := tls.Server(c.nc, l.tlsConfig())
	c.nc.SetDeadline(time.Now().Add(handshakeTimeout))
	if err := tc.HandshakeContext(l.ctx); err != nil {
		l.refused.Add(1)
		msg := describeTLS(err)
		l.setErr("%s: %s", remote, msg)
		l.log.Error("relay handshake failed", "remote", remote, "err", msg)
		return
	}
	r := newReader(tc)
	hello, err := r.next()
	if err == nil && hello.typ != typeHello {
		err = fmt.Errorf("%w: first frame of type %d, not hello", ErrNotFerry, hello.typ)
	}
	if err != nil {
		l.refused.Add(1)
		l.setErr("%s: %v", remote, err)
		l.log.Error("relay hello failed", "remote", remote, "err", err)
		return
	}
	if hello.version != Version {
		l.refused.Add(1)
		msg := fmt.Sprintf("unsupported relay protocol version %d (this node speaks %d)", hello.version, Version)
		l.setErr("%s: %s", remote, msg)
		l.log.Error("relay hello refused", "remote", remote, "err", msg)
		tc.Write(appendFrame(nil, &frame{typ: typeError, msg: msg}))
		return
	}
	id := l.cfg.Identity()
	c.peer.Store(&Peer{ID: rand.Uint32(), GUID: hello.guid, Name: hello.name, Remote: remote})
	if _, err := tc.Write(appendFrame(nil, &frame{typ: typeWelcome, version: Version, guid: id.GUID, name: id.Name})); err != nil {
		return
	}
	c.nc.SetDeadline(time.Time{})
	l.log.Info("relay sender connected", "remote", remote, "guid", hello.guid, "name", hello.name)
	l.wg.Add(2)
	go c.write(tc)
	go c.submit()
	for {
		c.nc.SetReadDeadline(time.Now().Add(idleTimeout))
		f, err := r.next()
		if err != nil {
			select {
			case <-c.done: // closed by us
			default:
				if !errors.Is(err, io.EOF) {
					l.setErr("%s: %v", remote, err)
					l.log.Warn("relay sender connection lost", "remote", remote, "err", err)
				}
			}
			return
		}
		switch f.typ {
		case typePing:
			c.send(&frame{typ: typePong, nonce: f.nonce})
		case typeBatch:
			if err := c.batch(f); err != nil {
				l.setErr("%s: %v", remote, err)
				l.log.Error("relay batch refused; connection closed", "remote", remote, "err", err)
				c.send(&frame{typ: typeError, msg: err.Error()})
				time.Sleep(50 * time.Millisecond) // let the error go out first
				return
			}
		default:
			err := errFrame("frame of type %d from a sender", f.typ)
			l.setErr("%s: %v", remote, err)
			c.send(&frame{typ: typeError, msg: err.Error()})
			return
		}
	}
}

// batch checks a batch and hands it to the committer.
func (c *serverConn) batch(f *frame) error {
	l := c.l
	if f.codec != CodecSpool {
		return fmt.Errorf("batch %d: codec %d is not known (this node knows %d)", f.first, f.codec, CodecSpool)
	}
	if f.stream == "" {
		return errFrame("batch %d: no stream", f.first)
	}
	if err := l.dec.Check(f.payload, int(f.count)); err != nil {
		l.corrupt.Add(uint64(f.count))
		return fmt.Errorf("batch %d-%d of stream %q does not decode: %w", f.first, f.first+uint64(f.count)-1, f.stream, err)
	}
	l.batches.Add(1)
	l.events.Add(uint64(f.count))
	j := &job{c: c, stream: f.stream, first: f.first, last: f.first + uint64(f.count) - 1, count: int(f.count), payload: f.payload}
	select {
	case c.pending <- j:
		return nil
	default:
		return errFrame("more than %d batches in flight", cap(c.pending))
	}
}

// submit hands the connection's batches to the committer in order.
func (c *serverConn) submit() {
	defer c.l.wg.Done()
	for {
		select {
		case <-c.done:
			return
		case j := <-c.pending:
			select {
			case c.l.jobs <- j:
			case <-c.done:
				return
			case <-c.l.ctx.Done():
				return
			}
		}
	}
}

func (c *serverConn) write(w io.Writer) {
	defer c.l.wg.Done()
	for {
		select {
		case <-c.done:
			return
		case b := <-c.out:
			c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
			if _, err := w.Write(b); err != nil {
				c.close()
				return
			}
		}
	}
}
