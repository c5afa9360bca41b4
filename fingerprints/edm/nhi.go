package edm

import "strings"

// nhiValue is the NHI checksum value of a character: A–Z without I and O
// numbered 1–24, digits their value; -1 for anything else.
var nhiValue = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	v := int8(1)
	for c := 'A'; c <= 'Z'; c++ {
		if c == 'I' || c == 'O' {
			continue
		}
		t[c] = v
		v++
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = int8(c - '0')
	}
	return t
}()

// nhiLetters are the letters by checksum value (index 1–24).
const nhiLetters = "-ABCDEFGHJKLMNPQRSTUVWXYZ"

func isNHILetter(c byte) bool { return c >= 'A' && c <= 'Z' && nhiValue[c] > 0 }
func isDigit(c byte) bool     { return c >= '0' && c <= '9' }

// ValidNHI reports whether s is a canonical (upper-case, seven characters,
// no spaces) NHI number with a valid check character:
//
//   - old format AAANNNC: S = Σ value×weight over the first six characters
//     with weights 7,6,5,4,3,2; r = S mod 11; r = 0 is invalid; the check
//     digit is (11−r) mod 10;
//   - new format AAANNAX: r = S mod 24; the check letter is the (24−r)-th
//     letter of the alphabet A–Z without I and O (r = 0 → Z).
//
// Letters I and O never occur. Z-prefixed values are the test range.
func ValidNHI(s string) bool {
	if len(s) != 7 || !isNHILetter(s[0]) || !isNHILetter(s[1]) || !isNHILetter(s[2]) || !isDigit(s[3]) || !isDigit(s[4]) {
		return false
	}
	sum := 0
	for i := range 6 {
		v := int(nhiValue[s[i]])
		if v < 0 {
			return false
		}
		sum += v * (7 - i)
	}
	switch {
	case isDigit(s[5]) && isDigit(s[6]):
		r := sum % 11
		return r != 0 && int(s[6]-'0') == (11-r)%10
	case isNHILetter(s[5]) && isNHILetter(s[6]):
		return s[6] == nhiLetters[24-sum%24]
	}
	return false
}

// NormalizeNHI returns the canonical form of an NHI written with lower case,
// surrounding space, or a space or hyphen inside ("zac 5361"), and whether
// it is a valid NHI.
func NormalizeNHI(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 7 || len(s) > 9 {
		return "", false
	}
	var b [9]byte
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '-':
			continue
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		}
		if n == 7 {
			return "", false
		}
		b[n] = c
		n++
	}
	out := string(b[:n])
	if !ValidNHI(out) {
		return "", false
	}
	return out, true
}
