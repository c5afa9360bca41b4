package auth

import (
	"bytes"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

func TestRecoveryCodes(t *testing.T) {
	codes, hashes, err := NewRecoveryCodes()
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != RecoveryCodeCount || len(hashes) != RecoveryCodeCount {
		t.Fatalf("%d codes, %d hashes", len(codes), len(hashes))
	}
	seen := map[string]bool{}
	for i, c := range codes {
		if len(c) != 19 || !IsRecoveryCodeShaped(c) || seen[c] {
			t.Fatalf("code %q: bad shape or repeated", c)
		}
		seen[c] = true
		// People type them in capitals, with spaces, without dashes.
		for _, typed := range []string{strings.ToUpper(c), strings.ReplaceAll(c, "-", " "), strings.ReplaceAll(c, "-", "")} {
			if !IsRecoveryCodeShaped(typed) || HashRecoveryCode(typed) != hashes[i] {
				t.Fatalf("typed %q does not match its hash", typed)
			}
		}
	}
	for _, notCode := range []string{"123456", "123 456", "", "abcd-efgh-ijkl-mno1", "abcd-efgh-ijkl-mnopq"} {
		if IsRecoveryCodeShaped(notCode) {
			t.Errorf("%q taken for a recovery code", notCode)
		}
	}
}

// The otpauth URL of a secret enrols an app that produces codes MatchTOTP
// accepts, and renders as a PNG QR code.
func TestTOTPURLAndQRCode(t *testing.T) {
	secret, _, err := NewTOTP("leakwatch", "lena")
	if err != nil {
		t.Fatal(err)
	}
	u := TOTPURL("leakwatch", "lena", secret)
	if !strings.HasPrefix(u, "otpauth://totp/leakwatch:lena?") || !strings.Contains(u, "secret="+secret) {
		t.Fatalf("url %q", u)
	}
	now := time.Now()
	code, err := totp.GenerateCode(secret, now)
	if err != nil {
		t.Fatal(err)
	}
	if !ValidateTOTP(secret, code, now) {
		t.Fatal("code from the enrolled secret refused")
	}
	b, err := TOTPQRCode(u, 200)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil || img.Bounds().Dx() != 200 {
		t.Fatalf("QR PNG: %v", err)
	}
}

func TestNewTemporaryPassword(t *testing.T) {
	a, err := NewTemporaryPassword()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewTemporaryPassword()
	if len(a) != 20 || a == b || CheckPasswordPolicy(a) != nil {
		t.Fatalf("temporary passwords %q %q", a, b)
	}
}
