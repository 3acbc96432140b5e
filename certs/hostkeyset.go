package certs

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	gossh "golang.org/x/crypto/ssh"
)

// HostKeyStore keeps the SSH host private keys (PEM) by algorithm: the confdb.
type HostKeyStore interface {
	HostKeys() (map[string][]byte, error)
	PutHostKey(algorithm string, pem []byte) error
}

// HostKeySet is the appliance's SSH host keys as a component. Start loads them
// from the confdb and generates the missing ones (on first boot), so the
// fingerprint operators pinned never changes across restarts.
type HostKeySet struct {
	st  HostKeyStore
	log *slog.Logger

	mu      sync.RWMutex
	signers []gossh.Signer
}

// NewHostKeySet validates its dependencies only.
func NewHostKeySet(st HostKeyStore, log *slog.Logger) (*HostKeySet, error) {
	if st == nil {
		return nil, errors.New("host keys: no key store")
	}
	if log == nil {
		log = slog.Default()
	}
	return &HostKeySet{st: st, log: log}, nil
}

// Start loads every algorithm's key, generating and storing those missing.
func (h *HostKeySet) Start(ctx context.Context) error {
	stored, err := h.st.HostKeys()
	if err != nil {
		return err
	}
	var signers []gossh.Signer
	for _, alg := range HostKeyAlgorithms {
		if err := ctx.Err(); err != nil {
			return err
		}
		pem, ok := stored[alg]
		if !ok {
			if pem, err = NewHostKey(alg); err != nil {
				return err
			}
			if err := h.st.PutHostKey(alg, pem); err != nil {
				return err
			}
			h.log.Info("generated SSH host key", "algorithm", alg)
		}
		s, err := ParseHostKey(alg, pem)
		if err != nil {
			return err
		}
		signers = append(signers, s)
	}
	h.mu.Lock()
	h.signers = signers
	h.mu.Unlock()
	return nil
}

// Shutdown has nothing to stop: the keys live in the confdb.
func (h *HostKeySet) Shutdown(context.Context) error { return nil }

// Signers are the private keys, for the SSH server (nil before Start).
func (h *HostKeySet) Signers() []gossh.Signer {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.signers
}

// PublicKeys are the public halves, for ssh.hostKeys.
func (h *HostKeySet) PublicKeys() []gossh.PublicKey {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]gossh.PublicKey, 0, len(h.signers))
	for _, s := range h.signers {
		out = append(out, s.PublicKey())
	}
	return out
}
