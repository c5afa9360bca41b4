package auth

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"image/png"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP settings: RFC 6238 defaults, which every authenticator app supports.
const (
	totpPeriod = 30 * time.Second
	totpDigits = otp.DigitsSix
	// totpSkew accepts the previous and next period too, for clock drift.
	totpSkew = 1
)

// NewTOTP creates a TOTP secret (base32) for account and the otpauth:// URL
// an authenticator app enrols from.
func NewTOTP(issuer, account string) (secret, url string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		Period:      uint(totpPeriod / time.Second),
		Digits:      totpDigits,
		Algorithm:   otp.AlgorithmSHA1,
		SecretSize:  20, // 160 bits, as RFC 4226 recommends
	})
	if err != nil {
		return "", "", fmt.Errorf("generate totp secret for %s: %w", account, err)
	}
	return key.Secret(), key.URL(), nil
}

// ValidateTOTP reports whether code is valid for secret at now (±1 period).
func ValidateTOTP(secret, code string, now time.Time) bool {
	_, ok := MatchTOTP(secret, code, now)
	return ok
}

// MatchTOTP is ValidateTOTP that also returns the time step (Unix time / 30 s)
// the code belongs to. Callers remember the last accepted step per user and
// reject codes at or before it, so an observed code cannot be replayed.
func MatchTOTP(secret, code string, now time.Time) (step int64, ok bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if secret == "" || len(code) != totpDigits.Length() {
		return 0, false
	}
	opts := totp.ValidateOpts{Period: uint(totpPeriod / time.Second), Digits: totpDigits, Algorithm: otp.AlgorithmSHA1}
	current := now.Unix() / int64(totpPeriod/time.Second)
	matched := int64(-1)
	// Check every candidate step without stopping early, so timing does not
	// reveal which one matched.
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		t := time.Unix((current+d)*int64(totpPeriod/time.Second), 0)
		want, err := totp.GenerateCodeCustom(secret, t, opts)
		if err != nil {
			return 0, false // secret is not valid base32
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			matched = current + d
		}
	}
	if matched < 0 {
		return 0, false
	}
	return matched, true
}

// TOTPURL is the otpauth:// URL of an existing secret, for the QR code an
// authenticator app scans.
func TOTPURL(issuer, account, secret string) string {
	v := url.Values{}
	v.Set("secret", secret)
	v.Set("issuer", issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", "6")
	v.Set("period", strconv.Itoa(int(totpPeriod/time.Second)))
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + account, RawQuery: v.Encode()}
	return u.String()
}

// TOTPQRCode renders an otpauth:// URL as a size×size PNG QR code.
func TOTPQRCode(otpauthURL string, size int) ([]byte, error) {
	key, err := otp.NewKeyFromURL(otpauthURL)
	if err != nil {
		return nil, fmt.Errorf("totp qr code: %w", err)
	}
	img, err := key.Image(size, size)
	if err != nil {
		return nil, fmt.Errorf("totp qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("totp qr code: %w", err)
	}
	return buf.Bytes(), nil
}
