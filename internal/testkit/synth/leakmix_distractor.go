package synth

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"time"
)

// distractorSet is a second, disjoint synthetic breach: the same builders
// (letterheads, clinicians, form labels, lab reference ranges, photo style)
// applied to other patients under another seed. A matcher that keys on
// boilerplate rather than on patient-specific content will match these.
type distractorSet struct {
	seed     int64
	patients []Patient
	n        int // documents built so far, numbers the serials
}

// newDistractorSet derives a seed that always differs from the reference
// seed (so serials differ too) and draws patients sharing no NHI, e-mail,
// phone number or full name with the reference patients. Phones (500
// values) and names (864 pairs) run out for very large reference sets;
// then only NHI and e-mail stay disjoint.
func newDistractorSet(refSeed, mixSeed int64, refs []Patient) *distractorSet {
	h := fnv.New64a()
	fmt.Fprintf(h, "distractors/%d", mixSeed)
	d := &distractorSet{seed: refSeed + 1000 + int64(h.Sum64()%9000)}

	taken := map[string]bool{}
	for _, p := range refs {
		taken["nhi:"+p.NHI], taken["email:"+p.Email] = true, true
		taken["phone:"+p.Phone], taken["name:"+p.FullName()] = true, true
	}
	want := min(max(len(refs), 20), 200)
	cands := NewPatients(newRand(d.seed, streamPatients), 4*want)
	for _, strict := range []bool{true, false} {
		for _, p := range cands {
			if len(d.patients) == want {
				break
			}
			if taken["nhi:"+p.NHI] || taken["email:"+p.Email] ||
				(strict && (taken["phone:"+p.Phone] || taken["name:"+p.FullName()])) {
				continue
			}
			d.patients = append(d.patients, p)
			taken["nhi:"+p.NHI], taken["email:"+p.Email] = true, true
			taken["phone:"+p.Phone], taken["name:"+p.FullName()] = true, true
		}
	}
	return d
}

// next returns a serial and date drawn like Generate's.
func (d *distractorSet) next(rng *rand.Rand) (string, time.Time) {
	d.n++
	date := time.Date(2019, time.March, 1, 0, 0, 0, 0, time.UTC).
		AddDate(0, 0, rng.IntN(6*365)).
		Add(time.Duration(8*60+rng.IntN(9*60)) * time.Minute)
	return fmt.Sprintf("SYN-%d-%05d", d.seed, d.n), date
}

// distractorPlan cycles so that any 16 distractors cover every form a
// positive can take: raw documents of each kind, forum posts with and
// without a pasted note, other patients' rows as CSV/JSON/SQL, archives and
// transformed or unrelated images.
var distractorPlan = []string{
	"note", "lab", "photo-png", "vaccination", "chatter-html", "excerpt-post",
	"patients-csv", "unrelated-image", "json", "sql", "zip-note", "photo-jpg",
	"lab-rerendered", "chatter-text", "photo-resized", "tar.gz-vaccination",
}

func (m *mixer) distractors(rng *rand.Rand, n int) ([]LeakItem, error) {
	d := m.dist
	if len(d.patients) == 0 {
		return nil, fmt.Errorf("synth: no distractor patients available")
	}
	out := make([]LeakItem, 0, n)
	for i := range n {
		kind := distractorPlan[i%len(distractorPlan)]
		it, plain, err := m.distractor(rng, i, kind, d.patients[i%len(d.patients)])
		if err != nil {
			return nil, fmt.Errorf("synth: leak mix distractor %d (%s): %w", i+1, kind, err)
		}
		if err := m.checkDistractor(append(plain, it.Data)); err != nil {
			return nil, fmt.Errorf("synth: leak mix distractor %d (%s): %w", i+1, kind, err)
		}
		it.Transform, it.Variant = TDistractor, kind
		out = append(out, it)
	}
	return out, nil
}

// passageMin is the length of verbatim text that identifies a document:
// the brief's excerpt length (200 characters) less a word, since passages
// are checked from word starts.
const passageMin = 180

// sharedPassage returns a passage of at least passageMin bytes of text
// that exactly one reference note contains, or "". Passages in two or more
// notes are boilerplate, which distractors are meant to share.
func (m *mixer) sharedPassage(text string) string {
	for s := 0; s+passageMin <= len(text); s++ {
		if s > 0 && !isSpace(text[s-1]) {
			continue
		}
		w := text[s : s+passageMin]
		n := 0
		for _, ref := range m.refNotes {
			if strings.Contains(ref, w) {
				if n++; n > 1 {
					break
				}
			}
		}
		if n == 1 {
			return w
		}
	}
	return ""
}

