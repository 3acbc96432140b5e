package httpd_test

import (
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/ferry-appliance/ferry/certs"
	"github.com/ferry-appliance/ferry/net/httpd"
)

// BenchmarkHandshake measures what the lookup at handshake time costs: a
// binding that asks the keystore registry for its certificate on every
// handshake, against a listener with a static tls.Config holding the same
// certificate, in the same run (scripts/bench/tls.sh prints the ratio).
func BenchmarkHandshake(b *testing.B) {
	e := start(b, "")
	port := freePort(b)
	if _, _, err := e.srv.Open(httpd.Spec{Port: port, Bind: "127.0.0.1", Context: "api", Key: certs.AliasWeb}); err != nil {
		b.Fatal(err)
	}
	cert, err := e.keys.Certificate(certs.AliasWeb)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{*cert}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		b.Fatal(err)
	}
	// The same server settings as a binding's, so only the lookup differs.
	static := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	go static.Serve(ln)
	b.Cleanup(func() { static.Close() })

	for _, tc := range []struct {
		name, addr string
	}{
		{"static", ln.Addr().String()},
		{"registry", "127.0.0.1:" + strconv.Itoa(port)},
	} {
		for _, version := range []uint16{tls.VersionTLS13, tls.VersionTLS12} {
			name := tc.name + "/tls1." + strconv.Itoa(int(version-tls.VersionTLS10))
			b.Run(name, func(b *testing.B) {
				cfg := &tls.Config{RootCAs: e.ca, ServerName: "127.0.0.1", MinVersion: version, MaxVersion: version}
				for b.Loop() {
					raw, err := net.Dial("tcp", tc.addr)
					if err != nil {
						b.Fatal(err)
					}
					c := tls.Client(raw, cfg)
					if err := c.Handshake(); err != nil {
						b.Fatal(err)
					}
					c.Close()
				}
			})
		}
	}
}
