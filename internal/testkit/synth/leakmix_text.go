package synth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Forum chatter: bland, fictional small talk around a reposted sample.
var chatter = []string{
	"anyone got a mirror for the last drop?",
	"bump",
	"checked a few rows, looks legit to me",
	"price is way too high for what it is",
	"mods pls move this to the right section",
	"first time poster, long time lurker",
	"link is dead already",
	"is this the same set that went round last month?",
	"seller has good rep, dealt with them before",
	"not touching this one",
	"the dates look off, probably recycled",
	"pm sent",
	"thanks for sharing",
	"how big is the full archive?",
	"waiting for the full release",
	"this is old news",
	"format looks like a standard export from their system",
	"can someone reupload, the host deleted it",
	"why is half of it blurred",
	"escrow only, no exceptions",
}

var threadTitles = []string{
	"[SAMPLE] clinic records", "health provider files - proof", "new drop: medical",
	"fresh batch, verify before you buy", "clinic export (partial)", "medical data sample thread",
}

var handleStems = []string{
	"anon", "ghost", "byte", "nullsec", "darkfern", "kiwi", "lurker", "packet",
	"rootless", "quietmoth", "tuatara", "ferric",
}

var sampleIntros = []string{
	"sample from the notes folder:", "here is one of the records as proof",
	"proof, straight from their system:", "one note from the batch, names not redacted",
	"as requested, a text sample", "copy-paste from one of the files:",
}

var sampleOutros = []string{
	"more in the full set", "thousands like this", "dm for the rest",
	"full archive goes to the first serious buyer", "that is one of many",
}

func chatterLines(rng *rand.Rand, n int) string {
	var b strings.Builder
	for range n {
		b.WriteString(pick(rng, chatter))
		b.WriteByte('\n')
	}
	return b.String()
}

func sellerReadme(rng *rand.Rand) string {
	return fmt.Sprintf("%s\n\nContents: partial sample only.\nContact: the usual channel, ref %04d.\n%s\n",
		strings.ToUpper(pick(rng, threadTitles)), rng.IntN(10000), pick(rng, sampleOutros))
}

// forumPost is one post of a thread. quote, when set, is pasted text shown
// verbatim (pre) or as lines joined by <br> (br) in HTML, followed by tail.
type forumPost struct {
	author, body string
	quote, tail  string
	when         time.Time
}

func randomPosts(rng *rand.Rand, n int, start time.Time) []forumPost {
	out := make([]forumPost, n)
	t := start
	for i := range out {
		t = t.Add(time.Duration(5+rng.IntN(600)) * time.Minute)
		out[i] = forumPost{author: handle(rng), body: strings.TrimSpace(chatterLines(rng, 1+rng.IntN(2))), when: t}
	}
	return out
}

func handle(rng *rand.Rand) string {
	return fmt.Sprintf("%s%d", pick(rng, handleStems), rng.IntN(1000))
}

// forumThread renders posts as a plain-text thread dump ("text") or an HTML
// page whose quotes are in <pre> ("html-pre") or joined by <br> ("html-br").
// Stripping tags and unescaping entities recovers a quote exactly.
func forumThread(title string, posts []forumPost, style string) []byte {
	var b strings.Builder
	if style == "text" {
		fmt.Fprintf(&b, "Thread: %s\n%s\n\n", title, strings.Repeat("=", 40))
		for i, p := range posts {
			fmt.Fprintf(&b, "#%d %s (%s)\n%s\n", i+1, p.author, p.when.Format("2006-01-02 15:04"), p.body)
			if p.quote != "" {
				fmt.Fprintf(&b, "\n%s\n\n%s\n", p.quote, p.tail)
			}
			fmt.Fprintf(&b, "%s\n\n", strings.Repeat("-", 40))
		}
		return []byte(b.String())
	}
	esc := html.EscapeString
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s - board</title></head>\n<body>\n<div id=\"thread\">\n<h1>%s</h1>\n", esc(title), esc(title))
	for i, p := range posts {
		fmt.Fprintf(&b, "<article class=\"post\" id=\"p%d\">\n<header><span class=\"author\">%s</span> <time>%s</time></header>\n<div class=\"content\"><p>%s</p>\n",
			i+1, esc(p.author), p.when.Format("2006-01-02 15:04"), strings.ReplaceAll(esc(p.body), "\n", "<br>\n"))
		if p.quote != "" {
			if style == "html-pre" {
				fmt.Fprintf(&b, "<pre class=\"paste\">%s</pre>\n", esc(p.quote))
			} else {
				fmt.Fprintf(&b, "<blockquote>%s</blockquote>\n", strings.ReplaceAll(esc(p.quote), "\n", "<br>\n"))
			}
			fmt.Fprintf(&b, "<p>%s</p>\n", esc(p.tail))
		}
		b.WriteString("</div>\n</article>\n")
	}
	b.WriteString("</div>\n<footer>board software v2 - all times UTC</footer>\n</body></html>\n")
	return []byte(b.String())
}

