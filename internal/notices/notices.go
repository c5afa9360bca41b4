// Package notices drafts takedown notices that cite the injunction, renders
// them as text, HTML and PDF, and sends them by SMTP. A notice lists where
// the data was found (URL, capture time, SHA-256) and never repeats any of
// the data itself.
package notices

import (
	"bytes"
	"cmp"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"regexp"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"

	"github.com/leakwatch/leakwatch/config"
)

//go:embed templates/*
var templateFS embed.FS

// NoticeKind is where a notice stands in the exchange with one recipient.
type NoticeKind string

// The kinds of notice. A follow-up, escalation or reappearance cites at
// least one earlier notice.
const (
	KindNotice       NoticeKind = "notice"
	KindFollowUp     NoticeKind = "follow-up"
	KindEscalation   NoticeKind = "escalation"
	KindReappearance NoticeKind = "reappearance"
)

// Kinds lists every NoticeKind.
func Kinds() []NoticeKind {
	return []NoticeKind{KindNotice, KindFollowUp, KindEscalation, KindReappearance}
}

// Valid reports whether k is one of Kinds.
func (k NoticeKind) Valid() bool { return slices.Contains(Kinds(), k) }

// RecipientType is what the recipient does for the target, which decides
// what the notice asks of it.
type RecipientType string

// The recipient types.
const (
	RecipientHosting      RecipientType = "hosting"
	RecipientRegistrar    RecipientType = "registrar"
	RecipientCDN          RecipientType = "cdn"
	RecipientForum        RecipientType = "forum"
	RecipientFilehost     RecipientType = "filehost"
	RecipientTelegram     RecipientType = "telegram"
	RecipientSearchEngine RecipientType = "search-engine"
)

// RecipientTypes lists every RecipientType.
func RecipientTypes() []RecipientType {
	return []RecipientType{RecipientHosting, RecipientRegistrar, RecipientCDN, RecipientForum,
		RecipientFilehost, RecipientTelegram, RecipientSearchEngine}
}

// Valid reports whether t is one of RecipientTypes.
func (t RecipientType) Valid() bool { return slices.Contains(RecipientTypes(), t) }

// Item is one infringing URL in the notice's schedule.
type Item struct {
	URL        string
	CapturedAt time.Time
	SHA256     string
	Size       int64  // bytes; 0 leaves it out
	Note       string // optional, e.g. "message 123 in channel"; never content
}

// Citation is an earlier notice that this one cites: to the same
// recipient, or (Target set) about the same content on another host or
// channel.
type Citation struct {
	Reference string    // e.g. "LW-12-1"
	SentAt    time.Time // when it was sent
	MessageID string    // its Message-ID, angle brackets included; "" if unknown or not this recipient's
	Target    string    // the other host or channel it was about; "" for this notice's own target
}

// Data is everything a notice template may use. Internal bookkeeping (case
// IDs, revisions) stays out: the recipient sees only Reference.
type Data struct {
	Kind          NoticeKind    // "" means KindNotice
	RecipientType RecipientType // "" means RecipientHosting
	// Number is the per-recipient sequence of this kind (notice 1,
	// follow-up 1, follow-up 2, ...), chosen by the caller; 0 means 1.
	Number int
	// Reference is what the recipient quotes in replies, e.g. "LW-12-3".
	Reference  string
	Cites      []Citation // earlier notices cited; required unless Kind is KindNotice
	Injunction config.InjunctionConfig
	Target     string // host or channel
	Recipient  string // address(es) the notice goes to
	DraftedAt  time.Time
	Deadline   time.Time // respond / remove by
	Items      []Item
	// OrderAttached says the sealed order goes with the notice.
	OrderAttached bool
}

// Rendered is a notice ready to review and send.
type Rendered struct {
	Subject string
	Text    string
	HTML    string
	// PDF is the text notice laid out as a PDF, to attach as PDFName
	// ("<Reference>.pdf"); see PDFAttachment.
	PDF     []byte
	PDFName string
	// InReplyTo and References thread the message with the cited notices
	// (from Cites' MessageIDs); empty when nothing is cited.
	InReplyTo  string
	References []string
}

