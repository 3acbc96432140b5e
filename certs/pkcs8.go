package certs

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509/pkix"
	"encoding/asn1"
)

// maxKDFIterations bounds the PBKDF2 work an untrusted file can ask for.
// OpenSSL uses 2048, current password-manager guidance about 600 000.
const maxKDFIterations = 1 << 21

var (
	oidPBES2       = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 13}
	oidPBKDF2      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 12}
	oidHMACSHA1    = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 7}
	oidHMACSHA224  = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 8}
	oidHMACSHA256  = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 9}
	oidHMACSHA384  = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 10}
	oidHMACSHA512  = asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 11}
	oidAES128CBC   = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 2}
	oidAES192CBC   = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 22}
	oidAES256CBC   = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 1, 42}
	oidDESEDE3CBC  = asn1.ObjectIdentifier{1, 2, 840, 113549, 3, 7}
	oidPBMAC1      = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 5, 14}
	pbes2CipherKey = map[string]int{
		oidAES128CBC.String(): 16, oidAES192CBC.String(): 24, oidAES256CBC.String(): 32, oidDESEDE3CBC.String(): 24,
	}
)

type encryptedPrivateKeyInfo struct {
	Algorithm     pkix.AlgorithmIdentifier
	EncryptedData []byte
}

type pbes2Params struct {
	KDF        pkix.AlgorithmIdentifier
	Encryption pkix.AlgorithmIdentifier
}

type pbkdf2Params struct {
	Salt       []byte
	Iterations int
	KeyLength  int                      `asn1:"optional"`
	PRF        pkix.AlgorithmIdentifier `asn1:"optional"`
}

// decryptPKCS8 opens an ENCRYPTED PRIVATE KEY (RFC 5958) protected with PBES2:
// PBKDF2 with HMAC-SHA-1/2 and AES-CBC or 3DES-CBC, which covers OpenSSL 1.1+
// and 3 (`openssl pkcs8 -topk8`, `openssl req -newkey` and `genpkey` with a
// passphrase). It returns the PKCS#8 DER.
func decryptPKCS8(der, password []byte) ([]byte, error) {
	var info encryptedPrivateKeyInfo
	if rest, err := asn1.Unmarshal(der, &info); err != nil || len(rest) > 0 {
		return nil, fail(ErrCorrupt, "encrypted private key: malformed")
	}
	if !info.Algorithm.Algorithm.Equal(oidPBES2) {
		return nil, fail(ErrUnsupported, "encrypted private key: scheme %v (only PBES2; re-encrypt with openssl pkcs8 -topk8 -v2 aes-256-cbc)", info.Algorithm.Algorithm)
	}
	var params pbes2Params
	if _, err := asn1.Unmarshal(info.Algorithm.Parameters.FullBytes, &params); err != nil {
		return nil, fail(ErrCorrupt, "encrypted private key: malformed PBES2 parameters")
	}
	keyLen, ok := pbes2CipherKey[params.Encryption.Algorithm.String()]
	if !ok {
		return nil, fail(ErrUnsupported, "encrypted private key: cipher %v", params.Encryption.Algorithm)
	}
	var iv []byte
	if _, err := asn1.Unmarshal(params.Encryption.Parameters.FullBytes, &iv); err != nil {
		return nil, fail(ErrCorrupt, "encrypted private key: malformed IV")
	}
	key, err := pbkdf2Key(params.KDF, password, keyLen)
	if err != nil {
		return nil, err
	}
	var block cipher.Block
	if params.Encryption.Algorithm.Equal(oidDESEDE3CBC) {
		block, err = des.NewTripleDESCipher(key)
	} else {
		block, err = aes.NewCipher(key)
	}
	if err != nil {
		return nil, fail(ErrCorrupt, "encrypted private key: %v", err)
	}
	data := info.EncryptedData
	bs := block.BlockSize()
	if len(iv) != bs || len(data) == 0 || len(data)%bs != 0 {
		return nil, fail(ErrCorrupt, "encrypted private key: bad IV or data length")
	}
	plain := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, data)
	// PKCS#7 padding: a mismatch means the password was wrong.
	pad := int(plain[len(plain)-1])
	if pad == 0 || pad > bs {
		return nil, fail(ErrWrongPassword, "")
	}
	for _, b := range plain[len(plain)-pad:] {
		if int(b) != pad {
			return nil, fail(ErrWrongPassword, "")
		}
	}
	return plain[:len(plain)-pad], nil
}

// pbkdf2Key derives the key the PBKDF2 parameters in kdf describe.
func pbkdf2Key(kdf pkix.AlgorithmIdentifier, password []byte, keyLen int) ([]byte, error) {
	if !kdf.Algorithm.Equal(oidPBKDF2) {
		return nil, fail(ErrUnsupported, "encrypted private key: key derivation %v (only PBKDF2)", kdf.Algorithm)
	}
	var p pbkdf2Params
	if _, err := asn1.Unmarshal(kdf.Parameters.FullBytes, &p); err != nil {
		return nil, fail(ErrCorrupt, "encrypted private key: malformed PBKDF2 parameters")
	}
	if p.Iterations < 1 || p.Iterations > maxKDFIterations {
		return nil, fail(ErrUnsupported, "encrypted private key: %d PBKDF2 iterations (at most %d)", p.Iterations, maxKDFIterations)
	}
	if p.KeyLength != 0 && p.KeyLength != keyLen {
		return nil, fail(ErrCorrupt, "encrypted private key: key length %d does not fit the cipher", p.KeyLength)
	}
	pw, salt, n := string(password), p.Salt, p.Iterations
	var (
		key []byte
		err error
	)
	switch prf := p.PRF.Algorithm; {
	case len(prf) == 0 || prf.Equal(oidHMACSHA1):
		key, err = pbkdf2.Key(sha1.New, pw, salt, n, keyLen)
	case prf.Equal(oidHMACSHA224):
		key, err = pbkdf2.Key(sha256.New224, pw, salt, n, keyLen)
	case prf.Equal(oidHMACSHA256):
		key, err = pbkdf2.Key(sha256.New, pw, salt, n, keyLen)
	case prf.Equal(oidHMACSHA384):
		key, err = pbkdf2.Key(sha512.New384, pw, salt, n, keyLen)
	case prf.Equal(oidHMACSHA512):
		key, err = pbkdf2.Key(sha512.New, pw, salt, n, keyLen)
	default:
		return nil, fail(ErrUnsupported, "encrypted private key: PBKDF2 PRF %v", prf)
	}
	if err != nil {
		return nil, fail(ErrUnsupported, "encrypted private key: %v", err)
	}
	return key, nil
}
