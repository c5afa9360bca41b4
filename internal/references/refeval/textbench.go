package refeval

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/leakwatch/leakwatch/fingerprints/match"
	"github.com/leakwatch/leakwatch/internal/testkit/synth"
)

// The text mode of BenchRefs (--text-kb) indexes plain-text letters and
// clinical notes the size of the breach's (4.7 KB mean, lognormal) instead
// of synth.Generate's short templated notes. Every letter is made here,
// seeded per document: a header and sign-off in a clinic's template around
// body text drawn word by word from a vocabulary of a few thousand word
// forms, with the letter's own names, dates, NHI number and results. The
// body text is unique to its letter, so the index holds one letter's
// prints per letter, as a real breach's narrative text does, and only the
// template lines are shared boilerplate. Nothing here is real: names come
// from synth.NewPatients, NHI numbers are in the Z test range, and every
// letter says it is synthetic.

// sizeSigma is the spread of letter sizes: ln(size) is normal with this
// standard deviation (a 4.7 KB mean gives a median of 4.1 KB and a 99th
// percentile of 13 KB).
const sizeSigma = 0.5

// minLetter is the smallest letter made, whatever the draw.
const minLetter = 400

// Word lists. Nouns and verbs are inflected (plural; past, -ing and -s
// forms), which brings the vocabulary to a few thousand word forms.
const nounList = `
abdomen ability abnormality abscess absence access accident account ache action activity addition address adherence
adjustment admission adult advice agent agreement aid alarm alcohol allergy allowance alteration alternative ambulance
amount anaemia analysis anatomy angina angle ankle answer antibiotic antibody anxiety appearance appetite application
appointment approach area arm arrangement arrhythmia artery arthritis aspect assessment assistance asthma attack attempt
attendance attention audit authority awareness baby back background bag balance bandage barrier base basis bath bed
bedtime behaviour benefit bile biopsy birth bit bladder bleed block blood board body bone bottle bowel box brain break
breakfast breast breath breathing brother bruise budget building burden burn bursitis bus cabinet calcium call calf
cancer capacity car card care carer case cast cataract category catheter cause cell centre chair challenge chance change
chapter charge chart check cheek chemist chest child choice cholesterol circulation circumstance claim class clinic
clinician clot code cold colleague collection colour column comfort comment community company comparison complaint
completion complication component concentration concern condition confidence confirmation confusion consent consequence
consideration constipation consultant consultation contact content context continence contract contrast control
conversation copy correspondence cost couch cough council counsellor country couple course cousin cover cramp cream
crisis criterion culture cup cure curve cushion customer cut cycle cyst damage danger data date daughter day deadline
deal death debt decision decline decrease defect deficiency deficit degree delay delivery demand dementia dentist
department dependence depression depth dermatitis description design detail deterioration development device diabetes
diagnosis diarrhoea diary diet difference difficulty dinner direction disability discharge discomfort discussion disease
disorder distance distress district dizziness doctor document dog dose drain dream dressing drink driver drop drug duty
ear eczema edge education effect effort elbow electrolyte element emergency emphasis employer end energy engagement
enquiry entry environment episode equipment error evening event evidence examination example exercise exertion
expectation experience explanation exposure extent eye face facility factor failure fall family fatigue fault fear
feature fee feeling fever field figure film finding finger fitness flare flat flexion flight floor fluid focus follow
food foot form fracture frame frequency friend front function fund gait gap garden gate gland glucose goal grade grandson
granddaughter graph grip ground group growth guidance guideline habit haematoma haemoglobin hair half hand handover head
headache healing health hearing heart heat heel height help hernia hip history holiday home hope hospital hour house
household husband hygiene hypertension idea illness image impact impairment implant improvement incident income increase
independence index indication infection inflammation influence information infusion inhaler injection injury input
insight instruction insulin insurance intake intention interest interpretation interval intervention interview
investigation iron issue item jaw job joint journey judgement juice kidney kitchen knee knowledge lab label lack language
laptop leaflet leg lesion letter level licence life lifestyle light limb limit line link lip list liver load lock loss
lump lunch lung machine management manner margin marker mass matter meal measure measurement mechanism medication medicine
meeting member memory mention message method midwife migraine mind minute mobility model moisture moment month mood
morning mother motion mouth movement muscle nail name nausea neck need neighbour nephew nerve network night niece nodule
noise note notice number nurse nutrition object observation occasion office officer ointment onset opinion option order
organ outcome outline output overview oxygen pace pack packet page pain palpitation panel paper parent part partner
passage past patch path pathway pattern payment peak pelvis pension percentage period person pharmacist pharmacy phase
phone photograph physio physiotherapist picture piece pill place plan plaster plate platelet pneumonia point policy
position possibility post posture potassium pound practice practitioner preference pregnancy preparation prescription
presence pressure prevention price priority problem procedure process product professional profile programme progress
project proportion protein provider provision pulse purpose quality quantity query question queue radiograph range rash
rate reaction reading reason reassurance receptionist record recovery reduction referral reflex region register rehab
relationship relative relief reminder removal repair repeat replacement report request requirement research resident
resolution resource respect response responsibility rest result review rhythm rib risk road role room rotation routine
rule safety sample scale scan scar schedule school scope score screen screening season seat second section sedation
seizure sensation sense sequence series service session setting severity shape share sheet shift shin shoe shop shoulder
side sight sign signal silence sinus sister site situation size skill skin sleep sling slot smoke smoking sodium solution
son sound source space specialist specimen speech spine spirometry splint spot spouse staff stage stair standard start
state statement status stay step steroid stiffness stock stomach stone story strain strategy strength stress stretch
stroke structure student study subject success suggestion summary supplement supply support surface surgeon surgery
surveillance swab swallow swelling symptom syndrome system table tablet target task taste team tear technique temperature
tendon tenderness term test therapist therapy thigh thing thought threshold throat thumb thyroid time tissue title toe
tolerance tone tongue tool tooth top total touch trace track trail training transfer transport trauma travel treatment
tremor trend trial trigger trip trouble tube tumour turn type ulcer ultrasound understanding unit upset urine use user
vaccine value variation vein version vessel view visit vision visitor voice volume vomit waist wait walk walker ward
warmth warning water weakness week weekend weight wheelchair wheeze whole wife window wish withdrawal woman word work
worker workplace worry wound wrist x-ray year`