const (
	excerptMin = 220
	excerptMax = 400
)

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' }

// excerptOf picks a word-aligned window of excerptMin–excerptMax bytes of
// note that occurs in none of avoid, so the excerpt has a single source.
func excerptOf(rng *rand.Rand, note string, avoid func(string) bool) (string, error) {
	if len(note) < excerptMin {
		return "", fmt.Errorf("note of %d bytes is shorter than an excerpt", len(note))
	}
	for range 100 {
		l := min(excerptMin+rng.IntN(excerptMax-excerptMin+1), len(note))
		s := rng.IntN(len(note) - l + 1)
		// People copy whole words: start at a word, end after one.
		for s > 0 && s < len(note) && !isSpace(note[s-1]) {
			s++
		}
		e := min(s+l, len(note))
		for e < len(note) && e > s && !isSpace(note[e]) {
			e--
		}
		if e-s < excerptMin {
			continue
		}
		if ex := note[s:e]; !avoid(ex) {
			return ex, nil
		}
	}
	return "", errors.New("no excerpt of the note is unique to it")
}

// excerptPost pastes ex into a thread with chatter before and after; i
// picks the page style so all three appear.
func excerptPost(rng *rand.Rand, i int, ex string) (data []byte, name, style string) {
	style = []string{"text", "html-br", "html-pre"}[i%3]
	start := archiveTime(rng)
	before := randomPosts(rng, 1+rng.IntN(3), start)
	after := randomPosts(rng, 1+rng.IntN(3), before[len(before)-1].when)
	sample := forumPost{
		author: handle(rng),
		body:   pick(rng, sampleIntros),
		quote:  ex,
		tail:   pick(rng, sampleOutros),
		when:   before[len(before)-1].when.Add(time.Duration(1+rng.IntN(90)) * time.Minute),
	}
	posts := append(append(before, sample), after...)
	ext := ".html"
	if style == "text" {
		ext = ".txt"
	}
	name = fmt.Sprintf("%s-%d%s", pick(rng, []string{"thread", "post", "topic", "viewtopic"}), 1000+rng.IntN(90000), ext)
	return forumThread(pick(rng, threadTitles), posts, style), name, style
}

func (m *mixer) excerptItem(rng *rand.Rand, i int, src Doc) (LeakItem, error) {
	note := m.refNotes[src.RelPath]
	ex, err := excerptOf(rng, note, func(ex string) bool {
		for rel, other := range m.refNotes {
			if rel != src.RelPath && strings.Contains(other, ex) {
				return true
			}
		}
		for _, other := range m.distNotes {
			if strings.Contains(other, ex) {
				return true
			}
		}
		return false
	})
	if err != nil {
		return LeakItem{}, err
	}
	data, name, style := excerptPost(rng, i, ex)
	variant := style + "/body-only"
	if strings.Contains(ex, src.NHI) {
		variant = style + "/with-nhi"
	}
	return LeakItem{Name: name, Data: data, Variant: variant}, nil
}

