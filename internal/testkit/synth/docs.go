package synth

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

// Fictional providers and clinicians; any resemblance to real ones is
// accidental.
var clinics = []string{
	"Kakapo Bay Medical Centre", "Totara Grove Family Practice",
	"Harbour Lights Health", "Pohutukawa Lane Clinic", "Riverstone Medical",
}

var clinicians = []string{
	"Dr A. Example", "Dr R. Placeholder", "Dr T. Fictional", "NP M. Sample",
	"Dr K. Synthetic", "Dr L. Mockridge",
}

var complaints = []string{
	"three days of productive cough and low-grade fever",
	"intermittent lower back pain after lifting at work",
	"a persistent itchy rash on both forearms",
	"follow-up of blood pressure after medication change",
	"tiredness and reduced exercise tolerance over two months",
	"a sprained left ankle from a netball game",
	"recurrent headaches, worse in the afternoon",
	"review of a skin lesion on the upper back",
	"routine diabetes review and repeat prescription",
	"sore throat and difficulty swallowing since the weekend",
}

var histories = []string{
	"No significant past medical history. Non-smoker. Drinks alcohol occasionally.",
	"Known asthma, well controlled on inhaled preventer. No recent admissions.",
	"Type 2 diabetes diagnosed five years ago. Hypertension. Ex-smoker.",
	"Previous appendectomy. Seasonal hay fever. No known drug allergies.",
	"Hypothyroidism on replacement therapy. Allergic to penicillin (rash).",
	"Gout, last flare eight months ago. Works long shifts as a driver.",
}

// examinations are templates; ranges give the bounds for each %d verb.
var examinations = []struct {
	text   string
	ranges [][2]int
}{
	{"Alert and well perfused. Chest clear with good air entry bilaterally.", nil},
	{"Tender over the lumbar paraspinal muscles, full neurological exam normal.", nil},
	{"Erythematous papular rash on flexor surfaces, no signs of infection.", nil},
	{"BP %d/%d mmHg, heart rate %d, regular. Heart sounds dual, no murmurs.", [][2]int{{100, 165}, {60, 98}, {52, 104}}},
	{"Swelling and bruising over the lateral malleolus, able to weight bear.", nil},
	{"Pigmented lesion %d mm, irregular border, photographed for comparison.", [][2]int{{3, 15}}},
	{"Tonsils enlarged with exudate, tender anterior cervical nodes.", nil},
}

var plans = []string{
	"Simple analgesia, fluids and rest. Return if symptoms worsen.",
	"Bloods requested (FBC, U&E, HbA1c, lipids). Review with results in two weeks.",
	"Topical steroid twice daily for one week, emollients. Review as needed.",
	"Continue current medication. Repeat BP check in one month.",
	"Referral to physiotherapy. Safety-netting advice given.",
	"Referral to dermatology for dermoscopy. Photographs attached to record.",
	"Course of antibiotics prescribed. Throat swab sent to laboratory.",
}

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

// examination renders a random examination template with plausible values.
func examination(rng *rand.Rand) string {
	e := pick(rng, examinations)
	if len(e.ranges) == 0 {
		return e.text
	}
	args := make([]any, len(e.ranges))
	for i, r := range e.ranges {
		args[i] = r[0] + rng.IntN(r[1]-r[0]+1)
	}
	return fmt.Sprintf(e.text, args...)
}

func clinicalNote(rng *rand.Rand, p Patient, serial string, date time.Time) []byte {
	var b strings.Builder
	clinic := pick(rng, clinics)
	fmt.Fprintf(&b, "%s\nCLINICAL NOTE - CONSULTATION\n\n", strings.ToUpper(clinic))
	fmt.Fprintf(&b, "Document ID: %s\n", serial)
	fmt.Fprintf(&b, "Patient: %s\nNHI: %s\nDate of birth: %s\n", p.FullName(), p.NHI, p.DOB.Format("02/01/2006"))
	fmt.Fprintf(&b, "Contact: %s, %s\n", p.Phone, p.Email)
	fmt.Fprintf(&b, "Seen: %s by %s\n\n", date.Format("02/01/2006 15:04"), pick(rng, clinicians))
	fmt.Fprintf(&b, "Presenting complaint:\n%s presents with %s.\n\n", p.GivenName, pick(rng, complaints))
	fmt.Fprintf(&b, "History:\n%s\n\n", pick(rng, histories))
	fmt.Fprintf(&b, "Examination:\nTemp %.1f C, SpO2 %d%%, RR %d. %s\n\n",
		36.0+float64(rng.IntN(25))/10, 94+rng.IntN(6), 12+rng.IntN(10), examination(rng))
	fmt.Fprintf(&b, "Plan:\n%s\n", pick(rng, plans))
	if rng.IntN(2) == 0 {
		fmt.Fprintf(&b, "%s\n", pick(rng, plans))
	}
	fmt.Fprintf(&b, "\nFollow-up booked for %s.\n", date.AddDate(0, 0, 7+rng.IntN(60)).Format("02/01/2006"))
	b.WriteString("\nSYNTHETIC TEST DATA - NOT A REAL PATIENT RECORD\n")
	return []byte(b.String())
}