// Irregular verbs are given as base:past or base:past:-ing.
const verbList = `
accept achieve acknowledge add address adjust admit:admitted:admitting advise agree aim allow alter answer apply appreciate arrange arrive
ask assess assist attend attribute avoid be:was become:became begin:began believe benefit bleed:bled book break:broke
breathe bring:brought call cancel:cancelled:cancelling care carry catch:caught cause change check choose:chose clarify clean clear climb close
collect come:came comment commence compare complain complete confirm consider contact continue contribute control:controlled:controlling cope
correct cough count cover cut:cut deal:dealt decide decline decrease defer delay deliver demonstrate deny depend describe
develop die discharge discontinue discuss document do:did drain draw:drew dress drink:drank drive:drove drop eat:ate
educate elevate emphasise enable encourage end engage enjoy ensure establish estimate evaluate examine exclude exercise
expect experience explain explore express extend fail fall:fell feel:felt fill find:found finish fit fix focus follow
forget:forgot gain get:got give:gave go:went handle happen hear:heard help hold:held hope identify ignore improve include
increase indicate inform inject insert instruct intend introduce investigate involve join keep:kept know:knew lead:led
learn leave:left lift limit list listen live look lose:lost maintain make:made manage measure meet:met mention miss
mobilise monitor move need note notice observe obtain occur offer open:opened:opening order organise outline pass perform persist plan:planned:planning
point post prefer:preferred:preferring prepare prescribe present prevent proceed produce progress propose protect provide push raise reach
read:read reassure receive recommend record recover reduce refer:referred:referring reflect refuse relate relieve rely remain remember remind
remove repeat replace report request require resolve respond rest restart resume return review rule run:ran say:said
schedule screen see:saw seek:sought send:sent settle share show sit:sat sleep:slept slow smoke speak:spoke spend:spent
stand:stood start state stay stop:stopped:stopping struggle suffer suggest supply support suppose suspect swallow swell switch take:took
talk taper teach:taught tell:told tend test think:thought tolerate touch track train transfer travel:travelled:travelling treat trial try
turn understand:understood undergo:underwent use vary visit vomit wait wake:woke walk want warn wash watch wean wear:wore
weigh wish withdraw:withdrew wonder work worry write:wrote`

const adjectiveList = `
able abnormal absent acceptable accurate active acute additional adequate adverse affected afraid alert alternative
annual anxious apparent appropriate associated asymptomatic available average aware bad basic bilateral bitter brief
bright broad busy calm capable careful cautious central certain chronic clean clear clinical close cold comfortable
common complete complex concerned confident consistent constant content continuous correct cramped critical current
daily dark deep definite dense dependent detailed different difficult diffuse direct distal distant distressed dizzy dry
due early easy effective elderly elevated emotional empty entire equal essential established eventual evident exact
excellent excessive existing expected extensive external extra fair familiar family favourable fine firm fit flat
focal fond formal fortnightly frail free frequent fresh frontal full functional further general generous gentle genuine
glad global good gradual great grey happy hard healthy heavy helpful high hoarse home hot huge ideal immediate important
improved inadequate independent individual initial inner intact intense intermittent internal isolated itchy keen key
known large late lateral left lengthy light likely limited live local localised lonely long loose low main major
manageable marked medial medical mild minimal minor mobile moderate modest monthly motivated multiple mutual narrow
natural near necessary negative nervous new nightly noisy normal notable numb obvious occasional odd old ongoing open
optimal oral ordinary original other outer overall painful pale partial particular past patient persistent personal
physical plain pleasant poor positive possible postural potential practical precise pregnant present previous primary
prior private productive prolonged prominent prompt proper proximal quick quiet random rapid rare raw ready reasonable
recent recurrent red reduced regular relevant reliable remote renal repeated residual responsible restless right rigid
rough routine safe satisfactory scattered seasonal secondary senior sensible separate serious settled severe sharp short
significant silent similar simple single slight slow small smooth social soft sole sore special specific stable steady
stiff stiffer straight strong subsequent substantial sudden sufficient suitable superficial supportive sure surgical
suspicious swollen symmetrical temporary tender terrible thick thin tight tired total tough tricky troublesome typical
unable uncertain unchanged uncomfortable unclear uneventful unhappy unlikely unsteady unusual unwell upper upset urgent
useful usual vague valuable variable various visible vital vulnerable warm weak weekly well whole wide willing worse
worried worthwhile young`

const adverbList = `
about again ahead already also always approximately briefly carefully certainly clearly closely completely consistently
currently daily definitely directly early easily entirely especially eventually exactly extremely fairly finally firmly
fortunately frequently fully generally gently gradually greatly hopefully immediately initially largely lately likely
markedly mainly merely mildly mostly much naturally nearly never normally notably now occasionally often only partly
perhaps possibly presumably previously primarily probably promptly quickly quite rarely rather readily really recently
regularly relatively reportedly routinely seldom separately seriously shortly significantly similarly simply slightly
slowly sometimes soon steadily still strongly subsequently suddenly sufficiently surprisingly temporarily then today
together too typically ultimately unfortunately usually very well yet`

