package synth

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Patient is one fictional patient. Every field is synthetic: names come
// from small built-in lists, e-mail addresses use the reserved example.org
// and example.net domains, phone numbers use the 555 01xx fictional range and
// the NHI is in the Z test range.
type Patient struct {
	NHI        string
	GivenName  string
	FamilyName string
	DOB        time.Time // date only, UTC
	Email      string
	Phone      string // NZ mobile style, e.g. "021 555 0142"
}

// FullName returns "Given Family".
func (p Patient) FullName() string { return p.GivenName + " " + p.FamilyName }

// Names are deliberately ASCII: the lab PDFs use a standard Type 1 font,
// and identical spelling across CSV, text and PDF keeps exact-field
// matching (EDM) tests simple.
var givenNames = []string{
	"Aroha", "Mere", "Tama", "Nikau", "Hemi", "Ana", "Wiremu", "Kiri",
	"Olivia", "Jack", "Charlotte", "Oliver", "Isla", "Noah", "Amelia", "Leo",
	"Sione", "Losa", "Malia", "Tevita", "Priya", "Arjun", "Mei", "Wei",
	"Hannah", "Liam", "Grace", "Lucas", "Ruby", "Finn", "Zoe", "Theo",
}

var familyNames = []string{
	"Ngata", "Parata", "Tipene", "Walker", "Thompson", "Wilson", "Harris",
	"Taufa", "Fifita", "Latu", "Singh", "Patel", "Chen", "Li", "Zhang",
	"Brown", "Campbell", "Stewart", "Robinson", "Hohaia", "Kereama",
	"Matagi", "Sapolu", "Morrison", "Fairweather", "Kowhai", "Rimu",
}

var mobilePrefixes = []string{"020", "021", "022", "027", "029"}

// NewPatients returns n fictional patients drawn from rng, with distinct
// NHIs and e-mail addresses.
func NewPatients(rng *rand.Rand, n int) []Patient {
	out := make([]Patient, 0, n)
	seenNHI := make(map[string]bool, n)
	for len(out) < n {
		nhi := NHI(rng)
		if seenNHI[nhi] {
			continue // 24²·10²·24 ≈ 1.4 M values: collisions are rare but possible
		}
		seenNHI[nhi] = true
		given := givenNames[rng.IntN(len(givenNames))]
		family := familyNames[rng.IntN(len(familyNames))]
		domain := "example.org"
		if rng.IntN(2) == 1 {
			domain = "example.net"
		}
		// The running index keeps addresses unique without a retry loop.
		email := fmt.Sprintf("%s.%s%d@%s", strings.ToLower(given), strings.ToLower(family), len(out)+1, domain)
		dob := time.Date(1935, time.January, 1, 0, 0, 0, 0, time.UTC).
			AddDate(0, 0, rng.IntN(85*365))
		phone := fmt.Sprintf("%s 555 01%02d", mobilePrefixes[rng.IntN(len(mobilePrefixes))], rng.IntN(100))
		out = append(out, Patient{
			NHI:        nhi,
			GivenName:  given,
			FamilyName: family,
			DOB:        dob,
			Email:      email,
			Phone:      phone,
		})
	}
	return out
}
