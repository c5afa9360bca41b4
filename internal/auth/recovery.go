package auth

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strings"
)

// RecoveryCodeCount is how many recovery codes a user gets at a time.
const RecoveryCodeCount = 10

// recoveryCodeChars is a code's length: 16 base32 characters, 80 bits, so a
// stolen list of unsalted SHA-256 hashes cannot be reversed by brute force.
const recoveryCodeChars = 16

var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewRecoveryCodes returns RecoveryCodeCount fresh codes, formatted for
// people (xxxx-xxxx-xxxx-xxxx), and their hashes to store.
func NewRecoveryCodes() (codes, hashes []string, err error) {
	for range RecoveryCodeCount {
		b := make([]byte, 10)
		if _, err := rand.Read(b); err != nil {
			return nil, nil, fmt.Errorf("new recovery code: %w", err)
		}
		raw := strings.ToLower(recoveryEncoding.EncodeToString(b))
		code := raw[0:4] + "-" + raw[4:8] + "-" + raw[8:12] + "-" + raw[12:16]
		codes = append(codes, code)
		hashes = append(hashes, HashRecoveryCode(code))
	}
	return codes, hashes, nil
}

// normalizeRecoveryCode drops separators and case, as people type them.
func normalizeRecoveryCode(code string) string {
	return strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(code)))
}

// IsRecoveryCodeShaped reports whether code looks like a recovery code rather
// than a TOTP code, so a login's code field takes either.
func IsRecoveryCodeShaped(code string) bool {
	c := normalizeRecoveryCode(code)
	if len(c) != recoveryCodeChars {
		return false
	}
	for _, r := range c {
		if (r < 'a' || r > 'z') && (r < '2' || r > '7') {
			return false
		}
	}
	return true
}

// HashRecoveryCode is the stored form of a recovery code.
func HashRecoveryCode(code string) string { return HashToken(normalizeRecoveryCode(code)) }
