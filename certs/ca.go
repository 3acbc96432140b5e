package certs

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"time"
)

// Ferry's CA and the certificates it issues use ECDSA P-256 keys signed with
// ECDSA-SHA256. Every peer Ferry talks to accepts them (Java 8+ keytool and JSSE,
// GnuTLS in rsyslog, OpenSSL, Go); they make a first boot that generates five
// keys take milliseconds rather than the seconds RSA-3072 needs on a small
// appliance, and keep handshakes cheap, at a strength equal to RSA-3072.
var caCurve = elliptic.P256()

// clockSkew backdates NotBefore so that a peer whose clock runs a little behind
// accepts a certificate issued a moment ago.
const clockSkew = 5 * time.Minute

// Kind is what an issued certificate is for.
type Kind int

// Certificate kinds: Server gets ExtKeyUsageServerAuth, Client ExtKeyUsageClientAuth.
const (
	Server Kind = iota + 1
	Client
)

func (k Kind) String() string {
	switch k {
	case Server:
		return "server"
	case Client:
		return "client"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// ParseKind reads "server" or "client", as certs.issue takes them.
func ParseKind(s string) (Kind, error) {
	switch strings.ToLower(s) {
	case "server":
		return Server, nil
	case "client":
		return Client, nil
	}
	return 0, fmt.Errorf("certificate kind %q is not client or server", s)
}

// CA is Ferry's local certificate authority: a self-signed certificate that
// may sign end-entity certificates only (path length 0), and its key.
type CA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// NewCA generates a CA key and its self-signed certificate valid for validity.
func NewCA(cn string, validity time.Duration) (*CA, error) {
	if strings.TrimSpace(cn) == "" {
		return nil, errors.New("CA common name is empty")
	}
	if validity <= 0 {
		return nil, fmt.Errorf("CA validity %v is not positive", validity)
	}
	key, err := ecdsa.GenerateKey(caCurve, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	skid, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"Ferry"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		SubjectKeyId:          skid,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	return &CA{cert: cert, key: key}, nil
}

// CAFromBundle rebuilds the CA from its stored key and certificate (ca.pfx).
func CAFromBundle(b Bundle) (*CA, error) {
	if b.Cert == nil || b.Key == nil {
		return nil, errors.New("CA bundle has no certificate or no key")
	}
	if !b.Cert.IsCA || !b.Cert.BasicConstraintsValid || b.Cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("certificate %q is not a CA certificate", b.Cert.Subject.String())
	}
	if !keyMatches(b.Key, b.Cert) {
		return nil, fmt.Errorf("CA key does not match certificate %q", b.Cert.Subject.String())
	}
	return &CA{cert: b.Cert, key: b.Key}, nil
}

// Certificate is the CA certificate, the trust anchor peers import.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// Bundle is the CA key and certificate, for storing the CA (ca.pfx).
func (ca *CA) Bundle() Bundle { return Bundle{Key: ca.key, Cert: ca.cert} }

// Issue generates a key and a certificate for cn signed by the CA. sans are
// host names and IP addresses; a server certificate also carries cn as a SAN
// when cn is a host name or an address, since TLS clients ignore the CN. The
// validity ends no later than the CA's.
func (ca *CA) Issue(cn string, kind Kind, sans []string, validity time.Duration) (Bundle, error) {
	if strings.TrimSpace(cn) == "" {
		return Bundle{}, errors.New("certificate common name is empty")
	}
	if validity <= 0 {
		return Bundle{}, fmt.Errorf("certificate validity %v is not positive", validity)
	}
	var usage x509.ExtKeyUsage
	switch kind {
	case Server:
		usage = x509.ExtKeyUsageServerAuth
		if validSAN(cn) && !containsFold(sans, cn) {
			sans = append([]string{cn}, sans...)
		}
	case Client:
		usage = x509.ExtKeyUsageClientAuth
	default:
		return Bundle{}, fmt.Errorf("certificate kind %v is not client or server", kind)
	}
	dns, ips, err := splitSANs(sans)
	if err != nil {
		return Bundle{}, err
	}
	key, err := ecdsa.GenerateKey(caCurve, rand.Reader)
	if err != nil {
		return Bundle{}, fmt.Errorf("generate key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return Bundle{}, err
	}
	skid, err := subjectKeyID(key.Public())
	if err != nil {
		return Bundle{}, err
	}
	now := time.Now()
	notBefore, notAfter := now.Add(-clockSkew), now.Add(validity)
	if notBefore.Before(ca.cert.NotBefore) {
		notBefore = ca.cert.NotBefore
	}
	if notAfter.After(ca.cert.NotAfter) {
		notAfter = ca.cert.NotAfter
	}
	if !notAfter.After(now) {
		return Bundle{}, fmt.Errorf("CA %q expired on %s", ca.cert.Subject.String(), ca.cert.NotAfter.UTC().Format(time.RFC3339))
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{usage},
		BasicConstraintsValid: true,
		DNSNames:              dns,
		IPAddresses:           ips,
		SubjectKeyId:          skid,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return Bundle{}, fmt.Errorf("create certificate for %q: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Bundle{}, fmt.Errorf("parse certificate for %q: %w", cn, err)
	}
	return Bundle{Key: key, Cert: cert, Chain: []*x509.Certificate{ca.cert}}, nil
}

// DefaultServerSANs are the names a server certificate of this host carries:
// the hostname, localhost, 127.0.0.1, ::1 and the addresses of the host's
// interfaces (loopback and link-local ones excepted).
func DefaultServerSANs() []string {
	var sans []string
	add := func(s string) {
		if s != "" && validSAN(s) && !containsFold(sans, s) {
			sans = append(sans, s)
		}
	}
	if h, err := os.Hostname(); err == nil {
		add(h)
	}
	add("localhost")
	add("127.0.0.1")
	add("::1")
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return sans
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() || ipn.IP.IsUnspecified() {
			continue
		}
		add(ipn.IP.String())
	}
	return sans
}

// splitSANs sorts names into DNS names and IP addresses and refuses anything
// that is neither.
func splitSANs(sans []string) ([]string, []net.IP, error) {
	var dns []string
	var ips []net.IP
	for _, s := range sans {
		s = strings.TrimSpace(s)
		if ip := net.ParseIP(s); ip != nil {
			ips = append(ips, ip)
			continue
		}
		if !validDNSName(s) {
			return nil, nil, fmt.Errorf("subject alternative name %q is not a host name or an IP address", s)
		}
		dns = append(dns, strings.ToLower(strings.TrimSuffix(s, ".")))
	}
	return dns, ips, nil
}

func validSAN(s string) bool { return net.ParseIP(s) != nil || validDNSName(s) }

// validDNSName accepts host names as RFC 1123 has them, a leading "*." wildcard
// and underscores (seen in internal names).
func validDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	s = strings.TrimPrefix(s, "*.")
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// randomSerial is a positive 128-bit random serial number.
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("generate serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// subjectKeyID is the leftmost 160 bits of the SHA-256 hash of the
// subjectPublicKey bits (RFC 7093, method 1).
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("decode public key: %w", err)
	}
	sum := sha256.Sum256(spki.PublicKey.Bytes)
	return sum[:20], nil
}