// Function words, drawn uniformly.
var (
	detSingular  = strings.Fields("a the this that one each every another any no her his their our the the a a")
	detPlural    = strings.Fields("the these those some several many few both all any no her his their our the the")
	prepositions = strings.Fields("with after for in on over under since during without despite following about at by " +
		"from into through around before between against within towards beyond alongside regarding near")
	conjunctions = strings.Fields("and but although while because as so whereas since until though and and but")
	modals       = strings.Fields("will should may could would might can must")
	copulas      = strings.Fields("was was is has_been had_been remains remained appeared seemed looked felt became")
)

// The letters' own facts.
var (
	placeWords = strings.Fields("Kakapo Totara Harbour Pohutukawa Riverstone Kauri Manuka Rimu Matai Kowhai Tui " +
		"Ruru Kereru Piwakawaka Miro Hinau Rata Ponga Raupo Korimako Weka Takahe Kea Tawa Puriri Karaka Titoki " +
		"Northcote Eastbay Westfield Southgate Hillcrest Lakeside Seaview Greenlane Brookvale Fernhill")
	practiceKinds = []string{"Medical Centre", "Family Practice", "Health Centre", "Clinic", "Specialist Rooms",
		"Community Health", "Surgery", "Medical Group"}
	hospitalKinds = []string{"Hospital", "District Hospital", "Regional Hospital", "Public Hospital"}
	streetKinds   = []string{"Street", "Road", "Avenue", "Lane", "Drive", "Crescent", "Terrace", "Place", "Way"}
	cities        = strings.Fields("Auckland Hamilton Tauranga Napier Hastings Palmerston Wellington Nelson Christchurch " +
		"Dunedin Invercargill Whangarei Rotorua Gisborne Whanganui Timaru Blenheim Oamaru")
	departments = []string{"General Medicine", "Cardiology", "Respiratory Medicine", "Endocrinology", "Diabetes Service",
		"Gastroenterology", "Rheumatology", "Orthopaedics", "Dermatology", "Neurology", "Renal Medicine",
		"Older Persons Health", "Mental Health", "General Surgery", "Urology", "Gynaecology", "Pain Service",
		"Ophthalmology", "ENT", "Haematology"}
	roles = []string{"Consultant Physician", "Consultant", "Registrar", "Senior Registrar", "Nurse Practitioner",
		"Clinical Nurse Specialist", "House Officer", "Specialist"}
	medicines = strings.Fields("metformin atorvastatin simvastatin cilazapril lisinopril amlodipine felodipine metoprolol " +
		"bisoprolol carvedilol furosemide spironolactone bendroflumethiazide omeprazole pantoprazole paracetamol " +
		"ibuprofen naproxen diclofenac codeine tramadol morphine oxycodone gabapentin pregabalin amitriptyline " +
		"nortriptyline citalopram escitalopram sertraline fluoxetine venlafaxine mirtazapine quetiapine olanzapine " +
		"risperidone lithium levothyroxine prednisone allopurinol colchicine warfarin dabigatran rivaroxaban aspirin " +
		"clopidogrel salbutamol budesonide fluticasone montelukast cetirizine loratadine doxycycline amoxicillin " +
		"flucloxacillin cefalexin trimethoprim nitrofurantoin insulin gliclazide empagliflozin vildagliptin " +
		"ferrous_sulphate cholecalciferol alendronate tamsulosin finasteride oxybutynin melatonin zopiclone")
	frequencies = []string{"once daily", "twice daily", "three times daily", "at night", "in the morning",
		"as required", "weekly", "every six hours as needed", "with meals"}
	doseVerbs = []string{"started", "stopped", "increased", "reduced", "continued", "withheld", "restarted", "changed"}
	labTests  = []struct {
		name, unit string
		lo, hi     float64
		decimals   int
	}{
		{"HbA1c", "mmol/mol", 32, 110, 0}, {"creatinine", "umol/L", 45, 320, 0}, {"eGFR", "mL/min/1.73m2", 12, 110, 0},
		{"potassium", "mmol/L", 3.0, 6.1, 1}, {"sodium", "mmol/L", 126, 147, 0}, {"haemoglobin", "g/L", 78, 172, 0},
		{"ferritin", "ug/L", 6, 880, 0}, {"TSH", "mU/L", 0.05, 14, 2}, {"CRP", "mg/L", 1, 240, 0},
		{"total cholesterol", "mmol/L", 2.8, 8.9, 1}, {"LDL", "mmol/L", 1.1, 6.2, 1}, {"ALT", "U/L", 9, 190, 0},
		{"platelet count", "x10^9/L", 60, 520, 0}, {"white cell count", "x10^9/L", 2.1, 19.5, 1},
		{"vitamin D", "nmol/L", 18, 140, 0}, {"urate", "mmol/L", 0.21, 0.68, 2}, {"INR", "", 0.9, 4.8, 1},
		{"troponin", "ng/L", 2, 95, 0}, {"BNP", "pg/mL", 20, 2400, 0}, {"albumin", "g/L", 24, 48, 0},
	}
	greetings = []string{"Thank you for referring %s, whom I saw in the %s clinic on %s.",
		"I reviewed %s in the %s clinic on %s.", "%s attended the %s clinic on %s for review.",
		"Many thanks for asking me to see %s, who came to the %s clinic on %s.",
		"I saw %s today in the %s clinic (%s) at your request."}
	noteHeadings = []string{"History", "Background", "Medications", "Examination", "Investigations", "Impression",
		"Assessment", "Plan", "Social history", "Progress", "Discussion", "Follow-up"}
	signOffs = []string{"Yours sincerely", "Kind regards", "With best wishes", "Yours faithfully", "Regards"}
)

