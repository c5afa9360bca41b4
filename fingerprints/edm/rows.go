package edm

import (
	"slices"
	"strings"
	"unicode"
)

// hint is what a column name says about its values.
type hint int

const (
	hintNone hint = iota
	hintSkip      // someone other than the patient: GP, next of kin, …
	hintDOB
	hintGiven
	hintFamily
	hintFullName
)

// columnWords splits a column name into lower-case words at non-letters
// and camelCase humps: "PatientDOB" → patient dob, "next_of_kin" → next of
// kin.
func columnWords(col string) []string {
	var words []string
	var cur []rune
	prevLower := false
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	for _, r := range col {
		switch {
		case !unicode.IsLetter(r):
			flush()
			prevLower = false
			continue
		case unicode.IsUpper(r) && prevLower:
			flush()
		}
		cur = append(cur, r)
		prevLower = unicode.IsLower(r)
	}
	flush()
	return words
}

// otherPerson marks columns about someone other than the patient; their
// e-mails and phones would corroborate across unrelated patients.
func otherPerson(w string) bool {
	switch w {
	case "gp", "doctor", "dr", "provider", "practice", "clinician", "nurse", "referrer", "referring",
		"kin", "nok", "emergency", "guardian", "parent", "mother", "father", "staff", "author",
		"facility", "hospital", "clinic", "pharmacy", "employer", "insurer":
		return true
	}
	return false
}

// columnHint reads a column name.
func columnHint(col string) hint {
	words := columnWords(col)
	for _, w := range words {
		if otherPerson(w) {
			return hintSkip
		}
	}
	l := strings.Join(words, "")
	has := func(subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(l, s) {
				return true
			}
		}
		return false
	}
	switch {
	case has("dob", "birth", "bday"):
		return hintDOB
	case has("surname", "lastname", "familyname") || l == "last" || l == "family":
		return hintFamily
	case has("givenname", "firstname", "forename") || l == "given" || l == "first":
		return hintGiven
	case has("name") && !has("user", "file", "host", "middle", "preferred", "nick", "maiden", "domain", "display"):
		return hintFullName
	}
	return hintNone
}

// Rows finds the fields of each record: by value pattern first (NHI with a
// valid checksum, e-mail, NZ phone — the first of each per record), then by
// column name (given/family or full name, date of birth; name+DOB needs
// both). Cells under columns about another person (GP, next of kin, …)
// are ignored. A cell whose whole value is not a field is scanned like free
// text, so "Ph: 021 123 4567" still yields the phone. Records without any
// field yield no row.
func (h *Hasher) Rows(records []Record) []Row {
	var out []Row
	hints := map[string]hint{} // column names repeat in every record
	for _, rec := range records {
		var row Row
		var given, family, full, dob string
		for i, v := range rec.Values {
			v = strings.TrimSpace(v)
			if v == "" {
				continue
			}
			hn := hintNone
			if i < len(rec.Columns) {
				col := rec.Columns[i]
				var ok bool
				if hn, ok = hints[col]; !ok {
					hn = columnHint(col)
					hints[col] = hn
				}
			}
			if hn == hintSkip {
				continue
			}
			if f, norm, ok := cellField(v); ok {
				h.set(&row, f, norm)
				continue
			}
			switch hn {
			case hintDOB:
				dob = v
			case hintGiven:
				given = v
			case hintFamily:
				family = v
			case hintFullName:
				full = v
			default:
				for _, x := range scanLine(v, nil) {
					h.set(&row, x.f, x.norm)
				}
			}
		}
		name := full
		if given != "" && family != "" || full == "" {
			name = given + " " + family
		}
		if dob != "" {
			if nd, ok := NormalizeNameDOB(name, dob); ok {
				h.set(&row, FieldNameDOB, nd)
			}
		}
		if len(row.Fields) > 0 {
			out = append(out, row)
		}
	}
	return out
}

