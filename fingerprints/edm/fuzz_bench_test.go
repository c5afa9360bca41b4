package edm

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func FuzzTextRows(f *testing.F) {
	for _, s := range []string{
		"ZAC5361, jane@example.org, 021 123 4567",
		`{"nhi":"ZVU27KZ","phone":"+64 (0)9 555 1234"},{"nhi":"ZAD96LT"}`,
		"('ZAC5361','a@b.example.net','0064 3 555 1234');",
		"@@@ a@ @b.org (0 + 0800 123 456 zac5361@x.org",
		"",
	} {
		f.Add(s)
	}
	h := NewHasher(testKey(f, 3))
	f.Fuzz(func(t *testing.T, s string) {
		rows := h.TextRows(s)
		if len(rows) > strings.Count(s, "\n")+1+len(s)/6 { // each field takes ≥ 6 bytes
			t.Fatalf("%d rows from %d bytes", len(rows), len(s))
		}
		for _, r := range rows {
			if len(r.Fields) == 0 {
				t.Fatal("row without fields")
			}
			for f, v := range r.Fields {
				if f != FieldNHI && f != FieldEmail && f != FieldPhone {
					t.Fatalf("field %q from text", f)
				}
				if b, err := hex.DecodeString(v); err != nil || len(b) != 32 {
					t.Fatalf("hash %q", v)
				}
			}
		}
		// Every value found is itself a canonical, valid field value.
		for _, x := range scanLine(s, nil) {
			var norm string
			var ok bool
			switch x.f {
			case FieldNHI:
				norm, ok = NormalizeNHI(x.norm)
			case FieldEmail:
				norm, ok = NormalizeEmail(x.norm)
			case FieldPhone:
				norm, ok = NormalizePhone(x.norm)
			}
			if !ok || norm != x.norm {
				t.Fatalf("%s %q not canonical (%q, %v)", x.f, x.norm, norm, ok)
			}
		}
	})
}

func FuzzValidNHI(f *testing.F) {
	for _, s := range []string{"ZAC5361", "ZVU27KZ", "ZAD96LT", "ZZZ00AA", "zac5361", "ZAC 5361", "", "ZIO1234"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		valid := ValidNHI(s)
		if valid {
			if len(s) != 7 || strings.ContainsAny(s, "IO") || strings.ToUpper(s) != s {
				t.Fatalf("%q accepted", s)
			}
			if want := nhiCheck(s[:6]); want != s[6:] {
				t.Fatalf("%q accepted, check should be %q", s, want)
			}
		} else if len(s) == 7 && isNHILetter(s[0]) && isNHILetter(s[1]) && isNHILetter(s[2]) && isDigit(s[3]) && isDigit(s[4]) &&
			(isDigit(s[5]) && isDigit(s[6]) || isNHILetter(s[5]) && isNHILetter(s[6])) && nhiCheck(s[:6]) == s[6:] {
			t.Fatalf("%q rejected", s)
		}
		n, ok := NormalizeNHI(s)
		if ok != (n != "") || ok && !ValidNHI(n) {
			t.Fatalf("NormalizeNHI(%q) = %q, %v", s, n, ok)
		}
		if valid && (!ok || n != s) {
			t.Fatalf("NormalizeNHI(%q) = %q, %v for a canonical NHI", s, n, ok)
		}
	})
}

// dumpText renders n records as CSV-ish lines.
func dumpText(n int) string {
	var b strings.Builder
	for _, p := range people(rand.New(rand.NewPCG(5, 6)), n) {
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s,%s,\"Seen 12/03/2024, follow-up in 6 weeks\"\n", p.nhi, p.given, p.family, p.email, p.phone, p.dob)
	}
	return b.String()
}

// proseText is clinical prose with a field every few lines.
func proseText() string {
	var b strings.Builder
	for i := 0; b.Len() < 1<<20; i++ {
		b.WriteString("Patient reviewed in clinic today, 14:30. BP 120/80, HR 72, temp 36.8. Plan: continue 500mg amoxicillin for 5 days, review 03/06/2024.\n")
		if i%20 == 0 {
			b.WriteString("Contact: 021 123 4567 or jane.doe@example.org; NHI ZAC5361.\n")
		}
	}
	return b.String()
}

func BenchmarkTextRows(b *testing.B) {
	h := NewHasher(testKey(b, 1))
	for name, s := range map[string]string{"dump": dumpText(10000), "prose": proseText()} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				h.TextRows(s)
			}
		})
	}
}

func BenchmarkRows(b *testing.B) {
	h := NewHasher(testKey(b, 1))
	cols := []string{"NHI", "Given Name", "Surname", "Email", "Mobile", "DOB", "Notes"}
	var recs []Record
	size := 0
	for _, p := range people(rand.New(rand.NewPCG(7, 8)), 10000) {
		vals := []string{p.nhi, p.given, p.family, p.email, p.phone, p.dob, "Seen 12/03/2024, follow-up in 6 weeks"}
		for _, v := range vals {
			size += len(v) + 1
		}
		recs = append(recs, Record{Columns: cols, Values: vals})
	}
	b.SetBytes(int64(size))
	for b.Loop() {
		h.Rows(recs)
	}
}

func BenchmarkHash(b *testing.B) {
	h := NewHasher(testKey(b, 1))
	b.SetBytes(int64(len("jane.doe@example.org")))
	for b.Loop() {
		h.Hash(FieldEmail, "jane.doe@example.org")
	}
}
