package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// TestSSHAuditFindsNoFailures runs ssh-audit (Debian's package) against ferryd: it
// must report no [fail] line, and none of the SHA-1 algorithms may be offered.
func TestSSHAuditFindsNoFailures(t *testing.T) {
	d := startDaemon(t, "")
	// Exit 0 good, 1 failures, 2 warnings (mlkem768x25519 is unknown to 2.5.0), 3 failures of other kinds.
	out, err := exec.Command("ssh-audit", "-n", "-t", "10", "-p", d.port, "127.0.0.1").CombinedOutput()
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() != 2) {
		t.Fatalf("ssh-audit: %v\n%s", err, out)
	}
	text := string(out)
	if !strings.Contains(text, "(kex) curve25519-sha256") || !strings.Contains(text, "(key) rsa-sha2-512") {
		t.Fatalf("ssh-audit did not list the algorithms:\n%s", text)
	}
	for _, bad := range []string{"[fail]", "(key) ssh-rsa ", "diffie-hellman-group14-sha1", "(mac) hmac-sha1", "cbc"} {
		if strings.Contains(text, bad) {
			t.Errorf("ssh-audit reports %q:\n%s", bad, text)
		}
	}
}

// TestLegacyAlgorithmsRefused: a client that offers only a SHA-1 algorithm of one
// kind cannot connect; the same client with current algorithms can.
func TestLegacyAlgorithmsRefused(t *testing.T) {
	d := startDaemon(t, "").ready(t)
	base := func() *gossh.ClientConfig {
		return &gossh.ClientConfig{User: "root", Auth: []gossh.AuthMethod{gossh.Password(changedPassword)},
			HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second}
	}
	tests := []struct {
		name string
		set  func(*gossh.ClientConfig)
	}{
		{"ssh-rsa host key signatures", func(c *gossh.ClientConfig) { c.HostKeyAlgorithms = []string{gossh.KeyAlgoRSA} }},
		{"diffie-hellman-group14-sha1", func(c *gossh.ClientConfig) { c.KeyExchanges = []string{gossh.InsecureKeyExchangeDH14SHA1} }},
		{"hmac-sha1-96", func(c *gossh.ClientConfig) {
			c.Ciphers, c.MACs = []string{gossh.CipherAES128CTR}, []string{gossh.InsecureHMACSHA196}
		}},
		{"hmac-sha1", func(c *gossh.ClientConfig) {
			c.Ciphers, c.MACs = []string{gossh.CipherAES128CTR}, []string{gossh.HMACSHA1}
		}},
		{"aes128-cbc", func(c *gossh.ClientConfig) { c.Ciphers = []string{gossh.InsecureCipherAES128CBC} }},
	}
	for _, tc := range tests {
		cfg := base()
		tc.set(cfg)
		if c, err := gossh.Dial("tcp", d.addr, cfg); err == nil {
			c.Close()
			t.Errorf("%s: connected", tc.name)
		} else if !strings.Contains(err.Error(), "no common algorithm") {
			t.Errorf("%s: %v; want no common algorithm", tc.name, err)
		}
	}
	cfg := base()
	cfg.HostKeyAlgorithms = []string{gossh.KeyAlgoRSASHA512}
	c, err := gossh.Dial("tcp", d.addr, cfg)
	if err != nil {
		t.Fatalf("rsa-sha2-512 host key: %v", err)
	}
	c.Close()
}
