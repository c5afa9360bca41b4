package edm

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/leakwatch/leakwatch/fingerprints"
)

func testKey(t testing.TB, b byte) *fingerprints.Key {
	t.Helper()
	k, err := fingerprints.NewKey(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// nhiCheck computes the check character for a six-character NHI prefix
// independently of ValidNHI (string search instead of a table); "" when the
// old-format remainder is 0.
func nhiCheck(prefix string) string {
	const alpha = "ABCDEFGHJKLMNPQRSTUVWXYZ"
	val := func(c byte) int {
		if c >= '0' && c <= '9' {
			return int(c - '0')
		}
		return strings.IndexByte(alpha, c) + 1
	}
	s := 0
	for i := range 6 {
		s += val(prefix[i]) * (7 - i)
	}
	if prefix[5] >= '0' && prefix[5] <= '9' {
		if s%11 == 0 {
			return ""
		}
		return string(rune('0' + (11-s%11)%10))
	}
	return string(alpha[(24-s%24)-1])
}

// randomNHI returns a valid test-range (Z…) NHI in either format.
func randomNHI(rng *rand.Rand) string {
	const alpha = "ABCDEFGHJKLMNPQRSTUVWXYZ"
	for {
		p := []byte{'Z', alpha[rng.IntN(24)], alpha[rng.IntN(24)], byte('0' + rng.IntN(10)), byte('0' + rng.IntN(10)), 0}
		if rng.IntN(2) == 0 {
			p[5] = byte('0' + rng.IntN(10))
		} else {
			p[5] = alpha[rng.IntN(24)]
		}
		if c := nhiCheck(string(p)); c != "" {
			return string(p) + c
		}
	}
}

func TestValidNHI(t *testing.T) {
	for _, s := range []string{"ZAC5361", "ZVU27KZ", "ZAD96LT"} {
		if !ValidNHI(s) {
			t.Errorf("%s should be valid", s)
		}
	}
	for _, s := range []string{
		"ZZZ00AA",            // new format, wrong check letter
		"ZAC5362", "ZAC5360", // old format, wrong check digit
		"ZVU27KY", "ZAD96LU", // new format, wrong check letter
		"zac5361",            // not canonical
		"ZIC5361", "ZOC5361", // I and O are not NHI letters
		"ZAC536", "ZAC53611", "", // length
		"ZA15361", "ZAC53A1", "ZAC5A61", "ZAC536Z", "ZAC53Z1",
		"ZAC 5361", "ÀAC5361",
	} {
		if ValidNHI(s) {
			t.Errorf("%q should be invalid", s)
		}
	}
	// Old format with remainder 0: no check digit makes it valid.
	found := 0
	for n := 0; n < 1000 && found < 5; n++ {
		prefix := fmt.Sprintf("ZAB%03d", n)
		if nhiCheck(prefix) != "" {
			continue
		}
		found++
		for d := '0'; d <= '9'; d++ {
			if ValidNHI(prefix + string(d)) {
				t.Errorf("%s%c valid although S mod 11 = 0", prefix, d)
			}
		}
	}
	if found == 0 {
		t.Fatal("no remainder-0 prefix found")
	}
	// Exhaustive over one letter block: ValidNHI agrees with nhiCheck.
	const alpha = "ABCDEFGHJKLMNPQRSTUVWXYZ"
	for _, b := range alpha {
		for n := 0; n < 100; n++ {
			for _, last := range "0123456789" + alpha {
				prefix := fmt.Sprintf("ZA%c%02d%c", b, n, last)
				want := nhiCheck(prefix)
				for _, c := range "0123456789" + alpha {
					s := prefix + string(c)
					if got := ValidNHI(s); got != (string(c) == want) {
						t.Fatalf("ValidNHI(%s) = %v, check %q", s, got, want)
					}
				}
			}
		}
	}
}

func TestNormalizeNHI(t *testing.T) {
	for in, want := range map[string]string{
		"ZAC5361": "ZAC5361", " zac5361 ": "ZAC5361", "ZAC 5361": "ZAC5361", "zvu-27kz": "ZVU27KZ",
		"ZZZ00AA": "", "ZAC53611": "", "ZA C53 61X": "", "": "",
	} {
		got, ok := NormalizeNHI(in)
		if got != want || ok != (want != "") {
			t.Errorf("NormalizeNHI(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	for in, want := range map[string]string{
		"jane.doe@example.org":             "jane.doe@example.org",
		"  Jane.Doe@Example.ORG ":          "jane.doe@example.org",
		"<jane@example.net>":               "jane@example.net",
		"mailto:JANE@example.net":          "jane@example.net",
		`"jane+clinic@example.org"`:        "jane+clinic@example.org",
		"jane@mail.example.org.":           "jane@mail.example.org",
		"j_d-1%x@sub-1.example.net":        "j_d-1%x@sub-1.example.net",
		"jane@example":                     "",
		"@example.org":                     "",
		"jane@@example.org":                "",
		"jane@.example.org":                "",
		"jane@example.o":                   "",
		"jane@example.123":                 "",
		".jane@example.org":                "",
		"ja..ne@example.org":               "",
		"ja ne@example.org":                "",
		"o'brien@example.org":              "", // outside the scanned character set
		"jane@-example.org":                "",
		"jane@exa_mple.org":                "",
		"jané@example.org":                 "",
		strings.Repeat("a", 65) + "@x.org": "",
	} {
		got, ok := NormalizeEmail(in)
		if got != want || ok != (want != "") {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	for in, want := range map[string]string{
		"021 123 4567":       "+64211234567",
		"021-123-4567":       "+64211234567",
		"(021) 123 4567":     "+64211234567",
		"+64 21 123 4567":    "+64211234567",
		"+64 (0)21 123 4567": "+64211234567",
		"+6421 1234567":      "+64211234567",
		"0064 21 123 4567":   "+64211234567",
		"022 123 4567":       "+64221234567",
		"027 1234 5678":      "+642712345678",
		"021 123 456":        "+6421123456",
		"(09) 555-1234":      "+6495551234",
		"09 555 1234":        "+6495551234",
		"03.555.1234":        "+6435551234",
		"+64 3 555 1234":     "+6435551234",
		"0800 123 456":       "+64800123456",
		"0800 123 4567":      "+648001234567",
		"0508 123 456":       "+64508123456",
		"03 555 12345":       "", // landlines have 8 national digits
		"03 555 123":         "",
		"021 12 34":          "",
		"021 1234 56789":     "",
		"555 1234":           "", // no prefix: ambiguous
		"64 21 123 4567":     "",
		"+61 2 9555 1234":    "", // not NZ
		"001 555 123 4567":   "",
		"01 555 1234":        "",
		"021 123 4567 ext 2": "",
		"021 123 4567a":      "",
		"":                   "",
		"+":                  "",
		"0 2 4 6 8 10 12":    "", // a list of numbers: too many groups
		"021 - 123 - 4567":   "+64211234567",
		"(021 123 4567)":     "+64211234567",
		"+64 (0)9 555 1234":  "+6495551234",
		"0900 12345":         "+6490012345",
		"0800 12 34 56 7":    "+648001234567",
		"0801 234 567":       "+64801234567",
		"0510 123 456":       "", // 05 is 0508 only
		"085 123 4567":       "",
		"0 5 10 15 20 25 30": "",
	} {
		got, ok := NormalizePhone(in)
		if got != want || ok != (want != "") {
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestNormalizeNameDOB(t *testing.T) {
	const want = "jane mary smith|1980-05-01"
	for _, c := range [][2]string{
		{"Jane Mary Smith", "1980-05-01"},
		{"SMITH, Jane Mary", "01/05/1980"},
		{"Mrs Jane-Mary  Smith", "1/5/1980"},
		{"smith jane mary", "1 May 1980"},
		{"Smith Jane Mary", "May 1st, 1980"},
		{"Jane Mary Smith", "01-May-1980"},
		{"Jane Mary Smith", "Thursday, 1 May 1980"},
		{"Jane Mary Smith", "1980/05/01"},
		{"Jane Mary Smith", "19800501"},
		{"Jane Mary Smith", "01051980"},
		{"Jane Mary Smith", "1980-05-01T00:00:00Z"},
		{"Jane Mary Smith", "1980-05-01 00:00:00"},
		{"Jane Mary Smith", "01.05.1980"},
		{"ＪＡＮＥ Mary Smith", "1 may 1980"},
	} {
		if got, ok := NormalizeNameDOB(c[0], c[1]); !ok || got != want {
			t.Errorf("NormalizeNameDOB(%q, %q) = %q, %v; want %q", c[0], c[1], got, ok, want)
		}
	}
	if got, ok := NormalizeNameDOB("Jane Smith", "05/13/1980"); !ok || got != "jane smith|1980-05-13" {
		t.Errorf("month-first date: %q, %v", got, ok)
	}
	if got, _ := NormalizeNameDOB("Tūhoe Ngāti", "2/3/2001"); got != "ngāti tūhoe|2001-03-02" {
		t.Errorf("macrons: %q", got)
	}
	for _, c := range [][2]string{
		{"", "1980-05-01"}, {"Mr", "1980-05-01"}, {"Jane Smith", ""}, {"Jane Smith", "01/05/80"},
		{"Jane Smith", "31/04/1980"}, {"Jane Smith", "1980-13-01"}, {"Jane Smith", "1850-01-01"},
		{"Jane Smith", "yesterday"}, {"Jane Smith", "13/13/1980"}, {"Jane Smith", "May 1980"},
		{"Jane Smith", "1 Foo 1980"},
	} {
		if got, ok := NormalizeNameDOB(c[0], c[1]); ok {
			t.Errorf("NormalizeNameDOB(%q, %q) = %q, want rejection", c[0], c[1], got)
		}
	}
}

type person struct{ nhi, given, family, email, phone, dob string }

func people(rng *rand.Rand, n int) []person {
	givens := []string{"Jane", "Aroha", "Wiremu", "Mere", "John", "Tama", "Sione", "Priya"}
	families := []string{"Smith", "Ngata", "Te Whata", "Parata", "Brown", "Tāwhiri", "Singh", "Fa'alogo"}
	phones := []string{"021 %03d %04d", "+64 22 %03d %04d", "(09) %03d-%04d", "03 %03d %04d"}
	var ps []person
	for i := range n {
		g, f := givens[rng.IntN(len(givens))], families[rng.IntN(len(families))]
		ps = append(ps, person{
			nhi:    randomNHI(rng),
			given:  g,
			family: f,
			email:  fmt.Sprintf("%s.%s%d@example.%s", strings.ToLower(g), strings.ToLower(strings.ReplaceAll(f, " ", "")), i, []string{"org", "net"}[i%2]),
			phone:  fmt.Sprintf(phones[rng.IntN(len(phones))], 200+rng.IntN(800), rng.IntN(10000)),
			dob:    fmt.Sprintf("%04d-%02d-%02d", 1930+rng.IntN(90), 1+rng.IntN(12), 1+rng.IntN(28)),
		})
	}
	return ps
}

// TestRenderingsAgree: the same records as CSV (Rows), JSON lines, SQL
// values and a fixed-width table (TextRows) give equal field hashes.
func TestRenderingsAgree(t *testing.T) {
	h := NewHasher(testKey(t, 1))
	ps := people(rand.New(rand.NewPCG(1, 2)), 50)

	cols := []string{"NHI", "Given Name", "Surname", "Email", "Mobile", "DOB", "GP Email"}
	var recs []Record
	var jsonl, sql, table strings.Builder
	sql.WriteString("INSERT INTO patients (nhi, given, family, email, phone, dob) VALUES\n")
	for i, p := range ps {
		recs = append(recs, Record{Columns: cols, Values: []string{p.nhi, p.given, p.family, p.email, p.phone, p.dob, "gp@clinic.example.org"}})
		fmt.Fprintf(&jsonl, `{"nhi": %q, "name": "%s %s", "email": %q, "phone": %q, "dob": %q}`+"\n", strings.ToLower(p.nhi), p.given, p.family, strings.ToUpper(p.email), p.phone, p.dob)
		sep := ","
		if i == len(ps)-1 {
			sep = ";"
		}
		fmt.Fprintf(&sql, "  ('%s', '%s', '%s', '%s', '%s', '%s')%s\n", p.nhi, p.given, strings.ReplaceAll(p.family, "'", "''"), p.email, p.phone, p.dob, sep)
		fmt.Fprintf(&table, "%-8s %-10s %-10s %-32s %-18s %s\n", p.nhi, p.given, p.family, p.email, p.phone, p.dob)
	}
	ref := h.Rows(recs)
	if len(ref) != len(ps) {
		t.Fatalf("Rows: %d rows for %d records", len(ref), len(ps))
	}
	for i, r := range ref {
		if len(r.Fields) != 4 {
			t.Fatalf("record %d: fields %v, want nhi, email, phone, name_dob", i, r.Fields)
		}
	}
	for name, text := range map[string]string{"json lines": jsonl.String(), "sql": sql.String(), "table": table.String()} {
		rows := h.TextRows(text)
		if len(rows) != len(ps) {
			t.Fatalf("%s: %d rows for %d records", name, len(rows), len(ps))
		}
		for i, r := range rows {
			for _, f := range []Field{FieldNHI, FieldEmail, FieldPhone} {
				if r.Fields[f] == "" || r.Fields[f] != ref[i].Fields[f] {
					t.Errorf("%s row %d: %s hash differs", name, i, f)
				}
			}
		}
	}
	// One minified line holding all records splits into rows too.
	var arr strings.Builder
	arr.WriteString("[")
	for _, p := range ps {
		fmt.Fprintf(&arr, `{"nhi":%q,"email":%q,"phone":%q},`, p.nhi, p.email, p.phone)
	}
	arr.WriteString("]")
	if rows := h.TextRows(arr.String()); len(rows) != len(ps) || rows[7].Fields[FieldNHI] != ref[7].Fields[FieldNHI] || rows[7].Fields[FieldPhone] != ref[7].Fields[FieldPhone] {
		t.Errorf("minified array: %d rows", len(rows))
	}
}

func TestRowsColumnHints(t *testing.T) {
	h := NewHasher(testKey(t, 1))
	recs := []Record{
		// Full name column, date in words, phone with a label inside a notes cell.
		{Columns: []string{"patient_name", "date_of_birth", "notes", "id"}, Values: []string{"Smith, Jane", "1 May 1980", "Ph: 021 123 4567", "ZAC5361"}},
		// No column names: patterns only.
		{Values: []string{"zvu27kz", "mere@example.net"}},
		// Next of kin and GP values are someone else's.
		{Columns: []string{"NHI", "NextOfKinPhone", "gp_email", "PatientEmail"}, Values: []string{"ZAD96LT", "021 999 8888", "gp@example.org", "x@example.org"}},
		// Nothing recognisable.
		{Columns: []string{"a", "b"}, Values: []string{"hello", "12345"}},
		// Name without a date: no name_dob.
		{Columns: []string{"first name", "last name", "NHI"}, Values: []string{"Jane", "Smith", "ZAC5361"}},
	}
	rows := h.Rows(recs)
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4", len(rows))
	}
	want := func(i int, f Field, v string) {
		t.Helper()
		if got := rows[i].Fields[f]; got != h.Hash(f, v) {
			t.Errorf("row %d %s: got %q, want hash of %q", i, f, got, v)
		}
	}
	want(0, FieldNameDOB, "jane smith|1980-05-01")
	want(0, FieldPhone, "+64211234567")
	want(0, FieldNHI, "ZAC5361")
	want(1, FieldNHI, "ZVU27KZ")
	want(1, FieldEmail, "mere@example.net")
	want(2, FieldNHI, "ZAD96LT")
	want(2, FieldEmail, "x@example.org")
	if len(rows[2].Fields) != 2 {
		t.Errorf("row 2 kept another person's field: %v", rows[2].Fields)
	}
	if len(rows[3].Fields) != 1 {
		t.Errorf("row 3: name without DOB gave %v", rows[3].Fields)
	}
}

func TestColumnHints(t *testing.T) {
	for col, want := range map[string]hint{
		"DOB": hintDOB, "PatientDOB": hintDOB, "date_of_birth": hintDOB, "Birth Date": hintDOB,
		"Surname": hintFamily, "last_name": hintFamily, "FamilyName": hintFamily,
		"Given Name": hintGiven, "firstName": hintGiven, "forenames": hintGiven,
		"Name": hintFullName, "patient_name": hintFullName, "FullName": hintFullName,
		"username": hintNone, "file name": hintNone, "middle_name": hintNone,
		"GP Name": hintSkip, "NextOfKinPhone": hintSkip, "emergency_contact_email": hintSkip, "Doctor": hintSkip,
		"email": hintNone, "": hintNone,
	} {
		if got := columnHint(col); got != want {
			t.Errorf("columnHint(%q) = %d, want %d", col, got, want)
		}
	}
}

func TestTextRowsFreeText(t *testing.T) {
	h := NewHasher(testKey(t, 1))
	text := "Dear Dr Brown,\r\n" +
		"Re: Jane Smith (NHI ZAC5361), phone 021 123 4567, seen on 03/05/2024.\r\n" +
		"Invoice 0012345, ref ABC1234, total $120.50, call 12021123456.\n" +
		"Copy to jane.smith@example.org\n" +
		"\n" +
		"ZZZ00AA is not an NHI; neither is zac5361@example.net's local part.\n"
	rows := h.TextRows(text)
	if len(rows) != 3 {
		for _, r := range rows {
			t.Logf("%v", r.Fields)
		}
		t.Fatalf("%d rows, want 3", len(rows))
	}
	if rows[0].Fields[FieldNHI] != h.Hash(FieldNHI, "ZAC5361") || rows[0].Fields[FieldPhone] != h.Hash(FieldPhone, "+64211234567") {
		t.Errorf("row 0: %v", rows[0].Fields)
	}
	if len(rows[1].Fields) != 1 || rows[1].Fields[FieldEmail] != h.Hash(FieldEmail, "jane.smith@example.org") {
		t.Errorf("row 1: %v", rows[1].Fields)
	}
	if len(rows[2].Fields) != 1 || rows[2].Fields[FieldEmail] != h.Hash(FieldEmail, "zac5361@example.net") {
		t.Errorf("row 2: %v", rows[2].Fields)
	}
	if rows := h.TextRows("jane@example.org@example.net"); len(rows) != 1 || rows[0].Fields[FieldEmail] != h.Hash(FieldEmail, "jane@example.org") {
		t.Errorf("overlapping e-mails: %v", rows)
	}
	if rows := h.TextRows("no fields here\n12345 67890\ndoses 0 2 4 6 8 10 12 mg; 0.5 0.25\n"); len(rows) != 0 {
		t.Errorf("rows from plain text: %v", rows)
	}
}

// TestStolenIndexRevealsNothing is the privacy requirement: given the
// stored hashes, a thief who knows a patient's NHI or e-mail cannot confirm
// it — not by plain SHA-256, not by HMAC under a guessed or wrong key, not
// by the master key used directly, and not with another field's subkey.
func TestStolenIndexRevealsNothing(t *testing.T) {
	k := testKey(t, 1)
	h := NewHasher(k)
	nhi, email := "ZAC5361", "jane.doe@example.org"
	rows := h.TextRows(nhi + ", " + email + ", 021 123 4567")
	if len(rows) != 1 || len(rows[0].Fields) != 3 {
		t.Fatalf("rows: %v", rows)
	}
	stored := map[string]bool{}
	for _, v := range rows[0].Fields {
		stored[v] = true
		if len(v) != 64 {
			t.Fatalf("stored hash %q is not 32 bytes hex", v)
		}
	}
	hm := func(key []byte, s string) string {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(s))
		return hex.EncodeToString(m.Sum(nil))
	}
	wrong := NewHasher(testKey(t, 2))
	for _, v := range []string{nhi, email, strings.ToLower(nhi), strings.ToUpper(email)} {
		sum := sha256.Sum256([]byte(v))
		attempts := []string{
			hex.EncodeToString(sum[:]),
			hm(nil, v),
			hm(bytes.Repeat([]byte{1}, 32), v), // the master secret itself
			hm(bytes.Repeat([]byte{2}, 32), v),
			wrong.Hash(FieldNHI, v),
			wrong.Hash(FieldEmail, v),
			h.Hash(FieldPhone, v), // right key, wrong field
			h.Hash(FieldNameDOB, v),
		}
		for i, a := range attempts {
			if stored[a] {
				t.Errorf("lookup %d of %q matched a stored hash", i, v)
			}
		}
	}
	// Only the keyed, field-specific hash matches.
	if !stored[h.Hash(FieldNHI, nhi)] || !stored[h.Hash(FieldEmail, email)] {
		t.Error("keyed hashes do not match their own rows")
	}
	if h.Hash(FieldNHI, nhi) == h.Hash(FieldEmail, nhi) {
		t.Error("fields share a subkey")
	}
	if h.Hash("unknown", nhi) != "" || h.Hash(FieldNHI, "") != "" {
		t.Error("unknown field or empty value hashed")
	}
}

// TestHasherConcurrent: one Hasher serves many goroutines (run with -race).
func TestHasherConcurrent(t *testing.T) {
	h := NewHasher(testKey(t, 1))
	want := h.Hash(FieldNHI, "ZAC5361")
	done := make(chan bool)
	for range 4 {
		go func() {
			ok := true
			for range 200 {
				rows := h.TextRows("ZAC5361, jane@example.org, 021 123 4567")
				ok = ok && len(rows) == 1 && rows[0].Fields[FieldNHI] == want
			}
			done <- ok
		}()
	}
	for range 4 {
		if !<-done {
			t.Error("concurrent results differ")
		}
	}
}