// Templates renders notices.
type Templates struct {
	paras *texttemplate.Template
	text  *texttemplate.Template
	html  *htmltemplate.Template
}

// textWidth is where prose in the text notice is wrapped.
const textWidth = 72

func funcs() map[string]any {
	return map[string]any{
		"utc":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 MST") },
		"date":  func(t time.Time) string { return t.UTC().Format(time.DateOnly) },
		"add":   func(a, b int) int { return a + b },
		"quote": func(s string) string { return quote(s, "    ", textWidth) },
		"lines": func(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") },
	}
}

// Load parses the built-in templates.
func Load() (*Templates, error) {
	p, err := texttemplate.New("paragraphs").Funcs(funcs()).ParseFS(templateFS, "templates/paragraphs.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parse notice paragraphs: %w", err)
	}
	t, err := texttemplate.New("layout.txt").Funcs(funcs()).ParseFS(templateFS, "templates/layout.txt")
	if err != nil {
		return nil, fmt.Errorf("parse text notice layout: %w", err)
	}
	h, err := htmltemplate.New("layout.html").Funcs(funcs()).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("parse html notice layout: %w", err)
	}
	// Every kind and recipient type needs its paragraph; finding out at
	// load time beats a failed draft.
	for _, k := range Kinds() {
		if p.Lookup("kind-"+string(k)) == nil {
			return nil, fmt.Errorf("notice paragraphs: no block for kind %q", k)
		}
	}
	for _, rt := range RecipientTypes() {
		if p.Lookup("ask-"+string(rt)) == nil {
			return nil, fmt.Errorf("notice paragraphs: no block for recipient type %q", rt)
		}
	}
	return &Templates{paras: p, text: t, html: h}, nil
}

// view is what the layouts see: the normalised Data plus what is derived
// from it.
type view struct {
	Data
	Subject   string
	KindTitle string     // "Takedown notice", "Follow-up 2", ...
	First     Citation   // the earliest cited notice; zero for a first notice
	Later     []Citation // the other cited notices, oldest first
	Elsewhere bool       // some cited notice was about another host or channel
	Opening   []string   // paragraphs for the kind
	Ask       []string   // paragraphs for the recipient type
}

// Render drafts a notice: subject, text, HTML and PDF. It refuses to draft
// without the injunction's essentials, a reference, a deadline or any item,
// since such a notice has no force.
func (t *Templates) Render(d Data) (Rendered, error) {
	v, err := t.view(d)
	if err != nil {
		return Rendered{}, err
	}
	text, err := t.renderText(v)
	if err != nil {
		return Rendered{}, err
	}
	var hb bytes.Buffer
	if err := t.html.ExecuteTemplate(&hb, "html", v); err != nil {
		return Rendered{}, fmt.Errorf("render html notice %s: %w", v.Reference, err)
	}
	pdf, err := TextPDF(v.KindTitle+" "+v.Reference, v.Reference, text, v.DraftedAt)
	if err != nil {
		return Rendered{}, fmt.Errorf("render notice %s: %w", v.Reference, err)
	}
	inReplyTo, refs := v.Threading()
	return Rendered{
		Subject: v.Subject, Text: text, HTML: hb.String(),
		PDF: pdf, PDFName: pdfName(v.Reference),
		InReplyTo: inReplyTo, References: refs,
	}, nil
}

// RenderPDF renders d's text notice as a PDF; Render returns the same bytes.
func (t *Templates) RenderPDF(d Data) ([]byte, error) {
	v, err := t.view(d)
	if err != nil {
		return nil, err
	}
	text, err := t.renderText(v)
	if err != nil {
		return nil, err
	}
	pdf, err := TextPDF(v.KindTitle+" "+v.Reference, v.Reference, text, v.DraftedAt)
	if err != nil {
		return nil, fmt.Errorf("render notice %s: %w", v.Reference, err)
	}
	return pdf, nil
}

func (t *Templates) renderText(v view) (string, error) {
	var tb bytes.Buffer
	if err := t.text.ExecuteTemplate(&tb, "text", v); err != nil {
		return "", fmt.Errorf("render text notice %s: %w", v.Reference, err)
	}
	return wrapProse(tb.String(), textWidth), nil
}