// sampleRows picks 10–50 patients (all of them when there are fewer),
// sometimes in file order, sometimes shuffled as a query result would be.
func sampleRows(rng *rand.Rand, ps []Patient) []Patient {
	n := min(10+rng.IntN(41), len(ps))
	idx := rng.Perm(len(ps))[:n]
	if rng.IntN(2) == 0 {
		slices.Sort(idx)
	}
	out := make([]Patient, n)
	for i, j := range idx {
		out[i] = ps[j]
	}
	return out
}

// formatPhone rewrites a "021 555 0142" mobile number in another common
// style; anything else is returned unchanged.
func formatPhone(phone string, style int) string {
	f := strings.Fields(phone)
	if len(f) != 3 || len(f[0]) < 2 || f[0][0] != '0' {
		return phone
	}
	switch style % 5 {
	case 0:
		return "+64 " + f[0][1:] + " " + f[1] + " " + f[2]
	case 1:
		return "+64" + f[0][1:] + f[1] + f[2]
	case 2:
		return "(" + f[0] + ") " + f[1] + "-" + f[2]
	case 3:
		return f[0] + f[1] + f[2]
	default:
		return f[0] + "-" + f[1] + "-" + f[2]
	}
}

var dobLayouts = []string{"02/01/2006", "2 Jan 2006", "January 2, 2006", "20060102", "2006-01-02T00:00:00Z", "01/02/2006"}

// JSON row shapes: different key names and orders from patients.csv.
type jsonRowA struct {
	NHI    string `json:"nhi_number"`
	Name   string `json:"fullName"`
	DOB    string `json:"date_of_birth"`
	Email  string `json:"email"`
	Mobile string `json:"mobile"`
}

type jsonRowB struct {
	ID    int    `json:"id"`
	Email string `json:"contact_email"`
	Name  string `json:"name"`
	NHI   string `json:"NHI"`
	Phone string `json:"phone"`
	DOB   string `json:"dob"`
}

type jsonRowC struct {
	Surname string `json:"surname"`
	First   string `json:"first_name"`
	DOB     string `json:"birthDate"`
	NHI     string `json:"patient_nhi"`
	Mobile  string `json:"mobile_phone"`
	Email   string `json:"email_address"`
}