var vaccines = []string{
	"Influenza (quadrivalent)", "Tdap booster", "MMR", "Hepatitis B",
	"COVID-19 mRNA", "HPV 9-valent", "Pneumococcal conjugate", "Shingles (recombinant)",
}

func vaccinationCSV(rng *rand.Rand, p Patient, serial string, date time.Time) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	rows := [][]string{{"record_id", "nhi", "patient_name", "dob", "vaccine", "dose", "administered", "batch", "provider"}}
	n := 1 + rng.IntN(4)
	d := date
	for i := range n {
		rows = append(rows, []string{
			fmt.Sprintf("%s-%d", serial, i+1),
			p.NHI, p.FullName(), p.DOB.Format(time.DateOnly),
			pick(rng, vaccines), fmt.Sprint(1 + rng.IntN(3)), d.Format(time.DateOnly),
			fmt.Sprintf("SYN%06X", rng.IntN(1<<24)), pick(rng, clinics),
		})
		d = d.AddDate(0, 1+rng.IntN(12), rng.IntN(28))
	}
	if err := w.WriteAll(rows); err != nil {
		return nil, fmt.Errorf("vaccination csv: %w", err)
	}
	return buf.Bytes(), nil
}

var labTests = []struct {
	name, unit string
	lo, hi     float64
}{
	{"Haemoglobin", "g/L", 115, 175},
	{"White cell count", "x10^9/L", 4.0, 11.0},
	{"Platelets", "x10^9/L", 150, 400},
	{"Sodium", "mmol/L", 135, 145},
	{"Potassium", "mmol/L", 3.5, 5.2},
	{"Creatinine", "umol/L", 45, 110},
	{"eGFR", "mL/min/1.73m2", 60, 120},
	{"HbA1c", "mmol/mol", 20, 40},
	{"CRP", "mg/L", 0, 5},
	{"TSH", "mU/L", 0.4, 4.0},
	{"Ferritin", "ug/L", 20, 300},
	{"LDL cholesterol", "mmol/L", 0, 3.0},
}

func labResultPDF(rng *rand.Rand, p Patient, serial string, date time.Time) []byte {
	lines := []string{
		"Patient: " + p.FullName(),
		"NHI: " + p.NHI + "    DOB: " + p.DOB.Format("02/01/2006"),
		"Requested by: " + pick(rng, clinicians) + ", " + pick(rng, clinics),
		"Collected: " + date.Format("02/01/2006 15:04") + "    Reported: " + date.Add(26*time.Hour).Format("02/01/2006 15:04"),
		"Lab reference: " + serial,
		"",
		fmt.Sprintf("%-20s %10s  %-14s %s", "Test", "Result", "Units", "Reference range"),
	}
	// A random subset in a fixed order reads like a real panel.
	for _, t := range labTests {
		if rng.IntN(3) == 0 {
			continue
		}
		span := t.hi - t.lo
		// Mostly in range, sometimes flagged; never negative.
		v := math.Abs(t.lo - span*0.2 + rng.Float64()*span*1.4)
		flag := ""
		if v < t.lo {
			flag = " L"
		} else if v > t.hi {
			flag = " H"
		}
		lines = append(lines, fmt.Sprintf("%-20s %10.1f%-2s %-14s %.1f - %.1f", t.name, v, flag, t.unit, t.lo, t.hi))
	}
	lines = append(lines, "",
		"Comment: results reviewed by "+pick(rng, clinicians)+".",
		"SYNTHETIC TEST DATA - NOT A REAL PATIENT RECORD")
	return buildPDF("Laboratory Results - Kowhai Community Laboratory", lines, date)
}
