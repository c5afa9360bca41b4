package text

import (
	"bytes"
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

var vocab = strings.Fields(`patient presented with mild moderate severe pain chest abdomen
left right lower upper review follow-up referral clinic nurse doctor GP
prescribed paracetamol ibuprofen amoxicillin 500mg twice daily for days weeks
blood pressure heart rate temperature oxygen saturation normal elevated
history of asthma diabetes hypertension allergy penicillin none known
vaccination influenza COVID-19 booster dose administered batch site arm
lab results haemoglobin glucose HbA1c cholesterol creatinine eGFR within range
plan discharge home advised rest fluids return if worse symptoms persist
Tūhoe Ōtautahi whānau Māori Pākehā Whangārei Taupō Ngāruawāhia
the and of to in on at by a an is was were has had not no`)

// synthText returns a clinical-looking note of about n bytes.
func synthText(rng *rand.Rand, n int) string {
	var b strings.Builder
	for b.Len() < n {
		switch rng.IntN(14) {
		case 0:
			fmt.Fprintf(&b, "%d/%02d/20%02d ", 1+rng.IntN(28), 1+rng.IntN(12), rng.IntN(26))
		case 1:
			fmt.Fprintf(&b, "%d.%d ", rng.IntN(200), rng.IntN(10))
		case 2:
			b.WriteString(".\n")
		case 3:
			b.WriteString(", ")
		default:
			b.WriteString(vocab[rng.IntN(len(vocab))])
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// randomNorm returns normalised-looking random text over a small alphabet:
// letters and single spaces, n runes.
func randomNorm(rng *rand.Rand, n int) string {
	const alpha = "abcdefghijklmnopqrstuvwxyzāēīōū0123456789"
	ar := []rune(alpha)
	rs := make([]rune, n)
	for i := range rs {
		if i > 0 && i < n-1 && rs[i-1] != ' ' && rng.IntN(6) == 0 {
			rs[i] = ' '
		} else {
			rs[i] = ar[rng.IntN(len(ar))]
		}
	}
	return string(rs)
}