// A vocabulary of inflected word forms, built once.
type vocabulary struct {
	nouns, plurals           []string
	past, ing, third, base   []string
	adjectives, adverbs      []string
	patterns                 [][]string
	letterTitles, noteTitles []string
}

var (
	vocabOnce sync.Once
	vocab     *vocabulary
)

func textVocabulary() *vocabulary {
	vocabOnce.Do(func() {
		v := &vocabulary{}
		for _, n := range strings.Fields(nounList) {
			v.nouns = append(v.nouns, n)
			v.plurals = append(v.plurals, plural(n))
		}
		for _, w := range strings.Fields(verbList) {
			f := strings.Split(w, ":")
			base, past, ing := f[0], regularPast(f[0]), ingForm(f[0])
			if len(f) > 1 {
				past = f[1]
			}
			if len(f) > 2 {
				ing = f[2]
			}
			v.base = append(v.base, base)
			v.past = append(v.past, past)
			v.ing = append(v.ing, ing)
			v.third = append(v.third, plural(base))
		}
		v.adjectives = strings.Fields(adjectiveList)
		v.adverbs = strings.Fields(adverbList)
		// The lists are alphabetical; pickSkewed favours their front, so
		// which words are common is shuffled once (a fixed order: the
		// same letters every run).
		rng := rand.New(rand.NewPCG(0x6c657474, 0x657273))
		for _, l := range [][2][]string{{v.nouns, v.plurals}, {v.adjectives, nil}, {v.adverbs, nil}} {
			rng.Shuffle(len(l[0]), func(i, j int) {
				l[0][i], l[0][j] = l[0][j], l[0][i]
				if l[1] != nil {
					l[1][i], l[1][j] = l[1][j], l[1][i]
				}
			})
		}
		rng.Shuffle(len(v.base), func(i, j int) {
			for _, l := range [][]string{v.base, v.past, v.ing, v.third} {
				l[i], l[j] = l[j], l[i]
			}
		})
		for _, p := range sentencePatterns {
			v.patterns = append(v.patterns, strings.Fields(p))
		}
		v.letterTitles = []string{"OUTPATIENT CLINIC LETTER", "CLINIC LETTER", "DISCHARGE SUMMARY", "REFERRAL RESPONSE",
			"SPECIALIST REVIEW"}
		v.noteTitles = []string{"CLINICAL NOTE - CONSULTATION", "PROGRESS NOTE", "NURSING NOTE", "TELEPHONE CONSULTATION",
			"CLINICAL NOTE - FOLLOW-UP"}
		vocab = v
	})
	return vocab
}

// Forms returns how many distinct word forms the body text is drawn from.
func (v *vocabulary) forms() int {
	seen := map[string]bool{}
	for _, l := range [][]string{v.nouns, v.plurals, v.past, v.ing, v.third, v.base, v.adjectives, v.adverbs} {
		for _, w := range l {
			seen[w] = true
		}
	}
	return len(seen)
}

func plural(w string) string {
	switch {
	case strings.HasSuffix(w, "sis"):
		return w[:len(w)-2] + "es"
	case strings.HasSuffix(w, "s"), strings.HasSuffix(w, "x"), strings.HasSuffix(w, "z"),
		strings.HasSuffix(w, "ch"), strings.HasSuffix(w, "sh"):
		return w + "es"
	case len(w) > 1 && w[len(w)-1] == 'y' && !strings.ContainsRune("aeiou", rune(w[len(w)-2])):
		return w[:len(w)-1] + "ies"
	}
	return w + "s"
}

func regularPast(w string) string {
	switch {
	case strings.HasSuffix(w, "e"):
		return w + "d"
	case len(w) > 1 && w[len(w)-1] == 'y' && !strings.ContainsRune("aeiou", rune(w[len(w)-2])):
		return w[:len(w)-1] + "ied"
	case doubles(w):
		return w + w[len(w)-1:] + "ed"
	}
	return w + "ed"
}

func ingForm(w string) string {
	switch {
	case strings.HasSuffix(w, "ie"):
		return w[:len(w)-2] + "ying"
	case strings.HasSuffix(w, "e") && !strings.HasSuffix(w, "ee") && w != "be":
		return w[:len(w)-1] + "ing"
	case doubles(w):
		return w + w[len(w)-1:] + "ing"
	}
	return w + "ing"
}

// doubles: a short consonant-vowel-consonant verb doubles its last letter
// (stop, stopped).
func doubles(w string) bool {
	if len(w) < 3 || len(w) > 4 {
		return false
	}
	vowel := func(c byte) bool { return strings.IndexByte("aeiou", c) >= 0 }
	c := w[len(w)-1]
	return !vowel(c) && c != 'w' && c != 'x' && c != 'y' && vowel(w[len(w)-2]) && !vowel(w[len(w)-3])
}

