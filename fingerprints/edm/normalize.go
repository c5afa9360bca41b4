package edm

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/leakwatch/leakwatch/fingerprints/text"
)

// Email characters. The local part is limited to the characters real
// addresses use ([a-z0-9._%+-]) so that scanning free text, where quotes,
// braces, '=' and '/' delimit values, finds the same address as a cell.
func isLocalChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func isDomainChar(c byte) bool { return isAlnum(c) || c == '.' || c == '-' }

func isAlnum(c byte) bool { return alnum[c] }

var alnum = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
	}
	return t
}()

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// NormalizeEmail returns the canonical form of an e-mail address — lower
// case, without surrounding space, quotes, angle brackets or "mailto:" —
// and whether it is a plausible address: local part of [a-z0-9._%+-] not
// starting or ending with a dot, domain of at least two labels of
// [a-z0-9-], a top-level label of letters. Plus-tags and dots are kept:
// the leak copies addresses, it does not rewrite them.
func NormalizeEmail(s string) (string, bool) {
	s = strings.Trim(strings.TrimSpace(s), `<>"'()[] `)
	if len(s) > 7 && strings.EqualFold(s[:7], "mailto:") {
		s = s[7:]
	}
	s = strings.TrimRight(s, ".")
	at := strings.IndexByte(s, '@')
	if at < 1 || at > 64 || len(s) > 254 {
		return "", false
	}
	local, domain := s[:at], s[at+1:]
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return "", false
	}
	for i := 0; i < len(local); i++ {
		if !isLocalChar(local[i]) {
			return "", false
		}
	}
	labels := 0
	for label := range strings.SplitSeq(domain, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", false
		}
		for i := 0; i < len(label); i++ {
			if !isAlnum(label[i]) && label[i] != '-' {
				return "", false
			}
		}
		labels++
	}
	tld := domain[strings.LastIndexByte(domain, '.')+1:]
	if labels < 2 || len(tld) < 2 {
		return "", false
	}
	for i := 0; i < len(tld); i++ {
		if !isLetter(tld[i]) {
			return "", false
		}
	}
	return strings.ToLower(s), true
}

// NormalizePhone returns a New Zealand phone number as "+64" and the
// national number, and whether s is one. Accepted: an international prefix
// "+64" or "0064" (a trunk 0 after it, as in "+64 (0)21…", is dropped) or a
// trunk "0", then digits in at most five groups separated by spaces,
// dashes, dots or parentheses. The national number must fit NZ numbering:
// landlines (3, 4, 6, 7, 9) have 8 digits, mobiles (2) 8–10, freephone
// 0800/0508 numbers 9–10. Numbers without a prefix are too ambiguous to
// accept. Free text is scanned with the same rules (see TextRows).
func NormalizePhone(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || s[0] != '+' && s[0] != '(' && s[0] != '0' {
		return "", false
	}
	p, end, ok := scanPhone(s, 0)
	if !ok {
		return "", false
	}
	for i := end; i < len(s); i++ {
		if !isPhoneSep(s[i]) {
			return "", false // more than a phone number
		}
	}
	return p, true
}

// Phone numbers are digit groups with these separators between them.
const (
	maxPhoneGroups = 5 // "+64 (0)9 555 1234"
	maxPhoneSeps   = 3 // "021 - 123"
)

func isPhoneSep(c byte) bool { return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')' }

// scanPhone reads the longest NZ phone number starting at s[i] (a '+', '('
// or '0'), returning it normalised and where it ends. A candidate ends at
// the end of a digit group that is not followed by a letter or digit;
// scanning stops at any other character, after maxPhoneGroups groups or
// maxPhoneSeps separators in a row.
func scanPhone(s string, i int) (string, int, bool) {
	var d [16]byte
	n := 0
	plus := s[i] == '+'
	j := i
	if plus {
		j++
	}
	best, bestEnd := "", -1
	seps, groups := 0, 0
scan:
	for j < len(s) {
		c := s[j]
		switch {
		case isDigit(c):
			if n == len(d) {
				break scan
			}
			d[n] = c
			n++
			seps = 0
			j++
			if j < len(s) && isDigit(s[j]) {
				continue
			}
			if groups++; groups > maxPhoneGroups || j < len(s) && isAlnum(s[j]) {
				break scan
			}
			if nat, ok := nationalNumber(plus, d[:n]); ok {
				best, bestEnd = "+64"+string(nat), j
			}
		case isPhoneSep(c):
			if seps++; seps > maxPhoneSeps {
				break scan
			}
			j++
		default:
			break scan
		}
	}
	return best, bestEnd, bestEnd >= 0
}

// nationalNumber strips the prefix from a phone number's digits and checks
// the national number against NZ numbering.
func nationalNumber(plus bool, d []byte) ([]byte, bool) {
	var nat []byte
	switch {
	case plus && len(d) > 2 && d[0] == '6' && d[1] == '4':
		nat = d[2:]
	case !plus && len(d) > 4 && string(d[:4]) == "0064":
		nat = d[4:]
	case !plus && len(d) > 1 && d[0] == '0' && d[1] != '0':
		return checkNational(d[1:])
	default:
		return nil, false
	}
	if len(nat) > 0 && nat[0] == '0' {
		nat = nat[1:] // "+64 (0)21 …"
	}
	return checkNational(nat)
}