// cellField recognises a whole cell as an NHI, e-mail or phone.
func cellField(v string) (Field, string, bool) {
	if n, ok := NormalizeNHI(v); ok {
		return FieldNHI, n, true
	}
	if strings.IndexByte(v, '@') >= 0 {
		if e, ok := NormalizeEmail(v); ok {
			return FieldEmail, e, true
		}
	}
	if p, ok := NormalizePhone(v); ok {
		return FieldPhone, p, true
	}
	return "", "", false
}

// TextRows finds records in free text or a pasted dump (CSV, JSON lines,
// SQL INSERT values, fixed-width tables): each line is a candidate record,
// and within it NHIs (with a valid checksum), e-mails and NZ phone numbers
// are found by pattern, whatever the separators (, ; | tab, spaces, quotes,
// braces). A line with several records (a minified JSON array, a multi-row
// INSERT) is split where a field repeats: a second NHI starts a new row.
// Rows without any field are not returned. Names and dates of birth need
// column names and are left to Rows.
func (h *Hasher) TextRows(text string) []Row {
	var out []Row
	var hits []hit
	for len(text) > 0 {
		line := text
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = ""
		}
		hits = scanLine(line, hits[:0])
		var row Row
		for _, x := range hits {
			if h.set(&row, x.f, x.norm) {
				out = append(out, row) // the field repeats: a new record
				row = Row{}
				h.set(&row, x.f, x.norm)
			}
		}
		if len(row.Fields) > 0 {
			out = append(out, row)
		}
	}
	return out
}

// hit is a field found in a line.
type hit struct {
	pos  int
	f    Field
	norm string
}

// scanLine finds e-mails, NHIs and phone numbers in one line, in order of
// position, appending to hits.
func scanLine(s string, hits []hit) []hit {
	start := len(hits)
	// E-mails first: their spans are excluded from the other patterns
	// ("zac5361@example.org" holds no NHI).
	var spans [][2]int
	floor := 0 // e-mails do not overlap: "a@b.cd@e.fg" holds one
	for off := 0; ; {
		at := strings.IndexByte(s[off:], '@')
		if at < 0 {
			break
		}
		at += off
		l := at
		for l > floor && isLocalChar(s[l-1]) {
			l--
		}
		for l < at && s[l] == '.' {
			l++
		}
		r := at + 1
		for r < len(s) && isDomainChar(s[r]) {
			r++
		}
		end := r
		for end > at+1 && (s[end-1] == '.' || s[end-1] == '-') {
			end--
		}
		if e, ok := NormalizeEmail(s[l:end]); ok {
			hits = append(hits, hit{l, FieldEmail, e})
			spans = append(spans, [2]int{l, end})
			floor = end
		}
		off = max(r, at+1)
	}
	inSpan := func(i int) bool {
		for _, sp := range spans {
			if i >= sp[0] && i < sp[1] {
				return true
			}
		}
		return false
	}

	for i := 0; i < len(s); {
		c := s[i]
		if !isAlnum(c) && c != '+' && c != '(' {
			i++
			continue
		}
		if len(spans) > 0 && inSpan(i) {
			i++
			continue
		}
		prevAlnum := i > 0 && isAlnum(s[i-1])
		if isAlnum(c) {
			j := i + 1
			for j < len(s) && isAlnum(s[j]) {
				j++
			}
			if !prevAlnum && j-i == 7 && isLetter(c) {
				if n, ok := NormalizeNHI(s[i:j]); ok {
					hits = append(hits, hit{i, FieldNHI, n})
					i = j
					continue
				}
			}
			if c != '0' || prevAlnum {
				i = j // not the start of a phone number
				continue
			}
		}
		if prevAlnum {
			i++
			continue
		}
		if p, end, ok := scanPhone(s, i); ok {
			hits = append(hits, hit{i, FieldPhone, p})
			i = end
			continue
		}
		i++
	}
	if len(spans) > 0 { // e-mails were appended first
		slices.SortStableFunc(hits[start:], func(a, b hit) int { return a.pos - b.pos })
	}
	return hits
}