// sentencePatterns: $s subject, $n noun phrase, $v past verb, $g -ing
// form, $b base form, $z third person, $x copula, $a adjective, $r
// adverb, $p preposition, $c conjunction, $m modal, $t a date, $o an
// object pronoun; anything else is itself.
var sentencePatterns = []string{
	"$s $v $n .",
	"$s $v $n $p $n .",
	"$s $r $v $n $p $n .",
	"$n $x $a $p $n .",
	"$s $x $g $n , $c $s $v $n .",
	"$p $n , $s $v $n .",
	"$s $v that $n $x $a .",
	"$s $m $b $n $p $n .",
	"$n $x $r $a , $c $n $x $a .",
	"$s $v $n $c $v $n $p $n .",
	"$r , $s $v $n .",
	"$s $x $a $c $s $v $n $p $n .",
	"we $v $n $p $n and $s $m $b $n .",
	"$s $v to $b $n $p $n .",
	"$n $v $n $p $n , $c $s $v $n .",
	"$s $v $n , $n and $n .",
	"it $x $a that $s $v $n .",
	"I $v $o $p $n and $v $n .",
	"$s $x $a $p $n $p $n .",
	"on $t $s $v $n .",
	"$s $v $n $p $t .",
	"$s $v $n $g $n .",
	"$n $z $n $p $n .",
	"I $m $b $n $c $n $z $a .",
	"$s $v $a $n $p $n $c $r $v $n .",
	"there $x $n $p $n .",
	"$s $v $o $n $p $n .",
	"we $v whether $n $m $b $n .",
	"$n $p $n $x $r $a .",
	"$s $v $r $p $n .",
}

// patient is a letter's subject, with the pronouns the text uses.
type patient struct {
	synth.Patient
	subj, obj, poss string
}

// letterGen writes one letter or note; it is not safe for concurrent use.
type letterGen struct {
	v    *vocabulary
	rng  *rand.Rand
	b    []byte
	p    patient
	date time.Time
}

func newLetterGen() *letterGen {
	return &letterGen{v: textVocabulary(), rng: rand.New(rand.NewPCG(0, 0))}
}

// letterSize draws a size in bytes, lognormal with mean meanBytes.
func letterSize(rng *rand.Rand, meanBytes float64) int {
	mu := math.Log(meanBytes) - sizeSigma*sizeSigma/2
	return max(minLetter, int(math.Exp(mu+sizeSigma*rng.NormFloat64())))
}

// letter returns document i of the set seeded seed, of about meanBytes
// bytes on average; the result is valid until the next call.
func (g *letterGen) letter(seed, i uint64, meanBytes float64) []byte {
	*g.rng = *rand.New(rand.NewPCG(seed, i))
	target := letterSize(g.rng, meanBytes)
	g.b = g.b[:0]
	g.p = newPatient(g.rng)
	if i >= freshSeedStream {
		g.p.freshIdentity(g.rng)
	} else {
		g.p.referenceIdentity(g.rng)
	}
	g.date = time.Date(2014, time.January, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, g.rng.IntN(11*365))
	footer := "\nSYNTHETIC TEST DATA - NOT A REAL PATIENT RECORD\n"
	if g.rng.IntN(10) < 7 {
		g.letterHeader()
		g.body(target-g.signOffLen()-len(footer), false)
		g.signOff()
	} else {
		g.noteHeader()
		g.body(target-len(footer), true)
	}
	g.b = append(g.b, footer...)
	return g.b
}

func newPatient(rng *rand.Rand) patient {
	p := patient{Patient: synth.NewPatients(rng, 1)[0]}
	switch rng.IntN(5) {
	case 0, 1:
		p.subj, p.obj, p.poss = "she", "her", "her"
	case 2, 3:
		p.subj, p.obj, p.poss = "he", "him", "his"
	default:
		p.subj, p.obj, p.poss = "they", "them", "their"
	}
	return p
}

// A fresh letter is about a patient who is not in the breach: its NHI and
// e-mail — what a record match needs one of — come from halves of the test
// range the references never use (the generator's small name and phone
// spaces would otherwise hand fresh letters a breached patient's identity,
// which EDM rightly matches).
func (p *patient) referenceIdentity(rng *rand.Rand) {
	for p.NHI[1] > 'M' {
		p.NHI = synth.NHI(rng)
	}
}

func (p *patient) freshIdentity(rng *rand.Rand) {
	for p.NHI[1] <= 'M' {
		p.NHI = synth.NHI(rng)
	}
	if at := strings.LastIndexByte(p.Email, '@'); at > 0 {
		p.Email = p.Email[:at] + "@fresh.invalid"
	}
}

func (g *letterGen) pick(s []string) string { return s[g.rng.IntN(len(s))] }

// pickSkewed favours the front of s (common words are commoner).
func (g *letterGen) pickSkewed(s []string) string {
	u := g.rng.Float64()
	return s[int(u*u*float64(len(s)))]
}

func (g *letterGen) printf(format string, args ...any) { g.b = fmt.Appendf(g.b, format, args...) }

func (g *letterGen) place() string { return g.pick(placeWords) }

func (g *letterGen) address() string {
	return fmt.Sprintf("%d %s %s, %s %04d", 1+g.rng.IntN(400), g.place(), g.pick(streetKinds), g.pick(cities), 1000+g.rng.IntN(9000))
}

func (g *letterGen) person() synth.Patient { return synth.NewPatients(g.rng, 1)[0] }

func (g *letterGen) dateText(t time.Time) string {
	if g.rng.IntN(2) == 0 {
		return t.Format("2 January 2006")
	}
	return t.Format("02/01/2006")
}

func (g *letterGen) letterHeader() {
	hosp := g.place() + " " + g.pick(hospitalKinds)
	dept := g.pick(departments)
	g.printf("%s\n%s\n%s\nTel (0%d) 555 01%02d\n\n", strings.ToUpper(hosp), strings.ToUpper(dept), g.address(), 3+g.rng.IntN(7), g.rng.IntN(100))
	g.printf("%s\n\n%s\n\n", g.pick(g.v.letterTitles), g.date.Format("2 January 2006"))
	gp := g.person()
	g.printf("Dr %s\n%s %s\n%s\n\nDear Dr %s,\n\n", gp.FullName(), g.place(), g.pick(practiceKinds), g.address(), gp.FamilyName)
	p := g.p
	g.printf("Re: %s, DOB %s, NHI %s\n%s\n\n", p.FullName(), p.DOB.Format("02/01/2006"), p.NHI, g.address())
	g.printf(g.pick(greetings), p.GivenName, dept, g.dateText(g.date))
	g.b = append(g.b, ' ')
}