// patientsJSON renders rows in one of three shapes, compact or indented.
func patientsJSON(rng *rand.Rand, i int, rows []Patient) ([]byte, string, error) {
	layout, phone := pick(rng, dobLayouts), rng.IntN(5)
	var v any
	var shape string
	switch i % 3 {
	case 0:
		shape = "nhi_number/fullName"
		r := make([]jsonRowA, len(rows))
		for k, p := range rows {
			r[k] = jsonRowA{p.NHI, p.FullName(), p.DOB.Format(layout), p.Email, formatPhone(p.Phone, phone)}
		}
		v = r
	case 1:
		shape = "id/contact_email/NHI"
		r := make([]jsonRowB, len(rows))
		base := 1000 + rng.IntN(9000)
		for k, p := range rows {
			r[k] = jsonRowB{base + k, p.Email, p.FullName(), p.NHI, formatPhone(p.Phone, phone), p.DOB.Format(layout)}
		}
		v = r
	default:
		shape = "surname/first_name/patient_nhi"
		r := make([]jsonRowC, len(rows))
		for k, p := range rows {
			r[k] = jsonRowC{p.FamilyName, p.GivenName, p.DOB.Format(layout), p.NHI, formatPhone(p.Phone, phone), p.Email}
		}
		v = r
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if rng.IntN(2) == 0 {
		enc.SetIndent("", "  ")
		shape += "/indented"
	}
	if err := enc.Encode(v); err != nil {
		return nil, "", fmt.Errorf("encode json: %w", err)
	}
	return buf.Bytes(), shape, nil
}

func (m *mixer) jsonItem(rng *rand.Rand, i int, _ Doc) (LeakItem, error) {
	data, variant, err := patientsJSON(rng, i, sampleRows(rng, m.patients))
	return LeakItem{Name: postedName(rng, ".json"), Data: data, Variant: variant}, err
}

func sqlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// patientsSQL renders rows as a MySQL, PostgreSQL or SQLite style dump:
// CREATE TABLE followed by multi-row INSERT INTO patients statements.
func patientsSQL(rng *rand.Rand, i int, rows []Patient) ([]byte, string) {
	var b strings.Builder
	phone := rng.IntN(5)
	tuples := func(row func(k int, p Patient) []string) []string {
		out := make([]string, len(rows))
		for k, p := range rows {
			out[k] = "(" + strings.Join(row(k, p), ",") + ")"
		}
		return out
	}
	switch i % 3 {
	case 0:
		b.WriteString("-- MySQL dump 10.13\n--\n-- Host: localhost    Database: clinic_pms\n-- ------------------------------------------------------\n\n")
		b.WriteString("DROP TABLE IF EXISTS `patients`;\nCREATE TABLE `patients` (\n  `id` int NOT NULL AUTO_INCREMENT,\n" +
			"  `nhi_no` char(7) NOT NULL,\n  `first_name` varchar(64) DEFAULT NULL,\n  `last_name` varchar(64) DEFAULT NULL,\n" +
			"  `birth_date` date DEFAULT NULL,\n  `email_address` varchar(255) DEFAULT NULL,\n  `mobile` varchar(32) DEFAULT NULL,\n" +
			"  PRIMARY KEY (`id`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n\nLOCK TABLES `patients` WRITE;\n")
		base := 1 + rng.IntN(5000)
		ts := tuples(func(k int, p Patient) []string {
			return []string{fmt.Sprint(base + k), sqlQuote(p.NHI), sqlQuote(p.GivenName), sqlQuote(p.FamilyName),
				sqlQuote(p.DOB.Format(time.DateOnly)), sqlQuote(p.Email), sqlQuote(formatPhone(p.Phone, phone))}
		})
		// mysqldump splits long extended inserts.
		for len(ts) > 0 {
			n := min(20, len(ts))
			fmt.Fprintf(&b, "INSERT INTO `patients` (`id`,`nhi_no`,`first_name`,`last_name`,`birth_date`,`email_address`,`mobile`) VALUES %s;\n",
				strings.Join(ts[:n], ","))
			ts = ts[n:]
		}
		b.WriteString("UNLOCK TABLES;\n")
		return []byte(b.String()), "mysql"
	case 1:
		b.WriteString("--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\n\n")
		b.WriteString("CREATE TABLE patients (\n    nhi character(7) PRIMARY KEY,\n    given_name text,\n    family_name text,\n" +
			"    date_of_birth date,\n    email text,\n    phone text\n);\n\n")
		ts := tuples(func(_ int, p Patient) []string {
			return []string{sqlQuote(p.NHI), sqlQuote(p.GivenName), sqlQuote(p.FamilyName),
				sqlQuote(p.DOB.Format(time.DateOnly)), sqlQuote(p.Email), sqlQuote(formatPhone(p.Phone, phone))}
		})
		fmt.Fprintf(&b, "INSERT INTO patients (nhi, given_name, family_name, date_of_birth, email, phone) VALUES\n%s;\n",
			strings.Join(ts, ",\n"))
		return []byte(b.String()), "postgres"
	default:
		b.WriteString("PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n")
		b.WriteString("CREATE TABLE patients(id INTEGER PRIMARY KEY, nhi TEXT NOT NULL, full_name TEXT, dob TEXT, email TEXT, phone TEXT);\n")
		layout := pick(rng, dobLayouts)
		ts := tuples(func(k int, p Patient) []string {
			return []string{fmt.Sprint(k + 1), sqlQuote(p.NHI), sqlQuote(p.FullName()),
				sqlQuote(p.DOB.Format(layout)), sqlQuote(p.Email), sqlQuote(formatPhone(p.Phone, phone))}
		})
		fmt.Fprintf(&b, "INSERT INTO patients (id, nhi, full_name, dob, email, phone) VALUES %s;\nCOMMIT;\n", strings.Join(ts, ","))
		return []byte(b.String()), "sqlite"
	}
}

func (m *mixer) sqlItem(rng *rand.Rand, i int, _ Doc) (LeakItem, error) {
	data, variant := patientsSQL(rng, i, sampleRows(rng, m.patients))
	return LeakItem{Name: postedName(rng, ".sql"), Data: data, Variant: variant}, nil
}
