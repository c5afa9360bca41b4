package auth

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

func TestHashAndCheckPassword(t *testing.T) {
	const pw = "correct horse battery staple"
	h, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=47104,t=1,p=1$") {
		t.Fatalf("unexpected PHC prefix: %s", h)
	}
	ok, err := CheckPassword(h, pw)
	if err != nil || !ok {
		t.Fatalf("CheckPassword(right) = %v, %v; want true, nil", ok, err)
	}
	ok, err = CheckPassword(h, pw+"!")
	if err != nil || ok {
		t.Fatalf("CheckPassword(wrong) = %v, %v; want false, nil", ok, err)
	}
	ok, err = CheckPassword(h, "")
	if err != nil || ok {
		t.Fatalf("CheckPassword(empty) = %v, %v; want false, nil", ok, err)
	}
	h2, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	if h2 == h {
		t.Fatal("two hashes of the same password are equal: salt is not random")
	}
	if NeedsRehash(h) {
		t.Fatal("fresh hash reported as needing rehash")
	}
}

func TestCheckPasswordTampered(t *testing.T) {
	const pw = "a sufficiently long password"
	h, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(h, "$")

	// Changed parameters parse but derive a different key: a mismatch.
	for _, params := range []string{"m=47105,t=1,p=1", "m=47104,t=2,p=1", "m=47104,t=1,p=2"} {
		p := append([]string(nil), parts...)
		p[3] = params
		ok, err := CheckPassword(strings.Join(p, "$"), pw)
		if err != nil || ok {
			t.Errorf("params %s: CheckPassword = %v, %v; want false, nil", params, ok, err)
		}
	}
	// A changed salt is a mismatch too.
	p := append([]string(nil), parts...)
	p[4] = b64.EncodeToString([]byte("0123456789abcdef"))
	if ok, err := CheckPassword(strings.Join(p, "$"), pw); err != nil || ok {
		t.Errorf("tampered salt: CheckPassword = %v, %v; want false, nil", ok, err)
	}

	// Malformed or out-of-bounds strings are errors.
	bad := map[string]string{
		"wrong algorithm": strings.Replace(h, "$argon2id$", "$argon2i$", 1),
		"wrong version":   strings.Replace(h, "v=19", "v=16", 1),
		"huge memory":     strings.Replace(h, "m=47104", "m=4194304", 1),
		"zero time":       strings.Replace(h, "t=1,", "t=0,", 1),
		"zero threads":    strings.Replace(h, "p=1$", "p=0$", 1),
		"unknown param":   strings.Replace(h, "p=1$", "p=1,x=2$", 1),
		"missing param":   strings.Replace(h, ",p=1$", "$", 1),
		"duplicate param": strings.Replace(h, "p=1$", "p=1,p=1$", 1),
		"bad base64":      strings.Join(append(append([]string(nil), parts[:5]...), "!!!"), "$"),
		"short key":       strings.Join(append(append([]string(nil), parts[:5]...), b64.EncodeToString([]byte("short"))), "$"),
		"not a hash":      "plaintext",
		"empty":           "",
	}
	for name, s := range bad {
		ok, err := CheckPassword(s, pw)
		if ok || !errors.Is(err, ErrMalformedHash) {
			t.Errorf("%s: CheckPassword = %v, %v; want false, ErrMalformedHash", name, ok, err)
		}
	}
}

func TestNeedsRehash(t *testing.T) {
	weak := "$argon2id$v=19$m=19456,t=2,p=1$" + b64.EncodeToString([]byte("0123456789abcdef")) + "$" + b64.EncodeToString(make([]byte, 32))
	if !NeedsRehash(weak) {
		t.Error("19 MiB hash not reported as needing rehash")
	}
	if !NeedsRehash("garbage") {
		t.Error("malformed hash not reported as needing rehash")
	}
}

func TestCheckPasswordPolicy(t *testing.T) {
	good := []string{"correct horse battery", "twelve chars", "ünïcödé-pässwörd", strings.Repeat("ab", 500)}
	for _, pw := range good {
		if err := CheckPasswordPolicy(pw); err != nil {
			t.Errorf("CheckPasswordPolicy(%q) = %v; want nil", pw, err)
		}
	}
	bad := map[string]string{
		"":                          "too short",
		"short":                     "too short",
		"elevenchars":               "too short",
		"äöüäöüäöüäö":               "too short", // 11 characters, 22 bytes
		strings.Repeat(" ", 20):     "whitespace",
		strings.Repeat("a", 20):     "single character",
		strings.Repeat("x", 1025):   "too long",
		"valid start \xff\xfe\xfd!": "UTF-8",
	}
	for pw, want := range bad {
		err := CheckPasswordPolicy(pw)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckPasswordPolicy(%q) = %v; want error containing %q", pw, err, want)
		}
	}
}

func TestTOTP(t *testing.T) {
	secret, u, err := NewTOTP("leakwatch", "alice")
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	if parsed.Scheme != "otpauth" || parsed.Host != "totp" || parsed.Query().Get("secret") != secret ||
		parsed.Query().Get("issuer") != "leakwatch" {
		t.Fatalf("unexpected enrolment URL %s", u)
	}
	if len(secret) != 32 { // 20 bytes in base32
		t.Fatalf("secret length %d, want 32", len(secret))
	}

	now := time.Date(2026, 1, 15, 12, 0, 10, 0, time.UTC)
	opts := totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
	code, err := totp.GenerateCodeCustom(secret, now, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !ValidateTOTP(secret, code, now) {
		t.Fatal("current code rejected")
	}
	if !ValidateTOTP(secret, code[:3]+" "+code[3:], now) {
		t.Fatal("code with a space rejected")
	}
	if !ValidateTOTP(secret, code, now.Add(30*time.Second)) {
		t.Fatal("code from the previous period rejected (clock skew)")
	}
	if ValidateTOTP(secret, code, now.Add(2*time.Minute)) {
		t.Fatal("stale code accepted")
	}
	wrong := "000000"
	if wrong == code {
		wrong = "111111"
	}
	if ValidateTOTP(secret, wrong, now) {
		t.Fatal("wrong code accepted")
	}
	for _, c := range []string{"", "12345", "1234567", "abcdef"} {
		if ValidateTOTP(secret, c, now) {
			t.Errorf("malformed code %q accepted", c)
		}
	}
	if ValidateTOTP("", code, now) || ValidateTOTP("not base32!", code, now) {
		t.Fatal("code accepted for an empty or invalid secret")
	}
	step, ok := MatchTOTP(secret, code, now)
	if !ok || step != now.Unix()/30 {
		t.Fatalf("MatchTOTP = %d, %v; want %d, true", step, ok, now.Unix()/30)
	}
}

func TestNewToken(t *testing.T) {
	tok, hash, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != 43 { // 32 bytes base64url without padding
		t.Fatalf("token length %d, want 43", len(tok))
	}
	if strings.ContainsAny(tok, "+/=") {
		t.Fatalf("token %q is not base64url", tok)
	}
	if hash != HashToken(tok) || len(hash) != 64 {
		t.Fatalf("hash %q does not match HashToken", hash)
	}
	if hash == tok {
		t.Fatal("hash equals token")
	}
	tok2, hash2, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if tok2 == tok || hash2 == hash {
		t.Fatal("two tokens are equal")
	}
}