func (g *letterGen) noteHeader() {
	p := g.p
	g.printf("%s %s\n%s\n\n", strings.ToUpper(g.place()), strings.ToUpper(g.pick(practiceKinds)), g.pick(g.v.noteTitles))
	g.printf("Patient: %s\nNHI: %s\nDate of birth: %s\nContact: %s, %s\n", p.FullName(), p.NHI, p.DOB.Format("02/01/2006"), p.Phone, p.Email)
	c := g.person()
	g.printf("Seen: %s %02d:%02d by Dr %c. %s\n\n", g.date.Format("02/01/2006"), 8+g.rng.IntN(10), g.rng.IntN(60), c.GivenName[0], c.FamilyName)
}

// signOffLen is the sign-off's length, about (names vary).
func (g *letterGen) signOffLen() int { return 120 }

func (g *letterGen) signOff() {
	c := g.person()
	g.printf("\n\n%s,\n\n\nDr %s\n%s, %s\n", g.pick(signOffs), c.FullName(), g.pick(roles), g.pick(departments))
	if g.rng.IntN(2) == 0 {
		g.printf("cc: %s, %s\n", g.p.FullName(), g.address())
	}
}

// body writes paragraphs of sentences until the letter reaches target bytes.
func (g *letterGen) body(target int, headings bool) {
	first := true
	for first || len(g.b) < target {
		if !first {
			g.b = append(g.b, "\n\n"...)
		}
		if headings {
			g.b = append(g.b, g.pick(noteHeadings)...)
			g.b = append(g.b, ":\n"...)
		}
		first = false
		for n := 2 + g.rng.IntN(5); n > 0 && len(g.b) < target; n-- {
			if g.rng.IntN(7) == 0 {
				g.fact()
			} else {
				g.sentence()
			}
			g.b = append(g.b, ' ')
		}
		g.b = g.b[:len(g.b)-1]
	}
}

// fact writes a sentence with the letter's own values.
func (g *letterGen) fact() {
	p := g.p
	when := g.dateText(g.date.AddDate(0, 0, -g.rng.IntN(400)))
	switch g.rng.IntN(5) {
	case 0, 1:
		t := labTests[g.rng.IntN(len(labTests))]
		v := strconv.FormatFloat(t.lo+g.rng.Float64()*(t.hi-t.lo), 'f', t.decimals, 64)
		g.printf("%s %s was %s %s on %s.", capitalise(p.poss), t.name, v, t.unit, when)
	case 2:
		med := strings.ReplaceAll(g.pick(medicines), "_", " ")
		g.printf("%s %d mg %s was %s on %s.", capitalise(med), 5*(1+g.rng.IntN(100)), g.pick(frequencies), g.pick(doseVerbs), when)
	case 3:
		g.printf("Blood pressure %d/%d mmHg, pulse %d, weight %.1f kg.", 100+g.rng.IntN(70), 55+g.rng.IntN(45), 48+g.rng.IntN(60), 45+g.rng.Float64()*90)
	default:
		g.printf("%s was last seen at %s %s on %s.", p.GivenName, g.place(), g.pick(practiceKinds), when)
	}
}

// sentence writes one sentence of body text.
func (g *letterGen) sentence() {
	start := len(g.b)
	for i, tok := range g.v.patterns[g.rng.IntN(len(g.v.patterns))] {
		if tok == "." || tok == "," {
			g.b = append(g.b, tok...)
			continue
		}
		if i > 0 {
			g.b = append(g.b, ' ')
		}
		g.word(tok)
	}
	if g.b[start] >= 'a' && g.b[start] <= 'z' {
		g.b[start] -= 'a' - 'A'
	}
}

func (g *letterGen) word(tok string) {
	v := g.v
	if tok[0] != '$' {
		g.b = append(g.b, tok...)
		return
	}
	switch tok[1] {
	case 's':
		switch r := g.rng.IntN(10); {
		case r < 4:
			g.b = append(g.b, g.p.subj...)
		case r < 5:
			g.b = append(g.b, g.p.GivenName...)
		default:
			g.nounPhrase()
		}
	case 'o':
		g.b = append(g.b, g.p.obj...)
	case 'n':
		g.nounPhrase()
	case 'v':
		g.b = append(g.b, g.pickSkewed(v.past)...)
	case 'g':
		g.b = append(g.b, g.pickSkewed(v.ing)...)
	case 'b':
		g.b = append(g.b, g.pickSkewed(v.base)...)
	case 'z':
		g.b = append(g.b, g.pickSkewed(v.third)...)
	case 'x':
		g.b = append(g.b, strings.ReplaceAll(g.pick(copulas), "_", " ")...)
	case 'a':
		g.b = append(g.b, g.pickSkewed(v.adjectives)...)
	case 'r':
		g.b = append(g.b, g.pickSkewed(v.adverbs)...)
	case 'p':
		g.b = append(g.b, g.pick(prepositions)...)
	case 'c':
		g.b = append(g.b, g.pick(conjunctions)...)
	case 'm':
		g.b = append(g.b, g.pick(modals)...)
	case 't':
		g.b = append(g.b, g.dateText(g.date.AddDate(0, 0, -g.rng.IntN(800)))...)
	default:
		g.b = append(g.b, tok...)
	}
}