// Threading returns the In-Reply-To and References header values that thread
// this notice with the cited ones at the recipient: References lists every
// cited Message-ID oldest first (the first notice is the thread's root),
// In-Reply-To the newest.
func (d Data) Threading() (inReplyTo string, references []string) {
	cites := slices.Clone(d.Cites)
	slices.SortStableFunc(cites, func(a, b Citation) int { return a.SentAt.Compare(b.SentAt) })
	for _, c := range cites {
		if id := strings.TrimSpace(c.MessageID); id != "" && c.Target == "" && !slices.Contains(references, id) {
			references = append(references, id)
		}
	}
	if len(references) > 0 {
		inReplyTo = references[len(references)-1]
	}
	return inReplyTo, references
}

// referenceRE keeps references usable as a file name and in a subject.
var referenceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$`)

// view checks and normalises d and derives what the layouts show.
func (t *Templates) view(d Data) (view, error) {
	if missing := d.Injunction.Missing(); len(missing) > 0 {
		return view{}, fmt.Errorf("render notice: injunction incomplete, set %s", strings.Join(missing, ", "))
	}
	d.Kind = cmp.Or(d.Kind, KindNotice)
	d.RecipientType = cmp.Or(d.RecipientType, RecipientHosting)
	if !d.Kind.Valid() {
		return view{}, fmt.Errorf("render notice: unknown kind %q", d.Kind)
	}
	if !d.RecipientType.Valid() {
		return view{}, fmt.Errorf("render notice: unknown recipient type %q", d.RecipientType)
	}
	if !referenceRE.MatchString(d.Reference) {
		return view{}, fmt.Errorf("render notice: reference %q must be 1-64 letters, digits, '.', '_', '/' or '-'", d.Reference)
	}
	if d.Number < 0 {
		return view{}, fmt.Errorf("render notice %s: number %d is negative", d.Reference, d.Number)
	}
	d.Number = max(d.Number, 1)
	if d.DraftedAt.IsZero() || d.Deadline.IsZero() {
		return view{}, fmt.Errorf("render notice %s: drafted-at and deadline are required", d.Reference)
	}
	if !d.Deadline.After(d.DraftedAt) {
		return view{}, fmt.Errorf("render notice %s: deadline %s is not after drafting %s", d.Reference,
			d.Deadline.UTC().Format(time.RFC3339), d.DraftedAt.UTC().Format(time.RFC3339))
	}
	d.Items = dedupeItems(d.Items)
	if len(d.Items) == 0 {
		return view{}, fmt.Errorf("render notice %s: no infringing items", d.Reference)
	}
	d.Cites = slices.Clone(d.Cites)
	slices.SortStableFunc(d.Cites, func(a, b Citation) int { return a.SentAt.Compare(b.SentAt) })
	elsewhere := false
	for i, c := range d.Cites {
		if !referenceRE.MatchString(c.Reference) || c.SentAt.IsZero() {
			return view{}, fmt.Errorf("render notice %s: cited notice %d needs a reference and the time it was sent", d.Reference, i+1)
		}
		d.Cites[i].Target = oneLine(c.Target)
		elsewhere = elsewhere || d.Cites[i].Target != ""
	}
	if d.Kind != KindNotice && len(d.Cites) == 0 {
		return view{}, fmt.Errorf("render notice %s: a %s must cite the earlier notice (Cites is empty)", d.Reference, d.Kind)
	}
	d.Target = oneLine(d.Target)
	d.Recipient = oneLine(d.Recipient)

	v := view{Data: d, Elsewhere: elsewhere}
	if len(d.Cites) > 0 {
		v.First, v.Later = d.Cites[0], d.Cites[1:]
	}
	v.KindTitle = kindTitle(d.Kind, d.Number)
	v.Subject = subject(v)
	var err error
	if v.Opening, err = t.paragraphs("kind-"+string(d.Kind), v); err != nil {
		return view{}, err
	}
	if v.Ask, err = t.paragraphs("ask-"+string(d.RecipientType), v); err != nil {
		return view{}, err
	}
	return v, nil
}

var paraBreak = regexp.MustCompile(`\n[ \t]*\n`)

// paragraphs runs one paragraph block and splits it at blank lines, each
// paragraph on one line so that the text layout can wrap it and the HTML
// layout can put it in a <p>.
func (t *Templates) paragraphs(name string, v view) ([]string, error) {
	var b bytes.Buffer
	if err := t.paras.ExecuteTemplate(&b, name, v); err != nil {
		return nil, fmt.Errorf("render notice %s: paragraph %s: %w", v.Reference, name, err)
	}
	var out []string
	for _, p := range paraBreak.Split(b.String(), -1) {
		if p = strings.Join(strings.Fields(p), " "); p != "" {
			out = append(out, p)
		}
	}
	return out, nil
}

func kindTitle(k NoticeKind, n int) string {
	switch k {
	case KindFollowUp:
		return fmt.Sprintf("Follow-up %d", n)
	case KindEscalation:
		return "Escalation"
	case KindReappearance:
		return "Notice of reappeared content"
	default:
		return "Takedown notice"
	}
}

// subject names the orders and the target in every kind, so a recipient's
// ticket system files the thread under the right matter.
func subject(v view) string {
	in := v.Injunction
	orders := oneLine(fmt.Sprintf("%s, %s (%s) - content at %s", in.Court, in.FileNumber, in.DateOfOrders, v.Target))
	first := func() string { return v.First.Reference + " of " + v.First.SentAt.UTC().Format(time.DateOnly) }
	switch v.Kind {
	case KindFollowUp:
		return fmt.Sprintf("Follow-up %d to notice %s: %s [%s]", v.Number, first(), orders, v.Reference)
	case KindEscalation:
		return fmt.Sprintf("Escalation: notice %s - %s [%s]", first(), orders, v.Reference)
	case KindReappearance:
		return fmt.Sprintf("Content reappeared - %s (cites notice %s) [%s]", orders, first(), v.Reference)
	default:
		return fmt.Sprintf("Takedown notice %s - %s", v.Reference, orders)
	}
}

// dedupeItems keeps one item per URL, the earliest capture, in the order the
// URLs first appear: a URL captured twice is still one thing to remove.
func dedupeItems(items []Item) []Item {
	var out []Item
	at := map[string]int{}
	for _, it := range items {
		it.URL = oneLine(it.URL)
		it.Note = oneLine(it.Note)
		it.SHA256 = oneLine(it.SHA256)
		if it.URL == "" {
			continue
		}
		if i, ok := at[it.URL]; ok {
			if it.CapturedAt.Before(out[i].CapturedAt) {
				out[i] = it
			}
			continue
		}
		at[it.URL] = len(out)
		out = append(out, it)
	}
	return out
}

// oneLine drops control characters (a URL or note from a leak site must not
// add lines to a notice or headers to a message) and trims.
func oneLine(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s))
}

// wrapProse wraps lines that start at the margin to width; indented lines
// (quoted terms, the schedule, the contact block) are left as they are so
// URLs and hashes stay whole.
func wrapProse(s string, width int) string {
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		l = strings.TrimRight(l, " \t")
		if l == "" || l[0] == ' ' {
			out = append(out, l)
			continue
		}
		out = append(out, wrap(l, width)...)
	}
	return strings.Join(out, "\n")
}

// wrap breaks one line at spaces so that no piece exceeds width runes,
// except a single word longer than width, which stays whole.
func wrap(line string, width int) []string {
	var out []string
	var cur strings.Builder
	n := 0
	for _, w := range strings.Fields(line) {
		wl := len([]rune(w))
		if n > 0 && n+1+wl > width {
			out = append(out, cur.String())
			cur.Reset()
			n = 0
		}
		if n > 0 {
			cur.WriteByte(' ')
			n++
		}
		cur.WriteString(w)
		n += wl
	}
	if n > 0 || len(out) == 0 {
		out = append(out, cur.String())
	}
	return out
}

// quote indents the operative terms, keeping their own line breaks and
// wrapping long lines within width.
func quote(s, prefix string, width int) string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if strings.TrimSpace(l) == "" {
			out = append(out, "")
			continue
		}
		for _, w := range wrap(l, width-len(prefix)) {
			out = append(out, prefix+w)
		}
	}
	return strings.Join(out, "\n")
}
