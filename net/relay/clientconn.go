package relay

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// clientConn is one connection to a base, after hello.
type clientConn struct {
	c                  *Client
	nc                 net.Conn
	tc                 *tls.Conn
	r                  *reader
	id                 uint32
	peerGUID, peerName string
	remote             string

	out      chan []byte
	done     chan struct{}
	once     sync.Once
	reason   atomic.Pointer[error] // why it was closed, if by us
	pingFail atomic.Int64
	queued   atomic.Int64
	lastRecv atomic.Int64 // unix nanos
}

// dial connects, handshakes and says hello. Its errors are the lines an
// operator reads in forwarder.bases and the daemon log.
func (c *Client) dial(ctx context.Context, m *member) (*clientConn, error) {
	cert, err := c.cfg.Keys.Certificate(m.Key)
	if err != nil {
		return nil, err // `keystore "ferry-sentry": failed: keystore password was incorrect`
	}
	pool, err := c.cfg.Keys.TrustPool(m.Trust)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: handshakeTimeout, KeepAlive: -1}
	nc, err := d.DialContext(ctx, "tcp", m.Addr)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			err = oe.Err
		}
		return nil, fmt.Errorf("connect %s: %w", m.Addr, err)
	}
	tc := tls.Client(nc, &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{*cert},
		// The base is checked against the trust alias's CA, not against a
		// host name: bases are reached by address, and both ends hold
		// certificates from one private CA (the guide's procedure).
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("No trusted certificate found (the base sent none)")
			}
			inter := x509.NewCertPool()
			for _, ic := range cs.PeerCertificates[1:] {
				inter.AddCert(ic)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter,
				KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if err != nil {
				return fmt.Errorf("No trusted certificate found (%v)", err)
			}
			return nil
		}})
	nc.SetDeadline(time.Now().Add(handshakeTimeout))
	fail := func(err error) (*clientConn, error) {
		nc.Close()
		return nil, fmt.Errorf("%s: %s", m.Addr, describeTLS(err))
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return fail(err)
	}
	id := c.cfg.Identity()
	if _, err := tc.Write(appendFrame(nil, &frame{typ: typeHello, version: Version, guid: id.GUID, name: id.Name})); err != nil {
		return fail(err)
	}
	r := newReader(tc)
	w, err := r.next()
	switch {
	case err != nil:
		return fail(err)
	case w.typ == typeError:
		return fail(fmt.Errorf("the base refused: %s", w.msg))
	case w.typ != typeWelcome:
		return fail(fmt.Errorf("%w: answered hello with a frame of type %d", ErrNotFerry, w.typ))
	case w.version != Version:
		return fail(fmt.Errorf("the base speaks relay protocol version %d, this node %d", w.version, Version))
	}
	nc.SetDeadline(time.Time{})
	cc := &clientConn{c: c, nc: nc, tc: tc, r: r, id: rand.Uint32(), peerGUID: w.guid, peerName: w.name, remote: nc.RemoteAddr().String(),
		out: make(chan []byte, c.cfg.Window+16), done: make(chan struct{})}
	cc.lastRecv.Store(time.Now().UnixNano())
	return cc, nil
}

// describeTLS turns handshake and read errors into the guide's words.
func describeTLS(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrNotFerry):
		return err.Error()
	case errors.As(err, &ne) && ne.Timeout():
		return "no answer within " + handshakeTimeout.String() + " (is it a Ferry relay listener?)"
	}
	msg := err.Error()
	var ue x509.UnknownAuthorityError
	var ce *tls.CertificateVerificationError
	switch {
	case strings.Contains(msg, "No trusted certificate found"):
		return msg
	case errors.As(err, &ue), errors.As(err, &ce):
		return "No trusted certificate found (" + msg + ")"
	case strings.Contains(msg, "remote error: tls: unknown certificate authority"),
		strings.Contains(msg, "remote error: tls: bad certificate"),
		strings.Contains(msg, "remote error: tls: certificate required"):
		return "the peer refused our certificate: No trusted certificate found there (" + msg + ")"
	case strings.Contains(msg, "first record does not look like a TLS handshake"),
		strings.Contains(msg, "tls: ") && strings.Contains(msg, "record"):
		return "peer does not speak TLS: not a Ferry relay listener (" + msg + ")"
	}
	return msg
}

// fail closes the connection for err, which run then returns.
func (cc *clientConn) fail(err error) error {
	cc.reason.CompareAndSwap(nil, &err)
	cc.close()
	return err
}

func (cc *clientConn) close() {
	cc.once.Do(func() {
		close(cc.done)
		cc.nc.Close()
	})
}

// send queues a frame; the dispatcher never has more in flight than the
// channel holds, so it does not wait.
func (cc *clientConn) send(b []byte) {
	select {
	case cc.out <- b:
		cc.queued.Add(1)
	case <-cc.done:
	default:
		cc.close() // cannot happen within the window; a wedged writer is a dead connection
	}
}

// run reads acknowledgements and pongs, writes what is queued, and pings,
// until the connection fails, the base goes silent, or ctx ends.
func (cc *clientConn) run(ctx context.Context, m *member, events chan<- memberEvent) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cc.close()
	wg.Add(2)
	go func() {
		defer wg.Done()
		cc.write()
	}()
	go func() {
		defer wg.Done()
		cc.heartbeat()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
			cc.close()
		case <-cc.done:
		}
	}()
	for {
		cc.nc.SetReadDeadline(time.Now().Add(4 * cc.c.cfg.DeadAfter))
		f, err := cc.r.next()
		if err != nil {
			if r := cc.reason.Load(); r != nil { // the writer or the heartbeat saw it first
				return *r
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("connection lost: %s", describeTLS(err))
		}
		cc.lastRecv.Store(time.Now().UnixNano())
		cc.pingFail.Store(0)
		switch f.typ {
		case typePong:
		case typeAck:
			cc.queued.Add(-1)
			select {
			case events <- memberEvent{m: m, c: cc, ack: true, stream: f.stream, first: f.first, last: f.last, dup: f.flags&ackDuplicate != 0}:
			case <-ctx.Done():
				return ctx.Err()
			}
		case typeError:
			return fmt.Errorf("the base closed the connection: %s", f.msg)
		default:
			return errFrame("frame of type %d from a base", f.typ)
		}
	}
}

func (cc *clientConn) write() error {
	for {
		select {
		case <-cc.done:
			return errors.New("closed")
		case b := <-cc.out:
			cc.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
			if _, err := cc.tc.Write(b); err != nil {
				return cc.fail(fmt.Errorf("write: %s", describeTLS(err)))
			}
		}
	}
}

// heartbeat pings; a base silent for DeadAfter is dead (application level:
// a TCP keepalive would take minutes).
func (cc *clientConn) heartbeat() error {
	t := time.NewTicker(cc.c.cfg.Heartbeat)
	defer t.Stop()
	var nonce uint64
	for {
		select {
		case <-cc.done:
			return errors.New("closed")
		case <-t.C:
		}
		silent := time.Since(time.Unix(0, cc.lastRecv.Load()))
		if silent > cc.c.cfg.Heartbeat {
			cc.pingFail.Add(1)
		}
		if silent > cc.c.cfg.DeadAfter {
			return cc.fail(fmt.Errorf("no answer to heartbeats for %s", silent.Round(time.Millisecond)))
		}
		nonce++
		select {
		case cc.out <- appendFrame(nil, &frame{typ: typePing, nonce: nonce}):
		default: // the writer is behind: its own silence will tell
		}
	}
}