// nounPhrase writes a determiner, maybe adjectives, and a noun that
// agrees with the determiner.
func (g *letterGen) nounPhrase() {
	v := g.v
	var words [4]string
	n := 0
	pl := g.rng.IntN(3) == 0
	det := g.pick(detSingular)
	if pl {
		det = g.pick(detPlural)
	}
	for k := g.rng.IntN(5); k >= 3; k-- { // 0, 1 or 2 adjectives
		words[n] = g.pickSkewed(v.adjectives)
		n++
	}
	if g.rng.IntN(7) == 0 { // a compound: "the blood test"
		words[n] = g.pickSkewed(v.nouns)
		n++
	}
	if pl {
		words[n] = g.pickSkewed(v.plurals)
	} else {
		words[n] = g.pickSkewed(v.nouns)
	}
	n++
	if det == "a" && strings.IndexByte("aeiou", words[0][0]) >= 0 {
		det = "an"
	}
	g.b = append(g.b, det...)
	for _, w := range words[:n] {
		g.b = append(g.b, ' ')
		g.b = append(g.b, w...)
	}
}

func capitalise(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-('a'-'A')) + s[1:]
}

// textLetter is one generated reference letter.
type textLetter struct {
	RelPath string
	Size    int
}

// letterPath is letter i's path under the references directory: a
// thousand to a directory.
func letterPath(i int) string {
	return fmt.Sprintf("letters/%03d/letter-%06d.txt", i/1000, i)
}

