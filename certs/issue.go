package certs

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// MinFilePassword is the shortest password certs.issue and certs.exportCa
// accept for a file they write (keytool's minimum).
const MinFilePassword = 6

// IssueRequest is what certs.issue asks for.
type IssueRequest struct {
	Path     string // a new PKCS12 file
	CN       string
	Kind     Kind
	SANs     []string
	Validity time.Duration
	Password []byte
	Replace  bool // overwrite an existing file
}

// CheckFilePassword refuses a password too short to protect a key file.
func CheckFilePassword(pw []byte) error {
	if len(pw) < MinFilePassword {
		return fmt.Errorf("password: use at least %d characters", MinFilePassword)
	}
	return nil
}

// checkNewFile refuses a relative path, a missing directory and an existing
// file (unless replace), before anything is generated.
func checkNewFile(path string, replace bool) (string, error) {
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("file %q: give an absolute path (a session has no working directory)", path)
	}
	path = filepath.Clean(path)
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
		return "", fmt.Errorf("file %q: directory %s does not exist", path, filepath.Dir(path))
	}
	if _, err := os.Stat(path); err == nil && !replace {
		return "", fmt.Errorf("file %q: already exists (use --force to replace it)", path)
	}
	return path, nil
}

// CheckIssue validates req without generating anything, so the shell can
// refuse before it asks for a password.
func (r *Registry) CheckIssue(req IssueRequest) error {
	if _, err := checkNewFile(req.Path, req.Replace); err != nil {
		return err
	}
	if _, _, err := splitSANs(req.SANs); err != nil {
		return err
	}
	_, err := r.LocalCA()
	return err
}

// Issue signs a new key pair with the local CA and writes it, with the CA
// certificate as its chain, to a new PKCS12 file (0600). It returns the certificate.
func (r *Registry) Issue(req IssueRequest) (*x509.Certificate, error) {
	path, err := checkNewFile(req.Path, req.Replace)
	if err != nil {
		return nil, err
	}
	if err := CheckFilePassword(req.Password); err != nil {
		return nil, err
	}
	ca, err := r.LocalCA()
	if err != nil {
		return nil, err
	}
	if req.Validity <= 0 {
		req.Validity = LeafValidity
	}
	b, err := ca.Issue(req.CN, req.Kind, req.SANs, req.Validity)
	if err != nil {
		return nil, err
	}
	if err := WritePKCS12(path, b, req.Password); err != nil {
		return nil, err
	}
	r.log.Info("certificate issued", "cn", req.CN, "kind", req.Kind.String(), "path", path, "sha256", Fingerprint(b.Cert))
	return b.Cert, nil
}

// ExportFormat is how certs.exportCa writes the CA certificate.
type ExportFormat string

// The export formats.
const (
	ExportPEM ExportFormat = "pem"
	ExportJKS ExportFormat = "jks" // a truststore, as the guide registers ca.jks
)

// ExportFormatFor is the format a path's extension implies: .jks is JKS, anything else PEM.
func ExportFormatFor(path string) ExportFormat {
	if filepath.Ext(path) == ".jks" {
		return ExportJKS
	}
	return ExportPEM
}

// CheckExport validates an export without writing, so the shell can refuse
// before it asks for a password.
func (r *Registry) CheckExport(path string, replace bool) error {
	if _, err := checkNewFile(path, replace); err != nil {
		return err
	}
	_, err := r.LocalCA()
	return err
}

// ExportCA writes the local CA's certificate to path: PEM, or a JKS
// truststore protected by password. It returns the certificate.
func (r *Registry) ExportCA(path string, format ExportFormat, password []byte, replace bool) (*x509.Certificate, error) {
	path, err := checkNewFile(path, replace)
	if err != nil {
		return nil, err
	}
	ca, err := r.LocalCA()
	if err != nil {
		return nil, err
	}
	cert := ca.Certificate()
	switch format {
	case ExportPEM:
		err = WritePEMCert(path, cert)
	case ExportJKS:
		if err = CheckFilePassword(password); err == nil {
			err = WriteJKSTrustStore(path, AliasCA, []*x509.Certificate{cert}, password)
		}
	default:
		err = errors.New("format: use pem or jks")
	}
	if err != nil {
		return nil, err
	}
	return cert, nil
}
