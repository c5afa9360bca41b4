package fingerprints

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KeyEnv names the environment variable that may hold the fingerprint key.
const KeyEnv = "LEAKWATCH_FINGERPRINT_KEY"

// MinKeyBytes is the shortest accepted secret.
const MinKeyBytes = 32

// Key is the secret every stored text, field and image fingerprint is keyed
// with. It lives outside the database (environment or a key file); the
// database records only its ID, so a stolen database reveals nothing that
// can be checked against known values.
type Key struct {
	secret []byte
	id     string
}

// NewKey wraps a secret of at least MinKeyBytes bytes.
func NewKey(secret []byte) (*Key, error) {
	if len(secret) < MinKeyBytes {
		return nil, fmt.Errorf("fingerprint key: %d bytes, need at least %d (generate one with: openssl rand -hex 32)", len(secret), MinKeyBytes)
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("leakwatch fingerprint key id"))
	return &Key{secret: append([]byte(nil), secret...), id: "kid_" + hex.EncodeToString(m.Sum(nil)[:8])}, nil
}

// ParseKey decodes a key written as hex or base64 (standard or URL, padded or not).
func ParseKey(s string) (*Key, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("fingerprint key is empty")
	}
	if b, err := hex.DecodeString(s); err == nil {
		return NewKey(b)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return NewKey(b)
		}
	}
	return nil, errors.New("fingerprint key: not hex or base64")
}

// LoadKey reads the key from the environment variable KeyEnv, or else from
// keyFile. Neither is an error that says how to make one.
func LoadKey(getenv func(string) string, keyFile string) (*Key, error) {
	if v := getenv(KeyEnv); v != "" {
		k, err := ParseKey(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", KeyEnv, err)
		}
		return k, nil
	}
	if keyFile == "" {
		return nil, fmt.Errorf("no fingerprint key: set %s or fingerprints.key_file (generate one with: openssl rand -hex 32)", KeyEnv)
	}
	b, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("fingerprint key file: %w", err)
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("fingerprint key file %s: %w", keyFile, err)
	}
	return k, nil
}

// ID identifies the key without revealing it; the index stores it and
// refuses a different key.
func (k *Key) ID() string { return k.id }

// Derive returns a 32-byte subkey for one purpose (HKDF-SHA256), so a subkey
// that leaks through one layer says nothing about the others.
func (k *Key) Derive(label string) []byte {
	b, err := hkdf.Key(sha256.New, k.secret, nil, "leakwatch/"+label, 32)
	if err != nil {
		panic("hkdf: " + err.Error()) // only for lengths sha256 cannot produce
	}
	return b
}

// MAC returns HMAC-SHA256(Derive(label), data).
func (k *Key) MAC(label string, data []byte) []byte {
	m := hmac.New(sha256.New, k.Derive(label))
	m.Write(data)
	return m.Sum(nil)
}