// writeLetters writes docs letters of about meanBytes bytes on average
// under dir, on every CPU, and returns them in order.
func writeLetters(ctx context.Context, dir string, seed uint64, docs int, meanBytes float64) ([]textLetter, int64, error) {
	for d := 0; d <= (docs-1)/1000; d++ {
		if err := os.MkdirAll(filepath.Join(dir, "letters", fmt.Sprintf("%03d", d)), 0o755); err != nil {
			return nil, 0, err
		}
	}
	out := make([]textLetter, docs)
	var (
		next  atomic.Int64
		total atomic.Int64
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	const chunk = 64
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := newLetterGen()
			for {
				from := int(next.Add(chunk)) - chunk
				if from >= docs || ctx.Err() != nil {
					return
				}
				for i := from; i < min(from+chunk, docs); i++ {
					data := g.letter(seed, uint64(i), meanBytes)
					rel := letterPath(i)
					if err := os.WriteFile(filepath.Join(dir, filepath.FromSlash(rel)), data, 0o644); err != nil {
						mu.Lock()
						first = cmp.Or(first, err)
						mu.Unlock()
						next.Store(int64(docs))
						return
					}
					out[i] = textLetter{RelPath: rel, Size: len(data)}
					total.Add(int64(len(data)))
				}
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return out, total.Load(), first
}

// freshSeedStream keeps fresh letters' seeds apart from the references'.
const freshSeedStream = 1 << 40

// passage cuts about n bytes of text from its middle, at word boundaries:
// it starts at a word and ends after one, and is at most n bytes long.
func passage(text string, n int) string {
	if len(text) <= n {
		return text
	}
	s := (len(text) - n) / 2
	for s < len(text) && !isSpaceByte(text[s]) {
		s++
	}
	for s < len(text) && isSpaceByte(text[s]) {
		s++
	}
	e := min(len(text), s+n)
	if e < len(text) && !isSpaceByte(text[e]) {
		for e > s && !isSpaceByte(text[e-1]) {
			e--
		}
	}
	return strings.TrimRightFunc(text[s:e], func(r rune) bool { return r < 128 && isSpaceByte(byte(r)) })
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// Forum chatter around a quoted passage: bland, fictional small talk.
var (
	chatterLines = []string{
		"anyone got a mirror for the last drop?", "checked a few of these, they look legit to me",
		"price is way too high for what it is", "mods pls move this to the right section",
		"first time poster, long time lurker", "link is dead already", "is this the same set that went round last month?",
		"seller has good rep, dealt with them before", "not touching this one", "the dates look off, probably recycled",
		"pm sent", "thanks for sharing", "how big is the full archive?", "waiting for the full release",
		"this is old news", "format looks like a standard export from their system", "can someone reupload, the host deleted it",
		"escrow only, no exceptions", "bump", "who else got hit by this one?", "vouch, got my copy yesterday",
		"any more like this in the set?", "legit or scam?", "the letters are all like this, hundreds of them",
	}
	quoteIntros = []string{"here is a bit from one of the letters:", "sample as proof:", "copy-paste from one of the files:",
		"proof, straight from their system:", "one of them says", "quoting one of the notes:"}
	forumHandles = strings.Fields("anon ghost byte nullsec darkfern kiwi lurker packet rootless quietmoth tuatara ferric")
)

// forumPost wraps a quoted passage in 200-400 bytes of fresh chatter; with
// quote empty it is chatter alone.
func forumPost(rng *rand.Rand, quote string) []byte {
	want := 200 + rng.IntN(201)
	before := want * (3 + rng.IntN(5)) / 10
	handle := func() string { return fmt.Sprintf("%s%d", forumHandles[rng.IntN(len(forumHandles))], rng.IntN(1000)) }
	chatter := func(b []byte, n int) []byte {
		for start := len(b); len(b)-start < n; {
			b = append(b, chatterLines[rng.IntN(len(chatterLines))]...)
			b = append(b, '\n')
		}
		return b
	}
	b := fmt.Appendf(nil, "Re: new drop, medical (page %d)\n\n%s wrote:\n", 1+rng.IntN(40), handle())
	n := len(b)
	b = chatter(b, before-40)
	b = fmt.Appendf(b, "\n%s: %s\n", handle(), quoteIntros[rng.IntN(len(quoteIntros))])
	if quote != "" {
		b = append(b, "> "...)
		b = append(b, quote...)
		b = append(b, "\n\n"...)
	}
	return chatter(b, want-(len(b)-n-len(quote)))
}

// quoteCheck is the outcome of the recall and precision checks.
type quoteCheck struct {
	Quotes, Found, Other, Wrong int
	Fresh, FreshMatched         int
	Examples                    []string        // what fresh letters or quotes matched wrongly
	latency                     []time.Duration // matcher only, per post
}

// checkQuotes looks for n forum posts, each quoting quoteChars bytes from
// the middle of a random reference, and for n fresh letters that are in no
// reference. quoteChars < 0 posts chatter alone (to see the check fail).
func checkQuotes(ctx context.Context, an *match.Analyzer, m *match.Matcher, refsDir string, letters []textLetter,
	seed uint64, n, quoteChars int, meanBytes float64) (quoteCheck, error) {
	var q quoteCheck
	rng := rand.New(rand.NewPCG(seed, 2<<40))
	matches := func(name string, data []byte) ([]matchSummary, error) {
		var out []matchSummary
		err := an.Analyze(ctx, name, data, match.Query, func(f match.Features) error {
			start := time.Now()
			res, err := m.Match(ctx, f)
			if strings.HasPrefix(name, "post-") {
				q.latency = append(q.latency, time.Since(start))
			}
			for _, mt := range res.Matches {
				out = append(out, matchSummary{ref: mt.RefName, method: mt.Method, why: mt.Why})
			}
			return err
		})
		return out, err
	}
	order := rng.Perm(len(letters))
	for _, i := range order {
		if q.Quotes == n {
			break
		}
		l := letters[i]
		if l.Size < 2*max(quoteChars, 300) {
			continue // too short to have a middle
		}
		data, err := os.ReadFile(filepath.Join(refsDir, filepath.FromSlash(l.RelPath)))
		if err != nil {
			return q, err
		}
		quote := ""
		if quoteChars >= 0 {
			quote = passage(string(data), quoteChars)
		}
		q.Quotes++
		ms, err := matches(fmt.Sprintf("post-%d.txt", q.Quotes), forumPost(rng, quote))
		if err != nil {
			return q, err
		}
		found, other, wrong := false, false, false
		for _, mt := range ms {
			switch {
			case mt.ref == l.RelPath && mt.method == match.MethodWinnow:
				found = true
			case mt.ref == l.RelPath:
				other = true
			default:
				wrong = true
				q.example(fmt.Sprintf("post quoting %s matched %s", l.RelPath, mt))
			}
		}
		switch {
		case found:
			q.Found++
		case other:
			q.Other++
		}
		if wrong {
			q.Wrong++
		}
	}
	g := newLetterGen()
	for i := range n {
		data := g.letter(seed, freshSeedStream+uint64(i), meanBytes)
		ms, err := matches(fmt.Sprintf("fresh-%d.txt", i), data)
		if err != nil {
			return q, err
		}
		q.Fresh++
		if len(ms) > 0 {
			q.FreshMatched++
			q.example(fmt.Sprintf("fresh letter %d matched %s", i, ms[0]))
		}
	}
	return q, nil
}

type matchSummary struct{ ref, method, why string }

func (m matchSummary) String() string { return fmt.Sprintf("%s by %s (%s)", m.ref, m.method, m.why) }

func (q *quoteCheck) example(s string) {
	if len(q.Examples) < 5 {
		q.Examples = append(q.Examples, s)
	}
}

// procStatus reads fields of /proc/self/status, in bytes.
func procStatus() map[string]int64 {
	out := map[string]int64{}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if num, ok := strings.CutSuffix(v, " kB"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			out[k] = n * 1024
		}
	}
	return out
}

// resetPeakRSS resets VmHWM to the current RSS (Linux 4.0+).
func resetPeakRSS() bool { return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil }

// cpuTimes returns the process's user and system CPU time.
func cpuTimes() (user, sys time.Duration) {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

// regularFiles lists the regular files directly in dir.
func regularFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out, nil
}

// evictDir drops the files in dir from the page cache. The kernel keeps a
// page any process has mapped, so this process's own mappings of them
// (the open segments) are emptied first (MADV_DONTNEED: a later access
// faults the page in again from the file), then the cache is told to drop
// them (POSIX_FADV_DONTNEED; no root needed).
func evictDir(dir string) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	if real, err = filepath.Abs(real); err != nil {
		return err
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasPrefix(f[5], real+"/") {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		a, err1 := strconv.ParseUint(lo, 16, 64)
		b, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil || b <= a {
			continue
		}
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, uintptr(a), uintptr(b-a), unix.MADV_DONTNEED); e != 0 {
			return fmt.Errorf("madvise %s: %w", f[5], e)
		}
	}
	files, err := regularFiles(dir)
	if err != nil {
		return err
	}
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		err = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
		f.Close()
		if err != nil {
			return fmt.Errorf("fadvise %s: %w", p, err)
		}
	}
	return nil
}

// residentBytes is how much of the files in dir is in the page cache
// (mincore over a fresh mapping, which faults nothing in).
func residentBytes(dir string) (int64, error) {
	files, err := regularFiles(dir)
	if err != nil {
		return 0, err
	}
	page := int64(os.Getpagesize())
	var n int64
	for _, p := range files {
		err := func() error {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			st, err := f.Stat()
			if err != nil || st.Size() == 0 {
				return err
			}
			data, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
			if err != nil {
				return err
			}
			defer unix.Munmap(data)
			vec := make([]byte, (st.Size()+page-1)/page)
			if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&data[0])), uintptr(len(data)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
				return e
			}
			for _, v := range vec {
				if v&1 != 0 {
					n += page
				}
			}
			return nil
		}()
		if err != nil {
			return n, fmt.Errorf("page cache residency of %s: %w", p, err)
		}
	}
	return n, nil
}
