package commands

import (
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/ferry-appliance/ferry/accounts"
	"github.com/ferry-appliance/ferry/certs"
	"github.com/ferry-appliance/ferry/internal/termsafe"
	"github.com/ferry-appliance/ferry/shell"
)

func certsCommands(ks KeystoreService) ([]shell.Command, error) {
	if err := need("keystore registry", ks); err != nil {
		return nil, err
	}
	k := &certCmds{ks: ks}
	return []shell.Command{
		{Name: "certs.issue", Usage: "PATH CN client|server", Help: "Issue a certificate from the local CA into a new PKCS12 file (asks its password)",
			Detail: "This is how another Ferry, or an rsyslog peer, gets credentials: copy the file there with\n" +
				"ca.jks (certs.exportCa) and register both. A server certificate carries CN as a SAN when\n" +
				"it is a host name or an address. The CA is the key under alias ferry-ca-key.",
			Role: accounts.Admin, MinArgs: 3, MaxArgs: 3, AsksSecrets: true, Run: k.issue,
			Flags: []shell.Flag{
				{Name: "san", Value: "NAME,...", Help: "more host names and IP addresses"},
				{Name: "days", Value: "N", Help: fmt.Sprintf("validity in days (default %d, never past the CA's)", int(certs.LeafValidity.Hours()/24))},
				{Name: "force", Help: "replace an existing file"},
			}},
		{Name: "certs.exportCa", Usage: "PATH", Help: "Write the local CA certificate: PEM, or a JKS truststore for a .jks path",
			Detail: "A .jks file asks for its password; any other name is PEM, which needs none.",
			Role:   accounts.Admin, MinArgs: 1, MaxArgs: 1, AsksSecrets: true, Run: k.exportCA,
			Flags: []shell.Flag{
				{Name: "format", Value: "pem|jks", Help: "the file's format (default: from the extension)"},
				{Name: "force", Help: "replace an existing file"},
			}},
		{Name: "certs.ca", Help: "Show the local CA: subject, validity and SHA-256 fingerprint",
			Role: accounts.Viewer, Flags: []shell.Flag{shell.JSONFlag}, Run: k.showCA},
	}, nil
}

type certCmds struct{ ks KeystoreService }

func (k *certCmds) issue(c *shell.Ctx) error {
	req := certs.IssueRequest{Path: c.Args[0], CN: c.Args[1], Replace: c.Flag("force")}
	kind, err := certs.ParseKind(c.Args[2])
	if err != nil {
		return c.Usagef("%v", err)
	}
	req.Kind = kind
	if s, ok := c.FlagString("san"); ok {
		for _, san := range strings.Split(s, ",") {
			if san = strings.TrimSpace(san); san != "" {
				req.SANs = append(req.SANs, san)
			}
		}
	}
	days, err := c.FlagInt("days", int(certs.LeafValidity.Hours()/24), 1, 36500)
	if err != nil {
		return err
	}
	req.Validity = time.Duration(days) * 24 * time.Hour
	if err := k.ks.CheckIssue(req); err != nil {
		return err
	}
	if req.Password, err = askFilePassword(c); err != nil {
		return err
	}
	cert, err := k.ks.Issue(req)
	if err != nil {
		return err
	}
	c.Printf("%s\n", termsafe.Escape(fmt.Sprintf("issued %s (%s), valid until %s", cert.Subject.String(), kind, cert.NotAfter.UTC().Format(time.DateOnly))))
	if sans := certs.SANs(cert); len(sans) > 0 {
		c.Printf("%s\n", termsafe.Escape("  SANs:    "+strings.Join(sans, ", ")))
	}
	c.Printf("  SHA-256: %s\n", certs.Fingerprint(cert))
	c.Printf("%s\n", termsafe.Escape(fmt.Sprintf("  written: %s (PKCS12, mode 0600)", req.Path)))
	return nil
}

// askFilePassword asks for the password of a file about to be written; an
// interactive session, where a typo is invisible, asks twice.
func askFilePassword(c *shell.Ctx) ([]byte, error) {
	pw, err := c.PromptSecret("password? ")
	if err != nil {
		return nil, err
	}
	if err := certs.CheckFilePassword([]byte(pw)); err != nil {
		return nil, err
	}
	if c.Mode == shell.Interactive {
		again, err := c.PromptSecret("password again? ")
		if err != nil {
			return nil, err
		}
		if again != pw {
			return nil, errPasswordsDiffer
		}
	}
	return []byte(pw), nil
}

func (k *certCmds) exportCA(c *shell.Ctx) error {
	path := c.Args[0]
	format := certs.ExportFormatFor(path)
	if f, ok := c.FlagString("format"); ok {
		switch certs.ExportFormat(strings.ToLower(f)) {
		case certs.ExportPEM, certs.ExportJKS:
			format = certs.ExportFormat(strings.ToLower(f))
		default:
			return c.Usagef("--format %q: use pem or jks", f)
		}
	}
	if err := k.ks.CheckExport(path, c.Flag("force")); err != nil {
		return err
	}
	var pw []byte
	if format == certs.ExportJKS {
		var err error
		if pw, err = askFilePassword(c); err != nil {
			return err
		}
	}
	cert, err := k.ks.ExportCA(path, format, pw, c.Flag("force"))
	if err != nil {
		return err
	}
	c.Printf("%s\n", termsafe.Escape(fmt.Sprintf("wrote %s (%s): %s, SHA-256 %s", path, strings.ToUpper(string(format)), cert.Subject.String(), certs.Fingerprint(cert))))
	return nil
}

type caView struct {
	Alias     string    `json:"alias"`
	Subject   string    `json:"subject"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	SHA256    string    `json:"sha256"`
}

func (k *certCmds) showCA(c *shell.Ctx) error {
	ca, err := k.ks.LocalCA()
	if err != nil {
		return err
	}
	v := newCAView(ca.Certificate())
	if c.Flag("json") {
		return c.WriteJSON(v)
	}
	for _, l := range []string{
		"alias:    " + v.Alias,
		"subject:  " + v.Subject,
		"valid:    " + v.NotBefore.Format(time.RFC3339) + " to " + v.NotAfter.Format(time.RFC3339),
		"SHA-256:  " + v.SHA256,
	} {
		c.Printf("%s\n", termsafe.Escape(l))
	}
	return nil
}

func newCAView(cert *x509.Certificate) caView {
	return caView{Alias: certs.AliasCAKey, Subject: cert.Subject.String(), NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC(), SHA256: certs.Fingerprint(cert)}
}
