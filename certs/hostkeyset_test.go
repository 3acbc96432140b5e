package certs

import (
	"context"
	"errors"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

type mapKeyStore struct {
	keys   map[string][]byte
	putErr error
	puts   int
}

func (m *mapKeyStore) HostKeys() (map[string][]byte, error) { return m.keys, nil }
func (m *mapKeyStore) PutHostKey(alg string, pem []byte) error {
	if m.putErr != nil {
		return m.putErr
	}
	m.puts++
	m.keys[alg] = pem
	return nil
}

func fingerprints(keys []gossh.PublicKey) []string {
	var out []string
	for _, k := range keys {
		out = append(out, gossh.FingerprintSHA256(k))
	}
	return out
}

func TestHostKeySetGeneratesOnceAndReloads(t *testing.T) {
	st := &mapKeyStore{keys: map[string][]byte{}}
	first, err := NewHostKeySet(st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Signers()) != 0 {
		t.Fatal("signers before Start")
	}
	if err := first.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st.puts != len(HostKeyAlgorithms) || len(first.Signers()) != len(HostKeyAlgorithms) {
		t.Fatalf("generated %d keys, signers %d; want %d", st.puts, len(first.Signers()), len(HostKeyAlgorithms))
	}
	again, _ := NewHostKeySet(st, nil)
	if err := again.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st.puts != len(HostKeyAlgorithms) {
		t.Errorf("a second start generated keys again")
	}
	a, b := fingerprints(first.PublicKeys()), fingerprints(again.PublicKeys())
	if len(a) != len(b) || a[0] != b[0] || a[len(a)-1] != b[len(b)-1] {
		t.Errorf("fingerprints changed across starts: %v vs %v", a, b)
	}
	if err := again.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestHostKeySetFailures(t *testing.T) {
	if _, err := NewHostKeySet(nil, nil); err == nil {
		t.Error("NewHostKeySet(nil) succeeded")
	}
	full := errors.New("disk full")
	h, _ := NewHostKeySet(&mapKeyStore{keys: map[string][]byte{}, putErr: full}, nil)
	if err := h.Start(context.Background()); !errors.Is(err, full) {
		t.Errorf("Start with a failing store = %v", err)
	}
	bad, _ := NewHostKeySet(&mapKeyStore{keys: map[string][]byte{HostKeyAlgorithms[0]: []byte("not pem")}}, nil)
	if err := bad.Start(context.Background()); err == nil {
		t.Error("Start with a corrupt stored key succeeded")
	}
}
