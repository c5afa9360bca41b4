// Package synth generates synthetic, fictional breach documents for the
// leakwatch demo and integration tests: patients with test-range NHI numbers,
// clinical notes, lab-result PDFs, vaccination records and "medical
// photographs" made of shapes and noise. Nothing here is real data.
package synth

import (
	"math/rand/v2"
)

// nhiAlphabet is the NHI letter alphabet: A–Z without I and O, so A=1 … Z=24.
const nhiAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ"

// nhiWeights apply to the first six characters of an NHI.
var nhiWeights = [6]int{7, 6, 5, 4, 3, 2}

// letterValue returns the NHI alphabet value of c (1…24), or 0 when c is not
// in the alphabet (lower case, I, O, digits, anything else).
func letterValue(c byte) int {
	for i := 0; i < len(nhiAlphabet); i++ {
		if nhiAlphabet[i] == c {
			return i + 1
		}
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// weightedSum returns S over the first six characters, where letters count
// by alphabet value and digits by numeric value. ok is false when a letter is
// outside the alphabet.
func weightedSum(s string) (sum int, ok bool) {
	for i := 0; i < 6; i++ {
		c := s[i]
		var v int
		if isDigit(c) {
			v = int(c - '0')
		} else if v = letterValue(c); v == 0 {
			return 0, false
		}
		sum += v * nhiWeights[i]
	}
	return sum, true
}

// newFormatCheck returns the check letter for the first six characters of a
// new-format (AAANNAX) NHI: r = S mod 24, check = (24−r)-th letter, r=0 → Z.
func newFormatCheck(sum int) byte {
	r := sum % 24
	return nhiAlphabet[24-r-1]
}

// NHI returns a random valid new-format (AAANNAX) NHI in the Z test range,
// e.g. ZVU27KZ. The first letter is always Z so generated values can never
// collide with a real person's NHI.
func NHI(rng *rand.Rand) string {
	var b [7]byte
	b[0] = 'Z'
	b[1] = nhiAlphabet[rng.IntN(len(nhiAlphabet))]
	b[2] = nhiAlphabet[rng.IntN(len(nhiAlphabet))]
	b[3] = byte('0' + rng.IntN(10))
	b[4] = byte('0' + rng.IntN(10))
	b[5] = nhiAlphabet[rng.IntN(len(nhiAlphabet))]
	sum, _ := weightedSum(string(b[:6]))
	b[6] = newFormatCheck(sum)
	return string(b[:])
}

// ValidNHI reports whether s is a checksum-valid NHI in either the old
// (AAANNNC, check digit) or the new (AAANNAX, check letter) format. Input
// must be upper case and exactly seven characters; callers normalise first.
// It accepts any prefix, not only the Z test range, because matchers use it
// on leaked text. The checksum is weak, so a true result is only a hint.
func ValidNHI(s string) bool {
	if len(s) != 7 {
		return false
	}
	for i := 0; i < 3; i++ {
		if letterValue(s[i]) == 0 {
			return false
		}
	}
	if !isDigit(s[3]) || !isDigit(s[4]) {
		return false
	}
	switch {
	case isDigit(s[5]) && isDigit(s[6]): // old format AAANNNC
		sum, _ := weightedSum(s)
		r := sum % 11
		if r == 0 {
			return false
		}
		return int(s[6]-'0') == (11-r)%10
	case letterValue(s[5]) != 0 && letterValue(s[6]) != 0: // new format AAANNAX
		sum, _ := weightedSum(s)
		return s[6] == newFormatCheck(sum)
	default:
		return false
	}
}