// checkDistractor enforces the labels: no payload equals a reference file,
// mentions a reference NHI or repeats a passage only one reference note has.
func (m *mixer) checkDistractor(payloads [][]byte) error {
	for _, p := range payloads {
		if w := m.sharedPassage(string(p)); w != "" {
			return fmt.Errorf("repeats a %d-byte passage of one reference note", len(w))
		}
		sum := sha256.Sum256(p)
		if rel, ok := m.refSums[hex.EncodeToString(sum[:])]; ok {
			return fmt.Errorf("bytes equal reference %s", rel)
		}
		for _, nhi := range m.refNHIs {
			if bytes.Contains(p, []byte(nhi)) {
				return fmt.Errorf("contains reference NHI %s", nhi)
			}
		}
	}
	return nil
}

// distractor builds one item of the given kind; plain lists the payloads
// inside archives so they can be checked too.
func (m *mixer) distractor(rng *rand.Rand, i int, kind string, p Patient) (it LeakItem, plain [][]byte, err error) {
	d := m.dist
	note := func() []byte {
		// Notes are drawn from the same sentence templates and value lists
		// as the references, so now and then one repeats a long passage
		// that only one reference has: that is content, an excerpt, not
		// boilerplate, and the item would be mislabelled. Draw again.
		var b []byte
		for range 50 {
			serial, date := d.next(rng)
			b = clinicalNote(rng, p, serial, date)
			if m.sharedPassage(string(b)) == "" {
				break
			}
		}
		m.distNotes = append(m.distNotes, string(b))
		return b
	}
	switch kind {
	case "note":
		it = LeakItem{Name: postedName(rng, ".txt"), Data: note()}
	case "lab":
		serial, date := d.next(rng)
		it = LeakItem{Name: postedName(rng, ".pdf"), Data: labResultPDF(rng, p, serial, date)}
	case "lab-rerendered":
		serial, date := d.next(rng)
		it.Name = postedName(rng, ".pdf")
		it.Data, _, err = rerenderLab(rng, i, labResultPDF(rng, p, serial, date))
	case "vaccination":
		serial, date := d.next(rng)
		it.Name = postedName(rng, ".csv")
		it.Data, err = vaccinationCSV(rng, p, serial, date)
	case "photo-png", "photo-jpg":
		ext := ".png"
		if kind == "photo-jpg" {
			ext = ".jpg"
		}
		it.Name = postedName(rng, ext)
		it.Data, err = photo(rng, ext, m.photoWidth)
	case "photo-resized":
		var raw []byte
		if raw, err = photo(rng, ".png", m.photoWidth); err != nil {
			return it, nil, err
		}
		img, err := decodeImage(raw)
		if err != nil {
			return it, nil, err
		}
		it.Name = postedName(rng, ".png")
		it.Data, err = encodeImage(resizeHalf(img), ".png", 0)
		return it, nil, err
	case "unrelated-image":
		ext := pick(rng, []string{".png", ".jpg"})
		it.Name = postedName(rng, ext)
		it.Data, err = encodeImage(unrelatedImage(rng), ext, 85)
	case "chatter-html", "chatter-text":
		style := "html-br"
		if kind == "chatter-text" {
			style = "text"
		}
		posts := randomPosts(rng, 3+rng.IntN(5), archiveTime(rng))
		it.Data = forumThread(pick(rng, threadTitles), posts, style)
		it.Name = fmt.Sprintf("thread-%d%s", 1000+rng.IntN(90000), map[string]string{"html-br": ".html", "text": ".txt"}[style])
	case "excerpt-post":
		src := string(note())
		var ex string
		ex, err = excerptOf(rng, src, func(ex string) bool {
			for _, ref := range m.refNotes {
				if strings.Contains(ref, ex) {
					return true
				}
			}
			return false
		})
		if err == nil {
			it.Data, it.Name, _ = excerptPost(rng, i, ex)
		}
	case "patients-csv":
		it.Name = postedName(rng, ".csv")
		it.Data, err = patientsCSV(sampleRows(rng, d.patients))
	case "json":
		it.Name = postedName(rng, ".json")
		it.Data, _, err = patientsJSON(rng, i, sampleRows(rng, d.patients))
	case "sql":
		it.Name = postedName(rng, ".sql")
		it.Data, _ = patientsSQL(rng, i, sampleRows(rng, d.patients))
	case "zip-note", "tar.gz-vaccination":
		var doc []byte
		var docName string
		if kind == "zip-note" {
			doc, docName = note(), postedName(rng, ".txt")
		} else {
			serial, date := d.next(rng)
			if doc, err = vaccinationCSV(rng, p, serial, date); err != nil {
				return it, nil, err
			}
			docName = postedName(rng, ".csv")
		}
		var members []archiveMember
		if members, err = unrelatedFiles(rng, 1+rng.IntN(2)); err != nil {
			return it, nil, err
		}
		members = append(members, archiveMember{docName, doc})
		for _, mb := range members {
			plain = append(plain, mb.data)
		}
		if kind == "zip-note" {
			it.Name = postedName(rng, ".zip")
			it.Data, err = zipBytes(members, archiveTime(rng))
		} else {
			it.Name = postedName(rng, ".tar.gz")
			it.Data, err = tarGzBytes(members, archiveTime(rng))
		}
	default:
		err = fmt.Errorf("unknown distractor kind %q", kind)
	}
	return it, plain, err
}
