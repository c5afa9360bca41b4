package evidence

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"filippo.io/age"
)

// KeyEnv holds the evidence identity itself (AGE-SECRET-KEY-1…); it wins
// over the key file.
const KeyEnv = "LEAKWATCH_EVIDENCE_KEY"

// Keys encrypt evidence at rest and open it again.
type Keys struct {
	// Identities open encrypted evidence (verify, export).
	Identities []age.Identity
	// Recipients are what new WARC files are encrypted to: the
	// identities' own public keys and any others configured.
	Recipients []age.Recipient
}

// Encrypts reports whether evidence is encrypted at rest.
func (k Keys) Encrypts() bool { return len(k.Recipients) > 0 }

// LoadKeys reads the evidence identity from $LEAKWATCH_EVIDENCE_KEY, else
// from keyFile (age-keygen's format; both may be unset), and parses the
// extra recipients (age1…). No identity and no recipient means evidence is
// kept unencrypted.
func LoadKeys(getenv func(string) string, keyFile string, recipients []string) (Keys, error) {
	var k Keys
	var src, text string
	switch {
	case getenv(KeyEnv) != "":
		src, text = KeyEnv, getenv(KeyEnv)
	case keyFile != "":
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return Keys{}, fmt.Errorf("evidence key file: %w", err)
		}
		src, text = keyFile, string(b)
	}
	if src != "" {
		ids, err := age.ParseIdentities(strings.NewReader(text))
		if err != nil {
			return Keys{}, fmt.Errorf("evidence key %s: %w", src, err)
		}
		for _, id := range ids {
			x, ok := id.(*age.X25519Identity)
			if !ok {
				return Keys{}, fmt.Errorf("evidence key %s: only X25519 identities (AGE-SECRET-KEY-1…) are supported", src)
			}
			k.Identities = append(k.Identities, x)
			k.Recipients = append(k.Recipients, x.Recipient())
		}
	}
	for i, r := range recipients {
		rc, err := age.ParseX25519Recipient(strings.TrimSpace(r))
		if err != nil {
			return Keys{}, fmt.Errorf("evidence.recipients[%d]: %w", i, err)
		}
		k.Recipients = append(k.Recipients, rc)
	}
	return k, nil
}

// GenerateKey writes a new evidence identity to path (mode 0600; an
// existing file is never overwritten) in age-keygen's format and returns
// its public key.
func GenerateKey(path string, now time.Time) (string, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("evidence key %s already exists; not overwriting it (evidence encrypted to it would be lost)", path)
	}
	if err != nil {
		return "", fmt.Errorf("evidence key: %w", err)
	}
	_, err = fmt.Fprintf(f, "# created: %s\n# public key: %s\n%s\n", now.UTC().Format(time.RFC3339), id.Recipient(), id)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("evidence key: %w", err)
	}
	return id.Recipient().String(), nil
}
