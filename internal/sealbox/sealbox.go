// Package sealbox seals small secrets that are kept in the database —
// Telegram sessions, spooled captures — with a key that is not: one derived
// from the fingerprint key (fingerprints.Key.Derive), so a copy of the
// database alone opens none of them.
//
// A sealed message is a random 24-byte nonce followed by the
// XChaCha20-Poly1305 ciphertext. The associated data binds a message to
// where it is kept (an account name, a capture id), so a sealed value
// moved to another row does not open.
package sealbox

import (
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// ErrOpen means a sealed message does not open: another key, other
// associated data, or altered bytes.
var ErrOpen = errors.New("sealbox: message does not open with this key")

// Box seals and opens messages with one key.
type Box struct {
	key []byte
}

// New returns a Box for a 32-byte key.
func New(key []byte) *Box { return &Box{key: key} }

// Seal encrypts plain, bound to ad.
func (b *Box) Seal(plain, ad []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(b.key)
	if err != nil {
		return nil, fmt.Errorf("sealbox: %w", err)
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("sealbox: nonce: %w", err)
	}
	return aead.Seal(nonce, nonce, plain, ad), nil
}

// Open decrypts a message Seal made with the same key and ad; anything
// else is ErrOpen.
func (b *Box) Open(sealed, ad []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(b.key)
	if err != nil {
		return nil, fmt.Errorf("sealbox: %w", err)
	}
	if len(sealed) < aead.NonceSize()+aead.Overhead() {
		return nil, ErrOpen
	}
	plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return plain, nil
}
