package shell

import (
	gossh "golang.org/x/crypto/ssh"
)

// The algorithms the shell offers: what a current OpenSSH offers by default,
// less what x/crypto lacks, less the NIST curves (ssh-audit fails them) and the
// encrypt-and-MAC modes; never SHA-1 (ssh-rsa signatures,
// diffie-hellman-group14-sha1, hmac-sha1 and hmac-sha1-96) or CBC.
var (
	keyExchanges = []string{
		gossh.KeyExchangeMLKEM768X25519, // post-quantum hybrid first
		gossh.KeyExchangeCurve25519,     // and its curve25519-sha256@libssh.org alias
		gossh.KeyExchangeDH16SHA512, gossh.KeyExchangeDH14SHA256,
	}
	ciphers = []string{
		gossh.CipherChaCha20Poly1305, gossh.CipherAES128GCM, gossh.CipherAES256GCM,
		gossh.CipherAES128CTR, gossh.CipherAES192CTR, gossh.CipherAES256CTR,
	}
	macs = []string{gossh.HMACSHA256ETM, gossh.HMACSHA512ETM}
	// publicKeyAuths are the client key signatures accepted at login.
	publicKeyAuths = []string{
		gossh.KeyAlgoED25519, gossh.KeyAlgoSKED25519, gossh.KeyAlgoSKECDSA256,
		gossh.KeyAlgoECDSA256, gossh.KeyAlgoECDSA384, gossh.KeyAlgoECDSA521,
		gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256,
	}
	// rsaHostKeySigs are the signatures an RSA host key makes (no ssh-rsa, SHA-1).
	rsaHostKeySigs = []string{gossh.KeyAlgoRSASHA512, gossh.KeyAlgoRSASHA256}
)

// hostSigner restricts an RSA host key to SHA-2 signatures; other keys sign one way only.
func hostSigner(s gossh.Signer) (gossh.Signer, error) {
	as, ok := s.(gossh.AlgorithmSigner)
	if !ok || s.PublicKey().Type() != gossh.KeyAlgoRSA {
		return s, nil
	}
	return gossh.NewSignerWithAlgorithms(as, rsaHostKeySigs)
}
