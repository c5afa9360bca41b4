// Package auth holds leakwatch's credential primitives: argon2id password
// hashes, TOTP second factors and session tokens. It keeps no state; callers
// store what it returns.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters for new hashes. OWASP's first recommendation
// (m=46 MiB, t=1, p=1) takes ~60 ms on this machine kind; p=1 leaves the other
// cores free during a burst of logins. Stored hashes carry their own
// parameters, so these can be raised later (see NeedsRehash).
const (
	argonMemoryKiB = 46 * 1024
	argonTime      = 1
	argonThreads   = 1
	argonSaltLen   = 16
	argonKeyLen    = 32
)

// Upper bounds accepted when parsing a stored hash, so a corrupted or planted
// hash cannot make one login allocate gigabytes or spin for minutes.
const (
	maxMemoryKiB = 1 << 20 // 1 GiB
	maxTime      = 16
	maxThreads   = 64
	minSaltLen   = 8
	maxSaltLen   = 64
	minKeyLen    = 16
	maxKeyLen    = 64
)

// Password policy bounds.
const (
	MinPasswordLen      = 12   // characters
	MaxPasswordLenBytes = 1024 // keeps request bodies and hashing input bounded
)

// ErrMalformedHash means a stored hash could not be parsed or has parameters
// outside the accepted bounds.
var ErrMalformedHash = errors.New("malformed argon2id hash")

// b64 is the PHC string encoding: standard alphabet, no padding.
var b64 = base64.RawStdEncoding

// argonParams are the parameters embedded in a PHC string.
type argonParams struct {
	memory  uint32
	time    uint32
	threads uint8
}

// HashPassword returns an argon2id PHC string
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash) with a fresh random salt.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: read salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemoryKiB, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether pw matches the PHC string hash. The
// comparison is constant-time; a malformed hash is an error, not a mismatch.
func CheckPassword(hash, pw string) (bool, error) {
	p, salt, want, err := parseHash(hash)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.time, p.memory, p.threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// NeedsRehash reports whether hash was made with weaker parameters than new
// hashes get, so a caller can upgrade it after a successful login.
func NeedsRehash(hash string) bool {
	p, salt, key, err := parseHash(hash)
	if err != nil {
		return true
	}
	return p.memory < argonMemoryKiB || p.time < argonTime || p.threads < argonThreads ||
		len(salt) < argonSaltLen || len(key) < argonKeyLen
}

// parseHash splits a PHC string and validates every field against the bounds.
func parseHash(hash string) (argonParams, []byte, []byte, error) {
	var p argonParams
	// "$argon2id$v=19$m=..,t=..,p=..$salt$key" splits into 6 parts, the first empty.
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: not an argon2id PHC string", ErrMalformedHash)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: unsupported version %q", ErrMalformedHash, parts[2])
	}
	seen := map[string]bool{}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || seen[k] {
			return p, nil, nil, fmt.Errorf("%w: bad parameter %q", ErrMalformedHash, kv)
		}
		seen[k] = true
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return p, nil, nil, fmt.Errorf("%w: parameter %s: %v", ErrMalformedHash, k, err)
		}
		switch k {
		case "m":
			p.memory = uint32(n)
		case "t":
			p.time = uint32(n)
		case "p":
			if n > maxThreads {
				return p, nil, nil, fmt.Errorf("%w: p=%d out of range", ErrMalformedHash, n)
			}
			p.threads = uint8(n)
		default:
			return p, nil, nil, fmt.Errorf("%w: unknown parameter %q", ErrMalformedHash, k)
		}
	}
	if !seen["m"] || !seen["t"] || !seen["p"] {
		return p, nil, nil, fmt.Errorf("%w: missing parameter", ErrMalformedHash)
	}
	if p.time < 1 || p.time > maxTime || p.threads < 1 ||
		p.memory < 8*uint32(p.threads) || p.memory > maxMemoryKiB {
		return p, nil, nil, fmt.Errorf("%w: parameters m=%d,t=%d,p=%d out of range", ErrMalformedHash, p.memory, p.time, p.threads)
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return p, nil, nil, fmt.Errorf("%w: bad salt", ErrMalformedHash)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return p, nil, nil, fmt.Errorf("%w: bad key", ErrMalformedHash)
	}
	return p, salt, key, nil
}

// CheckPasswordPolicy returns an error explaining why pw is not acceptable as
// a new password. Following NIST SP 800-63B it asks for length, not character
// classes.
func CheckPasswordPolicy(pw string) error {
	if !utf8.ValidString(pw) {
		return errors.New("password must be valid UTF-8 text")
	}
	if len(pw) > MaxPasswordLenBytes {
		return fmt.Errorf("password is too long: at most %d bytes", MaxPasswordLenBytes)
	}
	if n := utf8.RuneCountInString(pw); n < MinPasswordLen {
		return fmt.Errorf("password is too short: %d characters, at least %d required", n, MinPasswordLen)
	}
	if strings.TrimFunc(pw, unicode.IsSpace) == "" {
		return errors.New("password must not be only whitespace")
	}
	first, _ := utf8.DecodeRuneInString(pw)
	if strings.Trim(pw, string(first)) == "" {
		return errors.New("password must not repeat a single character")
	}
	return nil
}

// NewTemporaryPassword returns a random 20-character password from an
// alphabet without look-alike characters, for an admin to hand over once.
func NewTemporaryPassword() (string, error) {
	const alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	out := make([]byte, 20)
	for i := range out {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", fmt.Errorf("temporary password: %w", err)
		}
		out[i] = alphabet[n.Int64()]
	}
	return string(out), nil
}