func checkNational(nat []byte) ([]byte, bool) {
	l := len(nat)
	if l < 8 || l > 10 {
		return nil, false
	}
	switch {
	case nat[0] == '3', nat[0] == '4', nat[0] == '6', nat[0] == '7', nat[0] == '9':
		return nat, l == 8
	case nat[0] == '2':
		return nat, true
	case nat[0] == '8' && nat[1] == '0', nat[0] == '5' && nat[1] == '0' && nat[2] == '8':
		return nat, l >= 9
	}
	return nil, false
}

// isHonorific: titles are dropped from names, as a dump may add or omit them.
func isHonorific(w string) bool {
	switch w {
	case "mr", "mrs", "ms", "miss", "mx", "dr":
		return true
	}
	return false
}

// NormalizeNameDOB returns "name|YYYY-MM-DD" and whether both parts are
// usable. The name is normalised like document text (text.Normalize: NFKC,
// case fold, punctuation as separator), honorifics dropped, and its words
// sorted, so "Smith, John", "JOHN SMITH" and given + family columns agree.
// The date is read by parseDate.
func NormalizeNameDOB(name, dob string) (string, bool) {
	words := strings.Fields(text.Normalize(name))
	words = slices.DeleteFunc(words, isHonorific)
	if len(words) == 0 {
		return "", false
	}
	date, ok := parseDate(dob)
	if !ok {
		return "", false
	}
	slices.Sort(words)
	return strings.Join(words, " ") + "|" + date, true
}

// monthOf returns the month a (lower-case) English month name or
// abbreviation names, or 0.
func monthOf(w string) time.Month {
	switch w {
	case "jan", "january":
		return time.January
	case "feb", "february":
		return time.February
	case "mar", "march":
		return time.March
	case "apr", "april":
		return time.April
	case "may":
		return time.May
	case "jun", "june":
		return time.June
	case "jul", "july":
		return time.July
	case "aug", "august":
		return time.August
	case "sep", "sept", "september":
		return time.September
	case "oct", "october":
		return time.October
	case "nov", "november":
		return time.November
	case "dec", "december":
		return time.December
	}
	return 0
}

// ignoredDateWord: weekdays, ordinal suffixes and ISO time markers may
// surround a date.
func ignoredDateWord(w string) bool {
	switch w {
	case "st", "nd", "rd", "th", "of", "t", "z", "utc",
		"mon", "monday", "tue", "tues", "tuesday", "wed", "wednesday",
		"thu", "thur", "thurs", "thursday", "fri", "friday",
		"sat", "saturday", "sun", "sunday":
		return true
	}
	return false
}

// parseDate reads a date of birth and returns it as YYYY-MM-DD. Accepted:
// YYYY-MM-DD (also with / or . and a trailing time), YYYYMMDD, DD/MM/YYYY
// (also - or .; day first as in New Zealand, unless the second number cannot
// be a month), DDMMYYYY when YYYYMMDD makes no sense, and month names in any order ("1 May 1980", "May 1st, 1980",
// "01-May-1980", "Thursday 1 May 1980"). Two-digit years are ambiguous and
// rejected; years outside 1880–2100 too.
func parseDate(s string) (string, bool) {
	var nums []string
	var month time.Month
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isDigit(c):
			j := i
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			nums = append(nums, s[i:j])
			i = j
		case isLetter(c):
			j := i
			for j < len(s) && isLetter(s[j]) {
				j++
			}
			w := strings.ToLower(s[i:j])
			i = j
			if m := monthOf(w); m != 0 && month == 0 {
				month = m
			} else if !ignoredDateWord(w) {
				return "", false
			}
		default:
			i++
		}
	}
	var y, m, d int
	switch {
	case month != 0:
		// Day and year, in either order, possibly followed by a time.
		if len(nums) < 2 {
			return "", false
		}
		a, b := nums[0], nums[1]
		if len(a) == 4 {
			a, b = b, a
		}
		if len(b) != 4 || len(a) > 2 {
			return "", false
		}
		y, m, d = atoi(b), int(month), atoi(a)
	case len(nums) == 1 && len(nums[0]) == 8:
		n := nums[0]
		y, m, d = atoi(n[:4]), atoi(n[4:6]), atoi(n[6:])
		if y < 1880 || y > 2100 {
			d, m, y = atoi(n[:2]), atoi(n[2:4]), atoi(n[4:]) // DDMMYYYY
		}
	case len(nums) >= 3 && len(nums[0]) == 4:
		y, m, d = atoi(nums[0]), atoi(nums[1]), atoi(nums[2]) // ISO, time may follow
	case len(nums) == 3 && len(nums[2]) == 4 && len(nums[0]) <= 2 && len(nums[1]) <= 2:
		d, m, y = atoi(nums[0]), atoi(nums[1]), atoi(nums[2])
		if m > 12 && d <= 12 {
			d, m = m, d // month first (US style)
		}
	default:
		return "", false
	}
	if y < 1880 || y > 2100 || m < 1 || m > 12 || d < 1 || d > 31 {
		return "", false
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d { // 31 April and the like
		return "", false
	}
	return t.Format(time.DateOnly), true
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}
